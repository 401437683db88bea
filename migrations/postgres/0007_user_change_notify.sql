-- Every committed update or deletion of a user is announced on channel
-- `storeplane_user_changed` with the user id, so each replica drops the user from its cache of
-- authenticated users at once (a deactivated account is refused by every replica, not only the
-- one that deactivated it).
CREATE FUNCTION storeplane_notify_user_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('storeplane_user_changed', OLD.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_notify_changed
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION storeplane_notify_user_changed();
