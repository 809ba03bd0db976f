// `flowtrackd migrate` against fresh databases: the whole spec schema, idempotent runs,
// failing migrations rolled back whole, log partitions, seeded plans.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/pg/connection.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<pg::connection> connect(const std::string& url) {
  auto c = pg::connection::open(pg::connect_options{url});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

// A fresh database for one test, dropped afterwards.
class fresh_database : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "ft_mig_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++);
    admin_ = connect(test::require_env("FLOWTRACK_TEST_ADMIN_URL"));
    ASSERT_TRUE(admin_);
    ASSERT_TRUE(admin_->exec_script("CREATE DATABASE " + name_).ok());
    url_ = test::database_url_for(name_);
  }
  void TearDown() override {
    if (admin_) (void)admin_->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  test::command_result migrate(const std::string& extra = "") {
    return test::run_command(test::flowtrackd() + " migrate --database-url " + test::shell_quote(url_) + " " + extra);
  }

  static inline int counter_ = 0;
  std::string name_, url_;
  std::unique_ptr<pg::connection> admin_;
};

TEST_F(fresh_database, migrate_applies_each_migration_once) {
  auto first = migrate();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("applied 001_"), std::string::npos) << first.out;

  auto second = migrate();
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("migrations: 0 applied"), std::string::npos) << second.out;
}

TEST_F(fresh_database, migrate_creates_this_and_next_months_log_partitions) {
  ASSERT_EQ(migrate().exit_code, 0);
  auto c = connect(url_);
  auto r = c->exec(
      "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class k ON k.oid = i.inhrelid "
      "WHERE p.relname = 'execution_logs' AND k.relname IN ("
      " 'execution_logs_' || to_char(now(), 'YYYY_MM'),"
      " 'execution_logs_' || to_char(now() + interval '1 month', 'YYYY_MM'))");
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->get_int(0, 0), 2);
  // A log row of today lands in a partition.
  auto ins = c->exec("INSERT INTO execution_logs (execution_id, workspace_id, log_level, message) "
                     "VALUES (uuid_generate_v4(), uuid_generate_v4(), 'INFO', 'hello') RETURNING tableoid::regclass::text");
  ASSERT_TRUE(ins.ok()) << ins.err().message;
  EXPECT_NE(ins->get(0, 0).find("execution_logs_"), std::string::npos);
}

TEST_F(fresh_database, expired_log_partitions_are_dropped_and_current_ones_kept) {
  ASSERT_EQ(migrate().exit_code, 0);
  auto c = connect(url_);
  ASSERT_TRUE(c->exec_script("CREATE TABLE execution_logs_2001_01 PARTITION OF execution_logs "
                             "FOR VALUES FROM ('2001-01-01') TO ('2001-02-01')").ok());
  auto dropped = c->exec("SELECT drop_expired_execution_log_partitions('90 days')");
  ASSERT_TRUE(dropped.ok()) << dropped.err().message;
  EXPECT_EQ(dropped->get_int(0, 0), 1);
  auto left = c->exec("SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
                      "WHERE p.relname = 'execution_logs'");
  ASSERT_TRUE(left.ok());
  EXPECT_GE(left->get_int(0, 0), 2);
}

TEST_F(fresh_database, seeds_five_plans_with_unlimited_enterprise) {
  ASSERT_EQ(migrate().exit_code, 0);
  auto c = connect(url_);
  auto r = c->exec("SELECT slug, quotas::text FROM subscription_plans ORDER BY display_order");
  ASSERT_TRUE(r.ok()) << r.err().message;
  ASSERT_EQ(r->size(), 5);
  EXPECT_EQ(r->get(0, 0), "free");
  EXPECT_EQ(r->get(4, 0), "enterprise");
  EXPECT_EQ(r->get(4, 1), "{}");
  for (int i = 0; i < 4; ++i)
    for (const char* key : {"workflows", "leads", "executions_per_month", "email_sends"})
      EXPECT_NE(r->get(i, 1).find(key), std::string::npos) << r->get(i, 0) << " lacks " << key;
}

TEST_F(fresh_database, failing_migration_leaves_nothing_and_is_named) {
  fs::path dir = fs::temp_directory_path() / test::unique_name("migs");
  fs::create_directories(dir);
  std::ofstream(dir / "001_first.sql") << "CREATE TABLE first_table (id int);";
  std::ofstream(dir / "002_broken.sql") << "CREATE TABLE second_table (id int);\nCREATE TABLE oops (;";
  auto r = migrate("--migrations " + test::shell_quote(dir.string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("002_broken.sql"), std::string::npos) << r.err;

  auto c = connect(url_);
  auto tables = c->exec("SELECT to_regclass('first_table') IS NOT NULL, to_regclass('second_table') IS NOT NULL");
  ASSERT_TRUE(tables.ok());
  EXPECT_TRUE(tables->get_bool(0, 0)) << "the good migration before it stays applied";
  EXPECT_FALSE(tables->get_bool(0, 1)) << "the failing migration is rolled back whole";
  auto recorded = c->exec("SELECT string_agg(name, ',') FROM schema_migrations");
  ASSERT_TRUE(recorded.ok());
  EXPECT_EQ(recorded->get(0, 0), "001_first.sql");

  // Fixed, it applies; changed after applying, it is refused.
  std::ofstream(dir / "002_broken.sql", std::ios::trunc) << "CREATE TABLE second_table (id int);";
  auto fixed = migrate("--migrations " + test::shell_quote(dir.string()));
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
  std::ofstream(dir / "001_first.sql", std::ios::trunc) << "CREATE TABLE first_table (id bigint);";
  auto changed = migrate("--migrations " + test::shell_quote(dir.string()));
  EXPECT_NE(changed.exit_code, 0);
  EXPECT_NE(changed.err.find("001_first.sql changed"), std::string::npos) << changed.err;
  fs::remove_all(dir);
}

TEST(migrate_cli, bad_database_url_is_a_config_error_naming_the_key) {
  auto r = test::run_command(test::flowtrackd() + " migrate --database-url mysql://nope");
  EXPECT_EQ(r.exit_code, 78);
  EXPECT_NE(r.err.find("database_url"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace flowtrack
