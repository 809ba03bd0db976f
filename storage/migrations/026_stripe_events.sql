-- Subscriptions follow Stripe (billing issue, item 1). POST /billing/stripe/webhook applies each
-- Stripe event once (stripe_events, keyed by Stripe's event id: a replay changes nothing) and a
-- subscription's events in the order Stripe made them (subscriptions.stripe_event_created_at:
-- an event older than the last one applied changes nothing).

CREATE TABLE stripe_events (
    id                     VARCHAR(255) PRIMARY KEY,   -- Stripe's event id (evt_...)
    event_type             VARCHAR(100) NOT NULL,
    stripe_created_at      TIMESTAMPTZ NOT NULL,       -- the event's `created`
    workspace_id           UUID,
    stripe_subscription_id VARCHAR(255),
    -- applied: the subscription changed; stale: an older event than the one applied last;
    -- ignored: nothing to apply (e.g. an invoice of a subscription never seen).
    outcome                VARCHAR(20) NOT NULL DEFAULT 'applied',
    processed_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT stripe_events_valid_outcome CHECK (outcome IN ('applied', 'stale', 'ignored')),
    CONSTRAINT stripe_events_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE
);
CREATE INDEX idx_stripe_events_workspace ON stripe_events(workspace_id, stripe_created_at DESC);

-- The newest Stripe event applied to the row (older ones are skipped), and, while past_due, the
-- moment new triggers start being refused (the first failed payment's time plus the node's
-- billing_grace_days then).
ALTER TABLE subscriptions
    ADD COLUMN stripe_event_created_at TIMESTAMPTZ,
    ADD COLUMN payment_grace_ends_at TIMESTAMPTZ;

-- Nodes cache a workspace's plan and period; its changed_at moving makes every node reload the
-- workspace within the tenant poll (migration 015), however the subscription changed.
CREATE FUNCTION mark_workspace_of_subscription() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspaces SET changed_at = clock_timestamp() WHERE id = NEW.workspace_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER subscriptions_mark_workspace AFTER INSERT OR UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION mark_workspace_of_subscription();
