ALTER TABLE calendar_connections
    ADD COLUMN sync_cursor text,
    ADD COLUMN webhook_channel_id text,
    ADD COLUMN webhook_resource_id text,
    ADD COLUMN webhook_subscription_id text,
    ADD COLUMN webhook_expires_at timestamptz,
    ADD COLUMN webhook_last_error text,
    ADD COLUMN webhook_renew_after timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    ADD COLUMN webhook_renew_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN webhook_last_message bigint NOT NULL DEFAULT 0;
CREATE INDEX calendar_connections_webhook_idx ON calendar_connections (webhook_expires_at) WHERE sync_enabled AND provider <> 'ics';

-- Back to one calendar per connection: the primary one's state returns to the
-- connection, and the other calendars' events go (the old key cannot hold them).
UPDATE calendar_connections c SET
    sync_cursor = k.sync_cursor,
    sync_window_start = COALESCE(k.sync_window_start, c.sync_window_start),
    webhook_channel_id = k.webhook_channel_id,
    webhook_resource_id = k.webhook_resource_id,
    webhook_subscription_id = k.webhook_subscription_id,
    webhook_expires_at = k.webhook_expires_at,
    webhook_last_error = k.webhook_last_error,
    webhook_renew_after = k.webhook_renew_after,
    webhook_renew_requested = k.webhook_renew_requested,
    webhook_last_message = k.webhook_last_message
FROM connection_calendars k WHERE k.connection_id = c.id AND k.is_primary;
DELETE FROM external_events e USING calendar_connections c
WHERE c.id = e.connection_id AND c.provider <> 'ics' AND e.calendar_id <> c.external_calendar_id;

ALTER TABLE external_events DROP CONSTRAINT external_events_connection_event_key;
ALTER TABLE external_events ADD CONSTRAINT external_events_connection_event_key
    UNIQUE (connection_id, provider_event_id);
ALTER TABLE external_events DROP COLUMN calendar_id;

DROP TABLE connection_calendars;
