#include "actors/storage_writer.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/sec.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster.hpp"
#include "domain/shard_ring.hpp"
#include "metrics/metrics.hpp"

namespace flowtrack::actors {
namespace {

metrics::family<metrics::histogram>& batch_sizes() {
  static auto& h = metrics::global().histograms("flowtrack_writer_batch_size",
                                                "Items per transaction of the storage writer (group commit), by kind.",
                                                {"kind"}, metrics::histogram::k_size_bounds);
  return h;
}

using self_ptr = caf::stateful_actor<storage_writer_state>*;
using ingest_flush_atom = caf::atom_constant<caf::atom("flush_in")>;
using runs_flush_atom = caf::atom_constant<caf::atom("flush_run")>;
using crash_atom = caf::atom_constant<caf::atom("ft_crash")>;

// Sends as many batches as the in-flight limit allows; the rest keeps growing meanwhile.
template <class Item, class Reply, class Write>
void flush(self_ptr self, node_services* node, write_queue<Item>& q, metrics::histogram& sizes, Write write) {
  while (!q.pending.empty() && q.in_flight < node->options.max_batches_in_flight) {
    std::size_t n = std::min(q.pending.size(), node->options.max_batch);
    sizes.observe(static_cast<double>(n));
    std::vector<Item> batch(std::make_move_iterator(q.pending.begin()), std::make_move_iterator(q.pending.begin() + n));
    q.pending.erase(q.pending.begin(), q.pending.begin() + static_cast<long>(n));
    std::vector<caf::response_promise> promises(q.promises.begin(), q.promises.begin() + static_cast<long>(n));
    q.promises.erase(q.promises.begin(), q.promises.begin() + static_cast<long>(n));
    std::uint64_t id = ++self->state.next_id;
    self->state.waiting.emplace(id, std::move(promises));
    ++q.in_flight;
    ++q.batches;
    q.items += n;
    auto me = caf::actor_cast<caf::actor>(self);
    write(std::move(batch), [me, id, n](result<std::vector<Reply>> r) {
      std::vector<Reply> replies;
      if (r.ok()) replies = std::move(*r);
      else replies.assign(n, Reply(r.err()));
      caf::anon_send(me, done_atom::value, id, std::move(replies));
    });
  }
}

// Queues an item with the promise of its answer; the answer follows the batch's commit.
template <class Item>
void enqueue(self_ptr self, node_services* node, write_queue<Item>& q, Item item,
                              caf::atom_value flush_kind, bool& flush_now) {
  auto rp = self->make_response_promise();
  q.pending.push_back(std::move(item));
  q.promises.push_back(rp);
  flush_now = q.pending.size() >= node->options.max_batch;
  if (!flush_now && !q.flush_scheduled) {
    q.flush_scheduled = true;
    self->delayed_send(self, node->options.group_commit_wait, flush_kind);
  }
}

}  // namespace

caf::behavior storage_writer(self_ptr self, node_services* node) {
  auto write_ingest = [node](std::vector<domain::trigger_record> batch, store_port::answer<ingest_replies> done) {
    node->store->ingest(std::move(batch), std::move(done));
  };
  auto write_runs = [node](std::vector<run_write> batch, store_port::answer<record_replies> done) {
    std::vector<domain::run_record> records;
    storage::run_fences fences;
    records.reserve(batch.size());
    if (node->ownership) {
      fences.holder = node->lease_holder;
      fences.by_record.reserve(batch.size());
    }
    for (auto& w : batch) {
      records.push_back(std::move(w.record));
      if (node->ownership) fences.by_record.push_back(w.fence);
    }
    node->store->write_runs(std::move(records), std::move(fences), std::move(done));
  };
  auto& ingest_sizes = batch_sizes().at({"ingest"});
  auto& run_sizes = batch_sizes().at({"runs"});
  auto flush_ingest = [=, &ingest_sizes] {
    flush<domain::trigger_record, ingest_reply>(self, node, self->state.ingest, ingest_sizes, write_ingest);
  };
  auto flush_runs = [=, &run_sizes] { flush<run_write, record_reply>(self, node, self->state.runs, run_sizes, write_runs); };
  // Queues a record under its shard's lease; one this node does not hold (at the run's epoch)
  // answers false at once: its run stops, and the shard's owner carries the execution on.
  auto take_record = [=](domain::run_record& r, std::int64_t epoch) {
    run_write w{std::move(r), {}};
    if (node->ownership) {
      w.fence.shard = domain::shard_of(w.record.workspace_id);
      auto held = node->ownership->epoch_of(w.fence.shard);
      w.fence.epoch = epoch != 0 ? epoch : held;
      if (held == 0 || w.fence.epoch != held) {
        static auto& refused = metrics::global().counters(
            "flowtrack_cluster_records_refused_total",
            "Run records refused because this node no longer held their shard at the run's epoch (the run stops; the owner redoes its step).");
        refused.at({}).add();
        spdlog::info("writer: a record of execution {} refused: shard {} at epoch {} is not held by this node (held at {})",
                     w.record.execution_id, w.fence.shard, w.fence.epoch, held);
        self->make_response_promise().deliver(record_reply(false));
        return;
      }
    }
    bool now = false;
    enqueue(self, node, self->state.runs, std::move(w), runs_flush_atom::value, now);
    if (now) flush_runs();
  };
  if (node->options.fault_writer_crash) self->delayed_send(self, std::chrono::milliseconds(50), crash_atom::value);
  return {
      [=](ingest_atom, domain::trigger_record& t) {
        // Refused at once, not queued, when the database is this far behind: ingress answers 503.
        if (self->state.ingest.pending.size() >= node->options.max_pending_triggers) {
          self->make_response_promise().deliver(ingest_reply(make_error(
              error_code::unavailable, "the node is busy: too many triggers wait for the database; try again shortly")));
          return;
        }
        bool now = false;
        enqueue(self, node, self->state.ingest, std::move(t), ingest_flush_atom::value, now);
        if (now) flush_ingest();
      },
      [=](record_atom, domain::run_record& r) { take_record(r, 0); },
      [=](record_atom, domain::run_record& r, std::int64_t epoch) { take_record(r, epoch); },
      [=](ingest_flush_atom) {
        self->state.ingest.flush_scheduled = false;
        flush_ingest();
      },
      [=](runs_flush_atom) {
        self->state.runs.flush_scheduled = false;
        flush_runs();
      },
      [=](crash_atom) { self->quit(caf::make_error(caf::sec::runtime_error)); },
      [=](done_atom, std::uint64_t id, ingest_replies& replies) {
        auto it = self->state.waiting.find(id);
        for (std::size_t i = 0; i < replies.size() && i < it->second.size(); ++i) it->second[i].deliver(std::move(replies[i]));
        self->state.waiting.erase(it);
        --self->state.ingest.in_flight;
        flush_ingest();
      },
      [=](done_atom, std::uint64_t id, record_replies& replies) {
        auto it = self->state.waiting.find(id);
        for (std::size_t i = 0; i < replies.size() && i < it->second.size(); ++i) it->second[i].deliver(std::move(replies[i]));
        self->state.waiting.erase(it);
        --self->state.runs.in_flight;
        flush_runs();
      },
  };
}

}  // namespace flowtrack::actors
