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

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

namespace flowtrack::test {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

command_result run_command(const std::string& command_line) {
  char tmpl[] = "/tmp/flowtrack-stderr.XXXXXX";
  int fd = ::mkstemp(tmpl);
  ::close(fd);
  command_result r;
  std::string full = command_line + " 2>" + shell_quote(tmpl);
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(tmpl);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  ::unlink(tmpl);
  return r;
}

std::string flowtrackd() { return require_env("FLOWTRACK_TEST_FLOWTRACKD"); }

std::string database_url_for(const std::string& dbname) {
  std::string url = database_url();
  auto slash = url.rfind('/');
  auto q = url.find('?', slash);
  return url.substr(0, slash + 1) + dbname + (q == std::string::npos ? "" : url.substr(q));
}

std::string cli(const std::string& args) {
  auto r = run_command(flowtrackd() + " " + args + " --database-url " + shell_quote(database_url()) + " --redis-url " +
                       shell_quote(redis_url()));
  EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err;
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

std::string unique_slug(const std::string& prefix) {
  std::string slug = unique_name(prefix).substr(0, 50);
  for (auto& c : slug) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  return slug;
}

}  // namespace flowtrack::test
