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
#include "runtime/compiled_graph.hpp"
#include "runtime/lead.hpp"
#include "runtime/stepper.hpp"
#include "storage/redis/lock.hpp"

namespace flowtrack::actors {

/// A workflow version as runs need it; immutable and shared.
struct workflow_snapshot {
  std::string id;
  std::string name;
  int version = 1;
  std::string status;
  std::string settings;
  std::shared_ptr<const runtime::compiled_graph> graph;
  std::map<std::string, std::string> node_ids;   ///< React Flow node id -> workflow_nodes.id
  std::map<std::string, std::string> field_ids;  ///< form field key -> form_fields.id
  storage::workflow_record record;               ///< as loaded (fields, booking url)
  std::shared_ptr<const form_spec> form;         ///< its public form (fields with parsed rules)
};

/// The workspace facts runs need; immutable and shared.
struct workspace_snapshot {
  storage::workspace_info info;
  std::shared_ptr<const runtime::time_zone> zone;
};

/// Everything a run actor starts from.
struct run_start {
  std::string execution_id;
  std::shared_ptr<const workflow_snapshot> workflow;
  std::shared_ptr<const workspace_snapshot> workspace;
  std::optional<std::string> lead_id;
  runtime::lead lead;
  boost::json::value trigger_data;
  std::optional<std::string> checkpoint;  ///< JSON when resuming
  std::string execution_status;           ///< as loaded ("queued" for a fresh run)
  std::optional<std::string> failed_node; ///< retry: the node to run again
  std::optional<std::string> trigger_node;  ///< React Flow id of the trigger (fresh runs)
  std::int64_t created_at_ms = 0;
  std::optional<redis::claimed> claim;    ///< delay-queue entry to ack once the run is taken
};

struct run_state {
  // Not an aggregate: under C++20, CAF 0.17 would build an aggregate state from `this`.
  run_state() = default;
  run_start start;
  runtime::checkpoint cp;
  runtime::run_env env;
  runtime::action_request request;
  std::optional<redis::lease> lease;
  storage::run_record pending;
  std::string in_flight_step_id;
  std::optional<std::string> resumed_step_id;  ///< the in-flight step row of a resumed checkpoint
  std::int64_t in_flight_started_ms = 0;
  bool finished = false;
  int records_sent = 0;
  caf::actor owner;
  std::function<void()> retry_record;  ///< a record waiting for the writer to come back
  static inline const char* name = "run";
};

/// Behaviour of a run actor; it starts by itself and quits when the run ends or parks.
/// `owner` (the workspace actor) hears `(done_atom, actor_id)` when the run ends.
caf::behavior run_actor(caf::stateful_actor<run_state>* self, node_services* node, run_start start, caf::actor owner);

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::optional<flowtrack::redis::lease>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<boost::json::value>)
