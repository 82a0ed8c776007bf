-- Issue 14: write-back. The transactional outbox of calendar writes: a booking commits
-- its `create` rows, a cancellation its `delete` rows, in the transaction that books or
-- cancels; sync-worker performs them later with retries, so a provider failure never
-- fails or delays a booking.
CREATE TABLE calendar_writes (
    id                uuid PRIMARY KEY,
    appointment_id    uuid NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    connection_id     uuid NOT NULL REFERENCES calendar_connections (id) ON DELETE CASCADE,
    op                text NOT NULL CONSTRAINT calendar_writes_op_check CHECK (op IN ('create', 'delete')),
    -- The calendar written to; NULL: the account's default calendar (Graph).
    calendar_id       text,
    -- Google: chosen by us before the call (so a retry is recognised as a duplicate);
    -- Graph: the id the create answered.
    provider_event_id text,
    -- pending: to do (or being done, while claimed); done: performed; skipped: never
    -- needed (a booking cancelled before its event was written); failed: refused for
    -- good by the provider (last_error says why).
    state             text NOT NULL DEFAULT 'pending' CONSTRAINT calendar_writes_state_check CHECK (state IN ('pending', 'done', 'skipped', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error        text,
    -- The claim of the worker performing it; a lapsed claim is taken over.
    claimed_by        text,
    claimed_until     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    done_at           timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- One create and at most one delete per booking and connection.
    CONSTRAINT calendar_writes_op_key UNIQUE (appointment_id, connection_id, op)
);
-- The drain's claim: due pending writes, oldest first.
CREATE INDEX calendar_writes_due_idx ON calendar_writes (next_attempt_at) WHERE state = 'pending';
CREATE INDEX calendar_writes_connection_idx ON calendar_writes (connection_id, provider_event_id);
