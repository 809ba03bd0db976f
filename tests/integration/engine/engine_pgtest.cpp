// The durable execution engine in-process against real PostgreSQL, Redis and an SMTP sink:
// every row a run writes, parking and resuming on time, Redis losing its data, idempotency
// under concurrency, quotas, control (cancel, paused workflows, versions), supervision, and
// 10,000 concurrent executions with exact counters.
#include "tests/integration/engine/engine_fixture.hpp"

#include <caf/actor_registry.hpp>

#include "actors/workspace.hpp"
#include "adapters/mail/smtp_mailer.hpp"
#include "runtime/tz.hpp"
#include "storage/executions.hpp"
#include "storage/redis/delay_queue.hpp"
#include "storage/runs.hpp"
#include "domain/ids.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/smtp_sink.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// Each test process gets a database of its own: engine nodes adopt any stale execution they find,
// so rows other suites leave behind in the shared test database would compete with this test's.
const auto* const k_own_database = ::testing::AddGlobalTestEnvironment(new test::own_database("ft_engine"));

const char* k_six_nodes = R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"c","type":"LOGIC_CONDITION","position":{"x":0,"y":1},"data":{"field":"budget","operator":">=","value":5000,"trueHandle":"yes","falseHandle":"no"}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":2},"data":{"status":"QUALIFIED"}},
  {"id":"g","type":"ACTION_ADD_TAG","position":{"x":0,"y":3},"data":{"tag":"hot"}},
  {"id":"m","type":"ACTION_SEND_EMAIL","position":{"x":0,"y":4},"data":{"emailSubject":"Welcome {{lead.name}}","emailBody":"Budget {{lead.fields.budget}}","fromName":"Acme"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":5},"data":{}},
  {"id":"n","type":"LOGIC_END","position":{"x":1,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"c"},{"id":"2","source":"c","target":"s","sourceHandle":"yes"},
          {"id":"3","source":"s","target":"g"},{"id":"4","source":"g","target":"m"},{"id":"5","source":"m","target":"e"},
          {"id":"6","source":"c","target":"n","sourceHandle":"no"}]})";

const char* k_four_nodes = R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"c","type":"LOGIC_CONDITION","position":{"x":0,"y":1},"data":{"field":"budget","operator":">=","value":5000,"trueHandle":"yes","falseHandle":"no"}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":2},"data":{"status":"QUALIFIED"}},
  {"id":"g","type":"ACTION_ADD_TAG","position":{"x":0,"y":3},"data":{"tag":"hot"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":4},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"c"},{"id":"2","source":"c","target":"s","sourceHandle":"yes"},
          {"id":"3","source":"s","target":"g"},{"id":"4","source":"g","target":"e"},
          {"id":"5","source":"c","target":"e","sourceHandle":"no"}]})";

std::string wait_graph(std::int64_t until_ms) {
  return std::string(R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"w","type":"LOGIC_WAIT_UNTIL","position":{"x":0,"y":1},"data":{"until":")") +
         runtime::format_iso8601_utc(until_ms) + R"("}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":2},"data":{"status":"FOLLOWED_UP"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":3},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"w"},{"id":"2","source":"w","target":"s"},{"id":"3","source":"s","target":"e"}]})";
}

std::vector<domain::form_field_record> budget_field() {
  domain::form_field_record f;
  f.field_key = "budget";
  f.label = "Budget";
  f.field_type = "NUMBER";
  return {f};
}

json::value lead(const std::string& email, int budget = 9000) {
  return json::value{{"email", email}, {"name", "Rich"}, {"fields", {{"budget", budget}}}};
}

std::int64_t count(pg::connection& c, const std::string& sql, const std::string& arg) {
  auto r = c.exec(sql, pg::params{}.add(arg));
  EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
  return r.ok() && r->size() > 0 && !r->is_null(0, 0) ? r->get_int(0, 0) : -1;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(engine, six_node_workflow_writes_every_row) {
  test::smtp_sink sink;
  config::settings s;
  s.mail_relay = sink.relay();
  s.mail_domain = "intake.flowtrack.test";
  mail::smtp_mailer mailer(s);
  auto c = test::db();
  auto ws = test::make_workspace(*c, "starter");
  auto wf = test::make_workflow(*c, ws.id, k_six_nodes, budget_field());
  test::engine_node node({}, &mailer);

  auto r = node.trigger(ws.id, wf, lead("ada@example.com"));
  ASSERT_TRUE(r.ok()) << r.err().message;
  ASSERT_TRUE(r->execution_id);
  const std::string ex = *r->execution_id;
  ASSERT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE id = $1 AND status = 'completed'", ex, 1, 20s), 1);

  // The execution row.
  auto e = c->exec("SELECT status, started_at IS NOT NULL, completed_at >= started_at, duration_ms >= 0, lock_acquired_at IS NOT NULL,"
                   " lock_released_at IS NOT NULL, output_data->'lead'->>'status', workflow_version, trigger_type, error_message IS NULL"
                   " FROM workflow_executions WHERE id = $1", pg::params{}.add(ex));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->get(0, 0), "completed");
  for (int col : {1, 2, 3, 4, 5, 9}) EXPECT_TRUE(e->get_bool(0, col)) << "column " << col;
  EXPECT_EQ(e->get(0, 6), "QUALIFIED");
  EXPECT_EQ(e->get_int(0, 7), 1);
  EXPECT_EQ(e->get(0, 8), "MANUAL");

  // Steps: one per node on the path, numbered, all completed, the email's output its Message-ID.
  auto steps = c->exec("SELECT n.react_flow_node_id, s.step_number, s.status, s.output_data::text FROM execution_steps s"
                       " JOIN workflow_nodes n ON n.id = s.workflow_node_id WHERE s.execution_id = $1 ORDER BY s.step_number",
                       pg::params{}.add(ex));
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 6);
  const char* path[] = {"t", "c", "s", "g", "m", "e"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(steps->get(i, 0), path[i]);
    EXPECT_EQ(steps->get_int(i, 1), i + 1);
    EXPECT_EQ(steps->get(i, 2), "completed");
  }
  EXPECT_NE(steps->get(4, 3).find("messageId"), std::string::npos) << steps->get(4, 3);

  // The lead and its events.
  auto l = c->exec("SELECT status, array_to_string(tags, ','), last_email_sent_at IS NOT NULL, last_activity_at IS NOT NULL"
                   " FROM leads WHERE id = $1", pg::params{}.add(r->lead_id));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->get(0, 0), "QUALIFIED");
  EXPECT_EQ(l->get(0, 1), "hot");
  EXPECT_TRUE(l->get_bool(0, 2));
  EXPECT_TRUE(l->get_bool(0, 3));
  auto ev = c->exec("SELECT string_agg(event_type || ':' || (triggered_by_workflow_execution_id IS NOT NULL)::text, ','"
                    " ORDER BY created_at, event_type) FROM lead_events WHERE lead_id = $1", pg::params{}.add(r->lead_id));
  ASSERT_TRUE(ev.ok());
  for (const char* want : {"MANUAL_STARTED:false", "STATUS_CHANGED:true", "TAG_ADDED:true", "EMAIL_SENT:true"})
    EXPECT_NE(ev->get(0, 0).find(want), std::string::npos) << ev->get(0, 0);

  // Counters (folded within a second), daily stats, usage, logs.
  EXPECT_EQ(test::await_value(*c, "SELECT total_executions FROM workflows WHERE id = $1", wf, 1, 10s), 1);
  auto wfrow = c->exec("SELECT total_executions, successful_executions, failed_executions, last_executed_at IS NOT NULL FROM workflows WHERE id = $1",
                       pg::params{}.add(wf));
  EXPECT_EQ(wfrow->get_int(0, 0), 1);
  EXPECT_EQ(wfrow->get_int(0, 1), 1);
  EXPECT_EQ(wfrow->get_int(0, 2), 0);
  EXPECT_TRUE(wfrow->get_bool(0, 3));
  auto stats = c->exec("SELECT total_executions, successful_executions, emails_sent, leads_qualified FROM workspace_daily_stats"
                       " WHERE workspace_id = $1 AND stat_date = current_date", pg::params{}.add(ws.id));
  ASSERT_EQ(stats->size(), 1);
  EXPECT_EQ(stats->get_int(0, 0), 1);
  EXPECT_EQ(stats->get_int(0, 1), 1);
  EXPECT_EQ(stats->get_int(0, 2), 1);
  EXPECT_EQ(stats->get_int(0, 3), 1);
  EXPECT_EQ(count(*c, "SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'executions'", ws.id), 1);
  EXPECT_EQ(count(*c, "SELECT count(*) FROM usage_events WHERE workspace_id = $1 AND event_type = 'workflow_execution'", ws.id), 1);
  EXPECT_GE(count(*c, "SELECT count(*) FROM execution_logs WHERE execution_id = $1::uuid", ex), 1);

  // The email arrived, with the step's idempotency key in its Message-ID.
  auto mails = sink.await(1);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].header("subject"), "Welcome Rich");
  EXPECT_NE(mails[0].header("message-id").find(ex), std::string::npos) << mails[0].header("message-id");
}

TEST(engine, parked_run_resumes_within_250ms_of_being_due) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  std::int64_t due = now_ms() + 2000;
  auto wf = test::make_workflow(*c, ws.id, wait_graph(due));
  test::engine_node node;
  auto r = node.trigger(ws.id, wf, lead("wait@example.com"));
  ASSERT_TRUE(r.ok() && r->execution_id);
  EXPECT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE id = $1 AND status = 'paused'", *r->execution_id, 1, 5s), 1);
  ASSERT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE id = $1 AND status = 'completed'",
                              *r->execution_id, 1, 10s), 1);
  // When the step after the wait ran, measured by the database clock against the due time.
  auto late = c->exec("SELECT (extract(epoch FROM s.started_at) * 1000)::bigint - $2::bigint FROM execution_steps s"
                      " JOIN workflow_nodes n ON n.id = s.workflow_node_id WHERE s.execution_id = $1 AND n.react_flow_node_id = 's'",
                      pg::params{}.add(*r->execution_id).add(due));
  ASSERT_TRUE(late.ok() && late->size() == 1);
  EXPECT_GE(late->get_int(0, 0), 0) << "resumed before it was due";
  EXPECT_LE(late->get_int(0, 0), 250) << "resumed late";
}

TEST(engine, all_parked_runs_resume_after_redis_loses_its_data) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  std::int64_t due = now_ms() + 4000;
  auto wf = test::make_workflow(*c, ws.id, wait_graph(due));
  test::engine_node node([](actors::node_services& n) { n.options.rebuild_check_interval = 200ms; });
  constexpr int k_runs = 1000;
  auto replies = node.trigger_many(ws.id, wf, k_runs, [](int i) { return lead("p" + std::to_string(i) + "@example.com"); });
  int ok = 0;
  for (const auto& r : replies) ok += r.ok() ? 1 : 0;
  ASSERT_EQ(ok, k_runs);
  ASSERT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'paused'", wf,
                              k_runs, 30s), k_runs);
  auto r = redis::connection::open(test::redis_url(), 2s);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->command({"FLUSHALL"}).ok());
  EXPECT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'completed'", wf,
                              k_runs, 60s), k_runs);
}

TEST(engine, concurrent_duplicate_idempotency_keys_give_one_execution) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  auto wf = test::make_workflow(*c, ws.id, k_four_nodes, budget_field());
  test::engine_node node;
  std::vector<std::thread> threads;
  std::vector<std::string> ids(16);
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&, i] {
      auto r = node.trigger(ws.id, wf, lead("dup" + std::to_string(i) + "@example.com"), domain::trigger_kind::manual, "same-key");
      if (r.ok() && r->execution_id) ids[static_cast<std::size_t>(i)] = *r->execution_id;
    });
  for (auto& t : threads) t.join();
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_FALSE(ids[0].empty());
  EXPECT_EQ(count(*c, "SELECT count(*) FROM workflow_executions WHERE workflow_id = $1", wf), 1);
  EXPECT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'completed'", wf, 1, 10s), 1);
}

TEST(engine, exceeded_quota_rejects_cleanly) {
  auto c = test::db();
  auto ws = test::make_workspace(*c, "free");  // executions_per_month 500: 600 with the overage
  auto wf = test::make_workflow(*c, ws.id, k_four_nodes, budget_field());
  ASSERT_TRUE(c->exec("INSERT INTO usage_quotas (workspace_id, quota_key, quota_limit, quota_used, period_start, period_end)"
                      " VALUES ($1, 'executions', 500, 600, $2::date, $3::date)",
                      pg::params{}.add(ws.id).add(ws.period_start).add(ws.period_end)).ok());
  test::engine_node node;
  auto r = node.trigger(ws.id, wf, lead("over@example.com"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::quota_exceeded);
  EXPECT_EQ(r.err().subject, "executions");
  EXPECT_EQ(count(*c, "SELECT count(*) FROM leads WHERE workspace_id = $1", ws.id), 0);
  EXPECT_EQ(count(*c, "SELECT count(*) FROM workflow_executions WHERE workspace_id = $1", ws.id), 0);
}

TEST(engine, paused_workflow_rejects_triggers_and_unknown_workflow_is_not_found) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  auto wf = test::make_workflow(*c, ws.id, k_four_nodes, budget_field());
  ASSERT_TRUE(c->exec("UPDATE workflows SET status = 'paused' WHERE id = $1", pg::params{}.add(wf)).ok());
  auto active = test::make_workflow(*c, ws.id, k_four_nodes, budget_field());
  test::engine_node node;
  auto r = node.trigger(ws.id, wf, lead("paused@example.com"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);
  EXPECT_EQ(r.err().subject, "status");
  auto missing = node.trigger(ws.id, domain::new_uuid(), lead("x@example.com"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().code, error_code::not_found);
  auto bad = node.trigger(ws.id, active, json::value{{"name", "no email"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().subject, "email");
  auto typed = node.trigger(ws.id, active, json::value{{"email", "t@example.com"}, {"fields", {{"budget", "lots"}}}});
  ASSERT_FALSE(typed.ok());
  EXPECT_EQ(typed.err().subject, "fields.budget");
  EXPECT_EQ(count(*c, "SELECT count(*) FROM leads WHERE workspace_id = $1", ws.id), 0);
}

TEST(engine, cancelled_paused_run_never_resumes) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  auto wf = test::make_workflow(*c, ws.id, wait_graph(now_ms() + 1500));
  test::engine_node node;
  auto r = node.trigger(ws.id, wf, lead("cancel@example.com"));
  ASSERT_TRUE(r.ok() && r->execution_id);
  ASSERT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE id = $1 AND status = 'paused'", *r->execution_id, 1, 5s), 1);
  auto cancelled = storage::cancel_execution(*c, *r->execution_id);
  ASSERT_TRUE(cancelled.ok() && *cancelled);
  // The scheduler claims the entry once it is due and the run, finding itself cancelled, drops it.
  auto redis = redis::connection::open(test::redis_url(), 2s);
  ASSERT_TRUE(redis.ok());
  redis::delay_queue queue(*redis, storage::k_execution_queue);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    auto entry = queue.find(*r->execution_id);
    ASSERT_TRUE(entry.ok()) << entry.err().message;
    if (!*entry) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the due entry of a cancelled run was never handled";
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(count(*c, "SELECT count(*) FROM workflow_executions WHERE id = $1::uuid AND status = 'cancelled'", *r->execution_id), 1);
  EXPECT_EQ(count(*c, "SELECT count(*) FROM leads WHERE id = $1::uuid AND status = 'FOLLOWED_UP'", r->lead_id), 0);
}

TEST(engine, an_execution_keeps_the_workflow_version_it_started_with) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  std::int64_t due = now_ms() + 1500;
  auto wf = test::make_workflow(*c, ws.id, wait_graph(due));
  test::engine_node node;
  auto r = node.trigger(ws.id, wf, lead("version@example.com"));
  ASSERT_TRUE(r.ok() && r->execution_id);
  ASSERT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE id = $1 AND status = 'paused'", *r->execution_id, 1, 5s), 1);
  // Version 2 sets another status; the paused execution still runs version 1.
  std::string v2 = wait_graph(due);
  v2.replace(v2.find("FOLLOWED_UP"), 11, "CHANGED_V2");
  ASSERT_TRUE(c->exec("INSERT INTO workflow_versions (workflow_id, version, graph) VALUES ($1, 2, $2::jsonb)", pg::params{}.add(wf).add(v2)).ok());
  ASSERT_TRUE(c->exec("UPDATE workflows SET version = 2 WHERE id = $1", pg::params{}.add(wf)).ok());
  caf::anon_send(actors::engine_registry(*node.system), actors::reload_atom::value, ws.id);
  ASSERT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE id = $1 AND status = 'completed'", *r->execution_id, 1, 10s), 1);
  EXPECT_EQ(count(*c, "SELECT count(*) FROM leads WHERE id = $1::uuid AND status = 'FOLLOWED_UP'", r->lead_id), 1);
}

TEST(engine, a_crashed_storage_writer_is_restarted_and_work_goes_on) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  auto wf = test::make_workflow(*c, ws.id, k_four_nodes, budget_field());
  // Short locks: a run whose record died with the writer is adopted quickly.
  test::engine_node node([](actors::node_services& n) {
    n.options.lock_ttl = 1500ms;
    n.options.recovery_interval = 300ms;
  });
  ASSERT_TRUE(node.trigger(ws.id, wf, lead("before@example.com")).ok());
  auto writer = node.system->registry().get<caf::actor>(actors::k_writer_name);
  ASSERT_TRUE(writer);
  // A crash, as an uncaught error would end it ("kill" cannot be trapped, even by a supervisor).
  caf::anon_send_exit(writer, caf::exit_reason::unhandled_exception);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (node.system->registry().get<caf::actor>(actors::k_writer_name) == writer && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_NE(node.system->registry().get<caf::actor>(actors::k_writer_name), writer) << "the writer was not restarted";
  auto after = node.trigger(ws.id, wf, lead("after@example.com"));
  ASSERT_TRUE(after.ok()) << after.err().message;
  EXPECT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'completed'", wf, 2, 30s), 2);
}

TEST(engine, ten_thousand_concurrent_executions_complete_with_exact_counters) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  auto wf = test::make_workflow(*c, ws.id, k_four_nodes, budget_field());
  constexpr int k_runs = 10000;
  // All of them wait for a batch at once: the writer must hold them, not refuse them as overload.
  test::engine_node node([](actors::node_services& n) { n.options.max_pending_triggers = k_runs; });
  auto replies = node.trigger_many(ws.id, wf, k_runs, [](int i) { return lead("many" + std::to_string(i) + "@example.com", i % 2 ? 9000 : 100); });
  int ok = 0;
  for (const auto& r : replies) ok += r.ok() && r->execution_id ? 1 : 0;
  ASSERT_EQ(ok, k_runs);
  ASSERT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'completed'", wf,
                              k_runs, 120s), k_runs);
  EXPECT_EQ(test::await_value(*c, "SELECT total_executions FROM workflows WHERE id = $1", wf, k_runs, 10s), k_runs);
  auto w = c->exec("SELECT total_executions, successful_executions, failed_executions FROM workflows WHERE id = $1", pg::params{}.add(wf));
  EXPECT_EQ(w->get_int(0, 0), k_runs);
  EXPECT_EQ(w->get_int(0, 1), k_runs);
  EXPECT_EQ(w->get_int(0, 2), 0);
  auto st = c->exec("SELECT total_executions, successful_executions, leads_qualified FROM workspace_daily_stats"
                    " WHERE workspace_id = $1 AND stat_date = current_date", pg::params{}.add(ws.id));
  ASSERT_EQ(st->size(), 1);
  EXPECT_EQ(st->get_int(0, 0), k_runs);
  EXPECT_EQ(st->get_int(0, 1), k_runs);
  EXPECT_EQ(st->get_int(0, 2), k_runs / 2);
  EXPECT_EQ(count(*c, "SELECT count(*) FROM leads WHERE workflow_id = $1::uuid AND status = 'QUALIFIED' AND 'hot' = ANY(tags)", wf), k_runs / 2);
  // Qualified leads take trigger, condition, status, tag, end; the others trigger, condition, end.
  EXPECT_EQ(count(*c, "SELECT count(*) FROM execution_steps s JOIN workflow_executions e ON e.id = s.execution_id"
                      " WHERE e.workflow_id = $1::uuid", wf), k_runs / 2 * 5 + k_runs / 2 * 3);
}

}  // namespace
}  // namespace flowtrack

namespace flowtrack {
namespace {

TEST(engine, pausing_a_workflow_under_a_running_node_rejects_new_triggers) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  auto wf = test::make_workflow(*c, ws.id, k_four_nodes, budget_field());
  test::engine_node node([](actors::node_services& n) { n.options.workflow_refresh = std::chrono::milliseconds(100); });
  ASSERT_TRUE(node.trigger(ws.id, wf, lead("first@example.com")).ok());
  auto paused = test::run_command(test::flowtrackd() + " workflow pause " + wf + " --database-url " + test::shell_quote(test::database_url()));
  ASSERT_EQ(paused.exit_code, 0) << paused.err;
  // The node sees the change within its refresh interval: triggers are refused from then on.
  auto first_refused = [&](bool want_refused) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    for (int i = 0;; ++i) {
      auto r = node.trigger(ws.id, wf, lead(test::unique_name("probe") + std::to_string(i) + "@example.com"));
      if (r.ok() != want_refused) return r;
      if (std::chrono::steady_clock::now() > deadline) return r;
      std::this_thread::sleep_for(10ms);
    }
  };
  auto r = first_refused(true);
  ASSERT_FALSE(r.ok()) << "still accepted 10 s after the pause";
  EXPECT_EQ(r.err().subject, "status");
  auto active = test::run_command(test::flowtrackd() + " workflow activate " + wf + " --database-url " + test::shell_quote(test::database_url()));
  ASSERT_EQ(active.exit_code, 0) << active.err;
  EXPECT_TRUE(first_refused(false).ok()) << "still refused 10 s after the activation";
}

}  // namespace
}  // namespace flowtrack

namespace flowtrack {
namespace {

// Conditions, a split-free chain of lead changes and both ends: everything a run settles at intake.
const char* k_settleable = R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"c","type":"LOGIC_CONDITION","position":{"x":0,"y":1},"data":{"field":"budget","operator":">=","value":5000,"trueHandle":"yes","falseHandle":"no"}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":2},"data":{"status":"QUALIFIED"}},
  {"id":"g","type":"ACTION_ADD_TAG","position":{"x":0,"y":3},"data":{"tag":"hot"}},
  {"id":"p","type":"ACTION_UPDATE_SCORE","position":{"x":0,"y":4},"data":{"delta":25}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":5},"data":{}},
  {"id":"r","type":"ACTION_ADD_TAG","position":{"x":1,"y":2},"data":{"tag":"cold"}},
  {"id":"x","type":"ACTION_UPDATE_SCORE","position":{"x":1,"y":3},"data":{"delta":-5}},
  {"id":"n","type":"LOGIC_END","position":{"x":1,"y":4},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"c"},{"id":"2","source":"c","target":"s","sourceHandle":"yes"},
          {"id":"3","source":"s","target":"g"},{"id":"4","source":"g","target":"p"},{"id":"5","source":"p","target":"e"},
          {"id":"6","source":"c","target":"r","sourceHandle":"no"},{"id":"7","source":"r","target":"x"},
          {"id":"8","source":"x","target":"n"}]})";

// What one execution wrote, as text with ids, times and durations masked: a run settled at intake and the
// same run stepped by a run actor must write the same rows.
std::string rows_of(pg::connection& c, const std::string& execution_id) {
  static const char* k_mask =
      "regexp_replace(regexp_replace(%s, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g'),"
      " '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+Z?|[0-9]+ ms', '<time>', 'g')";
  auto masked = [](const std::string& expr) {
    std::string m = k_mask;
    return m.replace(m.find("%s"), 2, expr);
  };
  const std::vector<std::pair<std::string, std::string>> queries{
      {"execution",
       "SELECT concat_ws(' | ', status, trigger_type, (SELECT react_flow_node_id FROM workflow_nodes WHERE id = trigger_node_id), "
       "coalesce(error_message, '-'), retry_count, max_retries, "
       "started_at IS NOT NULL, completed_at IS NOT NULL, duration_ms IS NOT NULL, " +
           masked("coalesce(output_data::text, '-')") + ", " + masked("trigger_data::text") +
           ") FROM workflow_executions WHERE id = $1::uuid"},
      {"steps",
       "SELECT concat_ws(' | ', s.step_number, n.react_flow_node_id, n.node_type, s.status, coalesce(s.error_message, '-'), s.retry_count, "
       "s.started_at IS NOT NULL, s.completed_at IS NOT NULL, " +
           masked("coalesce(s.input_data::text, '-')") + ", " + masked("coalesce(s.output_data::text, '-')") +
           ") FROM execution_steps s JOIN workflow_nodes n ON n.id = s.workflow_node_id WHERE s.execution_id = $1::uuid "
           "ORDER BY s.step_number"},
      {"lead",
       "SELECT concat_ws(' | ', l.status, l.tags::text, l.score, l.name, l.email) FROM leads l "
       "JOIN workflow_executions e ON e.lead_id = l.id WHERE e.id = $1::uuid"},
      {"lead events",
       "SELECT concat_ws(' | ', v.event_type, v.event_category, " + masked("coalesce(v.description, '-')") + ", " +
           masked("coalesce(v.metadata::text, '-')") + ", v.triggered_by_workflow_execution_id IS NOT NULL) "
           "FROM lead_events v JOIN workflow_executions e ON e.lead_id = v.lead_id WHERE e.id = $1::uuid "
           "ORDER BY v.created_at, v.event_type, v.metadata::text"},
      {"logs",
       "SELECT concat_ws(' | ', log_level, log_category, coalesce(node_type, '-'), " + masked("message") + ", " +
           masked("coalesce(details::text, '-')") + ", execution_step_id IS NOT NULL) FROM execution_logs "
           "WHERE execution_id = $1::uuid ORDER BY created_at, message"},
      {"usage", "SELECT concat_ws(' | ', u.event_type, u.quantity) FROM usage_events u WHERE u.related_resource_id = $1::uuid "
                "ORDER BY u.event_type"},
  };
  std::string out;
  for (const auto& [what, sql] : queries) {
    auto r = c.exec(sql, pg::params{}.add(execution_id));
    EXPECT_TRUE(r.ok()) << what << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok()) continue;
    out += "== " + what + "\n";
    for (int i = 0; i < r->size(); ++i) out += std::string(r->get(i, 0)) + "\n";
  }
  return out;
}

// Runs one lead through a fresh workflow of `graph` on a node that settles at intake or not, and
// returns what the execution wrote once it finished.
std::string run_once(pg::connection& c, const char* graph, const json::value& the_lead, bool settle) {
  auto ws = test::make_workspace(c);
  auto wf = test::make_workflow(c, ws.id, graph, budget_field());
  test::engine_node node([settle](actors::node_services& n) { n.options.settle_at_intake = settle; });
  auto r = node.trigger(ws.id, wf, the_lead);
  EXPECT_TRUE(r.ok() && r->execution_id) << (r.ok() ? "no execution" : r.err().message);
  if (!r.ok() || !r->execution_id) return {};
  EXPECT_EQ(r->settled, settle) << "the trigger was " << (r->settled ? "" : "not ") << "settled at intake";
  EXPECT_EQ(test::await_value(c, "SELECT count(*) FROM workflow_executions WHERE id = $1 AND status IN ('completed', 'failed')",
                              *r->execution_id, 1, 30s),
            1);
  return rows_of(c, *r->execution_id);
}

TEST(engine, a_run_settled_at_intake_writes_the_same_rows_as_a_run_actor) {
  auto c = test::db();
  for (int budget : {9000, 100}) {
    auto the_lead = lead("same" + std::to_string(budget) + "@example.com", budget);
    auto settled = run_once(*c, k_settleable, the_lead, true);
    auto stepped = run_once(*c, k_settleable, the_lead, false);
    EXPECT_NE(settled.find("== steps\n1 | t |"), std::string::npos) << settled;
    EXPECT_NE(settled.find(budget >= 5000 ? "QUALIFIED" : "cold"), std::string::npos) << settled;
    EXPECT_EQ(settled, stepped) << "budget " << budget;
  }
}

}  // namespace
}  // namespace flowtrack
