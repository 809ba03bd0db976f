// The workspace actor, reached through the workspace registry as ingress reaches it, on CAF's
// test coordinator with an in-memory store and the real storage writer: loading, admission,
// intake settling, tenant changes and resumes, each step happening when the test answers.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/actors/actor_harness.hpp"

namespace flowtrack::test {
namespace {

using actors::ingest_reply;

class workspace_test : public actors_on_test_coordinator {
 protected:
  caf::actor start_registry() {
    start_writer();
    auto r = track(sys_.spawn(actors::workspace_registry, &node_));
    sched_.run();
    return r;
  }
  static actors::trigger_request manual_trigger(const std::string& email) {
    actors::trigger_request r{k_workspace_id, k_workflow_id, {}, std::nullopt};
    r.intake.kind = domain::trigger_kind::manual;
    r.intake.lead = boost::json::value{{"email", email}, {"name", "Ada"}};
    return r;
  }
  static actors::trigger_request webhook_trigger(std::string body, std::optional<std::string> token) {
    actors::trigger_request r{k_workspace_id, k_workflow_id, {}, std::move(token)};
    r.intake.kind = domain::trigger_kind::webhook;
    r.intake.raw_lead = std::move(body);
    return r;
  }
  /// Answers the pending workspace load.
  void answer_load(result<actors::workspace_load> l) {
    ASSERT_EQ(store_.loads.size(), 1u);
    auto load = memory_store::take(store_.loads);
    EXPECT_EQ(load.args, k_workspace_id);
    load.done(std::move(l));
    sched_.run();
  }
  /// Commits the batch the writer sends next, every trigger a new lead.
  std::vector<domain::trigger_record> commit_batch() {
    pass_group_commit_wait();
    EXPECT_EQ(store_.ingests.size(), 1u);
    if (store_.ingests.empty()) return {};
    auto batch = memory_store::take(store_.ingests);
    batch.done(fresh_leads(batch.args));
    sched_.run();
    return batch.args;
  }
  static void expect_refused(const std::shared_ptr<std::optional<ingest_reply>>& a, error_code code) {
    ASSERT_TRUE(a->has_value()) << "not answered";
    ASSERT_FALSE((*a)->ok()) << "accepted";
    EXPECT_EQ((*a)->err().code, code) << (*a)->err().message;
  }
};

TEST_F(workspace_test, a_trigger_waits_for_the_first_load_and_is_answered_after_the_writers_commit) {
  auto registry = start_registry();
  auto a = ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("ada@example.com"));
  EXPECT_FALSE(a->has_value());
  EXPECT_TRUE(store_.ingests.empty());
  answer_load(load_of(workspace(), workflow(k_tag_graph)));
  EXPECT_FALSE(a->has_value()) << "answered before the commit";
  pass_group_commit_wait();
  ASSERT_EQ(store_.ingests.size(), 1u);
  auto batch = memory_store::take(store_.ingests);
  ASSERT_EQ(batch.args.size(), 1u);
  EXPECT_EQ(batch.args[0].workflow_id, k_workflow_id);
  EXPECT_EQ(batch.args[0].email, "ada@example.com");
  sched_.run();
  EXPECT_FALSE(a->has_value()) << "answered before the commit";
  batch.done(fresh_leads(batch.args));
  sched_.run();
  ASSERT_TRUE(a->has_value());
  ASSERT_TRUE((*a)->ok()) << (*a)->err().message;
  EXPECT_EQ((**a)->execution_id, batch.args[0].execution_id);

  // Loaded now: the next trigger goes straight to the writer.
  ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("bob@example.com"));
  EXPECT_TRUE(store_.loads.empty());
  auto second = commit_batch();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].email, "bob@example.com");
}

TEST_F(workspace_test, a_failed_load_answers_every_waiting_trigger_with_its_error_and_the_next_trigger_loads_again) {
  auto registry = start_registry();
  auto first = ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("ada@example.com"));
  auto second = ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("bob@example.com"));
  ASSERT_EQ(store_.loads.size(), 1u) << "one load for both";
  answer_load(make_error(error_code::unavailable, "the database went away"));
  for (auto& a : {first, second}) {
    expect_refused(a, error_code::unavailable);
    EXPECT_EQ((*a)->err().message, "the database went away");
  }
  pass_group_commit_wait();
  EXPECT_TRUE(store_.ingests.empty());
  ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("cy@example.com"));
  EXPECT_EQ(store_.loads.size(), 1u) << "a failed load is not remembered";
}

TEST_F(workspace_test, an_inactive_workspace_takes_no_triggers) {
  auto registry = start_registry();
  auto a = ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("ada@example.com"));
  answer_load(load_of(workspace(/*active=*/false), workflow(k_tag_graph)));
  expect_refused(a, error_code::not_found);
  EXPECT_EQ((*a)->err().subject, "workspace");
  pass_group_commit_wait();
  EXPECT_TRUE(store_.ingests.empty());
}

TEST_F(workspace_test, a_webhook_trigger_with_a_wrong_token_is_refused_before_its_body_is_parsed) {
  auto registry = start_registry();
  // The body is not JSON: a refusal for the body would mean it was parsed first.
  auto wrong = ask<ingest_reply>(registry, actors::trigger_atom::value, webhook_trigger("{not json", std::string("guess")));
  auto missing = ask<ingest_reply>(registry, actors::trigger_atom::value, webhook_trigger("{not json", std::nullopt));
  answer_load(load_of(workspace(), workflow(k_tag_graph, domain::workflow_status::active, "s3cret")));
  expect_refused(wrong, error_code::unauthorized);
  expect_refused(missing, error_code::unauthorized);
  auto right = ask<ingest_reply>(registry, actors::trigger_atom::value, webhook_trigger("{not json", std::string("s3cret")));
  expect_refused(right, error_code::invalid);
  EXPECT_EQ((*right)->err().message.rfind("the body is not valid JSON", 0), 0u) << (*right)->err().message;
  pass_group_commit_wait();
  EXPECT_TRUE(store_.ingests.empty());
}

TEST_F(workspace_test, a_tenant_change_marks_the_workspace_stale_and_triggers_wait_for_the_reload) {
  auto registry = start_registry();
  ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("ada@example.com"));
  answer_load(load_of(workspace(), workflow(k_tag_graph)));
  commit_batch();

  // The registry's tenant poll reports the workflow changed (paused elsewhere).
  ASSERT_EQ(store_.polls.size(), 1u) << "the registry polls from its start";
  storage::tenant_changes changes;
  storage::tenant_change ch;
  ch.what = storage::tenant_change::kind::workflow;
  ch.id = k_workflow_id;
  ch.workspace_id = k_workspace_id;
  ch.fingerprint = "wf-v2";
  ch.usable = true;
  changes.changes.push_back(ch);
  changes.next_since = "2026-11-30 00:00:00";
  memory_store::take(store_.polls).done(changes);
  sched_.run();
  ASSERT_EQ(store_.loads.size(), 1u) << "a changed workflow is read again";

  auto waiting = ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("bob@example.com"));
  pass_group_commit_wait();
  EXPECT_TRUE(store_.ingests.empty()) << "the trigger ran on the stale workflow";
  EXPECT_FALSE(waiting->has_value());
  answer_load(load_of(workspace(), workflow(k_tag_graph, domain::workflow_status::paused)));
  expect_refused(waiting, error_code::invalid);
  EXPECT_EQ((*waiting)->err().subject, "status");

  // The same change reported by the next poll is not acted on twice.
  sched_.advance_time(node_.options.tenant_poll_interval);
  sched_.run();
  ASSERT_EQ(store_.polls.size(), 1u);
  EXPECT_EQ(store_.polls.front().args, "2026-11-30 00:00:00") << "the next poll starts where the last ended";
  memory_store::take(store_.polls).done(changes);
  sched_.run();
  EXPECT_TRUE(store_.loads.empty());
}

TEST_F(workspace_test, a_run_that_needs_no_io_is_settled_at_intake_and_written_with_its_trigger) {
  auto registry = start_registry();
  auto a = ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("ada@example.com"));
  answer_load(load_of(workspace(), workflow(k_tag_graph)));
  auto batch = commit_batch();
  ASSERT_EQ(batch.size(), 1u);
  ASSERT_TRUE(batch[0].settled.has_value()) << "the run was not settled at intake";
  const auto& run = *batch[0].settled;
  EXPECT_EQ(run.status, domain::execution_status::completed);
  EXPECT_EQ(run.execution_id, batch[0].execution_id);
  EXPECT_EQ(run.lead.add_tags, std::vector<std::string>{"hot"});
  EXPECT_EQ(run.completed_at, domain::sql_timestamp(k_start_ms));
  EXPECT_FALSE(run.steps.empty());
  ASSERT_TRUE(a->has_value());
  ASSERT_TRUE((*a)->ok()) << (*a)->err().message;
  EXPECT_TRUE((**a)->settled);
  EXPECT_TRUE(store_.lock_acquisitions.empty()) << "a settled run needs no run actor";
}

TEST_F(workspace_test, without_settling_at_intake_a_committed_trigger_starts_its_run) {
  node_.options.settle_at_intake = false;
  auto registry = start_registry();
  auto a = ask<ingest_reply>(registry, actors::trigger_atom::value, manual_trigger("ada@example.com"));
  answer_load(load_of(workspace(), workflow(k_tag_graph)));
  pass_group_commit_wait();
  ASSERT_EQ(store_.ingests.size(), 1u);
  EXPECT_FALSE(store_.ingests.front().args[0].settled.has_value());
  EXPECT_TRUE(store_.lock_acquisitions.empty()) << "a run started before its trigger was durable";
  auto batch = memory_store::take(store_.ingests);
  batch.done(fresh_leads(batch.args));
  sched_.run();
  ASSERT_TRUE(a->has_value() && (*a)->ok());
  ASSERT_EQ(store_.lock_acquisitions.size(), 1u);
  EXPECT_EQ(store_.lock_acquisitions.front().args.name, "exec:" + batch.args[0].execution_id);
}

TEST_F(workspace_test, a_resume_loads_the_execution_and_spawns_its_run) {
  auto registry = start_registry();
  redis::claimed claim{"exec-r", k_start_ms, 7, 1};
  caf::anon_send(registry, actors::resume_atom::value, actors::resume_request{k_workspace_id, "exec-r", claim});
  sched_.run();
  answer_load(load_of(workspace(), workflow(k_tag_graph)));
  ASSERT_EQ(store_.executions.size(), 1u);
  auto load = memory_store::take(store_.executions);
  EXPECT_EQ(load.args, "exec-r");
  storage::execution_state e;
  e.id = "exec-r";
  e.workspace_id = k_workspace_id;
  e.workflow_id = k_workflow_id;
  e.workflow_version = 1;
  e.lead_id = "lead-r";
  e.status = domain::execution_status::queued;
  e.lead_json = R"({"id":"lead-r","email":"r@example.com"})";
  e.created_at_ms = k_start_ms;
  load.done(e);
  sched_.run();
  ASSERT_EQ(store_.lock_acquisitions.size(), 1u) << "no run actor asked for the execution's lock";
  auto lock = memory_store::take(store_.lock_acquisitions);
  EXPECT_EQ(lock.args.name, "exec:exec-r");
  EXPECT_EQ(lock.args.owner.rfind("test-node:", 0), 0u) << lock.args.owner;
  // Held elsewhere: the run leaves the queue entry for a later attempt.
  lock.done(std::optional<redis::lease>());
  sched_.run();
  EXPECT_TRUE(store_.releases.empty());
}

TEST_F(workspace_test, a_look_up_refused_by_a_full_queue_answers_unavailable_at_once_and_is_not_remembered) {
  auto registry = start_registry();
  auto by_workflow = manual_trigger("ada@example.com");
  by_workflow.workspace_id.clear();  // as a webhook arrives: only the workflow is known
  store_.refuse_outside_work = true;
  auto refused = ask<ingest_reply>(registry, actors::trigger_atom::value, by_workflow);
  expect_refused(refused, error_code::unavailable);
  EXPECT_TRUE(store_.lookups.empty());

  store_.refuse_outside_work = false;
  auto a = ask<ingest_reply>(registry, actors::trigger_atom::value, by_workflow);
  sched_.advance_time(std::chrono::milliseconds(2));  // look-ups are spaced a little apart
  sched_.run();
  ASSERT_EQ(store_.lookups.size(), 1u) << "the refusal was remembered as an answer";
  auto lookup = memory_store::take(store_.lookups);
  EXPECT_EQ(lookup.args.workflows, std::vector<std::string>{k_workflow_id});
  storage::tenant_lookup found;
  found.workflows[k_workflow_id] = k_workspace_id;
  lookup.done(found);
  sched_.run();
  answer_load(load_of(workspace(), workflow(k_tag_graph)));
  commit_batch();
  ASSERT_TRUE(a->has_value());
  EXPECT_TRUE((*a)->ok()) << (*a)->err().message;
}

}  // namespace
}  // namespace flowtrack::test
