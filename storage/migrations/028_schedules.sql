-- Scheduled triggers (TRIGGER_SCHEDULE): when each workflow's schedule is due, which ticks it has
-- fired, and when the workflow was activated (ticks before that never fire). Exactly-once per
-- tick comes from workflow_executions' unique (workflow_id, idempotency_key) with the keys
-- "<workflow>:<tick>" and "<workflow>:<tick>:<lead>"; the claim below only keeps two nodes from
-- doing the same work.
--
-- Every node looks for due rows with one indexed query (due_at <= now) a second. A row is made
-- by the database itself whenever a workflow gets a TRIGGER_SCHEDULE node, and made due at once
-- ('-infinity') whenever its workflow's status, version, activation or deletion changes or its
-- workspace's time zone or activity does, however that happened (CLI, API, plain SQL): the node
-- that claims it reads the current graph again and fires, re-plans or parks it.

-- When the workflow last became active (an absolute time); NULL when it never was. Workflows
-- active before this migration count as activated now: nothing was fired for them before.
ALTER TABLE workflows ADD COLUMN activated_at TIMESTAMPTZ;
UPDATE workflows SET activated_at = now() WHERE status = 'active';

CREATE FUNCTION set_activated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'active' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'active') THEN
        NEW.activated_at = clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER workflows_set_activated_at BEFORE INSERT OR UPDATE OF status ON workflows
    FOR EACH ROW EXECUTE FUNCTION set_activated_at();

CREATE TABLE workflow_schedules (
    workflow_id        UUID PRIMARY KEY REFERENCES workflows(id) ON DELETE CASCADE,
    workspace_id       UUID NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    -- When a node should look at the row next: the next tick, the end of a claim, '-infinity'
    -- after a change; NULL: nothing to do (the workflow is paused or has no schedule).
    due_at             TIMESTAMPTZ DEFAULT '-infinity',
    next_tick_at       TIMESTAMPTZ,          -- the next tick as last planned (NULL: none)
    last_tick_at       TIMESTAMPTZ,          -- the latest tick fired or skipped: no tick up to it fires again
    spec               TEXT,                 -- "cron zone" as last planned
    spec_since         TIMESTAMPTZ,          -- when spec last changed: ticks of a changed schedule count from then
    fire_tick_at       TIMESTAMPTZ,          -- a tick whose leads are being started in batches
    fire_after_created TIMESTAMP,            -- the last lead of that tick done: keyset (created_at, id)
    fire_after_id      UUID,
    claimed_by         TEXT,                 -- the node working on the row, until claimed_until
    claim_token        UUID,
    claimed_until      TIMESTAMPTZ,
    last_error         TEXT,                 -- why the schedule does not fire (a bad time zone, filter, ...)
    created_at         TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at         TIMESTAMP NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_workflow_schedules_due ON workflow_schedules(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX idx_workflow_schedules_workspace ON workflow_schedules(workspace_id);
CREATE TRIGGER workflow_schedules_set_updated_at BEFORE UPDATE ON workflow_schedules
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A workflow gets a schedule row with its first TRIGGER_SCHEDULE node (import, API, SQL).
CREATE FUNCTION add_workflow_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workflow_schedules (workflow_id, workspace_id)
    SELECT w.id, w.workspace_id FROM workflows w WHERE w.id = NEW.workflow_id
    ON CONFLICT (workflow_id) DO UPDATE SET due_at = '-infinity';
    RETURN NULL;
END
$$;
CREATE TRIGGER workflow_nodes_add_schedule AFTER INSERT OR UPDATE ON workflow_nodes
    FOR EACH ROW WHEN (NEW.node_type = 'TRIGGER_SCHEDULE') EXECUTE FUNCTION add_workflow_schedule();

CREATE FUNCTION mark_workflow_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflow_schedules SET due_at = '-infinity' WHERE workflow_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER workflows_mark_schedule AFTER UPDATE OF status, version, deleted_at, activated_at ON workflows
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.version IS DISTINCT FROM NEW.version
                       OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at OR OLD.activated_at IS DISTINCT FROM NEW.activated_at)
    EXECUTE FUNCTION mark_workflow_schedule();

CREATE FUNCTION mark_workspace_schedules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflow_schedules SET due_at = '-infinity' WHERE workspace_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER workspaces_mark_schedules AFTER UPDATE OF timezone, is_active, deleted_at ON workspaces
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone OR OLD.is_active IS DISTINCT FROM NEW.is_active
                       OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION mark_workspace_schedules();

-- Workflows that already have a schedule trigger.
INSERT INTO workflow_schedules (workflow_id, workspace_id)
SELECT DISTINCT w.id, w.workspace_id FROM workflow_nodes n JOIN workflows w ON w.id = n.workflow_id
WHERE n.node_type = 'TRIGGER_SCHEDULE' AND w.deleted_at IS NULL;
