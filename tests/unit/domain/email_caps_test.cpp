// The email limits of a workspace (domain/email_caps): the hourly cap from the plan, overridden
// by the workspace setting, the email_sends quota, and an action deferred without using up an
// attempt. Pure; kept beside the run actor's tests, which rely on it.
#include <gtest/gtest.h>

#include "domain/email_caps.hpp"
#include "runtime/compiled_graph.hpp"

namespace flowtrack::domain {
namespace {

workspace_info ws(std::string plan_quotas, std::string settings = "{}") {
  workspace_info w;
  w.id = "w";
  w.plan_quotas = std::move(plan_quotas);
  w.settings = std::move(settings);
  w.period_start = "2026-12-01";
  w.period_end = "2026-12-31";
  return w;
}

TEST(email_caps, the_plan_gives_the_hourly_cap_and_the_email_sends_quota) {
  auto l = email_limits_of(ws(R"({"leads":100,"email_sends":200,"email_hourly_cap":50})"));
  EXPECT_EQ(l.hourly_cap, 50);
  EXPECT_EQ(l.quota, 200);
  EXPECT_EQ(l.period_start, "2026-12-01");
  EXPECT_EQ(l.period_end, "2026-12-31");
  EXPECT_TRUE(l.ignored_setting.empty());
}

TEST(email_caps, a_plan_without_the_keys_is_unlimited_like_enterprise) {
  auto l = email_limits_of(ws("{}"));
  EXPECT_FALSE(l.hourly_cap.has_value());
  EXPECT_FALSE(l.quota.has_value());
  auto bad = email_limits_of(ws("not json"));
  EXPECT_FALSE(bad.hourly_cap.has_value());
  EXPECT_FALSE(bad.quota.has_value());
}

TEST(email_caps, the_workspace_setting_overrides_the_plan_either_way) {
  EXPECT_EQ(email_limits_of(ws(R"({"email_hourly_cap":50})", R"({"email_hourly_cap":2})")).hourly_cap, 2);
  EXPECT_EQ(email_limits_of(ws(R"({"email_hourly_cap":50})", R"({"email_hourly_cap":500})")).hourly_cap, 500);
  EXPECT_EQ(email_limits_of(ws("{}", R"({"email_hourly_cap":10})")).hourly_cap, 10) << "an enterprise workspace may cap itself";
  EXPECT_EQ(email_limits_of(ws(R"({"email_hourly_cap":50})", R"({"email_hourly_cap":0})")).hourly_cap, 0) << "0 pauses sending";
  EXPECT_EQ(email_limits_of(ws("{}", R"({"email_hourly_cap":3.0})")).hourly_cap, 3) << "a whole number written as 3.0";
  EXPECT_EQ(email_limits_of(ws(R"({"email_hourly_cap":50})", R"({"email_hourly_cap":null})")).hourly_cap, 50) << "null: the plan's";
}

TEST(email_caps, a_setting_that_is_not_a_whole_number_at_least_zero_is_ignored_and_named) {
  for (const char* bad : {R"({"email_hourly_cap":-1})", R"({"email_hourly_cap":2.5})", R"({"email_hourly_cap":"10"})",
                          R"({"email_hourly_cap":true})", R"({"email_hourly_cap":1e12})", R"({"email_hourly_cap":[1]})"}) {
    auto l = email_limits_of(ws(R"({"email_hourly_cap":50})", bad));
    EXPECT_EQ(l.hourly_cap, 50) << bad;
    EXPECT_NE(l.ignored_setting.find("email_hourly_cap"), std::string::npos) << bad;
  }
  auto unreadable = email_limits_of(ws(R"({"email_hourly_cap":50})", "{oops"));
  EXPECT_EQ(unreadable.hourly_cap, 50);
  EXPECT_TRUE(unreadable.ignored_setting.empty()) << "no setting to name";
}

TEST(email_caps, a_negative_or_fractional_plan_value_is_no_limit) {
  auto l = email_limits_of(ws(R"({"email_hourly_cap":-5,"email_sends":1.5})"));
  EXPECT_FALSE(l.hourly_cap.has_value());
  EXPECT_FALSE(l.quota.has_value());
}

TEST(email_caps, a_deferred_action_goes_back_on_the_frontier_with_the_same_attempt) {
  runtime::checkpoint cp;
  cp.in_flight = 3;
  cp.in_flight_attempt = 2;
  cp.in_flight_patch = runtime::lead_patch{};
  defer_in_flight(cp, 1234);
  EXPECT_EQ(cp.in_flight, runtime::k_no_node);
  EXPECT_EQ(cp.in_flight_attempt, 0u);
  EXPECT_FALSE(cp.in_flight_patch.has_value());
  ASSERT_EQ(cp.frontier.size(), 1u);
  EXPECT_EQ(cp.frontier[0], (runtime::pending_node{3, 1234, 2}));
  defer_in_flight(cp, 99);
  EXPECT_EQ(cp.frontier.size(), 1u) << "nothing in flight: nothing deferred";
}

TEST(email_caps, verdicts_have_stable_names) {
  EXPECT_EQ(to_string(email_send_grant::verdict::reserved), "reserved");
  EXPECT_EQ(to_string(email_send_grant::verdict::already_reserved), "already_reserved");
  EXPECT_EQ(to_string(email_send_grant::verdict::wait), "wait");
}

}  // namespace
}  // namespace flowtrack::domain
