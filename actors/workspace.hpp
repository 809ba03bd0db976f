// The workspace actor (one per active workspace, spawned on first use, stopped when idle): it
// caches the workspace's compiled workflows by id and version, turns triggers into durable
// executions through the storage writer, and spawns their runs. The registry routes messages to
// workspace actors by workspace id and forgets the ones that stopped.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/lru_cache.hpp"
#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "actors/run.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::actors {

struct workspace_state {
  // Not an aggregate: under C++20, CAF 0.17 would build an aggregate state from `this`.
  workspace_state() = default;
  std::string workspace_id;
  bool loaded = false;
  bool loading = false;
  std::chrono::steady_clock::time_point loaded_at;  ///< workflows older than the refresh interval are read again
  std::shared_ptr<const domain::workspace_snapshot> workspace;
  std::map<std::string, std::shared_ptr<const domain::workflow_snapshot>> current;  ///< by workflow id
  std::map<std::pair<std::string, int>, std::shared_ptr<const domain::workflow_snapshot>> versions;
  std::deque<std::function<void(const error*)>> waiting;  ///< work held until the load finishes (or fails)
  std::uint64_t runs_spawned = 0;
  std::unordered_map<caf::actor_id, caf::actor> runs;  ///< runs in flight, ended at shutdown
  std::unordered_map<std::string, caf::actor> endpoints;  ///< webhook endpoint actors by endpoint id
  /// A hand-off of the workspace's shard (cluster): answered once the runs ended and the
  /// endpoint actors' deliveries in flight did.
  std::vector<caf::response_promise> handoffs;
  int endpoints_handing = 0;
  /// Form submissions waiting for their rate-limit check, by check id.
  std::unordered_map<std::uint64_t, std::function<void(std::optional<std::chrono::milliseconds>)>> rate_checks;
  std::uint64_t rate_check_seq = 0;
  bool reload_after_load = false;  ///< a change arrived while a load was under way: load again
  /// The last change acted on per row ("w"/"f" + id -> digest and usability): the poll reports a
  /// change for a few seconds, and a row this actor skips (a workflow that does not compile) is
  /// never in its snapshot, so only a change not seen before may start a load.
  std::map<std::string, std::string> acted_on;
  static inline const char* name = "workspace";
};

/// Behaviour: `(trigger_atom, trigger_request) -> ingest_reply`, `(form_atom, form_request) ->
/// form_result`, `(resume_atom, resume_request)`, `(reload_atom)`.
caf::behavior workspace_actor(caf::stateful_actor<workspace_state>* self, node_services* node, std::string workspace_id,
                              caf::actor_addr parent);

struct workspace_registry_state {
  // Not an aggregate: under C++20, CAF 0.17 would build an aggregate state from `this`.
  workspace_registry_state() = default;
  std::unordered_map<std::string, caf::actor> workspaces;
  /// "workflow:<id>" or "slug:<slug>" -> workspace id, as found (active workspaces only).
  std::optional<lru_cache<std::string, std::string>> known_workspaces;
  /// Keys found to name nothing (or an inactive workspace); kept apart, so a flood of random
  /// keys cannot push the good ones out.
  std::optional<lru_cache<std::string, bool>> unknown_keys;
  /// Work waiting while a key's workspace is looked up.
  std::unordered_map<std::string, std::vector<std::function<void(result<std::string>)>>> resolving;
  std::vector<std::string> pending_keys;  ///< to look up in the next batch
  bool lookup_in_flight = false;
  bool lookup_scheduled = false;
  std::chrono::steady_clock::time_point last_lookup;
  std::string poll_since;  ///< where the next tenant poll starts (empty: first poll)
  bool polling = false;
  static inline const char* name = "workspace_registry";
};

/// Tells a workspace actor that a row of its workspace or one of its workflows changed (from
/// the tenant poll), or that the registry found a workflow of it in the database (an empty
/// fingerprint): it reloads when what it holds differs.
using tenant_atom = caf::atom_constant<caf::atom("tenant")>;

/// Behaviour: forwards `(trigger_atom, trigger_request)`, `(form_atom, form_request)` (by
/// workspace slug) and `(resume_atom, resume_request)` to the workspace's actor, spawning it when
/// needed; a trigger or resume without a workspace id is looked up. Slugs and workflow ids are
/// looked up in batches (one statement in flight) and remembered, known and unknown, in bounded
/// caches that expire. Every `tenant_poll_interval` it asks PostgreSQL which workspaces,
/// workflows and form fields changed, drops what it remembered of them and tells their live
/// workspace actors, so a deactivated workspace or paused workflow stops taking triggers on
/// every node within about two poll intervals, however the row changed.
caf::behavior workspace_registry(caf::stateful_actor<workspace_registry_state>* self, node_services* node);

/// Compiles a stored workflow into a snapshot (pure; runs on whichever thread calls it).
result<std::shared_ptr<const domain::workflow_snapshot>> make_snapshot(domain::workflow_record record);

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<flowtrack::actors::workspace_load>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<flowtrack::storage::execution_state>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::shared_ptr<const flowtrack::domain::workflow_snapshot>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<flowtrack::redis::claimed>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::storage::execution_state)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::storage::tenant_change)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<flowtrack::storage::tenant_changes>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<flowtrack::storage::tenant_lookup>)
