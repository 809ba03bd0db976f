-- Email send caps (issue 11): a workspace may send only so many emails to other people in any
-- rolling hour, and only its plan's `email_sends` per billing period (refused beyond 120%).
--
-- The hourly cap's default lives in the plan's quotas as `email_hourly_cap` (a missing key is no
-- cap: enterprise keeps '{}'); a workspace's settings may override it with their own
-- `email_hourly_cap`. Plans whose quotas already name a cap (edited in production) keep theirs.
UPDATE subscription_plans p
SET quotas = p.quotas || jsonb_build_object('email_hourly_cap', c.cap)
FROM (VALUES ('free', 50), ('starter', 200), ('pro', 1000), ('business', 5000)) AS c(slug, cap)
WHERE p.slug = c.slug AND p.quotas->'email_hourly_cap' IS NULL;

-- Each reserved send is a usage_events row EMAIL_SENT carrying the step's idempotency key, so a
-- retried step is counted once (this index refuses a second row for the key) ...
CREATE UNIQUE INDEX idx_usage_events_email_send_key ON usage_events(workspace_id, (metadata->>'idempotencyKey'))
    WHERE event_type = 'EMAIL_SENT';
-- ... and the rolling hour is counted from these rows without reading the workspace's other events.
CREATE INDEX idx_usage_events_email_sent ON usage_events(workspace_id, created_at)
    WHERE event_type = 'EMAIL_SENT';
