// The dry-run loop over the stepper.
#include "runtime/dry_run.hpp"

#include "runtime/text.hpp"

namespace flowtrack::runtime {

namespace json = boost::json;

json::object dry_run_report::to_json() const {
  json::object o;
  o["status"] = runtime::to_string(status);
  json::array p;
  for (const auto& id : path) p.emplace_back(id);
  o["path"] = std::move(p);
  json::array s;
  for (const auto& st : steps) {
    s.emplace_back(json::object{{"nodeId", st.node_id},
                                {"type", runtime::to_string(st.type)},
                                {"status", st.status},
                                {"at", format_iso8601_utc(st.at_ms)},
                                {"output", st.output}});
  }
  o["steps"] = std::move(s);
  o["parkedUntil"] = parked_until ? json::value(format_iso8601_utc(*parked_until)) : json::value(nullptr);
  if (!failure.empty()) o["failure"] = failure;
  return o;
}

result<dry_run_report> dry_run(const compiled_graph& g, const run_env& env, lead subject, json::value trigger_data,
                               const dry_run_options& opts) {
  const auto start_node = opts.start ? opts.start : g.find_trigger();
  if (!start_node || *start_node >= g.size() || !is_trigger(g.at(*start_node).type)) {
    return make_error(error_code::invalid, "the workflow has no trigger to start the dry run at");
  }
  dry_run_report rep;
  std::int64_t now = opts.now_ms;
  checkpoint cp = start(g, *start_node, std::move(subject), std::move(trigger_data), stable_hash(env.execution_id), now);
  action_request req;
  for (;;) {
    const decision d = next(g, cp, env, now, req);
    switch (d.kind) {
      case decision_kind::execute: {
        dry_run_step st{g.at(d.node).id, g.at(d.node).type, "completed", req.to_json(), now};
        if (auto p = req.patch()) st.output["leadPatch"] = p->to_json();
        rep.path.push_back(st.node_id);
        rep.steps.push_back(std::move(st));
        (void)report(g, cp, env, action_result{true, json::object{}, {}}, now);
        break;
      }
      case decision_kind::evaluated: {
        const auto& n = g.at(d.node);
        rep.path.push_back(n.id);
        rep.steps.push_back(dry_run_step{n.id, n.type, d.status == step_status::skipped ? "skipped" : "completed",
                                         step_output(g, d), now});
        break;
      }
      case decision_kind::park:
        rep.parked_until = d.resume_at_ms;
        now = d.resume_at_ms;
        break;
      case decision_kind::complete:
        rep.status = run_status::completed;
        return rep;
      case decision_kind::fail:
        rep.status = run_status::failed;
        rep.failure = cp.failure;
        return rep;
    }
  }
}

}  // namespace flowtrack::runtime
