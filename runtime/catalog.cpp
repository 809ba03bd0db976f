// Node types, config schemas and config compilation.
#include "runtime/catalog.hpp"

#include <array>
#include <cmath>

#include "runtime/text.hpp"

namespace flowtrack::runtime {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, k_node_type_count> k_type_names{
    "TRIGGER_FORM", "TRIGGER_EMAIL", "TRIGGER_WEBHOOK", "TRIGGER_MANUAL", "TRIGGER_SCHEDULE",
    "ACTION_SEND_EMAIL", "ACTION_NOTIFY_OWNER", "ACTION_UPDATE_STATUS", "ACTION_ADD_TAG", "ACTION_REMOVE_TAG",
    "ACTION_SET_FIELD", "ACTION_UPDATE_SCORE", "ACTION_ASSIGN", "ACTION_SEND_WEBHOOK",
    "LOGIC_DELAY", "LOGIC_WAIT_UNTIL", "LOGIC_CONDITION", "LOGIC_SPLIT", "LOGIC_END"};

constexpr std::int64_t k_max_delay_minutes = 365LL * 24 * 60;

// Collects problems for one node.
struct reporter {
  std::string_view node_id;
  std::vector<problem>& out;
  void error(std::string field, std::string code, std::string message) {
    out.push_back(problem{std::string(node_id), {}, std::move(field), std::move(code), std::move(message),
                          problem::severity::error});
  }
  void warning(std::string field, std::string code, std::string message) {
    out.push_back(problem{std::string(node_id), {}, std::move(field), std::move(code), std::move(message),
                          problem::severity::warning});
  }
};

const json::value* find(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

// A string config value; numbers are accepted and written in their text form.
std::optional<std::string> string_of(const json::object& o, std::string_view key, reporter& r) {
  const json::value* v = find(o, key);
  if (!v) return std::nullopt;
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_number()) {
    std::string s;
    append_number(s, v->is_double() ? v->get_double() : v->is_int64() ? static_cast<double>(v->get_int64())
                                                                        : static_cast<double>(v->get_uint64()));
    return s;
  }
  r.error(std::string(key), "invalid_type", std::string(key) + " must be a string");
  return std::nullopt;
}

std::optional<std::int64_t> integer_of(const json::object& o, std::string_view key, reporter& r) {
  const json::value* v = find(o, key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() < (1ull << 53)) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double() && std::floor(v->get_double()) == v->get_double() && std::fabs(v->get_double()) < 9e15) {
    return static_cast<std::int64_t>(v->get_double());
  }
  if (v->is_string()) {
    if (auto n = parse_number(v->get_string()); n && std::floor(*n) == *n && std::fabs(*n) < 9e15) {
      return static_cast<std::int64_t>(*n);
    }
  }
  r.error(std::string(key), "invalid_type", std::string(key) + " must be a whole number");
  return std::nullopt;
}

text_template template_of(const json::object& o, std::string_view key, reporter& r, bool required,
                          std::string_view missing_code, std::string_view missing_message) {
  auto s = string_of(o, key, r);
  if (!s || trim(*s).empty()) {
    if (required) r.error(std::string(key), std::string(missing_code), std::string(missing_message));
    return {};
  }
  auto t = text_template::compile(*s);
  if (!t) {
    r.error(std::string(key), "bad_template", "template error in " + std::string(key) + ": " + t.err().message);
    return {};
  }
  return std::move(*t);
}

void warn_unknown_variables(const text_template& t, std::string_view key, reporter& r) {
  for (const variable* v : t.variables()) {
    if (v->root == var_root::unknown) {
      r.warning(std::string(key), "unknown_variable",
                "{{" + v->text + "}} is not a known variable and will render empty");
    }
  }
}

email_config compile_email(const json::object& d, reporter& r, bool owner) {
  email_config c;
  if (!owner) {
    c.to = template_of(d, "to", r, false, "", "");
    warn_unknown_variables(c.to, "to", r);
  }
  c.subject = template_of(d, "emailSubject", r, true, "missing_subject", "the email needs a subject (emailSubject)");
  c.text_body = template_of(d, "emailBody", r, false, "", "");
  c.html_body = template_of(d, "emailHtmlBody", r, false, "", "");
  if (c.text_body.empty() && c.html_body.empty()) {
    r.error("emailBody", "missing_body", "the email needs a text body (emailBody) or an HTML body (emailHtmlBody)");
  }
  c.from_name = template_of(d, "fromName", r, false, "", "");
  c.reply_to = template_of(d, "replyTo", r, false, "", "");
  for (auto [t, k] : {std::pair{&c.subject, "emailSubject"}, {&c.text_body, "emailBody"},
                      {&c.html_body, "emailHtmlBody"}, {&c.from_name, "fromName"}, {&c.reply_to, "replyTo"}}) {
    warn_unknown_variables(*t, k, r);
  }
  return c;
}

value_config compile_value(const json::object& d, reporter& r, std::string_view key, std::string_view what,
                           std::size_t max_len) {
  value_config c;
  c.value = template_of(d, key, r, true, "missing_" + std::string(key == "userId" ? "user" : key),
                        std::string(what) + " is required (" + std::string(key) + ")");
  if (c.value.source().size() > max_len) {
    r.error(std::string(key), "too_long", std::string(key) + " is longer than " + std::to_string(max_len) + " characters");
  }
  warn_unknown_variables(c.value, key, r);
  return c;
}

condition_config compile_condition(const json::object& d, reporter& r) {
  condition_config c;
  auto cond = condition::compile(d);
  if (!cond) {
    const std::string& m = cond.err().message;
    const bool regex = m.starts_with("bad regular expression") || m.starts_with("regular expression");
    r.error(cond.err().subject, regex ? "bad_regex" : "bad_condition", m);
  } else {
    c.test = std::move(*cond);
  }
  if (auto t = string_of(d, "trueHandle", r); t && !t->empty()) c.true_handle = *t;
  if (auto f = string_of(d, "falseHandle", r); f && !f->empty()) c.false_handle = *f;
  if (c.true_handle == c.false_handle) {
    r.error("falseHandle", "duplicate_handle", "trueHandle and falseHandle must differ");
  }
  return c;
}

split_config compile_split(const json::object& d, reporter& r) {
  split_config c;
  std::uint32_t total = 0;
  auto add = [&](std::string handle, std::int64_t pct, const std::string& field) {
    if (pct < 0 || pct > 100) {
      r.error(field, "bad_split", "a split percentage must be between 0 and 100");
      pct = 0;
    }
    for (const auto& h : c.handles) {
      if (h == handle) r.error(field, "duplicate_handle", "split handle '" + handle + "' is used twice");
    }
    total += static_cast<std::uint32_t>(pct);
    c.handles.push_back(std::move(handle));
    c.cumulative.push_back(total);
  };
  if (const json::value* b = find(d, "branches")) {
    if (!b->is_array() || b->get_array().size() < 2) {
      r.error("branches", "bad_split", "a split needs at least two branches");
      return c;
    }
    std::size_t i = 0;
    for (const auto& e : b->get_array()) {
      const std::string field = "branches[" + std::to_string(i++) + "]";
      const json::object* o = e.if_object();
      if (!o) {
        r.error(field, "bad_split", "a branch must be {\"handle\",\"percent\"}");
        continue;
      }
      auto h = string_of(*o, "handle", r);
      auto p = integer_of(*o, "percent", r);
      if (!h || h->empty() || !p) {
        r.error(field, "bad_split", "a branch needs a handle and a percent");
        continue;
      }
      add(*h, *p, field);
    }
  } else if (auto a = integer_of(d, "percentA", r)) {
    add("a", *a, "percentA");
    add("b", 100 - std::clamp<std::int64_t>(*a, 0, 100), "percentA");
  } else {
    r.error("branches", "bad_split", "a split needs \"branches\" or \"percentA\"");
    return c;
  }
  if (!c.cumulative.empty() && c.cumulative.back() != 100) {
    r.error("branches", "bad_split", "split percentages must add up to 100, not " + std::to_string(c.cumulative.back()));
  }
  return c;
}

wait_config compile_wait(const json::object& d, reporter& r) {
  wait_config c;
  if (auto u = string_of(d, "until", r)) {
    c.until = *u;
    // Parse once against UTC to check syntax; an offset-less time is re-read in the workspace
    // zone when the step runs.
    auto parsed = parse_iso8601(*u, nullptr);
    if (!parsed) {
      r.error("until", "bad_date", parsed.err().message);
    } else {
      const std::string_view s = *u;
      const bool has_offset = s.ends_with('Z') || s.ends_with('z') ||
                              (s.size() > 19 && (s.find('+', 10) != std::string_view::npos ||
                                                 s.find('-', 10) != std::string_view::npos));
      if (has_offset) c.until_utc_ms = *parsed;
    }
    return c;
  }
  const json::value* w = find(d, "weekdays");
  if (!w) {
    r.error("until", "missing_wait", "a wait needs \"until\" (a date-time) or \"weekdays\" with an hour window");
    return c;
  }
  static constexpr std::string_view k_days[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
  if (!w->is_array() || w->get_array().empty()) {
    r.error("weekdays", "bad_weekdays", "weekdays must be a non-empty list like [\"MON\",\"TUE\"]");
    return c;
  }
  for (const auto& e : w->get_array()) {
    int day = -1;
    if (e.is_string()) {
      for (int k = 0; k < 7; ++k) {
        if (iequals(std::string_view(e.get_string()).substr(0, 3), k_days[k]) && e.get_string().size() >= 3) day = k;
      }
    } else if (e.is_int64() && e.get_int64() >= 0 && e.get_int64() <= 7) {
      day = static_cast<int>(e.get_int64() % 7);
    }
    if (day < 0) {
      r.error("weekdays", "bad_weekdays", "unknown weekday in weekdays (use MON..SUN or 0..6, 0 = Sunday)");
      continue;
    }
    c.weekdays = static_cast<std::uint8_t>(c.weekdays | (1u << day));
  }
  const auto start = integer_of(d, "startHour", r).value_or(9);
  const auto end = integer_of(d, "endHour", r).value_or(start + 1);
  if (start < 0 || start > 23) r.error("startHour", "out_of_range", "startHour must be 0..23");
  if (end <= start || end > 24) r.error("endHour", "out_of_range", "endHour must be after startHour and at most 24");
  c.start_hour = static_cast<int>(std::clamp<std::int64_t>(start, 0, 23));
  c.end_hour = static_cast<int>(std::clamp<std::int64_t>(end, c.start_hour + 1, 24));
  return c;
}

}  // namespace

std::optional<node_type> parse_node_type(std::string_view s) {
  for (std::size_t i = 0; i < k_type_names.size(); ++i) {
    if (k_type_names[i] == s) return static_cast<node_type>(i);
  }
  return std::nullopt;
}

std::string_view to_string(node_type t) { return k_type_names[static_cast<std::size_t>(t)]; }

node_category category_of(node_type t) {
  if (t <= node_type::trigger_schedule) return node_category::trigger;
  if (t <= node_type::action_send_webhook) return node_category::action;
  return node_category::logic;
}

std::string_view to_string(node_category c) {
  switch (c) {
    case node_category::trigger: return "trigger";
    case node_category::action: return "action";
    case node_category::logic: return "logic";
  }
  return "logic";
}

std::int64_t retry_policy::backoff_ms(std::uint32_t next_attempt, std::uint64_t seed) const {
  const std::uint32_t n = next_attempt < 2 ? 0 : std::min<std::uint32_t>(next_attempt - 2, 40);
  double base = static_cast<double>(initial_backoff_ms) * std::ldexp(1.0, static_cast<int>(n));
  base = std::min(base, static_cast<double>(max_backoff_ms));
  const double u = static_cast<double>(mix64(seed ^ (0x9e3779b97f4a7c15ull * next_attempt)) >> 11) * 0x1.0p-53;
  const double factor = 1.0 + jitter * (2.0 * u - 1.0);
  return std::max<std::int64_t>(0, static_cast<std::int64_t>(std::llround(base * factor)));
}

node_config compile_config(node_type t, const json::object& d, std::string_view node_id, const config_options& opts,
                           std::vector<problem>& problems) {
  reporter r{node_id, problems};
  switch (t) {
    case node_type::trigger_form:
    case node_type::trigger_email:
    case node_type::trigger_webhook:
    case node_type::trigger_manual: {
      trigger_config c;
      if (auto f = string_of(d, "formId", r)) c.form_id = *f;
      return c;
    }
    case node_type::trigger_schedule: {
      schedule_config c;
      auto expr = string_of(d, "cron", r);
      if (!expr || trim(*expr).empty()) {
        r.error("cron", "missing_cron", "a schedule trigger needs a cron expression, e.g. \"0 9 * * MON-FRI\"");
      } else if (auto cron = cron_schedule::parse(*expr); !cron) {
        r.error("cron", "bad_cron", cron.err().message);
      } else if (c.cron = std::move(*cron); !c.cron.next_after(0, *time_zone::utc())) {
        r.error("cron", "bad_cron", "cron expression '" + *expr + "' never fires");
      }
      if (auto z = string_of(d, "timezone", r); z && !z->empty()) {
        c.zone_name = *z;
        if (!is_valid_zone_name(*z)) {
          r.error("timezone", "unknown_time_zone", "'" + *z + "' is not a time zone name such as \"Europe/Berlin\"");
        } else if (opts.zones) {
          auto zone = opts.zones->get(*z);
          if (!zone) r.error("timezone", "unknown_time_zone", "unknown time zone '" + *z + "'");
          else c.zone = *zone;
        }
      }
      // The segment a tick fires for (domain/schedule compiles it again when it fires): refused
      // here, on import and edit, rather than found when the schedule fires.
      if (const auto* filter = d.if_contains("leadFilter"); filter && !filter->is_null()) {
        if (auto cond = condition::compile(*filter); !cond) {
          const auto& e = cond.err();
          r.error(e.subject.empty() ? "leadFilter" : "leadFilter." + e.subject, "bad_condition", "leadFilter: " + e.message);
        }
      }
      return c;
    }
    case node_type::action_send_email: return compile_email(d, r, false);
    case node_type::action_notify_owner: return compile_email(d, r, true);
    case node_type::action_update_status: return compile_value(d, r, "status", "a status", 50);
    case node_type::action_add_tag:
    case node_type::action_remove_tag: return compile_value(d, r, "tag", "a tag", 100);
    case node_type::action_assign: return compile_value(d, r, "userId", "a user", 100);
    case node_type::action_set_field: {
      value_config c;
      auto key = string_of(d, "fieldKey", r);
      if (!key || trim(*key).empty()) {
        r.error("fieldKey", "missing_field_key", "set field needs the field to set (fieldKey)");
      } else if (key->size() > 50) {
        r.error("fieldKey", "too_long", "fieldKey is longer than 50 characters");
      } else {
        c.key = *key;
      }
      if (const json::value* v = find(d, "value"); v && !v->is_string() && !v->is_number() && !v->is_bool()) {
        r.error("value", "invalid_type", "value must be text, a number or a boolean");
      } else if (v && v->is_bool()) {
        c.value = *text_template::compile(v->get_bool() ? "true" : "false");
      } else {
        c.value = template_of(d, "value", r, false, "", "");
      }
      warn_unknown_variables(c.value, "value", r);
      return c;
    }
    case node_type::action_update_score: {
      score_config c;
      if (find(d, "delta")) {
        c.delta = integer_of(d, "delta", r).value_or(0);
      } else {
        auto op = string_of(d, "operation", r).value_or("add");
        auto amount = integer_of(d, "amount", r);
        if (!amount) {
          r.error("delta", "missing_delta", "update score needs \"delta\" (+-n) or \"operation\" and \"amount\"");
        } else if (op == "add" || op == "plus" || op == "+") {
          c.delta = *amount;
        } else if (op == "subtract" || op == "minus" || op == "-") {
          c.delta = -*amount;
        } else {
          r.error("operation", "bad_operation", "operation must be \"add\" or \"subtract\"");
        }
      }
      if (c.delta == 0 && find(d, "delta")) r.error("delta", "zero_delta", "a score change of 0 does nothing");
      if (c.delta > 1000000 || c.delta < -1000000) r.error("delta", "out_of_range", "a score change must be within +-1000000");
      return c;
    }
    case node_type::action_send_webhook: {
      webhook_config c;
      auto ep = string_of(d, "endpointId", r);
      if (!ep || trim(*ep).empty()) r.error("endpointId", "missing_endpoint", "send webhook needs an endpoint (endpointId)");
      else c.endpoint_id = *ep;
      if (find(d, "payload")) {
        auto p = template_of(d, "payload", r, false, "", "");
        warn_unknown_variables(p, "payload", r);
        c.payload = std::move(p);
      }
      return c;
    }
    case node_type::logic_delay: {
      delay_config c;
      c.days = integer_of(d, "delayDays", r).value_or(0);
      c.hours = integer_of(d, "delayHours", r).value_or(0);
      c.minutes = integer_of(d, "delayMinutes", r).value_or(0);
      if (c.days < 0 || c.hours < 0 || c.minutes < 0) {
        r.error("delayDays", "invalid_delay", "delay parts must not be negative");
      } else if (c.days > 365 || c.hours > 365 * 24 || c.minutes > k_max_delay_minutes) {
        r.error("delayDays", "invalid_delay", "a delay must be at most 365 days");
      } else {
        const std::int64_t total = c.days * 24 * 60 + c.hours * 60 + c.minutes;
        if (total == 0) r.error("delayDays", "invalid_delay", "a delay must be longer than zero");
        if (total > k_max_delay_minutes) r.error("delayDays", "invalid_delay", "a delay must be at most 365 days");
      }
      return c;
    }
    case node_type::logic_wait_until: return compile_wait(d, r);
    case node_type::logic_condition: return compile_condition(d, r);
    case node_type::logic_split: return compile_split(d, r);
    case node_type::logic_end: return end_config{};
  }
  return std::monostate{};
}

void compile_retry(node_type t, const json::object& d, std::string_view node_id, retry_policy& retry,
                   std::int64_t& timeout_ms, std::vector<problem>& problems) {
  reporter r{node_id, problems};
  if (!is_action(t)) {
    retry = retry_policy{1, 0, 0, 0};
    timeout_ms = 0;
    return;
  }
  timeout_ms = 30000;
  if (auto to = integer_of(d, "timeoutMs", r)) {
    if (*to < 100 || *to > 3600000) r.error("timeoutMs", "out_of_range", "timeoutMs must be 100..3600000");
    else timeout_ms = *to;
  }
  const json::value* rv = find(d, "retry");
  if (!rv) return;
  const json::object* ro = rv->if_object();
  if (!ro) {
    r.error("retry", "invalid_type", "retry must be {\"attempts\",\"backoffMs\",\"maxBackoffMs\",\"jitter\"}");
    return;
  }
  if (auto a = integer_of(*ro, "attempts", r)) {
    if (*a < 1 || *a > 20) r.error("retry.attempts", "out_of_range", "retry.attempts must be 1..20");
    else retry.max_attempts = static_cast<std::uint32_t>(*a);
  }
  if (auto b = integer_of(*ro, "backoffMs", r)) {
    if (*b < 0 || *b > 86400000) r.error("retry.backoffMs", "out_of_range", "retry.backoffMs must be 0..86400000");
    else retry.initial_backoff_ms = *b;
  }
  if (auto m = integer_of(*ro, "maxBackoffMs", r)) {
    if (*m < retry.initial_backoff_ms || *m > 86400000) {
      r.error("retry.maxBackoffMs", "out_of_range", "retry.maxBackoffMs must be >= backoffMs and <= 86400000");
    } else {
      retry.max_backoff_ms = *m;
    }
  } else {
    retry.max_backoff_ms = std::max(retry.max_backoff_ms, retry.initial_backoff_ms);
  }
  if (const json::value* j = find(*ro, "jitter")) {
    const double v = j->is_double() ? j->get_double() : j->is_int64() ? static_cast<double>(j->get_int64()) : -1;
    if (v < 0 || v > 1) r.error("retry.jitter", "out_of_range", "retry.jitter must be a fraction 0..1");
    else retry.jitter = v;
  }
}

std::vector<std::string> output_handles(node_type t, const node_config& config) {
  if (t == node_type::logic_end) return {};
  if (const auto* c = std::get_if<condition_config>(&config)) return {c->true_handle, c->false_handle};
  if (const auto* s = std::get_if<split_config>(&config)) return s->handles;
  return {std::string()};
}

// ---------------------------------------------------------------------------------------------
// Catalog description

namespace {

constexpr config_key k_trigger_keys[] = {{"formId", "string", false, "the form this trigger listens to"}};
constexpr config_key k_schedule_keys[] = {
    {"cron", "cron", true, "5-field cron: minute hour day-of-month month day-of-week"},
    {"timezone", "time_zone", false, "IANA zone; default: the workspace time zone"},
    {"leadFilter", "condition", false, "fire once per matching lead: {field, operator, value} or {rules, match}; absent: once, without a lead"}};
constexpr config_key k_email_keys[] = {
    {"to", "template", false, "recipient; default {{lead.email}}"},
    {"emailSubject", "template", true, "subject line"},
    {"emailBody", "template", false, "plain-text body (this or emailHtmlBody)"},
    {"emailHtmlBody", "template", false, "HTML body; substituted values are HTML-escaped"},
    {"fromName", "template", false, "sender display name"},
    {"replyTo", "template", false, "Reply-To address"}};
constexpr config_key k_notify_keys[] = {
    {"emailSubject", "template", true, "subject line"},
    {"emailBody", "template", false, "plain-text body"},
    {"emailHtmlBody", "template", false, "HTML body"}};
constexpr config_key k_status_keys[] = {{"status", "template", true, "the new pipeline status, e.g. QUALIFIED"}};
constexpr config_key k_tag_keys[] = {{"tag", "template", true, "the tag"}};
constexpr config_key k_set_field_keys[] = {
    {"fieldKey", "string", true, "a form field key or a core field (name, company_name, phone, source)"},
    {"value", "template", false, "the value"}};
constexpr config_key k_score_keys[] = {
    {"delta", "integer", false, "points to add (negative to subtract)"},
    {"operation", "string", false, "\"add\" or \"subtract\" (with amount)"},
    {"amount", "integer", false, "points (with operation)"}};
constexpr config_key k_assign_keys[] = {{"userId", "template", true, "the user to assign the lead to"}};
constexpr config_key k_webhook_keys[] = {
    {"endpointId", "string", true, "the webhook endpoint"},
    {"payload", "template", false, "JSON body template; default: the lead payload"}};
constexpr config_key k_delay_keys[] = {
    {"delayDays", "integer", false, "calendar days in the workspace zone"},
    {"delayHours", "integer", false, "hours"},
    {"delayMinutes", "integer", false, "minutes; the total must be > 0 and <= 365 days"}};
constexpr config_key k_wait_keys[] = {
    {"until", "date_time", false, "ISO 8601; without an offset, workspace-local"},
    {"weekdays", "weekdays", false, "[\"MON\",...]: wait for the next of these days"},
    {"startHour", "integer", false, "window start hour 0..23 (default 9)"},
    {"endHour", "integer", false, "window end hour, exclusive (default startHour+1)"}};
constexpr config_key k_condition_keys[] = {
    {"field", "string", true, "lead field, custom field key, email_domain or trigger.<path>"},
    {"operator", "operator", true, "== != > >= < <= contains not_contains starts_with ends_with in not_in is_empty is_not_empty matches"},
    {"value", "any", false, "the value to compare with"},
    {"rules", "condition[]", false, "several rules instead of field/operator/value"},
    {"match", "string", false, "\"all\" (default) or \"any\""},
    {"trueHandle", "string", false, "handle taken when true (default \"true\")"},
    {"falseHandle", "string", false, "handle taken when false (default \"false\")"}};
constexpr config_key k_split_keys[] = {
    {"branches", "split[]", false, "[{\"handle\",\"percent\"}] summing to 100"},
    {"percentA", "integer", false, "shorthand: percent for handle \"a\", the rest to \"b\""}};

constexpr node_type_info k_catalog[] = {
    {node_type::trigger_form, "a public form was submitted", k_trigger_keys},
    {node_type::trigger_email, "an email arrived at the intake address", {}},
    {node_type::trigger_webhook, "an incoming webhook was received", {}},
    {node_type::trigger_manual, "started by a person", {}},
    {node_type::trigger_schedule, "fires on a cron schedule", k_schedule_keys},
    {node_type::action_send_email, "sends an email to the lead", k_email_keys},
    {node_type::action_notify_owner, "emails the workspace owner", k_notify_keys},
    {node_type::action_update_status, "sets the lead's status", k_status_keys},
    {node_type::action_add_tag, "adds a tag to the lead", k_tag_keys},
    {node_type::action_remove_tag, "removes a tag from the lead", k_tag_keys},
    {node_type::action_set_field, "sets a field of the lead", k_set_field_keys},
    {node_type::action_update_score, "changes the lead's score", k_score_keys},
    {node_type::action_assign, "assigns the lead to a user", k_assign_keys},
    {node_type::action_send_webhook, "sends a webhook", k_webhook_keys},
    {node_type::logic_delay, "waits for a duration", k_delay_keys},
    {node_type::logic_wait_until, "waits for a date-time or a weekday window", k_wait_keys},
    {node_type::logic_condition, "branches on a condition", k_condition_keys},
    {node_type::logic_split, "splits leads between branches by percentage", k_split_keys},
    {node_type::logic_end, "ends this path", {}},
};

}  // namespace

std::span<const node_type_info> node_catalog() { return k_catalog; }

json::array node_catalog_json() {
  json::array out;
  for (const auto& info : k_catalog) {
    json::object o;
    o["type"] = to_string(info.type);
    o["category"] = to_string(category_of(info.type));
    o["description"] = info.description;
    json::array keys;
    for (const auto& k : info.config) {
      keys.emplace_back(json::object{{"name", k.name}, {"kind", k.kind}, {"required", k.required},
                                     {"description", k.description}});
    }
    o["config"] = std::move(keys);
    out.emplace_back(std::move(o));
  }
  return out;
}

}  // namespace flowtrack::runtime
