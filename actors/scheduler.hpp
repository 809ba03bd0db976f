// The scheduler: wakes executions whose time has come. It claims due entries from the shared
// Redis delay queue and hands them to the workspace registry; rebuilds the queue from
// PostgreSQL's paused executions when Redis lost its data; and adopts executions left queued or
// running by a node that died (their locks expired).
#pragma once

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/messages.hpp"
#include "actors/node.hpp"

namespace flowtrack::actors {

struct scheduler_state {
  // Not an aggregate: under C++20, CAF 0.17 would build an aggregate state from `this`.
  scheduler_state() = default;
  bool claiming = false;
  std::uint64_t woken = 0, rebuilds = 0, adopted = 0;
  static inline const char* name = "scheduler";
};

/// Behaviour; starts its timers by itself.
caf::behavior scheduler(caf::stateful_actor<scheduler_state>* self, node_services* node);

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::vector<flowtrack::redis::claimed>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::vector<std::string>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::paused_list)
