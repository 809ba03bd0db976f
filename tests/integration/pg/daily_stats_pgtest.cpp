// workspace_daily_stats recomputed from the source rows (storage/daily_stats) against real
// PostgreSQL: a day of mixed traffic in America/New_York across the autumn DST change (a 25-hour
// day) counted per local day exactly as the test counts it itself; a second workspace in
// Asia/Tokyo unaffected and cut at its own midnight; stale live rows overwritten and zeroed; a
// re-run changing nothing. A database of its own (the reconcile folds every pending stat delta).
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "storage/daily_stats.hpp"
#include "storage/housekeeping.hpp"
#include "storage/runs.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

const auto* const k_own_database = ::testing::AddGlobalTestEnvironment(new test::own_database("ft_daily_stats"));

struct fixture {
  std::unique_ptr<pg::connection> c;

  fixture() {
    auto opened = pg::connection::open(pg::connect_options{test::database_url()});
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.err().message);
    if (opened.ok()) c = std::move(*opened);
  }
  std::string text(const std::string& sql, const pg::params& args = {}) {
    auto r = c->exec(sql, args);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->empty() || r->is_null(0, 0)) return {};
    return std::string(r->get(0, 0));
  }
  std::string workspace(const std::string& tz) {
    auto user = text("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(test::unique_name("ds") + "@example.com"));
    return text("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id, timezone) "
                "VALUES ('Stats', $1, $1, $2::uuid, $3) RETURNING id",
                pg::params{}.add(test::unique_slug("ds")).add(user).add(tz));
  }
  std::string workflow(const std::string& ws) {
    return text("INSERT INTO workflows (workspace_id, name) VALUES ($1::uuid, 'wf') RETURNING id", pg::params{}.add(ws));
  }
  std::string lead(const std::string& ws, const std::string& wf, const std::string& utc) {
    return text("INSERT INTO leads (workflow_id, workspace_id, email, source, created_at) "
                "VALUES ($1::uuid, $2::uuid, $3, 'form', $4::timestamp) RETURNING id",
                pg::params{}.add(wf).add(ws).add(test::unique_name("lead") + "@example.com").add(utc));
  }
  void event(const std::string& lead, const std::string& type, const std::string& value, const std::string& utc) {
    text("INSERT INTO lead_events (lead_id, event_type, metadata, created_at) "
         "VALUES ($1::uuid, $2, CASE WHEN $3 = '' THEN NULL ELSE jsonb_build_object('op', 'set_status', 'value', $3) END, "
         "$4::timestamp) RETURNING id",
         pg::params{}.add(lead).add(type).add(value).add(utc));
  }
  void execution(const std::string& ws, const std::string& wf, const std::string& status, int duration_ms,
                 const std::string& utc) {
    bool finished = status == "completed" || status == "failed" || status == "cancelled";
    text("INSERT INTO workflow_executions (workflow_id, workspace_id, trigger_type, status, started_at, completed_at, "
         "duration_ms, created_at) VALUES ($1::uuid, $2::uuid, 'manual', $3, $4::timestamp, "
         "$5::timestamp, $6::int, $4::timestamp) RETURNING id",
         pg::params{}.add(wf).add(ws).add(status).add(utc)
             .add(finished ? std::optional<std::string>(utc) : std::nullopt).add(duration_ms));
  }
  void sent(const std::string& ws, const std::string& utc) {
    text("INSERT INTO usage_events (workspace_id, event_type, event_category, quantity, metadata, created_at) "
         "VALUES ($1::uuid, 'EMAIL_SENT', 'communication', 1, jsonb_build_object('idempotencyKey', $2::text), "
         "$3::timestamp) RETURNING id",
         pg::params{}.add(ws).add(test::unique_name("key")).add(utc));
  }
  // Every column of the workspace's rows, by date: "created qualified won total ok failed sent opened clicked avg".
  std::map<std::string, std::string> rows(const std::string& ws) {
    auto r = c->exec("SELECT stat_date::text, concat_ws(' ', leads_created, leads_qualified, leads_won, total_executions, "
                     "successful_executions, failed_executions, emails_sent, emails_opened, emails_clicked, "
                     "COALESCE(avg_execution_duration_ms::text, 'null')) FROM workspace_daily_stats "
                     "WHERE workspace_id = $1::uuid ORDER BY 1",
                     pg::params{}.add(ws));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    std::map<std::string, std::string> out;
    if (r.ok())
      for (int i = 0; i < r->size(); ++i) out[std::string(r->get(i, 0))] = std::string(r->get(i, 1));
    return out;
  }
};

// The test's own tally of one local day.
struct day {
  int created = 0, qualified = 0, won = 0, total = 0, ok = 0, failed = 0, sent = 0, opened = 0, clicked = 0;
  long long dur_sum = 0;
  int dur_n = 0;
  std::string str() const {
    std::string avg = dur_n == 0 ? "null" : std::to_string(dur_sum / dur_n);
    return std::to_string(created) + " " + std::to_string(qualified) + " " + std::to_string(won) + " " + std::to_string(total) +
           " " + std::to_string(ok) + " " + std::to_string(failed) + " " + std::to_string(sent) + " " +
           std::to_string(opened) + " " + std::to_string(clicked) + " " + avg;
  }
};

// New York, 2026: EDT (UTC-4) until 2026-11-01 06:00 UTC (02:00 EDT becomes 01:00 EST), then EST
// (UTC-5). So local 2026-10-31 is 04:00Z..04:00Z next day, 2026-11-01 is 04:00Z..05:00Z on the
// 2nd (25 hours), 2026-11-02 is 05:00Z..05:00Z. Each source row below is placed by its UTC time and
// tallied by the local day the test assigns it by hand.
TEST(daily_stats_pgtest, a_day_of_mixed_traffic_across_dst_is_counted_per_local_day) {
  fixture f;
  ASSERT_TRUE(f.c);
  auto ny = f.workspace("America/New_York");
  auto tokyo = f.workspace("Asia/Tokyo");
  auto wf = f.workflow(ny), wf_t = f.workflow(tokyo);
  std::map<std::string, day> want;

  // Leads: created just either side of each local midnight and inside the 25th hour.
  struct at { const char* utc; const char* local_day; };
  const std::vector<at> lead_times{
      {"2026-11-01 03:59:59", "2026-10-31"}, {"2026-11-01 04:00:00", "2026-11-01"}, {"2026-11-01 05:30:00", "2026-11-01"},
      {"2026-11-01 06:30:00", "2026-11-01"},  // 01:30 EST, the repeated hour
      {"2026-11-02 04:30:00", "2026-11-01"},  // 23:30 EST: still the 1st (it would be the 2nd at UTC-4)
      {"2026-11-02 04:59:59", "2026-11-01"}, {"2026-11-02 05:00:00", "2026-11-02"}, {"2026-11-02 15:00:00", "2026-11-02"}};
  std::vector<std::string> leads;
  for (const auto& t : lead_times) {
    leads.push_back(f.lead(ny, wf, t.utc));
    ++want[t.local_day].created;
  }
  // Status changes, opens and clicks, and events that count for nothing.
  const std::vector<std::array<const char*, 4>> events{
      {"STATUS_CHANGED", "QUALIFIED", "2026-11-01 05:59:59", "2026-11-01"},
      {"STATUS_CHANGED", "QUALIFIED", "2026-11-02 04:10:00", "2026-11-01"},
      {"STATUS_CHANGED", "QUALIFIED", "2026-11-02 05:10:00", "2026-11-02"},
      {"STATUS_CHANGED", "WON", "2026-11-01 03:00:00", "2026-10-31"},
      {"STATUS_CHANGED", "WON", "2026-11-01 06:00:00", "2026-11-01"},
      {"STATUS_CHANGED", "BOOKED", "2026-11-01 12:00:00", ""},
      {"EMAIL_OPENED", "", "2026-11-01 07:00:00", "2026-11-01"},
      {"EMAIL_OPENED", "", "2026-11-02 04:59:00", "2026-11-01"},
      {"EMAIL_OPENED", "", "2026-11-02 05:01:00", "2026-11-02"},
      {"EMAIL_CLICKED", "", "2026-11-01 08:00:00", "2026-11-01"},
      {"EMAIL_CLICKED", "", "2026-11-01 08:00:01", "2026-11-01"},
      {"EMAIL_CLICKED", "", "2026-11-01 03:30:00", "2026-10-31"},
      {"TAG_ADDED", "", "2026-11-01 09:00:00", ""},
      {"FORM_SUBMITTED", "", "2026-11-01 09:00:00", ""}};
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    f.event(leads[i % leads.size()], e[0], e[1], e[2]);
    std::string type = e[0], value = e[1];
    if (std::string(e[3]).empty()) continue;
    auto& d = want[e[3]];
    if (type == "STATUS_CHANGED") (value == "WON" ? d.won : d.qualified)++;
    if (type == "EMAIL_OPENED") ++d.opened;
    if (type == "EMAIL_CLICKED") ++d.clicked;
  }
  // Executions: finished ones by completion time; running, queued and cancelled ones count for nothing.
  struct run { const char* status; int ms; const char* utc; const char* local_day; };
  const std::vector<run> runs{{"completed", 100, "2026-11-01 03:00:00", "2026-10-31"},
                              {"completed", 250, "2026-11-01 04:00:01", "2026-11-01"},
                              {"failed", 1001, "2026-11-01 06:15:00", "2026-11-01"},
                              {"completed", 333, "2026-11-02 04:45:00", "2026-11-01"},
                              {"failed", 50, "2026-11-02 05:00:00", "2026-11-02"},
                              {"cancelled", 9999, "2026-11-01 10:00:00", ""},
                              {"running", 0, "2026-11-01 10:00:00", ""},
                              {"queued", 0, "2026-11-01 10:00:00", ""}};
  for (const auto& r : runs) {
    f.execution(ny, wf, r.status, r.ms, r.utc);
    if (std::string(r.local_day).empty()) continue;
    auto& d = want[r.local_day];
    ++d.total;
    (std::string(r.status) == "completed" ? d.ok : d.failed)++;
    d.dur_sum += r.ms;
    ++d.dur_n;
  }
  // Sends.
  const std::vector<at> sends{{"2026-11-01 03:59:00", "2026-10-31"}, {"2026-11-01 05:00:00", "2026-11-01"},
                              {"2026-11-01 06:00:00", "2026-11-01"}, {"2026-11-02 04:00:00", "2026-11-01"},
                              {"2026-11-02 05:00:00", "2026-11-02"}};
  for (const auto& s : sends) {
    f.sent(ny, s.utc);
    ++want[s.local_day].sent;
  }

  // Tokyo (UTC+9, no DST): one lead at 14:59Z (23:59 on the 1st) and one at 15:00Z (the 2nd).
  f.lead(tokyo, wf_t, "2026-11-01 14:59:00");
  f.lead(tokyo, wf_t, "2026-11-01 15:00:00");
  f.execution(tokyo, wf_t, "completed", 10, "2026-11-01 15:00:00");

  // A stale live row inside the range with nothing behind it, and one outside the range.
  f.text("INSERT INTO workspace_daily_stats (workspace_id, stat_date, leads_created, emails_opened) VALUES "
         "($1::uuid, '2026-11-03', 7, 7), ($1::uuid, '2026-11-10', 5, 5) RETURNING id",
         pg::params{}.add(ny));
  // A stale live row for a day with traffic (as if counted by the server's date).
  f.text("INSERT INTO workspace_daily_stats (workspace_id, stat_date, leads_created, total_executions) VALUES "
         "($1::uuid, '2026-11-01', 99, 99) RETURNING id",
         pg::params{}.add(ny));

  auto written = reconcile_daily_stats(*f.c, ny, "2026-10-30", "2026-11-03");
  ASSERT_TRUE(written.ok()) << written.err().message;
  EXPECT_EQ(*written, 4);  // 10-31, 11-01, 11-02 from traffic; 11-03 set back to zero

  std::map<std::string, std::string> expected;
  for (const auto& [d, tally] : want) expected[d] = tally.str();
  expected["2026-11-03"] = day{}.str();
  expected["2026-11-10"] = "5 0 0 0 0 0 0 5 0 null";  // outside the range: left alone
  EXPECT_EQ(f.rows(ny), expected);
  // Spot checks of the tally itself, so the test cannot agree with a wrong tally by accident.
  EXPECT_EQ(want["2026-11-01"].created, 5);
  EXPECT_EQ(want["2026-11-01"].total, 3);

  // Tokyo untouched by a reconcile of New York.
  EXPECT_TRUE(f.rows(tokyo).empty());
  auto t = reconcile_daily_stats(*f.c, tokyo, "2026-11-01", "2026-11-02");
  ASSERT_TRUE(t.ok()) << t.err().message;
  EXPECT_EQ(f.rows(tokyo), (std::map<std::string, std::string>{{"2026-11-01", "1 0 0 0 0 0 0 0 0 null"},
                                                              {"2026-11-02", "1 0 0 1 1 0 0 0 0 10"}}));
  EXPECT_EQ(f.rows(ny), expected);

  // Idempotent: a second run (of every workspace) writes the same values.
  auto again = reconcile_daily_stats(*f.c, std::nullopt, "2026-10-30", "2026-11-03");
  ASSERT_TRUE(again.ok()) << again.err().message;
  EXPECT_EQ(f.rows(ny), expected);
  EXPECT_EQ(f.rows(tokyo).size(), 2u);
}

// The recent form reconciles today in the workspace's own zone, and a workspace whose zone is not
// a zone counts in UTC instead of failing the run.
TEST(daily_stats_pgtest, recent_days_are_the_workspaces_own_today) {
  fixture f;
  ASSERT_TRUE(f.c);
  auto ws = f.workspace("Pacific/Kiritimati");  // UTC+14: its today is often the server's tomorrow
  auto bad = f.workspace("Not/A_Zone");
  auto wf = f.workflow(ws), wf_b = f.workflow(bad);
  f.text("INSERT INTO leads (workflow_id, workspace_id, email, source) VALUES ($1::uuid, $2::uuid, 'a@example.com', 'form') RETURNING id",
         pg::params{}.add(wf).add(ws));
  f.text("INSERT INTO leads (workflow_id, workspace_id, email, source) VALUES ($1::uuid, $2::uuid, 'b@example.com', 'form') RETURNING id",
         pg::params{}.add(wf_b).add(bad));
  auto r = reconcile_recent_daily_stats(*f.c, std::nullopt, 2);
  ASSERT_TRUE(r.ok()) << r.err().message;
  auto today = f.text("SELECT ((now() AT TIME ZONE 'Pacific/Kiritimati')::date)::text");
  auto rows = f.rows(ws);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.begin()->first, today);
  EXPECT_EQ(rows.begin()->second.substr(0, 2), "1 ");
  auto utc_today = f.text("SELECT ((now() AT TIME ZONE 'UTC')::date)::text");
  auto bad_rows = f.rows(bad);
  ASSERT_EQ(bad_rows.size(), 1u);
  EXPECT_EQ(bad_rows.begin()->first, utc_today);
}

// The housekeeping job daily-stats (what the node runs every few minutes and `flowtrackd
// housekeeping run daily-stats` runs by hand): every workspace's today and yesterday, one
// workspace a step, overwriting a live row counted by the wrong day.
TEST(daily_stats_pgtest, the_housekeeping_job_recomputes_every_workspaces_last_two_days) {
  fixture f;
  ASSERT_TRUE(f.c);
  EXPECT_EQ(housekeeping::job_named("daily-stats"), housekeeping::job::daily_stats);
  auto ws = f.workspace("Europe/Berlin");
  auto wf = f.workflow(ws);
  auto today = f.text("SELECT ((now() AT TIME ZONE 'Europe/Berlin')::date)::text");
  auto yesterday = f.text("SELECT ((now() AT TIME ZONE 'Europe/Berlin')::date - 1)::text");
  // A lead created at noon Berlin time yesterday, a run finished now; a stale row of today.
  f.lead(ws, wf, f.text("SELECT ((((now() AT TIME ZONE 'Europe/Berlin')::date - 1) + time '12:00') "
                        "AT TIME ZONE 'Europe/Berlin' AT TIME ZONE 'UTC')::text"));
  f.execution(ws, wf, "failed", 40, f.text("SELECT (now() AT TIME ZONE 'UTC')::text"));
  f.text("INSERT INTO workspace_daily_stats (workspace_id, stat_date, leads_created) VALUES ($1::uuid, $2::date, 3) RETURNING id",
         pg::params{}.add(ws).add(today));
  auto r = housekeeping::run_job(*f.c, housekeeping::job::daily_stats, housekeeping::options{});
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_TRUE(r->finished);
  EXPECT_GE(r->batches, 1);
  EXPECT_GE(r->rows, 2);
  EXPECT_EQ(f.rows(ws), (std::map<std::string, std::string>{{yesterday, "1 0 0 0 0 0 0 0 0 null"},
                                                           {today, "0 0 0 1 0 1 0 0 0 40"}}));
}

// A run recorded but its counter delta not yet folded: the reconcile folds it in the same snapshot
// it recounts from, so the run is counted once, not by the recount and again by a later fold.
TEST(daily_stats_pgtest, a_pending_stat_delta_is_not_counted_twice) {
  fixture f;
  ASSERT_TRUE(f.c);
  auto ws = f.workspace("UTC");
  auto wf = f.workflow(ws);
  f.execution(ws, wf, "completed", 70, f.text("SELECT (now() AT TIME ZONE 'UTC')::text"));
  f.text("INSERT INTO execution_stat_deltas (workflow_id, workspace_id, stat_date, finished, succeeded, failed, emails_sent, "
         "duration_ms_sum, leads_qualified, leads_won) VALUES ($1::uuid, $2::uuid, (now() AT TIME ZONE 'UTC')::date, "
         "1, 1, 0, 0, 70, 0, 0) RETURNING 1",
         pg::params{}.add(wf).add(ws));
  auto r = reconcile_recent_daily_stats(*f.c, ws, 1);
  ASSERT_TRUE(r.ok()) << r.err().message;
  auto folded = fold_stat_deltas(*f.c);
  ASSERT_TRUE(folded.ok()) << folded.err().message;
  EXPECT_EQ(*folded, 0u) << "the reconcile folded the pending delta";
  auto today = f.text("SELECT ((now() AT TIME ZONE 'UTC')::date)::text");
  EXPECT_EQ(f.rows(ws), (std::map<std::string, std::string>{{today, "0 0 0 1 1 0 0 0 0 70"}}));
  EXPECT_EQ(f.text("SELECT total_executions FROM workflows WHERE id = $1::uuid", pg::params{}.add(wf)), "1");
}

}  // namespace
}  // namespace flowtrack::storage
