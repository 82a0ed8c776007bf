-- The api caches what availability is computed from, per specialist, and drops an entry
-- when the specialist's id is notified on channel `calsync_availability` (see
-- services/api/src/cache.rs). These triggers notify on commit whenever a row that the
-- availability reads (crates/db/src/availability.rs) changes: keep the column lists in
-- step with those statements. NOTIFY folds repeats of one payload in a transaction, so a
-- sync writing 500 events of one agent sends one notification.

CREATE FUNCTION calsync_notify_specialist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM pg_notify('calsync_availability', OLD.specialist_id::text);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.specialist_id IS DISTINCT FROM OLD.specialist_id) THEN
    PERFORM pg_notify('calsync_availability', NEW.specialist_id::text);
  END IF;
  RETURN NULL;
END
$$;

-- The specialists table names the specialist `id`.
CREATE FUNCTION calsync_notify_specialist_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('calsync_availability', OLD.id::text);
  IF NEW.id IS DISTINCT FROM OLD.id THEN
    PERFORM pg_notify('calsync_availability', NEW.id::text);
  END IF;
  RETURN NULL;
END
$$;

-- A TRUNCATE says nothing about which specialists: everything.
CREATE FUNCTION calsync_notify_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('calsync_availability', '*');
  RETURN NULL;
END
$$;

CREATE TRIGGER specialists_availability_notify
  AFTER UPDATE ON specialists FOR EACH ROW
  WHEN ((OLD.id, OLD.time_zone) IS DISTINCT FROM (NEW.id, NEW.time_zone))
  EXECUTE FUNCTION calsync_notify_specialist_row();
CREATE TRIGGER specialists_availability_notify_delete
  AFTER DELETE ON specialists FOR EACH ROW
  EXECUTE FUNCTION calsync_notify_specialist_row();

CREATE TRIGGER availability_rules_availability_notify
  AFTER INSERT OR UPDATE OR DELETE ON availability_rules FOR EACH ROW
  EXECUTE FUNCTION calsync_notify_specialist();

CREATE TRIGGER calendar_connections_availability_notify
  AFTER INSERT OR DELETE ON calendar_connections FOR EACH ROW
  EXECUTE FUNCTION calsync_notify_specialist();
-- Syncs, leases and webhook bookkeeping update connections all the time; only what
-- decides freshness matters here.
CREATE TRIGGER calendar_connections_availability_notify_update
  AFTER UPDATE ON calendar_connections FOR EACH ROW
  WHEN ((OLD.specialist_id, OLD.provider, OLD.sync_enabled, OLD.needs_reauth, OLD.last_sync_at,
         OLD.last_error_at, OLD.last_error_permanent, OLD.created_at)
        IS DISTINCT FROM
        (NEW.specialist_id, NEW.provider, NEW.sync_enabled, NEW.needs_reauth, NEW.last_sync_at,
         NEW.last_error_at, NEW.last_error_permanent, NEW.created_at))
  EXECUTE FUNCTION calsync_notify_specialist();

CREATE TRIGGER external_events_availability_notify
  AFTER INSERT OR DELETE ON external_events FOR EACH ROW
  EXECUTE FUNCTION calsync_notify_specialist();
CREATE TRIGGER external_events_availability_notify_update
  AFTER UPDATE ON external_events FOR EACH ROW
  WHEN ((OLD.specialist_id, OLD.starts_at, OLD.ends_at, OLD.blocks_availability, OLD.is_soradin_created)
        IS DISTINCT FROM
        (NEW.specialist_id, NEW.starts_at, NEW.ends_at, NEW.blocks_availability, NEW.is_soradin_created))
  EXECUTE FUNCTION calsync_notify_specialist();

CREATE TRIGGER appointments_availability_notify
  AFTER INSERT OR DELETE ON appointments FOR EACH ROW
  EXECUTE FUNCTION calsync_notify_specialist();
CREATE TRIGGER appointments_availability_notify_update
  AFTER UPDATE ON appointments FOR EACH ROW
  WHEN ((OLD.specialist_id, OLD.starts_at, OLD.ends_at, OLD.status)
        IS DISTINCT FROM (NEW.specialist_id, NEW.starts_at, NEW.ends_at, NEW.status))
  EXECUTE FUNCTION calsync_notify_specialist();

CREATE TRIGGER specialists_availability_notify_truncate
  AFTER TRUNCATE ON specialists FOR EACH STATEMENT EXECUTE FUNCTION calsync_notify_everything();
CREATE TRIGGER availability_rules_availability_notify_truncate
  AFTER TRUNCATE ON availability_rules FOR EACH STATEMENT EXECUTE FUNCTION calsync_notify_everything();
CREATE TRIGGER calendar_connections_availability_notify_truncate
  AFTER TRUNCATE ON calendar_connections FOR EACH STATEMENT EXECUTE FUNCTION calsync_notify_everything();
CREATE TRIGGER external_events_availability_notify_truncate
  AFTER TRUNCATE ON external_events FOR EACH STATEMENT EXECUTE FUNCTION calsync_notify_everything();
CREATE TRIGGER appointments_availability_notify_truncate
  AFTER TRUNCATE ON appointments FOR EACH STATEMENT EXECUTE FUNCTION calsync_notify_everything();
