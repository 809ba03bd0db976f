// Templates: variables, filters, escaping, unknown variables, compile errors.
#include "runtime/template.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/unit/runtime/test_helpers.hpp"

namespace flowtrack::runtime {
namespace {

namespace json = boost::json;

class templates : public ::testing::Test {
 protected:
  lead subject = test::sample_lead();
  json::value trigger = json::parse(R"({"utm":{"source":"google"},"submittedAt":"2025-07-04T16:05:09Z"})");
  run_env env;
  templates() {
    env.execution_id = "exec-1";
    env.workspace_name = "Acme & Co";
    env.workflow_name = "Welcome";
    env.zone = test::zone("America/New_York");
  }
  std::string render(const char* src, escape_mode mode = escape_mode::none, std::vector<std::string>* unknown = nullptr) {
    auto t = text_template::compile(src);
    EXPECT_TRUE(t.ok()) << src << ": " << (t.ok() ? "" : t.err().message);
    if (!t.ok()) return "<error>";
    return t->render(eval_context{subject, trigger, env, test::ms("2025-01-02T03:04:05Z")}, mode, unknown);
  }
};

TEST_F(templates, renders_variables_table) {
  const std::pair<const char*, const char*> cases[] = {
      {"Hi {{lead.name}}!", "Hi Ada Lovelace!"},
      {"{{ lead.first_name }}", "Ada"},
      {"{{lead.email}} / {{lead.email_domain}}", "Ada@Example.COM / Example.COM"},
      {"{{lead.company_name}} {{lead.phone}} {{lead.status}} {{lead.source}}",
       "Analytical Engines +44 20 7946 0000 NEW FORM"},
      {"{{lead.score}}", "42"},
      {"{{lead.tags}}", "vip, Newsletter"},
      {"{{lead.fields.budget}} {{lead.fields.employees}} {{lead.fields.consent}}", "7500 12 true"},
      {"{{lead.fields.interests}}", "crm, email"},
      {"{{workspace.name}} {{workflow.name}} {{execution.id}}", "Acme & Co Welcome exec-1"},
      {"{{trigger.utm.source}}", "google"},
      {"no variables", "no variables"},
      {"", ""},
      {"{{lead.fields.nope | default:\"there\"}}", "there"},
      {"{{lead.fields.empty | default:'n/a'}}", "n/a"},
      {"{{lead.name | upper}}", "ADA LOVELACE"},
      {"{{lead.name|lower}}", "ada lovelace"},
      {"{{lead.fields.nope | default:\"x y\" | upper}}", "X Y"},
      {"{{trigger.submittedAt | date:\"%Y-%m-%d %H:%M %Z\"}}", "2025-07-04 12:05 EDT"},
      {"{{now | date}}", "2025-01-01"},
      {"{{lead.fields.country | lower | capitalize}}", "Uk"},
      {"{{lead.fields.budget | default:\"0\"}}", "7500"},
  };
  for (const auto& [src, expected] : cases) EXPECT_EQ(render(src), expected) << src;
}

TEST_F(templates, escapes_values_not_text_in_html) {
  subject.name = "<script>alert('x')</script> & co";
  EXPECT_EQ(render("<b>{{lead.name}}</b>", escape_mode::html),
            "<b>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co</b>");
  EXPECT_EQ(render("<p>{{workspace.name | upper}}</p>", escape_mode::html), "<p>ACME &amp; CO</p>");
}

TEST_F(templates, escapes_values_in_json) {
  subject.name = "Ada \"the\" \\ Countess\n";
  EXPECT_EQ(render(R"({"name":"{{lead.name}}"})", escape_mode::json), R"({"name":"Ada \"the\" \\ Countess\n"})");
}

TEST_F(templates, reports_unknown_and_missing_variables_and_renders_them_empty) {
  std::vector<std::string> unknown;
  EXPECT_EQ(render("a{{lead.favourite_colour}}b{{lead.fields.nope}}c{{foo}}d{{lead.fields.x | default:\"y\"}}",
                   escape_mode::none, &unknown),
            "abcdy");
  EXPECT_EQ(unknown, (std::vector<std::string>{"lead.favourite_colour", "lead.fields.nope", "foo"}));
}

TEST(template_compile, rejects_bad_templates) {
  for (const char* bad : {"Hi {{lead.name", "{{}}", "{{ | upper}}", "{{lead.name | shout}}", "{{lead.name | default}}",
                          "{{lead.name | upper:\"x\"}}", "{{lead.name | default:\"unterminated}}", "{{a {{b}} }}",
                          "{{lead.name; rm -rf}}", "{{ lead['name'] }}"}) {
    EXPECT_FALSE(text_template::compile(bad).ok()) << bad;
  }
  EXPECT_FALSE(text_template::compile(std::string(k_max_template_length + 1, 'x')).ok());
}

TEST(template_compile, never_executes_code) {
  // Only dotted names and fixed filters exist; anything else is literal text or an error.
  auto t = text_template::compile("{{constructor.constructor}} ${7*7} <%= 7*7 %>");
  ASSERT_TRUE(t.ok());
  lead l;
  run_env env;
  json::value trig;
  EXPECT_EQ(t->render(eval_context{l, trig, env, 0}), " ${7*7} <%= 7*7 %>");
}

}  // namespace
}  // namespace flowtrack::runtime
