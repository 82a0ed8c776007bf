ALTER TABLE calendar_connections DROP COLUMN ics_body_sha256;
