// The storage port over the node's PostgreSQL pool and Redis workers: each question runs as one
// job on an I/O thread and answers from there. Holds the engine's storage jobs; the SQL and the
// Redis scripts stay in storage/. Knows nothing of actors.
#pragma once

#include "actors/ports.hpp"
#include "runtime/tz.hpp"
#include "storage/pg/pool.hpp"
#include "storage/redis/connection.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::actors {

/// store_port on pg::pool and a Redis worker pool: `submit` for accepted work, `try_submit` for
/// outside work, as the port says. The pools and `zones` (may be null: every workspace runs in
/// UTC) must outlive it; close the pools before the actors that hear the answers go away.
class pooled_store final : public store_port {
 public:
  pooled_store(pg::pool& postgres, storage::worker_pool<redis::connection>& redis, const runtime::time_zone_db* zones)
      : postgres_(postgres), redis_(redis), zones_(zones) {}

  void load_workspace(std::string workspace_id, answer<workspace_load> done) override;
  void load_workflow_version(std::string workspace_id, std::string workflow_id, std::optional<int> version,
                             answer<std::shared_ptr<const domain::workflow_snapshot>> done) override;
  void find_tenants(std::vector<std::string> slugs, std::vector<std::string> workflows, std::vector<std::string> intakes,
                    answer<storage::tenant_lookup> done) override;
  void poll_tenant_changes(std::string since, answer<storage::tenant_changes> done) override;
  void ingest(std::vector<domain::trigger_record> batch, answer<ingest_results> done) override;
  void write_runs(std::vector<domain::run_record> batch, storage::run_fences fences, answer<record_results> done) override;
  void load_execution(std::string execution_id, answer<storage::execution_state> done) override;
  void workspace_of_execution(std::string execution_id, answer<std::string> done) override;
  void fail_execution(std::string execution_id, std::string reason, answer<bool> done) override;
  void paused_executions(std::function<void(paused_list)> done) override;
  void stale_executions(std::int64_t stale_ms, std::size_t limit, answer<std::vector<std::string>> done) override;
  void adopt_shards(std::vector<int> shards, std::size_t limit, answer<std::vector<storage::adoptable_execution>> done) override;
  void fold_stat_deltas(answer<std::size_t> done) override;
  void reserve_email_send(domain::email_send_request request, answer<domain::email_send_grant> done) override;
  void keep_unparsed_mail(std::string workspace_id, domain::unparsed_mail mail, answer<storage::kept_mail> done) override;
  void mark_unparsed_mail_notified(std::string workspace_id, std::string id) override;
  void purge_unparsed_mail(answer<std::size_t> done) override;
  void enqueue_webhook(storage::webhook_enqueue message, answer<std::string> done) override;
  void claim_webhook_deliveries(std::size_t limit, std::chrono::milliseconds lease, std::optional<std::vector<int>> shards,
                                answer<std::vector<storage::due_delivery>> done) override;
  void load_webhook_endpoint(std::string workspace_id, std::string endpoint_id,
                             answer<storage::webhook_endpoint_config> done) override;
  void record_webhook_attempts(std::vector<storage::webhook_attempt_record> batch, answer<void> done) override;
  void release_webhook_claims(std::vector<std::string> delivery_ids, std::optional<std::int64_t> not_before_ms) override;
  bool count_form_submission(std::string workflow_id, std::string client, int per_ip, int per_form,
                             std::function<void(std::optional<std::chrono::milliseconds>)> done) override;
  void acquire_lock(std::string name, std::string owner, std::chrono::milliseconds ttl,
                    answer<std::optional<redis::lease>> done) override;
  void renew_lock(redis::lease lease, std::chrono::milliseconds ttl, answer<bool> done) override;
  void release_run(std::optional<redis::lease> lease, std::optional<redis::claimed> claim) override;
  void schedule_resume(std::string execution_id, std::int64_t at_ms) override;
  void schedule_now(std::vector<std::string> execution_ids, std::int64_t now_ms) override;
  void claim_due(std::int64_t now_ms, std::size_t max, std::chrono::milliseconds visibility,
                 answer<std::vector<redis::claimed>> done) override;
  void check_queue(std::function<void(bool lost, std::optional<std::size_t> depth)> done) override;
  void rebuild_queue(std::vector<std::pair<std::string, std::int64_t>> paused) override;

 private:
  pg::pool& postgres_;
  storage::worker_pool<redis::connection>& redis_;
  const runtime::time_zone_db* zones_;
};

}  // namespace flowtrack::actors
