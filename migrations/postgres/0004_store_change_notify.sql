-- Every committed insert or update of a store is announced on channel
-- `storeplane_store_changed` with the store id, so each replica's event streams hear of changes
-- another replica made at once, instead of on their next periodic re-read. (NOTIFY is
-- delivered on commit, and identical notifications of one transaction are folded into one.)
CREATE FUNCTION storeplane_notify_store_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('storeplane_store_changed', NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER stores_notify_changed
    AFTER INSERT OR UPDATE ON stores
    FOR EACH ROW EXECUTE FUNCTION storeplane_notify_store_changed();
