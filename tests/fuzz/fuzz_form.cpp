// Fuzzes what a stranger can send a public form: the urlencoded and JSON bodies, the checks of
// every field type and rule, and the page that shows the values back. Invariants: no crash, the
// page is valid UTF-8, and nothing sent comes back as markup.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/json.hpp>

#include "domain/form.hpp"
#include "adapters/http/form_page.hpp"
#include "adapters/http/urlencoded.hpp"

namespace {

using namespace flowtrack;
namespace json = boost::json;

const domain::form_spec& spec() {
  static const auto s = [] {
    domain::workflow_record wf;
    wf.id = "wf";
    wf.name = "Fuzz";
    auto add = [&](const char* key, const char* type, bool required, const char* rules, const char* options) {
      domain::form_field_record f;
      f.id = std::string("id-") + key;
      f.field_key = key;
      f.label = key;
      f.field_type = type;
      f.is_required = required;
      if (rules) f.validation_rules = rules;
      if (options) f.options = options;
      wf.fields.push_back(f);
    };
    add("email", "EMAIL", true, nullptr, nullptr);
    add("name", "TEXT", true, R"({"minLength":2,"maxLength":20,"pattern":"[^0-9]+"})", nullptr);
    add("notes", "TEXTAREA", false, R"({"maxLength":200})", nullptr);
    add("size", "DROPDOWN", false, nullptr, R"(["a","b",{"value":"c","label":"C"}])");
    add("budget", "NUMBER", false, R"({"min":-5,"max":1e6})", nullptr);
    add("start", "DATE", false, R"({"min":"2000-01-01","max":"2099-12-31"})", nullptr);
    add("ok", "CHECKBOX", false, nullptr, nullptr);
    return domain::make_form_spec(wf);
  }();
  return *s;
}

void show(const json::object& values, const std::map<std::string, std::string>& typed) {
  auto check = domain::check_submission(spec(), values);
  http::form_page page;
  page.workspace_name = "W";
  page.action = "/p/w";
  page.form = &spec();
  page.values = typed;
  page.errors = check.errors;
  std::string html = http::render_form(page);
  if (!domain::valid_utf8(html)) std::abort();
  // The values may change attribute values and text, never the markup: the same page without
  // them has exactly as many tags.
  page.values.clear();
  std::string bare = http::render_form(page);
  if (std::count(html.begin(), html.end(), '<') != std::count(bare.begin(), bare.end(), '<')) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto pairs = http::parse_urlencoded(in)) {
    json::object values;
    std::map<std::string, std::string> typed;
    for (auto& [k, v] : *pairs) {
      values[k] = v;
      typed[k] = v;
    }
    show(values, typed);
  }
  boost::system::error_code ec;
  auto v = json::parse(in, ec);
  if (!ec && v.is_object()) show(v.as_object(), {});
  return 0;
}
