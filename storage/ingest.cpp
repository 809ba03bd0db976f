#include "storage/ingest.hpp"

#include <algorithm>
#include <map>

#include <boost/json.hpp>

#include "storage/pg/array.hpp"
#include "storage/run_rows.hpp"
#include "storage/subscriptions.hpp"
#include "storage/webhook_outbox.hpp"
#include "domain/ids.hpp"

namespace flowtrack::storage {
namespace {

// The outbox (webhook_outbox.hpp): lead.created or lead.updated for each lead written, and for a
// settled run execution.completed|failed and lead.status_changed (from NEW, as the same run
// queued would have reported it). $20 holds the batch's workspaces; one probe of the endpoints'
// workspace index each, and no JSON is built for a workspace without endpoints.
std::string webhook_sql() {
  std::string lead = "jsonb_build_object('id', l.id, 'workflow_id', l.workflow_id, 'email', l.email, 'name', l.name,"
                     " 'company_name', l.company_name, 'phone', l.phone, 'status', l.status, 'source', l.source,"
                     " 'created_at', " + detail::iso_sql("l.created_at") + ")";
  return detail::outbox_ctes("ep.workspace_id = ANY($20::uuid[])", R"sql(
    SELECT l.workspace_id, CASE WHEN l.created THEN 'lead.created' ELSE 'lead.updated' END, )sql" + lead + R"sql(
    FROM l WHERE l.workspace_id IN (SELECT workspace_id FROM wh_ep)
    UNION ALL
    SELECT j.workspace_id, 'execution.' || j.x_status,
           jsonb_build_object('execution_id', j.execution_id, 'workflow_id', j.workflow_id, 'lead_id', j.lead_id,
                              'status', j.x_status, 'error', j.x_error)
    FROM j WHERE j.settles AND j.x_status IN ('completed', 'failed') AND j.workspace_id IN (SELECT workspace_id FROM wh_ep)
    UNION ALL
    SELECT j.workspace_id, 'lead.status_changed',
           jsonb_build_object('lead_id', j.lead_id, 'old_status', 'NEW', 'new_status', j.l_status, 'execution_id', j.execution_id)
    FROM j WHERE j.settles AND j.l_status IS NOT NULL AND j.l_status <> 'NEW'
      AND j.workspace_id IN (SELECT workspace_id FROM wh_ep)
  )sql");
}

// A plan's limit for `key` from its quotas JSON (`quotas`, an SQL expression) as
// domain::quota_limits_from_plan reads it: a non-negative number, truncated; anything else,
// or no key, is unlimited (NULL).
std::string plan_limit_sql(const std::string& quotas, const std::string& key) {
  std::string v = "(" + quotas + " ->> '" + key + "')";
  return "CASE WHEN jsonb_typeof(" + quotas + " -> '" + key + "') = 'number' THEN CASE WHEN " + v + "::numeric >= 0 THEN LEAST(trunc(" +
         v + "::numeric), 2147483647)::int END END";
}

// One statement does the whole intake of a batch; its CTEs join only the batch's own rows
// (arrays and RETURNING sets) so no plan ever scans a table.
const pg::statement k_ingest{"ft_ingest", R"sql(
WITH raw AS (
  SELECT * FROM unnest($1::int[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                       $9::jsonb[], $10::text[], $11::uuid[], $12::jsonb[], $13::text[], $14::bool[], $15::text[], $16::uuid[],
                       $25::int[], $26::uuid[], $27::bool[], $28::text[], $29::timestamp[], $30::timestamp[], $31::int[],
                       $32::jsonb[], $33::text[], $34::jsonb[], $35::text[], $36::jsonb[], $37::int[], $63::uuid[])
    AS t(idx, workspace_id, workflow_id, email, name, company_name, phone, source, source_metadata, trigger_type,
         trigger_node_id, trigger_data, idempotency_key, rerun, event_type, execution_id, workflow_version,
         lead_id, settled, x_status, x_started, x_completed, x_duration, x_output, x_error, x_checkpoint,
         l_status, l_tags, l_score, event_id)
),
fv AS (SELECT * FROM unnest($17::int[], $18::uuid[], $19::text[]) AS f(idx, field_id, value)),
cached AS (
  SELECT * FROM unnest($20::uuid[], $21::int[], $22::int[], $23::date[], $24::date[])
    AS q(workspace_id, executions_limit, leads_limit, period_start, period_end)
),
-- The subscription in force of each workspace of the batch (storage/subscriptions), read in
-- this statement: one index probe per workspace, no round trip of its own. Its plan and
-- period as the workspace look-up computes them (storage/workspaces).
billing AS (
  SELECT c.workspace_id, s.id IS NOT NULL AS subscribed,
         COALESCE(s.status = 'past_due' AND s.payment_grace_ends_at <= now(), false) AS blocked, p.quotas,
         CASE WHEN s.current_period_end >= current_date THEN s.current_period_start
              ELSE date_trunc('month', now())::date END AS period_start,
         CASE WHEN s.current_period_end >= current_date THEN s.current_period_end
              ELSE (date_trunc('month', now()) + interval '1 month - 1 day')::date END AS period_end
  FROM cached c
  LEFT JOIN LATERAL ()sql" + detail::subscription_in_force_sql("c.workspace_id") + R"sql() s ON true
  LEFT JOIN subscription_plans p ON p.id = s.subscription_plan_id
),
-- Workspaces past_due beyond their grace period take no new trigger (a repeat of an accepted
-- one still finds its execution).
blocked AS (SELECT workspace_id FROM billing WHERE blocked),
-- Limits and period: the plan in force now, so a plan change (Stripe) counts from the next
-- batch on, not once the workspace actor has reloaded; the actor's cached copy only for a
-- workspace without a subscription in force.
limits AS (
  SELECT c.workspace_id,
         CASE WHEN b.subscribed THEN )sql" + plan_limit_sql("b.quotas", "executions_per_month") + R"sql( ELSE c.executions_limit END AS executions_limit,
         CASE WHEN b.subscribed THEN )sql" + plan_limit_sql("b.quotas", "leads") + R"sql( ELSE c.leads_limit END AS leads_limit,
         CASE WHEN b.subscribed THEN b.period_start ELSE c.period_start END AS period_start,
         CASE WHEN b.subscribed THEN b.period_end ELSE c.period_end END AS period_end
  FROM cached c JOIN billing b ON b.workspace_id = c.workspace_id
),
dup AS (
  SELECT r.idx, e.id AS execution_id, e.lead_id FROM raw r
  JOIN workflow_executions e ON e.workflow_id = r.workflow_id AND e.idempotency_key = r.idempotency_key
  WHERE r.idempotency_key IS NOT NULL
),
input AS (
  SELECT r.* FROM raw r
  WHERE NOT EXISTS (SELECT 1 FROM dup d WHERE d.idx = r.idx) AND NOT EXISTS (SELECT 1 FROM blocked b WHERE b.workspace_id = r.workspace_id)
),
l AS (
  INSERT INTO leads AS ld (id, workflow_id, workspace_id, email, name, company_name, phone, source, source_metadata,
                           last_activity_at, status, tags, score)
  SELECT COALESCE(lead_id, uuid_generate_v4()), workflow_id, workspace_id, email::citext, name, company_name, phone,
         source, source_metadata, now(), COALESCE(l_status, 'NEW'), CASE WHEN l_tags IS NOT NULL THEN ARRAY(SELECT jsonb_array_elements_text(l_tags)) END,
         COALESCE(l_score, 0)
  FROM input
  -- A lead that exists keeps what it has: a repeat submission only fills empty fields (the
  -- values it brought are kept in its lead event). A lead the owner deleted comes back with it:
  -- what the person just sent must not land in a row nobody can see.
  ON CONFLICT (workflow_id, email) DO UPDATE SET
    deleted_at = NULL,
    name = COALESCE(NULLIF(ld.name, ''), EXCLUDED.name),
    company_name = COALESCE(NULLIF(ld.company_name, ''), EXCLUDED.company_name),
    phone = COALESCE(NULLIF(ld.phone, ''), EXCLUDED.phone),
    source_metadata = COALESCE(ld.source_metadata, EXCLUDED.source_metadata),
    last_activity_at = EXCLUDED.last_activity_at
  RETURNING ld.id, ld.workflow_id, ld.email, (xmax = 0) AS created, ld.workspace_id, ld.name, ld.company_name, ld.phone,
            ld.status, ld.source, ld.created_at
),
j AS (
  SELECT i.idx, i.workspace_id, i.workflow_id, i.email, i.source, i.trigger_type, i.trigger_node_id, i.trigger_data,
         i.idempotency_key, i.event_type, i.execution_id, i.workflow_version, i.x_status, i.x_started, i.x_completed,
         i.x_duration, i.x_output, i.x_error, i.x_checkpoint, i.l_status, i.event_id, i.name, i.company_name, i.phone,
         l.id AS lead_id, l.created, (l.created OR i.rerun) AS starts, (l.created AND i.settled) AS settles
  FROM input i JOIN l ON l.workflow_id = i.workflow_id AND l.email = i.email::citext
),
fd AS (
  INSERT INTO lead_field_data AS d (lead_id, form_field_id, value)
  SELECT j.lead_id, f.field_id, f.value FROM fv f JOIN j ON j.idx = f.idx
  ON CONFLICT (lead_id, form_field_id) DO UPDATE SET value = EXCLUDED.value WHERE d.value IS NULL OR d.value = ''
),
ex AS (
  INSERT INTO workflow_executions (id, workflow_id, workspace_id, lead_id, idempotency_key, trigger_type,
                                   trigger_node_id, trigger_data, status, workflow_version, started_at, completed_at,
                                   duration_ms, output_data, error_message, checkpoint)
  SELECT execution_id, workflow_id, workspace_id, lead_id, idempotency_key, trigger_type, trigger_node_id,
         trigger_data, CASE WHEN settles THEN x_status ELSE 'queued' END, workflow_version,
         CASE WHEN settles THEN x_started END, CASE WHEN settles THEN x_completed END,
         CASE WHEN settles THEN x_duration END, CASE WHEN settles THEN x_output END,
         CASE WHEN settles THEN x_error END, CASE WHEN settles THEN x_checkpoint END
  FROM j WHERE starts
  RETURNING id, workspace_id
),
sx AS (SELECT idx, execution_id AS id, lead_id, workspace_id, workflow_id, x_status, x_duration, l_status FROM j WHERE settles)
)sql" + run_rows::insert_sql("sx", 38) + R"sql(,
sd AS (
  INSERT INTO execution_stat_deltas (workflow_id, workspace_id, stat_date, finished, succeeded, failed, emails_sent,
                                     duration_ms_sum, leads_qualified, leads_won, last_finished_at)
  SELECT workflow_id, workspace_id, current_date, count(*), count(*) FILTER (WHERE x_status = 'completed'),
         count(*) FILTER (WHERE x_status = 'failed'), 0, COALESCE(sum(x_duration), 0),
         count(*) FILTER (WHERE l_status = 'QUALIFIED'), count(*) FILTER (WHERE l_status = 'WON'), now()
  FROM sx GROUP BY workflow_id, workspace_id
),
e0 AS (
  SELECT j.*, CASE WHEN NOT created AND event_type = 'FORM_SUBMITTED' THEN 'FORM_RESUBMITTED' ELSE event_type END AS etype
  FROM j
),
ev AS (
  -- A lead that existed: the event keeps the values this trigger brought (the lead kept its own).
  INSERT INTO lead_events (id, lead_id, event_type, event_category, description, metadata)
  SELECT event_id, lead_id, etype, 'activity', initcap(replace(lower(etype), '_', ' ')),
         jsonb_build_object('workflowId', workflow_id, 'source', source, 'leadCreated', created,
                            'executionId', CASE WHEN starts THEN execution_id END)
         || CASE WHEN created THEN '{}'::jsonb ELSE jsonb_build_object('submitted', jsonb_strip_nulls(jsonb_build_object(
              'name', name, 'companyName', company_name, 'phone', phone,
              'fields', (SELECT jsonb_object_agg(ff.field_key, f.value) FROM fv f JOIN form_fields ff ON ff.id = f.field_id
                         WHERE f.idx = e0.idx)))) END
  FROM e0
),
ue AS (
  -- One usage row per workspace and batch, its quantity the executions started (the spec's
  -- `quantity`), not one per execution: a row and five index entries less per submission.
  INSERT INTO usage_events (workspace_id, event_type, event_category, quantity, related_resource_type)
  SELECT workspace_id, 'workflow_execution', 'compute', count(*), 'workflow_execution' FROM ex GROUP BY workspace_id
),
counts AS (
  SELECT 'executions'::varchar AS quota_key, workspace_id, count(*)::int AS n FROM ex GROUP BY workspace_id
  UNION ALL
  SELECT 'leads'::varchar, workspace_id, count(*)::int FROM j WHERE created GROUP BY workspace_id
),
wanted AS (
  SELECT c.quota_key, c.workspace_id, c.n, lim.period_start, lim.period_end,
         CASE c.quota_key WHEN 'executions' THEN lim.executions_limit ELSE lim.leads_limit END AS quota_limit
  FROM counts c JOIN limits lim ON lim.workspace_id = c.workspace_id
),
q AS (
  INSERT INTO usage_quotas AS uq (workspace_id, quota_key, quota_limit, quota_used, period_start, period_end, last_reset_at)
  -- Rows are locked in (workspace, key) order, the order a plan change locks them in
  -- (storage/subscriptions): two writers never wait on each other in a cycle.
  SELECT workspace_id, quota_key, quota_limit, n, period_start, period_end, now() FROM wanted WHERE quota_limit IS NOT NULL
  ORDER BY workspace_id, quota_key
  -- The limit is set when the row is made, and by a plan change (storage/subscriptions): a batch
  -- that read the plan just before a change commits must not write the old limit back.
  ON CONFLICT (workspace_id, quota_key, period_start) DO UPDATE
    SET quota_used = uq.quota_used + EXCLUDED.quota_used
  RETURNING uq.workspace_id, uq.quota_key, uq.quota_limit, uq.quota_used
),
warn AS (
  INSERT INTO usage_events (workspace_id, event_type, event_category, is_billable, metadata)
  SELECT q.workspace_id, 'QUOTA_WARNING', 'api', false,
         jsonb_build_object('quota', q.quota_key, 'used', q.quota_used, 'limit', q.quota_limit)
  FROM q JOIN wanted w ON w.workspace_id = q.workspace_id AND w.quota_key = q.quota_key
  WHERE q.quota_used >= q.quota_limit AND q.quota_used - w.n < q.quota_limit
))sql" + webhook_sql() + R"sql(
SELECT idx, lead_id, created, CASE WHEN starts THEN execution_id END, false, settles, event_id, false FROM j
UNION ALL
SELECT idx, lead_id, false, execution_id, true, false, NULL::uuid, false FROM dup
UNION ALL
SELECT r.idx, NULL::uuid, false, NULL::uuid, false, false, NULL::uuid, true FROM raw r
WHERE r.workspace_id IN (SELECT workspace_id FROM blocked) AND NOT EXISTS (SELECT 1 FROM dup d WHERE d.idx = r.idx)
)sql"};

// A trigger refused because the workspace's payment is overdue beyond the grace period.
error payment_required() {
  return make_error(error_code::quota_exceeded,
                    "the workspace's subscription is past due and its grace period has ended; new submissions are accepted "
                    "again once the payment is settled",
                    "subscription");
}

// Serialises concurrent triggers with the same idempotency key, so the second one sees the
// first one's committed execution and writes nothing.
const pg::statement k_lock_keys{"ft_ingest_lock_keys",
                                "SELECT count(pg_advisory_xact_lock(k)) FROM "
                                "(SELECT DISTINCT hashtextextended(w || ':' || key, 7) AS k "
                                " FROM unnest($1::text[], $2::text[]) AS t(w, key) ORDER BY 1) s"};

// The row that refused: of the trigger's cached period, or (the plan in force having another)
// of the period that contains today.
const pg::statement k_quota_over{"ft_quota_over",
                                 "SELECT quota_key, quota_used, quota_limit FROM usage_quotas "
                                 "WHERE workspace_id = $1 AND (period_start = $2::date OR current_date BETWEEN period_start AND period_end) "
                                 "AND quota_used + 1 > quota_limit * 1.2 ORDER BY period_start DESC, quota_key"};

std::string ascii_lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// A new lead's tags after a settled run: its adds, less its removes (the run writer's rule
// applied to a lead without tags).
std::vector<std::string> tags_of_new_lead(const domain::lead_change& c) {
  std::vector<std::string> out;
  for (const auto& t : c.add_tags)
    if (std::find(out.begin(), out.end(), t) == out.end() &&
        std::find(c.remove_tags.begin(), c.remove_tags.end(), t) == c.remove_tags.end())
      out.push_back(t);
  return out;
}

// The parameters of one ingest statement over `members` (indices into batch).
pg::params ingest_params(const std::vector<domain::trigger_record>& batch, const std::vector<std::size_t>& members) {
  pg::array_builder version;
  pg::array_builder idx, ws, wf, email, name, company, phone, source, meta, ttype, tnode, tdata, key, rerun, etype, exid;
  pg::array_builder f_idx, f_field, f_value;
  pg::array_builder event_id;
  pg::array_builder lead_id, settled, x_status, x_started, x_completed, x_duration, x_output, x_error, x_checkpoint,
      l_status, l_tags, l_score;
  run_rows rows;
  std::map<std::string, const domain::quota_limits*> limits;
  for (std::size_t m : members) {
    const auto& t = batch[m];
    auto i = static_cast<std::int64_t>(m);
    idx.add(i);
    ws.add(t.workspace_id);
    wf.add(t.workflow_id);
    email.add(t.email);
    name.add_optional(t.name);
    company.add_optional(t.company_name);
    phone.add_optional(t.phone);
    source.add(t.source);
    meta.add_optional(t.source_metadata);
    ttype.add(t.trigger_type);
    tnode.add_optional(t.trigger_node_id);
    tdata.add_optional(t.trigger_data);
    key.add_optional(t.idempotency_key);
    rerun.add(std::string_view(t.rerun_on_resubmit ? "t" : "f"));
    etype.add(t.event_type);
    exid.add(t.execution_id);
    t.workflow_version ? version.add(static_cast<std::int64_t>(*t.workflow_version)) : version.add_null();
    for (const auto& f : t.fields) {
      f_idx.add(i);
      f_field.add(f.form_field_id);
      f_value.add(f.value);
    }
    limits.emplace(t.workspace_id, &t.quotas);
    t.lead_id.empty() ? lead_id.add_null() : lead_id.add(t.lead_id);
    t.event_id.empty() ? event_id.add(domain::new_uuid()) : event_id.add(t.event_id);
    settled.add(std::string_view(t.settled ? "t" : "f"));
    if (t.settled) {
      const domain::run_record& x = *t.settled;
      x_status.add(to_string(x.status));
      x_started.add_optional(x.started_at);
      x_completed.add_optional(x.completed_at);
      x.duration_ms ? x_duration.add(static_cast<std::int64_t>(*x.duration_ms)) : x_duration.add_null();
      x_output.add_optional(x.output_data);
      x_error.add_optional(x.error_message);
      x_checkpoint.add_optional(x.checkpoint);
      l_status.add_optional(x.lead.status);
      if (x.lead.add_tags.empty() && x.lead.remove_tags.empty()) l_tags.add_null();
      else l_tags.add(json_list(tags_of_new_lead(x.lead)));
      l_score.add(x.lead.score_delta);
      rows.add(i, x);
    } else {
      for (auto* b : {&x_status, &x_started, &x_completed, &x_duration, &x_output, &x_error, &x_checkpoint, &l_status, &l_tags})
        b->add_null();
      l_score.add_null();
    }
  }
  pg::array_builder l_ws, l_exec, l_leads, l_start, l_end;
  for (const auto& [w, q] : limits) {
    l_ws.add(w);
    q->executions ? l_exec.add(static_cast<std::int64_t>(*q->executions)) : l_exec.add_null();
    q->leads ? l_leads.add(static_cast<std::int64_t>(*q->leads)) : l_leads.add_null();
    l_start.add(q->period_start);
    l_end.add(q->period_end);
  }
  pg::params p{idx.finish(),     ws.finish(),      wf.finish(),      email.finish(),   name.finish(),
               company.finish(), phone.finish(),   source.finish(),  meta.finish(),    ttype.finish(),
               tnode.finish(),   tdata.finish(),   key.finish(),     rerun.finish(),   etype.finish(),
               exid.finish(),    f_idx.finish(),   f_field.finish(), f_value.finish(), l_ws.finish(),
               l_exec.finish(),  l_leads.finish(), l_start.finish(), l_end.finish(),   version.finish()};
  for (auto* b : {&lead_id, &settled, &x_status, &x_started, &x_completed, &x_duration, &x_output, &x_error, &x_checkpoint,
                  &l_status, &l_tags, &l_score})
    p.add(b->finish());  // $26 to $37
  rows.append_to(p);     // $38 to $62
  p.add(event_id.finish());  // $63
  return p;
}

// Splits a batch into rounds in which each (workflow, email) appears once, so no upsert in one
// statement touches the same lead twice. (citext folds more than ASCII; the rare pair it folds
// and this does not fails the batch, which then falls back to one trigger per transaction.)
std::vector<std::vector<std::size_t>> rounds_of(const std::vector<domain::trigger_record>& batch,
                                                const std::vector<std::size_t>& members) {
  std::vector<std::vector<std::size_t>> rounds;
  std::map<std::string, std::size_t> seen;
  for (std::size_t m : members) {
    std::size_t r = seen[batch[m].workflow_id + "\n" + ascii_lower(batch[m].email)]++;
    if (rounds.size() <= r) rounds.resize(r + 1);
    rounds[r].push_back(m);
  }
  return rounds;
}

result<void> write_members(pg::connection& c, const std::vector<domain::trigger_record>& batch,
                           const std::vector<std::size_t>& members, std::vector<std::optional<result<ingest_outcome>>>& out) {
  std::vector<pg::pipelined> commands;
  pg::array_builder lock_w, lock_k;
  bool keyed = false;
  for (std::size_t m : members)
    if (batch[m].idempotency_key) {
      lock_w.add(batch[m].workflow_id);
      lock_k.add(*batch[m].idempotency_key);
      keyed = true;
    }
  if (keyed) commands.push_back({&k_lock_keys, pg::params{lock_w.finish(), lock_k.finish()}});
  auto rounds = rounds_of(batch, members);
  for (const auto& round : rounds) commands.push_back({&k_ingest, ingest_params(batch, round)});

  auto results = c.pipeline(commands);  // one implicit transaction
  if (!results) return results.err();
  for (std::size_t s = keyed ? 1 : 0; s < results->size(); ++s) {
    const pg::rows& rows = (*results)[s];
    for (int r = 0; r < rows.size(); ++r) {
      auto i = static_cast<std::size_t>(rows.get_int(r, 0));
      if (rows.get_bool(r, 7)) {
        out[i] = result<ingest_outcome>(payment_required());
        continue;
      }
      ingest_outcome o;
      o.lead_id = rows.is_null(r, 1) ? std::string() : std::string(rows.get(r, 1));
      o.lead_created = rows.get_bool(r, 2);
      o.execution_id = rows.get_optional(r, 3);
      o.duplicate = rows.get_bool(r, 4);
      o.settled = rows.get_bool(r, 5);
      o.event_id = rows.is_null(r, 6) ? std::string() : std::string(rows.get(r, 6));
      out[i] = result<ingest_outcome>(std::move(o));
    }
  }
  for (std::size_t m : members)
    if (!out[m]) return make_error(error_code::internal, "ingest returned no row for a trigger", "ingest");
  return {};
}

error explain_failure(pg::connection& c, const domain::trigger_record& t, error e) {
  if (e.subject == "usage_quotas_usage_within_limit") {
    auto over = c.exec(k_quota_over, pg::params{}.add(t.workspace_id).add(t.quotas.period_start));
    std::string quota = over.ok() && over->size() > 0 ? std::string(over->get(0, 0)) : "executions";
    std::string detail = over.ok() && over->size() > 0
                             ? " (" + std::string(over->get(0, 1)) + " used of " + std::string(over->get(0, 2)) + ")"
                             : "";
    return make_error(error_code::quota_exceeded,
                      "the workspace's " + quota + " quota for this billing period is used up" + detail, quota);
  }
  return e;
}

}  // namespace

namespace detail {
const pg::statement& ingest_statement() { return k_ingest; }
pg::params ingest_statement_params(const std::vector<domain::trigger_record>& records, const std::vector<std::size_t>& members) {
  return ingest_params(records, members);
}
}  // namespace detail

std::vector<result<ingest_outcome>> ingest_batch(pg::connection& c, const std::vector<domain::trigger_record>& batch) {
  std::vector<std::optional<result<ingest_outcome>>> outcomes(batch.size());
  std::vector<std::size_t> all(batch.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;

  std::vector<result<ingest_outcome>> out;
  out.reserve(batch.size());
  auto whole = batch.empty() ? result<void>() : write_members(c, batch, all, outcomes);
  if (whole.ok()) {
    for (auto& o : outcomes) out.emplace_back(std::move(*o));
    return out;
  }
  if (whole.err().code == error_code::unavailable || whole.err().code == error_code::timeout || batch.size() == 1) {
    // The server is gone or this was one trigger anyway: every member shares the error.
    error e = batch.size() == 1 ? explain_failure(c, batch[0], whole.err()) : whole.err();
    for (std::size_t i = 0; i < batch.size(); ++i) out.emplace_back(e);
    return out;
  }
  // One member spoiled the batch: give each its own transaction.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::vector<std::optional<result<ingest_outcome>>> one(batch.size());
    auto r = write_members(c, batch, {i}, one);
    if (r.ok()) out.emplace_back(std::move(*one[i]));
    else out.emplace_back(explain_failure(c, batch[i], r.err()));
  }
  return out;
}

}  // namespace flowtrack::storage
