#include "domain/intake.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

#include <boost/json.hpp>

#include "domain/ids.hpp"

namespace flowtrack::domain {
namespace json = boost::json;
namespace {

error invalid_field(const std::string& field, const std::string& message) {
  return make_error(error_code::invalid, message, field);
}

std::optional<std::string> text_of(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_string()) {
    std::string s(v->as_string());
    return s.empty() ? std::nullopt : std::optional<std::string>(s);
  }
  if (v->is_number()) return json::serialize(*v);
  return std::nullopt;
}

}  // namespace

std::string_view to_string(trigger_kind k) {
  switch (k) {
    case trigger_kind::form: return "form";
    case trigger_kind::email: return "email";
    case trigger_kind::webhook: return "webhook";
    case trigger_kind::manual: return "manual";
    case trigger_kind::schedule: return "schedule";
  }
  return "manual";
}


std::string_view trigger_type_of(trigger_kind k) {
  switch (k) {
    case trigger_kind::form: return "FORM_SUBMIT";
    case trigger_kind::email: return "EMAIL";
    case trigger_kind::webhook: return "WEBHOOK";
    case trigger_kind::manual: return "MANUAL";
    case trigger_kind::schedule: return "SCHEDULED";
  }
  return "MANUAL";
}

std::string_view event_type_of(trigger_kind k) {
  switch (k) {
    case trigger_kind::form: return "FORM_SUBMITTED";
    case trigger_kind::email: return "EMAIL_RECEIVED";
    case trigger_kind::webhook: return "WEBHOOK_RECEIVED";
    case trigger_kind::manual: return "MANUAL_STARTED";
    case trigger_kind::schedule: return "SCHEDULE_STARTED";
  }
  return "MANUAL_STARTED";
}

std::string_view source_of(trigger_kind k) {
  switch (k) {
    case trigger_kind::form: return "FORM";
    case trigger_kind::email: return "EMAIL_FORWARD";
    case trigger_kind::webhook: return "API";
    case trigger_kind::manual: return "MANUAL";
    case trigger_kind::schedule: return "MANUAL";
  }
  return "MANUAL";
}

namespace {

std::optional<runtime::node_type> trigger_type_for(trigger_kind k) {
  switch (k) {
    case trigger_kind::form: return runtime::node_type::trigger_form;
    case trigger_kind::email: return runtime::node_type::trigger_email;
    case trigger_kind::webhook: return runtime::node_type::trigger_webhook;
    case trigger_kind::manual: return runtime::node_type::trigger_manual;
    case trigger_kind::schedule: return runtime::node_type::trigger_schedule;
  }
  return std::nullopt;
}

}  // namespace

result<admitted_trigger> admit_trigger(const domain::workspace_info& ws, const domain::workflow_record& wf,
                                       const runtime::compiled_graph& graph, const form_spec& form,
                                       const intake_request& req) {
  if (!ws.is_active) return make_error(error_code::not_found, "workspace '" + ws.slug + "' is not active", "workspace");
  if (wf.status != domain::workflow_status::active)
    return make_error(error_code::invalid,
                      "workflow '" + wf.name + "' is " + std::string(to_string(wf.status)) + " and takes no new triggers",
                      "status");
  auto type = trigger_type_for(req.kind);
  auto trigger = graph.find_trigger(type);
  if (!trigger && req.kind == trigger_kind::manual) trigger = graph.find_trigger();
  if (!trigger)
    return make_error(error_code::invalid,
                      "workflow '" + wf.name + "' has no " + std::string(runtime::to_string(*type)) + " trigger", "trigger");
  admitted_trigger out;
  out.trigger_node = graph.at(*trigger).id;
  std::optional<std::string> trigger_uuid;
  if (auto n = wf.node_ids.find(out.trigger_node); n != wf.node_ids.end()) trigger_uuid = n->second;
  auto record = make_trigger(ws, wf, form, req, std::move(trigger_uuid));
  if (!record) return record.err();
  out.record = std::move(*record);
  return out;
}

result<void> parse_raw_lead(intake_request& req) {
  if (!req.raw_lead) return {};
  boost::system::error_code ec;
  auto body = json::parse(*req.raw_lead, ec);
  req.raw_lead.reset();
  if (ec) return make_error(error_code::invalid, "the body is not valid JSON: " + ec.message(), "body");
  if (!body.is_object()) return make_error(error_code::invalid, "the body must be a JSON object", "body");
  req.lead = std::move(body);
  return {};
}

result<domain::trigger_record> make_trigger(const domain::workspace_info& ws, const domain::workflow_record& wf,
                                             const form_spec& form, const intake_request& req,
                                             std::optional<std::string> trigger_node_id) {
  if (!req.lead.is_object()) return invalid_field("lead", "the lead must be a JSON object");
  // PostgreSQL stores no NUL character in TEXT or JSONB: refuse it here, naming where it was.
  if (auto at = find_nul(req.lead)) return invalid_field(*at, *at + " contains a NUL character");
  if (auto at = find_nul(req.trigger_data, "trigger")) return invalid_field(*at, *at + " contains a NUL character");
  const auto& lead = req.lead.as_object();
  domain::trigger_record t;
  auto email = text_of(lead, "email");
  if (!email) return invalid_field("email", "email is required");
  if (!valid_email(*email)) return invalid_field("email", "'" + *email + "' is not a valid email address");
  t.email = *email;
  t.name = text_of(lead, "name");
  t.company_name = text_of(lead, "company_name");
  if (!t.company_name) t.company_name = text_of(lead, "companyName");
  t.phone = text_of(lead, "phone");
  if (t.name && t.name->size() > 150) return invalid_field("name", "name is longer than 150 characters");
  if (t.company_name && t.company_name->size() > 150) return invalid_field("company_name", "company_name is longer than 150 characters");
  if (t.phone && t.phone->size() > 50) return invalid_field("phone", "phone is longer than 50 characters");

  if (auto* fields = lead.if_contains("fields"); fields && !fields->is_null()) {
    if (!fields->is_object()) return invalid_field("fields", "fields must be an object of field key to value");
    for (const auto& f : form.fields) {
      auto* v = fields->as_object().if_contains(f.field.field_key);
      if (v == nullptr || v->is_null()) continue;
      if (req.fields_checked && v->is_string()) {  // a form submission: checked once, by check_submission
        t.fields.push_back({f.field.id, std::string(v->as_string())});
        continue;
      }
      auto typed = check_field(f, *v);
      if (!typed) return invalid_field("fields." + f.field.field_key, typed.err().message);
      if (*typed) t.fields.push_back({f.field.id, std::move(**typed)});
    }
  }
  t.workspace_id = ws.id;
  t.workflow_id = wf.id;
  t.workflow_version = wf.version;
  t.trigger_type = std::string(trigger_type_of(req.kind));
  t.event_type = std::string(event_type_of(req.kind));
  t.source = std::string(source_of(req.kind));
  t.trigger_node_id = std::move(trigger_node_id);
  t.trigger_data = json::serialize(req.trigger_data.is_null() ? req.lead : req.trigger_data);
  if (!req.source_metadata.is_null()) t.source_metadata = json::serialize(req.source_metadata);
  t.idempotency_key = req.idempotency_key;
  if (t.idempotency_key && t.idempotency_key->size() > 255)
    return invalid_field("idempotency_key", "the idempotency key is longer than 255 characters");
  // Every mail is an enquiry of its own: a lead writing again starts the email workflows again
  // (the same Message-ID does not). A form resubmission does only when the workflow says so.
  t.rerun_on_resubmit = req.kind == trigger_kind::email;
  boost::system::error_code ec;
  auto settings = json::parse(wf.settings, ec);
  if (!ec && settings.is_object())
    if (auto* r = settings.as_object().if_contains("rerunOnResubmit"); r && r->is_bool()) t.rerun_on_resubmit = r->as_bool();
  t.quotas = domain::quota_limits_from_plan(ws.plan_quotas, ws.period_start, ws.period_end);
  t.execution_id = domain::new_uuid();
  t.lead_id = domain::new_uuid();
  t.event_id = domain::new_uuid();
  return t;
}

}  // namespace flowtrack::domain
