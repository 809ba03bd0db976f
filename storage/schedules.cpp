#include "storage/schedules.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "runtime/compiled_graph.hpp"
#include "runtime/graph.hpp"
#include "storage/pg/array.hpp"
#include "storage/subscriptions.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::storage {
namespace json = boost::json;
namespace {

#define FT_TS(n) "to_timestamp($" #n "::double precision / 1000)"
#define FT_MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

// Due rows whose claim lapsed, earliest first, claimed with a fresh token; returned with their
// workflow and its current version's graph. $1 now (ms), $2 how many, $3 owner, $4 lease (ms).
// Claiming clears a '-infinity' mark (the claimer reads the change now); a change during the
// claim marks the row again and the marks survive the claim's own writes.
const pg::statement k_claim{"ft_schedule_claim", R"sql(
WITH c AS (
  SELECT workflow_id FROM workflow_schedules
  WHERE due_at <= )sql" FT_TS(1) R"sql( AND (claimed_until IS NULL OR claimed_until <= )sql" FT_TS(1) R"sql()
  ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED
),
u AS (
  UPDATE workflow_schedules s
  SET claimed_by = $3, claim_token = uuid_generate_v4(),
      claimed_until = )sql" FT_TS(1) R"sql( + make_interval(secs => $4::double precision / 1000),
      due_at = )sql" FT_TS(1) R"sql( + make_interval(secs => $4::double precision / 1000)
  FROM c WHERE s.workflow_id = c.workflow_id
  RETURNING s.*
)
SELECT u.workflow_id::text, u.workspace_id::text, u.claim_token::text, )sql" FT_MS("u.last_tick_at") R"sql(,
       )sql" FT_MS("u.fire_tick_at") R"sql(, u.fire_after_created::text, u.fire_after_id::text, u.spec,
       )sql" FT_MS("u.spec_since") R"sql(, w.name, w.status, w.deleted_at IS NOT NULL, w.version,
       )sql" FT_MS("w.activated_at") R"sql(, v.graph::text
FROM u JOIN workflows w ON w.id = u.workflow_id
LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version
)sql"};

// One page of the workspace's live leads after a keyset, in (created_at, id) order (the
// idx_leads_ws_created walk). $5: with their custom field values.
const pg::statement k_lead_page{"ft_schedule_leads", R"sql(
SELECT l.id::text, l.created_at::text, l.email::text, l.name, l.company_name, l.phone, l.status, l.source,
       COALESCE(l.score, 0), COALESCE(to_jsonb(l.tags), '[]'::jsonb)::text, l.assigned_to_user_id::text,
       l.unsubscribed_at IS NOT NULL,
       CASE WHEN $5 THEN (SELECT jsonb_object_agg(f.field_key, d.value) FROM lead_field_data d
                          JOIN form_fields f ON f.id = d.form_field_id WHERE d.lead_id = l.id)::text END
FROM leads l
WHERE l.workspace_id = $1 AND l.deleted_at IS NULL AND (l.created_at, l.id) > ($2::timestamp, $3::uuid)
ORDER BY l.created_at, l.id LIMIT $4
)sql"};

// A plan's limit for `key` in its quotas JSON (a missing or non-numeric key: unlimited), as
// ingestion reads it.
std::string plan_limit_sql(const std::string& quotas, const std::string& key) {
  std::string v = "(" + quotas + " ->> '" + key + "')";
  return "CASE WHEN jsonb_typeof(" + quotas + " -> '" + key + "') = 'number' THEN CASE WHEN " + v +
         "::numeric >= 0 THEN LEAST(trunc(" + v + "::numeric), 2147483647)::int END END";
}

// Starts one batch of a tick: its executions (queued, ON CONFLICT DO NOTHING on the idempotency
// key, inserted in the batch's order so two firers take the key locks in the same order), their
// usage, and the schedule's progress, in one statement. Nothing is started unless the claim holds,
// the workflow is active and was activated by the tick, and the workspace is active and not past
// due beyond its grace period. The executions quota follows ingestion's rules: the limits and
// period of the subscription in force, read here ($10-$12, from the claim's look-up, only for a
// workspace without one); a row's limit is never written over (a plan change sets it).
//  $1 workflow  $2 workspace  $3 token  $4 tick (ms)  $5 lead ids  $6 keys  $7 trigger node
//  $8 trigger data  $9 version  $10 executions limit  $11 period start  $12 period end
//  $13 tick done  $14 cursor created_at  $15 cursor id  $16 claimed until (ms)  $17 spec
//  $18 spec since (ms)
const pg::statement& fire_statement() {
  static const pg::statement s{"ft_schedule_fire", R"sql(
WITH claim AS (
  SELECT 1 FROM workflow_schedules WHERE workflow_id = $1 AND claim_token = $3::uuid
),
billing AS (
  SELECT sub.id IS NOT NULL AS subscribed,
         COALESCE(sub.status = 'past_due' AND sub.payment_grace_ends_at <= now(), false) AS blocked, p.quotas,
         CASE WHEN sub.current_period_end >= current_date THEN sub.current_period_start
              ELSE date_trunc('month', now())::date END AS period_start,
         CASE WHEN sub.current_period_end >= current_date THEN sub.current_period_end
              ELSE (date_trunc('month', now()) + interval '1 month - 1 day')::date END AS period_end
  FROM (SELECT 1) one
  LEFT JOIN LATERAL ()sql" + detail::subscription_in_force_sql("$2::uuid") + R"sql() sub ON true
  LEFT JOIN subscription_plans p ON p.id = sub.subscription_plan_id
),
lim AS (
  SELECT CASE WHEN b.subscribed THEN )sql" + plan_limit_sql("b.quotas", "executions_per_month") + R"sql( ELSE $10::int END AS executions_limit,
         CASE WHEN b.subscribed THEN b.period_start ELSE $11::date END AS period_start,
         CASE WHEN b.subscribed THEN b.period_end ELSE $12::date END AS period_end
  FROM billing b
),
live AS (
  SELECT 1 FROM workflows w JOIN workspaces ws ON ws.id = w.workspace_id
  WHERE w.id = $1 AND w.status = 'active' AND w.deleted_at IS NULL AND w.activated_at <= )sql" FT_TS(4) R"sql(
    AND ws.is_active AND ws.deleted_at IS NULL AND EXISTS (SELECT 1 FROM claim)
    AND NOT EXISTS (SELECT 1 FROM billing WHERE blocked)
),
src AS (
  SELECT t.lead_id, t.idempotency_key, t.ord FROM unnest($5::uuid[], $6::text[]) WITH ORDINALITY AS t(lead_id, idempotency_key, ord)
  WHERE EXISTS (SELECT 1 FROM live)
),
ex AS (
  INSERT INTO workflow_executions (workflow_id, workspace_id, lead_id, idempotency_key, trigger_type, trigger_node_id,
                                   trigger_data, status, workflow_version)
  SELECT $1, $2, src.lead_id, src.idempotency_key, 'SCHEDULED', $7, $8::jsonb, 'queued', $9 FROM src ORDER BY src.ord
  ON CONFLICT (workflow_id, idempotency_key) DO NOTHING
  RETURNING id
),
n AS (SELECT count(*)::int AS n FROM ex),
ue AS (
  INSERT INTO usage_events (workspace_id, event_type, event_category, quantity, related_resource_type)
  SELECT $2, 'workflow_execution', 'compute', n.n, 'workflow_execution' FROM n WHERE n.n > 0
),
q AS (
  INSERT INTO usage_quotas AS uq (workspace_id, quota_key, quota_limit, quota_used, period_start, period_end, last_reset_at)
  SELECT $2, 'executions', lim.executions_limit, n.n, lim.period_start, lim.period_end, now()
  FROM n, lim WHERE n.n > 0 AND lim.executions_limit IS NOT NULL
  ON CONFLICT (workspace_id, quota_key, period_start) DO UPDATE SET quota_used = uq.quota_used + EXCLUDED.quota_used
  RETURNING uq.quota_used, uq.quota_limit
),
warn AS (
  INSERT INTO usage_events (workspace_id, event_type, event_category, is_billable, metadata)
  SELECT $2, 'QUOTA_WARNING', 'api', false, jsonb_build_object('quota', 'executions', 'used', q.quota_used, 'limit', q.quota_limit)
  FROM q, n WHERE q.quota_used >= q.quota_limit AND q.quota_used - n.n < q.quota_limit
),
progress AS (
  UPDATE workflow_schedules SET
    fire_tick_at = CASE WHEN $13 THEN NULL ELSE )sql" FT_TS(4) R"sql( END,
    fire_after_created = CASE WHEN $13 THEN NULL ELSE $14::timestamp END,
    fire_after_id = CASE WHEN $13 THEN NULL ELSE $15::uuid END,
    last_tick_at = CASE WHEN $13 THEN GREATEST(last_tick_at, )sql" FT_TS(4) R"sql() ELSE last_tick_at END,
    claimed_until = )sql" FT_TS(16) R"sql(,
    due_at = CASE WHEN due_at = '-infinity' THEN due_at ELSE )sql" FT_TS(16) R"sql( END,
    spec = $17, spec_since = )sql" FT_TS(18) R"sql(
  WHERE workflow_id = $1 AND claim_token = $3::uuid AND EXISTS (SELECT 1 FROM live)
  RETURNING 1
)
SELECT 'x', id::text FROM ex
UNION ALL SELECT 'c', '' FROM claim
UNION ALL SELECT 'l', '' FROM live
UNION ALL SELECT 'p', '' FROM progress
UNION ALL SELECT 'b', '' FROM billing WHERE blocked
)sql"};
  return s;
}

// The claim's end: the ticks done, the next tick (due then, unless a change marked the row), the
// timing seen. $1 workflow $2 token $3 last tick (ms) $4 next tick (ms) $5 spec $6 spec since (ms)
const pg::statement k_finish{"ft_schedule_finish", R"sql(
UPDATE workflow_schedules SET
  last_tick_at = GREATEST(last_tick_at, )sql" FT_TS(3) R"sql(),
  next_tick_at = )sql" FT_TS(4) R"sql(,
  due_at = CASE WHEN due_at = '-infinity' THEN due_at ELSE )sql" FT_TS(4) R"sql( END,
  fire_tick_at = NULL, fire_after_created = NULL, fire_after_id = NULL,
  claimed_by = NULL, claim_token = NULL, claimed_until = NULL,
  spec = $5, spec_since = )sql" FT_TS(6) R"sql(, last_error = NULL
WHERE workflow_id = $1 AND claim_token = $2::uuid
)sql"};

// A schedule with nothing to do until its workflow or workspace changes (which marks it due).
// $1 workflow $2 token $3 why it cannot fire (NULL: it is simply not active)
const pg::statement k_park{"ft_schedule_park", R"sql(
UPDATE workflow_schedules SET
  due_at = CASE WHEN due_at = '-infinity' THEN due_at ELSE NULL END,
  next_tick_at = NULL, fire_tick_at = NULL, fire_after_created = NULL, fire_after_id = NULL,
  claimed_by = NULL, claim_token = NULL, claimed_until = NULL, last_error = $3
WHERE workflow_id = $1 AND claim_token = $2::uuid
)sql"};

#undef FT_TS
#undef FT_MS

std::optional<std::int64_t> optional_ms(const pg::rows& r, int row, int col) {
  if (r.is_null(row, col)) return std::nullopt;
  return r.get_int(row, col);
}

pg::params& add_ms(pg::params& p, const std::optional<std::int64_t>& ms) {
  return ms ? p.add(*ms) : p.add_null();
}

schedule_note note(schedule_note::kind k, const schedule_firing& f, std::string message, std::int64_t count = 0) {
  return schedule_note{k, f.workflow_id, std::move(message), count};
}

std::string when(std::int64_t ms) { return runtime::format_iso8601_utc(ms); }

result<schedule_step> park(pg::connection& c, const schedule_firing& f, schedule_note::kind k, std::string why) {
  auto r = c.exec(k_park, pg::params{}.add(f.workflow_id).add(f.token).add(k == schedule_note::kind::invalid
                                                                                 ? std::optional<std::string>(why)
                                                                                 : std::nullopt));
  if (!r) return r.err();
  schedule_step s;
  s.done = true;
  s.notes.push_back(note(r->affected() == 1 ? k : schedule_note::kind::claim_lost, f, std::move(why)));
  return s;
}

result<schedule_step> finish(pg::connection& c, schedule_firing& f, schedule_step s) {
  pg::params p;
  p.add(f.workflow_id).add(f.token);
  add_ms(p, f.last_due);
  add_ms(p, f.next);
  p.add(f.spec ? std::optional<std::string>(f.spec->timing()) : f.spec_seen);
  add_ms(p, f.spec_since_ms);
  auto r = c.exec(k_finish, p);
  if (!r) return r.err();
  if (r->affected() != 1) s.notes.push_back(note(schedule_note::kind::claim_lost, f, "another node took the schedule over"));
  s.done = true;
  return s;
}

bool reads_custom_fields(const runtime::condition& filter) {
  for (const auto* v : filter.variables())
    if (v->root == runtime::var_root::lead_field) return true;
  return false;
}

// The first step: reads what the schedule asks for now and which ticks are due.
result<schedule_step> prepare(pg::connection& c, schedule_firing& f, const schedule_options& o, std::int64_t now_ms) {
  using k = schedule_note::kind;
  if (f.deleted || f.status != "active")
    return park(c, f, k::parked, "the workflow is " + std::string(f.deleted ? "deleted" : f.status));
  auto ws = find_workspace(c, f.workspace_id);
  if (!ws) {
    if (ws.err().code == error_code::not_found) return park(c, f, k::parked, "the workspace is deleted");
    return ws.err();
  }
  if (!ws->is_active) return park(c, f, k::parked, "the workspace is not active");
  if (!f.graph) return park(c, f, k::invalid, "the workflow has no stored version " + std::to_string(f.version));
  auto source = runtime::import_react_flow(std::string_view(*f.graph));
  if (!source) return park(c, f, k::invalid, "the stored graph cannot be read: " + source.err().message);
  auto compiled = runtime::compile(*source, runtime::config_options{o.zones});
  if (!compiled.ok()) {
    std::string why = "the stored graph does not compile";
    for (const auto& p : compiled.problems)
      if (p.level == runtime::problem::severity::error) {
        why += ": " + (p.field.empty() ? "" : p.field + ": ") + p.message;
        break;
      }
    return park(c, f, k::invalid, why);
  }
  auto spec = domain::schedule_of(*source, *compiled.graph, ws->timezone, o.zones);
  if (!spec) return park(c, f, k::invalid, spec.err().message);
  if (!*spec) return park(c, f, k::parked, "the workflow has no schedule trigger");
  f.spec = std::make_shared<const domain::schedule_spec>(std::move(**spec));
  f.reads_fields = f.spec->lead_filter && reads_custom_fields(*f.spec->lead_filter);

  auto node = c.exec("SELECT id::text FROM workflow_nodes WHERE workflow_id = $1 AND react_flow_node_id = $2",
                     pg::params{}.add(f.workflow_id).add(f.spec->trigger_node));
  if (!node) return node.err();
  if (node->empty()) return park(c, f, k::invalid, "the schedule trigger '" + f.spec->trigger_node + "' has no node row");
  f.trigger_node_id = node->get(0, 0);
  f.quotas = domain::quota_limits_from_plan(ws->plan_quotas, ws->period_start, ws->period_end);
  f.env.workflow_id = f.workflow_id;
  f.env.workflow_name = f.workflow_name;
  f.env.workspace_id = ws->id;
  f.env.workspace_name = ws->name;
  f.env.owner_email = ws->owner_email;
  if (ws->timezone == f.spec->zone_name) f.env.zone = f.spec->zone;
  else if (auto z = o.zones ? o.zones->get(ws->timezone) : result<std::shared_ptr<const runtime::time_zone>>(runtime::time_zone::utc()); z)
    f.env.zone = *z;

  // A changed cron or zone counts its ticks from now; the first plan from the activation.
  auto timing = f.spec->timing();
  if (f.spec_seen && *f.spec_seen != timing) f.spec_since_ms = now_ms;
  f.spec_seen = timing;

  domain::tick_baseline base{f.activated_ms, f.spec_since_ms, f.last_tick_ms};
  auto plan = domain::plan_ticks(f.spec->cron, *f.spec->zone, base, now_ms, o.catch_up_ticks, o.on_time_ms);
  schedule_step s;
  if (plan.skipped > 0)
    s.notes.push_back(note(k::skipped, f,
                           (plan.skipped_exact ? "" : "at least ") + std::to_string(plan.skipped) + " missed tick" +
                               (plan.skipped == 1 && plan.skipped_exact ? "" : "s") + " skipped, " + when(*plan.first_skipped) +
                               (plan.skipped == 1 ? "" : " to " + when(*plan.last_skipped)) + " (schedule_catch_up_ticks " +
                               std::to_string(o.catch_up_ticks) + ")",
                           plan.skipped));
  // A tick a lapsed claim left half done goes on first, unless the workflow was re-activated
  // (or its timing changed) since.
  auto counts = [&](std::int64_t t) {
    return t >= f.activated_ms.value_or(now_ms) && t >= f.spec_since_ms.value_or(t) && t > f.last_tick_ms.value_or(t - 1);
  };
  if (f.fire_tick_ms && counts(*f.fire_tick_ms)) {
    f.ticks.push_back(*f.fire_tick_ms);
  } else {
    f.cursor_created.reset();
    f.cursor_id.reset();
  }
  for (auto t : plan.fire)
    if (f.ticks.empty() || t > f.ticks.back()) f.ticks.push_back(t);
  f.last_due = plan.last_due;
  if (f.last_tick_ms && (!f.last_due || *f.last_due < *f.last_tick_ms)) f.last_due = f.last_tick_ms;
  f.next = plan.next;
  f.prepared = true;
  if (f.ticks.empty()) return finish(c, f, std::move(s));
  return s;
}

struct lead_batch {
  std::vector<std::string> ids;  ///< matching leads
  std::optional<std::string> last_created, last_id;
  std::size_t read = 0;
};

result<lead_batch> next_leads(pg::connection& c, const schedule_firing& f, const schedule_options& o, std::int64_t tick_ms,
                              const json::value& trigger) {
  auto page = c.exec(k_lead_page, pg::params{}
                                      .add(f.workspace_id)
                                      .add(f.cursor_created.value_or("-infinity"))
                                      .add(f.cursor_id.value_or("00000000-0000-0000-0000-000000000000"))
                                      .add(static_cast<std::int64_t>(o.lead_batch))
                                      .add(f.reads_fields));
  if (!page) return page.err();
  lead_batch out;
  out.read = static_cast<std::size_t>(page->size());
  for (int i = 0; i < page->size(); ++i) {
    runtime::lead l;
    l.id = page->get(i, 0);
    l.email = page->get(i, 2);
    l.name = page->get_optional(i, 3).value_or("");
    l.company_name = page->get_optional(i, 4).value_or("");
    l.phone = page->get_optional(i, 5).value_or("");
    l.status = page->get(i, 6);
    l.source = page->get(i, 7);
    l.score = page->get_int(i, 8);
    boost::system::error_code ec;
    auto tags = json::parse(page->get(i, 9), ec);
    if (!ec && tags.is_array())
      for (const auto& t : tags.as_array())
        if (t.is_string()) l.tags.emplace_back(t.as_string());
    l.assigned_to = page->get_optional(i, 10).value_or("");
    l.unsubscribed = page->get_bool(i, 11);
    if (!page->is_null(i, 12)) {
      auto fields = json::parse(page->get(i, 12), ec);
      if (!ec && fields.is_object()) l.fields = std::move(fields.as_object());
    }
    // The tick is the evaluation's time, so every node judges a lead alike.
    runtime::eval_context ctx{l, trigger, f.env, tick_ms};
    if (f.spec->lead_filter->evaluate(ctx)) out.ids.push_back(l.id);
    out.last_created = std::string(page->get(i, 1));
    out.last_id = l.id;
  }
  return out;
}

// Starts one batch of the current tick.
result<schedule_step> fire_batch(pg::connection& c, schedule_firing& f, const schedule_options& o, std::int64_t now_ms) {
  using k = schedule_note::kind;
  const std::int64_t tick = f.ticks.front();
  const std::string data = domain::tick_trigger_data(*f.spec, tick);
  pg::array_builder leads, keys;
  bool tick_done = true;
  std::optional<std::string> next_created, next_id;
  if (!f.spec->lead_filter) {
    leads.add_null();
    keys.add(domain::tick_key(f.workflow_id, tick));
  } else {
    auto batch = next_leads(c, f, o, tick, json::parse(data));
    if (!batch) return batch.err();
    for (const auto& id : batch->ids) {
      leads.add(id);
      keys.add(domain::tick_key(f.workflow_id, tick, id));
    }
    tick_done = batch->read < o.lead_batch;
    next_created = batch->last_created;
    next_id = batch->last_id;
  }
  pg::params p;
  p.add(f.workflow_id).add(f.workspace_id).add(f.token).add(tick).add(leads.finish()).add(keys.finish()).add(f.trigger_node_id)
      .add(data).add(f.version);
  f.quotas.executions ? p.add(*f.quotas.executions) : p.add_null();
  p.add(f.quotas.period_start).add(f.quotas.period_end).add(tick_done).add(next_created).add(next_id)
      .add(now_ms + static_cast<std::int64_t>(o.lease.count()))
      .add(f.spec->timing());
  add_ms(p, f.spec_since_ms);
  auto r = c.exec(fire_statement(), p);
  schedule_step s;
  if (!r) {
    if (r.err().subject != "usage_quotas_usage_within_limit") return r.err();
    // The plan allows no more executions this period: the tick stops here, and so do the
    // ticks after it (they would meet the same quota).
    s.notes.push_back(note(k::quota_exceeded, f,
                           "the workspace's executions quota is used up; the tick of " + when(tick) + " started " +
                               std::to_string(f.started_in_tick) + " executions and stops",
                           f.started_in_tick));
    f.ticks.clear();
    f.started_in_tick = 0;
    return finish(c, f, std::move(s));
  }
  bool claimed = false, live = false, progressed = false, overdue = false;
  for (int i = 0; i < r->size(); ++i) {
    auto tag = r->get(i, 0);
    if (tag == "x") s.started.emplace_back(r->get(i, 1));
    else if (tag == "c") claimed = true;
    else if (tag == "l") live = true;
    else if (tag == "p") progressed = true;
    else if (tag == "b") overdue = true;
  }
  f.started_in_tick += static_cast<std::int64_t>(s.started.size());
  if (!claimed) {
    s.notes.push_back(note(k::claim_lost, f, "another node took the schedule over during the tick of " + when(tick)));
    s.done = true;
    return s;
  }
  if (!live || !progressed) {
    // Paused, deleted or re-activated meanwhile: no more of this claim's ticks. The change marked
    // the row due, so the next claim re-plans (or parks) it. A workspace past due beyond its
    // grace takes no trigger, scheduled ones included: its ticks pass unfired.
    if (overdue)
      s.notes.push_back(note(k::payment_overdue, f,
                             "the workspace's payment is overdue beyond its grace period; the tick of " + when(tick) +
                                 " starts nothing more"));
    f.ticks.clear();
    f.started_in_tick = 0;
    return finish(c, f, std::move(s));
  }
  if (tick_done) {
    s.notes.push_back(note(k::fired, f, "tick " + when(tick) + " fired", f.started_in_tick));
    f.ticks.pop_front();
    f.started_in_tick = 0;
    f.cursor_created.reset();
    f.cursor_id.reset();
    if (f.ticks.empty()) return finish(c, f, std::move(s));
  } else {
    f.cursor_created = next_created;
    f.cursor_id = next_id;
  }
  return s;
}

}  // namespace

result<std::vector<schedule_firing>> claim_schedules(pg::connection& c, const schedule_options& o, std::int64_t now_ms) {
  auto r = c.exec(k_claim, pg::params{}
                               .add(now_ms)
                               .add(static_cast<std::int64_t>(o.claim_batch))
                               .add(o.owner)
                               .add(static_cast<std::int64_t>(o.lease.count())));
  if (!r) return r.err();
  std::vector<schedule_firing> out;
  for (int i = 0; i < r->size(); ++i) {
    schedule_firing f;
    f.workflow_id = r->get(i, 0);
    f.workspace_id = r->get(i, 1);
    f.token = r->get(i, 2);
    f.last_tick_ms = optional_ms(*r, i, 3);
    f.fire_tick_ms = optional_ms(*r, i, 4);
    f.cursor_created = r->get_optional(i, 5);
    f.cursor_id = r->get_optional(i, 6);
    f.spec_seen = r->get_optional(i, 7);
    f.spec_since_ms = optional_ms(*r, i, 8);
    f.workflow_name = r->get(i, 9);
    f.status = r->get(i, 10);
    f.deleted = r->get_bool(i, 11);
    f.version = static_cast<int>(r->get_int(i, 12));
    f.activated_ms = optional_ms(*r, i, 13);
    f.graph = r->get_optional(i, 14);
    out.push_back(std::move(f));
  }
  return out;
}

result<schedule_step> advance_schedule(pg::connection& c, schedule_firing& f, const schedule_options& o, std::int64_t now_ms) {
  if (!f.prepared) return prepare(c, f, o, now_ms);
  if (f.ticks.empty()) return finish(c, f, {});
  return fire_batch(c, f, o, now_ms);
}

result<schedule_round> fire_due_schedules(pg::connection& c, const schedule_options& o, std::int64_t now_ms) {
  schedule_round round;
  for (;;) {
    auto claimed = claim_schedules(c, o, now_ms);
    if (!claimed) return claimed.err();
    for (auto& f : *claimed) {
      ++round.schedules;
      for (;;) {
        auto step = advance_schedule(c, f, o, now_ms);
        if (!step) return step.err();
        round.started.insert(round.started.end(), step->started.begin(), step->started.end());
        round.notes.insert(round.notes.end(), step->notes.begin(), step->notes.end());
        if (step->done) break;
      }
    }
    if (claimed->size() < o.claim_batch) return round;
  }
}

}  // namespace flowtrack::storage
