-- Outgoing webhooks as messages with attempts (issue: outgoing webhooks).
--
-- A webhook_deliveries row is one MESSAGE to one endpoint, written before its first attempt (the
-- outbox: events are inserted in the same transaction as the change that caused them). Its id is
-- the Standard Webhooks `webhook-id`, stable across every retry and redelivery. Its spec columns
-- describe the latest attempt: pending -> delivered | failed (next_retry_at set: a retry awaits;
-- NULL: retries exhausted or stopped) | cancelled. Every attempt is kept in
-- webhook_delivery_attempts.

ALTER TABLE webhook_endpoints
    ADD COLUMN max_in_flight INTEGER NOT NULL DEFAULT 4,
    ADD COLUMN previous_secret_key VARCHAR(255),          -- sealed; still signs until the time below
    ADD COLUMN previous_secret_expires_at TIMESTAMP,
    ADD COLUMN failing_since TIMESTAMP,                   -- first failed attempt since the last success
    ADD COLUMN disabled_at TIMESTAMP,
    ADD COLUMN disabled_reason TEXT,
    ADD CONSTRAINT webhook_endpoints_max_in_flight_range CHECK (max_in_flight BETWEEN 1 AND 64);

ALTER TABLE webhook_deliveries
    ADD COLUMN workspace_id UUID,                         -- scoping without a join; NULL only for rows older than this migration
    ADD COLUMN idempotency_key TEXT,                      -- ACTION_SEND_WEBHOOK: "<execution>:<node>", so a retried step makes no second message
    ADD COLUMN claimed_until TIMESTAMP,                   -- a node is attempting it until then (lease)
    ADD COLUMN last_attempt_at TIMESTAMP;

UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_endpoints e WHERE e.id = d.webhook_endpoint_id;

CREATE UNIQUE INDEX idx_webhook_deliveries_idempotency ON webhook_deliveries(webhook_endpoint_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- What is due: new messages and retries whose time came (the claim's scan).
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries(COALESCE(next_retry_at, created_at))
    WHERE status = 'pending' OR (status = 'failed' AND next_retry_at IS NOT NULL);
CREATE INDEX idx_webhook_deliveries_workspace ON webhook_deliveries(workspace_id, created_at DESC);

CREATE TABLE webhook_delivery_attempts (
    id                  UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    delivery_id         UUID NOT NULL,
    attempt_number      INTEGER NOT NULL,
    started_at          TIMESTAMP NOT NULL,
    duration_ms         INTEGER NOT NULL,
    http_status_code    INTEGER,
    request_headers     JSONB,                            -- secrets redacted
    response_headers    JSONB,
    response_body       TEXT,                             -- cut at 64 KiB
    error_message       TEXT,
    created_at          TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT webhook_delivery_attempts_delivery_id_fkey FOREIGN KEY (delivery_id)
        REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    CONSTRAINT webhook_delivery_attempts_unique UNIQUE (delivery_id, attempt_number)
);
