// The health actor: answers whether PostgreSQL and Redis are reachable, asking each through
// its own I/O threads so the actor never blocks. Knows nothing of HTTP.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include "storage/pg/pool.hpp"
#include "storage/redis/connection.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::actors {

/// What a readiness check found; an empty error means reachable. The errors are short phrases of
/// ours ("unreachable", "no answer in time"), never a server's text or a connection string.
struct health_report {
  std::string postgres_error;
  std::string redis_error;
  /// Core actors that exhausted their restarts (the node is going down).
  std::vector<std::string> failed;
  bool ready() const { return postgres_error.empty() && redis_error.empty() && failed.empty(); }
};

/// The core actors that exhausted their restarts; written by the supervisor's give-up handler,
/// read by readiness checks on any thread.
class failed_actors {
 public:
  void add(std::string name) {
    std::lock_guard lock(mutex_);
    names_.push_back(std::move(name));
  }
  std::vector<std::string> names() const {
    std::lock_guard lock(mutex_);
    return names_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> names_;
};

/// Called once with the report, on whichever thread finished last.
using health_callback = std::function<void(health_report)>;

using check_atom = caf::atom_constant<caf::atom("check")>;

/// What the health actor asks.
struct health_deps {
  pg::pool* postgres;
  storage::worker_pool<redis::connection>* redis;
  const failed_actors* failed = nullptr;  ///< optional; outlives the actor
  std::chrono::milliseconds timeout{2000};
};

/// Behaviour: `(check_atom, health_callback)` runs both checks and calls back within the timeout.
caf::behavior health_actor(caf::event_based_actor* self, health_deps deps);

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::health_callback)
