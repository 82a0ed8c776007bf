-- Issue 14: several calendars per Google / Microsoft connection. Each calendar of the
-- account that calsync knows about has a row here holding everything that is per
-- calendar: whether it blocks availability, whether bookings are written to it, its
-- sync cursor and delta window, and its push webhook. The connection keeps what is per
-- account (tokens, lease, poll schedule, errors) and, for ICS feeds, the feed's state.

CREATE TABLE connection_calendars (
    connection_id           uuid NOT NULL REFERENCES calendar_connections (id) ON DELETE CASCADE,
    -- The provider's calendar id; `primary` for the account's main calendar (both
    -- Google and Graph accept it as an alias), whatever its real id is.
    calendar_id             text NOT NULL,
    name                    text NOT NULL DEFAULT '',
    is_primary              boolean NOT NULL DEFAULT false,
    -- Its events block availability: it is synced and has a webhook.
    blocking                boolean NOT NULL DEFAULT false,
    -- Bookings are written to it; one per connection (index below).
    write_to                boolean NOT NULL DEFAULT false,
    -- Google nextSyncToken, Graph deltaLink; NULL means "next sync is a full one".
    sync_cursor             text,
    -- Start of the window the cursor was made for (Graph delta windows are fixed).
    sync_window_start       timestamptz,
    webhook_channel_id      text,
    webhook_resource_id     text,
    webhook_subscription_id text,
    webhook_expires_at      timestamptz,
    webhook_last_error      text,
    -- Earliest next renewal attempt, so a failing renewal is retried with a pause.
    webhook_renew_after     timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    -- Renew at the next chance whatever the expiry (Graph reauthorizationRequired).
    webhook_renew_requested boolean NOT NULL DEFAULT false,
    -- Highest X-Goog-Message-Number processed for webhook_channel_id (replay dedup).
    webhook_last_message    bigint NOT NULL DEFAULT 0,
    last_sync_at            timestamptz,
    last_error              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT connection_calendars_pkey PRIMARY KEY (connection_id, calendar_id)
);
CREATE UNIQUE INDEX connection_calendars_write_to_key ON connection_calendars (connection_id) WHERE write_to;
CREATE UNIQUE INDEX connection_calendars_primary_key ON connection_calendars (connection_id) WHERE is_primary;
-- A Google push names its channel: the replay guard finds the calendar by it.
CREATE INDEX connection_calendars_channel_idx ON connection_calendars (webhook_channel_id)
    WHERE webhook_channel_id IS NOT NULL;
CREATE INDEX connection_calendars_webhook_idx ON connection_calendars (webhook_expires_at) WHERE blocking;

-- Every existing OAuth connection synced exactly its one calendar: it becomes that
-- calendar's row, primary, blocking and receiving bookings, with its cursor and webhook.
INSERT INTO connection_calendars (
    connection_id, calendar_id, name, is_primary, blocking, write_to,
    sync_cursor, sync_window_start, webhook_channel_id, webhook_resource_id,
    webhook_subscription_id, webhook_expires_at, webhook_last_error, webhook_renew_after,
    webhook_renew_requested, webhook_last_message, last_sync_at)
SELECT id, external_calendar_id, '', true, true, true,
    sync_cursor, sync_window_start, webhook_channel_id, webhook_resource_id,
    webhook_subscription_id, webhook_expires_at, webhook_last_error, webhook_renew_after,
    webhook_renew_requested, webhook_last_message, last_sync_at
FROM calendar_connections WHERE provider <> 'ics';

-- The event key includes the calendar: Google gives an invited meeting the same event
-- id in every calendar of one account that holds it. ICS events have calendar ''.
ALTER TABLE external_events ADD COLUMN calendar_id text NOT NULL DEFAULT '';
UPDATE external_events e SET calendar_id = c.external_calendar_id
FROM calendar_connections c WHERE c.id = e.connection_id AND c.provider <> 'ics';
ALTER TABLE external_events DROP CONSTRAINT external_events_connection_event_key;
ALTER TABLE external_events ADD CONSTRAINT external_events_connection_event_key
    UNIQUE (connection_id, calendar_id, provider_event_id);

-- One home: the per-calendar state now lives in connection_calendars. The connection
-- keeps sync_window_start for ICS feeds (the window the last expansion covered).
DROP INDEX calendar_connections_webhook_idx;
ALTER TABLE calendar_connections
    DROP COLUMN sync_cursor,
    DROP COLUMN webhook_channel_id,
    DROP COLUMN webhook_resource_id,
    DROP COLUMN webhook_subscription_id,
    DROP COLUMN webhook_expires_at,
    DROP COLUMN webhook_last_error,
    DROP COLUMN webhook_renew_after,
    DROP COLUMN webhook_renew_requested,
    DROP COLUMN webhook_last_message;
