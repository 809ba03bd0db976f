#include "actors/scheduler.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/workspace.hpp"
#include "metrics/metrics.hpp"
#include "storage/executions.hpp"
#include "storage/redis/delay_queue.hpp"
#include "storage/redis/lock.hpp"
#include "storage/runs.hpp"

namespace flowtrack::actors {
namespace {

// Entries in the execution queue (scheduled resumes and unacknowledged claims), as last counted;
// read by /metrics.
std::atomic<std::int64_t>& queue_depth() {
  static std::atomic<std::int64_t> depth{0};
  static bool registered = [] {
    metrics::global().gauge("flowtrack_queue_depth", "Entries in a Redis queue, counted every few seconds.", {"queue"},
                            [] { return std::vector<metrics::gauge_reading>{{{"executions"}, static_cast<double>(depth.load())}}; });
    return true;
  }();
  (void)registered;
  return depth;
}

using self_ptr = caf::stateful_actor<scheduler_state>*;
using rebuild_atom = caf::atom_constant<caf::atom("rebuild")>;
using recover_atom = caf::atom_constant<caf::atom("recover")>;
using fold_atom = caf::atom_constant<caf::atom("fold")>;

// Present while Redis holds the queue built from PostgreSQL; gone when Redis lost its data.
constexpr std::string_view k_built_key = "ft:sched:built";
constexpr std::size_t k_claim_batch = 256;

// Paused executions to schedule, and the largest fencing token PostgreSQL holds (first entry,
// id empty) so Redis' counter can be restored above it.
result<std::vector<std::pair<std::string, std::int64_t>>> paused_execution_list(pg::connection& c) {
  std::vector<std::pair<std::string, std::int64_t>> all;
  auto top = storage::max_lock_token(c);
  if (!top) return top.err();
  all.emplace_back(std::string(), static_cast<std::int64_t>(*top));
  std::string after;
  for (;;) {
    auto page = storage::paused_executions(c, 5000, after);
    if (!page) return page.err();
    all.insert(all.end(), page->begin(), page->end());
    if (page->size() < 5000) return all;
    after = page->back().first;
  }
}

}  // namespace

caf::behavior scheduler(self_ptr self, node_services* node) {
  auto me = caf::actor_cast<caf::actor>(self);
  self->send(self, tick_atom::value);
  self->send(self, rebuild_atom::value);
  self->send(self, recover_atom::value);
  self->send(self, fold_atom::value);
  auto registry = [self] { return self->system().registry().get<caf::actor>(k_registry_name); };
  return {
      [=](tick_atom) {
        if (self->state.claiming) return;
        self->state.claiming = true;
        auto now = node->clock->wall_ms();
        auto visibility = node->options.claim_visibility;
        node->redis->submit([me, now, visibility](redis::connection& c) {
          auto r = redis::delay_queue(c, storage::k_execution_queue).claim(now, k_claim_batch, visibility);
          caf::anon_send(me, done_atom::value, std::move(r));
        });
      },
      [=](done_atom, result<std::vector<redis::claimed>>& r) {
        self->state.claiming = false;
        bool full = false;
        if (!r.ok()) {
          spdlog::warn("scheduler: cannot claim due executions: {}", r.err().message);
        } else {
          full = r->size() == k_claim_batch;
          auto reg = registry();
          if (!r->empty()) spdlog::debug("scheduler: {} due executions claimed (registry {})", r->size(), reg ? "found" : "missing");
          for (auto& c : *r) {
            ++self->state.woken;
            self->send(reg, resume_atom::value, resume_request{"", c.id, c});
          }
        }
        if (full) self->send(self, tick_atom::value);
        else self->delayed_send(self, node->options.scheduler_tick, tick_atom::value);
      },
      [=](rebuild_atom) {
        // Cheap check first: the marker disappears with the rest of Redis' data.
        node->redis->submit([me](redis::connection& r) {
          auto exists = r.command({"EXISTS", k_built_key});
          if (exists.ok() && exists->integer == 0) caf::anon_send(me, rebuild_atom::value, true);
          if (auto n = redis::delay_queue(r, storage::k_execution_queue).size(); n)
            queue_depth().store(static_cast<std::int64_t>(*n), std::memory_order_relaxed);
        });
        self->delayed_send(self, node->options.rebuild_check_interval, rebuild_atom::value);
      },
      [=](rebuild_atom, bool) {
        // Redis lost the queue: page paused executions out of PostgreSQL into it.
        ++self->state.rebuilds;
        node->postgres->submit(
            [](pg::connection& c) { return paused_execution_list(c); },
            [node](result<std::vector<std::pair<std::string, std::int64_t>>> paused) {
              if (!paused.ok()) return spdlog::warn("scheduler: cannot read paused executions: {}", paused.err().message);
              node->redis->submit([list = std::move(*paused)](redis::connection& r) {
                // Fencing tokens must keep growing across the loss, or every write of a resumed
                // run would be fenced out by the token it stored before.
                if (auto f = redis::lock_service(r).raise_fencing_floor(static_cast<std::uint64_t>(list.front().second) + 1); !f)
                  return spdlog::warn("scheduler: rebuild failed: {}", f.err().message);
                redis::delay_queue q(r, storage::k_execution_queue);
                for (std::size_t i = 1; i < list.size(); ++i)
                  if (auto s = q.schedule(list[i].first, list[i].second); !s)
                    return spdlog::warn("scheduler: rebuild failed: {}", s.err().message);
                if (auto s = r.command({"SET", k_built_key, "1"}); s.ok())
                  spdlog::info("scheduler: rebuilt the delay queue from PostgreSQL ({} paused executions)", list.size() - 1);
              });
            },
            true);
      },
      [=](recover_atom) {
        // Executions whose lock holder went away: queue them now; the run that takes the lock adopts them.
        auto stale_ms = static_cast<std::int64_t>(node->options.lock_ttl.count());
        node->postgres->submit([stale_ms](pg::connection& c) { return storage::stale_executions(c, stale_ms, 1000); },
                               [me, node](result<std::vector<std::string>> ids) {
                                 if (!ids.ok() || ids->empty()) return;
                                 caf::anon_send(me, recover_atom::value, ids->size());
                                 auto now = node->clock->wall_ms();
                                 node->redis->submit([ids = std::move(*ids), now](redis::connection& r) {
                                   redis::delay_queue q(r, storage::k_execution_queue);
                                   for (const auto& id : ids) (void)q.schedule(id, now);
                                 });
                               },
                               true);
        self->delayed_send(self, node->options.recovery_interval, recover_atom::value);
      },
      [=](recover_atom, std::size_t n) { self->state.adopted += n; },
      [=](fold_atom) {
        // Execution counters: the writers append deltas, this folds them (see storage::fold_stat_deltas).
        node->postgres->submit([](pg::connection& c) { return storage::fold_stat_deltas(c); },
                               [](result<std::size_t> r) {
                                 if (!r) spdlog::warn("scheduler: could not fold execution counters: {}", r.err().message);
                               },
                               true);
        self->delayed_send(self, node->options.stats_fold_interval, fold_atom::value);
      },
  };
}

}  // namespace flowtrack::actors
