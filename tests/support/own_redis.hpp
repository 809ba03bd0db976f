// A redis-server of one test's own on a free loopback port, for e2e tests whose nodes must not
// share the execution queue with other tests' nodes (a node claims whatever run the queue names)
// or that count the server's connections or stop it.
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/redis/connection.hpp"
#include "tests/support/process.hpp"

namespace flowtrack::test {

class own_redis {
 public:
  /// `also_bind`: addresses to listen on besides 127.0.0.1 (e.g. a bridge's, for nodes in
  /// network namespaces of their own).
  explicit own_redis(std::vector<std::string> also_bind = {}) : also_bind_(std::move(also_bind)) { start(); }
  own_redis(const own_redis&) = delete;
  own_redis& operator=(const own_redis&) = delete;

  /// Starts the server (again, after stop()) and waits until it answers PING.
  void start() {
    using namespace std::chrono_literals;
    std::vector<std::string> argv{"/usr/bin/redis-server", "--port", std::to_string(port_), "--save", "", "--appendonly", "no",
                                  "--bind", "127.0.0.1"};
    argv.insert(argv.end(), also_bind_.begin(), also_bind_.end());
    process_ = std::make_unique<child_process>(argv, std::map<std::string, std::string>{});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!probe().ping().ok()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "redis-server did not answer on port " << port_ << ": " << process_->log();
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  /// Stops the server with SIGTERM and waits for it.
  void stop() {
    process_->signal(SIGTERM);
    EXPECT_TRUE(process_->wait(std::chrono::seconds(10)).has_value());
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  int port() const { return port_; }
  /// Connections the server accepted so far (INFO total_connections_received; this probe's own
  /// included), or -1.
  long connections() {
    auto info = probe().command({"INFO", "stats"});
    if (!info) {
      ADD_FAILURE() << info.err().message;
      return -1;
    }
    auto at = info->text.find("total_connections_received:");
    return at == std::string::npos ? -1 : std::stol(info->text.substr(at + 27));
  }

 private:
  redis::connection probe() const {
    return redis::connection({"127.0.0.1", static_cast<std::uint16_t>(port_), 0, {}, {}}, std::chrono::milliseconds(1000));
  }
  std::vector<std::string> also_bind_;
  int port_ = free_port();
  std::unique_ptr<child_process> process_;  ///< stopped by its destructor if still running
};

}  // namespace flowtrack::test
