ALTER TABLE calendar_connections DROP COLUMN last_error_permanent;
DROP TABLE booking_idempotency_keys;
DROP INDEX appointments_confirmed_idx;
CREATE INDEX availability_rules_specialist_idx ON availability_rules (specialist_id);
DROP INDEX availability_rules_hours_idx;
ALTER TABLE appointments DROP CONSTRAINT appointments_length_check;
CREATE INDEX external_events_blocking_idx ON external_events (specialist_id, starts_at)
    INCLUDE (ends_at) WHERE blocks_availability;
DROP STATISTICS external_events_length_stats;
DROP INDEX external_events_busy_long_idx;
DROP INDEX external_events_busy_idx;
