// @generated-shaped: mirrors migrations/ (regenerate with `diesel print-schema` when a
// diesel CLI is at hand; `tests/it/schema.rs` checks it against the migrated catalog).

diesel::table! {
    specialists (id) {
        id -> Uuid,
        user_id -> Text,
        display_name -> Text,
        time_zone -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    availability_rules (id) {
        id -> Int8,
        specialist_id -> Uuid,
        weekday -> Int2,
        start_time -> Time,
        end_time -> Time,
    }
}

diesel::table! {
    appointments (id) {
        id -> Uuid,
        specialist_id -> Uuid,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        status -> Text,
        customer -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    calendar_connections (id) {
        id -> Uuid,
        specialist_id -> Uuid,
        provider -> Text,
        external_calendar_id -> Text,
        account_email -> Nullable<Text>,
        access_token_enc -> Nullable<Bytea>,
        refresh_token_enc -> Nullable<Bytea>,
        token_expires_at -> Nullable<Timestamptz>,
        sync_enabled -> Bool,
        needs_reauth -> Bool,
        sync_window_start -> Nullable<Timestamptz>,
        ics_etag -> Nullable<Text>,
        ics_last_modified -> Nullable<Text>,
        ics_body_sha256 -> Nullable<Text>,
        ics_refresh_interval_secs -> Nullable<Int4>,
        last_sync_at -> Nullable<Timestamptz>,
        last_sync_attempt_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamptz>,
        last_error_permanent -> Bool,
        consecutive_failures -> Int4,
        next_poll_at -> Timestamptz,
        sync_pending -> Bool,
        full_resync_requested -> Bool,
        sync_requested_at -> Nullable<Timestamptz>,
        sync_count -> Int8,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    connection_calendars (connection_id, calendar_id) {
        connection_id -> Uuid,
        calendar_id -> Text,
        name -> Text,
        is_primary -> Bool,
        blocking -> Bool,
        write_to -> Bool,
        sync_cursor -> Nullable<Text>,
        sync_window_start -> Nullable<Timestamptz>,
        webhook_channel_id -> Nullable<Text>,
        webhook_resource_id -> Nullable<Text>,
        webhook_subscription_id -> Nullable<Text>,
        webhook_expires_at -> Nullable<Timestamptz>,
        webhook_last_error -> Nullable<Text>,
        webhook_renew_after -> Timestamptz,
        webhook_renew_requested -> Bool,
        webhook_last_message -> Int8,
        last_sync_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    external_events (id) {
        id -> Uuid,
        connection_id -> Uuid,
        calendar_id -> Text,
        specialist_id -> Uuid,
        provider_event_id -> Text,
        ical_uid -> Nullable<Text>,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        all_day -> Bool,
        status -> Text,
        blocks_availability -> Bool,
        is_soradin_created -> Bool,
        appointment_id -> Nullable<Uuid>,
        title -> Nullable<Text>,
        provider_updated_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    booking_idempotency_keys (key) {
        key -> Text,
        request_sha256 -> Bytea,
        appointment_id -> Uuid,
        response -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    calendar_writes (id) {
        id -> Uuid,
        appointment_id -> Uuid,
        connection_id -> Uuid,
        op -> Text,
        calendar_id -> Nullable<Text>,
        provider_event_id -> Nullable<Text>,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        done_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(availability_rules -> specialists (specialist_id));
diesel::joinable!(appointments -> specialists (specialist_id));
diesel::joinable!(calendar_connections -> specialists (specialist_id));
diesel::joinable!(external_events -> calendar_connections (connection_id));
diesel::joinable!(connection_calendars -> calendar_connections (connection_id));
diesel::joinable!(external_events -> specialists (specialist_id));
diesel::joinable!(external_events -> appointments (appointment_id));
diesel::joinable!(booking_idempotency_keys -> appointments (appointment_id));
diesel::joinable!(calendar_writes -> appointments (appointment_id));
diesel::joinable!(calendar_writes -> calendar_connections (connection_id));

diesel::allow_tables_to_appear_in_same_query!(
    specialists,
    availability_rules,
    appointments,
    calendar_connections,
    connection_calendars,
    external_events,
    booking_idempotency_keys,
    calendar_writes,
);

diesel::table! {
    oauth_states_used (nonce) {
        nonce -> Text,
        expires_at -> Timestamptz,
    }
}
