// Quota periods rolling over and billable usage exported, against real PostgreSQL
// (storage/usage_billing): an own subscription's ended period is advanced exactly once by two
// runners at once, with one new quota row per quota (count 0, last_reset_at set) and the old
// period's rows untouched; usage after the rollover counts in the new period; the export marks
// each billable event billed once (a second run, or two at once, export nothing more) and its CSV
// sums are the events'. The 20% overage and the hard block naming the quota are ingestion's,
// tested in ingest_pgtest (quota_warns_at_100_percent_and_rejects_beyond_120). Each case runs in
// a process and a database of its own: the rollover and export take every workspace's rows.
#include <gtest/gtest.h>

#include <thread>

#include "domain/ids.hpp"
#include "storage/housekeeping.hpp"
#include "storage/ingest.hpp"
#include "storage/usage_billing.hpp"
#include "storage/workspaces.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

const auto* const k_own_database = ::testing::AddGlobalTestEnvironment(new test::own_database("ft_usage_rollover"));

std::unique_ptr<pg::connection> connect() {
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect();
  std::string workspace_id;

  fixture() {
    std::string slug = test::unique_slug("roll");
    auto ws = create_workspace(*c, new_workspace{"Rollover", slug, "owner@" + slug + ".example.com", "free", "UTC", ""});
    EXPECT_TRUE(ws.ok()) << (ws.ok() ? "" : ws.err().message);
    if (ws.ok()) workspace_id = ws->id;
  }

  std::string text(const std::string& sql) {
    auto r = c->exec(sql, pg::params{}.add(workspace_id));
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->empty() || r->is_null(0, 0)) return "NULL";
    return std::string(r->get(0, 0));
  }

  // The own subscription's period ended ten days ago (it began forty days ago), with usage
  // counted in it, and no quota row of a later period.
  void end_the_period() {
    text("UPDATE subscriptions SET current_period_start = current_date - 40, current_period_end = current_date - 10 "
         "WHERE workspace_id = $1 AND stripe_subscription_id IS NULL");
    text("DELETE FROM usage_quotas WHERE workspace_id = $1");
    text("INSERT INTO usage_quotas (workspace_id, quota_key, quota_limit, quota_used, period_start, period_end) "
         "SELECT $1, k, 100, 7, current_date - 40, current_date - 10 FROM unnest(ARRAY['executions', 'leads']) k");
  }
};

TEST(usage_rollover, two_runners_advance_an_ended_period_once_with_fresh_quota_rows) {
  fixture f;
  f.end_the_period();
  result<rollover_report> a = rollover_report{}, b = rollover_report{};
  {
    auto ca = connect(), cb = connect();
    std::thread ta([&] { a = roll_over_quotas(*ca); });
    std::thread tb([&] { b = roll_over_quotas(*cb); });
    ta.join();
    tb.join();
  }
  ASSERT_TRUE(a.ok()) << a.err().message;
  ASSERT_TRUE(b.ok()) << b.err().message;
  EXPECT_EQ(a->periods_advanced + b->periods_advanced, 1) << "the period rolled over once";
  EXPECT_EQ(f.text("SELECT current_period_start = current_date - 9 AND current_period_end = "
                   "(current_date - 9 + interval '1 month - 1 day')::date FROM subscriptions "
                   "WHERE workspace_id = $1 AND stripe_subscription_id IS NULL AND status = 'active'"),
            "t");
  // One row per quota the free plan limits, in the new period, reset.
  EXPECT_EQ(f.text("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1 AND period_start = current_date - 9"),
            f.text("SELECT count(DISTINCT quota_key) FROM usage_quotas WHERE workspace_id = $1 AND period_start = current_date - 9"));
  EXPECT_EQ(f.text("SELECT quota_used || ':' || (last_reset_at IS NOT NULL) FROM usage_quotas "
                   "WHERE workspace_id = $1 AND quota_key = 'executions' AND period_start = current_date - 9"),
            "0:true");
  EXPECT_EQ(f.text("SELECT string_agg(quota_key || ':' || quota_used, ' ' ORDER BY quota_key) FROM usage_quotas "
                   "WHERE workspace_id = $1 AND period_start = current_date - 40"),
            "executions:7 leads:7")
      << "the ended period keeps its counts";

  // A third run finds nothing due.
  auto again = roll_over_quotas(*f.c);
  ASSERT_TRUE(again.ok()) << again.err().message;
  EXPECT_EQ(again->periods_advanced, 0);
  EXPECT_EQ(again->workspaces_synced, 0);
}

TEST(usage_rollover, the_housekeeping_job_quota_rollover_rolls_over) {
  fixture f;
  f.end_the_period();
  auto j = housekeeping::job_named("quota-rollover");
  ASSERT_TRUE(j.has_value());
  auto r = housekeeping::run_job(*f.c, *j, housekeeping::options{});
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->batches, 1) << "one period advanced";
  EXPECT_GE(r->rows, 1);
  EXPECT_EQ(f.text("SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'executions' "
                   "AND period_start = current_date - 9"),
            "0");
  auto again = housekeeping::run_job(*f.c, *j, housekeeping::options{});
  ASSERT_TRUE(again.ok()) << again.err().message;
  EXPECT_EQ(again->batches, 0);
}

TEST(usage_rollover, usage_after_the_rollover_counts_in_the_new_period) {
  fixture f;
  f.end_the_period();
  ASSERT_TRUE(roll_over_quotas(*f.c).ok());
  auto wf = f.c->exec("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id",
                      pg::params{}.add(f.workspace_id));
  ASSERT_TRUE(wf.ok()) << wf.err().message;
  domain::trigger_record t;
  t.workspace_id = f.workspace_id;
  t.workflow_id = std::string(wf->get(0, 0));
  t.trigger_type = "FORM_SUBMIT";
  t.event_type = "FORM_SUBMITTED";
  t.source = "FORM";
  t.email = "after@example.com";
  t.trigger_data = "{}";
  t.execution_id = domain::new_uuid();
  // A node's cached copy still of the ended period: the subscription in force decides.
  auto old = f.c->exec("SELECT (current_date - 40)::text, (current_date - 10)::text");
  ASSERT_TRUE(old.ok());
  t.quotas = {1000, 1000, std::string(old->get(0, 0)), std::string(old->get(0, 1))};
  auto out = ingest_batch(*f.c, {t});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].ok()) << out[0].err().message;
  EXPECT_EQ(f.text("SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'executions' "
                   "AND period_start = current_date - 9"),
            "1");
  EXPECT_EQ(f.text("SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'executions' "
                   "AND period_start = current_date - 40"),
            "7");
}

TEST(usage_rollover, billing_export_marks_billable_events_once_and_sums_them) {
  fixture f;
  fixture other;
  auto month = f.c->exec("SELECT to_char(date_trunc('month', now()) - interval '1 month', 'YYYY-MM')");
  ASSERT_TRUE(month.ok());
  std::string period(month->get(0, 0));
  auto add = [&](const std::string& ws, const std::string& type, int qty, const std::string& when, bool billable, bool billed) {
    auto r = f.c->exec("INSERT INTO usage_events (workspace_id, event_type, event_category, quantity, is_billable, billed_at, created_at) "
                       "VALUES ($1, $2, 'compute', $3, $4, CASE WHEN $5 THEN now() END, " + when + ")",
                       pg::params{}.add(ws).add(type).add(qty).add(billable).add(billed));
    ASSERT_TRUE(r.ok()) << r.err().message;
  };
  const std::string last_month = "date_trunc('month', now()) - interval '1 month' + interval '3 days'";
  const std::string last_day = "date_trunc('month', now()) - interval '1 second'";
  add(f.workspace_id, "workflow_execution", 4, last_month, true, false);
  add(f.workspace_id, "workflow_execution", 6, last_day, true, false);
  add(f.workspace_id, "EMAIL_SENT", 1, last_month, true, false);
  add(f.workspace_id, "QUOTA_WARNING", 1, last_month, false, false);  // not billable
  add(f.workspace_id, "workflow_execution", 50, last_month, true, true);  // billed before
  add(f.workspace_id, "workflow_execution", 9, "now()", true, false);  // this month
  add(other.workspace_id, "workflow_execution", 2, last_month, true, false);

  // Two exports at once: every event goes out once.
  result<billing_export> a = billing_export{}, b = billing_export{};
  {
    auto ca = connect(), cb = connect();
    std::thread ta([&] { a = export_billable_usage(*ca, period); });
    std::thread tb([&] { b = export_billable_usage(*cb, period); });
    ta.join();
    tb.join();
  }
  ASSERT_TRUE(a.ok()) << a.err().message;
  ASSERT_TRUE(b.ok()) << b.err().message;
  EXPECT_EQ(a->events + b->events, 4);
  const billing_export& full = a->events > 0 ? *a : *b;
  EXPECT_EQ((a->events > 0 ? b : a)->lines.size(), 0u);
  std::string ws_first = std::min(f.workspace_id, other.workspace_id);
  std::string expected = "workspace_id,period,event_type,quantity\n";
  auto line = [&](const std::string& ws) {
    return ws == f.workspace_id ? ws + "," + period + ",EMAIL_SENT,1\n" + ws + "," + period + ",workflow_execution,10\n"
                                : ws + "," + period + ",workflow_execution,2\n";
  };
  expected += line(ws_first) + line(ws_first == f.workspace_id ? other.workspace_id : f.workspace_id);
  EXPECT_EQ(full.to_csv(), expected);
  EXPECT_EQ(f.text("SELECT count(*) FROM usage_events WHERE workspace_id = $1 AND billed_at IS NULL"), "2")
      << "this month's event and the unbillable one stay unbilled";

  auto second = export_billable_usage(*f.c, period);
  ASSERT_TRUE(second.ok()) << second.err().message;
  EXPECT_EQ(second->events, 0);
  EXPECT_EQ(second->to_csv(), "workspace_id,period,event_type,quantity\n");
}

TEST(usage_rollover, billing_export_refuses_a_month_not_over_or_malformed) {
  fixture f;
  auto month = f.c->exec("SELECT to_char(now(), 'YYYY-MM')");
  ASSERT_TRUE(month.ok());
  for (std::string p : {std::string(month->get(0, 0)), std::string("2026-13"), std::string("2026-1"), std::string("x")}) {
    auto r = export_billable_usage(*f.c, p);
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_EQ(r.err().code, error_code::invalid) << p;
    EXPECT_EQ(r.err().subject, "period") << p;
  }
}

}  // namespace
}  // namespace flowtrack::storage
