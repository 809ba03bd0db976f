#include "storage/email_sends.hpp"

#include <algorithm>

namespace flowtrack::storage {
namespace {

// Serialises a workspace's reservations until the transaction ends.
const pg::statement k_lock{"ft_email_send_lock", "SELECT pg_advisory_xact_lock(hashtextextended('email_sends:' || $1::text, 7))"};

// $1 workspace, $2 idempotency key, $3 execution (or NULL), $4 hourly cap (or NULL: none),
// $5 email_sends quota (or NULL: unlimited), $6 period start, $7 period end (NULL when unlimited).
// Runs after k_lock in the same transaction, so it sees every reservation committed before it.
const pg::statement k_reserve{"ft_email_send_reserve", R"sql(
WITH prior AS (
  SELECT count(*) AS n FROM usage_events
  WHERE workspace_id = $1::uuid AND event_type = 'EMAIL_SENT' AND metadata->>'idempotencyKey' = $2::text
),
recent AS (
  SELECT created_at FROM usage_events
  WHERE workspace_id = $1::uuid AND event_type = 'EMAIL_SENT' AND created_at > now() - interval '1 hour'
),
counted AS (SELECT count(*)::int AS n FROM recent),
used AS (
  SELECT COALESCE((SELECT quota_used FROM usage_quotas
                   WHERE workspace_id = $1::uuid AND quota_key = 'email_sends' AND period_start = $6::date), 0) AS n
),
verdict AS (
  SELECT CASE
    WHEN (SELECT n FROM prior) > 0 THEN 'already_reserved'
    WHEN $5::int IS NOT NULL AND (SELECT n FROM used) + 1 > $5::int * 1.2 THEN 'quota_exceeded'
    WHEN $4::int IS NOT NULL AND (SELECT n FROM counted) >= $4::int THEN 'wait'
    ELSE 'reserved' END AS v
),
free_at AS (
  -- With n sends in the hour and a cap of c, one more fits once the (n - c + 1)-th oldest has
  -- left the hour. A cap of 0 (sending paused) asks again in an hour.
  SELECT COALESCE((SELECT created_at FROM (SELECT created_at, row_number() OVER (ORDER BY created_at) AS k FROM recent) r
                   WHERE k = (SELECT n FROM counted) - $4::int + 1), now()) + interval '1 hour' AS t
),
ev AS (
  INSERT INTO usage_events (workspace_id, event_type, event_category, quantity, related_resource_id,
                            related_resource_type, metadata)
  SELECT $1::uuid, 'EMAIL_SENT', 'communication', 1, $3::uuid, CASE WHEN $3::uuid IS NOT NULL THEN 'workflow_execution' END,
         jsonb_build_object('idempotencyKey', $2::text)
  FROM verdict WHERE v = 'reserved'
  RETURNING id
),
q AS (
  INSERT INTO usage_quotas AS uq (workspace_id, quota_key, quota_limit, quota_used, period_start, period_end, last_reset_at)
  SELECT $1::uuid, 'email_sends', $5::int, 1, $6::date, $7::date, now()
  FROM verdict WHERE v = 'reserved' AND $5::int IS NOT NULL
  ON CONFLICT (workspace_id, quota_key, period_start) DO UPDATE
    SET quota_used = uq.quota_used + 1  -- the limit is the plan's (storage/subscriptions), not this node's cached copy
  RETURNING uq.quota_used, uq.quota_limit
),
warn AS (
  INSERT INTO usage_events (workspace_id, event_type, event_category, is_billable, metadata)
  SELECT $1::uuid, 'QUOTA_WARNING', 'api', false,
         jsonb_build_object('quota', 'email_sends', 'used', quota_used, 'limit', quota_limit)
  FROM q WHERE quota_used >= quota_limit AND quota_used - 1 < quota_limit
)
SELECT v,
       CASE WHEN v = 'wait' THEN ceil(extract(epoch FROM (SELECT t FROM free_at) - now()) * 1000)::bigint ELSE 0 END,
       (SELECT n FROM counted), COALESCE((SELECT quota_used FROM q), (SELECT n FROM used))
FROM verdict
)sql"};

}  // namespace

result<domain::email_send_grant> reserve_email_send(pg::connection& c, const domain::email_send_request& r) {
  using verdict = domain::email_send_grant::verdict;
  const auto& lim = r.limits;
  pg::params p;
  p.add(r.workspace_id).add(r.idempotency_key);
  r.execution_id.empty() ? p.add_null() : p.add(r.execution_id);
  lim.hourly_cap ? p.add(*lim.hourly_cap) : p.add_null();
  const bool limited = lim.quota && !lim.period_start.empty() && !lim.period_end.empty();
  limited ? p.add(*lim.quota) : p.add_null();
  limited ? p.add(lim.period_start) : p.add_null();
  limited ? p.add(lim.period_end) : p.add_null();

  auto results = c.pipeline({{&k_lock, pg::params{}.add(r.workspace_id)}, {&k_reserve, p}});  // one implicit transaction
  if (!results) {
    // Only a reservation of the same key can hit the unique index (the lock makes it unlikely):
    // that key is counted.
    if (results.err().code == error_code::conflict && results.err().subject == "idx_usage_events_email_send_key")
      return domain::email_send_grant{verdict::already_reserved, 0, 0, std::nullopt};
    return results.err();
  }
  const pg::rows& rows = (*results)[1];
  if (rows.size() != 1) return make_error(error_code::internal, "the email reservation returned no row", "email_sends");
  std::string_view v = rows.get(0, 0);
  domain::email_send_grant g;
  g.sent_last_hour = static_cast<int>(rows.get_int(0, 2));
  if (limited) g.quota_used = static_cast<int>(rows.get_int(0, 3));
  if (v == "quota_exceeded")
    return make_error(error_code::quota_exceeded,
                      "the workspace's email_sends quota for this billing period is used up (" +
                          std::to_string(rows.get_int(0, 3)) + " sent of " + std::to_string(*lim.quota) +
                          ", sending stops beyond 120%); upgrade the plan or wait for the next period",
                      std::string(domain::k_email_sends));
  if (v == "wait") {
    g.outcome = verdict::wait;
    g.wait_ms = std::max<std::int64_t>(rows.get_int(0, 1), 1);
  } else {
    g.outcome = v == "already_reserved" ? verdict::already_reserved : verdict::reserved;
  }
  return g;
}

}  // namespace flowtrack::storage
