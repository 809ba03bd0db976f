// What the test script hands the suites: where the throwaway servers listen.
#pragma once

#include <chrono>
#include <functional>
#include <thread>
#include <string>

namespace flowtrack::test {

/// The value of an environment variable the test script sets; fails the test when it is missing.
std::string require_env(const char* name);

/// libpq URI of the migrated test database (FLOWTRACK_TEST_DATABASE_URL).
std::string database_url();

/// redis://host:port/db of the test Redis (FLOWTRACK_TEST_REDIS_URL).
std::string redis_url();

/// A name unique to this process and call, for rows and keys that must not collide between tests.
std::string unique_name(const std::string& prefix);

}  // namespace flowtrack::test

namespace flowtrack::test {

/// What a finished subprocess said.
struct command_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs a shell command line and collects its exit code, stdout and stderr.
command_result run_command(const std::string& command_line);

/// Single-quotes a string for the shell.
std::string shell_quote(const std::string& s);

/// Path of the flowtrackd binary under test (FLOWTRACK_TEST_FLOWTRACKD).
std::string flowtrackd();

/// A database URL like database_url() but naming another database on the same server.
std::string database_url_for(const std::string& dbname);

/// Runs `flowtrackd ARGS` against the test database and Redis, expects exit 0 (a failed
/// expectation otherwise) and returns its output without the trailing line break.
std::string cli(const std::string& args);

/// A unique workspace slug (lower-case letters, digits and hyphens; at most 50 characters).
std::string unique_slug(const std::string& prefix);

/// Polls `done` until it holds, up to `within`: awaiting a condition with a deadline, never a
/// sleep as synchronisation. True when it held.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds within = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace flowtrack::test
