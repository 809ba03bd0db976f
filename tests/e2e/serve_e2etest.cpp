// `flowtrackd serve` as an operator runs it: health, readiness, clean shutdown, bad settings.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> node_env(int http_port, const std::string& redis_url, int admin_port = test::free_port()) {
  return {{"FLOWTRACK_DATABASE_URL", test::database_url()},
          {"FLOWTRACK_REDIS_URL", redis_url},
          {"FLOWTRACK_HTTP_LISTEN", "127.0.0.1:" + std::to_string(http_port)},
          {"FLOWTRACK_ADMIN_LISTEN", "127.0.0.1:" + std::to_string(admin_port)},
          {"FLOWTRACK_SMTP_LISTEN", "127.0.0.1:" + std::to_string(test::free_port())}};
}

TEST(serve, answers_health_and_readiness_then_stops_cleanly_on_sigterm) {
  int port = test::free_port(), admin = test::free_port();
  test::child_process node({test::flowtrackd(), "serve"}, node_env(port, test::redis_url(), admin));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();

  auto ready = test::http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.body, R"({"status":"ready"})") << "the public listener says status only";
  EXPECT_FALSE(ready.headers["x-request-id"].empty());
  auto detailed = test::http_request(admin, "GET", "/readyz");
  EXPECT_EQ(detailed.status, 200) << detailed.body;
  EXPECT_EQ(detailed.body, R"({"status":"ready","checks":{"postgres":"up","redis":"up"},"failed":[]})");

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
  int port = test::free_port(), admin = test::free_port();
  std::string dead_redis = "redis://127.0.0.1:" + std::to_string(test::free_port()) + "/0";
  test::child_process node({test::flowtrackd(), "serve"}, node_env(port, dead_redis, admin));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();
  auto ready = test::http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_EQ(ready.body, R"({"status":"unavailable"})");
  auto detailed = test::http_request(admin, "GET", "/readyz");
  EXPECT_EQ(detailed.status, 503) << detailed.body;
  EXPECT_EQ(detailed.body, R"({"status":"unavailable","checks":{"postgres":"up","redis":"down"},"failed":[]})")
      << "states only: no address, no error text";
}

TEST(serve, readiness_names_postgres_when_it_is_down) {
  int port = test::free_port(), admin = test::free_port();
  auto env = node_env(port, test::redis_url(), admin);
  env["FLOWTRACK_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:" + std::to_string(test::free_port()) + "/x";
  test::child_process node({test::flowtrackd(), "serve"}, env);
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();
  auto ready = test::http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_EQ(ready.body, R"({"status":"unavailable"})");
  auto detailed = test::http_request(admin, "GET", "/readyz");
  EXPECT_EQ(detailed.status, 503) << detailed.body;
  EXPECT_EQ(detailed.body, R"({"status":"unavailable","checks":{"postgres":"down","redis":"up"},"failed":[]})");
}

TEST(serve, metrics_are_on_the_admin_listener_only) {
  int port = test::free_port(), admin = test::free_port();
  test::child_process node({test::flowtrackd(), "serve"}, node_env(port, test::redis_url(), admin));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();
  auto metrics = test::http_request(admin, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("flowtrack_http_open_connections"), std::string::npos) << metrics.body;
  EXPECT_EQ(test::http_request(port, "GET", "/metrics").status, 404) << "public listener";
  EXPECT_EQ(test::http_request(admin, "GET", "/p/anything").status, 404) << "admin listener serves no public routes";
  EXPECT_EQ(test::http_request(admin, "GET", "/healthz").status, 404);
}

TEST(serve, admin_listener_off_opens_no_port) {
  int port = test::free_port(), admin = test::free_port();
  auto env = node_env(port, test::redis_url(), admin);
  env["FLOWTRACK_ADMIN_LISTEN"] = "off";
  test::child_process node({test::flowtrackd(), "serve"}, env);
  ASSERT_TRUE(test::await_http_status(port, "/readyz", 200, 20s)) << node.log();
  EXPECT_EQ(test::http_request(admin, "GET", "/metrics", "", {}, 2s).status, 0) << "nothing listens there";
  EXPECT_EQ(node.log().find("flowtrackd admin:"), std::string::npos) << node.log();
}

TEST(serve, admin_port_in_use_is_a_clear_error) {
  int port = test::free_port(), admin = test::free_port();
  test::child_process first({test::flowtrackd(), "serve"}, node_env(port, test::redis_url(), admin));
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << first.log();
  test::child_process second({test::flowtrackd(), "serve"}, node_env(test::free_port(), test::redis_url(), admin));
  auto code = second.wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(second.log().find("admin_listen"), std::string::npos) << second.log();
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
