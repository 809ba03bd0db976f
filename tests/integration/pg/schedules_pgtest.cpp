// Scheduled triggers against real PostgreSQL (storage/schedules, migration 028), time driven by
// the test: two firers of the same tick start each lead once; a leadFilter is applied in batches
// and a lapsed claim's half-done tick is finished by the next claimer; a tick without a filter is
// one execution without a lead; ticks before the activation never fire; pausing stops the ticks
// (also in the middle of one); catch-up after downtime; the executions quota stops a tick; a
// `30 2 * * *` schedule across Berlin's spring gap and autumn repeat. Each test has a database of
// its own, so no node of another suite fires these schedules.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <future>
#include <set>

#include <boost/json.hpp>

#include "adapters/cli/zoneinfo.hpp"
#include "storage/schedules.hpp"
#include "storage/workflow_documents.hpp"
#include "storage/workflows.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {
namespace json = boost::json;

std::unique_ptr<pg::connection> connect(const std::string& url) {
  auto c = pg::connection::open(pg::connect_options{url});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

const runtime::time_zone_db& zones() {
  static const runtime::time_zone_db db(cli::zoneinfo_loader());
  return db;
}

std::int64_t ms(const std::string& iso) {
  auto r = runtime::parse_iso8601(iso);
  EXPECT_TRUE(r.ok()) << iso;
  return r.ok() ? *r : 0;
}

std::string iso(std::int64_t t) { return runtime::format_iso8601_utc(t); }

constexpr std::int64_t k_hour = 3600 * 1000;

// Every test has a database of its own: fire_due_schedules fires whatever is due in it.
struct fixture {
  test::scratch_database db{"ft_sched"};
  std::unique_ptr<pg::connection> c = connect(db.url());
  std::string workspace_id;
  schedule_options options;

  explicit fixture(const std::string& timezone = "UTC") {
    options.zones = &zones();
    options.owner = "test-a";
    std::string tag = test::unique_name("sc");
    auto user = c->exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(tag + "@example.com"));
    EXPECT_TRUE(user.ok()) << user.err().message;
    auto ws = c->exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id, timezone) VALUES ('t', $1, $1, $2, $3)"
                      " RETURNING id",
                      pg::params{}.add(tag).add(std::string(user->get(0, 0))).add(timezone));
    EXPECT_TRUE(ws.ok()) << ws.err().message;
    workspace_id = ws->get(0, 0);
  }

  /// An active workflow: schedule -> tag -> end. `trigger` is the schedule node's data.
  std::string workflow(const json::object& trigger) {
    json::object doc{{"name", "nurture"},
                     {"status", "active"},
                     {"nodes", json::array{json::object{{"id", "tick"}, {"type", "TRIGGER_SCHEDULE"}, {"data", trigger}},
                                           json::object{{"id", "tag"}, {"type", "ACTION_ADD_TAG"}, {"data", {{"tag", "nudged"}}}},
                                           json::object{{"id", "end"}, {"type", "LOGIC_END"}}}},
                     {"edges", json::array{json::object{{"id", "a"}, {"source", "tick"}, {"target", "tag"}},
                                           json::object{{"id", "b"}, {"source", "tag"}, {"target", "end"}}}}};
    auto read = read_workflow_document(doc);
    EXPECT_TRUE(read.ok()) << read.err().message;
    auto* d = std::get_if<workflow_document>(&*read);
    EXPECT_TRUE(d != nullptr);
    d->workflow.workspace_id = workspace_id;
    auto id = create_workflow(*c, d->workflow);
    EXPECT_TRUE(id.ok()) << id.err().message;
    return *id;
  }

  /// Sets the activation (and so marks the schedule due).
  void activated_at(const std::string& workflow_id, std::int64_t at_ms) {
    auto r = c->exec("UPDATE workflows SET activated_at = to_timestamp($2::double precision / 1000) WHERE id = $1",
                     pg::params{}.add(workflow_id).add(at_ms));
    ASSERT_TRUE(r.ok()) << r.err().message;
  }

  /// `n` leads of the workspace (under `workflow_id`), every other one NEW (the rest WON); three
  /// share each created_at, so the keyset's id tiebreak is walked too.
  void leads(const std::string& workflow_id, int n) {
    auto r = c->exec(
        "INSERT INTO leads (workflow_id, workspace_id, email, source, status, created_at)"
        " SELECT $1, $2, 'lead' || i || '@example.com', 'FORM', CASE WHEN i % 2 = 0 THEN 'NEW' ELSE 'WON' END,"
        "        timestamp '2026-01-01' + (i / 3) * interval '1 second'"
        " FROM generate_series(1, $3) AS i",
        pg::params{}.add(workflow_id).add(workspace_id).add(n));
    ASSERT_TRUE(r.ok()) << r.err().message;
  }

  std::int64_t scalar(const std::string& sql, const std::string& workflow_id) {
    auto r = c->exec(sql, pg::params{}.add(workflow_id));
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r.ok() && r->size() > 0 && !r->is_null(0, 0) ? r->get_int(0, 0) : -1;
  }
  std::int64_t executions(const std::string& workflow_id) {
    return scalar("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1", workflow_id);
  }
  std::optional<std::string> text(const std::string& sql, const std::string& workflow_id) {
    auto r = c->exec(sql, pg::params{}.add(workflow_id));
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r.ok() && r->size() > 0 ? r->get_optional(0, 0) : std::nullopt;
  }
  std::optional<std::string> next_tick(const std::string& workflow_id) {
    return text("SELECT to_char(next_tick_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM workflow_schedules"
                " WHERE workflow_id = $1",
                workflow_id);
  }

  schedule_round fire(std::int64_t now_ms, const schedule_options* o = nullptr) {
    auto r = fire_due_schedules(*c, o ? *o : options, now_ms);
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r.ok() ? *r : schedule_round{};
  }
};

const json::object k_new_leads_filter{{"field", "status"}, {"operator", "=="}, {"value", "NEW"}};

/// Now, rounded up to the next whole hour plus `plus_ms`: hourly ticks after a fresh activation.
std::int64_t hour_after_now(std::int64_t plus_ms = 0) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return (now / k_hour + 1) * k_hour + plus_ms;
}

std::size_t count(const std::vector<schedule_note>& notes, schedule_note::kind k) {
  return static_cast<std::size_t>(std::count_if(notes.begin(), notes.end(), [k](const schedule_note& n) { return n.what == k; }));
}

// The test: a schedule firing on two nodes at once starts one execution per lead. Both
// firers hold the same claim (as when one node's lease lapsed while it was still working), so
// nothing but the idempotency key stands between them.
TEST(schedules, two_firers_of_the_same_tick_start_one_execution_per_lead) {
  fixture f;
  auto wf = f.workflow({{"cron", "0 * * * *"}, {"leadFilter", k_new_leads_filter}});
  f.leads(wf, 1000);  // 500 NEW: within the free plan's hard limit (600 a month)
  f.options.lead_batch = 50;
  const std::int64_t tick = hour_after_now();
  auto claimed = claim_schedules(*f.c, f.options, tick + 1000);
  ASSERT_TRUE(claimed.ok()) << claimed.err().message;
  ASSERT_EQ(claimed->size(), 1u);
  auto run = [&](schedule_firing firing) {
    auto c = connect(f.db.url());
    std::vector<std::string> started;
    for (;;) {
      auto step = advance_schedule(*c, firing, f.options, tick + 1000);
      EXPECT_TRUE(step.ok()) << step.err().message;
      if (!step.ok()) break;
      started.insert(started.end(), step->started.begin(), step->started.end());
      if (step->done) break;
    }
    return started;
  };
  auto a = std::async(std::launch::async, run, (*claimed)[0]);
  auto b = std::async(std::launch::async, run, (*claimed)[0]);
  auto sa = a.get(), sb = b.get();
  EXPECT_EQ(sa.size() + sb.size(), 500u) << "each execution is reported by the firer that made it";
  std::set<std::string> all(sa.begin(), sa.end());
  all.insert(sb.begin(), sb.end());
  EXPECT_EQ(all.size(), 500u);
  EXPECT_EQ(f.executions(wf), 500);
  EXPECT_EQ(f.scalar("SELECT count(DISTINCT lead_id) FROM workflow_executions WHERE workflow_id = $1", wf), 500);
  // Only matching leads, each under its key, SCHEDULED, queued on the version and trigger node.
  EXPECT_EQ(f.scalar("SELECT count(*) FROM workflow_executions e JOIN leads l ON l.id = e.lead_id WHERE e.workflow_id = $1"
                     " AND l.status = 'NEW' AND e.trigger_type = 'SCHEDULED' AND e.status = 'queued' AND e.workflow_version = 1"
                     " AND e.idempotency_key = e.workflow_id || ':" + iso(tick) + ":' || e.lead_id"
                     " AND e.trigger_node_id = (SELECT id FROM workflow_nodes WHERE workflow_id = $1 AND react_flow_node_id = 'tick')"
                     " AND e.trigger_data->>'scheduledAt' = '" + iso(tick) + "'",
                     wf),
            500);
  // Usage counts what was started, once.
  EXPECT_EQ(f.scalar("SELECT sum(quantity) FROM usage_events WHERE workspace_id = (SELECT workspace_id FROM workflows WHERE id = $1)"
                     " AND event_type = 'workflow_execution'",
                     wf),
            500);
  EXPECT_EQ(f.next_tick(wf), iso(tick + k_hour));
}

// Two nodes polling at once: the claim keeps them apart, and when one node's claim lapses and the
// other takes over, the tick still starts each lead once.
TEST(schedules, nodes_polling_together_start_each_lead_once) {
  fixture f;
  auto wf = f.workflow({{"cron", "0 * * * *"}, {"leadFilter", k_new_leads_filter}});
  f.leads(wf, 400);
  f.options.lead_batch = 20;
  auto late = f.options;
  late.owner = "test-b";
  const std::int64_t tick = hour_after_now();
  auto a = std::async(std::launch::async, [&] {
    auto c = connect(f.db.url());
    return fire_due_schedules(*c, f.options, tick + 1000);
  });
  auto b = std::async(std::launch::async, [&] {
    auto c = connect(f.db.url());
    // This node's clock is a lease ahead: it sees the other's claim as lapsed.
    return fire_due_schedules(*c, late, tick + 1000 + late.lease.count() + 1);
  });
  auto ra = a.get(), rb = b.get();
  ASSERT_TRUE(ra.ok()) << ra.err().message;
  ASSERT_TRUE(rb.ok()) << rb.err().message;
  EXPECT_EQ(ra->started.size() + rb->started.size(), 200u);
  EXPECT_EQ(f.executions(wf), 200);
  EXPECT_EQ(f.scalar("SELECT count(DISTINCT lead_id) FROM workflow_executions WHERE workflow_id = $1", wf), 200);
}

TEST(schedules, a_lapsed_claims_half_done_tick_is_finished_by_the_next_claimer) {
  fixture f;
  auto wf = f.workflow({{"cron", "0 * * * *"}, {"leadFilter", k_new_leads_filter}});
  f.leads(wf, 300);
  f.options.lead_batch = 40;
  const std::int64_t tick = hour_after_now();
  auto claimed = claim_schedules(*f.c, f.options, tick + 1000);
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1);
  auto& first = (*claimed)[0];
  std::size_t started_first = 0;
  for (int step = 0; step < 3; ++step) {  // the plan, then two batches; then this node "dies"
    auto s = advance_schedule(*f.c, first, f.options, tick + 1000);
    ASSERT_TRUE(s.ok()) << s.err().message;
    ASSERT_FALSE(s->done);
    started_first += s->started.size();
  }
  EXPECT_EQ(started_first, 40u);  // two batches of 40 leads, every other one NEW
  auto other = f.options;
  other.owner = "test-b";
  auto rest = f.fire(tick + 1000 + f.options.lease.count() + 1, &other);
  EXPECT_EQ(rest.schedules, 1u);
  EXPECT_EQ(started_first + rest.started.size(), 150u);
  EXPECT_EQ(f.executions(wf), 150);
  // The dead node's late step is fenced out: it starts nothing more.
  auto late = advance_schedule(*f.c, first, f.options, tick + 1000);
  ASSERT_TRUE(late.ok()) << late.err().message;
  EXPECT_TRUE(late->done);
  EXPECT_TRUE(late->started.empty());
  EXPECT_EQ(count(late->notes, schedule_note::kind::claim_lost), 1u);
}

TEST(schedules, without_a_filter_a_tick_is_one_execution_without_a_lead) {
  fixture f;
  auto wf = f.workflow({{"cron", "0 * * * *"}});
  f.leads(wf, 10);
  const std::int64_t tick = hour_after_now();
  auto r = f.fire(tick + 2000);
  ASSERT_EQ(r.started.size(), 1u);
  EXPECT_EQ(f.text("SELECT idempotency_key || '|' || trigger_type || '|' || (lead_id IS NULL) || '|' || (trigger_data->>'cron')"
                   " FROM workflow_executions WHERE workflow_id = $1",
                   wf),
            wf + ":" + iso(tick) + "|SCHEDULED|true|0 * * * *");
  EXPECT_EQ(f.fire(tick + 30000).started.size(), 0u) << "the same tick never fires twice";
  EXPECT_EQ(f.fire(tick + k_hour + 500).started.size(), 1u);
  EXPECT_EQ(f.executions(wf), 2);
}

TEST(schedules, ticks_before_the_activation_never_fire) {
  fixture f;
  auto wf = f.workflow({{"cron", "0 * * * *"}});
  const std::int64_t hour = hour_after_now();
  f.activated_at(wf, hour + 30 * 60 * 1000);  // 00:30 past an hour
  auto r = f.fire(hour + 45 * 60 * 1000);
  EXPECT_TRUE(r.started.empty());
  EXPECT_EQ(count(r.notes, schedule_note::kind::skipped), 0u) << "never due, so never skipped";
  EXPECT_EQ(f.executions(wf), 0);
  EXPECT_EQ(f.next_tick(wf), iso(hour + k_hour));
  EXPECT_EQ(f.fire(hour + k_hour + 100).started.size(), 1u);
}

TEST(schedules, pausing_stops_future_ticks_and_the_tick_in_progress) {
  fixture f;
  auto wf = f.workflow({{"cron", "0 * * * *"}, {"leadFilter", k_new_leads_filter}});
  f.leads(wf, 200);
  f.options.lead_batch = 20;
  const std::int64_t tick = hour_after_now();
  auto claimed = claim_schedules(*f.c, f.options, tick + 1000);
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1);
  auto& firing = (*claimed)[0];
  ASSERT_TRUE(advance_schedule(*f.c, firing, f.options, tick + 1000).ok());  // the plan
  auto batch = advance_schedule(*f.c, firing, f.options, tick + 1000);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->started.size(), 10u);
  ASSERT_TRUE(set_workflow_status(*f.c, wf, domain::workflow_status::paused).ok());
  auto after = advance_schedule(*f.c, firing, f.options, tick + 1000);
  ASSERT_TRUE(after.ok()) << after.err().message;
  EXPECT_TRUE(after->done);
  EXPECT_TRUE(after->started.empty());
  EXPECT_EQ(f.executions(wf), 10);
  // The pause marked the schedule: the next poll parks it, and no later tick fires.
  auto parked = f.fire(tick + 2000);
  EXPECT_EQ(count(parked.notes, schedule_note::kind::parked), 1u);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM workflow_schedules WHERE workflow_id = $1 AND due_at IS NULL AND next_tick_at IS NULL", wf), 1);
  EXPECT_TRUE(f.fire(tick + 3 * k_hour + 1000).started.empty());
  EXPECT_EQ(f.executions(wf), 10);
  // Active again: the paused hours never fire; the next tick after the activation does.
  ASSERT_TRUE(set_workflow_status(*f.c, wf, domain::workflow_status::active).ok());
  f.activated_at(wf, tick + 3 * k_hour + 5000);
  EXPECT_TRUE(f.fire(tick + 3 * k_hour + 6000).started.empty());
  EXPECT_EQ(f.fire(tick + 4 * k_hour + 1000).started.size(), 100u);
}

TEST(schedules, after_downtime_only_the_latest_missed_tick_fires) {
  fixture f;
  auto wf = f.workflow({{"cron", "0 * * * *"}});
  const std::int64_t tick = hour_after_now();
  EXPECT_EQ(f.fire(tick + 1000).started.size(), 1u);
  // Down for five and a half hours: ticks +1h..+5h were missed; +5h fires, four are skipped.
  auto r = f.fire(tick + 5 * k_hour + 30 * 60 * 1000);
  ASSERT_EQ(r.started.size(), 1u);
  EXPECT_EQ(f.text("SELECT idempotency_key FROM workflow_executions WHERE workflow_id = $1 ORDER BY created_at DESC, idempotency_key DESC"
                   " LIMIT 1",
                   wf),
            wf + ":" + iso(tick + 5 * k_hour));
  ASSERT_EQ(count(r.notes, schedule_note::kind::skipped), 1u);
  for (const auto& n : r.notes) {
    if (n.what == schedule_note::kind::skipped) {
      EXPECT_EQ(n.count, 4) << n.message;
    }
  }
  // With catch-up 0 the next outage fires nothing late.
  f.options.catch_up_ticks = 0;
  EXPECT_TRUE(f.fire(tick + 8 * k_hour + 30 * 60 * 1000).started.empty());
  EXPECT_EQ(f.executions(wf), 2);
  EXPECT_EQ(f.next_tick(wf), iso(tick + 9 * k_hour));
}

// The test: a tick across a DST change. `30 2 * * *` in the workspace's zone (Berlin):
// the spring gap fires at 03:30 CEST, the repeated autumn hour fires once, at the first 02:30.
TEST(schedules, a_tick_across_berlins_dst_changes_fires_as_the_cron_defines) {
  fixture f("Europe/Berlin");
  auto wf = f.workflow({{"cron", "30 2 * * *"}});
  f.activated_at(wf, ms("2025-03-29T12:00:00Z"));
  EXPECT_TRUE(f.fire(ms("2025-03-29T23:00:00Z")).started.empty());
  EXPECT_EQ(f.next_tick(wf), "2025-03-30T01:30:00Z");  // 02:30 does not exist: 03:30 CEST
  EXPECT_EQ(f.fire(ms("2025-03-30T01:30:02Z")).started.size(), 1u);
  EXPECT_EQ(f.next_tick(wf), "2025-03-31T00:30:00Z");  // 02:30 CEST
  // Autumn: activated again the day before the change.
  f.activated_at(wf, ms("2025-10-25T12:00:00Z"));
  EXPECT_TRUE(f.fire(ms("2025-10-25T12:00:01Z")).started.empty());
  EXPECT_EQ(f.next_tick(wf), "2025-10-26T00:30:00Z");  // the first 02:30 (CEST)
  EXPECT_EQ(f.fire(ms("2025-10-26T00:30:03Z")).started.size(), 1u);
  EXPECT_TRUE(f.fire(ms("2025-10-26T01:30:03Z")).started.empty()) << "the repeated 02:30 (CET) does not fire again";
  EXPECT_EQ(f.next_tick(wf), "2025-10-27T01:30:00Z");  // 02:30 CET
  auto keys = f.c->exec("SELECT idempotency_key FROM workflow_executions WHERE workflow_id = $1 ORDER BY idempotency_key",
                        pg::params{}.add(wf));
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2);
  EXPECT_EQ(keys->get(0, 0), wf + ":2025-03-30T01:30:00Z");
  EXPECT_EQ(keys->get(1, 0), wf + ":2025-10-26T00:30:00Z");
}

TEST(schedules, the_executions_quota_stops_a_tick) {
  fixture f;  // the free plan: 500 executions a month, refused beyond 600
  auto wf = f.workflow({{"cron", "0 * * * *"}, {"leadFilter", k_new_leads_filter}});
  f.leads(wf, 1400);  // 700 NEW
  f.options.lead_batch = 100;  // about 50 NEW leads a batch; a batch is started whole or not at all
  auto r = f.fire(hour_after_now(1000));
  const auto started = static_cast<std::int64_t>(r.started.size());
  EXPECT_GT(started, 540);
  EXPECT_LE(started, 600);
  EXPECT_EQ(f.executions(wf), started);
  EXPECT_EQ(count(r.notes, schedule_note::kind::quota_exceeded), 1u);
  EXPECT_EQ(f.scalar("SELECT quota_used FROM usage_quotas WHERE workspace_id = (SELECT workspace_id FROM workflows WHERE id = $1)"
                     " AND quota_key = 'executions'",
                     wf),
            started);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM usage_events WHERE workspace_id = (SELECT workspace_id FROM workflows WHERE id = $1)"
                     " AND event_type = 'QUOTA_WARNING'",
                     wf),
            1);
}

// Billing's rule for every trigger: a workspace past due beyond its grace period starts nothing,
// scheduled ticks included; once paid, the next tick fires again (under the plan in force).
TEST(schedules, a_workspace_past_due_beyond_its_grace_starts_no_tick) {
  fixture f;
  auto wf = f.workflow({{"cron", "0 * * * *"}});
  auto sub = f.c->exec(
      "INSERT INTO subscriptions (workspace_id, subscription_plan_id, status, billing_cycle, current_period_start,"
      " current_period_end, payment_grace_ends_at)"
      " SELECT $1, id, 'past_due', 'monthly', current_date - 10, current_date + 20, now() - interval '1 hour'"
      " FROM subscription_plans WHERE slug = 'pro' RETURNING id",
      pg::params{}.add(f.workspace_id));
  ASSERT_TRUE(sub.ok()) << sub.err().message;
  const std::int64_t tick = hour_after_now();
  auto r = f.fire(tick + 1000);
  EXPECT_TRUE(r.started.empty());
  EXPECT_EQ(count(r.notes, schedule_note::kind::payment_overdue), 1u);
  EXPECT_EQ(f.executions(wf), 0);
  EXPECT_EQ(f.next_tick(wf), iso(tick + k_hour)) << "the overdue tick passed; the schedule goes on";
  auto paid = f.c->exec("UPDATE subscriptions SET status = 'active', payment_grace_ends_at = NULL WHERE id = $1",
                        pg::params{}.add(std::string(sub->get(0, 0))));
  ASSERT_TRUE(paid.ok()) << paid.err().message;
  EXPECT_EQ(f.fire(tick + k_hour + 1000).started.size(), 1u);
  // Counted against the pro plan's executions (its limit, its period).
  EXPECT_EQ(f.scalar("SELECT quota_limit FROM usage_quotas WHERE workspace_id = (SELECT workspace_id FROM workflows WHERE id = $1)"
                     " AND quota_key = 'executions' AND quota_used = 1",
                     wf),
            50000);
}

TEST(schedules, a_schedule_that_cannot_fire_is_parked_with_the_reason) {
  fixture f;
  // The catalog refuses a bad leadFilter on import; a graph stored before it did has one.
  auto wf = f.workflow({{"cron", "0 * * * *"}, {"leadFilter", {{"field", "status"}, {"operator", "=="}, {"value", "x"}}}});
  ASSERT_TRUE(f.text("UPDATE workflow_versions SET graph = jsonb_set(graph, ARRAY['nodes', (SELECT (i - 1)::text FROM"
                     " jsonb_array_elements(graph->'nodes') WITH ORDINALITY e(n, i) WHERE n->>'id' = 'tick'), 'data',"
                     " 'leadFilter', 'operator'], '\"resembles\"') WHERE workflow_id = $1 RETURNING workflow_id::text",
                     wf)
                  .has_value());
  auto r = f.fire(hour_after_now(1000));
  EXPECT_TRUE(r.started.empty());
  EXPECT_EQ(count(r.notes, schedule_note::kind::invalid), 1u);
  auto why = f.text("SELECT last_error FROM workflow_schedules WHERE workflow_id = $1", wf);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("leadFilter"), std::string::npos) << *why;
}

}  // namespace
}  // namespace flowtrack::storage
