// `flowtrackd serve` as an operator runs it: health, readiness, clean shutdown, bad settings.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> node_env(int http_port, const std::string& redis_url) {
  return {{"FLOWTRACK_DATABASE_URL", test::database_url()},
          {"FLOWTRACK_REDIS_URL", redis_url},
          {"FLOWTRACK_HTTP_LISTEN", "127.0.0.1:" + std::to_string(http_port)},
          {"FLOWTRACK_SMTP_LISTEN", "127.0.0.1:" + std::to_string(test::free_port())}};
}

TEST(serve, answers_health_and_readiness_then_stops_cleanly_on_sigterm) {
  int port = test::free_port();
  test::child_process node({test::flowtrackd(), "serve"}, node_env(port, test::redis_url()));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();

  auto ready = test::http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find(R"("postgres":"ok")"), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find(R"("redis":"ok")"), std::string::npos) << ready.body;
  EXPECT_FALSE(ready.headers["x-request-id"].empty());

  auto missing = test::http_request(port, "GET", "/no/such/route");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find(R"("code":"not_found")"), std::string::npos) << missing.body;

  node.signal(SIGTERM);
  auto code = node.wait(15s);
  ASSERT_TRUE(code.has_value()) << "flowtrackd did not stop after SIGTERM";
  EXPECT_EQ(*code, 0) << node.log();
  EXPECT_NE(node.log().find("stopped"), std::string::npos);
}

TEST(serve, stops_cleanly_on_sigint) {
  int port = test::free_port();
  test::child_process node({test::flowtrackd(), "serve"}, node_env(port, test::redis_url()));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();
  node.signal(SIGINT);
  auto code = node.wait(15s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << node.log();
}

TEST(serve, readiness_names_redis_when_it_is_down) {
  int port = test::free_port();
  std::string dead_redis = "redis://127.0.0.1:" + std::to_string(test::free_port()) + "/0";
  test::child_process node({test::flowtrackd(), "serve"}, node_env(port, dead_redis));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();
  auto ready = test::http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find(R"("down":["redis"])"), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find(R"("postgres":"ok")"), std::string::npos) << ready.body;
}

TEST(serve, readiness_names_postgres_when_it_is_down) {
  int port = test::free_port();
  auto env = node_env(port, test::redis_url());
  env["FLOWTRACK_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:" + std::to_string(test::free_port()) + "/x";
  test::child_process node({test::flowtrackd(), "serve"}, env);
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();
  auto ready = test::http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find(R"("down":["postgres"])"), std::string::npos) << ready.body;
}

TEST(serve, invalid_setting_stops_the_start_naming_the_key) {
  auto env = node_env(test::free_port(), test::redis_url());
  env["FLOWTRACK_LOG_LEVEL"] = "chatty";
  test::child_process node({test::flowtrackd(), "serve"}, env);
  auto code = node.wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 78);
  EXPECT_NE(node.log().find("log_level"), std::string::npos) << node.log();
}

TEST(serve, port_in_use_is_a_clear_error) {
  int port = test::free_port();
  test::child_process first({test::flowtrackd(), "serve"}, node_env(port, test::redis_url()));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << first.log();
  test::child_process second({test::flowtrackd(), "serve"}, node_env(port, test::redis_url()));
  auto code = second.wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(second.log().find("cannot listen"), std::string::npos) << second.log();
}

}  // namespace
}  // namespace flowtrack
