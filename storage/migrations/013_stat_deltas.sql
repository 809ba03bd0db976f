-- Execution counters (workflows.total_executions and friends, workspace_daily_stats) are hot rows:
-- every batch of finished runs of a workflow adds to the same two rows, and a batch that updates
-- them holds their row locks until it commits, so concurrent batches waited for each other's WAL
-- flush. Batches now append their sums here (an insert takes no lock another batch waits for), and
-- one short transaction a second folds them into the counters (storage::fold_stat_deltas).
CREATE TABLE execution_stat_deltas (
    workflow_id       UUID NOT NULL,
    workspace_id      UUID NOT NULL,
    stat_date         DATE NOT NULL,
    finished          INTEGER NOT NULL,
    succeeded         INTEGER NOT NULL,
    failed            INTEGER NOT NULL,
    emails_sent       INTEGER NOT NULL,
    duration_ms_sum   BIGINT NOT NULL,
    leads_qualified   INTEGER NOT NULL,
    leads_won         INTEGER NOT NULL,
    last_finished_at  TIMESTAMP
);
