// The health actor: answers whether PostgreSQL and Redis are reachable, asking each through
// its own I/O threads so the actor never blocks. Knows nothing of HTTP.
#pragma once

#include <functional>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include "storage/pg/pool.hpp"
#include "storage/redis/connection.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::actors {

/// What a readiness check found; an empty error means reachable.
struct health_report {
  std::string postgres_error;
  std::string redis_error;
  bool ready() const { return postgres_error.empty() && redis_error.empty(); }
};

/// Called once with the report, on whichever thread finished last.
using health_callback = std::function<void(health_report)>;

using check_atom = caf::atom_constant<caf::atom("check")>;

/// What the health actor asks.
struct health_deps {
  pg::pool* postgres;
  storage::worker_pool<redis::connection>* redis;
  std::chrono::milliseconds timeout{2000};
};

/// Behaviour: `(check_atom, health_callback)` runs both checks and calls back within the timeout.
caf::behavior health_actor(caf::event_based_actor* self, health_deps deps);

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::health_callback)
