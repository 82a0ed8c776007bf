-- How often the feed itself asks to be fetched (REFRESH-INTERVAL, else X-PUBLISHED-TTL),
-- as of its last expansion; NULL when it does not say. Shown by `calsync status` next to
-- the configured interval, which alone decides polling: a feed cannot slow us down.
ALTER TABLE calendar_connections ADD COLUMN ics_refresh_interval_secs integer
  CONSTRAINT calendar_connections_ics_refresh_interval_positive
  CHECK (ics_refresh_interval_secs > 0);
