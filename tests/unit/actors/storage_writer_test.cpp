// The storage writer on CAF's test coordinator with an in-memory store: group commit, its bound
// on waiting triggers, how a batch's outcome reaches every request in it, and in a cluster the
// shard lease every run record is written under.
#include <gtest/gtest.h>

#include "actors/cluster.hpp"
#include "domain/shard_ring.hpp"
#include "tests/unit/actors/actor_harness.hpp"

namespace flowtrack::test {
namespace {

using actors::ingest_reply;
using actors::record_reply;

domain::trigger_record trigger(int i) {
  domain::trigger_record t;
  t.workspace_id = k_workspace_id;
  t.workflow_id = k_workflow_id;
  t.email = "lead-" + std::to_string(i) + "@example.com";
  t.execution_id = "exec-" + std::to_string(i);
  t.lead_id = "lead-" + std::to_string(i);
  return t;
}

domain::run_record record(const std::string& execution_id) {
  domain::run_record r;
  r.execution_id = execution_id;
  r.workspace_id = k_workspace_id;
  r.workflow_id = k_workflow_id;
  r.status = domain::execution_status::completed;
  return r;
}

class storage_writer_test : public actors_on_test_coordinator {};

TEST_F(storage_writer_test, triggers_arriving_together_share_one_batch_and_each_hears_its_own_outcome) {
  auto writer = start_writer();
  std::vector<std::shared_ptr<std::optional<ingest_reply>>> asked;
  for (int i = 0; i < 3; ++i) asked.push_back(ask<ingest_reply>(writer, actors::ingest_atom::value, trigger(i)));
  EXPECT_TRUE(store_.ingests.empty()) << "the batch waits for company first";
  pass_group_commit_wait();
  ASSERT_EQ(store_.ingests.size(), 1u) << "three triggers, one transaction";
  auto batch = memory_store::take(store_.ingests);
  ASSERT_EQ(batch.args.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(batch.args[static_cast<std::size_t>(i)].execution_id, "exec-" + std::to_string(i));
  sched_.run();
  for (auto& a : asked) EXPECT_FALSE(a->has_value()) << "answered before the commit";

  batch.done(fresh_leads(batch.args));
  sched_.run();
  for (int i = 0; i < 3; ++i) {
    auto& a = *asked[static_cast<std::size_t>(i)];
    ASSERT_TRUE(a.has_value()) << i;
    ASSERT_TRUE(a->ok()) << a->err().message;
    EXPECT_EQ((*a)->execution_id, "exec-" + std::to_string(i));
  }
}

TEST_F(storage_writer_test, a_full_batch_goes_at_once_without_waiting) {
  node_.options.max_batch = 2;
  auto writer = start_writer();
  for (int i = 0; i < 2; ++i) ask<ingest_reply>(writer, actors::ingest_atom::value, trigger(i));
  ASSERT_EQ(store_.ingests.size(), 1u) << "no wait once a batch is full";
  EXPECT_EQ(store_.ingests.front().args.size(), 2u);
}

TEST_F(storage_writer_test, refuses_triggers_beyond_its_bound_at_once_and_loses_none_it_took) {
  node_.options.max_batch = 1;              // every trigger is a batch of its own
  node_.options.max_batches_in_flight = 1;  // one in flight; the rest waits as pending
  node_.options.max_pending_triggers = 3;
  auto writer = start_writer();
  std::vector<std::shared_ptr<std::optional<ingest_reply>>> asked;
  for (int i = 0; i < 6; ++i) asked.push_back(ask<ingest_reply>(writer, actors::ingest_atom::value, trigger(i)));
  // Trigger 0 is with the store, 1-3 wait as pending, 4 and 5 found the bound reached.
  for (std::size_t i : {4u, 5u}) {
    ASSERT_TRUE(asked[i]->has_value()) << i << " waited instead of being refused";
    ASSERT_FALSE((*asked[i])->ok());
    EXPECT_EQ((*asked[i])->err().code, error_code::unavailable);
    EXPECT_NE((*asked[i])->err().message.find("busy"), std::string::npos) << (*asked[i])->err().message;
  }
  std::vector<std::string> written;
  for (int round = 0; round < 4; ++round) {
    ASSERT_EQ(store_.ingests.size(), 1u) << "one batch in flight at a time (round " << round << ")";
    auto batch = memory_store::take(store_.ingests);
    for (const auto& t : batch.args) written.push_back(t.execution_id);
    batch.done(fresh_leads(batch.args));
    sched_.run();
  }
  EXPECT_TRUE(store_.ingests.empty());
  EXPECT_EQ(written, (std::vector<std::string>{"exec-0", "exec-1", "exec-2", "exec-3"}));
  for (std::size_t i : {0u, 1u, 2u, 3u}) {
    ASSERT_TRUE(asked[i]->has_value()) << i;
    ASSERT_TRUE((*asked[i])->ok()) << i << ": " << (*asked[i])->err().message;
    EXPECT_EQ((**asked[i])->execution_id, "exec-" + std::to_string(i));
  }
}

TEST_F(storage_writer_test, a_failed_batch_answers_every_request_in_it_with_the_error) {
  auto writer = start_writer();
  std::vector<std::shared_ptr<std::optional<ingest_reply>>> asked;
  for (int i = 0; i < 3; ++i) asked.push_back(ask<ingest_reply>(writer, actors::ingest_atom::value, trigger(i)));
  pass_group_commit_wait();
  ASSERT_EQ(store_.ingests.size(), 1u);
  memory_store::take(store_.ingests).done(make_error(error_code::unavailable, "the database went away"));
  sched_.run();
  for (auto& a : asked) {
    ASSERT_TRUE(a->has_value());
    ASSERT_FALSE((*a)->ok());
    EXPECT_EQ((*a)->err().code, error_code::unavailable);
    EXPECT_EQ((*a)->err().message, "the database went away");
  }
  // The writer goes on: the next trigger is a batch of its own.
  ask<ingest_reply>(writer, actors::ingest_atom::value, trigger(9));
  pass_group_commit_wait();
  ASSERT_EQ(store_.ingests.size(), 1u);
  EXPECT_EQ(store_.ingests.front().args.front().execution_id, "exec-9");
}

TEST_F(storage_writer_test, run_records_share_one_batch_and_each_hears_whether_it_was_applied) {
  auto writer = start_writer();
  auto first = ask<record_reply>(writer, actors::record_atom::value, record("exec-a"));
  auto second = ask<record_reply>(writer, actors::record_atom::value, record("exec-b"));
  EXPECT_TRUE(store_.run_writes.empty());
  pass_group_commit_wait();
  ASSERT_EQ(store_.run_writes.size(), 1u);
  auto batch = memory_store::take(store_.run_writes);
  ASSERT_EQ(batch.args.size(), 2u);
  EXPECT_EQ(batch.args[0].execution_id, "exec-a");
  EXPECT_EQ(batch.args[1].execution_id, "exec-b");
  EXPECT_FALSE(first->has_value());
  memory_store::record_results applied;
  applied.emplace_back(true);
  applied.emplace_back(false);
  batch.done(std::move(applied));
  sched_.run();
  ASSERT_TRUE(first->has_value() && second->has_value());
  const record_reply &a = **first, &b = **second;
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a);
  EXPECT_FALSE(*b) << "the second was fenced out";
}

TEST_F(storage_writer_test, a_single_node_writes_run_records_unfenced) {
  auto writer = start_writer();
  ask<record_reply>(writer, actors::record_atom::value, record("exec-a"));
  pass_group_commit_wait();
  ASSERT_EQ(store_.run_fences_seen.size(), 1u);
  EXPECT_TRUE(store_.run_fences_seen[0].holder.empty());
  EXPECT_TRUE(store_.run_fences_seen[0].by_record.empty());
}

TEST_F(storage_writer_test, in_a_cluster_records_carry_their_shard_and_epoch_and_a_shard_not_held_is_never_written) {
  auto view = std::make_shared<actors::ownership_view>();
  const int shard = domain::shard_of(k_workspace_id);
  view->set({shard}, {7});
  node_.ownership = view;
  node_.lease_holder = "n1/42";
  auto writer = start_writer();
  auto stamped = ask<record_reply>(writer, actors::record_atom::value, record("exec-a"));                      // the epoch held now
  auto own = ask<record_reply>(writer, actors::record_atom::value, record("exec-b"), std::int64_t{7});        // its run's epoch
  auto stale = ask<record_reply>(writer, actors::record_atom::value, record("exec-c"), std::int64_t{6});      // an older epoch's run
  ASSERT_TRUE(stale->has_value()) << "a stale epoch is refused at once";
  ASSERT_TRUE((*stale)->ok());
  EXPECT_FALSE(***stale);
  pass_group_commit_wait();
  ASSERT_EQ(store_.run_writes.size(), 1u);
  auto batch = memory_store::take(store_.run_writes);
  ASSERT_EQ(batch.args.size(), 2u) << "the stale record is not in the batch";
  ASSERT_EQ(store_.run_fences_seen.size(), 1u);
  const auto& fences = store_.run_fences_seen[0];
  EXPECT_EQ(fences.holder, "n1/42");
  ASSERT_EQ(fences.by_record.size(), 2u);
  for (const auto& f : fences.by_record) EXPECT_EQ(f, (storage::shard_leases::held_shard{shard, 7}));
  memory_store::record_results applied;
  applied.emplace_back(true);
  applied.emplace_back(false);  // the database's fence refused it
  batch.done(std::move(applied));
  sched_.run();
  ASSERT_TRUE(stamped->has_value() && own->has_value());
  EXPECT_TRUE(***stamped);
  EXPECT_FALSE(***own);

  // The shard lost: nothing more is written for it, whatever epoch a run brings.
  view->set({}, {});
  auto lost = ask<record_reply>(writer, actors::record_atom::value, record("exec-d"), std::int64_t{7});
  auto unstamped = ask<record_reply>(writer, actors::record_atom::value, record("exec-e"));
  pass_group_commit_wait();
  EXPECT_TRUE(store_.run_writes.empty()) << "a record of a shard not held reached the store";
  ASSERT_TRUE(lost->has_value() && unstamped->has_value());
  EXPECT_FALSE(***lost);
  EXPECT_FALSE(***unstamped);
}

}  // namespace
}  // namespace flowtrack::test
