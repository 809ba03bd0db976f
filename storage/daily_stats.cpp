// workspace_daily_stats recomputed from the source rows. See daily_stats.hpp.
#include "storage/daily_stats.hpp"

#include "storage/runs.hpp"

namespace flowtrack::storage {
namespace {

// $1 workspace (NULL: all), $2 from date, $3 to date (NULL: from $4 days back to today, each in
// the workspace's zone). `lo` and `hi` are each workspace's range as UTC timestamps, so the source
// scans use their (workspace_id|lead_id, created_at) indexes.
const pg::statement k_reconcile{"ft_daily_stats_reconcile", R"sql(
WITH z AS MATERIALIZED (
  -- Materialized: the zone check (a scan of the zone files) runs once a workspace, not once a use.
  SELECT w.id, CASE WHEN w.timezone IS NOT NULL AND w.timezone <> ''
                     AND EXISTS (SELECT 1 FROM pg_timezone_names n WHERE n.name = w.timezone)
                THEN w.timezone ELSE 'UTC' END AS tz
  FROM workspaces w
  WHERE ($1::uuid IS NULL OR w.id = $1::uuid)
), ws AS (
  SELECT z.id, z.tz,
         COALESCE($2::date, ((now() AT TIME ZONE z.tz)::date - ($4::int - 1))) AS d0,
         COALESCE($3::date, (now() AT TIME ZONE z.tz)::date) AS d1
  FROM z
), r AS (
  SELECT id, tz, d0, d1,
         (d0::timestamp AT TIME ZONE tz) AT TIME ZONE 'UTC' AS lo,
         ((d1 + 1)::timestamp AT TIME ZONE tz) AT TIME ZONE 'UTC' AS hi
  FROM ws WHERE d0 <= d1
), src AS (
  SELECT r.id AS workspace_id, ((l.created_at AT TIME ZONE 'UTC') AT TIME ZONE r.tz)::date AS d,
         1 AS created, 0 AS qualified, 0 AS won, 0 AS total, 0 AS ok, 0 AS failed, NULL::bigint AS dur,
         0 AS sent, 0 AS opened, 0 AS clicked
  FROM r JOIN leads l ON l.workspace_id = r.id AND l.created_at >= r.lo AND l.created_at < r.hi
  UNION ALL
  SELECT r.id, ((e.created_at AT TIME ZONE 'UTC') AT TIME ZONE r.tz)::date, 0,
         (e.event_type = 'STATUS_CHANGED' AND e.metadata->>'value' = 'QUALIFIED')::int,
         (e.event_type = 'STATUS_CHANGED' AND e.metadata->>'value' = 'WON')::int, 0, 0, 0, NULL,
         0, (e.event_type = 'EMAIL_OPENED')::int, (e.event_type = 'EMAIL_CLICKED')::int
  FROM r JOIN leads l ON l.workspace_id = r.id
  JOIN lead_events e ON e.lead_id = l.id AND e.created_at >= r.lo AND e.created_at < r.hi
   AND e.event_type IN ('STATUS_CHANGED', 'EMAIL_OPENED', 'EMAIL_CLICKED')
  UNION ALL
  SELECT r.id, ((x.completed_at AT TIME ZONE 'UTC') AT TIME ZONE r.tz)::date, 0, 0, 0, 1,
         (x.status = 'completed')::int, (x.status = 'failed')::int, x.duration_ms, 0, 0, 0
  FROM r JOIN workflow_executions x ON x.workspace_id = r.id AND x.status IN ('completed', 'failed')
   AND x.completed_at >= r.lo AND x.completed_at < r.hi
  UNION ALL
  SELECT r.id, ((u.created_at AT TIME ZONE 'UTC') AT TIME ZONE r.tz)::date, 0, 0, 0, 0, 0, 0, NULL,
         COALESCE(u.quantity, 1), 0, 0
  FROM r JOIN usage_events u ON u.workspace_id = r.id AND u.event_type = 'EMAIL_SENT'
   AND u.created_at >= r.lo AND u.created_at < r.hi
), agg AS (
  SELECT workspace_id, d, sum(created)::int AS created, sum(qualified)::int AS qualified, sum(won)::int AS won,
         sum(total)::int AS total, sum(ok)::int AS ok, sum(failed)::int AS failed,
         (sum(dur) / NULLIF(count(dur), 0))::int AS avg_dur, sum(sent)::int AS sent,
         sum(opened)::int AS opened, sum(clicked)::int AS clicked
  FROM src GROUP BY workspace_id, d
), days AS (
  -- Days with activity, and days with a row to set back to zero.
  SELECT workspace_id, d FROM agg
  UNION
  SELECT s.workspace_id, s.stat_date FROM workspace_daily_stats s JOIN r ON s.workspace_id = r.id
  WHERE s.stat_date BETWEEN r.d0 AND r.d1
), up AS (
  INSERT INTO workspace_daily_stats AS x (workspace_id, stat_date, leads_created, leads_qualified, leads_won,
      total_executions, successful_executions, failed_executions, emails_sent, emails_opened, emails_clicked,
      avg_execution_duration_ms)
  SELECT days.workspace_id, days.d, COALESCE(a.created, 0), COALESCE(a.qualified, 0), COALESCE(a.won, 0),
         COALESCE(a.total, 0), COALESCE(a.ok, 0), COALESCE(a.failed, 0), COALESCE(a.sent, 0),
         COALESCE(a.opened, 0), COALESCE(a.clicked, 0), a.avg_dur
  FROM days LEFT JOIN agg a ON a.workspace_id = days.workspace_id AND a.d = days.d
  ON CONFLICT (workspace_id, stat_date) DO UPDATE SET
    leads_created = EXCLUDED.leads_created, leads_qualified = EXCLUDED.leads_qualified, leads_won = EXCLUDED.leads_won,
    total_executions = EXCLUDED.total_executions, successful_executions = EXCLUDED.successful_executions,
    failed_executions = EXCLUDED.failed_executions, emails_sent = EXCLUDED.emails_sent,
    emails_opened = EXCLUDED.emails_opened, emails_clicked = EXCLUDED.emails_clicked,
    avg_execution_duration_ms = EXCLUDED.avg_execution_duration_ms
  RETURNING 1
)
SELECT count(*) FROM up
)sql"};

result<std::int64_t> reconcile_once(pg::connection& c, const pg::params& args) {
  return pg::transact(c, [&](pg::connection& tx) -> result<std::int64_t> {
    // One snapshot for the fold and the recount: a run's delta is either folded here and its rows
    // recounted, or committed after the snapshot and folded later, its rows not recounted now.
    if (auto s = tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); !s) return s.err();
    if (auto f = fold_stat_deltas(tx); !f) return f.err();
    auto r = tx.exec(k_reconcile, args);
    if (!r) return r.err();
    return r->get_int(0, 0);
  });
}

// A concurrent fold (another node's, or this node's writer) or a live increment of a row this
// snapshot recounts ends the transaction with a serialization failure: recount on a new snapshot.
result<std::int64_t> reconcile(pg::connection& c, const pg::params& args) {
  for (int attempt = 1;; ++attempt) {
    auto r = reconcile_once(c, args);
    if (r || attempt == 5 || c.broken() || (r.err().subject != "40001" && r.err().subject != "40P01")) return r;
  }
}

}  // namespace

result<std::int64_t> reconcile_daily_stats(pg::connection& c, const std::optional<std::string>& workspace_id,
                                           const std::string& from_date, const std::string& to_date) {
  pg::params args;
  workspace_id ? args.add(*workspace_id) : args.add_null();
  args.add(from_date).add(to_date).add(static_cast<std::int64_t>(1));
  return reconcile(c, args);
}

result<std::int64_t> reconcile_recent_daily_stats(pg::connection& c, const std::optional<std::string>& workspace_id,
                                                  int days) {
  pg::params args;
  workspace_id ? args.add(*workspace_id) : args.add_null();
  args.add_null().add_null().add(static_cast<std::int64_t>(days < 1 ? 1 : days));
  return reconcile(c, args);
}

}  // namespace flowtrack::storage
