// Email reservations against real PostgreSQL (storage/email_sends): the rolling-hour cap and how
// long to wait, a retried step counted once, the QUOTA_WARNING at 100% and the refusal beyond
// 120% of email_sends, each workspace counted apart, and concurrent reservations from many
// connections never passing the cap.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "storage/email_sends.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

using verdict = domain::email_send_grant::verdict;
constexpr std::int64_t k_hour_ms = 3'600'000;

std::unique_ptr<pg::connection> connect() {
  auto opened = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.err().message);
  return opened.ok() ? std::move(*opened) : nullptr;
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect();
  std::string ws, other_ws;

  fixture() {
    std::string tag = test::unique_name("cap");
    std::string user(c->exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(tag + "@example.com"))->get(0, 0));
    auto make_ws = [&](const std::string& slug) {
      auto r = c->exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                       pg::params{}.add(slug).add(user));
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
      return r.ok() ? std::string(r->get(0, 0)) : std::string();
    };
    ws = make_ws(tag);
    other_ws = make_ws(test::unique_name("cap"));
  }

  static domain::email_send_request request(const std::string& workspace, const std::string& key, std::optional<int> cap,
                                            std::optional<int> quota) {
    domain::email_send_request r;
    r.workspace_id = workspace;
    r.idempotency_key = key;
    r.limits.hourly_cap = cap;
    r.limits.quota = quota;
    r.limits.period_start = "2026-12-01";
    r.limits.period_end = "2026-12-31";
    return r;
  }
  result<domain::email_send_grant> reserve(const std::string& key, std::optional<int> cap, std::optional<int> quota = std::nullopt) {
    return reserve_email_send(*c, request(ws, key, cap, quota));
  }
  std::int64_t count(const std::string& sql, const std::string& workspace = "") {
    auto r = c->exec(sql, pg::params{}.add(workspace.empty() ? ws : workspace));
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    return r.ok() && r->get_optional(0, 0) ? r->get_int(0, 0) : -1;
  }
  std::int64_t sends(const std::string& workspace = "") {
    return count("SELECT count(*) FROM usage_events WHERE workspace_id = $1 AND event_type = 'EMAIL_SENT'", workspace);
  }
  std::int64_t quota_used() {
    return count("SELECT COALESCE(max(quota_used), 0) FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'email_sends'");
  }
  /// A send counted `minutes_ago` (as an earlier reservation would have left it).
  void sent_minutes_ago(int minutes_ago, const std::string& key) {
    auto r = c->exec("INSERT INTO usage_events (workspace_id, event_type, event_category, metadata, created_at) "
                     "VALUES ($1, 'EMAIL_SENT', 'communication', jsonb_build_object('idempotencyKey', $2::text), "
                     "now() - make_interval(mins => $3::int))",
                     pg::params{}.add(ws).add(key).add(minutes_ago));
    ASSERT_TRUE(r.ok()) << r.err().message;
  }
};

verdict outcome(const result<domain::email_send_grant>& g) {
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.err().message);
  return g.ok() ? g->outcome : verdict::reserved;
}

TEST(email_sends_pgtest, the_cap_counts_the_rolling_hour_and_answers_how_long_to_wait) {
  fixture f;
  EXPECT_EQ(outcome(f.reserve("x:1", 2)), verdict::reserved);
  EXPECT_EQ(outcome(f.reserve("x:2", 2)), verdict::reserved);
  auto third = f.reserve("x:3", 2);
  ASSERT_EQ(outcome(third), verdict::wait);
  EXPECT_EQ(third->sent_last_hour, 2);
  EXPECT_GT(third->wait_ms, k_hour_ms - 60'000) << "the oldest of the two sends leaves the hour in about an hour";
  EXPECT_LE(third->wait_ms, k_hour_ms);
  EXPECT_EQ(f.sends(), 2) << "a send told to wait is not counted";
  auto row = f.c->exec("SELECT event_category, quantity, related_resource_type FROM usage_events "
                       "WHERE workspace_id = $1 AND event_type = 'EMAIL_SENT' AND metadata->>'idempotencyKey' = 'x:1'",
                       pg::params{}.add(f.ws));
  ASSERT_TRUE(row.ok());
  ASSERT_EQ(row->size(), 1);
  EXPECT_EQ(row->get(0, 0), "communication");
  EXPECT_EQ(row->get_int(0, 1), 1);
}

TEST(email_sends_pgtest, the_wait_ends_when_enough_old_sends_have_left_the_hour) {
  fixture f;
  f.sent_minutes_ago(70, "old:0");  // outside the hour: not counted
  f.sent_minutes_ago(50, "old:1");
  f.sent_minutes_ago(40, "old:2");
  f.sent_minutes_ago(10, "old:3");
  auto g = f.reserve("new:1", 3);
  ASSERT_EQ(outcome(g), verdict::wait);
  EXPECT_EQ(g->sent_last_hour, 3);
  EXPECT_GT(g->wait_ms, 10 * 60'000 - 5'000) << "the send of 50 minutes ago leaves in 10 minutes";
  EXPECT_LE(g->wait_ms, 10 * 60'000);
  auto lowered = f.reserve("new:1", 1);  // a cap lowered under the sends already made
  ASSERT_EQ(outcome(lowered), verdict::wait);
  EXPECT_GT(lowered->wait_ms, 50 * 60'000 - 5'000) << "two of the three must leave: the one of 40 minutes ago is the last";
  EXPECT_LE(lowered->wait_ms, 50 * 60'000);
  EXPECT_EQ(outcome(f.reserve("new:1", 4)), verdict::reserved);
}

TEST(email_sends_pgtest, a_cap_of_zero_pauses_sending_and_asks_again_in_an_hour) {
  fixture f;
  auto g = f.reserve("z:1", 0);
  ASSERT_EQ(outcome(g), verdict::wait);
  EXPECT_GT(g->wait_ms, k_hour_ms - 60'000);
  EXPECT_LE(g->wait_ms, k_hour_ms);
  EXPECT_EQ(f.sends(), 0);
}

TEST(email_sends_pgtest, a_retried_step_is_counted_once) {
  fixture f;
  EXPECT_EQ(outcome(f.reserve("exec:node", 5, 100)), verdict::reserved);
  EXPECT_EQ(outcome(f.reserve("exec:node", 5, 100)), verdict::already_reserved);
  EXPECT_EQ(f.sends(), 1);
  EXPECT_EQ(f.quota_used(), 1);
  EXPECT_EQ(outcome(f.reserve("exec:other", 1, 100)), verdict::wait) << "the cap still applies to new keys";
  EXPECT_EQ(outcome(f.reserve("exec:node", 1, 100)), verdict::already_reserved) << "a counted key is not held back";
}

TEST(email_sends_pgtest, reaching_the_quota_warns_once_and_beyond_120_percent_refuses) {
  fixture f;
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(outcome(f.reserve("q:" + std::to_string(i), std::nullopt, 5)), verdict::reserved);
  EXPECT_EQ(f.count("SELECT count(*) FROM usage_events WHERE workspace_id = $1 AND event_type = 'QUOTA_WARNING'"), 0);
  auto fifth = f.reserve("q:5", std::nullopt, 5);
  EXPECT_EQ(outcome(fifth), verdict::reserved);
  EXPECT_EQ(fifth->quota_used, 5);
  EXPECT_EQ(f.count("SELECT count(*) FROM usage_events WHERE workspace_id = $1 AND event_type = 'QUOTA_WARNING' "
                    "AND metadata->>'quota' = 'email_sends' AND (metadata->>'used')::int = 5 AND (metadata->>'limit')::int = 5"),
            1);
  EXPECT_EQ(outcome(f.reserve("q:6", std::nullopt, 5)), verdict::reserved) << "the 20% buffer";
  EXPECT_EQ(f.count("SELECT count(*) FROM usage_events WHERE workspace_id = $1 AND event_type = 'QUOTA_WARNING'"), 1);

  auto refused = f.reserve("q:7", std::nullopt, 5);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.err().code, error_code::quota_exceeded);
  EXPECT_EQ(refused.err().subject, "email_sends");
  EXPECT_NE(refused.err().message.find("email_sends quota"), std::string::npos) << refused.err().message;
  EXPECT_EQ(f.sends(), 6) << "a refused send is not counted";
  EXPECT_EQ(f.quota_used(), 6);
  EXPECT_EQ(f.count("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'email_sends' "
                    "AND quota_limit = 5 AND period_start = '2026-12-01' AND period_end = '2026-12-31'"),
            1);
  EXPECT_EQ(outcome(f.reserve("q:6", std::nullopt, 5)), verdict::already_reserved) << "a counted key still sends";
}

TEST(email_sends_pgtest, an_unlimited_plan_counts_sends_but_keeps_no_quota_row) {
  fixture f;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(outcome(f.reserve("u:" + std::to_string(i), std::nullopt)), verdict::reserved);
  EXPECT_EQ(f.sends(), 3);
  EXPECT_EQ(f.count("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1"), 0);
}

TEST(email_sends_pgtest, each_workspace_counts_its_own_sends_and_keys) {
  fixture f;
  EXPECT_EQ(outcome(f.reserve("k:1", 1, 10)), verdict::reserved);
  EXPECT_EQ(outcome(f.reserve("k:2", 1, 10)), verdict::wait);
  auto other = reserve_email_send(*f.c, fixture::request(f.other_ws, "k:1", 1, 10));
  EXPECT_EQ(outcome(other), verdict::reserved) << "the same key in another workspace is another email";
  EXPECT_EQ(f.sends(f.other_ws), 1);
  EXPECT_EQ(f.sends(), 1);
  EXPECT_EQ(f.count("SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'email_sends'", f.other_ws), 1);
}

TEST(email_sends_pgtest, concurrent_reservations_never_pass_the_cap) {
  fixture f;
  constexpr int k_threads = 8, k_each = 4, k_cap = 5;
  std::atomic<int> reserved{0}, waited{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([&, t] {
      auto c = connect();
      if (!c) return void(++failed);
      for (int i = 0; i < k_each; ++i) {
        auto g = reserve_email_send(*c, fixture::request(f.ws, "c:" + std::to_string(t) + ":" + std::to_string(i), k_cap, 1000));
        if (!g.ok()) ++failed;
        else if (g->outcome == verdict::reserved) ++reserved;
        else if (g->outcome == verdict::wait) ++waited;
        else ++failed;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(reserved.load(), k_cap);
  EXPECT_EQ(waited.load(), k_threads * k_each - k_cap);
  EXPECT_EQ(f.sends(), k_cap);
  EXPECT_EQ(f.quota_used(), k_cap);
}

}  // namespace
}  // namespace flowtrack::storage
