// Trigger intake against real PostgreSQL: every row written, resubmissions (fill-only, recorded), idempotency under
// concurrency, one bad trigger in a batch, quotas at 100% and beyond 120%.
#include <gtest/gtest.h>

#include <thread>

#include "storage/ingest.hpp"
#include "domain/ids.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

std::unique_ptr<pg::connection> connect() {
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return std::move(*c);
}

struct workspace_fixture {
  std::unique_ptr<pg::connection> c = connect();
  std::string workspace_id, workflow_id, field_budget, field_company;

  workspace_fixture() {
    std::string tag = test::unique_name("ing");
    auto user = c->exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(tag + "@example.com"));
    workspace_id = c->exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                           pg::params{}.add(tag).add(std::string(user->get(0, 0))))->get(0, 0);
    workflow_id = c->exec("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id",
                          pg::params{}.add(workspace_id))->get(0, 0);
    field_budget = c->exec("INSERT INTO form_fields (workflow_id, field_key, label, field_type) VALUES ($1, 'budget', 'Budget', 'NUMBER') RETURNING id",
                           pg::params{}.add(workflow_id))->get(0, 0);
    field_company = c->exec("INSERT INTO form_fields (workflow_id, field_key, label, field_type) VALUES ($1, 'size', 'Size', 'TEXT') RETURNING id",
                            pg::params{}.add(workflow_id))->get(0, 0);
  }

  domain::trigger_record trigger(const std::string& email) const {
    domain::trigger_record t;
    t.workspace_id = workspace_id;
    t.workflow_id = workflow_id;
    t.trigger_type = "FORM_SUBMIT";
    t.event_type = "FORM_SUBMITTED";
    t.source = "FORM";
    t.email = email;
    t.name = "Ada";
    t.source_metadata = R"({"ip":"127.0.0.1"})";
    t.trigger_data = R"({"budget":7000})";
    t.fields = {{field_budget, "7000"}, {field_company, "10-50"}};
    t.quotas = {1000, 1000, "2026-11-01", "2026-11-30"};
    t.execution_id = domain::new_uuid();
    return t;
  }

  std::int64_t count(const std::string& sql) {
    auto r = c->exec(sql, pg::params{}.add(workspace_id));
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    return r.ok() ? r->get_int(0, 0) : -1;
  }
};

TEST(ingest, new_lead_writes_every_row_in_one_go) {
  workspace_fixture f;
  auto t = f.trigger("ada@example.com");
  auto out = ingest_batch(*f.c, {t});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].ok()) << out[0].err().message;
  EXPECT_TRUE(out[0]->lead_created);
  EXPECT_FALSE(out[0]->duplicate);
  ASSERT_TRUE(out[0]->execution_id);
  EXPECT_EQ(*out[0]->execution_id, t.execution_id);

  auto lead = f.c->exec("SELECT email, name, source, status, source_metadata->>'ip', workspace_id FROM leads WHERE id = $1",
                        pg::params{}.add(out[0]->lead_id));
  ASSERT_TRUE(lead.ok());
  ASSERT_EQ(lead->size(), 1);
  EXPECT_EQ(lead->get(0, 0), "ada@example.com");
  EXPECT_EQ(lead->get(0, 1), "Ada");
  EXPECT_EQ(lead->get(0, 2), "FORM");
  EXPECT_EQ(lead->get(0, 3), "NEW");
  EXPECT_EQ(lead->get(0, 4), "127.0.0.1");
  EXPECT_EQ(lead->get(0, 5), f.workspace_id);

  EXPECT_EQ(f.count("SELECT count(*) FROM lead_field_data d JOIN leads l ON l.id = d.lead_id WHERE l.workspace_id = $1"), 2);
  auto ex = f.c->exec("SELECT status, trigger_type, lead_id, trigger_data->>'budget' FROM workflow_executions WHERE id = $1",
                      pg::params{}.add(t.execution_id));
  ASSERT_TRUE(ex.ok());
  ASSERT_EQ(ex->size(), 1);
  EXPECT_EQ(ex->get(0, 0), "queued");
  EXPECT_EQ(ex->get(0, 1), "FORM_SUBMIT");
  EXPECT_EQ(ex->get(0, 2), out[0]->lead_id);
  EXPECT_EQ(ex->get(0, 3), "7000");
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1 AND e.event_type = 'FORM_SUBMITTED'"), 1);
  EXPECT_EQ(f.count("SELECT sum(quantity) FROM usage_events WHERE workspace_id = $1 AND event_type = 'workflow_execution'"), 1);
  EXPECT_EQ(f.count("SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'executions'"), 1);
  EXPECT_EQ(f.count("SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'leads'"), 1);
}

// A run settled before the commit (no I/O): its execution is written finished with its steps,
// events, log and counter delta, and the new lead carries its status, tags and score.
domain::run_record settled_run(const std::string& node_id) {
  domain::run_record r;
  r.status = domain::execution_status::completed;
  r.started_at = "2026-11-25 10:00:00.000";
  r.completed_at = "2026-11-25 10:00:00.002";
  r.duration_ms = 2;
  r.output_data = R"({"steps":2})";
  r.checkpoint = R"({"status":"completed"})";
  r.lead.status = "QUALIFIED";
  r.lead.add_tags = {"hot", "vip", "cold"};
  r.lead.remove_tags = {"cold"};
  r.lead.score_delta = 15;
  for (int i = 1; i <= 2; ++i) {
    domain::step_write s;
    s.id = domain::new_uuid();
    s.workflow_node_id = node_id;
    s.step_number = i;
    s.status = domain::step_status::completed;
    s.started_at = r.started_at;
    s.completed_at = r.completed_at;
    s.duration_ms = 0;
    s.output_data = R"({"ok":true})";
    r.steps.push_back(s);
  }
  r.events.push_back({"STATUS_CHANGED", "automation", "Status changed from NEW to QUALIFIED", R"({"workflowId":"x"})"});
  r.logs.push_back({"INFO", "execution", "execution completed in 2 ms", std::nullopt, std::nullopt, std::nullopt});
  return r;
}

TEST(ingest, a_settled_run_is_written_finished_with_a_new_lead) {
  workspace_fixture f;
  auto node = f.c->exec("INSERT INTO workflow_nodes (workflow_id, react_flow_node_id, node_type, node_category) "
                        "VALUES ($1, 'n1', 'LOGIC_END', 'logic') RETURNING id", pg::params{}.add(f.workflow_id));
  ASSERT_TRUE(node.ok());
  auto t = f.trigger("settled@example.com");
  t.lead_id = domain::new_uuid();
  t.settled = settled_run(std::string(node->get(0, 0)));
  auto out = ingest_batch(*f.c, {t});
  ASSERT_TRUE(out[0].ok()) << out[0].err().message;
  EXPECT_TRUE(out[0]->settled);
  EXPECT_EQ(out[0]->lead_id, t.lead_id);
  auto ex = f.c->exec("SELECT status, duration_ms, output_data->>'steps', checkpoint->>'status', started_at IS NOT NULL,"
                      " completed_at IS NOT NULL FROM workflow_executions WHERE id = $1", pg::params{}.add(t.execution_id));
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->get(0, 0), "completed");
  EXPECT_EQ(ex->get_int(0, 1), 2);
  EXPECT_EQ(ex->get(0, 2), "2");
  EXPECT_EQ(ex->get(0, 3), "completed");
  EXPECT_TRUE(ex->get_bool(0, 4) && ex->get_bool(0, 5));
  auto lead = f.c->exec("SELECT status, array_to_string(tags, ','), score FROM leads WHERE id = $1", pg::params{}.add(t.lead_id));
  EXPECT_EQ(lead->get(0, 0), "QUALIFIED");
  EXPECT_EQ(lead->get(0, 1), "hot,vip");
  EXPECT_EQ(lead->get_int(0, 2), 15);
  EXPECT_EQ(f.count("SELECT count(*) FROM execution_steps s JOIN workflow_executions e ON e.id = s.execution_id WHERE e.workspace_id = $1"), 2);
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1"
                    " AND e.event_type = 'STATUS_CHANGED' AND e.triggered_by_workflow_execution_id IS NOT NULL"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM execution_logs WHERE workspace_id = $1"), 1);
  // Counted once: as a delta, or already folded by a node of another test.
  EXPECT_EQ(f.count("SELECT (SELECT COALESCE(sum(finished), 0) FROM execution_stat_deltas WHERE workspace_id = $1)"
                    " + (SELECT sum(total_executions) FROM workflows WHERE workspace_id = $1)"), 1);
}

TEST(ingest, a_settled_run_for_a_lead_that_exists_is_queued_instead) {
  workspace_fixture f;
  auto node = f.c->exec("INSERT INTO workflow_nodes (workflow_id, react_flow_node_id, node_type, node_category) "
                        "VALUES ($1, 'n1', 'LOGIC_END', 'logic') RETURNING id", pg::params{}.add(f.workflow_id));
  ASSERT_TRUE(node.ok());
  ASSERT_TRUE(ingest_batch(*f.c, {f.trigger("there@example.com")})[0].ok());
  auto t = f.trigger("there@example.com");
  t.rerun_on_resubmit = true;
  t.lead_id = domain::new_uuid();
  t.settled = settled_run(std::string(node->get(0, 0)));
  auto out = ingest_batch(*f.c, {t});
  ASSERT_TRUE(out[0].ok()) << out[0].err().message;
  EXPECT_FALSE(out[0]->settled);
  EXPECT_FALSE(out[0]->lead_created);
  EXPECT_NE(out[0]->lead_id, t.lead_id);
  auto ex = f.c->exec("SELECT status, output_data IS NULL FROM workflow_executions WHERE id = $1", pg::params{}.add(t.execution_id));
  EXPECT_EQ(ex->get(0, 0), "queued");
  EXPECT_TRUE(ex->get_bool(0, 1));
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1 AND status = 'NEW' AND tags IS NULL"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM execution_steps s JOIN workflow_executions e ON e.id = s.execution_id WHERE e.workspace_id = $1"), 0);
  EXPECT_EQ(f.count("SELECT (SELECT count(*) FROM execution_stat_deltas WHERE workspace_id = $1)"
                    " + (SELECT sum(total_executions) FROM workflows WHERE workspace_id = $1)"), 0);
}

TEST(ingest, resubmission_fills_only_empty_fields_records_its_values_and_reruns_only_when_asked) {
  workspace_fixture f;
  auto first_trigger = f.trigger("bob@example.com");
  first_trigger.fields = {{f.field_budget, "7000"}};  // size left empty
  auto first = ingest_batch(*f.c, {first_trigger});
  ASSERT_TRUE(first[0].ok()) << first[0].err().message;
  ASSERT_FALSE(first[0]->event_id.empty());
  auto again = f.trigger("BOB@Example.com");
  again.name = "Robert";
  again.phone = "+49 30 1234";
  again.fields = {{f.field_budget, "9000"}, {f.field_company, "51+"}};
  auto second = ingest_batch(*f.c, {again});
  ASSERT_TRUE(second[0].ok()) << second[0].err().message;
  EXPECT_FALSE(second[0]->lead_created);
  EXPECT_FALSE(second[0]->execution_id) << "rerunOnResubmit is off";
  EXPECT_NE(second[0]->event_id, first[0]->event_id);
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1"), 1);
  // What the lead had stays; what it lacked is filled.
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1 AND name = 'Ada' AND phone = '+49 30 1234'"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_field_data d JOIN leads l ON l.id = d.lead_id WHERE l.workspace_id = $1 AND d.value = '7000'"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_field_data d JOIN leads l ON l.id = d.lead_id WHERE l.workspace_id = $1 AND d.value = '9000'"), 0);
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_field_data d JOIN leads l ON l.id = d.lead_id WHERE l.workspace_id = $1 AND d.value = '51+'"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM workflow_executions WHERE workspace_id = $1"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1"), 2);
  // The resubmission's values are in its event, under the id the submission was answered with.
  auto ev = f.c->exec("SELECT event_type, metadata->'submitted'->>'name', metadata->'submitted'->'fields'->>'budget',"
                      " metadata->'submitted'->'fields'->>'size' FROM lead_events WHERE id = $1",
                      pg::params{}.add(second[0]->event_id));
  ASSERT_TRUE(ev.ok() && ev->size() == 1) << (ev.ok() ? "no event with the submission id" : ev.err().message);
  EXPECT_EQ(ev->get(0, 0), "FORM_RESUBMITTED");
  EXPECT_EQ(ev->get(0, 1), "Robert");
  EXPECT_EQ(ev->get(0, 2), "9000");
  EXPECT_EQ(ev->get(0, 3), "51+");
  auto first_ev = f.c->exec("SELECT event_type FROM lead_events WHERE id = $1", pg::params{}.add(first[0]->event_id));
  ASSERT_TRUE(first_ev.ok() && first_ev->size() == 1);
  EXPECT_EQ(first_ev->get(0, 0), "FORM_SUBMITTED");

  auto rerun = f.trigger("bob@example.com");
  rerun.rerun_on_resubmit = true;
  auto third = ingest_batch(*f.c, {rerun});
  ASSERT_TRUE(third[0].ok());
  EXPECT_TRUE(third[0]->execution_id);
  EXPECT_EQ(f.count("SELECT count(*) FROM workflow_executions WHERE workspace_id = $1"), 2);
  EXPECT_EQ(f.count("SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'leads'"), 1);
}

TEST(ingest, a_resubmission_brings_a_deleted_lead_back) {
  workspace_fixture f;
  auto first = ingest_batch(*f.c, {f.trigger("gone@example.com")});
  ASSERT_TRUE(first[0].ok()) << first[0].err().message;
  ASSERT_TRUE(f.c->exec("UPDATE leads SET deleted_at = now() WHERE id = $1", pg::params{}.add(first[0]->lead_id)).ok());
  auto again = ingest_batch(*f.c, {f.trigger("gone@example.com")});
  ASSERT_TRUE(again[0].ok()) << again[0].err().message;
  EXPECT_EQ(again[0]->lead_id, first[0]->lead_id);
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1 AND deleted_at IS NULL"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1"
                    " AND e.event_type = 'FORM_RESUBMITTED'"), 1);
}

TEST(ingest, same_email_twice_in_one_batch_is_one_lead) {
  workspace_fixture f;
  auto a = f.trigger("cy@example.com");
  auto b = f.trigger("CY@example.com");
  b.name = "Cyrus";
  b.rerun_on_resubmit = true;
  auto out = ingest_batch(*f.c, {a, b});
  ASSERT_TRUE(out[0].ok() && out[1].ok());
  EXPECT_EQ(out[0]->lead_id, out[1]->lead_id);
  EXPECT_TRUE(out[0]->lead_created);
  EXPECT_FALSE(out[1]->lead_created);
  EXPECT_EQ(f.count("SELECT count(*) FROM workflow_executions WHERE workspace_id = $1"), 2);
  // The second keeps the lead's name (it had one) and records its own in a resubmission event.
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1 AND name = 'Ada'"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1"
                    " AND e.event_type = 'FORM_RESUBMITTED' AND e.metadata->'submitted'->>'name' = 'Cyrus'"), 1);
}

TEST(ingest, repeated_idempotency_key_returns_the_first_execution_and_writes_nothing) {
  workspace_fixture f;
  auto t = f.trigger("dee@example.com");
  t.idempotency_key = "form-123";
  auto first = ingest_batch(*f.c, {t});
  ASSERT_TRUE(first[0].ok());
  auto rows_before = f.count("SELECT (SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1)"
                             " + (SELECT count(*) FROM usage_events WHERE workspace_id = $1)");
  auto repeat = f.trigger("other@example.com");
  repeat.idempotency_key = "form-123";
  auto second = ingest_batch(*f.c, {repeat});
  ASSERT_TRUE(second[0].ok()) << second[0].err().message;
  EXPECT_TRUE(second[0]->duplicate);
  EXPECT_EQ(*second[0]->execution_id, *first[0]->execution_id);
  EXPECT_EQ(second[0]->lead_id, first[0]->lead_id);
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1"), 1) << "the duplicate wrote no lead";
  EXPECT_EQ(f.count("SELECT (SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1)"
                    " + (SELECT count(*) FROM usage_events WHERE workspace_id = $1)"), rows_before);
}

TEST(ingest, concurrent_duplicate_keys_give_one_execution) {
  workspace_fixture f;
  constexpr int k_threads = 8;
  std::vector<std::string> execution_ids(k_threads);
  std::vector<std::thread> threads;
  for (int i = 0; i < k_threads; ++i)
    threads.emplace_back([&, i] {
      auto c = connect();
      auto t = f.trigger("race" + std::to_string(i) + "@example.com");
      t.idempotency_key = "same-key";
      auto out = ingest_batch(*c, {t});
      if (out[0].ok() && out[0]->execution_id) execution_ids[i] = *out[0]->execution_id;
    });
  for (auto& t : threads) t.join();
  for (int i = 1; i < k_threads; ++i) EXPECT_EQ(execution_ids[i], execution_ids[0]);
  EXPECT_FALSE(execution_ids[0].empty());
  EXPECT_EQ(f.count("SELECT count(*) FROM workflow_executions WHERE workspace_id = $1"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1"), 1);
}

TEST(ingest, one_bad_trigger_does_not_reject_the_batch) {
  workspace_fixture f;
  std::vector<domain::trigger_record> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(f.trigger("ok" + std::to_string(i) + "@example.com"));
  batch[4].fields.push_back({domain::new_uuid(), "dangling"});  // no such form field
  auto out = ingest_batch(*f.c, batch);
  ASSERT_EQ(out.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    if (i == 4) {
      ASSERT_FALSE(out[i].ok());
      EXPECT_EQ(out[i].err().code, error_code::not_found);
    } else {
      EXPECT_TRUE(out[i].ok()) << i << ": " << out[i].err().message;
    }
  }
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1"), 9) << "nothing partial of the bad one";
  EXPECT_EQ(f.count("SELECT sum(quantity) FROM usage_events WHERE workspace_id = $1 AND event_type = 'workflow_execution'"), 9);
}

TEST(ingest, a_batch_bills_its_executions_in_one_usage_row) {
  workspace_fixture f;
  std::vector<domain::trigger_record> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(f.trigger("billed" + std::to_string(i) + "@example.com"));
  for (const auto& r : ingest_batch(*f.c, batch)) ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(f.count("SELECT count(*) FROM usage_events WHERE workspace_id = $1 AND event_type = 'workflow_execution'"), 1);
  EXPECT_EQ(f.count("SELECT sum(quantity) FROM usage_events WHERE workspace_id = $1 AND event_type = 'workflow_execution'"), 6);
}

TEST(ingest, quota_warns_at_100_percent_and_rejects_beyond_120) {
  workspace_fixture f;
  int accepted = 0;
  error last_error;
  for (int i = 0; i < 8; ++i) {
    auto t = f.trigger("q" + std::to_string(i) + "@example.com");
    t.quotas.executions = 5;
    auto out = ingest_batch(*f.c, {t});
    if (out[0].ok()) ++accepted;
    else last_error = out[0].err();
  }
  EXPECT_EQ(accepted, 6) << "5 plus the 20% overage";
  EXPECT_EQ(last_error.code, error_code::quota_exceeded);
  EXPECT_EQ(last_error.subject, "executions");
  EXPECT_EQ(f.count("SELECT count(*) FROM usage_events WHERE workspace_id = $1 AND event_type = 'QUOTA_WARNING'"), 1);
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1"), 6) << "a rejected trigger writes nothing";
}

TEST(ingest, unlimited_quota_keeps_no_counter_row) {
  workspace_fixture f;
  auto t = f.trigger("free@example.com");
  t.quotas.executions.reset();
  t.quotas.leads.reset();
  ASSERT_TRUE(ingest_batch(*f.c, {t})[0].ok());
  EXPECT_EQ(f.count("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1"), 0);
}

}  // namespace
}  // namespace flowtrack::storage
