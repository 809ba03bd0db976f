-- Module 5, billing & usage: subscription_plans, subscriptions, usage_quotas, usage_events.

CREATE TABLE subscription_plans (
    id                  UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    name                VARCHAR(100) NOT NULL UNIQUE,
    slug                VARCHAR(50) NOT NULL UNIQUE,
    description         TEXT,
    price_monthly_cents INTEGER,
    price_yearly_cents  INTEGER,
    currency            VARCHAR(3) DEFAULT 'USD',
    -- A quota key absent from this object means "unlimited" (see 009_seed_plans.sql),
    -- so it has to be an object for that rule to be readable.
    quotas              JSONB NOT NULL,
    features            JSONB,
    display_order       INTEGER NOT NULL DEFAULT 0,
    is_active           BOOLEAN NOT NULL DEFAULT true,
    is_visible          BOOLEAN NOT NULL DEFAULT true,
    created_at          TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at          TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT subscription_plans_quotas_is_object CHECK (jsonb_typeof(quotas) = 'object')
);
CREATE INDEX idx_subscription_plans_active ON subscription_plans(is_active, display_order);
CREATE TRIGGER subscription_plans_set_updated_at BEFORE UPDATE ON subscription_plans
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE subscriptions (
    id                     UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id           UUID NOT NULL,
    subscription_plan_id   UUID NOT NULL,
    stripe_subscription_id VARCHAR(255) UNIQUE,
    stripe_customer_id     VARCHAR(255),
    status                 VARCHAR(20) NOT NULL DEFAULT 'active',
    billing_cycle          VARCHAR(10) NOT NULL,
    trial_start_date       DATE,
    trial_end_date         DATE,
    current_period_start   DATE NOT NULL,
    current_period_end     DATE NOT NULL,
    cancel_at_period_end   BOOLEAN DEFAULT false,
    cancelled_at           TIMESTAMP,
    metadata               JSONB,
    created_at             TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at             TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT subscriptions_valid_status
        CHECK (status IN ('trial', 'active', 'past_due', 'cancelled', 'expired')),
    CONSTRAINT subscriptions_valid_cycle CHECK (billing_cycle IN ('monthly', 'yearly')),
    CONSTRAINT subscriptions_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE,
    CONSTRAINT subscriptions_subscription_plan_id_fkey FOREIGN KEY (subscription_plan_id)
        REFERENCES subscription_plans(id) ON DELETE RESTRICT
);
CREATE INDEX idx_subscriptions_workspace ON subscriptions(workspace_id);
CREATE INDEX idx_subscriptions_status ON subscriptions(status) WHERE status = 'active';
CREATE INDEX idx_subscriptions_stripe ON subscriptions(stripe_subscription_id) WHERE stripe_subscription_id IS NOT NULL;
CREATE TRIGGER subscriptions_set_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE usage_quotas (
    id            UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id  UUID NOT NULL,
    quota_key     VARCHAR(50) NOT NULL,
    quota_limit   INTEGER NOT NULL,
    quota_used    INTEGER NOT NULL DEFAULT 0,
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    last_reset_at TIMESTAMP,
    created_at    TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at    TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT usage_quotas_unique_workspace_key_period UNIQUE (workspace_id, quota_key, period_start),
    -- 20% overage buffer before the hard block.
    CONSTRAINT usage_quotas_usage_within_limit CHECK (quota_used <= quota_limit * 1.2),
    CONSTRAINT usage_quotas_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE
);
CREATE INDEX idx_usage_quotas_workspace ON usage_quotas(workspace_id, quota_key);
CREATE INDEX idx_usage_quotas_period ON usage_quotas(period_start, period_end);
CREATE TRIGGER usage_quotas_set_updated_at BEFORE UPDATE ON usage_quotas
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE usage_events (
    id                    UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id          UUID NOT NULL,
    event_type            VARCHAR(50) NOT NULL,
    event_category        VARCHAR(20) NOT NULL,
    quantity              INTEGER NOT NULL DEFAULT 1,
    related_resource_id   UUID,
    related_resource_type VARCHAR(50),
    is_billable           BOOLEAN NOT NULL DEFAULT true,
    billed_at             TIMESTAMP,
    metadata              JSONB,
    created_at            TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT usage_events_valid_category
        CHECK (event_category IN ('compute', 'communication', 'storage', 'api')),
    CONSTRAINT usage_events_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE
);
CREATE INDEX idx_usage_events_workspace ON usage_events(workspace_id, created_at DESC);
CREATE INDEX idx_usage_events_type ON usage_events(event_type);
CREATE INDEX idx_usage_events_billable ON usage_events(is_billable, billed_at) WHERE is_billable = true;
CREATE INDEX idx_usage_events_created ON usage_events(created_at DESC);
