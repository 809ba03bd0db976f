// The engine's supervision tree on one node: a root supervisor over the storage writer, the
// workspace registry (and through it every workspace and run) and the scheduler.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/node.hpp"

namespace flowtrack::actors {

/// Spawns the tree; the returned root supervisor stops everything when sent an exit.
/// `node` must outlive the actors. `on_give_up` hears of a core actor (storage writer, workspace
/// registry, scheduler) that crashed more often than the supervisor restarts it: the engine is
/// gone then.
caf::actor start_engine(caf::actor_system& system, node_services* node,
                        std::function<void(const std::string& actor, const std::string& reason)> on_give_up = {});

/// The workspace registry, the entry point for `(trigger_atom, trigger_request)`.
caf::actor engine_registry(caf::actor_system& system);

/// The actor system settings a node runs with (scheduler threads).
void configure_engine(caf::actor_system_config& cfg, int worker_threads);

}  // namespace flowtrack::actors
