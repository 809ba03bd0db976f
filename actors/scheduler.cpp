#include "actors/scheduler.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/workspace.hpp"
#include "metrics/metrics.hpp"

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
using purge_atom = caf::atom_constant<caf::atom("purge")>;

constexpr std::size_t k_claim_batch = 256;

}  // namespace

caf::behavior scheduler(self_ptr self, node_services* node) {
  auto me = caf::actor_cast<caf::actor>(self);
  self->send(self, tick_atom::value);
  self->send(self, rebuild_atom::value);
  self->send(self, recover_atom::value);
  self->send(self, fold_atom::value);
  self->delayed_send(self, std::chrono::seconds(30), purge_atom::value);  // not in the start-up rush
  auto registry = [self] { return self->system().registry().get<caf::actor>(k_registry_name); };
  return {
      [=](tick_atom) {
        if (self->state.claiming) return;
        self->state.claiming = true;
        auto now = node->clock->wall_ms();
        auto visibility = node->options.claim_visibility;
        node->store->claim_due(now, k_claim_batch, visibility, [me](result<std::vector<redis::claimed>> r) {
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
        node->store->check_queue([me](bool lost, std::optional<std::size_t> depth) {
          if (lost) caf::anon_send(me, rebuild_atom::value, true);
          if (depth) queue_depth().store(static_cast<std::int64_t>(*depth), std::memory_order_relaxed);
        });
        self->delayed_send(self, node->options.rebuild_check_interval, rebuild_atom::value);
      },
      [=](rebuild_atom, bool) {
        // Redis lost the queue: page paused executions out of PostgreSQL into it.
        ++self->state.rebuilds;
        node->store->paused_executions([node](paused_list paused) {
          if (!paused.ok()) return spdlog::warn("scheduler: cannot read paused executions: {}", paused.err().message);
          node->store->rebuild_queue(std::move(*paused));
        });
      },
      [=](recover_atom) {
        // Executions whose lock holder went away: queue them now; the run that takes the lock adopts them.
        auto stale_ms = static_cast<std::int64_t>(node->options.lock_ttl.count());
        node->store->stale_executions(stale_ms, 1000, [me, node](result<std::vector<std::string>> ids) {
          if (!ids.ok() || ids->empty()) return;
          caf::anon_send(me, recover_atom::value, ids->size());
          node->store->schedule_now(std::move(*ids), node->clock->wall_ms());
        });
        self->delayed_send(self, node->options.recovery_interval, recover_atom::value);
      },
      [=](recover_atom, std::size_t n) { self->state.adopted += n; },
      [=](fold_atom) {
        // Execution counters: the writers append deltas, this folds them (see storage::fold_stat_deltas).
        node->store->fold_stat_deltas([](result<std::size_t> r) {
          if (!r) spdlog::warn("scheduler: could not fold execution counters: {}", r.err().message);
        });
        self->delayed_send(self, node->options.stats_fold_interval, fold_atom::value);
      },
      [=](purge_atom) {
        // Unreadable intake mail is kept for 30 days; a full batch goes on at once.
        node->store->purge_unparsed_mail([me](result<std::size_t> r) {
          if (!r) return spdlog::warn("scheduler: could not remove expired unreadable mail: {}", r.err().message);
          if (*r > 0) spdlog::info("scheduler: removed {} expired unreadable mails", *r);
          if (*r >= storage::unparsed_purge_batch) caf::anon_send(me, purge_atom::value, true);
        });
        self->delayed_send(self, node->options.purge_interval, purge_atom::value);
      },
      [=](purge_atom, bool) {
        node->store->purge_unparsed_mail([me](result<std::size_t> r) {
          if (r && *r >= storage::unparsed_purge_batch) caf::anon_send(me, purge_atom::value, true);
        });
      },
  };
}

}  // namespace flowtrack::actors
