-- calsync's initial schema. Constraint names are part of the code's error mapping
-- (crates/db/src/error.rs): rename them only together with it.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE specialists (
    id           uuid PRIMARY KEY,
    -- The portal login's subject (the `sub` of the agent's JWT).
    user_id      text NOT NULL CONSTRAINT specialists_user_id_key UNIQUE,
    display_name text NOT NULL,
    time_zone    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE availability_rules (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    specialist_id uuid NOT NULL REFERENCES specialists (id) ON DELETE CASCADE,
    -- ISO weekday, Monday = 1.
    weekday       smallint NOT NULL CONSTRAINT availability_rules_weekday_check CHECK (weekday BETWEEN 1 AND 7),
    start_time    time NOT NULL,
    end_time      time NOT NULL,
    CONSTRAINT availability_rules_order_check CHECK (start_time < end_time)
);
CREATE INDEX availability_rules_specialist_idx ON availability_rules (specialist_id);

CREATE TABLE appointments (
    id            uuid PRIMARY KEY,
    specialist_id uuid NOT NULL REFERENCES specialists (id) ON DELETE CASCADE,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    status        text NOT NULL CONSTRAINT appointments_status_check CHECK (status IN ('confirmed', 'cancelled')),
    customer      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointments_order_check CHECK (starts_at < ends_at),
    -- Invariant 5: two confirmed bookings of one specialist never overlap, whatever
    -- the application does. Half-open ranges, so back-to-back bookings are fine.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        specialist_id WITH =,
        tstzrange(starts_at, ends_at, '[)') WITH &&
    ) WHERE (status = 'confirmed')
);

CREATE TABLE calendar_connections (
    id                      uuid PRIMARY KEY,
    specialist_id           uuid NOT NULL REFERENCES specialists (id) ON DELETE CASCADE,
    provider                text NOT NULL CONSTRAINT calendar_connections_provider_check CHECK (provider IN ('google', 'microsoft', 'ics')),
    -- Google/Graph calendar id, or the ICS feed URL.
    external_calendar_id    text NOT NULL,
    -- Account the tokens belong to, when the provider tells us.
    account_email           text,
    -- AES-256-GCM ciphertexts (crates/providers security::TokenCipher); never plaintext.
    access_token_enc        bytea,
    refresh_token_enc       bytea,
    token_expires_at        timestamptz,
    sync_enabled            boolean NOT NULL DEFAULT true,
    needs_reauth            boolean NOT NULL DEFAULT false,
    -- Google nextSyncToken, Graph deltaLink; NULL means "next sync is a full one".
    sync_cursor             text,
    -- Start of the window the cursor was made for (Graph delta windows are fixed).
    sync_window_start       timestamptz,
    ics_etag                text,
    ics_last_modified       text,
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
    last_sync_attempt_at    timestamptz,
    last_error              text,
    last_error_at           timestamptz,
    consecutive_failures    integer NOT NULL DEFAULT 0,
    next_poll_at            timestamptz NOT NULL DEFAULT now(),
    -- Invariant 2: a notice sets sync_pending; the lease holder runs once more if it
    -- finds it set when releasing.
    sync_pending            boolean NOT NULL DEFAULT false,
    full_resync_requested   boolean NOT NULL DEFAULT false,
    sync_requested_at       timestamptz,
    sync_count              bigint NOT NULL DEFAULT 0,
    lease_owner             text,
    lease_expires_at        timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calendar_connections_calendar_key UNIQUE (specialist_id, provider, external_calendar_id)
);
CREATE INDEX calendar_connections_specialist_idx ON calendar_connections (specialist_id);
CREATE INDEX calendar_connections_due_idx ON calendar_connections (next_poll_at) WHERE sync_enabled;
CREATE INDEX calendar_connections_webhook_idx ON calendar_connections (webhook_expires_at) WHERE sync_enabled AND provider <> 'ics';
CREATE INDEX calendar_connections_pending_idx ON calendar_connections (sync_requested_at) WHERE sync_pending;

CREATE TABLE external_events (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    connection_id       uuid NOT NULL REFERENCES calendar_connections (id) ON DELETE CASCADE,
    specialist_id       uuid NOT NULL REFERENCES specialists (id) ON DELETE CASCADE,
    provider_event_id   text NOT NULL,
    ical_uid            text,
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz NOT NULL,
    all_day             boolean NOT NULL DEFAULT false,
    status              text NOT NULL CONSTRAINT external_events_status_check CHECK (status IN ('confirmed', 'tentative', 'cancelled')),
    blocks_availability boolean NOT NULL,
    is_soradin_created  boolean NOT NULL DEFAULT false,
    appointment_id      uuid REFERENCES appointments (id) ON DELETE SET NULL,
    -- Private: only the agent's own portal shows it.
    title               text,
    provider_updated_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT external_events_order_check CHECK (starts_at <= ends_at),
    CONSTRAINT external_events_connection_event_key UNIQUE (connection_id, provider_event_id)
);
-- "What blocks this specialist between A and B": starts_at < B AND ends_at > A.
CREATE INDEX external_events_blocking_idx ON external_events (specialist_id, starts_at)
    INCLUDE (ends_at) WHERE blocks_availability;
CREATE INDEX external_events_portal_idx ON external_events (specialist_id, starts_at);
-- Cleanup of old, unlinked events.
CREATE INDEX external_events_ends_idx ON external_events (ends_at) WHERE appointment_id IS NULL;
CREATE INDEX external_events_appointment_idx ON external_events (appointment_id) WHERE appointment_id IS NOT NULL;

-- Appointments by specialist and time, for the portal (the exclusion index only covers
-- confirmed ones).
CREATE INDEX appointments_specialist_idx ON appointments (specialist_id, starts_at);
