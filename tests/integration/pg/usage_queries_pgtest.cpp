// The read-only usage, billing and integration queries (storage/usage_queries) against real
// PostgreSQL: only the current period's quotas, stats within the range and only the workspace's,
// the subscription with its plan, the visible plans in order, integrations without their tokens,
// and every query blind to another workspace's rows.
#include <gtest/gtest.h>

#include <chrono>

#include "storage/usage_queries.hpp"
#include "storage/workspace_members.hpp"
#include "storage/accounts.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string describe(const error& e) { return std::string(to_string(e.code)) + " " + e.subject + ": " + e.message; }

struct fixture {
  std::unique_ptr<pg::connection> c;
  std::string ws, other_ws;

  fixture() {
    auto opened = pg::connection::open(pg::connect_options{test::database_url()});
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.err().message);
    if (opened.ok()) c = std::move(*opened);
    ws = workspace();
    other_ws = workspace();
  }
  std::string workspace() {
    const std::string email = test::unique_name("usage") + "@example.com";
    auto s = sign_up(*c, email, "hash", "Ada", "Lovelace", test::unique_name("verify"), now_ms() + 3600'000);
    EXPECT_TRUE(s.ok());
    auto u = find_user_by_email(*c, email);
    EXPECT_TRUE(u.ok() && u->has_value());
    auto w = create_workspace_for_user(*c, (*u)->id, "Usage", test::unique_slug("usage"));
    EXPECT_TRUE(w.ok()) << (w.ok() ? "" : describe(w.err()));
    return w.ok() ? w->id : std::string();
  }
  void run(const std::string& sql, const pg::params& p) {
    auto r = c->exec(sql, p);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
  }
};

TEST(usage_queries_pgtest, quotas_are_the_current_periods_of_the_workspace_only) {
  fixture f;
  const std::string insert =
      "INSERT INTO usage_quotas (workspace_id, quota_key, quota_limit, quota_used, period_start, period_end) "
      "VALUES ($1::uuid, $2, $3::int, $4::int, current_date + $5::int, current_date + $6::int)";
  f.run(insert, pg::params{}.add(f.ws).add("leads").add(100).add(25).add(-10).add(20));
  f.run(insert, pg::params{}.add(f.ws).add("leads").add(100).add(99).add(-50).add(-11));  // a past period
  f.run(insert, pg::params{}.add(f.ws).add("executions").add(500).add(0).add(0).add(30));
  f.run(insert, pg::params{}.add(f.other_ws).add("email_sends").add(200).add(7).add(-1).add(29));
  auto q = current_quotas(*f.c, f.ws);
  ASSERT_TRUE(q.ok()) << describe(q.err());
  ASSERT_EQ(q->size(), 2u);
  EXPECT_EQ((*q)[0].key, "executions");
  EXPECT_EQ((*q)[1].key, "leads");
  EXPECT_EQ((*q)[1].used, 25) << "the current period, not the past one";
  EXPECT_EQ((*q)[1].limit, 100);
  EXPECT_EQ((*q)[1].period_start.size(), 10u);
  EXPECT_EQ(current_quotas(*f.c, "not-a-uuid").err().code, error_code::not_found);
}

TEST(usage_queries_pgtest, daily_stats_are_within_the_range_oldest_first) {
  fixture f;
  const std::string insert =
      "INSERT INTO workspace_daily_stats (workspace_id, stat_date, leads_created, emails_sent, avg_execution_duration_ms) "
      "VALUES ($1::uuid, $2::date, $3::int, 4, NULL)";
  for (const char* d : {"2026-01-01", "2026-01-02", "2026-01-05", "2026-02-01"})
    f.run(insert, pg::params{}.add(f.ws).add(d).add(std::string(d).substr(8, 2) == "01" ? 1 : 2));
  f.run(insert, pg::params{}.add(f.other_ws).add("2026-01-03").add(9));
  auto s = daily_stats(*f.c, f.ws, "2026-01-01", "2026-01-31");
  ASSERT_TRUE(s.ok()) << describe(s.err());
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[0].date, "2026-01-01");
  EXPECT_EQ((*s)[2].date, "2026-01-05");
  EXPECT_EQ((*s)[1].leads_created, 2);
  EXPECT_EQ((*s)[1].emails_sent, 4);
  EXPECT_FALSE((*s)[1].avg_execution_duration_ms);
  auto bad = daily_stats(*f.c, f.ws, "2026-13-40", "2026-01-31");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, error_code::invalid);
  EXPECT_EQ(bad.err().subject, "from");
}

TEST(usage_queries_pgtest, subscription_comes_with_its_plan_and_plans_are_visible_ones_in_order) {
  fixture f;
  auto s = subscription_of(*f.c, f.ws);
  ASSERT_TRUE(s.ok()) << describe(s.err());
  ASSERT_TRUE(s->has_value()) << "a workspace made for a user has the free plan";
  EXPECT_EQ((*s)->plan.slug, "free");
  EXPECT_EQ((*s)->status, "active");
  EXPECT_NE((*s)->plan.quotas.find("\"leads\""), std::string::npos);
  auto none = subscription_of(*f.c, "00000000-0000-0000-0000-000000000000");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  auto plans = visible_plans(*f.c);
  ASSERT_TRUE(plans.ok()) << describe(plans.err());
  ASSERT_GE(plans->size(), 5u);
  EXPECT_EQ((*plans)[0].slug, "free");
  for (std::size_t i = 1; i < plans->size(); ++i) EXPECT_LE((*plans)[i - 1].display_order, (*plans)[i].display_order);
}

TEST(usage_queries_pgtest, integrations_never_carry_tokens_and_say_whether_connected) {
  fixture f;
  const std::string insert =
      "INSERT INTO oauth_credentials (workspace_id, provider_type, provider_email, access_token, refresh_token, expires_at, is_active) "
      "VALUES ($1::uuid, $2, $3, 'secret-access-token', 'secret-refresh-token', now() + make_interval(hours => $4::int), $5::bool)";
  f.run(insert, pg::params{}.add(f.ws).add("google").add("ada@example.com").add(1).add(true));
  f.run(insert, pg::params{}.add(f.ws).add("microsoft").add("ada@example.org").add(-1).add(true));  // expired
  f.run(insert, pg::params{}.add(f.other_ws).add("hubspot").add("x@example.com").add(1).add(true));
  auto g = integrations_of(*f.c, f.ws);
  ASSERT_TRUE(g.ok()) << describe(g.err());
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[0].provider, "google");
  EXPECT_TRUE((*g)[0].connected);
  EXPECT_EQ((*g)[0].email.value_or(""), "ada@example.com");
  EXPECT_TRUE((*g)[0].expires_at_ms.has_value());
  EXPECT_GT(*(*g)[0].expires_at_ms, now_ms());
  EXPECT_EQ((*g)[1].provider, "microsoft");
  EXPECT_FALSE((*g)[1].connected) << "expired";
  for (const auto& row : *g) {
    for (const auto& text : {row.id, row.provider, row.email.value_or(""), row.scope.value_or("")})
      EXPECT_EQ(text.find("secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace flowtrack::storage
