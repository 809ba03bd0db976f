#include "storage/executions.hpp"

#include "storage/pg/array.hpp"

namespace flowtrack::storage {
namespace {

const pg::statement k_insert_executions{
    "ft_insert_executions",
    "INSERT INTO workflow_executions (id, workflow_id, workspace_id, lead_id, idempotency_key, trigger_type,"
    " trigger_node_id, trigger_data, status, started_at)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::varchar[], $6::varchar[],"
    " $7::uuid[], $8::jsonb[], $9::varchar[], $10::timestamp[])"};

const pg::statement k_insert_steps{
    "ft_insert_steps",
    "INSERT INTO execution_steps (id, execution_id, workflow_node_id, step_number, status, started_at,"
    " completed_at, duration_ms, input_data, output_data)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::varchar[], $6::timestamp[],"
    " $7::timestamp[], $8::int[], $9::jsonb[], $10::jsonb[])"};

std::optional<std::string> as_text(const std::optional<int>& v) {
  return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
}

}  // namespace

result<void> insert_execution_batch(pg::connection& c, const std::vector<execution_record>& executions,
                                    const std::vector<step_record>& steps) {
  std::vector<pg::pipelined> commands;
  if (!executions.empty()) {
    pg::array_builder id, wf, ws, lead, key, type, node, data, status, started;
    for (const auto& e : executions) {
      id.add(e.id);
      wf.add(e.workflow_id);
      ws.add(e.workspace_id);
      lead.add_optional(e.lead_id);
      key.add_optional(e.idempotency_key);
      type.add(e.trigger_type);
      node.add_optional(e.trigger_node_id);
      data.add_optional(e.trigger_data);
      status.add(e.status);
      started.add_optional(e.started_at);
    }
    commands.push_back({&k_insert_executions, pg::params{id.finish(), wf.finish(), ws.finish(), lead.finish(),
                                                         key.finish(), type.finish(), node.finish(), data.finish(),
                                                         status.finish(), started.finish()}});
  }
  if (!steps.empty()) {
    pg::array_builder id, exec, node, number, status, started, completed, duration, input, output;
    for (const auto& s : steps) {
      id.add(s.id);
      exec.add(s.execution_id);
      node.add(s.workflow_node_id);
      number.add(static_cast<std::int64_t>(s.step_number));
      status.add(s.status);
      started.add_optional(s.started_at);
      completed.add_optional(s.completed_at);
      duration.add_optional(as_text(s.duration_ms));
      input.add_optional(s.input_data);
      output.add_optional(s.output_data);
    }
    commands.push_back({&k_insert_steps, pg::params{id.finish(), exec.finish(), node.finish(), number.finish(),
                                                    status.finish(), started.finish(), completed.finish(),
                                                    duration.finish(), input.finish(), output.finish()}});
  }
  if (commands.empty()) return {};
  auto r = c.pipeline(commands);
  if (!r) return r.err();
  return {};
}

}  // namespace flowtrack::storage

namespace flowtrack::storage {

result<std::string> execution_json(pg::connection& c, std::string_view execution_id) {
  auto r = c.exec(R"sql(
SELECT jsonb_build_object(
  'execution', to_jsonb(e) - 'checkpoint' || jsonb_build_object('workflowName', w.name),
  'steps', COALESCE((SELECT jsonb_agg(to_jsonb(s) || jsonb_build_object('nodeId', n.react_flow_node_id, 'nodeType', n.node_type)
                                      ORDER BY s.step_number)
                     FROM execution_steps s JOIN workflow_nodes n ON n.id = s.workflow_node_id
                     WHERE s.execution_id = e.id), '[]'::jsonb),
  'logs', COALESCE((SELECT jsonb_agg(to_jsonb(l) ORDER BY l.created_at)
                    FROM execution_logs l WHERE l.execution_id = e.id AND l.workspace_id = e.workspace_id), '[]'::jsonb)
)::text
FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id WHERE e.id = $1::uuid)sql",
                  pg::params{}.add(execution_id));
  if (!r) return r.err();
  if (r->empty()) return make_error(error_code::not_found, "no execution " + std::string(execution_id), "execution");
  return std::string(r->get(0, 0));
}

}  // namespace flowtrack::storage
