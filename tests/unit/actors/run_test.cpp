// The run actor on CAF's test coordinator with an in-memory store, the real storage writer and
// a manual wall clock: the lock decides whether it runs, its record is durable before the lock
// is released and the queue entry acked, and a parked run is scheduled only after its record.
#include <gtest/gtest.h>

#include "actors/run.hpp"
#include "tests/unit/actors/actor_harness.hpp"

namespace flowtrack::test {
namespace {

using namespace std::chrono_literals;

class run_test : public actors_on_test_coordinator {
 protected:
  static domain::run_start fresh_start(std::shared_ptr<const domain::workflow_snapshot> wf) {
    domain::run_start s;
    s.execution_id = "exec-1";
    s.workflow = std::move(wf);
    s.workspace = workspace();
    s.lead_id = "lead-1";
    s.lead.id = "lead-1";
    s.lead.email = "ada@example.com";
    s.trigger_data = boost::json::object{{"email", "ada@example.com"}};
    s.trigger_node = "t";
    s.created_at_ms = k_start_ms;
    return s;
  }
  /// Spawns the run as a workspace actor does, woken by `claim_`.
  void start(domain::run_start s) {
    auto dones = dones_;
    auto owner = track(sys_.spawn(
        [dones](caf::event_based_actor*, int) -> caf::behavior {
          return {[dones](actors::done_atom, caf::actor_id) { ++*dones; }};
        },
        0));
    run_ = track(sys_.spawn(actors::run_actor, &node_, std::move(s), std::optional<redis::claimed>(claim_), owner));
    down_ = watch(run_);
    sched_.run();
  }
  /// Answers the run's lock request with `lease` (nullopt: held elsewhere).
  void answer_lock(std::optional<redis::lease> lease) {
    ASSERT_EQ(store_.lock_acquisitions.size(), 1u);
    auto lock = memory_store::take(store_.lock_acquisitions);
    EXPECT_EQ(lock.args.name, "exec:exec-1");
    EXPECT_EQ(lock.args.ttl, node_.options.lock_ttl);
    lock.done(std::move(lease));
    sched_.run();
  }
  /// The run's one record in the writer's next batch.
  memory_store::call<std::vector<domain::run_record>, result<memory_store::record_results>> next_record() {
    pass_group_commit_wait();
    EXPECT_EQ(store_.run_writes.size(), 1u);
    auto batch = memory_store::take(store_.run_writes);
    EXPECT_EQ(batch.args.size(), 1u);
    return batch;
  }

  static memory_store::record_results applied(bool yes) {
    memory_store::record_results r;
    r.emplace_back(yes);
    return r;
  }

  redis::claimed claim_{"exec-1", k_start_ms, 7, 1};
  redis::lease lease_{"exec:exec-1", "test-node:1", 42, 30s};
  caf::actor run_;
  std::shared_ptr<bool> down_;
  std::shared_ptr<int> dones_ = std::make_shared<int>(0);
};

TEST_F(run_test, a_lock_held_elsewhere_ends_the_run_without_writing_and_leaves_the_queue_entry) {
  start_writer();
  start(fresh_start(workflow(k_tag_graph)));
  answer_lock(std::nullopt);
  pass_group_commit_wait();
  EXPECT_TRUE(store_.run_writes.empty());
  EXPECT_TRUE(store_.releases.empty()) << "nothing to release, and the entry stays for a later attempt";
  EXPECT_TRUE(*down_);
  EXPECT_EQ(*dones_, 1) << "the owner hears that the run ended";
}

TEST_F(run_test, a_taken_lock_runs_to_the_end_and_releases_and_acks_only_after_the_record_is_durable) {
  start_writer();
  start(fresh_start(workflow(k_tag_graph)));
  clock_.advance(250ms);  // the lock answers a quarter second after the trigger
  answer_lock(lease_);
  auto batch = next_record();
  ASSERT_EQ(batch.args.size(), 1u);
  const auto& r = batch.args[0];
  const auto now = domain::sql_timestamp(k_start_ms + 250);
  EXPECT_EQ(r.execution_id, "exec-1");
  EXPECT_EQ(r.workspace_id, k_workspace_id);
  EXPECT_EQ(r.workflow_id, k_workflow_id);
  EXPECT_EQ(r.status, domain::execution_status::completed);
  EXPECT_EQ(r.lock_token, 42u) << "the record carries the lock's fencing token";
  EXPECT_EQ(r.seq, 1);
  EXPECT_EQ(r.started_at, now);
  EXPECT_EQ(r.lock_acquired_at, now);
  EXPECT_EQ(r.completed_at, now);
  EXPECT_EQ(r.lock_released_at, now);
  EXPECT_EQ(r.duration_ms, 250) << "from the trigger to the end";
  EXPECT_EQ(r.lead.add_tags, std::vector<std::string>{"hot"});
  ASSERT_FALSE(r.steps.empty());
  EXPECT_TRUE(std::any_of(r.steps.begin(), r.steps.end(), [](const auto& s) { return s.workflow_node_id == "node-g"; }));
  sched_.run();
  EXPECT_TRUE(store_.releases.empty()) << "released before the record was durable";
  EXPECT_FALSE(*down_);

  batch.done(applied(true));
  sched_.run();
  ASSERT_EQ(store_.releases.size(), 1u);
  ASSERT_TRUE(store_.releases[0].first && store_.releases[0].second);
  EXPECT_EQ(store_.releases[0].first->fencing_token, 42u);
  EXPECT_EQ(store_.releases[0].second->token, 7u) << "the claim that woke the run is acked";
  EXPECT_TRUE(*down_);
  EXPECT_EQ(*dones_, 1);
}

TEST_F(run_test, a_wait_parks_the_run_as_paused_and_schedules_its_resume_after_the_record) {
  const std::int64_t until = k_start_ms + 3'600'000;
  start_writer();
  start(fresh_start(workflow(wait_graph(until))));
  clock_.advance(40ms);
  answer_lock(lease_);
  auto batch = next_record();
  ASSERT_EQ(batch.args.size(), 1u);
  const auto& r = batch.args[0];
  EXPECT_EQ(r.status, domain::execution_status::paused);
  EXPECT_EQ(r.resume_at, domain::sql_timestamp(until));
  EXPECT_EQ(r.lock_released_at, domain::sql_timestamp(k_start_ms + 40));
  EXPECT_FALSE(r.completed_at.has_value());
  ASSERT_TRUE(r.checkpoint.has_value()) << "a parked run must be resumable";
  EXPECT_TRUE(store_.resumes_scheduled.empty()) << "scheduled before the record was durable";

  batch.done(applied(true));
  sched_.run();
  ASSERT_EQ(store_.resumes_scheduled.size(), 1u);
  EXPECT_EQ(store_.resumes_scheduled[0], std::make_pair(std::string("exec-1"), until));
  ASSERT_EQ(store_.releases.size(), 1u);
  EXPECT_TRUE(store_.releases[0].first && store_.releases[0].second);
  EXPECT_TRUE(*down_);
}

TEST_F(run_test, a_record_the_database_fenced_out_stops_the_run_without_going_on) {
  start_writer();
  start(fresh_start(workflow(wait_graph(k_start_ms + 60'000))));
  answer_lock(lease_);
  auto batch = next_record();
  batch.done(applied(false));  // another holder's newer token won
  sched_.run();
  EXPECT_TRUE(store_.resumes_scheduled.empty()) << "a fenced-out run scheduled its resume";
  EXPECT_TRUE(*down_);
}

TEST_F(run_test, a_lost_lock_stops_the_run) {
  start_writer();
  start(fresh_start(workflow(wait_graph(k_start_ms + 60'000))));
  answer_lock(lease_);
  // The record waits in the writer; meanwhile a renewal finds the lock taken over.
  sched_.advance_time(node_.options.lock_ttl / 3);
  sched_.run();
  ASSERT_EQ(store_.lock_renewals.size(), 1u);
  EXPECT_EQ(store_.lock_renewals.front().args.first.fencing_token, 42u);
  memory_store::take(store_.lock_renewals).done(false);
  sched_.run();
  EXPECT_TRUE(*down_);
  EXPECT_TRUE(store_.releases.empty()) << "a lock lost is not released, nor the entry acked";
}

}  // namespace
}  // namespace flowtrack::test
