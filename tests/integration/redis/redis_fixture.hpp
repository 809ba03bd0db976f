// What the Redis integration tests share: connections to the test server, a key prefix of their
// own, clean-up, and waiting for a condition with a deadline instead of sleeping.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "storage/redis/connection.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::redis::testing {

using namespace std::chrono_literals;

/// A new connection to FLOWTRACK_TEST_REDIS_URL; null (and a test failure) when it cannot ping.
inline std::unique_ptr<connection> connect_or_fail(std::chrono::milliseconds timeout = 2000ms) {
  auto c = connection::open(flowtrack::test::redis_url(), timeout);
  if (!c) {
    ADD_FAILURE() << "cannot open the test Redis: " << c.err().message;
    return nullptr;
  }
  auto conn = std::make_unique<connection>(std::move(c).value());
  if (auto p = conn->ping(); !p) {
    ADD_FAILURE() << "test Redis does not answer: " << p.err().message;
    return nullptr;
  }
  return conn;
}

/// Polls `condition` every `step` until it holds or `limit` passes; says whether it held.
template <class Condition>
bool await(std::chrono::milliseconds limit, Condition&& condition, std::chrono::milliseconds step = 5ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

/// The current Unix time in ms (only tests read a clock; the library takes time as an argument).
inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A test with its own connection and key prefix; deletes its keys afterwards.
class redis_test : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_ = connect_or_fail();
    ASSERT_NE(conn_, nullptr);
    prefix_ = flowtrack::test::unique_name("ft-test") + ":";
  }

  void TearDown() override {
    if (!conn_) return;
    std::string cursor = "0";
    do {
      auto r = conn_->command({"SCAN", cursor, "MATCH", prefix_ + "*", "COUNT", "1000"});
      if (!r || !r->is_array() || r->elements.size() != 2) return;
      cursor = r->elements[0].text;
      for (const auto& key : r->elements[1].elements) (void)conn_->command({"DEL", key.text});
    } while (cursor != "0");
  }

  connection& conn() { return *conn_; }
  const std::string& prefix() const { return prefix_; }

 private:
  std::unique_ptr<connection> conn_;
  std::string prefix_;
};

}  // namespace flowtrack::redis::testing
