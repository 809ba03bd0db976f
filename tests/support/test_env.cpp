#include "tests/support/test_env.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <unistd.h>

#include <gtest/gtest.h>

namespace flowtrack::test {

std::string require_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    ADD_FAILURE() << name << " is not set: run the suite through scripts/test.sh, which starts the servers";
    return {};
  }
  return v;
}

std::string database_url() { return require_env("FLOWTRACK_TEST_DATABASE_URL"); }
std::string redis_url() { return require_env("FLOWTRACK_TEST_REDIS_URL"); }

std::string unique_name(const std::string& prefix) {
  static std::atomic<unsigned> counter{0};
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(now % 1000000007) + "-" +
         std::to_string(counter++);
}

}  // namespace flowtrack::test
