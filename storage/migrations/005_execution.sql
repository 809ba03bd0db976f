-- Module 4, execution engine: workflow_executions, execution_steps, and the monthly-partitioned
-- execution_logs with its partition maintenance functions.

CREATE TABLE workflow_executions (
    id               UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workflow_id      UUID NOT NULL,
    workspace_id     UUID NOT NULL,
    lead_id          UUID,
    execution_number BIGSERIAL,
    idempotency_key  VARCHAR(255),
    trigger_type     VARCHAR(50) NOT NULL,
    trigger_node_id  UUID,
    trigger_data     JSONB,
    status           VARCHAR(20) NOT NULL DEFAULT 'running',
    started_at       TIMESTAMP,
    completed_at     TIMESTAMP,
    duration_ms      INTEGER,
    error_message    TEXT,
    error_details    JSONB,
    retry_count      INTEGER DEFAULT 0,
    max_retries      INTEGER DEFAULT 3,
    lock_acquired_at TIMESTAMP,
    lock_released_at TIMESTAMP,
    output_data      JSONB,
    created_at       TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT workflow_executions_valid_status
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'paused')),
    -- Deliberately NULLS DISTINCT (unlike workflow_edges): executions without an idempotency
    -- key are not duplicates of each other.
    CONSTRAINT workflow_executions_unique_idempotency UNIQUE (workflow_id, idempotency_key),
    CONSTRAINT workflow_executions_workflow_id_fkey FOREIGN KEY (workflow_id)
        REFERENCES workflows(id) ON DELETE CASCADE,
    CONSTRAINT workflow_executions_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE,
    CONSTRAINT workflow_executions_lead_id_fkey FOREIGN KEY (lead_id)
        REFERENCES leads(id) ON DELETE SET NULL,
    CONSTRAINT workflow_executions_trigger_node_id_fkey FOREIGN KEY (trigger_node_id)
        REFERENCES workflow_nodes(id) ON DELETE SET NULL
);
CREATE INDEX idx_workflow_executions_workflow ON workflow_executions(workflow_id, status, created_at DESC);
CREATE INDEX idx_workflow_executions_workspace ON workflow_executions(workspace_id, created_at DESC);
CREATE INDEX idx_workflow_executions_lead ON workflow_executions(lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX idx_workflow_executions_status ON workflow_executions(status) WHERE status IN ('queued', 'running');
CREATE INDEX idx_workflow_executions_idempotency ON workflow_executions(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX idx_workflow_executions_created ON workflow_executions(created_at DESC);
-- Not in the spec. Engine start-up/recovery scans for runs whose lock went stale
-- (status = 'running' AND lock_acquired_at < cutoff) and for paused runs to resume;
-- partial on non-terminal statuses so it stays small as history grows.
CREATE INDEX idx_workflow_executions_recovery ON workflow_executions(status, lock_acquired_at)
    WHERE status IN ('queued', 'running', 'paused');
CREATE TRIGGER workflow_executions_set_updated_at BEFORE UPDATE ON workflow_executions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE execution_steps (
    id               UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    execution_id     UUID NOT NULL,
    workflow_node_id UUID NOT NULL,
    step_number      INTEGER NOT NULL,
    status           VARCHAR(20) NOT NULL DEFAULT 'pending',
    started_at       TIMESTAMP,
    completed_at     TIMESTAMP,
    duration_ms      INTEGER,
    input_data       JSONB,
    output_data      JSONB,
    error_message    TEXT,
    error_details    JSONB,
    retry_count      INTEGER DEFAULT 0,
    created_at       TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT execution_steps_valid_status
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
    CONSTRAINT execution_steps_execution_id_fkey FOREIGN KEY (execution_id)
        REFERENCES workflow_executions(id) ON DELETE CASCADE,
    CONSTRAINT execution_steps_workflow_node_id_fkey FOREIGN KEY (workflow_node_id)
        REFERENCES workflow_nodes(id) ON DELETE CASCADE
);
CREATE INDEX idx_execution_steps_execution ON execution_steps(execution_id, step_number);
CREATE INDEX idx_execution_steps_node ON execution_steps(workflow_node_id);
CREATE INDEX idx_execution_steps_status ON execution_steps(status) WHERE status = 'running';
CREATE TRIGGER execution_steps_set_updated_at BEFORE UPDATE ON execution_steps
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- No foreign keys (per spec: hot write path, and whole partitions are dropped on retention).
-- The PK must contain the partition key, hence (id, created_at).
CREATE TABLE execution_logs (
    id                UUID NOT NULL DEFAULT uuid_generate_v4(),
    execution_id      UUID NOT NULL,
    execution_step_id UUID,
    workspace_id      UUID NOT NULL,
    log_level         VARCHAR(10) NOT NULL,
    log_category      VARCHAR(50),
    message           TEXT NOT NULL,
    details           JSONB,
    node_type         VARCHAR(50),
    created_at        TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT execution_logs_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT execution_logs_valid_level CHECK (log_level IN ('DEBUG', 'INFO', 'WARN', 'ERROR'))
) PARTITION BY RANGE (created_at);
-- Created on the parent so every partition, present and future, gets them.
CREATE INDEX idx_execution_logs_execution ON execution_logs(execution_id, created_at DESC);
CREATE INDEX idx_execution_logs_workspace ON execution_logs(workspace_id, created_at DESC);
CREATE INDEX idx_execution_logs_level ON execution_logs(log_level) WHERE log_level IN ('ERROR', 'WARN');
CREATE INDEX idx_execution_logs_category ON execution_logs(log_category);

-- There is no DEFAULT partition on purpose: rows landing there would make creating the
-- matching monthly partition fail later. Instead this must run often enough (the migration
-- runner calls it on every run; a long-lived engine should also call it periodically) that
-- next month's partition exists before it is needed. Month boundaries are in the session
-- time zone, like the NOW() default of the TIMESTAMP column.
CREATE OR REPLACE FUNCTION ensure_execution_log_partitions(months_ahead integer DEFAULT 1)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    parent_schema name;
    month_start   date;
    part_name     text;
    created       integer := 0;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 THEN
        RAISE EXCEPTION 'months_ahead must be >= 0, got %', months_ahead;
    END IF;

    SELECT n.nspname INTO parent_schema
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = 'execution_logs'::regclass;

    -- Self-conflicting but compatible with inserts/reads: serialises concurrent maintainers
    -- so two callers cannot both decide to create the same partition.
    LOCK TABLE execution_logs IN SHARE UPDATE EXCLUSIVE MODE;

    FOR i IN 0..months_ahead LOOP
        month_start := (date_trunc('month', LOCALTIMESTAMP) + make_interval(months => i))::date;
        part_name := 'execution_logs_' || to_char(month_start, 'YYYY_MM');
        IF to_regclass(format('%I.%I', parent_schema, part_name)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.execution_logs FOR VALUES FROM (%L) TO (%L)',
                           parent_schema, part_name, parent_schema,
                           month_start, (month_start + interval '1 month')::date);
            created := created + 1;
        END IF;
    END LOOP;

    RETURN created;
END;
$$;

-- Drops only partitions attached to execution_logs (found through pg_inherits, not by name)
-- whose exclusive upper bound is at or before now() - retention, i.e. every row in them is
-- older than the retention window. DEFAULT/MAXVALUE partitions have no such bound and are kept.
CREATE OR REPLACE FUNCTION drop_expired_execution_log_partitions(retention interval DEFAULT '90 days')
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part    record;
    cutoff  timestamp;
    dropped integer := 0;
BEGIN
    IF retention IS NULL OR retention < interval '0' THEN
        RAISE EXCEPTION 'retention must be a non-negative interval, got %', retention;
    END IF;
    cutoff := LOCALTIMESTAMP - retention;

    LOCK TABLE execution_logs IN SHARE UPDATE EXCLUSIVE MODE;

    FOR part IN
        SELECT c.oid::regclass AS rel,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$TO \('([^']+)'\)$re$) AS upper_bound
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'execution_logs'::regclass
    LOOP
        CONTINUE WHEN part.upper_bound IS NULL;
        IF part.upper_bound::timestamp <= cutoff THEN
            EXECUTE format('DROP TABLE %s', part.rel);
            dropped := dropped + 1;
        END IF;
    END LOOP;

    RETURN dropped;
END;
$$;

SELECT ensure_execution_log_partitions(1);
