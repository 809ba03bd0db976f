// The PostgreSQL connection against a real server: queries, prepared statements, pipelines,
// COPY, transactions, and every error class mapped to its FlowTrack code.
#include <gtest/gtest.h>

#include "storage/pg/connection.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::pg {
namespace {

std::unique_ptr<connection> connect(std::chrono::milliseconds query_timeout = std::chrono::seconds(30)) {
  connect_options o;
  o.uri = test::database_url();
  o.query_timeout = query_timeout;
  o.application_name = "flowtrack-test";
  auto c = connection::open(o);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

// A user row; returns its id.
std::string make_user(connection& c, const std::string& email) {
  auto r = c.exec("INSERT INTO users (email) VALUES ($1) RETURNING id", params{}.add(email));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
  return r.ok() ? std::string(r->get(0, 0)) : std::string();
}

std::string unique_email() { return test::unique_name("u") + "@example.com"; }

TEST(pg_connection, runs_parameterised_queries_and_reads_rows) {
  auto c = connect();
  auto r = c->exec("SELECT $1::int + 1, $2::text, $3::text IS NULL", params{}.add(41).add("héllo").add_null());
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->get_int(0, 0), 42);
  EXPECT_EQ(r->get(0, 1), "héllo");
  EXPECT_TRUE(r->get_bool(0, 2));
}

TEST(pg_connection, reuses_prepared_statements) {
  auto c = connect();
  statement st{"test_add", "SELECT $1::int * 2"};
  for (int i = 0; i < 5; ++i) {
    auto r = c->exec(st, params{}.add(i));
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->get_int(0, 0), i * 2);
  }
  auto count = c->exec("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_add'");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->get_int(0, 0), 1);
}

TEST(pg_connection, unique_violation_is_conflict_naming_the_constraint) {
  auto c = connect();
  std::string email = unique_email();
  make_user(*c, email);
  auto again = c->exec("INSERT INTO users (email) VALUES ($1)", params{}.add(email));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.err().code, error_code::conflict);
  EXPECT_EQ(again.err().subject, "users_email_key");
}

TEST(pg_connection, foreign_key_violation_is_not_found) {
  auto c = connect();
  auto r = c->exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2)",
                   params{}.add(test::unique_name("s")).add("00000000-0000-0000-0000-000000000001"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::not_found);
  EXPECT_NE(r.err().subject.find("owner_user_id"), std::string::npos) << r.err().subject;
}

TEST(pg_connection, check_violation_is_invalid) {
  auto c = connect();
  auto r = c->exec("INSERT INTO users (email) VALUES ('not-an-email')");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);
  EXPECT_EQ(r.err().subject, "users_email_valid");
}

TEST(pg_connection, bad_value_is_invalid_and_syntax_error_is_internal) {
  auto c = connect();
  auto bad = c->exec("SELECT $1::uuid", params{}.add("nope"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, error_code::invalid);
  auto syntax = c->exec("SELEC 1");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.err().code, error_code::internal);
  EXPECT_TRUE(c->exec("SELECT 1").ok()) << "the connection stays usable after a statement error";
}

// A value the database refuses is told in our words, naming the column or rule, never quoting
// the value or PostgreSQL's text (these reach clients as 422s).
TEST(pg_connection, refused_values_are_told_in_our_words) {
  auto c = connect();
  std::string secret_value = std::string(120, 'x') + "-secret";
  auto too_long = c->exec("INSERT INTO users (email, first_name) VALUES ($1, $2)",
                          params{}.add(test::unique_name("u") + "@example.com").add(secret_value));
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.err().code, error_code::invalid);
  EXPECT_EQ(too_long.err().message, "a value is too long") << too_long.err().message;
  auto range = c->exec("SELECT $1::int", params{}.add("99999999999"));
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.err().code, error_code::invalid);
  EXPECT_EQ(range.err().message, "a value is a number out of range") << range.err().message;
  auto check = c->exec("INSERT INTO users (email) VALUES ('not-an-email')");
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.err().message, "a value breaks a rule (users_email_valid)");
  auto missing = c->exec("INSERT INTO users (email) VALUES (NULL)");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().message, "email is required");
  EXPECT_EQ(missing.err().subject, "email");
  for (const auto* e : {&too_long, &range, &check, &missing}) {
    EXPECT_EQ(e->err().message.find("secret"), std::string::npos) << e->err().message;
    EXPECT_EQ(e->err().message.find("violates"), std::string::npos) << e->err().message;
    EXPECT_EQ(e->err().message.find("character varying"), std::string::npos) << e->err().message;
  }
}

TEST(pg_connection, lost_connection_is_unavailable) {
  auto victim = connect();
  auto killer = connect();
  auto k = killer->exec("SELECT pg_terminate_backend($1)", params{}.add(victim->backend_pid()));
  ASSERT_TRUE(k.ok()) << k.err().message;
  auto r = victim->exec("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::unavailable);
  EXPECT_TRUE(r.err().transient());
  EXPECT_FALSE(victim->healthy());
}

TEST(pg_connection, slow_query_times_out_and_connection_recovers) {
  auto c = connect(std::chrono::milliseconds(200));
  auto start = clock::now();
  auto r = c->exec("SELECT pg_sleep(5)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::timeout);
  EXPECT_LT(clock::now() - start, std::chrono::seconds(4)) << "the query was cancelled, not waited out";
  c->set_query_timeout(std::chrono::seconds(5));
  if (!c->broken()) {
    EXPECT_TRUE(c->exec("SELECT 1").ok());
  }
}

TEST(pg_connection, aborted_transaction_commit_is_an_error) {
  auto c = connect();
  ASSERT_TRUE(c->begin().ok());
  EXPECT_FALSE(c->exec("SELECT 1/0").ok());
  auto commit = c->commit();
  ASSERT_FALSE(commit.ok()) << "COMMIT of an aborted transaction must not look like success";
  EXPECT_TRUE(c->exec("SELECT 1").ok());
}

TEST(pg_connection, transact_rolls_back_on_error) {
  auto c = connect();
  std::string email = unique_email();
  auto r = transact(*c, [&](connection& tx) -> result<void> {
    if (auto a = tx.exec("INSERT INTO users (email) VALUES ($1)", params{}.add(email)); !a) return a.err();
    return make_error(error_code::invalid, "changed my mind");
  });
  ASSERT_FALSE(r.ok());
  auto n = c->exec("SELECT count(*) FROM users WHERE email = $1", params{}.add(email));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->get_int(0, 0), 0);
}

TEST(pg_connection, pipeline_returns_every_result_in_order) {
  auto c = connect();
  statement ins{"test_pipe_ins", "INSERT INTO users (email) VALUES ($1) RETURNING email"};
  std::vector<pipelined> cmds;
  std::vector<std::string> emails;
  for (int i = 0; i < 20; ++i) {
    emails.push_back(unique_email());
    cmds.push_back({&ins, params{}.add(emails.back())});
  }
  auto r = c->pipeline(cmds);
  ASSERT_TRUE(r.ok()) << r.err().message;
  ASSERT_EQ(r->size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ((*r)[i].get(0, 0), emails[i]);
}

TEST(pg_connection, failing_pipeline_is_atomic_and_names_the_constraint) {
  auto c = connect();
  statement ins{"test_pipe_ins2", "INSERT INTO users (email) VALUES ($1)"};
  std::string a = unique_email(), dup = unique_email();
  auto r = c->pipeline({{&ins, params{}.add(a)}, {&ins, params{}.add(dup)}, {&ins, params{}.add(dup)}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::conflict);
  EXPECT_EQ(r.err().subject, "users_email_key");
  auto n = c->exec("SELECT count(*) FROM users WHERE email IN ($1, $2)", params{}.add(a).add(dup));
  ASSERT_TRUE(n.ok()) << n.err().message;
  EXPECT_EQ(n->get_int(0, 0), 0) << "an implicit pipeline transaction is all or nothing";
}

TEST(pg_connection, copy_in_loads_rows) {
  auto c = connect();
  std::string data;
  std::vector<std::string> emails;
  for (int i = 0; i < 1000; ++i) {
    emails.push_back(unique_email());
    data += emails.back() + "\tCopy\n";
  }
  auto r = c->copy_in("COPY users (email, first_name) FROM STDIN", data);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(*r, 1000u);
  auto n = c->exec("SELECT count(*) FROM users WHERE email = ANY($1::citext[])",
                   params{}.add("{" + emails.front() + "," + emails.back() + "}"));
  ASSERT_TRUE(n.ok()) << n.err().message;
  EXPECT_EQ(n->get_int(0, 0), 2);
}

TEST(pg_connection, copy_of_bad_rows_fails_whole) {
  auto c = connect();
  std::string data = unique_email() + "\n" + "not-an-email\n";
  auto r = c->copy_in("COPY users (email) FROM STDIN", data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);
  EXPECT_TRUE(c->exec("SELECT 1").ok());
}

TEST(pg_connection, unreachable_server_is_unavailable) {
  connect_options o;
  o.uri = "postgresql://postgres@127.0.0.1:1/nothing";
  o.connect_timeout = std::chrono::milliseconds(500);
  auto c = connection::open(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.err().code, error_code::unavailable);
}

}  // namespace
}  // namespace flowtrack::pg
