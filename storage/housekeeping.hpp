// Housekeeping of the tables that grow without end: execution_logs partitions made months ahead
// and dropped after the retention, login attempts purged, spent tokens deleted, old webhook
// delivery bodies trimmed; and the lease rows (migration 027) that let one node of a cluster run
// each job; and workspace_daily_stats recomputed from the source rows (storage/daily_stats.hpp)
// for each workspace's last days. Knows SQL only: no actors, no timers, no metrics.
//
// Nothing here makes ingress wait: deletes and trims go in batches, each its own transaction;
// partitions are attached and detached (CONCURRENTLY) under SHARE UPDATE EXCLUSIVE, which inserts
// do not conflict with, and every lock is asked for with a lock_timeout. A lock not granted in
// time defers that partition to the next run; it is reported, never an error.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage::housekeeping {

/// The jobs.
enum class job { partitions, login_attempts, tokens, webhook_bodies, daily_stats, quota_rollover };
/// Every job: what a node schedules, `flowtrackd housekeeping run` without a JOB runs, and
/// job_names() lists.
inline constexpr std::array<job, 6> k_jobs{job::partitions,   job::login_attempts, job::tokens,
                                           job::webhook_bodies, job::daily_stats,    job::quota_rollover};

/// The job's name in the CLI, logs, metrics and lease rows: "partitions", "login-attempts",
/// "tokens", "webhook-bodies", "daily-stats", "quota-rollover".
std::string_view name_of(job j);
/// The job a name names.
std::optional<job> job_named(std::string_view name);
/// The job names joined with ", ", for messages.
std::string job_names();

/// How much to keep and how to go about it (the spec's retentions by default).
struct options {
  int log_retention_days = 90;            ///< execution_logs partitions wholly older than this are dropped
  int partitions_ahead_months = 3;        ///< partitions exist for this month and this many after it
  int login_attempt_retention_days = 90;  ///< login_attempts rows older than this are deleted
  int webhook_body_retention_days = 30;   ///< delivery bodies older than this are trimmed
  int batch_rows = 5000;                  ///< rows a batch (one transaction) deletes or trims
  int daily_stats_days = 2;               ///< daily-stats recomputes this many days (today included) of each workspace
  std::chrono::milliseconds lock_timeout{2000};
};

/// What one run of a job did.
struct report {
  job which = job::partitions;
  std::int64_t rows = 0;  ///< rows deleted (login attempts, tokens), trimmed (delivery bodies) or written (daily stats)
  int batches = 0;        ///< transactions that deleted, trimmed or wrote (daily stats: one a workspace)
  int partitions_created = 0;
  std::vector<std::string> partitions_dropped;
  /// Work whose lock was not granted within lock_timeout ("create", or a partition's name); the
  /// next run tries it again.
  std::vector<std::string> deferred;
  bool finished = false;  ///< every step ran (deferred work counts as run)

  /// "ok", or "deferred" when something was deferred.
  std::string_view outcome() const { return deferred.empty() ? "ok" : "deferred"; }
  /// One JSON object: job, outcome, rows, batches, partitionsCreated, partitionsDropped, deferred.
  std::string to_json() const;
};

/// One run of a job, advanced a step at a time so a caller may put other work between steps (the
/// node runs each step as its own pool job). A step is one batch or one partition operation, in
/// its own transaction(s); a failed step may be tried again.
class job_run {
 public:
  job_run(job which, options opts);

  /// Runs the next step; true while steps remain. After an error the run can go on or stop.
  result<bool> step(pg::connection& c);
  const report& progress() const { return report_; }

 private:
  struct expired_partition {
    std::string name;     ///< regclass text, quoted as needed
    bool attached = true;  ///< false: a table a cut-short drop detached but did not drop
  };
  result<bool> delete_batch(pg::connection& c, const pg::statement& stmt, const pg::params& args);
  result<bool> partition_step(pg::connection& c);
  result<void> create_partitions(pg::connection& c);
  result<void> list_expired_partitions(pg::connection& c);
  result<void> drop_partition(pg::connection& c, const expired_partition& p);
  result<bool> daily_stats_step(pg::connection& c);

  options opts_;
  report report_;
  int phase_ = 0;
  std::vector<expired_partition> expired_;
  std::size_t next_expired_ = 0;
  std::vector<std::string> workspaces_;  ///< daily-stats: the workspaces to recompute, listed by the first step
  std::size_t next_workspace_ = 0;
};

/// Runs a job to its end on one connection (the CLI).
result<report> run_job(pg::connection& c, job which, const options& opts);

// --- leases -----------------------------------------------------------------------------------

/// Who asks for a job's lease and on what terms.
struct lease_terms {
  std::string holder;                ///< the node's id
  std::chrono::seconds interval{3600};  ///< a job runs again no sooner than this after its last run ended
  std::chrono::seconds ttl{300};     ///< a lease not renewed for this long is free again
};

/// Takes the job's lease when it is free and the job is due; false otherwise (another node holds
/// it, or the last run ended less than an interval ago). Two nodes asking at once: one gets it.
result<bool> claim_lease(pg::connection& c, job which, const lease_terms& terms);

/// Extends the holder's lease by its ttl; false when the holder no longer has it.
result<bool> renew_lease(pg::connection& c, job which, const lease_terms& terms);

/// Gives the lease back and records the run: outcome "ok", "deferred" or "failed" (with `error`).
result<void> release_lease(pg::connection& c, job which, const std::string& holder, const report& r,
                           const std::optional<error>& failure);

}  // namespace flowtrack::storage::housekeeping
