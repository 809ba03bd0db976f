// A one-for-one supervisor: starts its children linked, restarts a child that crashed (logging
// the reason) unless restarts exceed an intensity limit, and takes its children down with it.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace flowtrack::actors {

/// How to start one child.
struct child_spec {
  std::string name;
  std::function<caf::actor(caf::event_based_actor* parent)> start;  ///< spawns the child
  std::optional<caf::atom_value> registered_as;  ///< kept current in the system registry
};

struct supervisor_state {
  // Not an aggregate: under C++20, CAF 0.17 would build an aggregate state from `this`.
  supervisor_state() = default;
  std::vector<child_spec> specs;
  std::vector<caf::actor> children;
  std::deque<std::chrono::steady_clock::time_point> restarts;
  std::uint64_t total_restarts = 0;
  static inline const char* name = "supervisor";
};

/// Called once when the supervisor gives up, on its thread, with the child that crashed last and
/// why (CAF's error text: no secrets).
using give_up_handler = std::function<void(const std::string& child, const std::string& reason)>;

/// Behaviour: at most `max_restarts` restarts within `window`; beyond that it calls `on_give_up`
/// and stops, and with it every child. `(caf::atom("restarts"))` answers the restart count.
caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self, std::vector<child_spec> specs, int max_restarts,
                         std::chrono::milliseconds window, give_up_handler on_give_up = {});

}  // namespace flowtrack::actors
