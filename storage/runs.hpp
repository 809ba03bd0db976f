// What a run writes as it goes — steps, lead changes, automation lead events, logs, the
// execution's status and checkpoint, counter deltas (folded by fold_stat_deltas) — batched
// across runs into one statement per round, fenced by the run's lock token and, in a cluster,
// by the shard lease's epoch (storage/shard_leases) in the same transaction. And what a run reads
// to resume, and what a new owner of shards adopts.
// Knows SQL, not actors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/pg/connection.hpp"
#include "storage/shard_leases.hpp"
#include "domain/records.hpp"

namespace flowtrack::storage {

/// The shard leases a batch of run records is written under (a cluster node): the lease holder
/// and, per record, its workspace's shard and the epoch the node holds it at. Empty (or an epoch
/// of 0): written unfenced, as a single node does.
struct run_fences {
  std::string holder;
  std::vector<shard_leases::held_shard> by_record;  ///< empty, or one per record
};

/// Writes the records; per record, true when applied, false when fenced out (a newer lock
/// holder wrote, the record was applied before, or the execution was cancelled or already
/// finished) — then nothing of it was written. A failing batch falls back to one record per transaction.
///
/// With `fences`, shard_leases::fence_command(holder, the distinct shards and epochs) goes first
/// in the same pipeline (one transaction), so nothing commits unless `holder` still holds every
/// shard at its epoch. When the fence refuses, the records of the shards (at the epochs) that
/// are no longer held answer false, unwritten, and the others are written again without them.
std::vector<result<bool>> write_runs(pg::connection& c, const std::vector<domain::run_record>& records,
                                     const run_fences& fences = {});

/// Executions of the workspaces in `shards` (domain::shard_of) that a new owner of those shards
/// adopts at once: queued or running (whoever ran them is fenced out now), or paused and due.
/// Up to `limit`, oldest first, with their workspaces.
struct adoptable_execution {
  std::string id, workspace_id;
};
result<std::vector<adoptable_execution>> executions_to_adopt(pg::connection& c, const std::vector<int>& shards,
                                                             std::size_t limit);

/// An execution as a run resumes it.
struct execution_state {
  std::string id, workspace_id, workflow_id;
  std::optional<int> workflow_version;
  std::optional<std::string> lead_id;
  domain::execution_status status = domain::execution_status::queued;
  std::optional<std::string> checkpoint;    ///< JSON
  std::optional<std::string> trigger_data;  ///< JSON
  std::optional<std::string> trigger_node_id;
  std::optional<std::string> output_data;  ///< JSON; a failed run names its failed node ("failedNode")
  std::optional<std::int64_t> resume_at_ms;
  std::int64_t created_at_ms = 0;
  std::string lead_json;  ///< {"id","email","name",...,"fields":{key:value}} as runtime::lead_from_json reads
};

/// Loads an execution with its lead; `not_found` when there is none.
/// Folds the execution counters that batches appended (execution_stat_deltas) into
/// workflows.total_executions & co. and workspace_daily_stats, in one short transaction.
/// Returns how many deltas it folded. Any node may call it at any time.
result<std::size_t> fold_stat_deltas(pg::connection& c);

result<execution_state> load_execution(pg::connection& c, std::string_view execution_id);

/// Which workspace an execution belongs to; `not_found` when there is none.
result<std::string> workspace_of_execution(pg::connection& c, std::string_view execution_id);

/// The largest lock token any execution carries (0 when none), to restore Redis' fencing counter.
result<std::uint64_t> max_lock_token(pg::connection& c);

/// Paused executions (id, resume time in ms), for rebuilding the delay queue.
result<std::vector<std::pair<std::string, std::int64_t>>> paused_executions(pg::connection& c, std::size_t limit,
                                                                           std::string_view after_id = {});

/// Executions to adopt: left queued or running and not touched for `stale_ms`, or paused and
/// overdue by `stale_ms` (their wake-up was lost, e.g. a node died between commit and schedule).
result<std::vector<std::string>> stale_executions(pg::connection& c, std::int64_t stale_ms, std::size_t limit);

/// Marks an execution that cannot run (its workflow version is gone) as failed with a reason;
/// false when it had already finished.
result<bool> fail_execution(pg::connection& c, std::string_view execution_id, std::string_view reason);

/// Cancels an execution that has not finished; false when it had already finished.
result<bool> cancel_execution(pg::connection& c, std::string_view execution_id);

/// Makes a failed execution runnable again from its failed step (status queued); false when it
/// is not failed.
result<bool> retry_execution(pg::connection& c, std::string_view execution_id);

namespace detail {
/// The statement `write_runs` sends per round and its binder, for the test that holds each `$n`
/// of the statement against the parameters the binder produces.
const pg::statement& write_runs_statement();
pg::params write_runs_params(const std::vector<domain::run_record>& records, const std::vector<std::size_t>& members);
}  // namespace detail

}  // namespace flowtrack::storage
