#include "actors/intake.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

#include <boost/json.hpp>

#include "storage/uuid.hpp"

namespace flowtrack::actors {
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

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  int y = 0, m = 0, d = 0;
  std::from_chars(s.data(), s.data() + 4, y);
  std::from_chars(s.data() + 5, s.data() + 7, m);
  std::from_chars(s.data() + 8, s.data() + 10, d);
  static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days[m - 1]) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

// The stored text of a field value, typed by the field; an error names fields.<key>.
result<std::string> typed_value(const storage::form_field_record& f, const json::value& v) {
  std::string name = "fields." + f.field_key;
  std::string text = v.is_string() ? std::string(v.as_string()) : v.is_null() ? std::string() : json::serialize(v);
  if (f.field_type == "NUMBER") {
    double d = 0;
    if (v.is_number()) d = v.to_number<double>();
    else {
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (ec != std::errc{} || p != text.data() + text.size() || text.empty())
        return invalid_field(name, f.label + " must be a number");
    }
    if (!std::isfinite(d)) return invalid_field(name, f.label + " must be a number");
    return v.is_number() ? json::serialize(v) : text;
  }
  if (f.field_type == "CHECKBOX") {
    if (v.is_bool()) return std::string(v.as_bool() ? "true" : "false");
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (text == "true" || text == "on" || text == "1" || text == "yes") return std::string("true");
    if (text == "false" || text == "off" || text == "0" || text == "no" || text.empty()) return std::string("false");
    return invalid_field(name, f.label + " must be true or false");
  }
  if (f.field_type == "DATE") {
    if (!valid_date(text)) return invalid_field(name, f.label + " must be a date as YYYY-MM-DD");
    return text;
  }
  if (f.field_type == "EMAIL") {
    if (!valid_email(text)) return invalid_field(name, f.label + " must be an email address");
    return text;
  }
  if (f.field_type == "DROPDOWN" && f.options) {
    boost::system::error_code ec;
    auto opts = json::parse(*f.options, ec);
    if (!ec && opts.is_array()) {
      for (const auto& o : opts.as_array()) {
        if (o.is_string() && o.as_string() == text) return text;
        if (o.is_object()) {
          auto* val = o.as_object().if_contains("value");
          if (val && val->is_string() && val->as_string() == text) return text;
        }
      }
      return invalid_field(name, f.label + " must be one of the listed options");
    }
  }
  return text;
}

}  // namespace

bool valid_email(std::string_view e) {
  auto at = e.find('@');
  if (at == std::string_view::npos || at == 0 || e.size() > 254 || e.find('@', at + 1) != std::string_view::npos) return false;
  auto local = e.substr(0, at), domain = e.substr(at + 1);
  for (unsigned char c : local)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-')) return false;
  auto dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || domain.size() - dot - 1 < 2) return false;
  for (unsigned char c : domain.substr(0, dot))
    if (!(std::isalnum(c) || c == '.' || c == '-')) return false;
  for (unsigned char c : domain.substr(dot + 1))
    if (!std::isalpha(c)) return false;
  return true;
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

result<storage::trigger_record> make_trigger(const storage::workspace_info& ws, const storage::workflow_record& wf,
                                             const intake_request& req, std::optional<std::string> trigger_node_id) {
  if (!req.lead.is_object()) return invalid_field("lead", "the lead must be a JSON object");
  const auto& lead = req.lead.as_object();
  storage::trigger_record t;
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
    for (const auto& f : wf.fields) {
      auto* v = fields->as_object().if_contains(f.field_key);
      if (v == nullptr || v->is_null()) continue;
      auto typed = typed_value(f, *v);
      if (!typed) return typed.err();
      t.fields.push_back({f.id, std::move(*typed)});
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
  boost::system::error_code ec;
  auto settings = json::parse(wf.settings, ec);
  if (!ec && settings.is_object())
    if (auto* r = settings.as_object().if_contains("rerunOnResubmit"); r && r->is_bool()) t.rerun_on_resubmit = r->as_bool();
  t.quotas = storage::quota_limits_from_plan(ws.plan_quotas, ws.period_start, ws.period_end);
  t.execution_id = storage::new_uuid();
  return t;
}

}  // namespace flowtrack::actors
