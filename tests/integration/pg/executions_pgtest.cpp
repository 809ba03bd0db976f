// Batch writes of executions and steps: every column lands as given, batches are atomic.
#include <gtest/gtest.h>

#include <future>

#include "storage/executions.hpp"
#include "storage/runs.hpp"
#include "domain/ids.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

struct fixture {
  std::unique_ptr<pg::connection> c;
  std::string workspace_id, workflow_id, node_id;
};

fixture make_fixture() {
  fixture f;
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(c.ok());
  f.c = std::move(*c);
  std::string tag = test::unique_name("ex");
  auto user = f.c->exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(tag + "@example.com"));
  auto ws = f.c->exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('t', $1, $1, $2) RETURNING id",
                      pg::params{}.add(tag).add(std::string(user->get(0, 0))));
  f.workspace_id = ws->get(0, 0);
  auto wf = f.c->exec("INSERT INTO workflows (workspace_id, name) VALUES ($1, 'wf') RETURNING id", pg::params{}.add(f.workspace_id));
  f.workflow_id = wf->get(0, 0);
  auto n = f.c->exec("INSERT INTO workflow_nodes (workflow_id, react_flow_node_id, node_type, node_category) "
                     "VALUES ($1, 'n1', 'LOGIC_END', 'logic') RETURNING id", pg::params{}.add(f.workflow_id));
  f.node_id = n->get(0, 0);
  return f;
}

TEST(executions, batch_lands_every_column_verbatim) {
  auto f = make_fixture();
  std::vector<execution_record> ex;
  std::vector<step_record> st;
  for (int i = 0; i < 50; ++i) {
    execution_record e;
    e.id = domain::new_uuid();
    e.workflow_id = f.workflow_id;
    e.workspace_id = f.workspace_id;
    e.idempotency_key = i % 2 ? std::optional<std::string>("key \"" + std::to_string(i) + "\"\\") : std::nullopt;
    e.trigger_type = "WEBHOOK";
    e.trigger_data = R"({"name":"O'Brien \"Bob\"","note":"a\\b, {c}","ü":1})";
    e.started_at = "2026-01-02 03:04:05.678901";
    for (int s = 1; s <= 3; ++s) {
      step_record r;
      r.id = domain::new_uuid();
      r.execution_id = e.id;
      r.workflow_node_id = f.node_id;
      r.step_number = s;
      r.duration_ms = s * 10;
      r.output_data = R"({"ok":true})";
      st.push_back(r);
    }
    ex.push_back(e);
  }
  auto r = insert_execution_batch(*f.c, ex, st);
  ASSERT_TRUE(r.ok()) << r.err().message;

  auto got = f.c->exec("SELECT idempotency_key, trigger_data->>'name', trigger_data->>'note', started_at::text, status "
                       "FROM workflow_executions WHERE id = $1", pg::params{}.add(ex[1].id));
  ASSERT_TRUE(got.ok()) << got.err().message;
  EXPECT_EQ(got->get(0, 0), *ex[1].idempotency_key);
  EXPECT_EQ(got->get(0, 1), "O'Brien \"Bob\"");
  EXPECT_EQ(got->get(0, 2), "a\\b, {c}");
  EXPECT_EQ(got->get(0, 3), "2026-01-02 03:04:05.678901");
  EXPECT_EQ(got->get(0, 4), "queued");
  EXPECT_TRUE(f.c->exec("SELECT 1 FROM workflow_executions WHERE id = $1 AND idempotency_key IS NULL", pg::params{}.add(ex[0].id))->size() == 1);
  auto steps = f.c->exec("SELECT count(*), sum(duration_ms) FROM execution_steps WHERE execution_id = ANY($1::uuid[])",
                         pg::params{}.add("{" + ex[0].id + "," + ex[49].id + "}"));
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(steps->get_int(0, 0), 6);
  EXPECT_EQ(steps->get_int(0, 1), 120);
}

TEST(executions, a_bad_step_rejects_the_whole_batch) {
  auto f = make_fixture();
  execution_record e;
  e.id = domain::new_uuid();
  e.workflow_id = f.workflow_id;
  e.workspace_id = f.workspace_id;
  e.trigger_type = "MANUAL";
  step_record s;
  s.id = domain::new_uuid();
  s.execution_id = e.id;
  s.workflow_node_id = domain::new_uuid();  // no such node
  s.step_number = 1;
  auto r = insert_execution_batch(*f.c, {e}, {s});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::not_found);
  auto n = f.c->exec("SELECT count(*) FROM workflow_executions WHERE id = $1", pg::params{}.add(e.id));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->get_int(0, 0), 0);
}

// Counter deltas fold into the workflow's counters and the day's stats exactly once, even when
// two nodes fold at the same moment.
TEST(executions, counter_deltas_fold_once_under_concurrent_folds) {
  auto f = make_fixture();
  auto other = pg::connection::open(pg::connect_options{test::database_url()});
  ASSERT_TRUE(other.ok());
  constexpr int k_deltas = 200;
  for (int i = 0; i < k_deltas; ++i) {
    // Every delta: 3 finished (2 ok, 1 failed), 1 email, 300 ms in all, 1 qualified.
    auto r = f.c->exec("INSERT INTO execution_stat_deltas (workflow_id, workspace_id, stat_date, finished, succeeded, failed,"
                       " emails_sent, duration_ms_sum, leads_qualified, leads_won, last_finished_at)"
                       " VALUES ($1, $2, current_date, 3, 2, 1, 1, 300, 1, 0, now())",
                       pg::params{}.add(f.workflow_id).add(f.workspace_id));
    ASSERT_TRUE(r.ok()) << r.err().message;
  }
  auto a = std::async(std::launch::async, [&] { return fold_stat_deltas(*f.c); });
  auto b = std::async(std::launch::async, [&] { return fold_stat_deltas(**other); });
  auto ra = a.get(), rb = b.get();  // (a node of another test may fold some of them too)
  ASSERT_TRUE(ra.ok()) << ra.err().message;
  ASSERT_TRUE(rb.ok()) << rb.err().message;
  auto w = f.c->exec("SELECT total_executions, successful_executions, failed_executions, last_executed_at IS NOT NULL"
                     " FROM workflows WHERE id = $1", pg::params{}.add(f.workflow_id));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->get_int(0, 0), 3 * k_deltas);
  EXPECT_EQ(w->get_int(0, 1), 2 * k_deltas);
  EXPECT_EQ(w->get_int(0, 2), k_deltas);
  EXPECT_TRUE(w->get_bool(0, 3));
  auto d = f.c->exec("SELECT total_executions, successful_executions, failed_executions, emails_sent,"
                     " avg_execution_duration_ms, leads_qualified FROM workspace_daily_stats"
                     " WHERE workspace_id = $1 AND stat_date = current_date", pg::params{}.add(f.workspace_id));
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 1);
  EXPECT_EQ(d->get_int(0, 0), 3 * k_deltas);
  EXPECT_EQ(d->get_int(0, 1), 2 * k_deltas);
  EXPECT_EQ(d->get_int(0, 2), k_deltas);
  EXPECT_EQ(d->get_int(0, 3), k_deltas);
  EXPECT_EQ(d->get_int(0, 4), 100);
  EXPECT_EQ(d->get_int(0, 5), k_deltas);
  auto left = f.c->exec("SELECT count(*) FROM execution_stat_deltas WHERE workflow_id = $1", pg::params{}.add(f.workflow_id));
  EXPECT_EQ(left->get_int(0, 0), 0);
}

}  // namespace
}  // namespace flowtrack::storage
