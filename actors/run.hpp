// The run actor: one per execution. Takes the execution's lock, steps the compiled graph,
// performs actions through the ports, records steps, lead changes and events through the
// storage writer, and ends (completed / failed) or parks (paused until a time) and quits.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/json/value.hpp>
#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "domain/run_start.hpp"
#include "runtime/compiled_graph.hpp"
#include "runtime/lead.hpp"
#include "runtime/stepper.hpp"
#include "storage/redis/lock.hpp"

namespace flowtrack::actors {

struct run_state {
  // Not an aggregate: under C++20, CAF 0.17 would build an aggregate state from `this`.
  run_state() = default;
  domain::run_start start;
  std::optional<redis::claimed> claim;  ///< delay-queue entry to ack once the run is taken
  runtime::checkpoint cp;
  runtime::run_env env;
  runtime::action_request request;
  std::optional<redis::lease> lease;
  domain::run_record pending;
  std::string in_flight_step_id;
  std::optional<std::string> resumed_step_id;  ///< the in-flight step row of a resumed checkpoint
  std::int64_t in_flight_started_ms = 0;
  bool finished = false;
  int records_sent = 0;
  caf::actor owner;
  std::int64_t epoch = 0;  ///< in a cluster, the epoch of the shard lease the run started under; its writes are fenced by it
  bool handing_off = false;  ///< its shard goes to another node: stop before the next side effect
  std::function<void()> retry_record;  ///< a record waiting for the writer to come back
  static inline const char* name = "run";
};

/// Behaviour of a run actor; it starts by itself and quits when the run ends or parks.
/// `owner` (the workspace actor) hears `(done_atom, actor_id)` when the run ends.
caf::behavior run_actor(caf::stateful_actor<run_state>* self, node_services* node, domain::run_start start,
                        std::optional<redis::claimed> claim, caf::actor owner);

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::optional<flowtrack::redis::lease>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<boost::json::value>)
