// The run actor on CAF's test coordinator with an in-memory store, the real storage writer and
// a manual wall clock: the lock decides whether it runs, its record is durable before the lock
// is released and the queue entry acked, and a parked run is scheduled only after its record.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>

#include "actors/cluster.hpp"
#include "actors/run.hpp"
#include "domain/shard_ring.hpp"
#include "runtime/tz.hpp"
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

// ---------------------------------------------------------------------------------------------
// Email caps and quota: ACTION_SEND_EMAIL reserves before it sends.

/// Trigger -> email the lead -> end.
inline const char* k_email_graph = R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"m","type":"ACTION_SEND_EMAIL","position":{"x":0,"y":1},"data":{"emailSubject":"Thanks","emailBody":"We got it."}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"m"},{"id":"2","source":"m","target":"e"}]})";

/// Trigger -> notify the owner -> end.
inline const char* k_notify_graph = R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"n","type":"ACTION_NOTIFY_OWNER","position":{"x":0,"y":1},"data":{"emailSubject":"New lead","emailBody":"See it."}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"n"},{"id":"2","source":"n","target":"e"}]})";

/// A mailer that holds each message until the test answers it.
class held_mailer final : public actors::mailer_port {
 public:
  void send(actors::email_message m, std::function<void(result<std::string>)> done) override {
    sent.emplace_back(std::move(m), std::move(done));
  }
  std::deque<std::pair<actors::email_message, std::function<void(result<std::string>)>>> sent;
};

class run_email_test : public run_test {
 protected:
  run_email_test() { node_.mailer = &mailer_; }

  /// The workspace on a plan allowing 200 sends a period, capped at 2 an hour by its setting.
  static std::shared_ptr<const domain::workspace_snapshot> capped_workspace() {
    auto s = std::make_shared<domain::workspace_snapshot>(*workspace());
    s->info.plan_slug = "free";
    s->info.plan_quotas = R"({"email_sends":200,"email_hourly_cap":50})";
    s->info.settings = R"({"email_hourly_cap":2})";
    return s;
  }
  domain::run_start email_start(const char* graph = k_email_graph) {
    auto s = fresh_start(workflow(graph));
    s.workspace = capped_workspace();
    return s;
  }
  /// Commits the record that makes the email's `running` step durable; returns that step's id.
  std::string commit_running_step() {
    auto batch = next_record();
    EXPECT_EQ(batch.args.size(), 1u);
    std::string id;
    if (!batch.args.empty()) {
      const auto& r = batch.args[0];
      EXPECT_EQ(r.status, domain::execution_status::running);
      for (const auto& st : r.steps)
        if (st.status == domain::step_status::running) id = st.id;
    }
    EXPECT_FALSE(id.empty()) << "no running step before the side effect";
    batch.done(applied(true));
    sched_.run();
    return id;
  }
  static domain::email_send_grant grant(domain::email_send_grant::verdict v, std::int64_t wait_ms = 0) {
    domain::email_send_grant g;
    g.outcome = v;
    g.wait_ms = wait_ms;
    g.sent_last_hour = v == domain::email_send_grant::verdict::wait ? 2 : 0;
    return g;
  }

  held_mailer mailer_;
};

TEST_F(run_email_test, an_exceeded_quota_fails_the_step_with_quota_exceeded_and_sends_nothing_nor_retries) {
  start_writer();
  start(email_start());
  answer_lock(lease_);
  auto step_id = commit_running_step();

  ASSERT_EQ(store_.email_reservations.size(), 1u) << "the email is reserved before it is sent";
  auto reservation = memory_store::take(store_.email_reservations);
  EXPECT_EQ(reservation.args.workspace_id, k_workspace_id);
  EXPECT_EQ(reservation.args.execution_id, "exec-1");
  EXPECT_EQ(reservation.args.idempotency_key, "exec-1:m");
  EXPECT_EQ(reservation.args.limits.hourly_cap, 2) << "the workspace setting overrides the plan's 50";
  EXPECT_EQ(reservation.args.limits.quota, 200);
  EXPECT_EQ(reservation.args.limits.period_start, "2026-11-01");
  reservation.done(make_error(error_code::quota_exceeded, "the workspace's email_sends quota for this billing period is used up",
                              "email_sends"));
  sched_.run();

  auto batch = next_record();
  ASSERT_EQ(batch.args.size(), 1u);
  const auto& r = batch.args[0];
  EXPECT_EQ(r.status, domain::execution_status::failed);
  ASSERT_TRUE(r.error_message.has_value());
  EXPECT_NE(r.error_message->find("email_sends quota"), std::string::npos) << *r.error_message;
  auto failed = std::find_if(r.steps.begin(), r.steps.end(), [&](const auto& s) { return s.id == step_id; });
  ASSERT_NE(failed, r.steps.end()) << "the running step is closed";
  EXPECT_EQ(failed->status, domain::step_status::failed);
  ASSERT_TRUE(failed->error_details.has_value());
  auto details = boost::json::parse(*failed->error_details);
  EXPECT_EQ(details.at("code"), "quota_exceeded");
  EXPECT_EQ(details.at("retryScheduled"), false);
  EXPECT_EQ(r.emails_sent, 0);
  EXPECT_FALSE(r.lead.email_sent);
  batch.done(applied(true));
  sched_.run();
  EXPECT_TRUE(mailer_.sent.empty()) << "an email over quota was sent";
  EXPECT_TRUE(store_.email_reservations.empty()) << "a quota refusal is not retried";
  EXPECT_TRUE(store_.resumes_scheduled.empty());
  EXPECT_TRUE(*down_);
}

TEST_F(run_email_test, a_reached_hourly_cap_parks_the_run_until_the_hour_has_room_then_sends_on_the_same_attempt) {
  start_writer();
  start(email_start());
  answer_lock(lease_);
  auto step_id = commit_running_step();
  ASSERT_EQ(store_.email_reservations.size(), 1u);
  clock_.advance(5ms);
  const std::int64_t wait_ms = 20 * 60 * 1000;
  const std::int64_t until = k_start_ms + 5 + wait_ms;
  memory_store::take(store_.email_reservations).done(grant(domain::email_send_grant::verdict::wait, wait_ms));
  sched_.run();
  EXPECT_TRUE(mailer_.sent.empty()) << "sent over the cap";

  // Parked: paused until the hour has room, the step closed as pending with the reason.
  auto batch = next_record();
  ASSERT_EQ(batch.args.size(), 1u);
  const auto parked = batch.args[0];
  EXPECT_EQ(parked.status, domain::execution_status::paused);
  EXPECT_EQ(parked.resume_at, domain::sql_timestamp(until));
  auto waiting = std::find_if(parked.steps.begin(), parked.steps.end(), [&](const auto& s) { return s.id == step_id; });
  ASSERT_NE(waiting, parked.steps.end());
  EXPECT_EQ(waiting->status, domain::step_status::pending);
  EXPECT_EQ(waiting->retry_count, 0);
  ASSERT_TRUE(waiting->output_data.has_value());
  auto why = boost::json::parse(*waiting->output_data);
  EXPECT_EQ(why.at("waitingFor"), "email_hourly_cap");
  EXPECT_EQ(why.at("hourlyCap"), 2);
  EXPECT_EQ(std::string(why.at("sendAt").as_string()), runtime::format_iso8601_utc(until));
  EXPECT_TRUE(std::any_of(parked.logs.begin(), parked.logs.end(), [](const auto& l) {
    return l.message.find("hourly email cap (2 per hour) is reached") != std::string::npos;
  })) << "the log says why the run waits";
  ASSERT_TRUE(parked.checkpoint.has_value());
  auto cp = boost::json::parse(*parked.checkpoint);
  ASSERT_EQ(cp.at("frontier").as_array().size(), 1u);
  EXPECT_EQ(cp.at("frontier").as_array()[0].at("node"), "m");
  EXPECT_EQ(cp.at("frontier").as_array()[0].at("attempt"), 1) << "waiting used up an attempt";
  EXPECT_EQ(cp.as_object().count("inFlight"), 0u);
  batch.done(applied(true));
  sched_.run();
  ASSERT_EQ(store_.resumes_scheduled.size(), 1u);
  EXPECT_EQ(store_.resumes_scheduled[0], std::make_pair(std::string("exec-1"), until));
  EXPECT_TRUE(*down_) << "a waiting run holds no actor";

  // Resumed when due: reserved again, and this time sent, still the first attempt.
  clock_.advance(std::chrono::milliseconds(wait_ms));
  auto resumed = email_start();
  resumed.checkpoint = *parked.checkpoint;
  resumed.status = domain::execution_status::paused;
  start(std::move(resumed));
  answer_lock(lease_);
  auto second_step = commit_running_step();
  EXPECT_NE(second_step, step_id);
  ASSERT_EQ(store_.email_reservations.size(), 1u);
  EXPECT_EQ(store_.email_reservations.front().args.idempotency_key, "exec-1:m");
  memory_store::take(store_.email_reservations).done(grant(domain::email_send_grant::verdict::reserved));
  sched_.run();
  ASSERT_EQ(mailer_.sent.size(), 1u);
  EXPECT_EQ(mailer_.sent.front().first.idempotency_key, "exec-1:m");
  EXPECT_EQ(mailer_.sent.front().first.to, "ada@example.com");
  mailer_.sent.front().second(std::string("<exec-1.m@flowtrack>"));
  mailer_.sent.pop_front();
  sched_.run();

  auto done = next_record();
  ASSERT_EQ(done.args.size(), 1u);
  const auto& r = done.args[0];
  EXPECT_EQ(r.status, domain::execution_status::completed);
  EXPECT_EQ(r.emails_sent, 1);
  EXPECT_TRUE(r.lead.email_sent) << "last_email_sent_at is set";
  auto sent = std::find_if(r.steps.begin(), r.steps.end(), [&](const auto& s) { return s.id == second_step; });
  ASSERT_NE(sent, r.steps.end());
  EXPECT_EQ(sent->status, domain::step_status::completed);
  EXPECT_EQ(sent->retry_count, 0) << "the wait counted as a retry";
  EXPECT_TRUE(std::any_of(r.events.begin(), r.events.end(), [](const auto& e) { return e.event_type == "EMAIL_SENT"; }));
  done.done(applied(true));
  sched_.run();
  EXPECT_TRUE(*down_);
}

TEST_F(run_email_test, an_email_already_reserved_by_an_earlier_attempt_is_sent) {
  start_writer();
  start(email_start());
  answer_lock(lease_);
  commit_running_step();
  ASSERT_EQ(store_.email_reservations.size(), 1u);
  memory_store::take(store_.email_reservations).done(grant(domain::email_send_grant::verdict::already_reserved));
  sched_.run();
  ASSERT_EQ(mailer_.sent.size(), 1u);
  EXPECT_EQ(mailer_.sent.front().first.idempotency_key, "exec-1:m");
}

TEST_F(run_email_test, an_unavailable_database_at_reservation_is_retried_with_back_off_and_sends_nothing) {
  start_writer();
  start(email_start());
  answer_lock(lease_);
  auto step_id = commit_running_step();
  memory_store::take(store_.email_reservations).done(make_error(error_code::unavailable, "the database went away"));
  sched_.run();
  auto batch = next_record();
  ASSERT_EQ(batch.args.size(), 1u);
  auto failed = std::find_if(batch.args[0].steps.begin(), batch.args[0].steps.end(), [&](const auto& s) { return s.id == step_id; });
  ASSERT_NE(failed, batch.args[0].steps.end());
  EXPECT_EQ(failed->status, domain::step_status::failed);
  EXPECT_NE(failed->error_details->find("\"retryScheduled\":true"), std::string::npos) << *failed->error_details;
  EXPECT_NE(batch.args[0].status, domain::execution_status::failed);
  EXPECT_TRUE(mailer_.sent.empty());
}

TEST_F(run_email_test, an_owner_notification_is_not_reserved_against_the_cap) {
  start_writer();
  start(email_start(k_notify_graph));
  answer_lock(lease_);
  commit_running_step();
  EXPECT_TRUE(store_.email_reservations.empty()) << "the owner's notifications are exempt";
  ASSERT_EQ(mailer_.sent.size(), 1u);
  EXPECT_EQ(mailer_.sent.front().first.to, "owner@acme.example.com");
}

TEST_F(run_test, in_a_cluster_a_run_of_a_shard_not_held_takes_no_lock_writes_nothing_and_leaves_the_entry) {
  auto view = std::make_shared<actors::ownership_view>();
  node_.ownership = view;  // holds nothing
  node_.lease_holder = "n1/1";
  start_writer();
  start(fresh_start(workflow(k_tag_graph)));
  pass_group_commit_wait();
  EXPECT_TRUE(store_.lock_acquisitions.empty());
  EXPECT_TRUE(store_.run_writes.empty());
  EXPECT_TRUE(store_.releases.empty()) << "the queue entry stays for the owner";
  EXPECT_TRUE(*down_);
}

TEST_F(run_test, in_a_cluster_a_run_locks_under_its_epoch_and_writes_fenced_by_it_and_a_lost_shard_stops_it) {
  auto view = std::make_shared<actors::ownership_view>();
  const int shard = domain::shard_of(k_workspace_id);
  view->set({shard}, {5});
  node_.ownership = view;
  node_.lease_holder = "n1/1";
  start_writer();
  start(fresh_start(workflow(k_tag_graph)));
  ASSERT_EQ(store_.lock_acquisitions.size(), 1u);
  auto lock = memory_store::take(store_.lock_acquisitions);
  EXPECT_EQ(lock.args.name, "exec:exec-1/e5") << "the epoch's lock: an old holder's lock does not hold the new owner up";
  view->set({shard}, {6});  // lost and taken again meanwhile: the run's epoch is over
  lock.done(std::optional<redis::lease>(redis::lease{"exec:exec-1/e5", "test-node:1", 42, 30s}));
  sched_.run();
  pass_group_commit_wait();
  EXPECT_TRUE(store_.run_writes.empty()) << "a run of an older epoch wrote";
  EXPECT_TRUE(*down_) << "the refused record stops the run";
}

}  // namespace
}  // namespace flowtrack::test
