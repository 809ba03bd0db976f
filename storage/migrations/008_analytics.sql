-- Module 7, analytics: workspace_daily_stats (pre-aggregated daily metrics).

-- The spec gives this table no updated_at, so it gets no set_updated_at trigger.
CREATE TABLE workspace_daily_stats (
    id                        UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id              UUID NOT NULL,
    stat_date                 DATE NOT NULL,
    leads_created             INTEGER DEFAULT 0,
    leads_qualified           INTEGER DEFAULT 0,
    leads_won                 INTEGER DEFAULT 0,
    total_executions          INTEGER DEFAULT 0,
    successful_executions     INTEGER DEFAULT 0,
    failed_executions         INTEGER DEFAULT 0,
    emails_sent               INTEGER DEFAULT 0,
    emails_opened             INTEGER DEFAULT 0,
    emails_clicked            INTEGER DEFAULT 0,
    avg_execution_duration_ms INTEGER,
    created_at                TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT workspace_daily_stats_unique_workspace_date UNIQUE (workspace_id, stat_date),
    CONSTRAINT workspace_daily_stats_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE
);
CREATE INDEX idx_workspace_daily_stats_workspace ON workspace_daily_stats(workspace_id, stat_date DESC);
CREATE INDEX idx_workspace_daily_stats_date ON workspace_daily_stats(stat_date DESC);
