// The schedule actor: this node's share of the scheduled triggers (TRIGGER_SCHEDULE). Every poll
// it claims the schedules due in PostgreSQL (storage/schedules) and takes each forward one step
// at a time on the PostgreSQL pool's threads: one job at a time, refused work retried at the next
// poll, so a large segment holds one connection per batch and ingress jobs queue between its
// batches. The executions a step started are woken through Redis (a lost wake is adopted later
// from PostgreSQL). Nodes need not know about each other: claims keep them apart, idempotency
// keys make a tick start once. Never blocks; knows no HTTP.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "domain/clock.hpp"
#include "storage/pg/pool.hpp"
#include "storage/redis/connection.hpp"
#include "storage/schedules.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::actors {

/// What the schedule actor uses; the pools, the clock and `options.zones` outlive it.
struct schedule_deps {
  pg::pool* postgres = nullptr;
  storage::worker_pool<redis::connection>* redis = nullptr;
  const domain::clock* clock = &domain::system_clock();
  storage::schedule_options options;       ///< owner: the node id
  std::chrono::milliseconds poll{1000};    ///< how often due schedules are looked for
};

struct schedule_state {
  // Not an aggregate: under C++20, CAF 0.17 would build an aggregate state from `this`.
  schedule_state() = default;
  std::deque<storage::schedule_firing> claimed;  ///< waiting for their next step
  bool busy = false;        ///< a job is on the pool
  bool full_claim = false;  ///< the last claim took a whole batch: claim again once these are done
  bool wait_for_poll = false;  ///< a step failed for now: the next poll tries again
  static inline const char* name = "schedules";
};

/// A node's schedule deps: claims under `node_id`, zones from `zones`; a tick counts as on time
/// for a minute or two polls, whichever is longer.
schedule_deps schedule_deps_for(pg::pool& postgres, storage::worker_pool<redis::connection>& redis,
                                const runtime::time_zone_db& zones, std::string node_id, std::chrono::milliseconds poll,
                                int catch_up_ticks, std::size_t lead_batch);

/// Behaviour; starts polling by itself.
caf::behavior schedule_actor(caf::stateful_actor<schedule_state>* self, schedule_deps deps);

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::vector<flowtrack::storage::schedule_firing>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<flowtrack::storage::schedule_firing>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<flowtrack::storage::schedule_step>)
