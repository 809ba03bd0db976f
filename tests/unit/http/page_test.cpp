// The public form's HTML: every field type with its attributes, errors beside their fields and
// summarised, values kept, and every user-supplied text escaped.
#include <gtest/gtest.h>

#include "adapters/http/form_page.hpp"

namespace flowtrack::http {
namespace {

domain::form_field_record field(std::string key, std::string type, std::string label, bool required = false) {
  domain::form_field_record f;
  f.id = "id-" + key;
  f.field_key = std::move(key);
  f.field_type = std::move(type);
  f.label = std::move(label);
  f.is_required = required;
  return f;
}

std::shared_ptr<const domain::form_spec> every_type() {
  domain::workflow_record wf;
  wf.id = "wf";
  wf.name = "Get a <quote>";
  auto email = field("email", "EMAIL", "Email", true);
  email.placeholder = "you@example.com";
  auto name = field("name", "TEXT", "Name", true);
  name.validation_rules = R"({"minLength":2,"maxLength":40,"pattern":"[^<>]+"})";
  auto notes = field("notes", "TEXTAREA", "Notes");
  notes.help_text = "Anything we should know?";
  auto size = field("size", "DROPDOWN", "Team size");
  size.options = R"(["1-10","11-50"])";
  auto budget = field("budget", "NUMBER", "Budget");
  budget.validation_rules = R"({"min":100,"max":9000})";
  auto start = field("start", "DATE", "Start");
  start.validation_rules = R"({"min":"2026-01-01"})";
  auto consent = field("consent", "CHECKBOX", "I agree", true);
  wf.fields = {email, name, notes, size, budget, start, consent};
  return domain::make_form_spec(wf);
}

bool has(const std::string& html, const std::string& part) { return html.find(part) != std::string::npos; }

TEST(page_test, renders_every_field_type_with_its_attributes_in_display_order) {
  auto spec = every_type();
  form_page p;
  p.workspace_name = "Acme & Sons";
  p.action = "/p/acme";
  p.form = spec.get();
  std::string html = render_form(p);
  EXPECT_TRUE(has(html, "<title>Get a &lt;quote&gt;</title>"));
  EXPECT_TRUE(has(html, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
  EXPECT_TRUE(has(html, "<p class=\"workspace\">Acme &amp; Sons</p>"));
  EXPECT_TRUE(has(html, "<form method=\"post\" action=\"/p/acme\""));
  EXPECT_TRUE(has(html, "<label for=\"field-email\">Email <span class=\"req\" aria-hidden=\"true\">*</span>"));
  EXPECT_TRUE(has(html, "<input type=\"email\" id=\"field-email\" name=\"email\" required"));
  EXPECT_TRUE(has(html, "placeholder=\"you@example.com\""));
  EXPECT_TRUE(has(html, "minlength=\"2\" maxlength=\"40\" pattern=\"[^&lt;&gt;]+\""));
  EXPECT_TRUE(has(html, "<textarea rows=\"5\" id=\"field-notes\" name=\"notes\" aria-describedby=\"help-notes\""));
  EXPECT_TRUE(has(html, "<p class=\"help\" id=\"help-notes\">Anything we should know?</p>"));
  EXPECT_TRUE(has(html, "<select id=\"field-size\" name=\"size\">"));
  EXPECT_TRUE(has(html, "<option value=\"11-50\">11-50</option>"));
  EXPECT_TRUE(has(html, "type=\"number\" id=\"field-budget\" name=\"budget\" step=\"any\" inputmode=\"decimal\" min=\"100\" max=\"9000\""));
  EXPECT_TRUE(has(html, "type=\"date\" id=\"field-start\" name=\"start\" min=\"2026-01-01\""));
  EXPECT_TRUE(has(html, "<input type=\"checkbox\" value=\"true\" id=\"field-consent\" name=\"consent\" required"));
  EXPECT_TRUE(has(html, "name=\"ft_website\" tabindex=\"-1\""));
  EXPECT_TRUE(has(html, "<button type=\"submit\" id=\"submit\">Send</button>"));
  EXPECT_FALSE(has(html, "<script")) << "no JavaScript";
  // Display order: each field after the one before.
  std::size_t at = 0;
  for (const char* id : {"field-email", "field-name", "field-notes", "field-size", "field-budget", "field-start", "field-consent"}) {
    auto next = html.find(std::string("id=\"") + id + "\"");
    ASSERT_NE(next, std::string::npos) << id;
    EXPECT_GT(next, at) << id;
    at = next;
  }
}

TEST(page_test, errors_sit_beside_their_fields_and_values_are_kept_escaped) {
  auto spec = every_type();
  form_page p;
  p.action = "/p/acme";
  p.form = spec.get();
  p.values = {{"email", "\"><script>alert(1)</script>"}, {"notes", "</textarea><img src=x onerror=alert(1)>"},
              {"size", "11-50"}, {"consent", "true"}, {"name", std::string("bad \xff byte")}};
  p.errors = {{"email", "Email must be an email address"}, {"name", "Name is <required>"}};
  std::string html = render_form(p);
  EXPECT_TRUE(has(html, "role=\"alert\""));
  EXPECT_TRUE(has(html, "<li><a href=\"#field-email\">Email must be an email address</a></li>"));
  EXPECT_TRUE(has(html, "<p class=\"error\" id=\"error-email\">Email must be an email address</p>"));
  EXPECT_TRUE(has(html, "aria-describedby=\"error-email\" aria-invalid=\"true\""));
  EXPECT_TRUE(has(html, "value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
  EXPECT_TRUE(has(html, "&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;</textarea>"));
  EXPECT_TRUE(has(html, "<option value=\"11-50\" selected>"));
  EXPECT_TRUE(has(html, "name=\"consent\" required aria-required=\"true\" checked>"));
  EXPECT_TRUE(has(html, "Name is &lt;required&gt;"));
  EXPECT_TRUE(has(html, "value=\"bad \xEF\xBF\xBD byte\"")) << "invalid UTF-8 shown as U+FFFD";
  EXPECT_FALSE(has(html, "<script>"));
  EXPECT_FALSE(has(html, "<img"));
}

TEST(page_test, escaping_covers_markup_quotes_and_broken_utf8) {
  EXPECT_EQ(html_escape("<a href='x'>\"&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(html_escape("Grüße €"), "Grüße €");
  EXPECT_EQ(html_escape(std::string("a\xe2\x82") + "b"), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
  EXPECT_EQ(html_escape(std::string("\0", 1)), "\xEF\xBF\xBD");
}

TEST(page_test, thank_you_index_and_message_pages) {
  std::string thanks = render_thank_you("Acme", "Contact", "We <will> call");
  EXPECT_TRUE(has(thanks, "<h1 id=\"thank-you\">Thank you</h1>"));
  EXPECT_TRUE(has(thanks, "We &lt;will&gt; call"));
  std::string index = render_index("Acme", {{"Quote", "/p/acme/quote"}, {"Jobs", "/p/acme/jobs"}});
  EXPECT_TRUE(has(index, "<a href=\"/p/acme/quote\">Quote</a>"));
  EXPECT_TRUE(has(index, "<a href=\"/p/acme/jobs\">Jobs</a>"));
  EXPECT_TRUE(has(render_message("Form not found", "No <form>"), "<h1>Form not found</h1>\n<p>No &lt;form&gt;</p>"));
}

}  // namespace
}  // namespace flowtrack::http
