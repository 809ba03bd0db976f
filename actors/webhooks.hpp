// Outgoing webhooks in the engine. The pump (one per node) claims due deliveries from PostgreSQL
// (new messages and retries whose time came; a lease keeps other nodes off them), hands them to
// the workspace actors, which pass each to its endpoint's actor, and writes the attempts back in
// batches. An endpoint actor (one per endpoint with work, spawned by its workspace actor, gone
// when idle) owns that endpoint's deliveries: at most `max_in_flight` at once, a circuit breaker,
// the retry decision (domain/webhook_policy) and disabling. One slow or dead receiver only ever
// occupies its own actor's slots.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "domain/webhook_policy.hpp"
#include "storage/webhook_outbox.hpp"

namespace flowtrack::actors {

using webhook_atom = caf::atom_constant<caf::atom("webhook")>;  ///< deliveries for a workspace / endpoint
inline const caf::atom_value k_webhook_pump_name = caf::atom("ft_whpump");

struct webhook_endpoint_state {
  webhook_endpoint_state() = default;
  std::string workspace_id, endpoint_id, owner_email;
  std::optional<storage::webhook_endpoint_config> config;
  bool loading = false;
  std::int64_t loaded_at_ms = 0;
  std::deque<storage::due_delivery> queue;
  std::unordered_set<std::string> known;  ///< queued or in flight: a claim that comes again is not sent twice
  int in_flight = 0;
  domain::webhook::breaker breaker;
  bool probe_scheduled = false;
  std::int64_t last_work_ms = 0;
  /// The workspace's shard goes to another node: claims given back, answered once none is in flight.
  std::vector<caf::response_promise> handoffs;
  static inline const char* name = "webhook_endpoint";
};

/// Behaviour: `(webhook_atom, std::vector<storage::due_delivery>)` queues deliveries of this
/// endpoint. Tells `owner` `(done_atom, endpoint id)` when it stops (idle).
caf::behavior webhook_endpoint(caf::stateful_actor<webhook_endpoint_state>* self, node_services* node,
                               std::string workspace_id, std::string endpoint_id, std::string owner_email, caf::actor owner);

struct webhook_pump_state {
  webhook_pump_state() = default;
  bool claiming = false;
  std::deque<storage::webhook_attempt_record> records;  ///< attempts waiting to be written
  int record_batches_in_flight = 0;
  std::uint64_t claimed = 0, recorded = 0;
  std::vector<caf::response_promise> drained;  ///< answered once every attempt so far is written
  static inline const char* name = "webhook_pump";
};

/// Behaviour; polls every `webhook_poll_interval` (at once again after a full batch) and takes
/// `(record_atom, storage::webhook_attempt_record)` from endpoint actors.
caf::behavior webhook_pump(caf::stateful_actor<webhook_pump_state>* self, node_services* node);

/// Routes a workspace's claimed deliveries to its endpoint actors, spawning them; called by the
/// workspace actor (its state holds `endpoints`).
void route_webhooks(caf::event_based_actor* self, node_services* node, std::unordered_map<std::string, caf::actor>& endpoints,
                    const std::string& workspace_id, const std::string& owner_email, std::vector<storage::due_delivery> batch);

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::storage::due_delivery)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<flowtrack::storage::due_delivery>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::storage::webhook_attempt_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<flowtrack::storage::webhook_endpoint_config>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::vector<flowtrack::storage::due_delivery>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::webhook_sent)
