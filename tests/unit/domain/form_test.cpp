// Form submissions as the engine checks them: every field type and validation rule, good and
// bad, every error at once, the lead a submission becomes.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "domain/form.hpp"

namespace flowtrack {
namespace {

namespace json = boost::json;
using domain::check_field;
using domain::check_submission;

domain::form_field_record field(std::string key, std::string type, bool required = false,
                                 std::optional<std::string> rules = std::nullopt,
                                 std::optional<std::string> options = std::nullopt) {
  domain::form_field_record f;
  f.id = "id-" + key;
  f.field_key = key;
  f.label = key;
  f.field_type = std::move(type);
  f.is_required = required;
  f.validation_rules = std::move(rules);
  f.options = std::move(options);
  return f;
}

std::shared_ptr<const domain::form_spec> spec_of(std::vector<domain::form_field_record> fields,
                                                 std::string settings = "{}") {
  domain::workflow_record wf;
  wf.id = "wf-1";
  wf.name = "Contact";
  wf.settings = std::move(settings);
  wf.fields = std::move(fields);
  return domain::make_form_spec(wf);
}

// The stored text for one value, or the error message.
std::string check(const domain::form_field_record& f, const json::value& v) {
  auto spec = spec_of({f});
  auto r = check_field(spec->fields.front(), v);
  if (!r) return "error: " + r.err().message;
  return *r ? **r : "<empty>";
}

TEST(form_test, text_rules_min_length_max_length_and_pattern_count_characters) {
  auto f = field("code", "TEXT", false, R"({"minLength":2,"maxLength":4,"pattern":"[A-Z]+"})");
  EXPECT_EQ(check(f, "AB"), "AB");
  EXPECT_EQ(check(f, "A"), "error: code must be at least 2 characters");
  EXPECT_EQ(check(f, "ABCDE"), "error: code must be at most 4 characters");
  EXPECT_EQ(check(f, "ab"), "error: code is not in the expected format");
  EXPECT_EQ(check(f, "ABx"), "error: code is not in the expected format") << "the whole value must match";
  EXPECT_EQ(check(f, ""), "<empty>") << "optional and empty: nothing stored";
  auto umlauts = field("n", "TEXT", false, R"({"maxLength":3})");
  EXPECT_EQ(check(umlauts, "äöü"), "äöü") << "three characters, six bytes";
  EXPECT_EQ(check(field("t", "TEXTAREA"), "line 1\nline 2 "), "line 1\nline 2 ") << "text is kept verbatim";
}

TEST(form_test, required_fields_and_checkboxes) {
  EXPECT_EQ(check(field("name", "TEXT", true), ""), "error: name is required");
  EXPECT_EQ(check(field("name", "TEXT", true), "   "), "error: name is required");
  EXPECT_EQ(check(field("name", "TEXT", false, R"({"required":true})"), nullptr), "error: name is required");
  auto consent = field("consent", "CHECKBOX", true);
  EXPECT_EQ(check(consent, "true"), "true");
  EXPECT_EQ(check(consent, true), "true");
  EXPECT_EQ(check(consent, "on"), "true");
  EXPECT_EQ(check(consent, ""), "error: consent must be checked");
  EXPECT_EQ(check(field("news", "CHECKBOX"), nullptr), "false");
  EXPECT_EQ(check(field("news", "CHECKBOX"), "maybe"), "error: news must be checked or not");
}

TEST(form_test, numbers_with_min_and_max) {
  auto f = field("budget", "NUMBER", false, R"({"min":100,"max":5000.5})");
  EXPECT_EQ(check(f, "250"), "250");
  EXPECT_EQ(check(f, 250), "250");
  EXPECT_EQ(check(f, " 99.5 "), "error: budget must be at least 100");
  EXPECT_EQ(check(f, "5001"), "error: budget must be at most 5000.5");
  EXPECT_EQ(check(f, "12abc"), "error: budget must be a number");
  EXPECT_EQ(check(f, "nan"), "error: budget must be a number");
  EXPECT_EQ(check(f, json::array{1}), "error: budget must be a single value");
}

TEST(form_test, dates_with_bounds) {
  auto f = field("start", "DATE", false, R"({"min":"2026-01-01","max":"2026-12-31"})");
  EXPECT_EQ(check(f, "2026-02-28"), "2026-02-28");
  EXPECT_EQ(check(f, "2026-02-29"), "error: start must be a date as YYYY-MM-DD");
  EXPECT_EQ(check(f, "2026-1-01"), "error: start must be a date as YYYY-MM-DD");
  EXPECT_EQ(check(f, "2025-12-31"), "error: start must be on or after 2026-01-01");
  EXPECT_EQ(check(f, "2027-01-01"), "error: start must be on or before 2026-12-31");
}

TEST(form_test, emails_and_dropdown_options) {
  EXPECT_EQ(check(field("email", "EMAIL"), " ann@example.com "), "ann@example.com");
  EXPECT_EQ(check(field("email", "EMAIL"), "ann@"), "error: email must be an email address");
  auto size = field("size", "DROPDOWN", false, std::nullopt, R"(["Small",{"value":"L","label":"Large"}])");
  EXPECT_EQ(check(size, "Small"), "Small");
  EXPECT_EQ(check(size, "L"), "L");
  EXPECT_EQ(check(size, "Large"), "error: size must be one of the listed options") << "the value, not the label";
  auto by_rule = field("tier", "DROPDOWN", false, R"({"options":["gold","silver"]})");
  EXPECT_EQ(check(by_rule, "gold"), "gold");
  EXPECT_EQ(check(by_rule, "bronze"), "error: tier must be one of the listed options");
}

TEST(form_test, invalid_utf8_and_nul_are_refused) {
  EXPECT_EQ(check(field("n", "TEXT"), json::value(std::string_view("ab\xff"))), "error: n must be valid UTF-8 text");
  EXPECT_EQ(check(field("n", "TEXT"), json::value(std::string_view("\xc0\xaf"))), "error: n must be valid UTF-8 text") << "overlong";
  EXPECT_EQ(check(field("n", "TEXT"), json::value(std::string_view("\xed\xa0\x80"))), "error: n must be valid UTF-8 text") << "surrogate";
  EXPECT_EQ(check(field("n", "TEXT"), json::value(std::string_view("a\0b", 3))), "error: n must not contain NUL characters");
  EXPECT_EQ(domain::find_nul(json::parse(R"({"a":{"b":["x","y\u0000"]}})")), std::optional<std::string>("a.b[1]"));
  EXPECT_FALSE(domain::find_nul(json::parse(R"({"a":"ok"})")));
}

TEST(form_test, unreadable_rules_are_reported_and_ignored) {
  auto spec = spec_of({field("a", "TEXT", false, R"({"pattern":"(unclosed"})"), field("b", "NUMBER", false, "[1]")});
  ASSERT_EQ(spec->problems.size(), 2u);
  EXPECT_NE(spec->problems[0].find("a: pattern"), std::string::npos) << spec->problems[0];
  EXPECT_NE(spec->problems[1].find("b: validation_rules"), std::string::npos) << spec->problems[1];
  auto r = check_field(spec->fields[0], "(anything");
  ASSERT_TRUE(r.ok());
}

TEST(form_test, a_submission_reports_every_error_and_becomes_a_lead) {
  auto spec = spec_of({field("email", "EMAIL", true), field("name", "TEXT", true), field("company", "TEXT"),
                       field("budget", "NUMBER", false, R"({"min":1})"), field("phone", "TEXT"), field("notes", "TEXTAREA")},
                      R"({"form":{"slug":"contact","title":"Talk to us","submitLabel":"Go"}})");
  EXPECT_EQ(spec->slug, "contact");
  EXPECT_EQ(spec->title, "Talk to us");
  EXPECT_EQ(spec->submit_label, "Go");
  auto bad = check_submission(*spec, json::parse(R"({"email":"nope","budget":"0","unknown":"x"})").as_object());
  ASSERT_EQ(bad.errors.size(), 3u);
  EXPECT_EQ(bad.errors[0].field, "email");
  EXPECT_EQ(bad.errors[1].field, "name");
  EXPECT_EQ(bad.errors[1].message, "name is required");
  EXPECT_EQ(bad.errors[2].field, "budget");

  auto good = check_submission(*spec, json::parse(R"({"email":"Ann@Example.com","name":"Ann <b>","company":"'; DROP TABLE leads;--",
                                                      "budget":5000,"phone":"","notes":"hi"})").as_object());
  ASSERT_TRUE(good.errors.empty());
  EXPECT_EQ(json::serialize(good.lead),
            R"({"email":"Ann@Example.com","name":"Ann <b>","company_name":"'; DROP TABLE leads;--","fields":{"email":"Ann@Example.com","name":"Ann <b>","company":"'; DROP TABLE leads;--","budget":"5000","notes":"hi"}})");
}

TEST(form_test, a_form_without_an_email_field_cannot_take_submissions) {
  auto spec = spec_of({field("name", "TEXT")});
  auto r = check_submission(*spec, json::parse(R"({"name":"x"})").as_object());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "email");
}


}  // namespace
}  // namespace flowtrack
