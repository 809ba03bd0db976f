// Conditions: every operator, numbers vs strings, case, lists, missing fields, regex limits.
#include "runtime/condition.hpp"

#include <chrono>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/unit/runtime/test_helpers.hpp"

namespace flowtrack::runtime {
namespace {

namespace json = boost::json;

struct condition_case {
  const char* spec;
  bool expected;
};

class conditions : public ::testing::Test {
 protected:
  lead subject = test::sample_lead();
  json::value trigger = json::parse(R"({"utm":{"source":"google"},"items":[1,2,3]})");
  run_env env;

  bool eval(const char* spec) {
    auto c = condition::compile(json::parse(spec));
    EXPECT_TRUE(c.ok()) << spec << ": " << (c.ok() ? "" : c.err().message);
    if (!c.ok()) return false;
    return c->evaluate(eval_context{subject, trigger, env, 0});
  }
};

TEST_F(conditions, evaluates_every_operator_table) {
  const condition_case cases[] = {
      // == and != : numbers as numbers, strings case-insensitively
      {R"({"field":"budget","operator":"==","value":7500})", true},
      {R"({"field":"budget","operator":"==","value":"7500.0"})", true},
      {R"({"field":"status","operator":"==","value":"new"})", true},
      {R"({"field":"status","operator":"==","value":"new","caseSensitive":true})", false},
      {R"({"field":"status","operator":"!=","value":"QUALIFIED"})", true},
      {R"({"field":"consent","operator":"==","value":true})", true},
      // ordering
      {R"({"field":"budget","operator":">=","value":5000})", true},
      {R"({"field":"budget","operator":">","value":7500})", false},
      {R"({"field":"score","operator":"<","value":"100"})", true},
      {R"({"field":"score","operator":"<=","value":42})", true},
      {R"({"field":"employees","operator":">","value":9})", true},  // 12 > 9 numerically, not "12" < "9"
      {R"({"field":"country","operator":"<","value":"us"})", true},  // strings compare as text
      // text operators
      {R"({"field":"name","operator":"contains","value":"LOVE"})", true},
      {R"({"field":"name","operator":"not_contains","value":"babbage"})", true},
      {R"({"field":"email","operator":"starts_with","value":"ada@"})", true},
      {R"({"field":"email","operator":"ends_with","value":"example.com"})", true},
      {R"({"field":"email_domain","operator":"==","value":"example.com"})", true},
      {R"({"field":"lead.company_name","operator":"starts_with","value":"analytical"})", true},
      // lists
      {R"({"field":"tags","operator":"contains","value":"VIP"})", true},
      {R"({"field":"tags","operator":"contains","value":"vi"})", false},
      {R"({"field":"tags","operator":"not_contains","value":"spam"})", true},
      {R"({"field":"tags","operator":"==","value":"newsletter"})", true},
      {R"({"field":"interests","operator":"contains","value":"crm"})", true},
      {R"({"field":"country","operator":"in","value":["DE","uk"]})", true},
      {R"({"field":"country","operator":"in","value":"DE, FR"})", false},
      {R"({"field":"country","operator":"not_in","value":["DE","FR"]})", true},
      {R"({"field":"tags","operator":"in","value":["vip","gold"]})", true},
      {R"({"field":"employees","operator":"in","value":[10,12]})", true},
      // emptiness; missing fields are empty and never errors
      {R"({"field":"empty","operator":"is_empty"})", true},
      {R"({"field":"nope","operator":"is_empty"})", true},
      {R"({"field":"nope","operator":"==","value":""})", true},
      {R"({"field":"nope","operator":">","value":1})", false},
      {R"({"field":"nope","operator":"!=","value":"x"})", true},
      {R"({"field":"phone","operator":"is_not_empty"})", true},
      {R"({"field":"tags","operator":"is_not_empty"})", true},
      // regex
      {R"({"field":"email","operator":"matches","value":"^[a-z]+@example\\.com$"})", true},
      {R"({"field":"email","operator":"matches","value":"^[a-z]+@example\\.com$","caseSensitive":true})", false},
      {R"({"field":"phone","operator":"matches","value":"^\\+44"})", true},
      // trigger data
      {R"({"field":"trigger.utm.source","operator":"==","value":"google"})", true},
      {R"({"field":"trigger.items.1","operator":"==","value":2})", true},
      {R"({"field":"trigger.utm.medium","operator":"is_empty"})", true},
      // groups
      {R"({"match":"all","rules":[{"field":"budget","operator":">=","value":5000},{"field":"country","operator":"==","value":"uk"}]})", true},
      {R"({"match":"all","rules":[{"field":"budget","operator":">=","value":5000},{"field":"country","operator":"==","value":"de"}]})", false},
      {R"({"match":"any","rules":[{"field":"budget","operator":">=","value":50000},{"field":"country","operator":"==","value":"uk"}]})", true},
      {R"({"combinator":"or","rules":[{"field":"score","operator":">","value":100},{"rules":[{"field":"tags","operator":"contains","value":"vip"}]}]})", true},
  };
  for (const auto& c : cases) EXPECT_EQ(eval(c.spec), c.expected) << c.spec;
}

TEST_F(conditions, sees_lead_changes) {
  auto c = condition::compile(json::parse(R"({"field":"status","operator":"==","value":"QUALIFIED"})"));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->evaluate(eval_context{subject, trigger, env, 0}));
  apply(subject, lead_patch{lead_patch::kind::set_status, {}, "QUALIFIED", 0});
  EXPECT_TRUE(c->evaluate(eval_context{subject, trigger, env, 0}));
}

TEST(condition_compile, rejects_bad_specs_naming_the_key) {
  struct bad_case {
    const char* spec;
    const char* subject;
  };
  const bad_case cases[] = {
      {R"({"operator":"==","value":1})", "field"},
      {R"({"field":"x","value":1})", "operator"},
      {R"({"field":"x","operator":"~=","value":1})", "operator"},
      {R"({"field":"x","operator":"=="})", "value"},
      {R"({"field":"x","operator":"in","value":{"a":1}})", "value"},
      {R"({"field":"x","operator":"matches","value":"(unclosed"})", "value"},
      {R"({"field":"x","operator":"matches","value":5})", "value"},
      {R"({"match":"some","rules":[{"field":"x","operator":"is_empty"}]})", "match"},
      {R"({"rules":[]})", "rules"},
      {R"({"rules":[{"field":"x","operator":"is_empty"},{"field":"y"}]})", "rules[1].operator"},
      {R"([1,2])", "condition"},
  };
  for (const auto& c : cases) {
    auto r = condition::compile(json::parse(c.spec));
    ASSERT_FALSE(r.ok()) << c.spec;
    EXPECT_EQ(r.err().subject, c.subject) << c.spec;
  }
}

TEST(condition_compile, bounds_regex_size) {
  const std::string big = R"({"field":"x","operator":"matches","value":")" + std::string(2000, 'a') + "\"}";
  EXPECT_FALSE(condition::compile(json::parse(big)).ok());
}

TEST(condition_eval, bounds_catastrophic_backtracking) {
  auto c = condition::compile(json::parse(R"({"field":"name","operator":"matches","value":"^(a+)+$"})"));
  ASSERT_TRUE(c.ok());
  lead l;
  l.name = std::string(40, 'a') + "!";
  run_env env;
  json::value t;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(c->evaluate(eval_context{l, t, env, 0}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace flowtrack::runtime
