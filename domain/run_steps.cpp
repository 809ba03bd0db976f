#include "domain/run_steps.hpp"

#include <chrono>

#include <boost/json.hpp>

#include "domain/ids.hpp"
#include "runtime/text.hpp"

namespace flowtrack::domain {
namespace json = boost::json;
namespace {

// The lead change, and its automation event, of a lead-mutating action.
void record_patch(run_record& out, const workflow_snapshot& wf, const runtime::lead_patch& p,
                  const runtime::lead& before) {
  auto& lc = out.lead;
  json::object meta = p.to_json();
  lead_event_write ev;
  using kind = runtime::lead_patch::kind;
  auto drop = [](std::vector<std::string>& v, const std::string& x) { std::erase(v, x); };
  switch (p.what) {
    case kind::set_status:
      lc.status = p.value;
      ev.event_type = "STATUS_CHANGED";
      ev.description = "Status changed from " + before.status + " to " + p.value;
      meta["from"] = before.status;
      break;
    case kind::add_tag:
      drop(lc.remove_tags, p.value);
      lc.add_tags.push_back(p.value);
      ev.event_type = "TAG_ADDED";
      ev.description = "Tag added: " + p.value;
      break;
    case kind::remove_tag:
      drop(lc.add_tags, p.value);
      lc.remove_tags.push_back(p.value);
      ev.event_type = "TAG_REMOVED";
      ev.description = "Tag removed: " + p.value;
      break;
    case kind::set_field:
      if (p.key == "name") lc.name = p.value;
      else if (p.key == "company_name") lc.company_name = p.value;
      else if (p.key == "phone") lc.phone = p.value;
      else if (p.key == "status") lc.status = p.value;
      else if (auto it = wf.field_ids.find(p.key); it != wf.field_ids.end())
        lc.fields.push_back({it->second, p.value});
      ev.event_type = "FIELD_UPDATED";
      ev.description = "Field " + p.key + " set";
      break;
    case kind::add_score:
      lc.score_delta += p.delta;
      ev.event_type = "SCORE_CHANGED";
      ev.description = "Score changed by " + std::to_string(p.delta);
      break;
    case kind::assign:
      if (runtime::is_uuid(p.value)) lc.assigned_to = p.value;
      ev.event_type = "LEAD_ASSIGNED";
      ev.description = "Lead assigned";
      break;
  }
  meta["workflowId"] = wf.id;
  ev.metadata = json::serialize(meta);
  out.events.push_back(std::move(ev));
}

}  // namespace

runtime::run_env make_env(const run_start& s) {
  runtime::run_env env;
  env.execution_id = s.execution_id;
  env.workflow_id = s.workflow->id;
  env.workflow_name = s.workflow->name;
  env.workspace_id = s.workspace->info.id;
  env.workspace_name = s.workspace->info.name;
  env.owner_email = s.workspace->info.owner_email;
  env.zone = s.workspace->zone ? s.workspace->zone : runtime::time_zone::utc();
  return env;
}

step_write& add_step(run_record& out, const workflow_snapshot& wf, const runtime::checkpoint& cp,
                     runtime::node_index idx, step_status status, std::int64_t now_ms) {
  const auto& n = wf.graph->at(idx);
  if (out.steps.empty()) out.steps.reserve(8);  // a run's few steps without regrowing (a step is large)
  step_write s;
  s.id = new_uuid();
  if (auto it = wf.node_ids.find(n.id); it != wf.node_ids.end()) s.workflow_node_id = it->second;
  s.step_number = static_cast<int>(cp.steps);
  s.started_at = sql_timestamp(now_ms);
  if (status != step_status::running) {
    s.completed_at = s.started_at;
    s.duration_ms = 0;
  }
  s.status = status;
  out.steps.push_back(std::move(s));
  return out.steps.back();
}

step_result step_locally(const workflow_snapshot& wf, runtime::checkpoint& cp, const runtime::run_env& env,
                         runtime::action_request& request, run_record& out, const clock& time, std::uint32_t limit,
                         const step_observer& observe) {
  const auto& g = *wf.graph;
  for (std::uint32_t n = 0; n < limit; ++n) {
    auto now = time.wall_ms();
    auto began = time.monotonic();
    auto d = runtime::next(g, cp, env, now, request);
    auto observed = [&](runtime::node_type t) {
      if (observe) observe(t, std::chrono::duration<double>(time.monotonic() - began).count());
    };
    switch (d.kind) {
      case runtime::decision_kind::evaluated: {
        auto& s = add_step(out, wf, cp, d.node, d.status == runtime::step_status::skipped ? step_status::skipped : step_status::completed, now);
        s.output_data = json::serialize(runtime::step_output(g, d));
        observed(g.at(d.node).type);
        continue;
      }
      case runtime::decision_kind::execute: {
        auto patch = request.patch();
        if (!patch) return {step_stop::side_effect, d};
        runtime::lead before = cp.subject;
        auto& s = add_step(out, wf, cp, d.node, step_status::completed, now);
        s.input_data = json::serialize(request.to_json());
        record_patch(out, wf, *patch, before);
        runtime::action_result ok;
        ok.output = patch->to_json();
        s.output_data = json::serialize(ok.output);
        runtime::report(g, cp, env, ok, now);
        observed(request.type);
        continue;
      }
      case runtime::decision_kind::park:
        return {step_stop::park, d};
      case runtime::decision_kind::complete:
        return {step_stop::complete, d};
      case runtime::decision_kind::fail:
        return {step_stop::fail, d};
    }
  }
  return {step_stop::yield, {}};
}

void end_record(run_record& out, const workflow_snapshot& wf, const runtime::checkpoint& cp, bool failed,
                runtime::node_index failed_at, std::int64_t now_ms, std::int64_t created_at_ms) {
  out.status = failed ? execution_status::failed : execution_status::completed;
  out.completed_at = sql_timestamp(now_ms);
  out.duration_ms = static_cast<int>(std::max<std::int64_t>(0, now_ms - created_at_ms));
  json::object result{{"steps", cp.steps},
                      {"lead", json::object{{"status", cp.subject.status},
                                            {"score", cp.subject.score},
                                            {"tags", json::value_from(cp.subject.tags)}}}};
  if (failed) {
    out.error_message = cp.failure;
    if (failed_at != runtime::k_no_node) result["failedNode"] = wf.graph->at(failed_at).id;
    out.logs.push_back({"ERROR", "execution", "execution failed: " + cp.failure, std::nullopt, std::nullopt, std::nullopt});
  } else {
    out.logs.push_back({"INFO", "execution", "execution completed in " + std::to_string(*out.duration_ms) + " ms",
                        std::nullopt, std::nullopt, std::nullopt});
  }
  out.output_data = json::serialize(result);
}

std::optional<run_record> settle(const run_start& s, const clock& time, const step_observer& observe) {
  const auto& wf = *s.workflow;
  const auto& g = *wf.graph;
  std::optional<runtime::node_index> trigger;
  if (s.trigger_node) trigger = g.find(*s.trigger_node);
  if (!trigger) return std::nullopt;
  auto env = make_env(s);
  auto now = time.wall_ms();
  auto cp = runtime::start(g, *trigger, s.lead, s.trigger_data, runtime::stable_hash(s.execution_id), now);
  runtime::action_request request;
  run_record out;
  out.started_at = sql_timestamp(now);
  auto r = step_locally(wf, cp, env, request, out, time, runtime::k_max_steps, observe);
  if (r.stop != step_stop::complete && r.stop != step_stop::fail) return std::nullopt;
  // Intake writes the changes into the lead's first row. Name, company, phone and custom fields
  // cannot go there: when the lead already exists, the upsert would take them as the submission's.
  // Nor an assignment: a user that does not exist would fail the trigger, not just the run.
  if (out.lead.name || out.lead.company_name || out.lead.phone || !out.lead.fields.empty() || out.lead.assigned_to)
    return std::nullopt;
  bool failed = r.stop == step_stop::fail;
  end_record(out, wf, cp, failed, failed ? request.node : runtime::k_no_node, time.wall_ms(), s.created_at_ms);
  out.execution_id = s.execution_id;
  out.workspace_id = s.workspace->info.id;
  out.workflow_id = wf.id;
  out.checkpoint = json::serialize(cp.to_json(g));
  std::erase_if(out.steps, [](const step_write& st) { return st.workflow_node_id.empty(); });
  return out;
}

}  // namespace flowtrack::domain
