-- Issue 13: availability read in proportion to the window asked for, booking made real
-- (cancellation, idempotency keys), and failures that waiting will not fix told apart.

-- Busy time of specialists in a window, read by index-only scans. A window [from, to)
-- is read as two disjoint ranges: events starting in [from - 2 days, to) from the first
-- index, and the rare longer ones starting before that (a holiday) from the second, so
-- neither history nor the far future is scanned. crates/db/src/events.rs holds the query.
CREATE INDEX external_events_busy_idx ON external_events (specialist_id, starts_at)
    INCLUDE (ends_at) WHERE blocks_availability AND NOT is_soradin_created;
CREATE INDEX external_events_busy_long_idx ON external_events (specialist_id, ends_at)
    INCLUDE (starts_at)
    WHERE blocks_availability AND NOT is_soradin_created AND ends_at - starts_at > interval '2 days';
-- Lets the planner see how rare long events are, so it picks the index above for them.
CREATE STATISTICS external_events_length_stats ON (ends_at - starts_at) FROM external_events;
-- Superseded by external_events_busy_idx (it also skipped events we wrote ourselves).
DROP INDEX external_events_blocking_idx;

-- Working hours of specialists by index-only scan.
CREATE INDEX availability_rules_hours_idx ON availability_rules (specialist_id)
    INCLUDE (weekday, start_time, end_time);
DROP INDEX availability_rules_specialist_idx;

-- An appointment lasts at most a day (the api refuses longer ones), which bounds how far
-- before a window a confirmed appointment reaching into it can start.
ALTER TABLE appointments ADD CONSTRAINT appointments_length_check
    CHECK (ends_at - starts_at <= interval '24 hours');
CREATE INDEX appointments_confirmed_idx ON appointments (specialist_id, starts_at)
    INCLUDE (ends_at) WHERE status = 'confirmed';

-- Idempotency-Key of POST /api/appointments: a retried request gets the first answer.
-- Only bookings that were made are remembered; keys older than a day may be removed.
CREATE TABLE booking_idempotency_keys (
    key            text PRIMARY KEY,
    -- SHA-256 of the request's canonical form: the same key with another body is refused.
    request_sha256 bytea NOT NULL,
    appointment_id uuid NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    -- The first answer's body, replayed as it was.
    response       jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_idempotency_keys_created_idx ON booking_idempotency_keys (created_at);

-- Whether the last failed sync failed for a reason that waiting will not fix (a refused
-- address, a missing feed, a revoked grant): such a connection is not fresh at once.
ALTER TABLE calendar_connections
    ADD COLUMN last_error_permanent boolean NOT NULL DEFAULT false;
