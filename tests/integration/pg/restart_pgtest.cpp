// PostgreSQL restarted under the pool: callers get `unavailable`, then the pool recovers alone.
#include <gtest/gtest.h>

#include "storage/pg/pool.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::pg {
namespace {

TEST(pg_pool, reports_unavailable_while_the_server_is_down_and_recovers_by_itself) {
  std::string ctl = test::require_env("FLOWTRACK_TEST_PG_CTL");
  pool_options o;
  o.connection.uri = test::database_url();
  o.connection.connect_timeout = std::chrono::milliseconds(1000);
  o.size = 4;
  o.health_interval = std::chrono::milliseconds(200);
  pool p(o);
  auto select = [](connection& c) { return c.exec("SELECT 1"); };
  ASSERT_TRUE(p.run(select).get().ok());

  auto stopped = test::run_command(ctl + " stop");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  struct restart_guard {
    std::string ctl;
    ~restart_guard() { test::run_command(ctl + " start"); }
  } guard{ctl};

  for (int i = 0; i < 8; ++i) {
    auto r = p.run(select).get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, error_code::unavailable) << r.err().message;
  }

  auto started = test::run_command(ctl + " start");
  ASSERT_EQ(started.exit_code, 0) << started.err;
  // The pool reconnects on its own; every worker ends up serving again.
  auto deadline = clock::now() + std::chrono::seconds(30);
  int consecutive_ok = 0;
  while (consecutive_ok < 16 && clock::now() < deadline) {
    consecutive_ok = p.run(select).get().ok() ? consecutive_ok + 1 : 0;
  }
  EXPECT_EQ(consecutive_ok, 16);
  EXPECT_GE(p.stats().connected, 1);
}

}  // namespace
}  // namespace flowtrack::pg
