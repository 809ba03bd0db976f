// Housekeeping against real PostgreSQL (storage/housekeeping): each job takes what is past its
// retention and leaves the rest, in batches; execution_logs partitions are made ahead and dropped
// when old, also while other sessions insert and read logs, deferring (never failing) when a lock
// is not granted in time; and a job's lease goes to one of two claimers. Each test case runs in a
// process and a database of its own (partitions and whole tables are at stake).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include <boost/json.hpp>

#include "storage/housekeeping.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage::housekeeping {
namespace {

using namespace std::chrono_literals;

const auto* const k_own_database = ::testing::AddGlobalTestEnvironment(new test::own_database("ft_housekeeping"));

std::unique_ptr<pg::connection> connect() {
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect();

  std::string text(const std::string& sql, const pg::params& args = {}) {
    auto r = c->exec(sql, args);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->empty() || r->is_null(0, 0)) return {};
    return std::string(r->get(0, 0));
  }
  std::int64_t count(const std::string& sql, const pg::params& args = {}) {
    auto t = text(sql, args);
    return t.empty() ? -1 : std::stoll(t);
  }
  void run(const std::string& sql, const pg::params& args = {}) {
    auto r = c->exec(sql, args);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
  }
  std::string user() {
    return text("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(test::unique_name("hk") + "@example.com"));
  }
  // The execution_logs partition of the month `offset` months from this one (negative: earlier),
  // made here as 005 names them, unless it exists.
  std::string partition(int offset) {
    std::string name = text("SELECT 'execution_logs_' || to_char(date_trunc('month', LOCALTIMESTAMP) + make_interval(months => $1::int), 'YYYY_MM')",
                            pg::params{}.add(offset));
    run("DO $$ DECLARE s date := (date_trunc('month', LOCALTIMESTAMP) + make_interval(months => " + std::to_string(offset) +
        "))::date; BEGIN IF to_regclass('" + name + "') IS NULL THEN EXECUTE format('CREATE TABLE " + name +
        " PARTITION OF execution_logs FOR VALUES FROM (%L) TO (%L)', s, (s + interval '1 month')::date); END IF; END $$");
    return name;
  }
  bool is_partition(const std::string& name) {
    return text("SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1) AND inhparent = 'execution_logs'::regclass)",
                pg::params{}.add(name)) == "t";
  }
  bool exists(const std::string& name) { return text("SELECT to_regclass($1) IS NOT NULL", pg::params{}.add(name)) == "t"; }
  // `n` log rows `offset` months from now (the 10th of that month).
  void logs(int offset, int n) {
    run("INSERT INTO execution_logs (execution_id, workspace_id, log_level, message, created_at) "
        "SELECT uuid_generate_v4(), uuid_generate_v4(), 'INFO', 'm', date_trunc('month', LOCALTIMESTAMP) + make_interval(months => $1::int, days => 9) "
        "FROM generate_series(1, $2::int)",
        pg::params{}.add(offset).add(n));
  }
};

report run_to_end(pg::connection& c, job j, const options& o = {}) {
  auto r = run_job(c, j, o);
  EXPECT_TRUE(r.ok()) << name_of(j) << ": " << (r.ok() ? "" : r.err().message);
  return r.ok() ? *r : report{};
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

TEST(housekeeping, job_names_round_trip_and_unknown_names_are_refused) {
  for (job j : k_jobs) EXPECT_EQ(job_named(name_of(j)), j);
  EXPECT_FALSE(job_named("logs").has_value());
  EXPECT_EQ(job_names(), "partitions, login-attempts, tokens, webhook-bodies, daily-stats, quota-rollover");
}

TEST(housekeeping, login_attempts_past_the_retention_go_in_batches_and_recent_ones_stay) {
  fixture f;
  for (const char* age : {"91 days", "100 days", "200 days", "400 days", "91 days", "95 days", "365 days"})
    f.run("INSERT INTO login_attempts (email, ip_address, created_at) VALUES ('old@example.com', '10.0.0.1', LOCALTIMESTAMP - $1::interval)",
          pg::params{}.add(age));
  for (const char* age : {"89 days", "1 day", "0 days"})
    f.run("INSERT INTO login_attempts (email, ip_address, created_at) VALUES ('new@example.com', '10.0.0.2', LOCALTIMESTAMP - $1::interval)",
          pg::params{}.add(age));
  options o;
  o.batch_rows = 2;
  auto r = run_to_end(*f.c, job::login_attempts, o);
  EXPECT_EQ(r.rows, 7);
  EXPECT_EQ(r.batches, 4) << "2 + 2 + 2 + 1 rows, a transaction each";
  EXPECT_EQ(r.outcome(), "ok");
  EXPECT_EQ(f.count("SELECT count(*) FROM login_attempts WHERE email = 'old@example.com'"), 0);
  EXPECT_EQ(f.count("SELECT count(*) FROM login_attempts WHERE email = 'new@example.com'"), 3);
  EXPECT_EQ(run_to_end(*f.c, job::login_attempts, o).rows, 0) << "nothing left on a second run";

  options shorter;
  shorter.login_attempt_retention_days = 2;
  EXPECT_EQ(run_to_end(*f.c, job::login_attempts, shorter).rows, 1) << "the retention is a setting: the 89-day-old row goes";
}

TEST(housekeeping, used_or_expired_reset_tokens_and_expired_refresh_tokens_go_live_and_revoked_refresh_tokens_stay) {
  fixture f;
  std::string u = f.user();
  auto reset = [&](const std::string& token, const std::string& expires, bool used) {
    f.run("INSERT INTO password_reset_tokens (user_id, token, expires_at, is_used) VALUES ($1::uuid, $2, LOCALTIMESTAMP + $3::interval, $4)",
          pg::params{}.add(u).add(token).add(expires).add(used));
  };
  reset("reset-expired", "-1 minute", false);
  reset("reset-used", "30 minutes", true);
  reset("reset-used-expired", "-2 hours", true);
  reset("reset-live", "59 minutes", false);
  auto refresh = [&](const std::string& token, const std::string& expires, bool revoked) {
    f.run("INSERT INTO refresh_tokens (user_id, token, expires_at, is_revoked, revoked_at) "
          "VALUES ($1::uuid, $2, LOCALTIMESTAMP + $3::interval, $4, CASE WHEN $4 THEN LOCALTIMESTAMP END)",
          pg::params{}.add(u).add(token).add(expires).add(revoked));
  };
  refresh("refresh-expired", "-1 second", false);
  refresh("refresh-revoked-expired", "-3 days", true);
  refresh("refresh-revoked-live", "6 days", true);  // kept: presented again it is reuse, which ends its session
  refresh("refresh-live", "7 days", false);

  options o;
  o.batch_rows = 1;
  auto r = run_to_end(*f.c, job::tokens, o);
  EXPECT_EQ(r.rows, 5);
  EXPECT_EQ(r.batches, 5);
  EXPECT_EQ(f.text("SELECT string_agg(token, ',' ORDER BY token) FROM password_reset_tokens"), "reset-live");
  EXPECT_EQ(f.text("SELECT string_agg(token, ',' ORDER BY token) FROM refresh_tokens"), "refresh-live,refresh-revoked-live");
  EXPECT_EQ(f.count("SELECT count(*) FROM users WHERE id = $1::uuid", pg::params{}.add(u)), 1);
}

TEST(housekeeping, webhook_bodies_past_30_days_are_trimmed_once_and_every_row_is_kept) {
  fixture f;
  std::string u = f.user();
  std::string slug = test::unique_slug("hk");
  std::string ws = f.text("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2::uuid) RETURNING id",
                          pg::params{}.add(slug).add(u));
  std::string ep = f.text("INSERT INTO webhook_endpoints (workspace_id, url, secret_key, subscribed_events) "
                          "VALUES ($1::uuid, 'https://hooks.example.com/x', 'sealed', ARRAY['*']) RETURNING id",
                          pg::params{}.add(ws));
  // (label, age, status, next retry in)
  struct message {
    const char* label;
    const char* age;
    const char* status;
    const char* retry;  // nullptr: none awaited
    bool trimmed;
  };
  const message messages[] = {
      {"old-delivered", "31 days", "delivered", nullptr, true},
      {"old-cancelled", "45 days", "cancelled", nullptr, true},
      {"old-failed-done", "60 days", "failed", nullptr, true},
      {"old-failed-retrying", "31 days", "failed", "1 hour", false},  // still to be sent
      {"old-pending", "40 days", "pending", nullptr, false},          // still to be sent
      {"new-delivered", "29 days", "delivered", nullptr, false},
  };
  std::vector<std::pair<std::string, const message*>> ids;
  for (const auto& m : messages) {
    std::string id = f.text(
        "INSERT INTO webhook_deliveries (webhook_endpoint_id, workspace_id, event_type, payload, status, next_retry_at, response_body, created_at) "
        "VALUES ($1::uuid, $2::uuid, 'lead.created', jsonb_build_object('type', 'lead.created', 'timestamp', '2026-01-01T00:00:00Z', "
        "'data', jsonb_build_object('label', $3::text, 'email', 'ann@example.com')), $4, LOCALTIMESTAMP + $5::interval, 'OK body', "
        "LOCALTIMESTAMP - $6::interval) RETURNING id",
        pg::params{}.add(ep).add(ws).add(m.label).add(m.status).add(m.retry ? std::optional<std::string>(m.retry) : std::nullopt).add(m.age));
    ids.emplace_back(id, &m);
    for (int n = 1; n <= 2; ++n)
      f.run("INSERT INTO webhook_delivery_attempts (delivery_id, attempt_number, started_at, duration_ms, http_status_code, "
            "response_headers, response_body) VALUES ($1::uuid, $2::int, LOCALTIMESTAMP, 5, 200, '{\"x\":\"y\"}', repeat('b', 1000))",
            pg::params{}.add(id).add(n));
  }

  options o;
  o.batch_rows = 2;
  auto r = run_to_end(*f.c, job::webhook_bodies, o);
  EXPECT_EQ(r.rows, 3);
  EXPECT_EQ(r.batches, 2);
  EXPECT_EQ(f.count("SELECT count(*) FROM webhook_deliveries"), 6) << "rows are kept";
  EXPECT_EQ(f.count("SELECT count(*) FROM webhook_delivery_attempts"), 12) << "attempts are kept";
  for (const auto& [id, m] : ids)
    EXPECT_EQ(f.text("SELECT body_trimmed_at IS NOT NULL FROM webhook_deliveries WHERE id = $1::uuid", pg::params{}.add(id)),
              m->trimmed ? "t" : "f")
        << m->label;
  // Trimmed: no data, no response bodies; the envelope, status and headers stay.
  EXPECT_EQ(f.count("SELECT count(*) FROM webhook_deliveries WHERE body_trimmed_at IS NOT NULL"), 3);
  EXPECT_EQ(f.count("SELECT count(*) FROM webhook_deliveries WHERE body_trimmed_at IS NOT NULL AND NOT payload ? 'data' "
                    "AND payload->>'trimmed' = 'true' AND payload->>'type' = 'lead.created' AND response_body IS NULL"),
            3);
  EXPECT_EQ(f.count("SELECT count(*) FROM webhook_delivery_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
                    "WHERE d.body_trimmed_at IS NOT NULL AND a.response_body IS NULL AND a.response_headers = '{\"x\":\"y\"}'"),
            6);
  // Untouched: what is still to be sent, and what is younger than 30 days.
  EXPECT_EQ(f.text("SELECT string_agg(payload->'data'->>'label', ',' ORDER BY payload->'data'->>'label') FROM webhook_deliveries "
                   "WHERE body_trimmed_at IS NULL AND response_body = 'OK body'"),
            "new-delivered,old-failed-retrying,old-pending");
  EXPECT_EQ(f.count("SELECT count(*) FROM webhook_delivery_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
                    "WHERE d.body_trimmed_at IS NULL AND length(a.response_body) = 1000"),
            6);
  EXPECT_EQ(run_to_end(*f.c, job::webhook_bodies, o).rows, 0) << "a trimmed message is not visited again";
}

TEST(housekeeping, partitions_are_made_three_months_ahead_and_those_past_the_retention_dropped) {
  fixture f;
  std::string oldest = f.partition(-6), old = f.partition(-5), recent = f.partition(-1);
  f.logs(-6, 3);
  f.logs(-5, 4);
  f.logs(-1, 5);
  f.logs(0, 2);
  // A table a drop cut short after its detach (named like a partition, no longer one).
  std::string leftover = f.text("SELECT 'execution_logs_' || to_char(date_trunc('month', LOCALTIMESTAMP) - interval '8 months', 'YYYY_MM')");
  f.run("CREATE TABLE " + leftover + " (LIKE execution_logs)");

  auto r = run_to_end(*f.c, job::partitions);
  EXPECT_EQ(r.outcome(), "ok");
  EXPECT_TRUE(r.deferred.empty());
  EXPECT_EQ(r.partitions_created, 2) << "migrate made this month and the next; housekeeping the two after";
  EXPECT_EQ(r.partitions_dropped, (std::vector<std::string>{leftover, oldest, old}));
  for (int ahead = 0; ahead <= 3; ++ahead) {
    std::string name = f.text("SELECT 'execution_logs_' || to_char(date_trunc('month', LOCALTIMESTAMP) + make_interval(months => $1::int), 'YYYY_MM')",
                              pg::params{}.add(ahead));
    EXPECT_TRUE(f.is_partition(name)) << name;
  }
  EXPECT_FALSE(f.exists(oldest));
  EXPECT_FALSE(f.exists(old));
  EXPECT_FALSE(f.exists(leftover));
  EXPECT_TRUE(f.is_partition(recent)) << "last month is within 90 days";
  EXPECT_EQ(f.count("SELECT count(*) FROM execution_logs"), 7) << "last month's and this month's rows stay";
  // A partition made ahead takes rows and has the parent's indexes.
  f.logs(3, 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM execution_logs WHERE created_at >= date_trunc('month', LOCALTIMESTAMP) + interval '3 months'"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM pg_indexes WHERE tablename = 'execution_logs_' || "
                    "to_char(date_trunc('month', LOCALTIMESTAMP) + interval '3 months', 'YYYY_MM')"),
            5) << "primary key and the four indexes of the parent";

  auto again = run_to_end(*f.c, job::partitions);
  EXPECT_EQ(again.partitions_created, 0);
  EXPECT_TRUE(again.partitions_dropped.empty());

  options shorter;
  shorter.log_retention_days = 1;
  shorter.partitions_ahead_months = 4;
  auto r2 = run_to_end(*f.c, job::partitions, shorter);
  EXPECT_EQ(r2.partitions_created, 1);
  EXPECT_EQ(r2.partitions_dropped, (std::vector<std::string>{recent}));
}

TEST(housekeeping, a_partition_drop_while_logs_are_written_fails_no_insert) {
  fixture f;
  std::string oldest = f.partition(-7), old = f.partition(-6);
  f.logs(-7, 100);
  f.logs(-6, 100);
  std::atomic<bool> stop{false};
  std::atomic<int> inserted{0}, failed{0};
  std::string first_failure;
  std::thread writer([&] {
    auto w = connect();
    while (!stop.load()) {
      auto r = w->exec("INSERT INTO execution_logs (execution_id, workspace_id, log_level, message) "
                       "VALUES (uuid_generate_v4(), uuid_generate_v4(), 'INFO', 'during the drop')");
      if (r.ok()) {
        ++inserted;
      } else if (failed++ == 0) {
        first_failure = r.err().message;
      }
    }
  });
  ASSERT_TRUE(eventually([&] { return inserted.load() >= 50; }, 20s));
  int before = inserted.load();
  // Deferred drops (a lock not granted in time) are tried again, as the next run would.
  std::vector<std::string> dropped;
  bool done = eventually(
      [&] {
        auto r = run_to_end(*f.c, job::partitions);
        dropped.insert(dropped.end(), r.partitions_dropped.begin(), r.partitions_dropped.end());
        return !f.exists(oldest) && !f.exists(old);
      },
      30s);
  int at_drop = inserted.load();
  ASSERT_TRUE(eventually([&] { return inserted.load() >= at_drop + 50; }, 20s));
  stop = true;
  writer.join();
  EXPECT_TRUE(done) << "both old partitions dropped";
  std::sort(dropped.begin(), dropped.end());
  EXPECT_EQ(dropped, (std::vector<std::string>{oldest, old}));
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_GT(at_drop, before) << "inserts went on while the partitions were detached and dropped";
  EXPECT_EQ(f.count("SELECT count(*) FROM execution_logs WHERE message = 'during the drop'"), inserted.load());
}

TEST(housekeeping, a_drop_waiting_for_a_long_reader_holds_up_no_insert) {
  fixture f;
  std::string old = f.partition(-6);
  f.logs(-6, 10);
  auto reader = connect();
  ASSERT_TRUE(reader->begin().ok());
  ASSERT_TRUE(reader->exec("SELECT count(*) FROM execution_logs").ok());

  options o;
  o.lock_timeout = 60s;
  int job_pid = f.c->backend_pid();
  report r;
  std::thread maintainer([&] { r = run_to_end(*f.c, job::partitions, o); });
  auto watcher = connect();
  bool waiting = eventually(
      [&] {
        auto w = watcher->exec("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1::int", pg::params{}.add(job_pid));
        return w.ok() && !w->empty() && w->get_bool(0, 0);
      },
      20s);
  // An insert that finds its lock taken, or queued behind a stronger request, fails at once here.
  auto writer = connect();
  ASSERT_TRUE(writer->exec("SET lock_timeout = '50ms'").ok());
  auto inserted = writer->exec("INSERT INTO execution_logs (execution_id, workspace_id, log_level, message) "
                               "VALUES (uuid_generate_v4(), uuid_generate_v4(), 'INFO', 'while the drop waits')");
  ASSERT_TRUE(reader->commit().ok());
  maintainer.join();
  EXPECT_TRUE(waiting) << "the drop waited for the reader";
  EXPECT_TRUE(inserted.ok()) << (inserted.ok() ? "" : inserted.err().message);
  EXPECT_EQ(r.partitions_dropped, (std::vector<std::string>{old})) << "done once the reader ended";
  EXPECT_TRUE(r.deferred.empty());
}

TEST(housekeeping, a_drop_held_up_by_a_long_reader_is_deferred_and_finished_on_the_next_run) {
  fixture f;
  std::string old = f.partition(-6);
  f.logs(-6, 10);
  auto reader = connect();
  ASSERT_TRUE(reader->begin().ok());
  ASSERT_TRUE(reader->exec("SELECT count(*) FROM execution_logs").ok());  // a snapshot that sees the partition

  options o;
  o.lock_timeout = 300ms;
  auto r = run_to_end(*f.c, job::partitions, o);
  EXPECT_EQ(r.outcome(), "deferred");
  EXPECT_EQ(r.deferred, (std::vector<std::string>{old}));
  EXPECT_TRUE(r.partitions_dropped.empty());
  EXPECT_EQ(f.text("SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass($1)", pg::params{}.add(old)), "t")
      << "left half-detached, waiting for the reader";
  // Ingress meanwhile: an insert into this month is neither refused nor held up.
  auto writer = connect();
  EXPECT_TRUE(writer->exec("INSERT INTO execution_logs (execution_id, workspace_id, log_level, message) "
                           "VALUES (uuid_generate_v4(), uuid_generate_v4(), 'INFO', 'while pending')")
                  .ok());
  ASSERT_TRUE(reader->commit().ok());

  auto next = run_to_end(*f.c, job::partitions, o);
  EXPECT_EQ(next.outcome(), "ok");
  EXPECT_EQ(next.partitions_dropped, (std::vector<std::string>{old}));
  EXPECT_FALSE(f.exists(old));
  EXPECT_EQ(f.count("SELECT count(*) FROM execution_logs WHERE message = 'while pending'"), 1);
}

TEST(housekeeping, a_maintainer_holding_the_partition_lock_defers_the_work_not_the_inserts) {
  fixture f;
  std::string old = f.partition(-6);
  f.run("DROP TABLE " + f.text("SELECT 'execution_logs_' || to_char(date_trunc('month', LOCALTIMESTAMP) + interval '1 month', 'YYYY_MM')"));
  auto other = connect();
  ASSERT_TRUE(other->begin().ok());
  ASSERT_TRUE(other->exec("LOCK TABLE execution_logs IN SHARE UPDATE EXCLUSIVE MODE").ok());
  auto writer = connect();
  EXPECT_TRUE(writer->exec("INSERT INTO execution_logs (execution_id, workspace_id, log_level, message) "
                           "VALUES (uuid_generate_v4(), uuid_generate_v4(), 'INFO', 'beside the maintainer')")
                  .ok())
      << "the maintainers' lock mode lets inserts through";

  options o;
  o.lock_timeout = 200ms;
  auto r = run_to_end(*f.c, job::partitions, o);
  EXPECT_EQ(r.outcome(), "deferred");
  EXPECT_EQ(r.deferred, (std::vector<std::string>{"create", old}));
  EXPECT_EQ(r.partitions_created, 0);
  EXPECT_TRUE(f.is_partition(old));
  ASSERT_TRUE(other->commit().ok());

  auto next = run_to_end(*f.c, job::partitions, o);
  EXPECT_EQ(next.outcome(), "ok");
  EXPECT_EQ(next.partitions_created, 3);
  EXPECT_EQ(next.partitions_dropped, (std::vector<std::string>{old}));
  EXPECT_EQ(f.text("SHOW lock_timeout"), "0") << "the session's lock_timeout is put back";
}

TEST(housekeeping, of_two_nodes_claiming_a_job_at_once_one_gets_the_lease) {
  auto a = connect(), b = connect();
  for (int round = 0; round < 20; ++round) {
    lease_terms ta{"node-a", 0s, 300s}, tb{"node-b", 0s, 300s};
    std::atomic<int> ready{0};
    result<bool> got_a = false, got_b = false;
    std::thread other([&] {
      ++ready;
      while (ready.load() < 2) {
      }
      got_b = claim_lease(*b, job::tokens, tb);
    });
    ++ready;
    while (ready.load() < 2) {
    }
    got_a = claim_lease(*a, job::tokens, ta);
    other.join();
    ASSERT_TRUE(got_a.ok() && got_b.ok());
    ASSERT_NE(*got_a, *got_b) << "round " << round << ": exactly one holds the lease";
    auto& winner = *got_a ? *a : *b;
    const auto& terms = *got_a ? ta : tb;
    report r;
    r.which = job::tokens;
    ASSERT_TRUE(release_lease(winner, job::tokens, terms.holder, r, std::nullopt).ok());
  }
}

TEST(housekeeping, a_lease_waits_for_its_interval_and_frees_when_its_holder_stops_renewing) {
  fixture f;
  lease_terms a{"node-a", 3600s, 300s}, b{"node-b", 3600s, 300s};
  ASSERT_EQ(claim_lease(*f.c, job::partitions, a).value(), true);
  EXPECT_EQ(claim_lease(*f.c, job::partitions, b).value(), false) << "held by node-a";
  EXPECT_EQ(renew_lease(*f.c, job::partitions, a).value(), true);
  EXPECT_EQ(renew_lease(*f.c, job::partitions, b).value(), false);
  report r;
  r.which = job::partitions;
  r.partitions_created = 2;
  ASSERT_TRUE(release_lease(*f.c, job::partitions, "node-a", r, std::nullopt).ok());
  EXPECT_EQ(f.text("SELECT outcome || ' ' || (result->>'partitionsCreated') || ' ' || (lease_until IS NULL) || ' ' || "
                   "(succeeded_at IS NOT NULL) FROM housekeeping_leases WHERE job = 'partitions'"),
            "ok 2 true true");
  EXPECT_EQ(claim_lease(*f.c, job::partitions, b).value(), false) << "ran less than an interval ago";
  EXPECT_EQ(claim_lease(*f.c, job::partitions, lease_terms{"node-b", 0s, 300s}).value(), true) << "due with a shorter interval";

  // node-b stops renewing (dies): once its lease has run out, node-a takes over, and node-b has lost it.
  f.run("UPDATE housekeeping_leases SET lease_until = now() - interval '1 second', finished_at = NULL WHERE job = 'partitions'");
  EXPECT_EQ(claim_lease(*f.c, job::partitions, a).value(), true);
  EXPECT_EQ(renew_lease(*f.c, job::partitions, b).value(), false);
  ASSERT_TRUE(release_lease(*f.c, job::partitions, "node-a", r, error{error_code::timeout, "slow", ""}).ok());
  EXPECT_EQ(f.text("SELECT outcome || ' ' || (result->>'error') FROM housekeeping_leases WHERE job = 'partitions'"), "failed slow");
}

}  // namespace
}  // namespace flowtrack::storage::housekeeping
