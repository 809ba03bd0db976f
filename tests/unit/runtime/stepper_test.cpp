// The stepper: decisions, fan-out and merges, conditional edges, actions and patches, retries,
// parking, disabled nodes, splits, delays and waits across DST, checkpoints.
#include "runtime/stepper.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "runtime/dry_run.hpp"
#include "tests/unit/runtime/test_helpers.hpp"

namespace flowtrack::runtime {
namespace {

namespace json = boost::json;
using test::compile_text;
using test::ms;

run_env env_in(const std::string& zone_name = "UTC") {
  run_env env;
  env.execution_id = "exec-1";
  env.workspace_name = "Acme";
  env.owner_email = "owner@acme.test";
  env.zone = test::zone(zone_name);
  return env;
}

std::vector<std::string> path_of(const compiled_graph& g, const lead& l, const std::string& zone = "UTC",
                                 std::int64_t now = 0) {
  auto r = dry_run(g, env_in(zone), l, json::object{}, dry_run_options{std::nullopt, now});
  EXPECT_TRUE(r.ok());
  return r.ok() ? r->path : std::vector<std::string>{};
}

using path = std::vector<std::string>;

TEST(stepper, fans_out_to_every_unconditional_edge_and_runs_a_merge_node_once) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"a","type":"ACTION_ADD_TAG","data":{"tag":"a"}},{"id":"b","type":"ACTION_ADD_TAG","data":{"tag":"b"}},
      {"id":"m","type":"ACTION_ADD_TAG","data":{"tag":"m"}}],
    "edges":[{"id":"1","source":"t","target":"a"},{"id":"2","source":"t","target":"b"},
             {"id":"3","source":"a","target":"m"},{"id":"4","source":"b","target":"m"}]})");
  ASSERT_TRUE(g);
  EXPECT_EQ(path_of(*g, test::sample_lead()), (path{"t", "a", "b", "m"}));
}

TEST(stepper, branches_on_a_condition_and_sees_earlier_lead_patches) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"s","type":"ACTION_UPDATE_SCORE","data":{"delta":60}},
      {"id":"c","type":"LOGIC_CONDITION","data":{"field":"score","operator":">=","value":100,"trueHandle":"hot","falseHandle":"cold"}},
      {"id":"h","type":"ACTION_UPDATE_STATUS","data":{"status":"HOT"}},{"id":"k","type":"ACTION_UPDATE_STATUS","data":{"status":"COLD"}}],
    "edges":[{"id":"1","source":"t","target":"s"},{"id":"2","source":"s","target":"c"},
             {"id":"3","source":"c","target":"h","sourceHandle":"hot"},{"id":"4","source":"c","target":"k","sourceHandle":"cold"}]})");
  ASSERT_TRUE(g);
  lead l = test::sample_lead();  // score 42 + 60 = 102
  EXPECT_EQ(path_of(*g, l), (path{"t", "s", "c", "h"}));
  l.score = 0;
  EXPECT_EQ(path_of(*g, l), (path{"t", "s", "c", "k"}));
}

TEST(stepper, follows_conditional_edges_only_when_they_hold_and_ends_when_none_does) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"uk","type":"ACTION_ADD_TAG","data":{"tag":"uk"}},{"id":"de","type":"ACTION_ADD_TAG","data":{"tag":"de"}}],
    "edges":[{"id":"1","source":"t","target":"uk","data":{"condition":{"field":"country","operator":"==","value":"UK"}}},
             {"id":"2","source":"t","target":"de","data":{"condition":{"field":"country","operator":"==","value":"DE"}}}]})");
  ASSERT_TRUE(g);
  lead l = test::sample_lead();
  EXPECT_EQ(path_of(*g, l), (path{"t", "uk"}));
  l.fields["country"] = "FR";
  EXPECT_EQ(path_of(*g, l), (path{"t"}));
}

TEST(stepper, hands_actions_to_the_caller_with_rendered_config_and_applies_patches) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"mail","type":"ACTION_SEND_EMAIL","data":{"emailSubject":"Hi {{lead.first_name}}","emailBody":"{{lead.fields.nope}}",
        "emailHtmlBody":"<b>{{lead.company_name}}</b>","fromName":"{{workspace.name}}"}},
      {"id":"tag","type":"ACTION_ADD_TAG","data":{"tag":"welcomed"}}],
    "edges":[{"id":"1","source":"t","target":"mail"},{"id":"2","source":"mail","target":"tag"}]})");
  ASSERT_TRUE(g);
  const run_env env = env_in();
  checkpoint cp = start(*g, *g->find_trigger(), test::sample_lead(), json::object{}, 7, 1000);
  action_request req;
  decision d = next(*g, cp, env, 1000, req);
  EXPECT_EQ(d.kind, decision_kind::evaluated);  // the trigger
  d = next(*g, cp, env, 1000, req);
  ASSERT_EQ(d.kind, decision_kind::execute);
  EXPECT_EQ(req.node_id, "mail");
  EXPECT_EQ(req.to, "Ada@Example.COM");
  EXPECT_EQ(req.subject, "Hi Ada");
  EXPECT_EQ(req.html_body, "<b>Analytical Engines</b>");
  EXPECT_EQ(req.from_name, "Acme");
  EXPECT_EQ(req.idempotency_key, "exec-1:mail");
  EXPECT_EQ(req.unknown_variables, std::vector<std::string>{"lead.fields.nope"});
  EXPECT_EQ(req.timeout_ms, 30000);
  // Asking again before reporting re-issues the same action (crash recovery).
  d = next(*g, cp, env, 1000, req);
  ASSERT_EQ(d.kind, decision_kind::execute);
  EXPECT_EQ(req.node_id, "mail");
  EXPECT_EQ(report(*g, cp, env, action_result{true, json::object{{"messageId", "m1"}}, {}}, 1000), report_outcome::completed);
  d = next(*g, cp, env, 1000, req);
  ASSERT_EQ(d.kind, decision_kind::execute);
  ASSERT_TRUE(req.patch().has_value());
  EXPECT_EQ(*req.patch(), (lead_patch{lead_patch::kind::add_tag, {}, "welcomed", 0}));
  EXPECT_EQ(report(*g, cp, env, action_result{}, 1000), report_outcome::completed);
  EXPECT_EQ(cp.subject.tags.back(), "welcomed");
  EXPECT_EQ(next(*g, cp, env, 1000, req).kind, decision_kind::complete);
  EXPECT_EQ(cp.status, run_status::completed);
  EXPECT_EQ(report(*g, cp, env, action_result{}, 1000), report_outcome::nothing_in_flight);
}

TEST(stepper, retries_transient_failures_with_backoff_then_fails) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_WEBHOOK"},
      {"id":"hook","type":"ACTION_SEND_WEBHOOK","data":{"endpointId":"ep","retry":{"attempts":3,"backoffMs":1000,"jitter":0}}}],
    "edges":[{"id":"1","source":"t","target":"hook"}]})");
  ASSERT_TRUE(g);
  const run_env env = env_in();
  checkpoint cp = start(*g, 0, test::sample_lead(), json::object{}, 1, 0);
  action_request req;
  std::int64_t now = 0;
  ASSERT_EQ(next(*g, cp, env, now, req).kind, decision_kind::evaluated);
  const action_result down{false, {}, make_error(error_code::unavailable, "connection refused")};
  ASSERT_EQ(next(*g, cp, env, now, req).kind, decision_kind::execute);
  EXPECT_EQ(req.attempt, 1u);
  EXPECT_EQ(report(*g, cp, env, down, now), report_outcome::retry_scheduled);
  decision d = next(*g, cp, env, now, req);
  ASSERT_EQ(d.kind, decision_kind::park);
  EXPECT_EQ(d.resume_at_ms, 1000);
  now = d.resume_at_ms;
  ASSERT_EQ(next(*g, cp, env, now, req).kind, decision_kind::execute);
  EXPECT_EQ(req.attempt, 2u);
  EXPECT_EQ(req.idempotency_key, "exec-1:hook");  // the same key on every attempt
  EXPECT_EQ(report(*g, cp, env, down, now), report_outcome::retry_scheduled);
  d = next(*g, cp, env, now, req);
  ASSERT_EQ(d.kind, decision_kind::park);
  EXPECT_EQ(d.resume_at_ms, 3000);  // 1000 then 2000
  now = d.resume_at_ms;
  ASSERT_EQ(next(*g, cp, env, now, req).kind, decision_kind::execute);
  EXPECT_EQ(report(*g, cp, env, down, now), report_outcome::failed);
  EXPECT_EQ(next(*g, cp, env, now, req).kind, decision_kind::fail);
  EXPECT_NE(cp.failure.find("after 3 attempts: connection refused"), std::string::npos) << cp.failure;
}

TEST(stepper, fails_at_once_on_a_permanent_error) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_MANUAL"},{"id":"a","type":"ACTION_ASSIGN","data":{"userId":"u1"}}],
    "edges":[{"id":"1","source":"t","target":"a"}]})");
  ASSERT_TRUE(g);
  const run_env env = env_in();
  checkpoint cp = start(*g, 0, test::sample_lead(), json::object{}, 1, 0);
  action_request req;
  (void)next(*g, cp, env, 0, req);
  ASSERT_EQ(next(*g, cp, env, 0, req).kind, decision_kind::execute);
  EXPECT_EQ(report(*g, cp, env, action_result{false, {}, make_error(error_code::not_found, "no such user")}, 0),
            report_outcome::failed);
  EXPECT_EQ(cp.subject.assigned_to, "");  // the patch is not applied on failure
}

TEST(stepper, parks_at_a_delay_with_the_next_node_and_resumes) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},{"id":"d","type":"LOGIC_DELAY","data":{"delayHours":2}},
      {"id":"e","type":"LOGIC_END"}],"edges":[{"id":"1","source":"t","target":"d"},{"id":"2","source":"d","target":"e"}]})");
  ASSERT_TRUE(g);
  const run_env env = env_in();
  checkpoint cp = start(*g, 0, test::sample_lead(), json::object{}, 1, 0);
  action_request req;
  (void)next(*g, cp, env, 0, req);
  decision d = next(*g, cp, env, 0, req);
  ASSERT_EQ(d.kind, decision_kind::evaluated);
  EXPECT_EQ(d.resume_at_ms, 7200000);
  d = next(*g, cp, env, 10, req);
  ASSERT_EQ(d.kind, decision_kind::park);
  EXPECT_EQ(d.resume_at_ms, 7200000);
  ASSERT_EQ(cp.frontier.size(), 1u);
  EXPECT_EQ(g->at(cp.frontier[0].node).id, "e");
  // Persist and restore the checkpoint while parked.
  const json::object saved = cp.to_json(*g);
  auto restored = checkpoint::from_json(json::parse(json::serialize(saved)), *g);
  ASSERT_TRUE(restored.ok()) << restored.err().message;
  EXPECT_EQ(restored->to_json(*g), saved);
  d = next(*g, *restored, env, 7200000, req);
  ASSERT_EQ(d.kind, decision_kind::evaluated);
  EXPECT_EQ(g->at(d.node).id, "e");
  EXPECT_EQ(next(*g, *restored, env, 7200000, req).kind, decision_kind::complete);
}

TEST(stepper, checkpoint_from_json_rejects_unknown_nodes) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"}],"edges":[]})");
  ASSERT_TRUE(g);
  auto bad = checkpoint::from_json(
      json::parse(R"({"status":"running","frontier":[{"node":"ghost","readyAt":0,"attempt":1}],"lead":{"email":"a@b"}})"), *g);
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(checkpoint::from_json(json::parse(R"({"status":"dancing","lead":{"email":"a@b"}})"), *g).ok());
}

TEST(stepper, skips_disabled_nodes_and_passes_through_them) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"off","type":"ACTION_SEND_EMAIL","data":{"isEnabled":false}},{"id":"on","type":"ACTION_ADD_TAG","data":{"tag":"x"}}],
    "edges":[{"id":"1","source":"t","target":"off"},{"id":"2","source":"off","target":"on"}]})");
  ASSERT_TRUE(g);
  auto r = dry_run(*g, env_in(), test::sample_lead(), json::object{}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, (path{"t", "off", "on"}));
  EXPECT_EQ(r->steps[1].status, "skipped");
  EXPECT_EQ(r->steps[2].status, "completed");
}

TEST(stepper, an_unsubscribed_lead_gets_no_email_but_its_path_goes_on) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"mail","type":"ACTION_SEND_EMAIL","data":{"emailSubject":"Hi","emailBody":"Hello"}},
      {"id":"boss","type":"ACTION_NOTIFY_OWNER","data":{"emailSubject":"New lead","emailBody":"x"}},
      {"id":"tag","type":"ACTION_ADD_TAG","data":{"tag":"x"}}],
    "edges":[{"id":"1","source":"t","target":"mail"},{"id":"2","source":"mail","target":"boss"},{"id":"3","source":"boss","target":"tag"}]})");
  ASSERT_TRUE(g);
  auto l = test::sample_lead();
  l.unsubscribed = true;
  auto r = dry_run(*g, env_in(), l, json::object{}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, (path{"t", "mail", "boss", "tag"}));
  EXPECT_EQ(r->steps[1].status, "skipped");
  EXPECT_NE(json::serialize(r->steps[1].output).find("unsubscribed"), std::string::npos) << json::serialize(r->steps[1].output);
  EXPECT_EQ(r->steps[2].status, "completed") << "the owner's notification is not the lead's email";
  // The flag survives the lead's JSON form, as a resumed run reads it.
  auto back = lead_from_json(lead_to_json(l));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->unsubscribed);
}

TEST(stepper, end_stops_only_its_own_path) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},{"id":"end","type":"LOGIC_END"},
      {"id":"a","type":"ACTION_ADD_TAG","data":{"tag":"x"}}],
    "edges":[{"id":"1","source":"t","target":"end"},{"id":"2","source":"t","target":"a"}]})");
  ASSERT_TRUE(g);
  EXPECT_EQ(path_of(*g, test::sample_lead()), (path{"t", "end", "a"}));
}

TEST(stepper, splits_deterministically_per_lead_in_proportion) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"s","type":"LOGIC_SPLIT","data":{"branches":[{"handle":"a","percent":30},{"handle":"b","percent":70}]}},
      {"id":"A","type":"LOGIC_END"},{"id":"B","type":"LOGIC_END"}],
    "edges":[{"id":"1","source":"t","target":"s"},{"id":"2","source":"s","target":"A","sourceHandle":"a"},
             {"id":"3","source":"s","target":"B","sourceHandle":"b"}]})");
  ASSERT_TRUE(g);
  int a = 0;
  for (int i = 0; i < 2000; ++i) {
    lead l;
    l.email = "lead" + std::to_string(i) + "@example.com";
    const auto p1 = path_of(*g, l);
    l.email = "LEAD" + std::to_string(i) + "@EXAMPLE.com";  // the same lead, differently cased
    ASSERT_EQ(path_of(*g, l), p1);
    a += p1.back() == "A";
  }
  EXPECT_GT(a, 2000 * 25 / 100);
  EXPECT_LT(a, 2000 * 35 / 100);
}

TEST(delays, keep_the_wall_clock_for_days_across_dst) {
  auto ny = test::zone("America/New_York");
  // Friday 09:00 EST + 3 days = Monday 09:00 EDT (71 hours later).
  EXPECT_EQ(format_iso8601_utc(delay_until(delay_config{3, 0, 0}, ms("2025-03-07T14:00:00Z"), *ny)), "2025-03-10T13:00:00Z");
  // Hours are elapsed time: 24 hours across spring-forward lands at 10:00 local.
  EXPECT_EQ(format_iso8601_utc(delay_until(delay_config{0, 24, 0}, ms("2025-03-08T14:00:00Z"), *ny)), "2025-03-09T14:00:00Z");
  // Fall back: 1 day from Saturday 09:00 EDT = Sunday 09:00 EST.
  EXPECT_EQ(format_iso8601_utc(delay_until(delay_config{1, 0, 0}, ms("2025-11-01T13:00:00Z"), *ny)), "2025-11-02T14:00:00Z");
  // A day from 02:30 the day before spring-forward lands in the gap and moves to 03:30 EDT.
  EXPECT_EQ(format_iso8601_utc(delay_until(delay_config{1, 0, 0}, ms("2025-03-08T07:30:00Z"), *ny)), "2025-03-09T07:30:00Z");
  EXPECT_EQ(delay_until(delay_config{0, 1, 30}, 0, *time_zone::utc()), 5400000);
}

TEST(waits, resume_at_the_next_business_day_window_in_the_workspace_zone) {
  auto berlin = test::zone("Europe/Berlin");
  wait_config business;
  business.weekdays = 0b0111110;  // MON..FRI
  business.start_hour = 9;
  business.end_hour = 17;
  const std::pair<const char*, const char*> cases[] = {
      {"2025-03-28T19:00:00Z", "2025-03-31T07:00:00Z"},  // Fri 20:00 CET -> Mon 09:00 CEST (after the change)
      {"2025-03-31T06:00:00Z", "2025-03-31T07:00:00Z"},  // Mon 08:00 -> 09:00 the same day
      {"2025-03-31T10:00:00Z", "2025-03-31T10:00:00Z"},  // inside the window: at once
      {"2025-03-29T10:00:00Z", "2025-03-31T07:00:00Z"},  // Saturday
  };
  for (const auto& [now, expected] : cases) {
    EXPECT_EQ(format_iso8601_utc(wait_until(business, ms(now), *berlin)), expected) << now;
  }
  wait_config fixed;
  fixed.until = "2025-12-24T09:00:00";
  EXPECT_EQ(format_iso8601_utc(wait_until(fixed, ms("2025-12-01T00:00:00Z"), *berlin)), "2025-12-24T08:00:00Z");
  EXPECT_EQ(wait_until(fixed, ms("2026-01-01T00:00:00Z"), *berlin), ms("2026-01-01T00:00:00Z"));  // past: at once
}

TEST(schedules, fire_in_the_workspace_zone_or_their_own) {
  auto g = compile_text(R"({"nodes":[{"id":"ws","type":"TRIGGER_SCHEDULE","data":{"cron":"0 9 * * MON-FRI"}},
      {"id":"own","type":"TRIGGER_SCHEDULE","data":{"cron":"0 9 * * MON-FRI","timezone":"Asia/Tokyo"}},
      {"id":"f","type":"TRIGGER_FORM"},{"id":"e","type":"LOGIC_END"}],
    "edges":[{"id":"1","source":"ws","target":"e"},{"id":"2","source":"own","target":"e"},{"id":"3","source":"f","target":"e"}]})");
  ASSERT_TRUE(g);
  auto ny = test::zone("America/New_York");
  // Friday 2025-03-07 10:00 EST: the next weekday 09:00 is Monday, after the DST change.
  EXPECT_EQ(format_iso8601_utc(*next_fire_ms(*g, *g->find("ws"), ms("2025-03-07T15:00:00Z"), *ny)), "2025-03-10T13:00:00Z");
  EXPECT_EQ(format_iso8601_utc(*next_fire_ms(*g, *g->find("own"), ms("2025-03-07T15:00:00Z"), *ny)), "2025-03-10T00:00:00Z");
  EXPECT_FALSE(next_fire_ms(*g, *g->find("f"), 0, *ny).has_value());
}

TEST(dry_run, reports_resume_times_and_continues_past_waits) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"w","type":"LOGIC_WAIT_UNTIL","data":{"weekdays":["MON"],"startHour":9,"endHour":12}},
      {"id":"m","type":"ACTION_NOTIFY_OWNER","data":{"emailSubject":"Lead {{lead.email}} waited","emailBody":"x"}}],
    "edges":[{"id":"1","source":"t","target":"w"},{"id":"2","source":"w","target":"m"}]})");
  ASSERT_TRUE(g);
  auto r = dry_run(*g, env_in("America/New_York"), test::sample_lead(), json::object{},
                   dry_run_options{std::nullopt, ms("2025-03-07T14:00:00Z")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, (path{"t", "w", "m"}));
  ASSERT_TRUE(r->parked_until.has_value());
  EXPECT_EQ(format_iso8601_utc(*r->parked_until), "2025-03-10T13:00:00Z");
  const json::object out = r->to_json();
  EXPECT_EQ(out.at("status"), "completed");
  EXPECT_EQ(out.at("steps").as_array()[1].at("output").at("resumeAt"), "2025-03-10T13:00:00Z");
  EXPECT_EQ(out.at("steps").as_array()[2].at("output").at("to"), "owner@acme.test");
}

TEST(dry_run, renders_webhook_payloads_as_json) {
  auto g = compile_text(R"({"nodes":[{"id":"t","type":"TRIGGER_FORM"},
      {"id":"h1","type":"ACTION_SEND_WEBHOOK","data":{"endpointId":"ep","payload":"{\"who\":\"{{lead.name}}\",\"n\":{{lead.score}}}"}},
      {"id":"h2","type":"ACTION_SEND_WEBHOOK","data":{"endpointId":"ep2"}}],
    "edges":[{"id":"1","source":"t","target":"h1"},{"id":"2","source":"h1","target":"h2"}]})");
  ASSERT_TRUE(g);
  lead l = test::sample_lead();
  l.name = "Ada \"Q\"";
  auto r = dry_run(*g, env_in(), l, json::object{}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->steps[1].output.at("payload"), json::parse(R"({"who":"Ada \"Q\"","n":42})"));
  EXPECT_EQ(r->steps[2].output.at("payload").at("lead").at("email"), "Ada@Example.COM");
}

}  // namespace
}  // namespace flowtrack::runtime
