#include "storage/workflow_documents.hpp"

#include <boost/json/serialize.hpp>

#include "domain/form.hpp"
#include "domain/intake.hpp"
#include "runtime/compiled_graph.hpp"
#include "runtime/graph.hpp"
#include "runtime/text.hpp"
#include "storage/executions.hpp"
#include "storage/ingest.hpp"
#include "storage/redis/connection.hpp"
#include "storage/redis/delay_queue.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::storage {
namespace json = boost::json;
namespace {

std::optional<std::string> json_text(const json::object& o, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (auto* v = o.if_contains(k); v && !v->is_null()) return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
  return std::nullopt;
}

}  // namespace

result<std::vector<domain::form_field_record>> read_form_fields(const json::object& doc) {
  std::vector<domain::form_field_record> out;
  auto* list = doc.if_contains("formFields");
  if (list == nullptr || list->is_null()) return out;
  if (!list->is_array()) return make_error(error_code::invalid, "formFields must be a list", "formFields");
  int i = 0;
  for (const auto& item : list->as_array()) {
    std::string where = "formFields[" + std::to_string(i++) + "]";
    if (!item.is_object()) return make_error(error_code::invalid, where + " must be an object", where);
    const auto& o = item.as_object();
    domain::form_field_record f;
    f.field_key = json_text(o, {"field_key", "fieldKey"}).value_or("");
    f.label = json_text(o, {"label"}).value_or("");
    f.field_type = json_text(o, {"field_type", "fieldType"}).value_or("TEXT");
    if (f.field_key.empty() || f.field_key.size() > 50)
      return make_error(error_code::invalid, where + ".field_key must be 1 to 50 characters", where + ".field_key");
    if (f.label.empty()) return make_error(error_code::invalid, where + ".label is required", where + ".label");
    if (!runtime::parse_form_field_type(f.field_type))
      return make_error(error_code::invalid,
                        where + ".field_type must be one of TEXT, EMAIL, TEXTAREA, DROPDOWN, NUMBER, DATE, CHECKBOX",
                        where + ".field_type");
    if (auto* opts = o.if_contains("options"); opts && !opts->is_null()) f.options = json::serialize(*opts);
    if (f.field_type == "DROPDOWN" && (!f.options || f.options == "[]"))
      return make_error(error_code::invalid, where + ".options must list the choices of a DROPDOWN", where + ".options");
    f.placeholder = json_text(o, {"placeholder"});
    f.help_text = json_text(o, {"help_text", "helpText"});
    for (const char* k : {"is_required", "isRequired"})
      if (auto* v = o.if_contains(k); v && v->is_bool()) f.is_required = v->as_bool();
    if (auto* v = o.if_contains("validation_rules"); v && !v->is_null()) f.validation_rules = json::serialize(*v);
    if (auto* v = o.if_contains("validationRules"); v && !v->is_null()) f.validation_rules = json::serialize(*v);
    for (const char* k : {"display_order", "displayOrder"})
      if (auto* v = o.if_contains(k); v && v->is_number()) f.display_order = static_cast<int>(v->to_number<double>());
    for (const auto& seen : out)
      if (seen.field_key == f.field_key)
        return make_error(error_code::invalid, where + ".field_key '" + f.field_key + "' is used twice", where + ".field_key");
    out.push_back(std::move(f));
  }
  return out;
}

result<std::variant<workflow_document, invalid_graph>> read_workflow_document(const json::object& o) {
  workflow_document d;
  auto& w = d.workflow;
  w.name = json_text(o, {"name"}).value_or("");
  if (w.name.empty() || w.name.size() > 150) return make_error(error_code::invalid, "name must be 1 to 150 characters", "name");
  w.status = json_text(o, {"status"}).value_or("draft");
  if (!domain::parse_workflow_status(w.status))
    return make_error(error_code::invalid, "status must be draft, active, paused or archived", "status");
  if (auto* st = o.if_contains("settings"); st && !st->is_null()) {
    if (!st->is_object()) return make_error(error_code::invalid, "settings must be an object", "settings");
    w.settings = json::serialize(*st);
  }
  w.booking_url = json_text(o, {"bookingUrl", "booking_url"});
  auto fields = read_form_fields(o);
  if (!fields) return fields.err();
  w.fields = std::move(*fields);

  json::object graph_doc{{"nodes", o.contains("nodes") ? o.at("nodes") : json::array()},
                         {"edges", o.contains("edges") ? o.at("edges") : json::array()}};
  auto graph = runtime::import_react_flow(graph_doc);
  if (!graph) return graph.err();
  auto compiled = runtime::compile(*graph);
  if (!compiled.ok()) return std::variant<workflow_document, invalid_graph>(invalid_graph{std::move(compiled.problems)});
  w.graph = json::serialize(runtime::export_react_flow(*graph));
  w.nodes = runtime::to_node_rows(*graph);
  w.edges = runtime::to_edge_rows(*graph);
  d.warnings = std::move(compiled.problems);
  return std::variant<workflow_document, invalid_graph>(std::move(d));
}

result<manual_run> start_manual_run(pg::connection& c, std::string_view workflow_id_in, const json::value& lead,
                                    std::optional<std::string> idempotency_key, std::optional<std::string_view> workspace_id) {
  std::string workflow_id(workflow_id_in);
  if (!runtime::is_uuid(workflow_id)) return make_error(error_code::invalid, "'" + workflow_id + "' is not a workflow id", "workflow");
  for (auto& ch : workflow_id) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));  // canonical form
  auto owner = workspace_of_workflow(c, workflow_id);
  if (!owner) return owner.err();
  if (workspace_id && *owner != *workspace_id)
    return make_error(error_code::not_found, "no workflow " + workflow_id + " in this workspace", "workflow");
  auto ws = find_workspace(c, *owner);
  if (!ws) return ws.err();
  auto wf = load_workflow(c, ws->id, workflow_id);
  if (!wf) return wf.err();
  auto graph = runtime::import_react_flow(std::string_view(wf->graph));
  if (!graph) return graph.err();
  auto compiled = runtime::compile(*graph);
  if (!compiled.ok()) return make_error(error_code::invalid, "the stored graph no longer compiles");

  // The workspace actor's intake rule: an inactive workspace or a workflow that is not active
  // takes no run, whichever way it arrives.
  domain::intake_request req;
  req.kind = domain::trigger_kind::manual;
  req.lead = lead;
  req.idempotency_key = std::move(idempotency_key);
  auto admitted = domain::admit_trigger(*ws, *wf, *compiled.graph, *domain::make_form_spec(*wf), req);
  if (!admitted) return admitted.err();
  auto out = ingest_batch(c, {admitted->record});
  if (!out[0]) return out[0].err();
  return manual_run{out[0]->lead_id, out[0]->execution_id};
}

result<void> wake_execution(redis::connection& c, std::string_view execution_id, std::int64_t now_ms) {
  return redis::delay_queue(c, k_execution_queue).schedule(execution_id, now_ms);
}

bool wake_execution(const std::string& redis_url, std::chrono::milliseconds timeout, const std::string& execution_id) {
  auto r = redis::connection::open(redis_url, timeout);
  if (!r) return false;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return static_cast<bool>(wake_execution(*r, execution_id, now.count()));
}

}  // namespace flowtrack::storage
