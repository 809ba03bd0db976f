// A `flowtrackd serve` child for the e2e suites: the test servers, free public, admin and SMTP
// ports, stopped with SIGTERM at the end and expected to exit 0.
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::test {

struct node_process {
  using settings = std::map<std::string, std::string>;

  int port = free_port();
  int admin_port = free_port();  ///< the admin listener: /metrics, detailed /readyz
  int smtp_port = free_port();   ///< SMTP intake
  std::unique_ptr<child_process> process;

  /// `FLOWTRACK_*` variables: a suite's `defaults`, then a test's `extra` over them.
  explicit node_process(const settings& defaults = {}, const settings& extra = {}) {
    using namespace std::chrono_literals;
    settings env{{"FLOWTRACK_DATABASE_URL", database_url()},
                 {"FLOWTRACK_REDIS_URL", redis_url()},
                 {"FLOWTRACK_HTTP_LISTEN", "127.0.0.1:" + std::to_string(port)},
                 {"FLOWTRACK_ADMIN_LISTEN", "127.0.0.1:" + std::to_string(admin_port)},
                 {"FLOWTRACK_SMTP_LISTEN", "127.0.0.1:" + std::to_string(smtp_port)}};
    for (const auto* layer : {&defaults, &extra})
      for (const auto& [k, v] : *layer) env[k] = v;
    process = std::make_unique<child_process>(std::vector<std::string>{flowtrackd(), "serve"}, env);
    EXPECT_TRUE(await_http_status(port, "/healthz", 200, 20s)) << process->log();
  }
  ~node_process() {
    using namespace std::chrono_literals;
    if (!process) return;  // a test stopped it itself
    process->signal(SIGTERM);
    EXPECT_EQ(process->wait(15s).value_or(-1), 0) << process->log();
  }
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// A series of the admin listener's /metrics (`name{labels}` as printed); -1 if absent.
  double metric(const std::string& series) const {
    auto r = http_request(admin_port, "GET", "/metrics");
    auto at = r.body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(r.body.substr(at + series.size() + 2));
  }
};

}  // namespace flowtrack::test
