// The housekeeping timer: runs each housekeeping job (storage/housekeeping.hpp) on its interval,
// once per cluster under the job's lease row. The actor only keeps time; every step of a run
// (claim, batches, release) is a job on the PostgreSQL pool's threads, one batch a job, so a long
// run never holds an actor thread or more than one pool thread at a time. Counts go to /metrics
// (flowtrack_housekeeping_*) and one log line a run. Knows nothing of HTTP or the CLI.
#pragma once

#include <chrono>
#include <string>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include "storage/housekeeping.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::actors {

/// What the housekeeping actor needs; the pool outlives the actor (and the runs it started).
struct housekeeping_deps {
  pg::pool* postgres = nullptr;
  std::string node_id;                          ///< the lease holder's name
  storage::housekeeping::options options;       ///< retentions, batch size, lock timeout
  std::chrono::seconds interval{3600};          ///< a job runs on the cluster at most this often
  std::chrono::seconds lease_ttl{300};          ///< a lease not renewed (a dead node) frees after this
  /// daily-stats runs this often instead (at most `interval`): it recomputes each workspace's
  /// today and yesterday, which keeps workspace_daily_stats exact in the workspace's own day
  /// within this delay of the source rows (the live increments count by the server's date).
  std::chrono::seconds daily_stats_interval{300};
};

/// Behaviour: looks every min(interval, 60 s) for due jobs (the first time after
/// min(interval, 30 s)) and runs those whose lease it gets, one run per job at a time.
caf::behavior housekeeping_actor(caf::event_based_actor* self, housekeeping_deps deps);

}  // namespace flowtrack::actors
