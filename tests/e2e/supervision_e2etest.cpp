// A node's life at its edges: a core actor that keeps crashing takes the node down honestly
// (unready, logged, exit 70), SIGTERM under load keeps every accepted trigger, and an
// unavailable engine answers 503 with Retry-After.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
using test::cli;

std::map<std::string, std::string> node_env(int http_port, int admin_port) {
  return {{"FLOWTRACK_DATABASE_URL", test::database_url()},
          {"FLOWTRACK_REDIS_URL", test::redis_url()},
          {"FLOWTRACK_HTTP_LISTEN", "127.0.0.1:" + std::to_string(http_port)},
          {"FLOWTRACK_ADMIN_LISTEN", "127.0.0.1:" + std::to_string(admin_port)},
          {"FLOWTRACK_SMTP_LISTEN", "127.0.0.1:" + std::to_string(test::free_port())},
          {"FLOWTRACK_FORM_RATE_LIMIT", "0"}};
}

// GET target until it answers `status` or the deadline passes; the last answer.
test::http_reply poll_until(int port, const std::string& target, int status, std::chrono::milliseconds timeout) {
  auto deadline = clk::now() + timeout;
  test::http_reply r;
  do {
    r = test::http_request(port, "GET", target, "", {}, 1s);
    if (r.status == status) return r;
    std::this_thread::sleep_for(20ms);  // polling pace, not synchronisation
  } while (clk::now() < deadline);
  return r;
}

TEST(supervision, a_storage_writer_that_keeps_crashing_makes_the_node_unready_logs_why_and_exits_70) {
  int port = test::free_port(), admin_port = test::free_port();
  auto env = node_env(port, admin_port);
  env["FLOWTRACK_TEST_FAULT"] = "writer_crash";  // test-only: the writer crashes 50 ms after every start
  test::child_process node({test::flowtrackd(), "serve"}, env);

  auto ready = poll_until(port, "/readyz", 503, 20s);
  auto seen_unready = clk::now();
  ASSERT_EQ(ready.status, 503) << node.log();
  EXPECT_NE(ready.body.find(R"("status":"unavailable")"), std::string::npos) << ready.body;
  EXPECT_EQ(ready.body.find("storage writer"), std::string::npos) << "the public readiness names no actor: " << ready.body;
  EXPECT_EQ(ready.body.find("postgresql://"), std::string::npos) << ready.body;

  // The admin listener's readiness names the actor (both listeners stay up, unready, for 3 s).
  auto detailed = test::http_request(admin_port, "GET", "/readyz", "", {}, 1s);
  EXPECT_EQ(detailed.status, 503) << detailed.body;
  EXPECT_NE(detailed.body.find(R"("failed":["storage writer"])"), std::string::npos) << detailed.body;

  auto code = node.wait(10s);
  ASSERT_TRUE(code.has_value()) << "still running 10 s after it turned unready\n" << node.log();
  EXPECT_EQ(*code, 70) << node.log();
  EXPECT_LE(clk::now() - seen_unready, 10s);
  std::string log = node.log();
  auto line = log.find("the storage writer crashed more often than it is restarted");
  ASSERT_NE(line, std::string::npos) << log;
  auto line_start = log.rfind('\n', line);
  EXPECT_NE(log.substr(line_start == std::string::npos ? 0 : line_start, line - line_start).find("error"), std::string::npos)
      << "logged at error level: " << log.substr(line_start, 200);
  EXPECT_EQ(log.find("postgresql://"), std::string::npos) << "no connection string in the log";
}

const char* k_webhook_graph = R"({"name":"Shutdown leads","status":"active","nodes":[
  {"id":"h","type":"TRIGGER_WEBHOOK","position":{"x":0,"y":0},"data":{}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":1},"data":{"status":"QUALIFIED"}}],
 "edges":[{"id":"1","source":"h","target":"s"}]})";

TEST(supervision, sigterm_under_load_keeps_every_accepted_trigger) {
  std::string slug = test::unique_slug("sigterm");
  cli("workspace create --name Sigterm --slug " + slug + " --owner-email owner@" + slug + ".example.com --plan enterprise");
  std::string file = "/tmp/" + slug + ".json";
  std::ofstream(file) << k_webhook_graph;
  std::string wf = cli("workflow import --workspace " + slug + " " + file);
  std::remove(file.c_str());
  std::string token = cli("workflow token " + wf);

  int port = test::free_port();
  test::child_process node({test::flowtrackd(), "serve"}, node_env(port, test::free_port()));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();

  // Eight clients post triggers until the node stops answering.
  std::mutex mutex;
  std::vector<std::string> accepted;
  std::map<int, int> statuses;
  std::atomic<int> in_window{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        std::string body = R"({"email":"s)" + std::to_string(t) + "-" + std::to_string(i) + "@" + slug + R"(.example.com"})";
        auto r = test::http_request(port, "POST", "/hooks/" + wf, body,
                                    {{"Content-Type", "application/json"}, {"X-FlowTrack-Token", token}}, 15s);
        if (r.status == 0) return;  // the node closed its listener
        std::lock_guard lock(mutex);
        ++statuses[r.status];
        if (r.status == 202) {
          accepted.emplace_back(boost::json::parse(r.body).at("executionId").as_string());
          ++in_window;
        } else if (r.status == 503) {
          EXPECT_FALSE(r.headers["retry-after"].empty()) << r.body;
        }
      }
    });
  // SIGTERM once the load is well under way.
  auto deadline = clk::now() + 30s;
  while (in_window.load() < 200 && clk::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_GE(in_window.load(), 200) << node.log();
  node.signal(SIGTERM);
  auto code = node.wait(20s);
  for (auto& c : clients) c.join();
  ASSERT_TRUE(code.has_value()) << node.log();
  EXPECT_EQ(*code, 0) << node.log();
  for (const auto& [status, n] : statuses) EXPECT_TRUE(status == 202 || status == 503) << n << " answers " << status;

  // Every 202 has its execution row.
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  ASSERT_TRUE(c.ok());
  std::string ids = "{";
  for (const auto& id : accepted) ids += id + ",";
  ids.back() = '}';
  auto rows = (*c)->exec("SELECT count(*) FROM workflow_executions WHERE id = ANY($1::uuid[])", pg::params{}.add(ids));
  ASSERT_TRUE(rows.ok()) << rows.err().message;
  EXPECT_EQ(rows->get_int(0, 0), static_cast<std::int64_t>(accepted.size()));
}

TEST(supervision, an_unavailable_database_is_a_503_with_retry_after) {
  int port = test::free_port();
  auto env = node_env(port, test::free_port());
  env["FLOWTRACK_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:" + std::to_string(test::free_port()) + "/x";
  test::child_process node({test::flowtrackd(), "serve"}, env);
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();
  auto r = test::http_request(port, "POST", "/hooks/0b6c3f6e-8a0e-4c8e-9d61-0c4f3b7f2a10", R"({"email":"a@example.com"})",
                              {{"Content-Type", "application/json"}, {"X-FlowTrack-Token", "ftwh_x"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1") << r.body;
  EXPECT_NE(r.body.find(R"("code":"unavailable")"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("127.0.0.1"), std::string::npos) << "no address in the answer: " << r.body;
}

}  // namespace
}  // namespace flowtrack
