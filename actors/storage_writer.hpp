// The storage writer: group commit. Triggers and run records that arrive together share one
// transaction (bounded by a batch size and about a millisecond of waiting); the writes run on
// the store's I/O threads, never on an actor thread.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include <caf/behavior.hpp>
#include <caf/response_promise.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/messages.hpp"
#include "actors/node.hpp"

namespace flowtrack::actors {

/// A run record with the shard lease it is written under (epoch 0: unfenced, a single node).
struct run_write {
  domain::run_record record;
  storage::shard_leases::held_shard fence;
};

/// One kind of write waiting for its transaction.
template <class Item>
struct write_queue {
  std::vector<Item> pending;
  std::vector<caf::response_promise> promises;
  int in_flight = 0;
  bool flush_scheduled = false;
  std::uint64_t batches = 0, items = 0;
};

struct storage_writer_state {
  // Not an aggregate: under C++20, CAF 0.17 would build an aggregate state from `this`.
  storage_writer_state() = default;
  write_queue<domain::trigger_record> ingest;
  write_queue<run_write> runs;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::vector<caf::response_promise>> waiting;
  static inline const char* name = "storage_writer";
};

/// Behaviour: `(ingest_atom, trigger_record) -> ingest_reply` (`unavailable` at once when
/// `max_pending_triggers` wait already) and
/// `(record_atom, run_record[, epoch]) -> record_reply`. In a cluster (node_services::ownership)
/// a record is written fenced by its workspace's shard at the epoch its run started under (or,
/// without one, the epoch held now); a record of a shard this node does not hold at that epoch
/// answers false at once, unwritten.
caf::behavior storage_writer(caf::stateful_actor<storage_writer_state>* self, node_services* node);

}  // namespace flowtrack::actors
