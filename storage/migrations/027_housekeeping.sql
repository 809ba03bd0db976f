-- Housekeeping (storage/housekeeping.cpp): the jobs that keep growing tables in bounds, run once
-- per cluster under a lease row, and what they need that the earlier migrations lack.

-- One row a job. A node runs a job when no live lease is held and its last run ended at least an
-- interval ago: it takes the lease (holder, lease_until), renews it between batches and gives it
-- back with the outcome. `flowtrackd housekeeping run` ignores the lease (it runs at once).
CREATE TABLE housekeeping_leases (
    job          VARCHAR(50) PRIMARY KEY,
    holder       TEXT,              -- the node running it now, or the last one that did
    lease_until  TIMESTAMPTZ,       -- the holder may run it until then; after it, anyone may
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,       -- the end of the last run, whatever its outcome
    succeeded_at TIMESTAMPTZ,       -- the end of the last run that did everything
    outcome      VARCHAR(20),       -- ok | deferred | failed
    result       JSONB              -- the last run's report (counts, deferred partitions, error)
);

-- Delivery bodies older than the retention are trimmed once; the mark keeps the trim from
-- visiting a row twice, and the partial index holds only rows still to trim, so each batch
-- finds them without walking the rows kept after trimming.
ALTER TABLE webhook_deliveries ADD COLUMN body_trimmed_at TIMESTAMP;
CREATE INDEX idx_webhook_deliveries_untrimmed ON webhook_deliveries(created_at) WHERE body_trimmed_at IS NULL;

-- The same partitions as 005's function made (execution_logs_YYYY_MM, months in the session time
-- zone), made apart and then attached: ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on
-- execution_logs, which inserts and reads do not wait for, where CREATE TABLE ... PARTITION OF
-- takes ACCESS EXCLUSIVE and would hold up every insert behind any long reader. ATTACH adds the
-- parent's indexes and primary key to the new (empty) table.
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

    -- Self-conflicting but compatible with inserts/reads: serialises concurrent maintainers.
    LOCK TABLE execution_logs IN SHARE UPDATE EXCLUSIVE MODE;

    FOR i IN 0..months_ahead LOOP
        month_start := (date_trunc('month', LOCALTIMESTAMP) + make_interval(months => i))::date;
        part_name := 'execution_logs_' || to_char(month_start, 'YYYY_MM');
        IF to_regclass(format('%I.%I', parent_schema, part_name)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I (LIKE %I.execution_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           parent_schema, part_name, parent_schema);
            EXECUTE format('ALTER TABLE %I.execution_logs ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                           parent_schema, parent_schema, part_name,
                           month_start, (month_start + interval '1 month')::date);
            created := created + 1;
        END IF;
    END LOOP;

    RETURN created;
END;
$$;
