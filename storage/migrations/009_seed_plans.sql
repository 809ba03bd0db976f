-- Seed data: the five subscription_plans tiers (free, starter, pro, business, enterprise).
-- Idempotent: an existing slug is left untouched, so edits made in production survive re-runs.

-- Quota rule: subscription_plans.quotas maps a quota key (workflows, leads,
-- executions_per_month, email_sends) to its limit. A key that is MISSING from a plan's
-- quotas means UNLIMITED for that plan; enterprise therefore carries '{}' (no limits).
-- Prices are in cents. NULL price = no self-serve price: free costs nothing, enterprise is
-- priced per contract by sales.
INSERT INTO subscription_plans
    (name, slug, description, price_monthly_cents, price_yearly_cents, currency,
     quotas, features, display_order)
VALUES
    ('Free', 'free',
     'Try FlowTrack with a few workflows and a small lead volume.',
     NULL, NULL, 'USD',
     '{"workflows": 3, "leads": 100, "executions_per_month": 500, "email_sends": 200}',
     '["form_intake", "email_intake", "lead_pipeline"]',
     1),
    ('Starter', 'starter',
     'For solo operators automating their first lead funnels.',
     1900, 19000, 'USD',
     '{"workflows": 10, "leads": 1000, "executions_per_month": 5000, "email_sends": 2000}',
     '["form_intake", "email_intake", "lead_pipeline", "email_automation", "calendar_booking"]',
     2),
    ('Pro', 'pro',
     'For growing teams running many automated workflows.',
     4900, 49000, 'USD',
     '{"workflows": 50, "leads": 10000, "executions_per_month": 50000, "email_sends": 20000}',
     '["form_intake", "email_intake", "lead_pipeline", "email_automation", "calendar_booking", "webhooks", "custom_branding"]',
     3),
    ('Business', 'business',
     'High-volume automation with team features and priority support.',
     14900, 149000, 'USD',
     '{"workflows": 200, "leads": 100000, "executions_per_month": 250000, "email_sends": 100000}',
     '["form_intake", "email_intake", "lead_pipeline", "email_automation", "calendar_booking", "webhooks", "custom_branding", "team_members", "api_access", "priority_support"]',
     4),
    ('Enterprise', 'enterprise',
     'Unlimited usage, custom contract and dedicated support.',
     NULL, NULL, 'USD',
     '{}',
     '["form_intake", "email_intake", "lead_pipeline", "email_automation", "calendar_booking", "webhooks", "custom_branding", "team_members", "api_access", "priority_support", "sso", "dedicated_support"]',
     5)
ON CONFLICT (slug) DO NOTHING;
