// Scheduled triggers' rules: which ticks are due and fire (activation, catch-up, DST), their
// idempotency keys, and the schedule a graph asks for.
#include "domain/schedule.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "adapters/cli/zoneinfo.hpp"

namespace flowtrack::domain {
namespace {

const runtime::time_zone_db& zones() {
  static const runtime::time_zone_db db(cli::zoneinfo_loader());
  return db;
}

std::shared_ptr<const runtime::time_zone> zone(const std::string& name) {
  auto z = zones().get(name);
  EXPECT_TRUE(z.ok()) << name;
  return z.ok() ? *z : runtime::time_zone::utc();
}

std::int64_t ms(const std::string& iso) {
  auto r = runtime::parse_iso8601(iso);
  EXPECT_TRUE(r.ok()) << iso;
  return r.ok() ? *r : 0;
}

runtime::cron_schedule cron(const char* expr) {
  auto c = runtime::cron_schedule::parse(expr);
  EXPECT_TRUE(c.ok()) << expr;
  return c.ok() ? *c : runtime::cron_schedule();
}

std::vector<std::string> iso(const std::vector<std::int64_t>& ticks) {
  std::vector<std::string> out;
  for (auto t : ticks) out.push_back(runtime::format_iso8601_utc(t));
  return out;
}

std::string iso(const std::optional<std::int64_t>& t) { return t ? runtime::format_iso8601_utc(*t) : "none"; }

tick_plan plan(const char* expr, const std::string& zone_name, tick_baseline base, const std::string& now, int catch_up = 1) {
  return plan_ticks(cron(expr), *zone(zone_name), base, ms(now), catch_up);
}

const std::int64_t k_long_ago = 0;  // 1970: activated long before any tick below

TEST(schedule_plan, fires_the_tick_that_just_came_due_and_names_the_next) {
  auto p = plan("0 * * * *", "UTC", {k_long_ago, {}, ms("2025-06-02T10:00:00Z")}, "2025-06-02T11:00:01Z");
  EXPECT_EQ(iso(p.fire), std::vector<std::string>{"2025-06-02T11:00:00Z"});
  EXPECT_EQ(p.skipped, 0);
  EXPECT_EQ(iso(p.last_due), "2025-06-02T11:00:00Z");
  EXPECT_EQ(iso(p.next), "2025-06-02T12:00:00Z");
}

TEST(schedule_plan, fires_nothing_between_ticks) {
  auto p = plan("0 * * * *", "UTC", {k_long_ago, {}, ms("2025-06-02T10:00:00Z")}, "2025-06-02T10:30:00Z");
  EXPECT_TRUE(p.fire.empty());
  EXPECT_FALSE(p.last_due);
  EXPECT_EQ(iso(p.next), "2025-06-02T11:00:00Z");
}

TEST(schedule_plan, never_fires_a_tick_before_the_activation) {
  // Activated at 10:30 with nothing fired yet: 10:00 (and every earlier tick) stays unfired.
  auto p = plan("0 * * * *", "UTC", {ms("2025-06-02T10:30:00Z"), {}, {}}, "2025-06-02T10:45:00Z", 5);
  EXPECT_TRUE(p.fire.empty());
  EXPECT_EQ(p.skipped, 0);
  EXPECT_EQ(iso(p.next), "2025-06-02T11:00:00Z");
  // A tick at the very moment of the activation counts; a millisecond later it does not.
  auto at = plan("0 * * * *", "UTC", {ms("2025-06-02T11:00:00Z"), {}, {}}, "2025-06-02T11:00:01Z");
  EXPECT_EQ(iso(at.fire), std::vector<std::string>{"2025-06-02T11:00:00Z"});
  auto after = plan("0 * * * *", "UTC", {ms("2025-06-02T11:00:00.001Z"), {}, {}}, "2025-06-02T11:00:01Z");
  EXPECT_TRUE(after.fire.empty());
  // Re-activation after a pause: the ticks of the pause never fire, even with catch-up.
  auto resumed = plan("0 * * * *", "UTC", {ms("2025-06-02T14:10:00Z"), {}, ms("2025-06-02T10:00:00Z")}, "2025-06-02T14:20:00Z", 10);
  EXPECT_TRUE(resumed.fire.empty());
  EXPECT_EQ(resumed.skipped, 0);
}

TEST(schedule_plan, catches_up_the_latest_missed_tick_and_skips_older_ones) {
  // Down from 08:00 to 12:30: 09, 10, 11 and 12 were missed; only 12 fires.
  auto p = plan("0 * * * *", "UTC", {k_long_ago, {}, ms("2025-06-02T08:00:00Z")}, "2025-06-02T12:30:00Z");
  EXPECT_EQ(iso(p.fire), std::vector<std::string>{"2025-06-02T12:00:00Z"});
  EXPECT_EQ(p.skipped, 3);
  EXPECT_TRUE(p.skipped_exact);
  EXPECT_EQ(iso(p.first_skipped), "2025-06-02T09:00:00Z");
  EXPECT_EQ(iso(p.last_skipped), "2025-06-02T11:00:00Z");
  EXPECT_EQ(iso(p.last_due), "2025-06-02T12:00:00Z");
  EXPECT_EQ(iso(p.next), "2025-06-02T13:00:00Z");
}

TEST(schedule_plan, catch_up_is_configurable_down_to_none) {
  tick_baseline base{k_long_ago, {}, ms("2025-06-02T08:00:00Z")};
  auto two = plan("0 * * * *", "UTC", base, "2025-06-02T12:30:00Z", 2);
  EXPECT_EQ(iso(two.fire), (std::vector<std::string>{"2025-06-02T11:00:00Z", "2025-06-02T12:00:00Z"}));
  EXPECT_EQ(two.skipped, 2);
  auto none = plan("0 * * * *", "UTC", base, "2025-06-02T12:30:00Z", 0);
  EXPECT_TRUE(none.fire.empty());
  EXPECT_EQ(none.skipped, 4);
  EXPECT_EQ(iso(none.last_due), "2025-06-02T12:00:00Z");  // recorded, so they are not tried again
}

TEST(schedule_plan, an_on_time_tick_fires_beside_the_caught_up_one) {
  // Every minute, last fired 10:00, now 10:05:30: 10:05 is on time (30 s late), 10:04 (90 s) and
  // older were missed; 10:04 is the one caught up.
  auto p = plan("* * * * *", "UTC", {k_long_ago, {}, ms("2025-06-02T10:00:00Z")}, "2025-06-02T10:05:30Z");
  EXPECT_EQ(iso(p.fire), (std::vector<std::string>{"2025-06-02T10:04:00Z", "2025-06-02T10:05:00Z"}));
  EXPECT_EQ(p.skipped, 3);
  auto none = plan("* * * * *", "UTC", {k_long_ago, {}, ms("2025-06-02T10:00:00Z")}, "2025-06-02T10:05:30Z", 0);
  EXPECT_EQ(iso(none.fire), std::vector<std::string>{"2025-06-02T10:05:00Z"});
}

TEST(schedule_plan, a_long_outage_is_not_walked_tick_by_tick) {
  // A month of every-minute ticks: the latest missed one fires, the rest are reported skipped.
  auto p = plan("* * * * *", "UTC", {k_long_ago, {}, ms("2025-05-01T00:00:00Z")}, "2025-06-01T00:00:30Z");
  EXPECT_EQ(iso(p.fire), (std::vector<std::string>{"2025-05-31T23:59:00Z", "2025-06-01T00:00:00Z"}));
  EXPECT_FALSE(p.skipped_exact);
  EXPECT_GE(p.skipped, 2);
  EXPECT_EQ(iso(p.first_skipped), "2025-05-01T00:01:00Z");
  EXPECT_EQ(iso(p.last_skipped), "2025-05-31T23:58:00Z");
  // A yearly schedule three years down: found without walking minutes either.
  auto y = plan("0 0 1 1 *", "UTC", {k_long_ago, {}, ms("2022-01-01T00:00:00Z")}, "2025-06-01T00:00:00Z");
  EXPECT_EQ(iso(y.fire), std::vector<std::string>{"2025-01-01T00:00:00Z"});
  EXPECT_EQ(iso(y.first_skipped), "2023-01-01T00:00:00Z");
  EXPECT_EQ(iso(y.next), "2026-01-01T00:00:00Z");
}

TEST(schedule_plan, a_changed_schedule_counts_its_ticks_from_the_change) {
  auto p = plan("0 * * * *", "UTC", {k_long_ago, ms("2025-06-02T11:30:00Z"), ms("2025-06-02T08:00:00Z")}, "2025-06-02T12:30:00Z", 5);
  EXPECT_EQ(iso(p.fire), std::vector<std::string>{"2025-06-02T12:00:00Z"});
  EXPECT_EQ(p.skipped, 0);
}

TEST(schedule_plan, follows_the_cron_across_the_spring_gap_in_berlin) {
  // 2025-03-30 02:00 CET jumps to 03:00 CEST: 02:30 does not exist and fires at 03:30 CEST.
  tick_baseline base{ms("2025-03-29T12:00:00Z"), {}, ms("2025-03-29T01:30:00Z")};
  auto before = plan("30 2 * * *", "Europe/Berlin", base, "2025-03-30T01:29:59Z");
  EXPECT_TRUE(before.fire.empty());
  EXPECT_EQ(iso(before.next), "2025-03-30T01:30:00Z");
  auto p = plan("30 2 * * *", "Europe/Berlin", base, "2025-03-30T01:30:05Z");
  EXPECT_EQ(iso(p.fire), std::vector<std::string>{"2025-03-30T01:30:00Z"});
  EXPECT_EQ(iso(p.next), "2025-03-31T00:30:00Z");  // 02:30 CEST the day after
}

TEST(schedule_plan, fires_once_in_the_repeated_autumn_hour_in_berlin) {
  // 2025-10-26 03:00 CEST falls back to 02:00 CET: 02:30 happens twice and fires at the first.
  tick_baseline base{k_long_ago, {}, ms("2025-10-25T00:30:00Z")};
  auto first = plan("30 2 * * *", "Europe/Berlin", base, "2025-10-26T00:30:05Z");
  EXPECT_EQ(iso(first.fire), std::vector<std::string>{"2025-10-26T00:30:00Z"});
  EXPECT_EQ(iso(first.next), "2025-10-27T01:30:00Z");
  base.last_tick_ms = ms("2025-10-26T00:30:00Z");
  auto second = plan("30 2 * * *", "Europe/Berlin", base, "2025-10-26T01:30:05Z");  // 02:30 CET again
  EXPECT_TRUE(second.fire.empty());
  EXPECT_EQ(iso(second.next), "2025-10-27T01:30:00Z");
}

TEST(schedule_keys, name_the_workflow_the_tick_and_the_lead) {
  EXPECT_EQ(tick_key("wf-1", ms("2025-03-30T01:30:00Z")), "wf-1:2025-03-30T01:30:00Z");
  EXPECT_EQ(tick_key("wf-1", ms("2025-03-30T01:30:00Z"), "lead-9"), "wf-1:2025-03-30T01:30:00Z:lead-9");
}

struct parsed_graph {
  runtime::workflow_graph source;
  std::shared_ptr<const runtime::compiled_graph> graph;
};

parsed_graph graph_of(const std::string& trigger_data) {
  parsed_graph out;
  auto g = runtime::import_react_flow(std::string_view(R"({"nodes":[{"id":"tick","type":"TRIGGER_SCHEDULE","data":)" + trigger_data +
                                                       R"(},{"id":"end","type":"LOGIC_END"}],"edges":[{"id":"e","source":"tick","target":"end"}]})"));
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.err().message);
  if (!g.ok()) return out;
  out.source = *g;
  auto c = runtime::compile(out.source, runtime::config_options{&zones()});
  EXPECT_TRUE(c.ok()) << trigger_data;
  out.graph = c.graph;
  return out;
}

TEST(schedule_spec_of, reads_cron_zone_and_lead_filter) {
  auto g = graph_of(R"({"cron":"30 2 * * *","timezone":"Europe/Berlin","leadFilter":{"field":"status","operator":"==","value":"NEW"}})");
  ASSERT_TRUE(g.graph);
  auto spec = schedule_of(g.source, *g.graph, "America/New_York", &zones());
  ASSERT_TRUE(spec.ok()) << spec.err().message;
  ASSERT_TRUE(spec->has_value());
  const auto& s = **spec;
  EXPECT_EQ(s.zone_name, "Europe/Berlin");
  EXPECT_EQ(s.trigger_node, "tick");
  EXPECT_EQ(s.timing(), "30 2 * * * Europe/Berlin");
  ASSERT_TRUE(s.lead_filter.has_value());
  runtime::lead fresh, won;
  won.status = "WON";
  boost::json::value trigger;
  runtime::run_env env;
  EXPECT_TRUE(s.lead_filter->evaluate({fresh, trigger, env, 0}));
  EXPECT_FALSE(s.lead_filter->evaluate({won, trigger, env, 0}));
}

TEST(schedule_spec_of, defaults_to_the_workspace_zone_and_no_filter) {
  auto g = graph_of(R"({"cron":"0 9 * * MON-FRI"})");
  ASSERT_TRUE(g.graph);
  auto spec = schedule_of(g.source, *g.graph, "America/New_York", &zones());
  ASSERT_TRUE(spec.ok() && spec->has_value());
  EXPECT_EQ((*spec)->zone_name, "America/New_York");
  EXPECT_EQ((*spec)->zone->name(), "America/New_York");
  EXPECT_FALSE((*spec)->lead_filter.has_value());
  auto utc = schedule_of(g.source, *g.graph, "UTC", nullptr);
  ASSERT_TRUE(utc.ok() && utc->has_value());
  EXPECT_EQ((*utc)->zone_name, "UTC");
}

TEST(schedule_spec_of, refuses_a_filter_that_does_not_compile_and_an_unknown_zone) {
  // The catalog refuses such a graph on import (runtime/catalog); one stored before it did is
  // refused here, when it fires.
  const std::string bad_filter = R"({"field":"status","operator":"resembles","value":"x"})";
  auto refused = runtime::import_react_flow(std::string_view(
      R"({"nodes":[{"id":"tick","type":"TRIGGER_SCHEDULE","data":{"cron":"0 9 * * *","leadFilter":)" + bad_filter +
      R"(}},{"id":"end","type":"LOGIC_END"}],"edges":[{"id":"e","source":"tick","target":"end"}]})"));
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(runtime::compile(*refused, runtime::config_options{&zones()}).ok());
  auto g = graph_of(R"({"cron":"0 9 * * *","leadFilter":{"field":"status","operator":"==","value":"NEW"}})");
  ASSERT_TRUE(g.graph);
  for (auto& n : g.source.nodes)
    if (n.id == "tick") n.data["leadFilter"] = boost::json::parse(bad_filter);
  auto bad = schedule_of(g.source, *g.graph, "UTC", &zones());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, error_code::invalid);
  EXPECT_EQ(bad.err().subject.rfind("leadFilter", 0), 0u) << bad.err().subject;
  auto h = graph_of(R"({"cron":"0 9 * * *"})");
  ASSERT_TRUE(h.graph);
  auto zone = schedule_of(h.source, *h.graph, "Mars/Olympus_Mons", &zones());
  ASSERT_FALSE(zone.ok());
  EXPECT_EQ(zone.err().subject, "timezone");
}

TEST(schedule_spec_of, is_nothing_without_a_schedule_trigger) {
  auto g = runtime::import_react_flow(std::string_view(
      R"({"nodes":[{"id":"f","type":"TRIGGER_FORM"},{"id":"end","type":"LOGIC_END"}],"edges":[{"id":"e","source":"f","target":"end"}]})"));
  ASSERT_TRUE(g.ok());
  auto c = runtime::compile(*g);
  ASSERT_TRUE(c.ok());
  auto spec = schedule_of(*g, *c.graph, "UTC", &zones());
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(spec->has_value());
}

}  // namespace
}  // namespace flowtrack::domain
