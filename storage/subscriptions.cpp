// Stripe events into subscriptions rows, and usage_quotas kept to the plan in force. Every
// statement is scoped by a workspace or a Stripe id; an event's work is one transaction that
// holds the workspace's row lock, so two events of one workspace apply one after the other.
#include "storage/subscriptions.hpp"

#include <optional>

#include <boost/json.hpp>

namespace flowtrack::storage {
namespace {

namespace stripe = domain::stripe;

// A literal, not a std::string: other translation units build their statements from
// detail::subscription_in_force_sql during their own static initialisation.
constexpr std::string_view k_live = "('trial', 'active', 'past_due')";

// The Stripe row as it stands, with the time of the newest event applied to it.
const pg::statement k_find_stripe_row{"ft_sub_find_stripe_row",
                                      "SELECT id::text, workspace_id::text, subscription_plan_id::text, status, "
                                      "extract(epoch FROM stripe_event_created_at)::bigint "
                                      "FROM subscriptions WHERE stripe_subscription_id = $1"};

// The workspace's row lock: its billing changes apply one at a time. FOR NO KEY UPDATE leaves
// the foreign-key checks of ingestion (FOR KEY SHARE) unblocked.
const pg::statement k_lock_workspace{"ft_sub_lock_workspace",
                                     "SELECT id::text FROM workspaces WHERE id = $1::uuid FOR NO KEY UPDATE"};

const pg::statement k_plan_by_slug{"ft_sub_plan_by_slug", "SELECT id::text FROM subscription_plans WHERE slug = $1"};

const pg::statement k_record_event{"ft_sub_record_event",
                                   "INSERT INTO stripe_events (id, event_type, stripe_created_at, workspace_id, stripe_subscription_id, outcome) "
                                   "VALUES ($1, $2, to_timestamp($3::bigint), $4::uuid, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id"};

const pg::statement k_set_outcome{"ft_sub_set_outcome", "UPDATE stripe_events SET outcome = $2 WHERE id = $1"};

const pg::statement k_in_force{"ft_sub_in_force", "SELECT f.id::text, f.stripe_subscription_id IS NULL, f.subscription_plan_id::text FROM (" +
                                                      detail::subscription_in_force_sql("$1::uuid") + ") f"};

// $1 workspace, $2 plan, $3 Stripe id, $4 customer, $5 status, $6 cycle, $7/$8 trial dates,
// $9/$10 period dates, $11 cancel_at_period_end, $12 canceled_at (unix s), $13 metadata,
// $14 the event's created (unix s), $15 grace days. An update happens only for an event at
// least as new as the last one applied; otherwise no row comes back.
const pg::statement k_upsert_stripe_row{"ft_sub_upsert_stripe_row", R"sql(
INSERT INTO subscriptions AS s (workspace_id, subscription_plan_id, stripe_subscription_id, stripe_customer_id, status,
                                billing_cycle, trial_start_date, trial_end_date, current_period_start, current_period_end,
                                cancel_at_period_end, cancelled_at, metadata, stripe_event_created_at, payment_grace_ends_at)
VALUES ($1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text, $7::date, $8::date, $9::date, $10::date, $11::bool,
        to_timestamp($12::bigint), $13::jsonb, to_timestamp($14::bigint),
        CASE WHEN $5::text = 'past_due' THEN to_timestamp($14::bigint) + make_interval(days => $15::int) END)
ON CONFLICT (stripe_subscription_id) DO UPDATE SET
  subscription_plan_id = EXCLUDED.subscription_plan_id,
  stripe_customer_id = COALESCE(EXCLUDED.stripe_customer_id, s.stripe_customer_id),
  status = EXCLUDED.status,
  billing_cycle = EXCLUDED.billing_cycle,
  trial_start_date = EXCLUDED.trial_start_date,
  trial_end_date = EXCLUDED.trial_end_date,
  current_period_start = EXCLUDED.current_period_start,
  current_period_end = EXCLUDED.current_period_end,
  cancel_at_period_end = EXCLUDED.cancel_at_period_end,
  cancelled_at = EXCLUDED.cancelled_at,
  metadata = COALESCE(s.metadata, '{}'::jsonb) || EXCLUDED.metadata,
  stripe_event_created_at = EXCLUDED.stripe_event_created_at,
  -- The grace period runs from the first failed payment, however many past_due events follow.
  payment_grace_ends_at = CASE WHEN EXCLUDED.status <> 'past_due' THEN NULL
                               WHEN s.status = 'past_due' AND s.payment_grace_ends_at IS NOT NULL THEN s.payment_grace_ends_at
                               ELSE EXCLUDED.payment_grace_ends_at END
WHERE s.stripe_event_created_at IS NULL OR s.stripe_event_created_at <= EXCLUDED.stripe_event_created_at
RETURNING s.status
)sql"};

// An invoice's outcome on an existing row, only for an event newer than the last one applied:
// $1 Stripe id, $2 the event's created (unix s), $3 grace days.
const pg::statement k_payment_failed{"ft_sub_payment_failed", R"sql(
UPDATE subscriptions SET status = 'past_due', stripe_event_created_at = to_timestamp($2::bigint),
       payment_grace_ends_at = to_timestamp($2::bigint) + make_interval(days => $3::int)
WHERE stripe_subscription_id = $1 AND status IN ('trial', 'active')
  AND (stripe_event_created_at IS NULL OR stripe_event_created_at < to_timestamp($2::bigint))
RETURNING status
)sql"};
const pg::statement k_payment_succeeded{"ft_sub_payment_succeeded", R"sql(
UPDATE subscriptions SET status = 'active', stripe_event_created_at = to_timestamp($2::bigint), payment_grace_ends_at = NULL
WHERE stripe_subscription_id = $1 AND status = 'past_due'
  AND (stripe_event_created_at IS NULL OR stripe_event_created_at < to_timestamp($2::bigint))
RETURNING status
)sql"};

// The workspace goes back to its own plan ($2, or the newest own row's, or free) from today:
// its own rows still live are superseded, a new one starts a monthly period.
const pg::statement k_fall_back{"ft_sub_fall_back", R"sql(
WITH old AS (
  UPDATE subscriptions SET status = 'expired'
  WHERE workspace_id = $1::uuid AND stripe_subscription_id IS NULL AND status IN )sql" + std::string(k_live) + R"sql(
  RETURNING id
)
INSERT INTO subscriptions (workspace_id, subscription_plan_id, status, billing_cycle, current_period_start, current_period_end, metadata)
SELECT $1::uuid,
       COALESCE($2::uuid,
                (SELECT subscription_plan_id FROM subscriptions WHERE workspace_id = $1::uuid AND stripe_subscription_id IS NULL
                 ORDER BY created_at DESC, id DESC LIMIT 1),
                (SELECT id FROM subscription_plans WHERE slug = 'free')),
       'active', 'monthly', current_date, (current_date + interval '1 month' - interval '1 day')::date,
       jsonb_build_object('after', 'stripe subscription ended', 'superseded', (SELECT count(*) FROM old))
)sql"};

// The workspace's quota rows, locked in (key, period) order before sync_quotas changes them:
// ingestion locks the rows it counts in the same order (storage/ingest), so a plan change and
// the triggers written meanwhile never wait on each other in a cycle.
const pg::statement k_lock_quotas{"ft_sub_lock_quotas",
                                  "SELECT count(*) FROM (SELECT id FROM usage_quotas WHERE workspace_id = $1::uuid "
                                  "ORDER BY quota_key, period_start FOR UPDATE) locked"};

// The period in force and its plan's limits, as the engine reads them (storage/workspaces.cpp):
// the subscription's period while it lasts, else the calendar month; no subscription: free.
const pg::statement k_sync_quotas{"ft_sub_sync_quotas", R"sql(
WITH eff AS (
  SELECT COALESCE(p.quotas, fp.quotas, '{}'::jsonb) AS quotas,
         CASE WHEN s.current_period_end >= current_date THEN s.current_period_start
              ELSE date_trunc('month', now())::date END AS ps,
         CASE WHEN s.current_period_end >= current_date THEN s.current_period_end
              ELSE (date_trunc('month', now()) + interval '1 month - 1 day')::date END AS pe
  FROM (SELECT $1::uuid AS workspace_id) w
  LEFT JOIN LATERAL ()sql" + detail::subscription_in_force_sql("w.workspace_id") + R"sql() s ON true
  LEFT JOIN subscription_plans p ON p.id = s.subscription_plan_id
  LEFT JOIN subscription_plans fp ON fp.slug = 'free'
),
keys (quota_key, plan_key) AS (
  VALUES ('workflows'::varchar, 'workflows'), ('leads', 'leads'), ('executions', 'executions_per_month'), ('email_sends', 'email_sends')
),
plan_limits AS (
  SELECT k.quota_key, CASE WHEN jsonb_typeof(e.quotas -> k.plan_key) = 'number' THEN (e.quotas ->> k.plan_key)::numeric END AS n,
         e.ps, e.pe
  FROM eff e CROSS JOIN keys k
),
-- A key the plan does not hold, or holds negative, is unlimited (domain::quota_limits_from_plan).
wanted AS (SELECT quota_key, LEAST(floor(n), 2147483647)::int AS lim, ps, pe FROM plan_limits WHERE n >= 0),
closed AS (
  UPDATE usage_quotas u SET period_end = CASE WHEN u.period_start < e.ps THEN e.ps - 1 ELSE u.period_start - 1 END
  FROM eff e
  WHERE u.workspace_id = $1::uuid AND u.period_start <> e.ps AND u.period_start <= e.pe AND u.period_end >= e.ps
  RETURNING u.id
),
dropped AS (
  DELETE FROM usage_quotas u USING eff e
  WHERE u.workspace_id = $1::uuid AND u.period_start = e.ps
    AND u.quota_key IN (SELECT quota_key FROM keys) AND u.quota_key NOT IN (SELECT quota_key FROM wanted)
  RETURNING u.id
),
live_workflows AS (SELECT count(*)::int AS n FROM workflows WHERE workspace_id = $1::uuid AND deleted_at IS NULL)
INSERT INTO usage_quotas AS uq (workspace_id, quota_key, quota_limit, quota_used, period_start, period_end, last_reset_at)
SELECT $1::uuid, w.quota_key,
       GREATEST(w.lim, CASE WHEN w.quota_key = 'workflows' THEN ceil(lw.n / 1.2)::int ELSE 0 END),
       CASE WHEN w.quota_key = 'workflows' THEN lw.n ELSE 0 END, w.ps, w.pe, now()
FROM wanted w CROSS JOIN live_workflows lw
ORDER BY w.quota_key
ON CONFLICT (workspace_id, quota_key, period_start) DO UPDATE SET
  quota_used = CASE WHEN uq.quota_key = 'workflows' THEN EXCLUDED.quota_used ELSE uq.quota_used END,
  -- Never below what keeps quota_used <= quota_limit * 1.2 true: a downgrade after heavy use
  -- leaves the workspace over its quota, not the row invalid.
  quota_limit = GREATEST(EXCLUDED.quota_limit,
                         ceil(CASE WHEN uq.quota_key = 'workflows' THEN EXCLUDED.quota_used ELSE uq.quota_used END / 1.2)::int),
  period_end = EXCLUDED.period_end
RETURNING uq.quota_key
)sql"};

struct stripe_row {
  std::string id, workspace_id, plan_id, status;
  std::optional<std::int64_t> last_event;  ///< unix s of the newest event applied
};

struct in_force_row {
  std::string id;
  bool own = false;  ///< not a Stripe subscription
  std::string plan_id;
};

result<std::optional<stripe_row>> find_stripe_row(pg::connection& c, const std::string& stripe_id) {
  auto r = c.exec(k_find_stripe_row, pg::params{}.add(stripe_id));
  if (!r) return r.err();
  if (r->empty()) return std::optional<stripe_row>{};
  stripe_row row{std::string(r->get(0, 0)), std::string(r->get(0, 1)), std::string(r->get(0, 2)), std::string(r->get(0, 3)), {}};
  if (!r->is_null(0, 4)) row.last_event = r->get_int(0, 4);
  return std::optional<stripe_row>(std::move(row));
}

result<std::optional<in_force_row>> in_force(pg::connection& c, const std::string& workspace_id) {
  auto r = c.exec(k_in_force, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  if (r->empty()) return std::optional<in_force_row>{};
  return std::optional<in_force_row>(in_force_row{std::string(r->get(0, 0)), r->get_bool(0, 1), std::string(r->get(0, 2))});
}

// Locks the workspace; `invalid` naming `field` when there is no such workspace.
result<void> lock_workspace(pg::connection& c, const std::string& workspace_id, const std::string& field) {
  auto r = c.exec(k_lock_workspace, pg::params{}.add(workspace_id));
  if (!r) {
    if (r.err().code == error_code::invalid) return make_error(error_code::invalid, field + " names no workspace", field);
    return r.err();
  }
  if (r->empty()) return make_error(error_code::invalid, field + " names no workspace", field);
  return {};
}

// Records the event; false when it was recorded before (a replay).
result<bool> record_event(pg::connection& c, const stripe::event& e, const std::string& workspace_id,
                          const std::optional<std::string>& stripe_id, stripe_outcome outcome) {
  pg::params p;
  p.add(e.id).add(e.type).add(e.created);
  workspace_id.empty() ? p.add_null() : p.add(workspace_id);
  p.add(stripe_id).add(to_string(outcome));
  auto r = c.exec(k_record_event, p);
  if (!r) return r.err();
  return !r->empty();
}

result<void> set_outcome(pg::connection& c, const stripe::event& e, stripe_outcome outcome) {
  auto r = c.exec(k_set_outcome, pg::params{}.add(e.id).add(to_string(outcome)));
  if (!r) return r.err();
  return {};
}

// After a change: when the row in force stopped being a Stripe one, the workspace's own plan
// takes over from today; then the quotas follow the row in force.
result<void> settle_workspace(pg::connection& c, const std::string& workspace_id, const std::optional<in_force_row>& before) {
  auto after = in_force(c, workspace_id);
  if (!after) return after.err();
  bool changed = !*after || !before || (*after)->id != before->id;
  if (changed && (!*after || (*after)->own)) {
    pg::params p;
    p.add(workspace_id);
    *after ? p.add((*after)->plan_id) : p.add_null();
    if (auto r = c.exec(k_fall_back, p); !r) return r.err();
  }
  return sync_quotas(c, workspace_id);
}

std::string metadata_of(const stripe::subscription_state& s) {
  boost::json::object m{{"stripeStatus", s.stripe_status}};
  if (s.plan_slug) m["lookupKey"] = *s.plan_slug;
  return boost::json::serialize(m);
}

result<stripe_applied> apply_subscription(pg::connection& c, const stripe::event& e, int grace_days) {
  const auto& s = *e.subscription;
  auto row = find_stripe_row(c, s.stripe_subscription_id);
  if (!row) return row.err();
  const std::string ws_field = "data.object.metadata.workspace_id";
  const std::string plan_field = "data.object.items.data[0].price.lookup_key";
  std::string workspace_id = *row ? (*row)->workspace_id : s.workspace_id.value_or("");
  if (workspace_id.empty()) return make_error(error_code::invalid, ws_field + " is required for a subscription not seen before", ws_field);
  if (auto locked = lock_workspace(c, workspace_id, ws_field); !locked) return locked.err();

  std::string plan_id;
  if (s.plan_slug) {
    auto plan = c.exec(k_plan_by_slug, pg::params{}.add(*s.plan_slug));
    if (!plan) return plan.err();
    if (plan->empty()) return make_error(error_code::invalid, "no plan has the slug '" + *s.plan_slug + "' (" + plan_field + ")", plan_field);
    plan_id = std::string(plan->get(0, 0));
  } else if (*row) {
    plan_id = (*row)->plan_id;
  } else {
    return make_error(error_code::invalid, plan_field + " is required for a subscription not seen before", plan_field);
  }

  auto fresh = record_event(c, e, workspace_id, s.stripe_subscription_id, stripe_outcome::applied);
  if (!fresh) return fresh.err();
  if (!*fresh) return stripe_applied{stripe_outcome::duplicate, workspace_id, *row ? (*row)->status : ""};

  auto before = in_force(c, workspace_id);
  if (!before) return before.err();
  pg::params p;
  p.add(workspace_id).add(plan_id).add(s.stripe_subscription_id).add(s.customer_id).add(s.status).add(s.billing_cycle)
      .add(s.trial_start).add(s.trial_end).add(s.period_start).add(s.period_end).add(s.cancel_at_period_end);
  s.cancelled_at ? p.add(*s.cancelled_at) : p.add_null();
  p.add(metadata_of(s)).add(e.created).add(grace_days);
  auto up = c.exec(k_upsert_stripe_row, p);
  if (!up) return up.err();
  if (up->empty()) {
    if (auto o = set_outcome(c, e, stripe_outcome::stale); !o) return o.err();
    return stripe_applied{stripe_outcome::stale, workspace_id, *row ? (*row)->status : ""};
  }
  std::string status(up->get(0, 0));
  if (auto settled = settle_workspace(c, workspace_id, *before); !settled) return settled.err();
  return stripe_applied{stripe_outcome::applied, workspace_id, status};
}

result<stripe_applied> apply_invoice(pg::connection& c, const stripe::event& e, int grace_days) {
  std::optional<std::string> stripe_id;
  if (e.invoice) stripe_id = e.invoice->stripe_subscription_id;
  std::optional<stripe_row> row;
  if (stripe_id) {
    auto found = find_stripe_row(c, *stripe_id);
    if (!found) return found.err();
    row = std::move(*found);
  }
  if (!row) {
    // Nothing to apply: an invoice of no subscription, or of one never seen (its own events
    // carry the state). Recorded, so a replay is a duplicate.
    auto fresh = record_event(c, e, "", stripe_id, stripe_outcome::ignored);
    if (!fresh) return fresh.err();
    return stripe_applied{*fresh ? stripe_outcome::ignored : stripe_outcome::duplicate, "", ""};
  }
  if (auto locked = lock_workspace(c, row->workspace_id, "data.object.subscription"); !locked) return locked.err();
  auto fresh = record_event(c, e, row->workspace_id, stripe_id, stripe_outcome::applied);
  if (!fresh) return fresh.err();
  if (!*fresh) return stripe_applied{stripe_outcome::duplicate, row->workspace_id, row->status};

  auto before = in_force(c, row->workspace_id);
  if (!before) return before.err();
  bool succeeded = e.invoice->succeeded;
  auto up = succeeded ? c.exec(k_payment_succeeded, pg::params{}.add(*stripe_id).add(e.created))
                      : c.exec(k_payment_failed, pg::params{}.add(*stripe_id).add(e.created).add(grace_days));
  if (!up) return up.err();
  if (up->empty()) {
    // Older than the last event applied, or a payment that changes no status (a renewal paid
    // while active, a failure of a cancelled subscription).
    bool older = row->last_event && *row->last_event >= e.created;
    auto outcome = older ? stripe_outcome::stale : stripe_outcome::ignored;
    if (auto o = set_outcome(c, e, outcome); !o) return o.err();
    return stripe_applied{outcome, row->workspace_id, row->status};
  }
  std::string status(up->get(0, 0));
  if (auto settled = settle_workspace(c, row->workspace_id, *before); !settled) return settled.err();
  return stripe_applied{stripe_outcome::applied, row->workspace_id, status};
}

}  // namespace

namespace detail {
std::string subscription_in_force_sql(std::string_view workspace) {
  return "SELECT s.* FROM subscriptions s WHERE s.workspace_id = " + std::string(workspace) + " AND s.status IN " +
         std::string(k_live) + " ORDER BY s.created_at DESC, s.id DESC LIMIT 1";
}
}  // namespace detail

std::string_view to_string(stripe_outcome o) {
  switch (o) {
    case stripe_outcome::applied: return "applied";
    case stripe_outcome::stale: return "stale";
    case stripe_outcome::ignored: return "ignored";
    case stripe_outcome::duplicate: return "duplicate";
  }
  return "ignored";
}

result<void> sync_quotas(pg::connection& c, std::string_view workspace_id) {
  if (auto locked = c.exec(k_lock_quotas, pg::params{}.add(workspace_id)); !locked) return locked.err();
  auto r = c.exec(k_sync_quotas, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  return {};
}

result<stripe_applied> apply_stripe_event(pg::connection& c, const domain::stripe::event& e, int grace_days) {
  using stripe::event_kind;
  if (e.kind == event_kind::other) return stripe_applied{stripe_outcome::ignored, "", ""};
  if (e.kind != event_kind::payment_succeeded && e.kind != event_kind::payment_failed && !e.subscription)
    return make_error(error_code::invalid, "the event carries no subscription", "data.object");
  return pg::transact(c, [&](pg::connection& tx) -> result<stripe_applied> {
    if (e.kind == event_kind::payment_succeeded || e.kind == event_kind::payment_failed) return apply_invoice(tx, e, grace_days);
    return apply_subscription(tx, e, grace_days);
  });
}

}  // namespace flowtrack::storage
