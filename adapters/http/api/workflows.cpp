// Workflow and execution routes. Bodies of the import format are read by
// storage::read_workflow_document (the CLI's `workflow import` reads them the same way); the
// engine's validation problems become a 422 with `problems`. Edits are conditional on the
// version (ETag / If-Match).
#include <charconv>
#include <chrono>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "adapters/http/api/resources.hpp"
#include "runtime/graph.hpp"
#include "runtime/text.hpp"
#include "storage/redis/connection.hpp"
#include "storage/runs.hpp"
#include "storage/workflow_documents.hpp"
#include "storage/workflows.hpp"
#include "storage/workspace_resources.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

using detail::answer;
using detail::outcome;
using detail::refuse;
using domain::action;

const std::set<std::string, std::less<>> k_document_fields = {"name",   "description", "status", "settings", "bookingUrl",
                                                              "nodes", "edges",       "viewport", "formFields", "templateId"};

json::value parsed(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

json::value or_null(const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); }

std::string etag_of(int version) { return "\"" + std::to_string(version) + "\""; }

// The version an If-Match names ("3", "\"3\"", W/"3"); nullopt when it names none.
std::optional<int> if_match_version(std::string_view h) {
  if (h.substr(0, 2) == "W/") h.remove_prefix(2);
  if (h.size() >= 2 && h.front() == '"' && h.back() == '"') h = h.substr(1, h.size() - 2);
  int v = 0;
  auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), v);
  if (ec != std::errc{} || p != h.data() + h.size()) return std::nullopt;
  return v;
}

// An error of the import document as the API says it (snake_case form-field keys named in camelCase).
api_error document_error(const error& e) {
  auto field = e.subject;
  for (auto [from, to] : {std::pair<std::string_view, std::string_view>{".field_key", ".fieldKey"}, {".field_type", ".fieldType"}})
    if (auto at = field.find(from); at != std::string::npos) field.replace(at, from.size(), to);
  auto out = from_error(e);
  out.field = field;
  return out;
}

outcome problems_answer(const std::vector<runtime::problem>& problems) {
  json::object body{{"error", json::object{{"code", "invalid_graph"},
                                           {"message", "the graph is invalid: see problems (each names its node or edge, field and code)"}}},
                    {"problems", runtime::problems_to_json(problems)}};
  return answer{bhttp::status::unprocessable_entity, std::move(body), {}};
}

std::optional<api_error> unknown_field(const json::object& body, const std::set<std::string, std::less<>>& known) {
  for (const auto& kv : body)
    if (!known.count(kv.key())) return api_error::invalid(std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'", "unknown_field");
  return std::nullopt;
}

json::object summary_json(const storage::workflow_summary& w) {
  return json::object{{"id", w.id},
                      {"name", w.name},
                      {"description", or_null(w.description)},
                      {"status", w.status},
                      {"version", w.version},
                      {"totalExecutions", w.total_executions},
                      {"successfulExecutions", w.successful_executions},
                      {"failedExecutions", w.failed_executions},
                      {"createdAt", w.created_at},
                      {"updatedAt", w.updated_at}};
}

json::object field_json(const domain::form_field_record& f) {
  return json::object{{"id", f.id},
                      {"fieldKey", f.field_key},
                      {"label", f.label},
                      {"fieldType", f.field_type},
                      {"options", f.options ? parsed(*f.options) : json::value(nullptr)},
                      {"placeholder", or_null(f.placeholder)},
                      {"helpText", or_null(f.help_text)},
                      {"isRequired", f.is_required},
                      {"validationRules", f.validation_rules ? parsed(*f.validation_rules) : json::value(nullptr)},
                      {"displayOrder", f.display_order}};
}

json::object workflow_json(const domain::workflow_record& w) {
  auto graph = parsed(w.graph);
  json::array fields;
  for (const auto& f : w.fields) fields.emplace_back(field_json(f));
  json::object o{{"id", w.id},
                 {"name", w.name},
                 {"status", domain::to_string(w.status)},
                 {"version", w.version},
                 {"settings", parsed(w.settings)},
                 {"bookingUrl", or_null(w.booking_url)},
                 {"nodes", graph.is_object() && graph.as_object().contains("nodes") ? graph.at("nodes") : json::array()},
                 {"edges", graph.is_object() && graph.as_object().contains("edges") ? graph.at("edges") : json::array()},
                 {"formFields", std::move(fields)}};
  return o;
}

// The workspace's workflow `id`, or the 404 (an id that is no UUID too: never a database error).
result<std::variant<domain::workflow_record, api_error>> own_workflow(pg::connection& c, const scoped_call& sc, const std::string& id) {
  using out = std::variant<domain::workflow_record, api_error>;
  if (!runtime::is_uuid(id)) return out(detail::not_found_in_workspace("workflow"));
  auto w = storage::load_workflow(c, sc.workspace_id, id);
  if (!w) {
    if (w.err().code == error_code::not_found) return out(detail::not_found_in_workspace("workflow"));
    return w.err();
  }
  return out(std::move(*w));
}

result<outcome> workflow_answer(pg::connection& c, const scoped_call& sc, const std::string& id, bhttp::status status) {
  auto w = own_workflow(c, sc, id);
  if (!w) return w.err();
  if (auto* e = std::get_if<api_error>(&*w)) return refuse(*e);
  const auto& wf = std::get<domain::workflow_record>(*w);
  return outcome(answer{status, workflow_json(wf), etag_of(wf.version)});
}

// ---- templates ---------------------------------------------------------------------------------

// The built-in templates: import documents kept here (the first is examples/workflow.json with its
// form field), each checked by the engine when a workflow is made from it.
struct workflow_template {
  const char* id;
  const char* name;
  const char* description;
  const char* document;
};

const workflow_template k_templates[] = {
    {"lead-qualification", "Lead qualification",
     "A form lead with a budget of 5,000 or more gets a welcome email and is marked qualified; the others get a follow-up after 3 days.",
     R"({"nodes": [
    {"id": "form", "type": "TRIGGER_FORM", "position": {"x": 0, "y": 0}, "data": {"label": "Form submitted"}},
    {"id": "budget", "type": "LOGIC_CONDITION", "position": {"x": 0, "y": 120},
     "data": {"field": "budget", "operator": ">=", "value": 5000, "trueHandle": "qualified", "falseHandle": "rejected"}},
    {"id": "welcome", "type": "ACTION_SEND_EMAIL", "position": {"x": -200, "y": 240},
     "data": {"emailSubject": "Welcome to FlowTrack, {{lead.first_name | default:\"there\"}}",
              "emailBody": "Hi {{lead.name}}, thanks for your interest in {{workspace.name}}!",
              "emailHtmlBody": "<p>Hi {{lead.name}}, your budget: {{lead.fields.budget}}</p>",
              "fromName": "FlowTrack Team"}},
    {"id": "qualify", "type": "ACTION_UPDATE_STATUS", "position": {"x": -200, "y": 360}, "data": {"status": "QUALIFIED"}},
    {"id": "wait", "type": "LOGIC_DELAY", "position": {"x": 200, "y": 240}, "data": {"delayDays": 3}},
    {"id": "followup", "type": "ACTION_SEND_EMAIL", "position": {"x": 200, "y": 360},
     "data": {"emailSubject": "Still interested?", "emailBody": "Hi {{lead.name | default:\"there\"}}, ..."}}],
  "edges": [
    {"id": "e1", "source": "form", "target": "budget"},
    {"id": "e2", "source": "budget", "target": "welcome", "sourceHandle": "qualified"},
    {"id": "e3", "source": "welcome", "target": "qualify"},
    {"id": "e4", "source": "budget", "target": "wait", "sourceHandle": "rejected"},
    {"id": "e5", "source": "wait", "target": "followup"}],
  "formFields": [{"fieldKey": "budget", "label": "Budget", "fieldType": "NUMBER", "isRequired": true}]})"},
    {"welcome-email", "Welcome email",
     "Every form lead gets a welcome email at once.",
     R"({"nodes": [
    {"id": "form", "type": "TRIGGER_FORM", "position": {"x": 0, "y": 0}, "data": {"label": "Form submitted"}},
    {"id": "welcome", "type": "ACTION_SEND_EMAIL", "position": {"x": 0, "y": 120},
     "data": {"emailSubject": "Thanks, {{lead.first_name | default:\"there\"}}", "emailBody": "Hi {{lead.name}}, we will be in touch."}},
    {"id": "end", "type": "LOGIC_END", "position": {"x": 0, "y": 240}, "data": {}}],
  "edges": [{"id": "e1", "source": "form", "target": "welcome"}, {"id": "e2", "source": "welcome", "target": "end"}],
  "formFields": [{"fieldKey": "message", "label": "Message", "fieldType": "TEXTAREA"}]})"},
    {"manual-tag", "Tag on demand",
     "Started by hand (POST .../run): tags the lead 'contacted' and marks it contacted.",
     R"({"nodes": [
    {"id": "start", "type": "TRIGGER_MANUAL", "position": {"x": 0, "y": 0}, "data": {}},
    {"id": "tag", "type": "ACTION_ADD_TAG", "position": {"x": 0, "y": 120}, "data": {"tag": "contacted"}},
    {"id": "end", "type": "LOGIC_END", "position": {"x": 0, "y": 240}, "data": {}}],
  "edges": [{"id": "e1", "source": "start", "target": "tag"}, {"id": "e2", "source": "tag", "target": "end"}]})"},
};

const workflow_template* find_template(std::string_view id) {
  for (const auto& t : k_templates)
    if (id == t.id) return &t;
  return nullptr;
}

json::object template_document(const workflow_template& t) {
  auto doc = json::parse(t.document).as_object();
  doc["name"] = t.name;
  return doc;
}

void list_templates(api_call&&, responder reply) {
  json::array data;
  for (const auto& t : k_templates) {
    auto doc = template_document(t);
    json::object o{{"id", t.id}, {"name", t.name}, {"description", t.description}};
    for (const char* k : {"nodes", "edges", "formFields"})
      o[k] = doc.contains(k) ? doc.at(k) : json::value(json::array());
    data.emplace_back(std::move(o));
  }
  reply(json_reply(bhttp::status::ok, detail::page(std::move(data), std::nullopt)));
}

// ---- workflows ---------------------------------------------------------------------------------

result<outcome> list_workflows(pg::connection& c, const scoped_call& sc) {
  auto pp = detail::page_params(sc.call);
  if (auto* e = std::get_if<api_error>(&pp)) return refuse(*e);
  auto [limit, cursor] = std::get<0>(pp);
  std::optional<storage::page_key> after;
  if (cursor) {
    after = storage::parse_page_key(*cursor);
    if (!after) return refuse(api_error::invalid("cursor", "cursor is not one this list gave"));
  }
  auto status = sc.call.query_value("status");
  if (status && !domain::parse_workflow_status(*status))
    return refuse(api_error::invalid("status", "status must be draft, active, paused or archived"));
  auto rows = storage::list_workflow_page(c, sc.workspace_id, after, limit + 1, status);
  if (!rows) return rows.err();
  std::optional<std::string> next;
  if (static_cast<int>(rows->size()) > limit) {
    rows->resize(static_cast<std::size_t>(limit));
    next = storage::to_cursor(rows->back().key);
  }
  json::array data;
  for (const auto& w : *rows) data.emplace_back(summary_json(w));
  return outcome(answer{bhttp::status::ok, detail::page(std::move(data), next), {}});
}

result<outcome> create_workflow(pg::connection& c, const scoped_call& sc) {
  json::object body = sc.call.body;
  if (auto e = unknown_field(body, k_document_fields)) return refuse(*e);
  std::optional<std::string> template_id;
  if (auto* t = body.if_contains("templateId")) {
    // From a template: its document, with the name (and status, settings...) the body gives.
    const workflow_template* found = t->is_string() ? find_template(t->as_string()) : nullptr;
    if (!found) return refuse(api_error::invalid("templateId", "templateId is not one of GET /templates"));
    for (const char* k : {"nodes", "edges", "formFields"})
      if (body.contains(k)) return refuse(api_error::invalid(k, std::string(k) + " comes from the template; edit the workflow after"));
    template_id = found->id;
    auto doc = template_document(*found);
    for (const auto& kv : body)
      if (kv.key() != "templateId") doc[kv.key()] = kv.value();
    body = std::move(doc);
  }
  auto read = storage::read_workflow_document(body);
  if (!read) return refuse(document_error(read.err()));
  if (auto* bad = std::get_if<storage::invalid_graph>(&*read)) return problems_answer(bad->problems);
  auto& doc = std::get<storage::workflow_document>(*read);
  doc.workflow.workspace_id = sc.workspace_id;
  auto id = storage::create_workflow(c, doc.workflow);
  if (!id) return id.err();
  auto* d = body.if_contains("description");
  if ((d && d->is_string()) || template_id) {
    storage::workflow_patch p;
    if (d && d->is_string()) p.description = std::string(d->as_string());
    p.template_id = template_id;
    if (auto r = storage::update_workflow(c, sc.workspace_id, *id, 1, p); !r) return r.err();
  }
  auto out = workflow_answer(c, sc, *id, bhttp::status::created);
  if (out && std::holds_alternative<answer>(*out) && !doc.warnings.empty())
    std::get<answer>(*out).body.as_object()["warnings"] = runtime::problems_to_json(doc.warnings);
  return out;
}

result<outcome> get_workflow(pg::connection& c, const scoped_call& sc) { return workflow_answer(c, sc, sc.param("wf"), bhttp::status::ok); }

// PUT replaces the document (every field of the import format; absent ones reset), PATCH changes
// the fields given. Both need If-Match with the current version.
result<outcome> edit_workflow(pg::connection& c, const scoped_call& sc, bool replace) {
  // The workflow first: another workspace's (or no) workflow is 404 whatever the request says.
  auto id = sc.param("wf");
  auto exists = storage::workflow_in_workspace(c, sc.workspace_id, id);
  if (!exists) return exists.err();
  if (!*exists) return refuse(detail::not_found_in_workspace("workflow"));
  if (!sc.call.if_match)
    return refuse(api_error{bhttp::status::precondition_required, "precondition_required",
                            "send If-Match with the workflow's ETag (its version) from GET", "If-Match", 0});
  auto expected = if_match_version(*sc.call.if_match);
  const auto& body = sc.call.body;
  if (auto e = unknown_field(body, k_document_fields)) return refuse(*e);
  if (!expected) return refuse(api_error{bhttp::status::precondition_failed, "precondition_failed",
                                         "If-Match does not name a version of this workflow", "If-Match", 0});
  storage::workflow_patch p;
  std::optional<std::string> status;
  if (replace) {
    auto read = storage::read_workflow_document(body);
    if (!read) return refuse(document_error(read.err()));
    if (auto* bad = std::get_if<storage::invalid_graph>(&*read)) return problems_answer(bad->problems);
    auto& w = std::get<storage::workflow_document>(*read).workflow;
    p.name = w.name;
    p.settings = w.settings;
    if (w.booking_url) p.booking_url = w.booking_url; else p.clear_booking_url = true;
    p.graph = w.graph;
    p.nodes = std::move(w.nodes);
    p.edges = std::move(w.edges);
    p.fields = std::move(w.fields);
    if (body.contains("status")) status = w.status;
  } else {
    if (auto* v = body.if_contains("name")) {
      if (!v->is_string() || v->as_string().empty() || v->as_string().size() > 150)
        return refuse(api_error::invalid("name", "name must be 1 to 150 characters"));
      p.name = std::string(v->as_string());
    }
    if (auto* v = body.if_contains("description")) {
      if (!v->is_string()) return refuse(api_error::invalid("description", "description must be a string"));
      p.description = std::string(v->as_string());
    }
    if (auto* v = body.if_contains("settings")) {
      if (!v->is_object()) return refuse(api_error::invalid("settings", "settings must be an object"));
      p.settings = json::serialize(*v);
    }
    if (auto* v = body.if_contains("bookingUrl")) {
      if (v->is_null()) p.clear_booking_url = true;
      else if (v->is_string()) p.booking_url = std::string(v->as_string());
      else return refuse(api_error::invalid("bookingUrl", "bookingUrl must be a URL or null"));
    }
    if (auto* v = body.if_contains("status")) {
      if (!v->is_string() || !domain::parse_workflow_status(v->as_string()))
        return refuse(api_error::invalid("status", "status must be draft, active, paused or archived"));
      status = std::string(v->as_string());
    }
    if (body.contains("nodes") || body.contains("edges")) {
      json::object doc{{"name", "x"},
                       {"nodes", body.contains("nodes") ? body.at("nodes") : json::array()},
                       {"edges", body.contains("edges") ? body.at("edges") : json::array()}};
      auto read = storage::read_workflow_document(doc);
      if (!read) return refuse(document_error(read.err()));
      if (auto* bad = std::get_if<storage::invalid_graph>(&*read)) return problems_answer(bad->problems);
      auto& w = std::get<storage::workflow_document>(*read).workflow;
      p.graph = w.graph;
      p.nodes = std::move(w.nodes);
      p.edges = std::move(w.edges);
    }
    if (body.contains("formFields")) {
      auto fields = storage::read_form_fields(body);
      if (!fields) return refuse(document_error(fields.err()));
      p.fields = std::move(*fields);
    }
  }
  auto done = storage::update_workflow(c, sc.workspace_id, id, *expected, p);
  if (!done) {
    if (done.err().code == error_code::conflict && done.err().subject == "version")
      return refuse(api_error{bhttp::status::precondition_failed, "precondition_failed", done.err().message, "If-Match", 0});
    if (done.err().code == error_code::not_found) return refuse(detail::not_found_in_workspace("workflow"));
    return done.err();
  }
  if (status)
    if (auto r = storage::set_workflow_status(c, id, *domain::parse_workflow_status(*status)); !r) return r.err();
  return workflow_answer(c, sc, id, bhttp::status::ok);
}

result<outcome> delete_one(pg::connection& c, const scoped_call& sc) {
  auto r = storage::delete_workflow(c, sc.workspace_id, sc.param("wf"));
  if (!r) {
    if (r.err().code == error_code::not_found) return refuse(detail::not_found_in_workspace("workflow"));
    return r.err();
  }
  return outcome(answer{bhttp::status::no_content, {}, {}});
}

std::function<result<outcome>(pg::connection&, const scoped_call&)> set_status(domain::workflow_status to) {
  return [to](pg::connection& c, const scoped_call& sc) -> result<outcome> {
    auto id = sc.param("wf");
    auto exists = storage::workflow_in_workspace(c, sc.workspace_id, id);
    if (!exists) return exists.err();
    if (!*exists) return refuse(detail::not_found_in_workspace("workflow"));
    if (auto r = storage::set_workflow_status(c, id, to); !r) {
      if (r.err().code == error_code::not_found)
        return refuse(api_error{bhttp::status::conflict, "conflict", "an archived workflow cannot change status; duplicate it", "status", 0});
      return r.err();
    }
    return workflow_answer(c, sc, id, bhttp::status::ok);
  };
}

result<outcome> duplicate(pg::connection& c, const scoped_call& sc) {
  body_reader b(sc.call.body);
  auto name = b.string("name", false, 150);
  if (auto e = b.finish()) return refuse(*e);
  auto found = own_workflow(c, sc, sc.param("wf"));
  if (!found) return found.err();
  if (auto* e = std::get_if<api_error>(&*found)) return refuse(*e);
  const auto* w = &std::get<domain::workflow_record>(*found);
  auto graph = runtime::import_react_flow(std::string_view(w->graph));
  if (!graph) return graph.err();
  storage::new_workflow copy;
  copy.workspace_id = sc.workspace_id;
  copy.name = name && !name->empty() ? *name : (w->name.size() > 143 ? w->name.substr(0, 143) : w->name) + " (copy)";
  copy.status = "draft";
  copy.settings = w->settings;
  copy.booking_url = w->booking_url;
  copy.graph = w->graph;
  copy.nodes = runtime::to_node_rows(*graph);
  copy.edges = runtime::to_edge_rows(*graph);
  copy.fields = w->fields;
  auto id = storage::create_workflow(c, copy);
  if (!id) return id.err();
  return workflow_answer(c, sc, *id, bhttp::status::created);
}

// ---- runs and executions -----------------------------------------------------------------------

// The node's Redis workers, or null.
using redis_workers = storage::worker_pool<redis::connection>*;

// Puts the execution on the shared queue through the node's Redis workers, without waiting: the
// route answers at once, a Redis outage costs a worker's timeout, not the request's. The
// execution is committed already; should this fail (workers busy, Redis down) a node adopts it.
void wake(redis_workers workers, const std::string& execution_id) {
  if (workers == nullptr) return;
  bool queued = workers->try_submit([execution_id](redis::connection& c) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    if (auto r = storage::wake_execution(c, execution_id, now.count()); !r)
      spdlog::warn("api: could not notify the nodes through Redis ({}); execution {} starts when a node adopts it", r.err().message,
                   execution_id);
  });
  if (!queued)
    spdlog::warn("api: the Redis workers take no more work (busy or stopping); execution {} starts when a node adopts it", execution_id);
}

std::function<result<outcome>(pg::connection&, const scoped_call&)> run(redis_workers workers) {
  return [workers](pg::connection& c, const scoped_call& sc) -> result<outcome> {
    const auto& body = sc.call.body;
    if (auto e = unknown_field(body, {"lead", "idempotencyKey"})) return refuse(*e);
    auto* lead = body.if_contains("lead");
    if (!lead || !lead->is_object()) return refuse(api_error::invalid("lead", "lead must be an object such as {\"email\":...,\"fields\":{...}}"));
    std::optional<std::string> key;
    if (auto* k = body.if_contains("idempotencyKey"); k && !k->is_null()) {
      if (!k->is_string() || k->as_string().empty() || k->as_string().size() > 255)
        return refuse(api_error::invalid("idempotencyKey", "idempotencyKey must be a string of 1 to 255 characters"));
      key = std::string(k->as_string());
    }
    auto id = sc.param("wf");
    auto exists = storage::workflow_in_workspace(c, sc.workspace_id, id);
    if (!exists) return exists.err();
    if (!*exists) return refuse(detail::not_found_in_workspace("workflow"));
    auto started = storage::start_manual_run(c, id, *lead, key, sc.workspace_id);
    if (!started) {
      if (started.err().code == error_code::not_found && started.err().subject == "workflow")
        return refuse(detail::not_found_in_workspace("workflow"));
      auto e = from_error(started.err());
      if (e.field == "email" || e.field == "fields" || e.field.rfind("fields.", 0) == 0) e.field = "lead." + e.field;
      return refuse(e);
    }
    if (started->execution_id) wake(workers, *started->execution_id);
    return outcome(answer{bhttp::status::accepted,
                          json::object{{"executionId", or_null(started->execution_id)}, {"leadId", started->lead_id}},
                          {}});
  };
}

json::object execution_summary_json(const storage::execution_summary& e) {
  return json::object{{"id", e.id},
                      {"workflowId", e.workflow_id},
                      {"leadId", or_null(e.lead_id)},
                      {"status", e.status},
                      {"triggerType", e.trigger_type},
                      {"errorMessage", or_null(e.error_message)},
                      {"startedAt", or_null(e.started_at)},
                      {"completedAt", or_null(e.completed_at)},
                      {"durationMs", e.duration_ms ? json::value(*e.duration_ms) : json::value(nullptr)},
                      {"createdAt", e.created_at}};
}

result<outcome> list_executions(pg::connection& c, const scoped_call& sc) {
  auto pp = detail::page_params(sc.call);
  if (auto* e = std::get_if<api_error>(&pp)) return refuse(*e);
  auto [limit, cursor] = std::get<0>(pp);
  std::optional<storage::page_key> after;
  if (cursor) {
    after = storage::parse_page_key(*cursor);
    if (!after) return refuse(api_error::invalid("cursor", "cursor is not one this list gave"));
  }
  storage::execution_filter f;
  f.workflow_id = sc.call.query_value("workflowId");
  f.status = sc.call.query_value("status");
  f.lead_id = sc.call.query_value("leadId");
  if (f.workflow_id && !runtime::is_uuid(*f.workflow_id)) return refuse(api_error::invalid("workflowId", "workflowId must be a workflow id"));
  if (f.lead_id && !runtime::is_uuid(*f.lead_id)) return refuse(api_error::invalid("leadId", "leadId must be a lead id"));
  if (f.status && !domain::parse_execution_status(*f.status))
    return refuse(api_error::invalid("status", "status must be queued, running, paused, completed, failed or cancelled"));
  auto rows = storage::list_execution_page(c, sc.workspace_id, f, after, limit + 1);
  if (!rows) return rows.err();
  std::optional<std::string> next;
  if (static_cast<int>(rows->size()) > limit) {
    rows->resize(static_cast<std::size_t>(limit));
    next = storage::to_cursor(rows->back().key);
  }
  json::array data;
  for (const auto& e : *rows) data.emplace_back(execution_summary_json(e));
  return outcome(answer{bhttp::status::ok, detail::page(std::move(data), next), {}});
}

// The execution of the path when it is one of the workspace's; the 404 otherwise.
result<std::optional<api_error>> own_execution(pg::connection& c, const scoped_call& sc) {
  auto mine = storage::execution_in_workspace(c, sc.workspace_id, sc.param("ex"));
  if (!mine) return mine.err();
  if (!*mine) return std::optional<api_error>(detail::not_found_in_workspace("execution"));
  return std::optional<api_error>{};
}

// The execution with its steps and logs (camelCase, as every answer of the API); the 404 when it
// is not the workspace's.
result<outcome> execution_detail(pg::connection& c, const scoped_call& sc, bhttp::status status) {
  auto doc = storage::execution_document(c, sc.workspace_id, sc.param("ex"));
  if (!doc) return doc.err();
  if (!*doc) return refuse(detail::not_found_in_workspace("execution"));
  return outcome(answer{status, parsed(**doc), {}});
}

result<outcome> get_execution(pg::connection& c, const scoped_call& sc) { return execution_detail(c, sc, bhttp::status::ok); }

result<outcome> cancel_execution(pg::connection& c, const scoped_call& sc) {
  auto mine = own_execution(c, sc);
  if (!mine) return mine.err();
  if (*mine) return refuse(**mine);
  auto r = storage::cancel_execution(c, sc.param("ex"));
  if (!r) return r.err();
  if (!*r) return refuse(api_error{bhttp::status::conflict, "conflict", "the execution is not running, queued or paused", "status", 0});
  return execution_detail(c, sc, bhttp::status::ok);
}

std::function<result<outcome>(pg::connection&, const scoped_call&)> retry(redis_workers workers) {
  return [workers](pg::connection& c, const scoped_call& sc) -> result<outcome> {
    auto mine = own_execution(c, sc);
    if (!mine) return mine.err();
    if (*mine) return refuse(**mine);
    auto id = sc.param("ex");
    auto r = storage::retry_execution(c, id);
    if (!r) return r.err();
    if (!*r) return refuse(api_error{bhttp::status::conflict, "conflict", "the execution has not failed: only a failed one is retried", "status", 0});
    wake(workers, id);
    return execution_detail(c, sc, bhttp::status::accepted);
  };
}

}  // namespace

void add_workflow_routes(api_service& api, const resource_options& o) {
  using detail::add_resource_route;
  const std::string base = "/workspaces/{id}/workflows";
  api.add(verb::get, "/templates", route_options{false, true, false}, list_templates);
  add_resource_route(api, verb::get, base, false, action::read, list_workflows);
  add_resource_route(api, verb::post, base, true, action::manage_workflows, create_workflow);
  add_resource_route(api, verb::get, base + "/{wf}", false, action::read, get_workflow);
  add_resource_route(api, verb::put, base + "/{wf}", true, action::manage_workflows,
                     [](pg::connection& c, const scoped_call& sc) { return edit_workflow(c, sc, true); });
  add_resource_route(api, verb::patch, base + "/{wf}", true, action::manage_workflows,
                     [](pg::connection& c, const scoped_call& sc) { return edit_workflow(c, sc, false); });
  add_resource_route(api, verb::delete_, base + "/{wf}", false, action::manage_workflows, delete_one);
  add_resource_route(api, verb::post, base + "/{wf}/activate", false, action::manage_workflows, set_status(domain::workflow_status::active));
  add_resource_route(api, verb::post, base + "/{wf}/pause", false, action::manage_workflows, set_status(domain::workflow_status::paused));
  add_resource_route(api, verb::post, base + "/{wf}/archive", false, action::manage_workflows, set_status(domain::workflow_status::archived));
  add_resource_route(api, verb::post, base + "/{wf}/duplicate", true, action::manage_workflows, duplicate);
  add_resource_route(api, verb::post, base + "/{wf}/run", true, action::start_runs, run(o.redis));
}

void add_execution_routes(api_service& api, const resource_options& o) {
  using detail::add_resource_route;
  const std::string base = "/workspaces/{id}/executions";
  add_resource_route(api, verb::get, base, false, action::read, list_executions);
  add_resource_route(api, verb::get, base + "/{ex}", false, action::read, get_execution);
  add_resource_route(api, verb::post, base + "/{ex}/cancel", false, action::start_runs, cancel_execution);
  add_resource_route(api, verb::post, base + "/{ex}/retry", false, action::start_runs, retry(o.redis));
}

}  // namespace flowtrack::http::api
