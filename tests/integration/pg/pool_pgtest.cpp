// The connection pool under concurrency: every job answered once, none lost, size respected.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

#include "storage/pg/pool.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::pg {
namespace {

pool_options options(int size, const std::string& app) {
  pool_options o;
  o.connection.uri = test::database_url();
  o.connection.application_name = app;
  o.size = size;
  return o;
}

TEST(pg_pool, answers_ten_thousand_queries_from_64_callers_within_its_size) {
  const std::string app = test::unique_name("pooltest").substr(0, 60);
  constexpr int k_size = 8, k_callers = 64, k_per_caller = 10000 / k_callers + 1;
  auto o = options(k_size, app);
  o.max_queued = k_callers * k_per_caller;  // this test is about answers, not the bound
  pool p(o);
  statement st{"pool_echo", "SELECT $1::bigint, pg_backend_pid()"};

  std::atomic<int> answered{0}, wrong{0};
  std::atomic<int> max_connections_seen{0};
  std::mutex pids_mutex;
  std::set<std::int64_t> pids;
  std::vector<std::thread> callers;
  std::vector<std::future<void>> done;
  std::atomic<int> outstanding{k_callers * k_per_caller};
  std::promise<void> all_done;

  for (int t = 0; t < k_callers; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < k_per_caller; ++i) {
        std::int64_t token = static_cast<std::int64_t>(t) * 1000000 + i;
        p.submit([&st, token](connection& c) { return c.exec(st, params{}.add(token)); },
                 [&, token](result<rows> r) {
                   if (!r.ok() || r->get_int(0, 0) != token) wrong++;
                   if (r.ok()) {
                     std::lock_guard lock(pids_mutex);
                     pids.insert(r->get_int(0, 1));
                   }
                   answered++;
                   int connected = p.stats().connected;
                   int seen = max_connections_seen.load();
                   while (connected > seen && !max_connections_seen.compare_exchange_weak(seen, connected)) {
                   }
                   if (--outstanding == 0) all_done.set_value();
                 });
      }
    });
  }
  for (auto& c : callers) c.join();
  ASSERT_EQ(all_done.get_future().wait_for(std::chrono::seconds(120)), std::future_status::ready);
  EXPECT_EQ(answered.load(), k_callers * k_per_caller);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(static_cast<int>(pids.size()), k_size);
  EXPECT_LE(max_connections_seen.load(), k_size);

  // The server agrees: no more sessions under our application name than the pool's size.
  auto count = p.run([&](connection& c) {
                  return c.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", params{}.add(app));
                }).get();
  ASSERT_TRUE(count.ok()) << count.err().message;
  EXPECT_LE(count->get_int(0, 0), k_size);
  EXPECT_GE(count->get_int(0, 0), 1);
}

TEST(pg_pool, errors_reach_the_caller_and_the_worker_goes_on) {
  pool p(options(2, "pooltest-errors"));
  auto bad = p.run([](connection& c) { return c.exec("SELECT 1/0"); }).get();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, error_code::invalid);
  auto good = p.run([](connection& c) { return c.exec("SELECT 7"); }).get();
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->get_int(0, 0), 7);
}

TEST(pg_pool, replaces_a_killed_connection_and_retries_retry_safe_jobs) {
  auto o = options(1, "pooltest-kill");
  pool p(o);
  auto pid = p.run([](connection& c) { return c.exec("SELECT pg_backend_pid()"); }).get();
  ASSERT_TRUE(pid.ok());
  std::int64_t first_pid = pid->get_int(0, 0);
  auto killer = connection::open(o.connection);
  ASSERT_TRUE(killer.ok());
  ASSERT_TRUE((*killer)->exec("SELECT pg_terminate_backend($1)", params{}.add(first_pid)).ok());

  auto again = p.run([](connection& c) { return c.exec("SELECT pg_backend_pid()"); }, /*retry_safe=*/true).get();
  ASSERT_TRUE(again.ok()) << again.err().message;
  EXPECT_NE(again->get_int(0, 0), first_pid);
  EXPECT_GE(p.stats().reconnects, 2u);
}

TEST(pg_pool, drains_queued_jobs_before_it_is_destroyed) {
  std::atomic<int> ran{0};
  {
    pool p(options(2, "pooltest-drain"));
    for (int i = 0; i < 200; ++i)
      p.submit([](connection& c) { return c.exec("SELECT 1"); }, [&](result<rows> r) { ran += r.ok() ? 1 : 0; });
  }
  EXPECT_EQ(ran.load(), 200);
}

TEST(pg_pool, refuses_new_outside_work_at_once_when_its_queue_is_full_and_runs_every_queued_one) {
  auto o = options(1, "pooltest-full");
  o.max_queued = 3;
  pool p(o);
  std::promise<void> release, started;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};
  // The one worker holds the first job until released; three more wait in the queue.
  p.submit([&, gate](connection& c) {
             started.set_value();
             gate.wait();
             return c.exec("SELECT 1");
           },
           [&](result<rows> r) { ran += r.ok() ? 1 : 0; });
  started.get_future().wait();
  for (int i = 0; i < 3; ++i)
    p.submit([](connection& c) { return c.exec("SELECT 1"); }, [&](result<rows> r) { ran += r.ok() ? 1 : 0; });

  // New work from outside is answered before try_submit returns, on this thread, without
  // waiting for a worker.
  std::optional<error_code> refused;
  p.try_submit([](connection& c) { return c.exec("SELECT 1"); },
               [&](result<rows> r) { refused = r.ok() ? error_code::internal : r.err().code; });
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(*refused, error_code::unavailable);
  EXPECT_EQ(p.stats().refused, 1u);
  EXPECT_EQ(p.stats().queued, 3u);
  // Work the node has already taken on is queued all the same.
  p.submit([](connection& c) { return c.exec("SELECT 1"); }, [&](result<rows> r) { ran += r.ok() ? 1 : 0; });
  EXPECT_EQ(p.stats().queued, 4u);

  release.set_value();
  p.close();  // drains: nothing accepted is lost
  EXPECT_EQ(ran.load(), 5);
}

TEST(pg_pool, fails_jobs_fast_while_the_server_is_unreachable) {
  pool_options o;
  o.connection.uri = "postgresql://postgres@127.0.0.1:" + std::to_string(test::free_port()) + "/x";
  o.size = 1;
  o.reconnect_backoff = std::chrono::seconds(30);
  pool p(o);
  auto first = p.run([](connection& c) { return c.exec("SELECT 1"); }).get();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.err().code, error_code::unavailable);
  // Within the backoff no connect is tried again: jobs fail with `unavailable` and the error
  // names no address.
  for (int i = 0; i < 20; ++i) {
    auto again = p.run([](connection& c) { return c.exec("SELECT 1"); }).get();
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.err().code, error_code::unavailable);
    EXPECT_EQ(again.err().message.find("127.0.0.1"), std::string::npos) << again.err().message;
  }
  EXPECT_EQ(p.stats().connect_failures, 1u);
}

}  // namespace
}  // namespace flowtrack::pg
