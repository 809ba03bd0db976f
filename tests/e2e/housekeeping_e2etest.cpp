// Housekeeping through the whole node and the CLI: a serving node runs each job on its interval,
// under the job's lease, and shows it in /metrics and its log; `flowtrackd housekeeping run`
// runs a job at once even while a lease is held elsewhere, and names the jobs when given an
// unknown one. Each test case has a database of its own (its node purges whole tables).
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/scratch_database.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;

const auto* const k_own_database = ::testing::AddGlobalTestEnvironment(new test::own_database("ft_housekeeping_e2e"));

// Jobs run every second, so a test sees the node's scheduled runs at once.
const test::node_process::settings k_node{{"FLOWTRACK_HOUSEKEEPING_INTERVAL_S", "1"}, {"FLOWTRACK_LOG_LEVEL", "info"}};

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

struct database {
  std::unique_ptr<pg::connection> c = [] {
    auto c = pg::connection::open(pg::connect_options{test::database_url()});
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
    return c.ok() ? std::move(*c) : nullptr;
  }();

  void run(const std::string& sql, const pg::params& args = {}) {
    auto r = c->exec(sql, args);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
  }
  std::string text(const std::string& sql, const pg::params& args = {}) {
    auto r = c->exec(sql, args);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->empty() || r->is_null(0, 0)) return {};
    return std::string(r->get(0, 0));
  }
  std::int64_t count(const std::string& sql) {
    auto t = text(sql);
    return t.empty() ? -1 : std::stoll(t);
  }
  void old_login_attempts(int n) {
    run("INSERT INTO login_attempts (email, ip_address, created_at) SELECT 'old@example.com', '10.0.0.1', "
        "LOCALTIMESTAMP - interval '120 days' FROM generate_series(1, $1::int)",
        pg::params{}.add(n));
    run("INSERT INTO login_attempts (email, ip_address) VALUES ('new@example.com', '10.0.0.2')");
  }
  void expired_refresh_token() {
    std::string user = text("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(test::unique_name("hk") + "@example.com"));
    run("INSERT INTO refresh_tokens (user_id, token, expires_at) VALUES ($1::uuid, $2, LOCALTIMESTAMP - interval '1 hour')",
        pg::params{}.add(user).add(test::unique_name("token")));
  }
};

std::vector<boost::json::object> json_lines(const std::string& out) {
  std::vector<boost::json::object> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(boost::json::parse(line).as_object());
  return lines;
}

TEST(housekeeping_e2e, a_serving_node_runs_each_job_on_its_interval_and_shows_it_in_metrics_and_its_log) {
  database db;
  db.old_login_attempts(3);
  db.expired_refresh_token();
  test::node_process node(k_node);

  ASSERT_TRUE(eventually(
      [&] {
        for (const char* job : {"partitions", "login-attempts", "tokens", "webhook-bodies", "daily-stats", "quota-rollover"})
          if (node.metric(std::string("flowtrack_housekeeping_runs_total{job=\"") + job + "\",outcome=\"ok\"}") < 1) return false;
        return true;
      },
      30s))
      << node.process->log();
  EXPECT_EQ(node.metric("flowtrack_housekeeping_rows_total{job=\"login-attempts\"}"), 3);
  EXPECT_EQ(node.metric("flowtrack_housekeeping_rows_total{job=\"tokens\"}"), 1);
  EXPECT_EQ(node.metric("flowtrack_housekeeping_partitions_total{action=\"created\"}"), 2)
      << "migrate made this month's and next month's; the node the two after";
  EXPECT_GT(node.metric("flowtrack_housekeeping_last_success_timestamp_seconds{job=\"tokens\"}"), 1.7e9);
  EXPECT_EQ(node.metric("flowtrack_housekeeping_runs_total{job=\"tokens\",outcome=\"failed\"}"), -1) << node.process->log();

  EXPECT_EQ(db.count("SELECT count(*) FROM login_attempts"), 1) << "the recent attempt stays";
  EXPECT_EQ(db.count("SELECT count(*) FROM refresh_tokens"), 0);
  EXPECT_EQ(db.count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'execution_logs'::regclass"), 4);
  EXPECT_EQ(db.count("SELECT count(*) FROM housekeeping_leases WHERE outcome = 'ok' AND holder IS NOT NULL AND succeeded_at IS NOT NULL"), 6);
  // Runs again on its interval.
  double runs = node.metric("flowtrack_housekeeping_runs_total{job=\"tokens\",outcome=\"ok\"}");
  EXPECT_TRUE(eventually([&] { return node.metric("flowtrack_housekeeping_runs_total{job=\"tokens\",outcome=\"ok\"}") > runs; }, 10s));

  auto log = node.process->log();
  EXPECT_NE(log.find("housekeeping: login-attempts ok"), std::string::npos) << log;
  EXPECT_NE(log.find("3 rows in 1 batches"), std::string::npos) << log;
}

TEST(housekeeping_e2e, the_cli_runs_a_job_at_once_while_another_node_holds_its_lease) {
  database db;
  // Another node holds the login-attempts lease for an hour.
  db.run("INSERT INTO housekeeping_leases (job, holder, lease_until, started_at) VALUES ('login-attempts', 'elsewhere', now() + interval '1 hour', now())");
  test::node_process node(k_node);
  // The serving node has looked at its jobs (it ran the others) and left login-attempts alone.
  ASSERT_TRUE(eventually([&] { return node.metric("flowtrack_housekeeping_runs_total{job=\"tokens\",outcome=\"ok\"}") >= 1; }, 30s))
      << node.process->log();
  db.old_login_attempts(4);

  auto out = test::cli("housekeeping run login-attempts");
  auto lines = json_lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_EQ(lines[0].at("job").as_string(), "login-attempts");
  EXPECT_EQ(lines[0].at("outcome").as_string(), "ok");
  EXPECT_EQ(lines[0].at("rows").as_int64(), 4);
  EXPECT_EQ(db.count("SELECT count(*) FROM login_attempts WHERE email = 'old@example.com'"), 0);
  EXPECT_EQ(db.count("SELECT count(*) FROM login_attempts WHERE email = 'new@example.com'"), 1);
  EXPECT_EQ(db.text("SELECT holder FROM housekeeping_leases WHERE job = 'login-attempts'"), "elsewhere") << "the CLI takes no lease";
  EXPECT_EQ(node.metric("flowtrack_housekeeping_runs_total{job=\"login-attempts\",outcome=\"ok\"}"), -1)
      << "the serving node never ran a job whose lease another node holds";

  // Every job, one line each, beside the serving node's own runs.
  auto all = json_lines(test::cli("housekeeping run"));
  ASSERT_EQ(all.size(), 6u);
  std::vector<std::string> jobs;
  for (const auto& l : all) {
    jobs.emplace_back(l.at("job").as_string());
    EXPECT_EQ(l.at("outcome").as_string(), "ok") << boost::json::serialize(l);
  }
  EXPECT_EQ(jobs, (std::vector<std::string>{"partitions", "login-attempts", "tokens", "webhook-bodies", "daily-stats",
                                            "quota-rollover"}));
}

TEST(housekeeping_e2e, an_unknown_job_exits_64_naming_the_jobs) {
  auto r = test::run_command(test::flowtrackd() + " housekeeping run logs --database-url " + test::shell_quote(test::database_url()));
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_NE(r.err.find("unknown job 'logs'; the jobs are partitions, login-attempts, tokens, webhook-bodies, daily-stats, quota-rollover"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  auto bare = test::run_command(test::flowtrackd() + " housekeeping --database-url " + test::shell_quote(test::database_url()));
  EXPECT_EQ(bare.exit_code, 64);
  EXPECT_NE(bare.err.find("usage: flowtrackd housekeeping run [JOB]"), std::string::npos) << bare.err;
}

}  // namespace
}  // namespace flowtrack
