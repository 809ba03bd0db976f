// A database of a test's own on the test server, migrated by the flowtrackd under test and
// dropped afterwards: for suites whose nodes adopt whatever executions they find, and for tests
// that damage the schema. Header-only: its users link flowtrack_storage already.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "storage/pg/connection.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::test {

class scratch_database {
 public:
  /// Creates `<prefix>_<pid>` (dropping a leftover of that name) and migrates it; a failure is
  /// reported to the running test and leaves `ok()` false.
  explicit scratch_database(const std::string& prefix) : name_(prefix + "_" + std::to_string(::getpid())) {
    auto admin = connect_admin();
    if (!admin) return;
    (void)admin->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    if (auto r = admin->exec_script("CREATE DATABASE " + name_); !r) {
      ADD_FAILURE() << "CREATE DATABASE " << name_ << ": " << r.err().message;
      return;
    }
    url_ = database_url_for(name_);
    auto m = run_command(flowtrackd() + " migrate --log-level warn --database-url " + shell_quote(url_));
    if (m.exit_code != 0) {
      ADD_FAILURE() << "migrate " << name_ << ": " << m.err;
      return;
    }
    ok_ = true;
  }
  ~scratch_database() {
    if (auto admin = connect_admin()) (void)admin->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  scratch_database(const scratch_database&) = delete;
  scratch_database& operator=(const scratch_database&) = delete;

  bool ok() const { return ok_; }
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

  /// `flowtrackd ARGS` against this database; must succeed; its output, trailing space trimmed.
  std::string cli(const std::string& args) const {
    auto r = run_command(flowtrackd() + " " + args + " --log-level warn --database-url " + shell_quote(url_));
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.out << r.err;
    auto out = r.out;
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    return out;
  }

 private:
  static std::unique_ptr<pg::connection> connect_admin() {
    auto c = pg::connection::open(pg::connect_options{require_env("FLOWTRACK_TEST_ADMIN_URL")});
    if (!c) {
      ADD_FAILURE() << "admin connection: " << c.err().message;
      return nullptr;
    }
    return std::move(*c);
  }

  std::string name_, url_;
  bool ok_ = false;
};

/// For a whole test process: a scratch database that FLOWTRACK_TEST_DATABASE_URL names, so every
/// helper reading that variable uses it. Register with ::testing::AddGlobalTestEnvironment.
class own_database : public ::testing::Environment {
 public:
  explicit own_database(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override {
    db_ = std::make_unique<scratch_database>(prefix_);
    ASSERT_TRUE(db_->ok());
    ::setenv("FLOWTRACK_TEST_DATABASE_URL", db_->url().c_str(), 1);
  }
  void TearDown() override { db_.reset(); }

 private:
  std::string prefix_;
  std::unique_ptr<scratch_database> db_;
};

}  // namespace flowtrack::test
