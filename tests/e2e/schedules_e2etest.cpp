// Scheduled triggers through whole nodes: two nodes on one database (and one Redis of the test's
// own) serve a workflow imported with the CLI whose TRIGGER_SCHEDULE has a leadFilter and whose
// activation was back-dated so a tick is due at start. Each matching lead gets exactly one
// SCHEDULED execution, which runs to its end (the lead is tagged); other leads get none. The same
// schedule without a filter runs once without a lead. Pausing the workflow with the CLI parks its
// schedule on the live nodes.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <fstream>
#include <functional>
#include <thread>

#include <unistd.h>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "storage/redis/connection.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/own_redis.hpp"
#include "tests/support/scratch_database.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// Nodes of other suites adopt whatever executions they find: this suite has a database of its own.
const auto* const k_own_database = ::testing::AddGlobalTestEnvironment(new test::own_database("ft_schedules_e2e"));

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

using test::own_redis;

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
  std::int64_t count(const std::string& sql, const pg::params& args = {}) {
    auto r = c->exec(sql, args);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    return r.ok() && r->size() == 1 && !r->is_null(0, 0) ? r->get_int(0, 0) : -1;
  }
};

/// A daily tick five minutes ago (UTC, whole minutes): "M H * * *" and its time in epoch seconds.
std::pair<std::string, std::int64_t> tick_five_minutes_ago() {
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::int64_t tick = (now_s / 60 - 5) * 60;
  std::int64_t in_day = tick % 86400;
  return {std::to_string(in_day % 3600 / 60) + " " + std::to_string(in_day / 3600) + " * * *", tick};
}

std::string iso_utc(std::int64_t epoch_s) {
  char buf[32];
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TEST(schedules_e2e, two_nodes_start_one_execution_per_matching_lead_for_a_due_tick) {
  own_redis redis;
  database db;
  auto [cron, tick] = tick_five_minutes_ago();
  const std::string slug = test::unique_slug("sched");
  test::cli("workspace create --name Sched --slug " + slug + " --owner-email owner@" + slug + ".example --plan pro");
  json::object doc{
      {"name", "nightly nudge"},
      {"status", "active"},
      {"nodes", json::array{json::object{{"id", "tick"},
                                         {"type", "TRIGGER_SCHEDULE"},
                                         {"data", {{"cron", cron},
                                                   {"timezone", "UTC"},
                                                   {"leadFilter", {{"rules", json::array{json::object{{"field", "status"},
                                                                                                       {"operator", "=="},
                                                                                                       {"value", "NEW"}}}},
                                                                   {"match", "all"}}}}}},
                            json::object{{"id", "tag"}, {"type", "ACTION_ADD_TAG"}, {"data", {{"tag", "nudged"}}}},
                            json::object{{"id", "end"}, {"type", "LOGIC_END"}}}},
      {"edges", json::array{json::object{{"id", "a"}, {"source", "tick"}, {"target", "tag"}},
                            json::object{{"id", "b"}, {"source", "tag"}, {"target", "end"}}}}};
  std::string file = "/tmp/ft-schedule-" + std::to_string(::getpid()) + ".json";
  std::ofstream(file) << json::serialize(doc);
  std::string wf = test::cli("workflow import --workspace " + slug + " " + file);
  // The same schedule without a leadFilter: one execution without a lead per tick.
  doc["name"] = "nightly report";
  doc["nodes"].as_array()[0].as_object()["data"].as_object().erase("leadFilter");
  std::ofstream(file) << json::serialize(doc);
  std::string report = test::cli("workflow import --workspace " + slug + " " + file);
  std::remove(file.c_str());
  ASSERT_EQ(wf.size(), 36u) << wf;
  ASSERT_EQ(report.size(), 36u) << report;

  // 30 leads, every third one WON (10), the rest NEW (20); activated ten minutes ago, so the tick
  // five minutes ago is due (missed while no node ran: the one catch-up tick).
  db.run("INSERT INTO leads (workflow_id, workspace_id, email, source, status)"
         " SELECT w.id, w.workspace_id, 'p' || i || '@example.com', 'FORM', CASE WHEN i % 3 = 0 THEN 'WON' ELSE 'NEW' END"
         " FROM workflows w, generate_series(1, 30) AS i WHERE w.id = $1",
         pg::params{}.add(wf));
  db.run("UPDATE workflows SET activated_at = to_timestamp($2::double precision) - interval '5 minutes' WHERE id IN ($1, $3)",
         pg::params{}.add(wf).add(tick).add(report));

  // Both nodes poll often and take small batches, so their polls overlap while the tick is fired.
  const test::node_process::settings env{{"FLOWTRACK_REDIS_URL", redis.url()},
                                         {"FLOWTRACK_SCHEDULE_POLL_MS", "100"},
                                         {"FLOWTRACK_SCHEDULE_BATCH_SIZE", "4"},
                                         {"FLOWTRACK_LOG_LEVEL", "info"}};
  test::node_process a(env), b(env);

  const pg::params by_wf = pg::params{}.add(wf);
  EXPECT_TRUE(eventually(
      [&] {
        return db.count("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'completed'", by_wf) >= 20;
      },
      60s))
      << "node a:\n" << a.process->log() << "\nnode b:\n" << b.process->log();
  // One execution per matching lead, under the tick's keys, and none for the others.
  const std::string key_prefix = wf + ":" + iso_utc(tick);
  EXPECT_EQ(db.count("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1", by_wf), 20);
  EXPECT_EQ(db.count("SELECT count(DISTINCT e.lead_id) FROM workflow_executions e JOIN leads l ON l.id = e.lead_id"
                     " WHERE e.workflow_id = $1 AND l.status = 'NEW' AND e.trigger_type = 'SCHEDULED'"
                     " AND e.idempotency_key = $2 || ':' || e.lead_id",
                     pg::params{}.add(wf).add(key_prefix)),
            20);
  EXPECT_EQ(db.count("SELECT count(*) FROM leads WHERE workflow_id = $1 AND 'nudged' = ANY(tags)", by_wf), 20);
  EXPECT_EQ(db.count("SELECT count(*) FROM leads WHERE workflow_id = $1 AND status = 'WON' AND tags IS NOT NULL"
                     " AND 'nudged' = ANY(tags)",
                     by_wf),
            0);
  // The schedule without a filter ran once, without a lead, to its end.
  EXPECT_TRUE(eventually(
      [&] {
        return db.count("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'completed'"
                        " AND lead_id IS NULL AND idempotency_key = $1 || ':' || $2",
                        pg::params{}.add(report).add(iso_utc(tick))) == 1;
      },
      30s));
  EXPECT_EQ(db.count("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1", pg::params{}.add(report)), 1);
  // Between them the nodes' logs report the tick once per execution they started.
  auto started_in = [&](const std::string& log) {
    std::int64_t n = 0;
    const std::string marker = "schedule " + wf + ": tick " + iso_utc(tick) + " fired, ";
    for (auto at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1))
      n += std::stoll(log.substr(at + marker.size()));
    return n;
  };
  EXPECT_EQ(started_in(a.process->log()) + started_in(b.process->log()), 20);
  // The schedule waits for tomorrow's tick.
  EXPECT_EQ(db.count("SELECT count(*) FROM workflow_schedules WHERE workflow_id = $1 AND claim_token IS NULL"
                     " AND next_tick_at = to_timestamp($2::double precision) + interval '1 day'",
                     pg::params{}.add(wf).add(tick)),
            1);

  // Paused through the CLI: a live node parks the schedule.
  test::cli("workflow pause " + wf);
  EXPECT_TRUE(eventually(
      [&] {
        return db.count("SELECT count(*) FROM workflow_schedules WHERE workflow_id = $1 AND due_at IS NULL AND next_tick_at IS NULL",
                        by_wf) == 1;
      },
      20s));
  EXPECT_EQ(db.count("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1", by_wf), 20);
}

}  // namespace
}  // namespace flowtrack
