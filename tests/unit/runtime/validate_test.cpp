// Validation: graph rules and the config rules of every node type, all reported at once.
#include "runtime/compiled_graph.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/unit/runtime/test_helpers.hpp"

namespace flowtrack::runtime {
namespace {

namespace json = boost::json;
using test::has_code;
using test::problems_of;

// A trigger -> X -> end graph around one node of a given type and config.
std::string around(const std::string& type, const std::string& data) {
  return R"({"nodes":[{"id":"t","type":"TRIGGER_MANUAL","data":{}},{"id":"x","type":")" + type + R"(","data":)" + data +
         R"(},{"id":"end","type":"LOGIC_END","data":{}}],"edges":[{"id":"e1","source":"t","target":"x"},)"
         R"({"id":"e2","source":"x","target":"end"}]})";
}

struct config_case {
  const char* type;
  const char* data;
  const char* code;  // expected problem code, or "" when valid
  const char* field;
};

TEST(validate, checks_the_config_of_every_node_type_table) {
  const config_case cases[] = {
      {"ACTION_SEND_EMAIL", R"({"emailSubject":"Hi","emailBody":"Hello {{lead.name}}"})", "", ""},
      {"ACTION_SEND_EMAIL", R"({"emailBody":"Hello"})", "missing_subject", "emailSubject"},
      {"ACTION_SEND_EMAIL", R"({"emailSubject":"  ","emailBody":"Hello"})", "missing_subject", "emailSubject"},
      {"ACTION_SEND_EMAIL", R"({"emailSubject":"Hi"})", "missing_body", "emailBody"},
      {"ACTION_SEND_EMAIL", R"({"emailSubject":"Hi {{lead.name","emailBody":"x"})", "bad_template", "emailSubject"},
      {"ACTION_SEND_EMAIL", R"({"emailSubject":"Hi","emailHtmlBody":"<p>{{lead.name | blink}}</p>"})", "bad_template", "emailHtmlBody"},
      {"ACTION_SEND_EMAIL", R"({"emailSubject":"Hi","emailBody":"x","to":"{{lead.fields.partner}}","replyTo":"a@b.c","fromName":"T"})", "", ""},
      {"ACTION_SEND_EMAIL", R"({"emailSubject":5,"emailBody":"x"})", "", ""},
      {"ACTION_SEND_EMAIL", R"({"emailSubject":["a"],"emailBody":"x"})", "invalid_type", "emailSubject"},
      {"ACTION_NOTIFY_OWNER", R"({"emailSubject":"New lead {{lead.email}}","emailBody":"x"})", "", ""},
      {"ACTION_NOTIFY_OWNER", R"({"emailBody":"x"})", "missing_subject", "emailSubject"},
      {"ACTION_UPDATE_STATUS", R"({"status":"QUALIFIED"})", "", ""},
      {"ACTION_UPDATE_STATUS", R"({})", "missing_status", "status"},
      {"ACTION_ADD_TAG", R"({"tag":"vip"})", "", ""},
      {"ACTION_ADD_TAG", R"({"tag":""})", "missing_tag", "tag"},
      {"ACTION_REMOVE_TAG", R"({"tag":"cold"})", "", ""},
      {"ACTION_REMOVE_TAG", R"({})", "missing_tag", "tag"},
      {"ACTION_SET_FIELD", R"({"fieldKey":"budget","value":"{{lead.fields.budget}}0"})", "", ""},
      {"ACTION_SET_FIELD", R"({"value":"x"})", "missing_field_key", "fieldKey"},
      {"ACTION_SET_FIELD", R"({"fieldKey":"a","value":{"x":1}})", "invalid_type", "value"},
      {"ACTION_UPDATE_SCORE", R"({"delta":-5})", "", ""},
      {"ACTION_UPDATE_SCORE", R"({"operation":"subtract","amount":3})", "", ""},
      {"ACTION_UPDATE_SCORE", R"({"delta":0})", "zero_delta", "delta"},
      {"ACTION_UPDATE_SCORE", R"({"operation":"multiply","amount":3})", "bad_operation", "operation"},
      {"ACTION_UPDATE_SCORE", R"({})", "missing_delta", "delta"},
      {"ACTION_UPDATE_SCORE", R"({"delta":1.5})", "invalid_type", "delta"},
      {"ACTION_ASSIGN", R"({"userId":"u-1"})", "", ""},
      {"ACTION_ASSIGN", R"({})", "missing_user", "userId"},
      {"ACTION_SEND_WEBHOOK", R"({"endpointId":"ep-1"})", "", ""},
      {"ACTION_SEND_WEBHOOK", R"({"endpointId":"ep-1","payload":"{\"email\":\"{{lead.email}}\"}"})", "", ""},
      {"ACTION_SEND_WEBHOOK", R"({})", "missing_endpoint", "endpointId"},
      {"ACTION_SEND_WEBHOOK", R"({"endpointId":"ep","retry":{"attempts":0}})", "out_of_range", "retry.attempts"},
      {"ACTION_SEND_WEBHOOK", R"({"endpointId":"ep","retry":{"attempts":5,"backoffMs":100,"jitter":2}})", "out_of_range", "retry.jitter"},
      {"ACTION_SEND_WEBHOOK", R"({"endpointId":"ep","timeoutMs":5})", "out_of_range", "timeoutMs"},
      {"LOGIC_DELAY", R"({"delayDays":3,"delayHours":0})", "", ""},
      {"LOGIC_DELAY", R"({"delayMinutes":30})", "", ""},
      {"LOGIC_DELAY", R"({"delayDays":0,"delayHours":0})", "invalid_delay", "delayDays"},
      {"LOGIC_DELAY", R"({})", "invalid_delay", "delayDays"},
      {"LOGIC_DELAY", R"({"delayDays":366})", "invalid_delay", "delayDays"},
      {"LOGIC_DELAY", R"({"delayDays":365,"delayHours":1})", "invalid_delay", "delayDays"},
      {"LOGIC_DELAY", R"({"delayDays":-1,"delayHours":30})", "invalid_delay", "delayDays"},
      {"LOGIC_DELAY", R"({"delayDays":"two"})", "invalid_type", "delayDays"},
      {"LOGIC_WAIT_UNTIL", R"({"until":"2025-12-24T09:00:00Z"})", "", ""},
      {"LOGIC_WAIT_UNTIL", R"({"until":"2025-12-24T09:00:00"})", "", ""},
      {"LOGIC_WAIT_UNTIL", R"({"until":"Christmas"})", "bad_date", "until"},
      {"LOGIC_WAIT_UNTIL", R"({"weekdays":["MON","TUE","WED","THU","FRI"],"startHour":9,"endHour":17})", "", ""},
      {"LOGIC_WAIT_UNTIL", R"({"weekdays":["FUNDAY"]})", "bad_weekdays", "weekdays"},
      {"LOGIC_WAIT_UNTIL", R"({"weekdays":[1],"startHour":25})", "out_of_range", "startHour"},
      {"LOGIC_WAIT_UNTIL", R"({"weekdays":[1],"startHour":9,"endHour":9})", "out_of_range", "endHour"},
      {"LOGIC_WAIT_UNTIL", R"({})", "missing_wait", "until"},
      {"LOGIC_END", R"({})", "missing_handle", "sourceHandle"},  // END has no outputs
      {"TRIGGER_FORM", R"({})", "trigger_has_incoming", "target"},
  };
  for (const auto& c : cases) {
    const auto ps = problems_of(around(c.type, c.data));
    if (std::string(c.code).empty()) {
      EXPECT_FALSE(has_errors(ps)) << c.type << " " << c.data << ": " << json::serialize(problems_to_json(ps));
      continue;
    }
    bool found = false;
    for (const auto& p : ps) {
      if (p.code == c.code && p.field == c.field) {
        found = true;
        EXPECT_FALSE(p.message.empty());
      }
    }
    EXPECT_TRUE(found) << c.type << " " << c.data << " expected " << c.code << "/" << c.field << " got "
                       << json::serialize(problems_to_json(ps));
  }
}

std::string schedule(const std::string& data) {
  return R"({"nodes":[{"id":"t","type":"TRIGGER_SCHEDULE","data":)" + data +
         R"(},{"id":"end","type":"LOGIC_END"}],"edges":[{"id":"e","source":"t","target":"end"}]})";
}

TEST(validate, checks_schedule_cron_and_time_zone) {
  EXPECT_FALSE(has_errors(problems_of(schedule(R"({"cron":"0 9 * * MON-FRI","timezone":"Europe/Berlin"})"))));
  EXPECT_TRUE(has_code(problems_of(schedule(R"({"cron":"0 9 * *"})")), "bad_cron"));
  EXPECT_TRUE(has_code(problems_of(schedule(R"({"cron":"0 0 30 2 *"})")), "bad_cron"));
  EXPECT_TRUE(has_code(problems_of(schedule(R"({})")), "missing_cron"));
  EXPECT_TRUE(has_code(problems_of(schedule(R"({"cron":"@daily","timezone":"Mars/Olympus"})")), "unknown_time_zone"));
  EXPECT_TRUE(has_code(problems_of(schedule(R"({"cron":"@daily","timezone":"../../etc/passwd"})")), "unknown_time_zone"));
  // A leadFilter is a condition, refused on import rather than when the schedule fires.
  EXPECT_FALSE(has_errors(problems_of(schedule(R"({"cron":"@daily","leadFilter":{"field":"status","operator":"==","value":"NEW"}})"))));
  EXPECT_FALSE(has_errors(problems_of(schedule(
      R"({"cron":"@daily","leadFilter":{"rules":[{"field":"score","operator":">=","value":5}],"match":"any"}})"))));
  auto bad = problems_of(schedule(R"({"cron":"@daily","leadFilter":{"field":"status","operator":"between","value":1}})"));
  ASSERT_TRUE(has_code(bad, "bad_condition"));
  bool named = false;
  for (const auto& p : bad) named = named || p.field.starts_with("leadFilter");
  EXPECT_TRUE(named) << json::serialize(problems_to_json(bad));
  EXPECT_TRUE(has_code(problems_of(schedule(R"({"cron":"@daily","leadFilter":"everyone"})")), "bad_condition"));
}

std::string condition_graph(const std::string& cond_data, const std::string& edges) {
  return R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},{"id":"c","type":"LOGIC_CONDITION","data":)" + cond_data +
         R"(},{"id":"a","type":"LOGIC_END"},{"id":"b","type":"LOGIC_END"}],"edges":[{"id":"e0","source":"t","target":"c"})" +
         edges + "]}";
}

TEST(validate, checks_conditions_and_their_branches) {
  const std::string ok_data = R"({"field":"budget","operator":">=","value":5000,"trueHandle":"yes","falseHandle":"no"})";
  const std::string both = R"(,{"id":"e1","source":"c","target":"a","sourceHandle":"yes"},{"id":"e2","source":"c","target":"b","sourceHandle":"no"})";
  EXPECT_FALSE(has_errors(problems_of(condition_graph(ok_data, both))));
  const auto one = problems_of(condition_graph(ok_data, R"(,{"id":"e1","source":"c","target":"a","sourceHandle":"yes"})"));
  ASSERT_TRUE(has_code(one, "missing_branch"));
  const auto wrong = problems_of(condition_graph(ok_data, both + R"(,{"id":"e3","source":"c","target":"b","sourceHandle":"maybe"})"));
  EXPECT_TRUE(has_code(wrong, "missing_handle"));
  const auto nohandle = problems_of(condition_graph(ok_data, both + R"(,{"id":"e3","source":"c","target":"a"})"));
  EXPECT_TRUE(has_code(nohandle, "missing_handle"));
  EXPECT_TRUE(has_code(problems_of(condition_graph(R"({"field":"x","operator":"matches","value":"(["})", both)), "bad_regex"));
  EXPECT_TRUE(has_code(problems_of(condition_graph(R"({"field":"x","operator":"between","value":1})", both)), "bad_condition"));
  // Default handles are "true" and "false".
  EXPECT_FALSE(has_errors(problems_of(condition_graph(
      R"({"field":"x","operator":"is_empty"})",
      R"(,{"id":"e1","source":"c","target":"a","sourceHandle":"true"},{"id":"e2","source":"c","target":"b","sourceHandle":"false"})"))));
}

TEST(validate, reports_every_graph_problem_at_once) {
  const std::string text = R"({
    "nodes": [
      {"id": "t", "type": "TRIGGER_FORM"},
      {"id": "t2", "type": "TRIGGER_WEBHOOK"},
      {"id": "a", "type": "ACTION_ADD_TAG", "data": {"tag": "x"}},
      {"id": "a", "type": "ACTION_ADD_TAG", "data": {"tag": "y"}},
      {"id": "b", "type": "ACTION_TELEPORT"},
      {"id": "c", "type": "ACTION_ADD_TAG", "data": {"tag": "z"}},
      {"id": "d", "type": "ACTION_ADD_TAG", "data": {"tag": "w"}},
      {"id": "lonely", "type": "LOGIC_END"}
    ],
    "edges": [
      {"id": "e1", "source": "t", "target": "a"},
      {"id": "e1", "source": "a", "target": "c"},
      {"id": "e3", "source": "c", "target": "c"},
      {"id": "e4", "source": "c", "target": "ghost"},
      {"id": "e5", "source": "c", "target": "d"},
      {"id": "e6", "source": "d", "target": "c"},
      {"id": "e7", "source": "d", "target": "t2"},
      {"id": "e8", "source": "t", "target": "a"},
      {"id": "e9", "source": "a", "target": "b", "data": {"condition": {"field": "x"}}}
    ]
  })";
  const auto ps = problems_of(text);
  for (const char* code : {"duplicate_node_id", "unknown_node_type", "duplicate_edge_id", "self_loop", "missing_node",
                           "cycle", "trigger_has_incoming", "duplicate_edge", "bad_condition", "unreachable"}) {
    EXPECT_TRUE(has_code(ps, code)) << code << " in " << json::serialize(problems_to_json(ps));
  }
  bool lonely = false;
  for (const auto& p : ps) {
    if (p.code == "unreachable") {
      EXPECT_EQ(p.level, problem::severity::warning);
      lonely = lonely || p.node_id == "lonely";
    }
    if (p.code == "missing_node") {
      EXPECT_EQ(p.edge_id, "e4");
    }
    if (p.code == "cycle") {
      EXPECT_NE(p.message.find("c -> d -> c"), std::string::npos) << p.message;
    }
  }
  EXPECT_TRUE(lonely);
  const json::array arr = problems_to_json(ps);
  EXPECT_TRUE(arr[0].as_object().contains("code"));
  EXPECT_TRUE(arr[0].as_object().contains("message"));
}

TEST(validate, requires_a_trigger) {
  EXPECT_TRUE(has_code(problems_of(R"({"nodes":[{"id":"x","type":"LOGIC_END"}],"edges":[]})"), "no_trigger"));
  EXPECT_TRUE(has_code(problems_of(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM","data":{"isEnabled":false}}],"edges":[]})"),
                       "no_trigger"));
}

TEST(validate, skips_disabled_nodes_and_edges) {
  const std::string text = R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"m","type":"ACTION_SEND_EMAIL","data":{"isEnabled":false}},
      {"id":"e","type":"LOGIC_END"}],
    "edges":[{"id":"e1","source":"t","target":"m"},{"id":"e2","source":"m","target":"e"},
             {"id":"e3","source":"t","target":"ghost","data":{"isEnabled":false}}]})";
  const auto ps = problems_of(text);
  EXPECT_FALSE(has_errors(ps)) << json::serialize(problems_to_json(ps));
}

TEST(validate, warns_about_unknown_template_variables_and_form_fields) {
  const std::string text = R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"m","type":"ACTION_SEND_EMAIL","data":{"emailSubject":"Hi {{lead.nickname}}","emailBody":"x"}},
      {"id":"c","type":"LOGIC_CONDITION","data":{"field":"budgett","operator":">","value":1}},
      {"id":"a","type":"LOGIC_END"},{"id":"b","type":"LOGIC_END"}],
    "edges":[{"id":"e1","source":"t","target":"m"},{"id":"e2","source":"m","target":"c"},
             {"id":"e3","source":"c","target":"a","sourceHandle":"true"},{"id":"e4","source":"c","target":"b","sourceHandle":"false"}],
    "formFields":[{"fieldKey":"budget","label":"Budget","fieldType":"NUMBER"}]})";
  const auto ps = problems_of(text);
  EXPECT_FALSE(has_errors(ps));
  EXPECT_TRUE(has_code(ps, "unknown_variable"));
  EXPECT_TRUE(has_code(ps, "unknown_field"));
}

TEST(catalog, describes_every_type) {
  EXPECT_EQ(node_catalog().size(), k_node_type_count);
  for (std::size_t i = 0; i < k_node_type_count; ++i) {
    const auto t = static_cast<node_type>(i);
    EXPECT_EQ(node_catalog()[i].type, t);
    EXPECT_EQ(parse_node_type(to_string(t)), t);
  }
  EXPECT_FALSE(parse_node_type("trigger_form").has_value());
  EXPECT_EQ(category_of(node_type::action_assign), node_category::action);
  EXPECT_EQ(node_catalog_json().size(), k_node_type_count);
}

TEST(retry_policy, backs_off_exponentially_with_bounded_jitter) {
  retry_policy p{5, 1000, 8000, 0.2};
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const auto b2 = p.backoff_ms(2, seed), b3 = p.backoff_ms(3, seed), b5 = p.backoff_ms(5, seed), b9 = p.backoff_ms(9, seed);
    EXPECT_GE(b2, 800);
    EXPECT_LE(b2, 1200);
    EXPECT_GE(b3, 1600);
    EXPECT_LE(b3, 2400);
    EXPECT_GE(b5, 6400);
    EXPECT_LE(b9, 9600);
    EXPECT_EQ(p.backoff_ms(3, seed), b3);  // deterministic
  }
  EXPECT_NE(p.backoff_ms(2, 1), p.backoff_ms(2, 2));
}

}  // namespace
}  // namespace flowtrack::runtime
