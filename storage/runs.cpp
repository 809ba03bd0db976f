#include "storage/runs.hpp"

#include <algorithm>
#include <map>
#include <set>


#include "storage/pg/array.hpp"
#include "storage/run_rows.hpp"
#include "storage/webhook_outbox.hpp"

namespace flowtrack::storage {
namespace {

// The outbox (webhook_outbox.hpp), for the records that passed their fence: lead.status_changed
// when a record changes its lead's status, execution.completed|failed when it ends the run (the
// fence lets that happen once), email.sent for each EMAIL_SENT lead event it carries ($44 to
// $48: run_rows' event arrays). $3 holds the records' workspaces.
std::string webhook_sql() {
  return detail::outbox_ctes("ep.workspace_id = ANY($3::uuid[])", R"sql(
    SELECT okk.workspace_id, 'lead.status_changed',
           jsonb_build_object('lead_id', okk.lead_id, 'old_status', o.status, 'new_status', lc.status,
                              'execution_id', okk.id, 'workflow_id', okk.workflow_id)
    FROM okk JOIN lc ON lc.idx = okk.idx JOIN wh_lold o ON o.id = okk.lead_id
    WHERE lc.status IS DISTINCT FROM o.status
    UNION ALL
    SELECT okk.workspace_id, 'execution.' || okk.status,
           jsonb_build_object('execution_id', okk.id, 'workflow_id', okk.workflow_id, 'lead_id', okk.lead_id,
                              'status', okk.status, 'error', okk.error_message)
    FROM okk WHERE okk.status IN ('completed', 'failed') AND okk.workspace_id IN (SELECT workspace_id FROM wh_ep)
    UNION ALL
    SELECT okk.workspace_id, 'email.sent',
           jsonb_build_object('lead_id', okk.lead_id, 'execution_id', okk.id, 'to', m.metadata->>'to',
                              'subject', COALESCE(m.metadata->>'subject', regexp_replace(m.description, '^Email sent: ', '')))
    FROM unnest($44::int[], $45::text[], $47::text[], $48::jsonb[]) AS m(idx, event_type, description, metadata)
    JOIN okk ON okk.idx = m.idx
    WHERE m.event_type = 'EMAIL_SENT' AND okk.workspace_id IN (SELECT workspace_id FROM wh_ep)
  )sql");
}

// One statement per round. `ok` holds the executions whose fence passed; every other write
// joins it, so a fenced-out record writes nothing.
const pg::statement k_write_runs{"ft_write_runs", R"sql(
WITH u AS (
  SELECT * FROM unnest($1::int[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::bigint[], $7::text[],
                       $8::timestamp[], $9::timestamp[], $10::int[], $11::jsonb[], $12::text[], $13::jsonb[],
                       $14::timestamp[], $15::timestamp[], $16::timestamp[], $17::int[], $56::int[])
    AS t(idx, id, workspace_id, workflow_id, lead_id, token, status, started_at, completed_at, duration_ms, output_data,
         error_message, checkpoint, resume_at, lock_acquired_at, lock_released_at, emails_sent, seq)
),
ok AS (
  UPDATE workflow_executions e SET
    status = u.status,
    started_at = COALESCE(e.started_at, u.started_at),
    completed_at = u.completed_at,
    duration_ms = u.duration_ms,
    output_data = COALESCE(u.output_data, e.output_data),
    error_message = u.error_message,
    checkpoint = COALESCE(u.checkpoint, e.checkpoint),
    resume_at = u.resume_at,
    lock_acquired_at = COALESCE(u.lock_acquired_at, e.lock_acquired_at),
    lock_released_at = u.lock_released_at,
    lock_token = u.token,
    record_seq = u.seq
  FROM u
  WHERE e.id = u.id AND e.workspace_id = u.workspace_id
    AND (COALESCE(e.lock_token, 0) < u.token OR (e.lock_token = u.token AND e.record_seq < u.seq))
    AND e.status IN ('queued', 'running', 'paused')
  RETURNING e.id
),
okk AS (SELECT u.* FROM u JOIN ok ON ok.id = u.id),
lc AS (
  SELECT * FROM unnest($18::int[], $19::text[], $20::jsonb[], $21::jsonb[], $22::bigint[], $23::uuid[], $24::text[],
                       $25::text[], $26::text[], $27::bool[])
    AS t(idx, status, add_tags, remove_tags, score_delta, assigned_to, name, company_name, phone, email_sent)
),
leads_done AS (
  UPDATE leads l SET
    status = COALESCE(lc.status, l.status),
    tags = CASE WHEN jsonb_array_length(lc.add_tags) + jsonb_array_length(lc.remove_tags) = 0 THEN l.tags ELSE
      ARRAY(SELECT x FROM unnest(COALESCE(l.tags, '{}'::text[])) WITH ORDINALITY a(x, o)
            WHERE NOT x = ANY(ARRAY(SELECT jsonb_array_elements_text(lc.remove_tags)))
            UNION ALL
            SELECT DISTINCT y FROM jsonb_array_elements_text(lc.add_tags) y
            WHERE NOT y = ANY(COALESCE(l.tags, '{}'::text[]))) END,
    score = COALESCE(l.score, 0) + lc.score_delta,
    assigned_to_user_id = COALESCE(lc.assigned_to, l.assigned_to_user_id),
    name = COALESCE(lc.name, l.name),
    company_name = COALESCE(lc.company_name, l.company_name),
    phone = COALESCE(lc.phone, l.phone),
    last_activity_at = now(),
    last_email_sent_at = CASE WHEN lc.email_sent THEN now() ELSE l.last_email_sent_at END
  FROM lc JOIN okk ON okk.idx = lc.idx
  WHERE l.id = okk.lead_id AND l.workspace_id = okk.workspace_id
),
fields AS (
  INSERT INTO lead_field_data AS d (lead_id, form_field_id, value)
  SELECT okk.lead_id, f.field_id, f.value
  FROM unnest($28::int[], $29::uuid[], $30::text[]) AS f(idx, field_id, value) JOIN okk ON okk.idx = f.idx
  WHERE okk.lead_id IS NOT NULL
  ON CONFLICT (lead_id, form_field_id) DO UPDATE SET value = EXCLUDED.value
)
)sql" + run_rows::insert_sql("okk", 31) + R"sql(,
stats AS (
  INSERT INTO execution_stat_deltas (workflow_id, workspace_id, stat_date, finished, succeeded, failed, emails_sent,
                                     duration_ms_sum, leads_qualified, leads_won, last_finished_at)
  SELECT okk.workflow_id, okk.workspace_id, current_date,
         count(*) FILTER (WHERE okk.status IN ('completed', 'failed')),
         count(*) FILTER (WHERE okk.status = 'completed'),
         count(*) FILTER (WHERE okk.status = 'failed'),
         COALESCE(sum(okk.emails_sent), 0),
         COALESCE(sum(okk.duration_ms) FILTER (WHERE okk.status IN ('completed', 'failed')), 0),
         count(*) FILTER (WHERE lc.status = 'QUALIFIED'),
         count(*) FILTER (WHERE lc.status = 'WON'),
         CASE WHEN bool_or(okk.status IN ('completed', 'failed')) THEN now() END
  FROM okk LEFT JOIN lc ON lc.idx = okk.idx
  GROUP BY okk.workflow_id, okk.workspace_id
),
-- The current status of the leads whose status a record sets, locked so the old status is the one
-- leads_done overwrites; read only in workspaces with webhook endpoints. (PostgreSQL runs the
-- unread data-modifying CTEs last to first, so wh, which reads this, runs before leads_done; the
-- webhook_outbox test of a status change fails if that ever changes.)
wh_lold AS (
  SELECT l.id, l.status FROM leads l JOIN okk ON l.id = okk.lead_id AND l.workspace_id = okk.workspace_id
  JOIN lc ON lc.idx = okk.idx
  WHERE lc.status IS NOT NULL AND okk.workspace_id IN (SELECT ep.workspace_id FROM webhook_endpoints ep
    WHERE ep.workspace_id = ANY($3::uuid[]) AND ep.deleted_at IS NULL AND ep.is_active AND ep.disabled_at IS NULL)
  FOR UPDATE OF l
))sql" + webhook_sql() + R"sql(
SELECT idx FROM okk
)sql"};

void add_opt_int(pg::array_builder& b, const std::optional<int>& v) {
  v ? b.add(static_cast<std::int64_t>(*v)) : b.add_null();
}

pg::params run_params(const std::vector<domain::run_record>& records, const std::vector<std::size_t>& members) {
  pg::array_builder idx, id, ws, wf, lead, token, status, started, completed, duration, output, err, cp, resume, acq, rel,
      emails, seq;
  pg::array_builder l_idx, l_status, l_add, l_remove, l_score, l_assign, l_name, l_company, l_phone, l_email;
  pg::array_builder f_idx, f_field, f_value;
  run_rows rows;
  for (std::size_t m : members) {
    const domain::run_record& r = records[m];
    auto i = static_cast<std::int64_t>(m);
    idx.add(i);
    id.add(r.execution_id);
    ws.add(r.workspace_id);
    wf.add(r.workflow_id);
    lead.add_optional(r.lead_id);
    token.add(static_cast<std::int64_t>(r.lock_token));
    status.add(to_string(r.status));
    started.add_optional(r.started_at);
    completed.add_optional(r.completed_at);
    add_opt_int(duration, r.duration_ms);
    output.add_optional(r.output_data);
    err.add_optional(r.error_message);
    cp.add_optional(r.checkpoint);
    resume.add_optional(r.resume_at);
    acq.add_optional(r.lock_acquired_at);
    rel.add_optional(r.lock_released_at);
    emails.add(static_cast<std::int64_t>(r.emails_sent));
    seq.add(static_cast<std::int64_t>(r.seq));
    if (!r.lead.empty() || r.terminal()) {
      const auto& c = r.lead;
      l_idx.add(i);
      l_status.add_optional(c.status);
      l_add.add(json_list(c.add_tags));
      l_remove.add(json_list(c.remove_tags));
      l_score.add(c.score_delta);
      l_assign.add_optional(c.assigned_to);
      l_name.add_optional(c.name);
      l_company.add_optional(c.company_name);
      l_phone.add_optional(c.phone);
      l_email.add(std::string_view(c.email_sent ? "t" : "f"));
      for (const auto& f : c.fields) {
        f_idx.add(i);
        f_field.add(f.form_field_id);
        f_value.add(f.value);
      }
    }
    rows.add(i, r);
  }
  pg::params p{idx.finish(),       id.finish(),        ws.finish(),        wf.finish(),       lead.finish(),
               token.finish(),     status.finish(),    started.finish(),   completed.finish(), duration.finish(),
               output.finish(),    err.finish(),       cp.finish(),        resume.finish(),   acq.finish(),
               rel.finish(),       emails.finish(),    l_idx.finish(),     l_status.finish(), l_add.finish(),
               l_remove.finish(),  l_score.finish(),   l_assign.finish(),  l_name.finish(),   l_company.finish(),
               l_phone.finish(),   l_email.finish(),   f_idx.finish(),     f_field.finish(),  f_value.finish()};
  rows.append_to(p);  // $31 to $55
  p.add(seq.finish());
  return p;
}

// Rounds in which each lead (and each execution) appears once, so no UPDATE sees a row twice.
std::vector<std::vector<std::size_t>> rounds_of(const std::vector<domain::run_record>& records,
                                                const std::vector<std::size_t>& members) {
  std::vector<std::vector<std::size_t>> rounds;
  std::map<std::pair<char, std::string_view>, std::size_t> seen;  // ('x', execution) and ('l', lead)
  for (std::size_t m : members) {
    const auto& r = records[m];
    std::size_t round = seen[{'x', r.execution_id}];
    if (r.lead_id) round = std::max(round, seen[{'l', *r.lead_id}]);
    seen[{'x', r.execution_id}] = round + 1;
    if (r.lead_id) seen[{'l', *r.lead_id}] = round + 1;
    if (rounds.size() <= round) rounds.resize(round + 1);
    rounds[round].push_back(m);
  }
  return rounds;
}

// One pipeline (one implicit transaction): the fence first when there is one, then a statement
// per round.
result<void> write_members(pg::connection& c, const std::vector<domain::run_record>& records,
                           const std::vector<std::size_t>& members, std::vector<result<bool>>& out,
                           const std::string& holder, const std::vector<shard_leases::held_shard>& fence) {
  std::vector<pg::pipelined> commands;
  if (!fence.empty()) commands.push_back(shard_leases::fence_command(holder, fence));
  for (const auto& round : rounds_of(records, members)) commands.push_back({&k_write_runs, run_params(records, round)});
  auto results = c.pipeline(commands);
  if (!results) return results.err();
  for (std::size_t m : members) out[m] = false;
  for (std::size_t i = fence.empty() ? 0 : 1; i < results->size(); ++i) {
    const auto& rows = (*results)[i];
    for (int r = 0; r < rows.size(); ++r) out[static_cast<std::size_t>(rows.get_int(r, 0))] = true;
  }
  return {};
}

// The distinct fences of `members` (epoch 0: unfenced, left out), in shard order.
std::vector<shard_leases::held_shard> fences_of(const run_fences& fences, const std::vector<std::size_t>& members) {
  std::set<std::pair<int, std::int64_t>> distinct;
  for (std::size_t m : members)
    if (m < fences.by_record.size() && fences.by_record[m].epoch != 0)
      distinct.emplace(fences.by_record[m].shard, fences.by_record[m].epoch);
  std::vector<shard_leases::held_shard> out;
  for (const auto& [s, e] : distinct) out.push_back({s, e});
  return out;
}

// Writes `members` fenced; when the fence refuses, the records of the shards no longer held
// answer false and the rest is tried again without them.
result<void> write_fenced(pg::connection& c, const std::vector<domain::run_record>& records, std::vector<std::size_t> members,
                          std::vector<result<bool>>& out, const run_fences& fences) {
  for (;;) {
    auto fence = fences_of(fences, members);
    auto written = write_members(c, records, members, out, fences.holder, fence);
    if (written.ok() || !shard_leases::fenced_out(written.err())) return written;
    // Which of them are lost: each checked alone (outside a transaction, so the check proves
    // only that the shard is lost now; a lost epoch never comes back).
    std::set<std::pair<int, std::int64_t>> lost;
    for (const auto& h : fence) {
      auto held = shard_leases::fence(c, fences.holder, h.shard, h.epoch);
      if (!held.ok() && shard_leases::fenced_out(held.err())) lost.emplace(h.shard, h.epoch);
      else if (!held.ok()) return held.err();
    }
    if (lost.empty()) return shard_leases::fence_error(written.err());  // refused, yet each passes: let the caller retry
    std::vector<std::size_t> rest;
    for (std::size_t m : members) {
      const auto& f = fences.by_record[m];
      if (f.epoch != 0 && lost.count({f.shard, f.epoch})) out[m] = false;
      else rest.push_back(m);
    }
    if (rest.empty()) return {};
    members = std::move(rest);
  }
}

}  // namespace

namespace detail {
const pg::statement& write_runs_statement() { return k_write_runs; }
pg::params write_runs_params(const std::vector<domain::run_record>& records, const std::vector<std::size_t>& members) {
  return run_params(records, members);
}
}  // namespace detail

std::vector<result<bool>> write_runs(pg::connection& c, const std::vector<domain::run_record>& records,
                                     const run_fences& fences) {
  std::vector<result<bool>> out(records.size(), result<bool>(false));
  if (records.empty()) return out;
  std::vector<std::size_t> all(records.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  auto whole = write_fenced(c, records, all, out, fences);
  if (whole.ok()) return out;
  if (whole.err().transient() || records.size() == 1 || shard_leases::fenced_out(whole.err())) {
    for (auto& o : out) o = shard_leases::fence_error(whole.err());
    return out;
  }
  for (std::size_t i = 0; i < records.size(); ++i)
    if (auto r = write_fenced(c, records, {i}, out, fences); !r) out[i] = shard_leases::fence_error(r.err());
  return out;
}

result<std::size_t> fold_stat_deltas(pg::connection& c) {
  // The DELETE locks the rows it takes: a second node folding at the same time waits for them,
  // then finds them gone, so no delta is counted twice.
  auto r = c.exec(R"sql(
WITH d AS (DELETE FROM execution_stat_deltas RETURNING *),
counters AS (
  UPDATE workflows w SET
    total_executions = w.total_executions + s.finished,
    successful_executions = w.successful_executions + s.succeeded,
    failed_executions = w.failed_executions + s.failed,
    last_executed_at = GREATEST(w.last_executed_at, s.last_finished_at)
  FROM (SELECT workflow_id, workspace_id, sum(finished)::int AS finished, sum(succeeded)::int AS succeeded,
               sum(failed)::int AS failed, max(last_finished_at) AS last_finished_at
        FROM d GROUP BY workflow_id, workspace_id HAVING sum(finished) > 0) s
  WHERE w.id = s.workflow_id AND w.workspace_id = s.workspace_id
),
daily AS (
  INSERT INTO workspace_daily_stats AS x (workspace_id, stat_date, total_executions, successful_executions,
                                          failed_executions, emails_sent, avg_execution_duration_ms, leads_qualified, leads_won)
  SELECT workspace_id, stat_date, sum(finished)::int, sum(succeeded)::int, sum(failed)::int, sum(emails_sent)::int,
         (sum(duration_ms_sum) / NULLIF(sum(finished), 0))::int, sum(leads_qualified)::int, sum(leads_won)::int
  FROM d GROUP BY workspace_id, stat_date
  ON CONFLICT (workspace_id, stat_date) DO UPDATE SET
    total_executions = COALESCE(x.total_executions, 0) + EXCLUDED.total_executions,
    successful_executions = COALESCE(x.successful_executions, 0) + EXCLUDED.successful_executions,
    failed_executions = COALESCE(x.failed_executions, 0) + EXCLUDED.failed_executions,
    emails_sent = COALESCE(x.emails_sent, 0) + EXCLUDED.emails_sent,
    leads_qualified = COALESCE(x.leads_qualified, 0) + EXCLUDED.leads_qualified,
    leads_won = COALESCE(x.leads_won, 0) + EXCLUDED.leads_won,
    avg_execution_duration_ms = CASE
      WHEN EXCLUDED.total_executions = 0 THEN x.avg_execution_duration_ms
      WHEN COALESCE(x.total_executions, 0) = 0 THEN EXCLUDED.avg_execution_duration_ms
      ELSE ((COALESCE(x.avg_execution_duration_ms, 0)::bigint * x.total_executions
             + COALESCE(EXCLUDED.avg_execution_duration_ms, 0)::bigint * EXCLUDED.total_executions)
            / (x.total_executions + EXCLUDED.total_executions))::int END
)
SELECT count(*) FROM d
)sql");
  if (!r) return r.err();
  return static_cast<std::size_t>(r->get_int(0, 0));
}

result<execution_state> load_execution(pg::connection& c, std::string_view execution_id) {
  auto r = c.exec(R"sql(
SELECT e.id, e.workspace_id, e.workflow_id, e.workflow_version, e.lead_id, e.status, e.checkpoint::text,
       e.trigger_data::text, e.trigger_node_id,
       (extract(epoch FROM e.resume_at) * 1000)::bigint, (extract(epoch FROM e.created_at) * 1000)::bigint,
       CASE WHEN l.id IS NULL THEN NULL ELSE jsonb_build_object(
         'id', l.id, 'email', l.email, 'name', l.name, 'company_name', l.company_name, 'phone', l.phone,
         'status', l.status, 'source', l.source, 'score', COALESCE(l.score, 0), 'tags', COALESCE(to_jsonb(l.tags), '[]'),
         'assigned_to', l.assigned_to_user_id, 'unsubscribed', l.unsubscribed_at IS NOT NULL,
         'fields', COALESCE((SELECT jsonb_object_agg(f.field_key, d.value) FROM lead_field_data d
                             JOIN form_fields f ON f.id = d.form_field_id WHERE d.lead_id = l.id), '{}'::jsonb))::text END,
       e.output_data::text
FROM workflow_executions e LEFT JOIN leads l ON l.id = e.lead_id AND l.workspace_id = e.workspace_id
WHERE e.id = $1::uuid)sql",
                  pg::params{}.add(execution_id));
  if (!r) return r.err();
  if (r->empty()) return make_error(error_code::not_found, "no execution " + std::string(execution_id), "execution");
  execution_state s;
  s.id = r->get(0, 0);
  s.workspace_id = r->get(0, 1);
  s.workflow_id = r->get(0, 2);
  if (!r->is_null(0, 3)) s.workflow_version = static_cast<int>(r->get_int(0, 3));
  s.lead_id = r->get_optional(0, 4);
  s.status = domain::parse_execution_status(r->get(0, 5)).value_or(domain::execution_status::failed);
  s.checkpoint = r->get_optional(0, 6);
  s.trigger_data = r->get_optional(0, 7);
  s.trigger_node_id = r->get_optional(0, 8);
  if (!r->is_null(0, 9)) s.resume_at_ms = r->get_int(0, 9);
  s.created_at_ms = r->get_int(0, 10);
  s.lead_json = r->get_optional(0, 11).value_or("{}");
  s.output_data = r->get_optional(0, 12);
  return s;
}

result<std::string> workspace_of_execution(pg::connection& c, std::string_view execution_id) {
  auto r = c.exec("SELECT workspace_id FROM workflow_executions WHERE id = $1::uuid", pg::params{}.add(execution_id));
  if (!r) return r.err();
  if (r->empty()) return make_error(error_code::not_found, "no execution " + std::string(execution_id), "execution");
  return std::string(r->get(0, 0));
}

result<std::uint64_t> max_lock_token(pg::connection& c) {
  auto r = c.exec("SELECT COALESCE(max(lock_token), 0) FROM workflow_executions");
  if (!r) return r.err();
  return static_cast<std::uint64_t>(r->get_int(0, 0));
}

result<std::vector<std::pair<std::string, std::int64_t>>> paused_executions(pg::connection& c, std::size_t limit,
                                                                           std::string_view after_id) {
  auto r = c.exec(
      "SELECT id, (extract(epoch FROM COALESCE(resume_at, now())) * 1000)::bigint FROM workflow_executions"
      " WHERE status = 'paused' AND id > $1::uuid ORDER BY id LIMIT $2",
      pg::params{}.add(after_id.empty() ? std::string_view("00000000-0000-0000-0000-000000000000") : after_id)
          .add(static_cast<std::int64_t>(limit)));
  if (!r) return r.err();
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (int i = 0; i < r->size(); ++i) out.emplace_back(std::string(r->get(i, 0)), r->get_int(i, 1));
  return out;
}

result<std::vector<std::string>> stale_executions(pg::connection& c, std::int64_t stale_ms, std::size_t limit) {
  auto r = c.exec(
      "SELECT id FROM workflow_executions WHERE updated_at < now() - make_interval(secs => $1::double precision / 1000)"
      " AND (status IN ('queued', 'running')"
      "      OR (status = 'paused' AND resume_at < now() - make_interval(secs => $1::double precision / 1000)))"
      " ORDER BY updated_at LIMIT $2",
      pg::params{}.add(stale_ms).add(static_cast<std::int64_t>(limit)));
  if (!r) return r.err();
  std::vector<std::string> out;
  for (int i = 0; i < r->size(); ++i) out.emplace_back(r->get(i, 0));
  return out;
}

result<std::vector<adoptable_execution>> executions_to_adopt(pg::connection& c, const std::vector<int>& shards,
                                                             std::size_t limit) {
  std::vector<adoptable_execution> out;
  if (shards.empty()) return out;
  auto r = c.exec(
      "SELECT id::text, workspace_id::text FROM workflow_executions WHERE ft_shard_of(workspace_id) = ANY($1::int[])"
      " AND (status IN ('queued', 'running') OR (status = 'paused' AND resume_at <= now()))"
      " ORDER BY updated_at LIMIT $2",
      pg::params{}.add(pg::int_array(shards)).add(static_cast<std::int64_t>(limit)));
  if (!r) return r.err();
  for (int i = 0; i < r->size(); ++i) out.push_back({std::string(r->get(i, 0)), std::string(r->get(i, 1))});
  return out;
}

result<bool> fail_execution(pg::connection& c, std::string_view execution_id, std::string_view reason) {
  auto r = c.exec(
      "UPDATE workflow_executions SET status = 'failed', completed_at = now(), resume_at = NULL, error_message = $2"
      " WHERE id = $1::uuid AND status IN ('queued', 'running', 'paused')",
      pg::params{}.add(execution_id).add(reason));
  if (!r) return r.err();
  return r->affected() == 1;
}

result<bool> cancel_execution(pg::connection& c, std::string_view execution_id) {
  auto r = c.exec(
      "UPDATE workflow_executions SET status = 'cancelled', completed_at = now(), resume_at = NULL,"
      " error_message = 'cancelled by an operator' WHERE id = $1::uuid AND status IN ('queued', 'running', 'paused')",
      pg::params{}.add(execution_id));
  if (!r) return r.err();
  return r->affected() == 1;
}

result<bool> retry_execution(pg::connection& c, std::string_view execution_id) {
  auto r = c.exec(
      "UPDATE workflow_executions SET status = 'queued', completed_at = NULL, error_message = NULL,"
      " retry_count = COALESCE(retry_count, 0) + 1 WHERE id = $1::uuid AND status = 'failed'",
      pg::params{}.add(execution_id));
  if (!r) return r.err();
  return r->affected() == 1;
}

}  // namespace flowtrack::storage
