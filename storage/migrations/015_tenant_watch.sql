-- Every node polls, once a second, for workspaces, workflows and form fields changed since its
-- last look (however they changed: CLI, API or a direct UPDATE), so a deactivated workspace or a
-- paused workflow stops taking triggers on every node within two seconds.
--
-- The poll cannot use updated_at: it is a TIMESTAMP in the writing session's time zone, so a row
-- changed from a session in another zone would look hours old or hours new. changed_at (an extra
-- column) is an absolute time, the moment of the write (clock_timestamp(), not the transaction's
-- start), and removing a form field marks its workflow changed.
CREATE FUNCTION set_changed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at = clock_timestamp();
    RETURN NEW;
END
$$;

CREATE FUNCTION mark_workflow_of_removed_field() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflows SET changed_at = clock_timestamp() WHERE id = OLD.workflow_id;
    RETURN OLD;
END
$$;

ALTER TABLE workspaces ADD COLUMN changed_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE workflows ADD COLUMN changed_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE form_fields ADD COLUMN changed_at TIMESTAMPTZ NOT NULL DEFAULT now();

CREATE TRIGGER workspaces_set_changed_at BEFORE INSERT OR UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION set_changed_at();
CREATE TRIGGER workflows_set_changed_at BEFORE INSERT OR UPDATE ON workflows
    FOR EACH ROW EXECUTE FUNCTION set_changed_at();
CREATE TRIGGER form_fields_set_changed_at BEFORE INSERT OR UPDATE ON form_fields
    FOR EACH ROW EXECUTE FUNCTION set_changed_at();
CREATE TRIGGER form_fields_mark_workflow_on_delete AFTER DELETE ON form_fields
    FOR EACH ROW EXECUTE FUNCTION mark_workflow_of_removed_field();

CREATE INDEX idx_workspaces_changed ON workspaces(changed_at);
CREATE INDEX idx_workflows_changed ON workflows(changed_at);
CREATE INDEX idx_form_fields_changed ON form_fields(changed_at);
