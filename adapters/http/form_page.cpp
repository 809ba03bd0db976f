#include "adapters/http/form_page.hpp"

#include <cstdio>

#include "runtime/text.hpp"

namespace flowtrack::http {
namespace {

// One stylesheet for every page: readable on a phone, visible focus, errors not by colour alone.
constexpr std::string_view k_style = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24;line-height:1.5}
main{max-width:36rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.6rem;margin:0 0 .5rem}
.workspace{color:#4a5360;margin:0 0 1.5rem}
.field{margin:0 0 1.25rem}
label{display:block;font-weight:600;margin-bottom:.3rem}
.req{color:#a4161a}
input[type=text],input[type=email],input[type=number],input[type=date],select,textarea{box-sizing:border-box;width:100%;font:inherit;padding:.6rem .7rem;border:1px solid #8a939e;border-radius:.4rem;background:#fff}
textarea{min-height:7rem}
input:focus,select:focus,textarea:focus,button:focus{outline:3px solid #2b6cb0;outline-offset:1px}
.check label{display:inline;font-weight:600;margin-left:.4rem}
.help{color:#4a5360;font-size:.9rem;margin:.25rem 0 0}
.error{color:#a4161a;font-weight:600;margin:.3rem 0 0}
[aria-invalid=true]{border-color:#a4161a;border-width:2px}
.summary{border:2px solid #a4161a;border-radius:.4rem;padding:.75rem 1rem;margin:0 0 1.5rem;background:#fff}
.summary h2{font-size:1.1rem;margin:0 0 .4rem}
button{font:inherit;font-weight:600;padding:.7rem 1.4rem;border:0;border-radius:.4rem;background:#2b6cb0;color:#fff;cursor:pointer}
.hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
)";

std::string page(std::string_view title, const std::string& body) {
  std::string out;
  out.reserve(body.size() + 2048);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
  out += html_escape(title);
  out += "</title>\n<style>";
  out += k_style;
  out += "</style>\n</head>\n<body>\n<main>\n";
  out += body;
  out += "</main>\n</body>\n</html>\n";
  return out;
}

std::string attr(std::string_view name, std::string_view value) {
  // Appended, not `" " + std::string(...)`: GCC 12 misreads that insert as an overlapping copy
  // (-Wrestrict).
  std::string out(" ");
  out.append(name).append("=\"").append(html_escape(value)).push_back('"');
  return out;
}

std::string number_text(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

const char* autocomplete_of(std::string_view key, std::string_view type) {
  if (type == "EMAIL" || key == "email") return "email";
  if (key == "name" || key == "full_name" || key == "fullName") return "name";
  if (key == "phone" || key == "phone_number" || key == "phoneNumber") return "tel";
  if (key == "company" || key == "company_name" || key == "companyName") return "organization";
  return nullptr;
}

bool checked(std::string_view v) { return v == "true" || v == "on" || v == "1" || v == "yes"; }

void field_html(std::string& out, const domain::form_field_spec& spec, const std::string* value, const std::string* error) {
  const auto& f = spec.field;
  const auto& r = spec.rules;
  const std::string id = "field-" + f.field_key;
  std::string described;
  if (f.help_text && !f.help_text->empty()) described += "help-" + f.field_key;
  if (error) described.append(described.empty() ? "" : " ").append("error-").append(f.field_key);
  std::string common = attr("id", id) + attr("name", f.field_key);
  if (r.required) common += " required aria-required=\"true\"";
  if (!described.empty()) common += attr("aria-describedby", described);
  if (error) common += " aria-invalid=\"true\"";

  std::string required_mark =
      r.required ? " <span class=\"req\" aria-hidden=\"true\">*</span><span class=\"visually-hidden\"> (required)</span>" : "";
  const bool is_check = f.field_type == "CHECKBOX";
  out += is_check ? "<div class=\"field check\">\n" : "<div class=\"field\">\n";
  if (is_check) {
    out += "<input type=\"checkbox\" value=\"true\"" + common + (value && checked(*value) ? " checked" : "") + ">";
    out += "<label for=\"" + html_escape(id) + "\">" + html_escape(f.label) + required_mark + "</label>\n";
  } else {
    out += "<label for=\"" + html_escape(id) + "\">" + html_escape(f.label) + required_mark + "</label>\n";
    std::string placeholder = f.placeholder && !f.placeholder->empty() ? attr("placeholder", *f.placeholder) : "";
    std::string lengths;
    if (r.min_length) lengths += attr("minlength", std::to_string(*r.min_length));
    if (r.max_length) lengths += attr("maxlength", std::to_string(*r.max_length));
    std::string pattern = r.regex ? attr("pattern", r.pattern) : "";
    std::string val = value ? *value : std::string();
    if (f.field_type == "TEXTAREA") {
      out += "<textarea rows=\"5\"" + common + placeholder + lengths + ">" + html_escape(val) + "</textarea>\n";
    } else if (f.field_type == "DROPDOWN") {
      out += "<select" + common + ">\n<option value=\"\">" + html_escape(f.placeholder.value_or("Choose…")) + "</option>\n";
      for (const auto& [v, label] : r.options)
        out += "<option" + attr("value", v) + (value && *value == v ? " selected" : "") + ">" + html_escape(label) + "</option>\n";
      out += "</select>\n";
    } else {
      std::string type = f.field_type == "EMAIL" ? "email" : f.field_type == "NUMBER" ? "number" : f.field_type == "DATE" ? "date" : "text";
      std::string extra;
      if (f.field_type == "NUMBER") {
        extra += " step=\"any\" inputmode=\"decimal\"";
        if (r.min) extra += attr("min", number_text(*r.min));
        if (r.max) extra += attr("max", number_text(*r.max));
      } else if (f.field_type == "DATE") {
        if (r.min_date) extra += attr("min", *r.min_date);
        if (r.max_date) extra += attr("max", *r.max_date);
      } else {
        extra += lengths + pattern;
      }
      if (const char* ac = autocomplete_of(f.field_key, f.field_type)) extra += attr("autocomplete", ac);
      out += "<input" + attr("type", type) + common + placeholder + extra + attr("value", val) + ">\n";
    }
  }
  if (f.help_text && !f.help_text->empty())
    out += "<p class=\"help\"" + attr("id", "help-" + f.field_key) + ">" + html_escape(*f.help_text) + "</p>\n";
  if (error) out += "<p class=\"error\"" + attr("id", "error-" + f.field_key) + ">" + html_escape(*error) + "</p>\n";
  out += "</div>\n";
}

}  // namespace

std::string html_escape(std::string_view text) {
  // Invalid UTF-8 (and NUL) first becomes U+FFFD, so the page is always valid UTF-8.
  std::string clean;
  clean.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (c != 0 && n != 0 && i + n <= text.size() && (n == 1 || domain::valid_utf8(text.substr(i, n)))) {
      clean.append(text.substr(i, n));
      i += n;
    } else {
      clean += "\xEF\xBF\xBD";
      ++i;
    }
  }
  std::string out;
  out.reserve(clean.size() + 16);
  runtime::append_html_escaped(out, clean);
  return out;
}

std::string render_form(const form_page& p) {
  const auto& form = *p.form;
  std::map<std::string, std::string> errors;
  for (const auto& e : p.errors) errors.emplace(e.field, e.message);
  std::string body;
  body += "<h1>" + html_escape(form.title) + "</h1>\n";
  body += "<p class=\"workspace\">" + html_escape(p.workspace_name) + "</p>\n";
  if (!form.description.empty()) body += "<p>" + html_escape(form.description) + "</p>\n";
  if (!p.errors.empty()) {
    body += "<div class=\"summary\" role=\"alert\" id=\"error-summary\">\n<h2>Please correct " +
            std::string(p.errors.size() == 1 ? "this" : "these") + ":</h2>\n<ul>\n";
    for (const auto& e : p.errors) {
      bool is_field = false;
      for (const auto& f : form.fields) is_field = is_field || f.field.field_key == e.field;
      body += is_field ? "<li><a href=\"#field-" + html_escape(e.field) + "\">" + html_escape(e.message) + "</a></li>\n"
                       : "<li>" + html_escape(e.message) + "</li>\n";
    }
    body += "</ul>\n</div>\n";
  }
  body += "<form method=\"post\"" + attr("action", p.action) + " accept-charset=\"utf-8\">\n";
  if (form.fields.empty()) body += "<p>This form has no fields yet.</p>\n";
  for (const auto& f : form.fields) {
    auto v = p.values.find(f.field.field_key);
    auto e = errors.find(f.field.field_key);
    field_html(body, f, v == p.values.end() ? nullptr : &v->second, e == errors.end() ? nullptr : &e->second);
  }
  body += "<div class=\"hp\" aria-hidden=\"true\"><label for=\"ft-website\">Leave this field empty</label>"
          "<input type=\"text\" id=\"ft-website\"" + attr("name", k_honeypot_field) + " tabindex=\"-1\" autocomplete=\"off\"></div>\n";
  body += "<button type=\"submit\" id=\"submit\">" + html_escape(form.submit_label) + "</button>\n</form>\n";
  return page(form.title, body);
}

std::string render_thank_you(std::string_view workspace_name, std::string_view title, std::string_view message) {
  std::string body = "<h1 id=\"thank-you\">Thank you</h1>\n";
  if (!workspace_name.empty()) body += "<p class=\"workspace\">" + html_escape(workspace_name) + " · " + html_escape(title) + "</p>\n";
  body += "<p role=\"status\">" + html_escape(message) + "</p>\n";
  return page("Thank you", body);
}

std::string render_index(std::string_view workspace_name, const std::vector<std::pair<std::string, std::string>>& forms) {
  std::string body = "<h1>" + html_escape(workspace_name) + "</h1>\n<p>Choose a form:</p>\n<ul>\n";
  for (const auto& [title, href] : forms) body += "<li><a" + attr("href", href) + ">" + html_escape(title) + "</a></li>\n";
  body += "</ul>\n";
  return page(workspace_name, body);
}

std::string render_message(std::string_view title, std::string_view message) {
  return page(title, "<h1>" + html_escape(title) + "</h1>\n<p>" + html_escape(message) + "</p>\n");
}

}  // namespace flowtrack::http
