#include "domain/form.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <boost/json.hpp>

#include "runtime/text.hpp"

namespace flowtrack::domain {
namespace json = boost::json;
namespace {

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (s[i] < '0' || s[i] > '9') return false;
  int y = 0, m = 0, d = 0;
  std::from_chars(s.data(), s.data() + 4, y);
  std::from_chars(s.data() + 5, s.data() + 7, m);
  std::from_chars(s.data() + 8, s.data() + 10, d);
  static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days[m - 1]) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

std::optional<double> number_of(const json::value& v) {
  if (v.is_number()) return v.to_number<double>();
  if (!v.is_string()) return std::nullopt;
  std::string_view s = runtime::trim(v.as_string());
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty() || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<std::size_t> count_of(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (v && v->is_int64() && v->as_int64() >= 0) return static_cast<std::size_t>(v->as_int64());
  if (v && v->is_uint64()) return static_cast<std::size_t>(v->as_uint64());
  return std::nullopt;
}

std::size_t characters(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string format_number(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

error field_error_of(const form_field_spec& f, const std::string& message) {
  return make_error(error_code::invalid, message, f.field.field_key);
}

void read_options(const json::value& v, std::vector<std::pair<std::string, std::string>>& out) {
  if (!v.is_array()) return;
  for (const auto& o : v.as_array()) {
    if (o.is_string()) out.emplace_back(std::string(o.as_string()), std::string(o.as_string()));
    else if (o.is_number()) out.emplace_back(json::serialize(o), json::serialize(o));
    else if (o.is_object()) {
      auto* val = o.as_object().if_contains("value");
      auto* label = o.as_object().if_contains("label");
      if (!val || !(val->is_string() || val->is_number())) continue;
      std::string value = val->is_string() ? std::string(val->as_string()) : json::serialize(*val);
      out.emplace_back(value, label && label->is_string() ? std::string(label->as_string()) : value);
    }
  }
}

field_rules parse_rules(const domain::form_field_record& f, std::vector<std::string>& problems) {
  field_rules r;
  r.required = f.is_required;
  boost::system::error_code ec;
  if (f.options) read_options(json::parse(*f.options, ec), r.options);
  if (!f.validation_rules) return r;
  auto v = json::parse(*f.validation_rules, ec);
  if (ec || !v.is_object()) {
    problems.push_back(f.field_key + ": validation_rules is not a JSON object");
    return r;
  }
  const auto& o = v.as_object();
  if (auto* req = o.if_contains("required"); req && req->is_bool()) r.required = r.required || req->as_bool();
  r.min_length = count_of(o, "minLength");
  r.max_length = count_of(o, "maxLength");
  for (auto [key, num, date] : {std::tuple{"min", &r.min, &r.min_date}, std::tuple{"max", &r.max, &r.max_date}}) {
    auto* b = o.if_contains(key);
    if (!b) continue;
    if (f.field_type == "DATE" && b->is_string() && valid_date(b->as_string())) *date = std::string(b->as_string());
    else if (auto d = number_of(*b)) *num = d;
    else problems.push_back(f.field_key + ": " + key + " is not a number or date");
  }
  if (auto* p = o.if_contains("pattern"); p && p->is_string() && !p->as_string().empty()) {
    auto re = runtime::compiled_regex::compile(p->as_string(), true, /*whole=*/true);
    if (re) {
      r.pattern = std::string(p->as_string());
      r.regex = *re;
    } else {
      problems.push_back(f.field_key + ": pattern: " + re.err().message);
    }
  }
  if (auto* opts = o.if_contains("options"); opts && r.options.empty()) read_options(*opts, r.options);
  return r;
}

std::string text_setting(const json::object& o, const char* key, std::string fallback) {
  auto* v = o.if_contains(key);
  return v && v->is_string() && !v->as_string().empty() ? std::string(v->as_string()) : fallback;
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

std::string rate_limit_client(std::string_view ip, int ipv6_prefix) {
  std::string text(ip);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return text;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;
  const unsigned char* b = v6.s6_addr;
  static constexpr unsigned char k_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(b, b + 12, k_mapped)) {
    char out[INET_ADDRSTRLEN];
    std::memcpy(&v4, b + 12, 4);
    return inet_ntop(AF_INET, &v4, out, sizeof out) ? std::string(out) : text;
  }
  int prefix = std::clamp(ipv6_prefix, 0, 128);
  for (int bit = prefix; bit < 128; ++bit) v6.s6_addr[bit / 8] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
  char out[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, &v6, out, sizeof out)) return text;
  return std::string(out) + "/" + std::to_string(prefix);
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

std::optional<std::string> find_nul(const json::value& v, const std::string& path) {
  if (v.is_string()) {
    if (v.as_string().find('\0') != json::string::npos) return path.empty() ? std::string("body") : path;
  } else if (v.is_object()) {
    for (const auto& [k, child] : v.as_object()) {
      std::string p = path.empty() ? std::string(k) : path + "." + std::string(k);
      if (k.find('\0') != json::string::npos) return p;
      if (auto r = find_nul(child, p)) return r;
    }
  } else if (v.is_array()) {
    std::size_t i = 0;
    for (const auto& child : v.as_array())
      if (auto r = find_nul(child, path + "[" + std::to_string(i++) + "]")) return r;
  }
  return std::nullopt;
}

std::shared_ptr<const form_spec> make_form_spec(const domain::workflow_record& wf) {
  auto spec = std::make_shared<form_spec>();
  for (const auto& f : wf.fields) spec->fields.push_back({f, parse_rules(f, spec->problems)});
  spec->slug = wf.id;
  spec->title = wf.name;
  boost::system::error_code ec;
  auto settings = json::parse(wf.settings, ec);
  if (!ec && settings.is_object())
    if (auto* form = settings.as_object().if_contains("form"); form && form->is_object()) {
      const auto& o = form->as_object();
      spec->slug = text_setting(o, "slug", spec->slug);
      spec->title = text_setting(o, "title", spec->title);
      spec->description = text_setting(o, "description", "");
      spec->submit_label = text_setting(o, "submitLabel", spec->submit_label);
      spec->thank_you = text_setting(o, "thankYou", spec->thank_you);
    }
  return spec;
}

result<std::optional<std::string>> check_field(const form_field_spec& spec, const json::value& v) {
  const auto& f = spec.field;
  const auto& r = spec.rules;
  if (!(v.is_string() || v.is_number() || v.is_bool() || v.is_null()))
    return field_error_of(spec, f.label + " must be a single value");
  std::string text = v.is_string() ? std::string(v.as_string()) : v.is_null() ? std::string() : json::serialize(v);
  if (!valid_utf8(text)) return field_error_of(spec, f.label + " must be valid UTF-8 text");
  if (text.find('\0') != std::string::npos) return field_error_of(spec, f.label + " must not contain NUL characters");

  if (f.field_type == "CHECKBOX") {
    std::string t(runtime::trim(text));
    runtime::to_lower_ascii(t);
    bool on;
    if (t == "true" || t == "on" || t == "1" || t == "yes") on = true;
    else if (t == "false" || t == "off" || t == "0" || t == "no" || t.empty()) on = false;
    else return field_error_of(spec, f.label + " must be checked or not");
    if (r.required && !on) return field_error_of(spec, f.label + " must be checked");
    return std::optional<std::string>(on ? "true" : "false");
  }
  if (f.field_type != "TEXTAREA" && f.field_type != "TEXT") text = std::string(runtime::trim(text));
  if (runtime::trim(text).empty()) {
    if (r.required) return field_error_of(spec, f.label + " is required");
    return std::optional<std::string>();
  }
  if (f.field_type == "NUMBER") {
    auto d = number_of(json::value(text));
    if (!d) return field_error_of(spec, f.label + " must be a number");
    if (r.min && *d < *r.min) return field_error_of(spec, f.label + " must be at least " + format_number(*r.min));
    if (r.max && *d > *r.max) return field_error_of(spec, f.label + " must be at most " + format_number(*r.max));
  } else if (f.field_type == "DATE") {
    if (!valid_date(text)) return field_error_of(spec, f.label + " must be a date as YYYY-MM-DD");
    if (r.min_date && text < *r.min_date) return field_error_of(spec, f.label + " must be on or after " + *r.min_date);
    if (r.max_date && text > *r.max_date) return field_error_of(spec, f.label + " must be on or before " + *r.max_date);
  } else if (f.field_type == "EMAIL") {
    if (!valid_email(text)) return field_error_of(spec, f.label + " must be an email address");
  } else if (f.field_type == "DROPDOWN" && !r.options.empty()) {
    bool listed = false;
    for (const auto& [value, label] : r.options) listed = listed || value == text;
    if (!listed) return field_error_of(spec, f.label + " must be one of the listed options");
  }
  std::size_t n = characters(text);
  if (r.min_length && n < *r.min_length)
    return field_error_of(spec, f.label + " must be at least " + std::to_string(*r.min_length) + " characters");
  if (r.max_length && n > *r.max_length)
    return field_error_of(spec, f.label + " must be at most " + std::to_string(*r.max_length) + " characters");
  if (r.regex && !r.regex->matches(text)) return field_error_of(spec, f.label + " is not in the expected format");
  return std::optional<std::string>(std::move(text));
}

form_check check_submission(const form_spec& form, const json::object& values) {
  form_check out;
  json::object fields;
  json::object lead;
  const form_field_spec* email_field = nullptr;
  for (const auto& f : form.fields)
    if (f.field.field_key == "email") email_field = &f;
  for (const auto& f : form.fields)
    if (!email_field && f.field.field_type == "EMAIL") email_field = &f;

  static constexpr std::pair<std::string_view, std::array<std::string_view, 3>> k_core[] = {
      {"name", {"name", "full_name", "fullName"}},
      {"company_name", {"company_name", "companyName", "company"}},
      {"phone", {"phone", "phone_number", "phoneNumber"}}};
  for (const auto& f : form.fields) {
    const auto* v = values.if_contains(f.field.field_key);
    auto checked = check_field(f, v ? *v : json::value(nullptr));
    if (!checked) {
      out.errors.push_back({f.field.field_key, checked.err().message});
      continue;
    }
    if (!*checked) continue;
    const std::string& text = **checked;
    fields[f.field.field_key] = text;
    if (&f == email_field) lead["email"] = text;
    for (const auto& [column, keys] : k_core)
      for (std::string_view k : keys)
        if (f.field.field_key == k && !lead.contains(column)) lead[column] = text;
  }
  if (!email_field) out.errors.push_back({"email", "this form has no email field, so it cannot take submissions"});
  lead["fields"] = std::move(fields);
  out.lead = std::move(lead);
  return out;
}

}  // namespace flowtrack::domain
