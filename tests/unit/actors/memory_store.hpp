// An in-memory store_port for actor tests: it records every question with its arguments and
// holds the answer until the test gives it (now or later, success or failure), so the test
// decides the timing. Answers run on the test's thread; the actors hear them at the next
// `sched.run()`. Knows nothing of CAF.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "actors/ports.hpp"

namespace flowtrack::test {

class memory_store final : public actors::store_port {
 public:
  /// One question waiting for its answer.
  template <class Args, class Reply>
  struct call {
    Args args;
    std::function<void(Reply)> done;
  };
  template <class Args, class Reply>
  using calls = std::deque<call<Args, Reply>>;

  struct version_args {
    std::string workspace_id, workflow_id;
    std::optional<int> version;
  };
  struct lookup_args {
    std::vector<std::string> slugs, workflows, intakes;
  };
  struct form_args {
    std::string workflow_id, client;
    int per_ip = 0, per_form = 0;
  };
  struct lock_args {
    std::string name, owner;
    std::chrono::milliseconds ttl{0};
  };
  struct claim_args {
    std::int64_t now_ms = 0;
    std::size_t max = 0;
    std::chrono::milliseconds visibility{0};
  };

  /// Takes the oldest waiting question of `q` (the test asserted there is one).
  template <class Args, class Reply>
  static call<Args, Reply> take(calls<Args, Reply>& q) {
    if (q.empty()) {
      ADD_FAILURE() << "no such call is waiting";
      return {Args{}, [](Reply) {}};
    }
    auto c = std::move(q.front());
    q.pop_front();
    return c;
  }

  /// While set, outside work (look-ups, polls, rate-limit checks) is refused as a full pool
  /// queue refuses it.
  bool refuse_outside_work = false;

  calls<std::string, result<actors::workspace_load>> loads;
  calls<version_args, result<std::shared_ptr<const domain::workflow_snapshot>>> versions;
  calls<lookup_args, result<storage::tenant_lookup>> lookups;
  calls<std::string, result<storage::tenant_changes>> polls;
  calls<std::vector<domain::trigger_record>, result<ingest_results>> ingests;
  calls<std::vector<domain::run_record>, result<record_results>> run_writes;
  std::vector<storage::run_fences> run_fences_seen;  ///< the fences of each write_runs, in order
  calls<std::pair<std::vector<int>, std::size_t>, result<std::vector<storage::adoptable_execution>>> adoptions;
  calls<std::string, result<storage::execution_state>> executions;
  calls<std::string, result<std::string>> execution_workspaces;
  calls<std::pair<std::string, std::string>, result<bool>> failed_executions;
  calls<std::tuple<>, actors::paused_list> paused;
  calls<std::pair<std::int64_t, std::size_t>, result<std::vector<std::string>>> stale;
  calls<std::tuple<>, result<std::size_t>> folds;
  calls<domain::email_send_request, result<domain::email_send_grant>> email_reservations;
  calls<std::pair<std::string, domain::unparsed_mail>, result<storage::kept_mail>> kept_mail;
  std::vector<std::pair<std::string, std::string>> notified_mail;  ///< (workspace, kept mail id)
  calls<std::tuple<>, result<std::size_t>> purges;
  calls<storage::webhook_enqueue, result<std::string>> enqueued_webhooks;
  calls<std::size_t, result<std::vector<storage::due_delivery>>> webhook_claims;
  calls<std::pair<std::string, std::string>, result<storage::webhook_endpoint_config>> endpoint_loads;
  calls<std::vector<storage::webhook_attempt_record>, result<void>> attempt_records;
  std::vector<std::string> released_claims;
  calls<form_args, std::optional<std::chrono::milliseconds>> form_counts;
  calls<lock_args, result<std::optional<redis::lease>>> lock_acquisitions;
  calls<std::pair<redis::lease, std::chrono::milliseconds>, result<bool>> lock_renewals;
  calls<claim_args, result<std::vector<redis::claimed>>> claims;
  std::deque<std::function<void(bool, std::optional<std::size_t>)>> queue_checks;
  std::vector<std::pair<std::optional<redis::lease>, std::optional<redis::claimed>>> releases;
  std::vector<std::pair<std::string, std::int64_t>> resumes_scheduled;
  std::vector<std::pair<std::vector<std::string>, std::int64_t>> scheduled_now;
  std::vector<std::vector<std::pair<std::string, std::int64_t>>> rebuilds;

  void load_workspace(std::string workspace_id, answer<actors::workspace_load> done) override {
    loads.push_back({std::move(workspace_id), std::move(done)});
  }
  void load_workflow_version(std::string workspace_id, std::string workflow_id, std::optional<int> version,
                             answer<std::shared_ptr<const domain::workflow_snapshot>> done) override {
    versions.push_back({{std::move(workspace_id), std::move(workflow_id), version}, std::move(done)});
  }
  void find_tenants(std::vector<std::string> slugs, std::vector<std::string> workflows, std::vector<std::string> intakes,
                    answer<storage::tenant_lookup> done) override {
    if (refuse_outside_work) return done(busy());
    lookups.push_back({{std::move(slugs), std::move(workflows), std::move(intakes)}, std::move(done)});
  }
  void poll_tenant_changes(std::string since, answer<storage::tenant_changes> done) override {
    if (refuse_outside_work) return done(busy());
    polls.push_back({std::move(since), std::move(done)});
  }
  void ingest(std::vector<domain::trigger_record> batch, answer<ingest_results> done) override {
    ingests.push_back({std::move(batch), std::move(done)});
  }
  void write_runs(std::vector<domain::run_record> batch, storage::run_fences fences, answer<record_results> done) override {
    run_fences_seen.push_back(std::move(fences));
    run_writes.push_back({std::move(batch), std::move(done)});
  }
  void load_execution(std::string execution_id, answer<storage::execution_state> done) override {
    executions.push_back({std::move(execution_id), std::move(done)});
  }
  void workspace_of_execution(std::string execution_id, answer<std::string> done) override {
    execution_workspaces.push_back({std::move(execution_id), std::move(done)});
  }
  void fail_execution(std::string execution_id, std::string reason, answer<bool> done) override {
    failed_executions.push_back({{std::move(execution_id), std::move(reason)}, std::move(done)});
  }
  void paused_executions(std::function<void(actors::paused_list)> done) override { paused.push_back({{}, std::move(done)}); }
  void stale_executions(std::int64_t stale_ms, std::size_t limit, answer<std::vector<std::string>> done) override {
    stale.push_back({{stale_ms, limit}, std::move(done)});
  }
  void adopt_shards(std::vector<int> shards, std::size_t limit, answer<std::vector<storage::adoptable_execution>> done) override {
    adoptions.push_back({{std::move(shards), limit}, std::move(done)});
  }
  void fold_stat_deltas(answer<std::size_t> done) override { folds.push_back({{}, std::move(done)}); }
  void reserve_email_send(domain::email_send_request request, answer<domain::email_send_grant> done) override {
    email_reservations.push_back({std::move(request), std::move(done)});
  }
  void keep_unparsed_mail(std::string workspace_id, domain::unparsed_mail mail, answer<storage::kept_mail> done) override {
    kept_mail.push_back({{std::move(workspace_id), std::move(mail)}, std::move(done)});
  }
  void mark_unparsed_mail_notified(std::string workspace_id, std::string id) override {
    notified_mail.emplace_back(std::move(workspace_id), std::move(id));
  }
  void purge_unparsed_mail(answer<std::size_t> done) override { purges.push_back({{}, std::move(done)}); }
  void enqueue_webhook(storage::webhook_enqueue message, answer<std::string> done) override {
    enqueued_webhooks.push_back({std::move(message), std::move(done)});
  }
  void claim_webhook_deliveries(std::size_t limit, std::chrono::milliseconds, std::optional<std::vector<int>>,
                                answer<std::vector<storage::due_delivery>> done) override {
    webhook_claims.push_back({limit, std::move(done)});
  }
  void load_webhook_endpoint(std::string workspace_id, std::string endpoint_id, answer<storage::webhook_endpoint_config> done) override {
    endpoint_loads.push_back({{std::move(workspace_id), std::move(endpoint_id)}, std::move(done)});
  }
  void record_webhook_attempts(std::vector<storage::webhook_attempt_record> batch, answer<void> done) override {
    attempt_records.push_back({std::move(batch), std::move(done)});
  }
  void release_webhook_claims(std::vector<std::string> delivery_ids, std::optional<std::int64_t>) override {
    released_claims.insert(released_claims.end(), delivery_ids.begin(), delivery_ids.end());
  }
  bool count_form_submission(std::string workflow_id, std::string client, int per_ip, int per_form,
                             std::function<void(std::optional<std::chrono::milliseconds>)> done) override {
    if (refuse_outside_work) return false;
    form_counts.push_back({{std::move(workflow_id), std::move(client), per_ip, per_form}, std::move(done)});
    return true;
  }
  void acquire_lock(std::string name, std::string owner, std::chrono::milliseconds ttl,
                    answer<std::optional<redis::lease>> done) override {
    lock_acquisitions.push_back({{std::move(name), std::move(owner), ttl}, std::move(done)});
  }
  void renew_lock(redis::lease lease, std::chrono::milliseconds ttl, answer<bool> done) override {
    lock_renewals.push_back({{std::move(lease), ttl}, std::move(done)});
  }
  void release_run(std::optional<redis::lease> lease, std::optional<redis::claimed> claim) override {
    releases.emplace_back(std::move(lease), std::move(claim));
  }
  void schedule_resume(std::string execution_id, std::int64_t at_ms) override {
    resumes_scheduled.emplace_back(std::move(execution_id), at_ms);
  }
  void schedule_now(std::vector<std::string> execution_ids, std::int64_t now_ms) override {
    scheduled_now.emplace_back(std::move(execution_ids), now_ms);
  }
  void claim_due(std::int64_t now_ms, std::size_t max, std::chrono::milliseconds visibility,
                 answer<std::vector<redis::claimed>> done) override {
    claims.push_back({{now_ms, max, visibility}, std::move(done)});
  }
  void check_queue(std::function<void(bool lost, std::optional<std::size_t> depth)> done) override {
    queue_checks.push_back(std::move(done));
  }
  void rebuild_queue(std::vector<std::pair<std::string, std::int64_t>> list) override { rebuilds.push_back(std::move(list)); }

 private:
  static error busy() { return make_error(error_code::unavailable, "the database is busy: too many requests wait"); }
};

}  // namespace flowtrack::test
