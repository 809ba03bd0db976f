#include "actors/schedules.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"
#include "storage/workflow_documents.hpp"

namespace flowtrack::actors {
namespace {

using self_ptr = caf::stateful_actor<schedule_state>*;
using poll_atom = caf::atom_constant<caf::atom("sch_poll")>;
using claimed_atom = caf::atom_constant<caf::atom("sch_claim")>;
using stepped_atom = caf::atom_constant<caf::atom("sch_step")>;

struct schedule_metrics {
  metrics::counter& fired;
  metrics::counter& skipped;
  metrics::counter& started;
};

schedule_metrics& counters() {
  static schedule_metrics m = [] {
    auto& ticks = metrics::global().counters("flowtrack_schedule_ticks_total",
                                             "Ticks of scheduled triggers this node fired, or skipped after downtime.", {"outcome"});
    // Scheduled executions count among the accepted triggers, as the other kinds do.
    auto& accepted = metrics::global().counters("flowtrack_triggers_accepted_total", "Triggers made durable, by how they arrived.",
                                                {"trigger"});
    return schedule_metrics{ticks.at({"fired"}), ticks.at({"skipped"}), accepted.at({"schedule"})};
  }();
  return m;
}

void report(const storage::schedule_note& n) {
  using k = storage::schedule_note::kind;
  switch (n.what) {
    case k::fired:
      counters().fired.add();
      if (n.count > 0) spdlog::info("schedule {}: {}, {} executions started here", n.workflow_id, n.message, n.count);
      else spdlog::debug("schedule {}: {}, nothing started here", n.workflow_id, n.message);
      break;
    case k::skipped:
      counters().skipped.add(static_cast<std::uint64_t>(n.count));
      spdlog::warn("schedule {}: {}", n.workflow_id, n.message);
      break;
    case k::parked: spdlog::debug("schedule {}: not scheduled: {}", n.workflow_id, n.message); break;
    case k::invalid: spdlog::warn("schedule {}: cannot fire: {}", n.workflow_id, n.message); break;
    case k::quota_exceeded:
    case k::payment_overdue: spdlog::warn("schedule {}: {}", n.workflow_id, n.message); break;
    case k::claim_lost: spdlog::info("schedule {}: {}", n.workflow_id, n.message); break;
  }
}

// Wakes the executions a step started, on a Redis worker; a lost wake leaves the execution queued
// in PostgreSQL, where the scheduler's recovery adopts it.
void wake(const schedule_deps& deps, std::vector<std::string> ids) {
  if (ids.empty()) return;
  counters().started.add(ids.size());
  deps.redis->submit([ids = std::move(ids), now = deps.clock->wall_ms()](redis::connection& c) {
    std::size_t lost = 0;
    for (const auto& id : ids)
      if (!storage::wake_execution(c, id, now)) ++lost;
    if (lost > 0) spdlog::warn("schedules: {} of {} started executions could not be woken; they are adopted later", lost, ids.size());
  });
}

void next(self_ptr self, const schedule_deps& deps);

void claim(self_ptr self, const schedule_deps& deps) {
  auto& st = self->state;
  st.busy = true;
  st.full_claim = false;
  auto me = caf::actor_cast<caf::actor>(self);
  deps.postgres->try_submit(
      [options = deps.options, now = deps.clock->wall_ms()](pg::connection& c) { return storage::claim_schedules(c, options, now); },
      [me](result<std::vector<storage::schedule_firing>> r) { caf::anon_send(me, claimed_atom::value, std::move(r)); });
}

void step(self_ptr self, const schedule_deps& deps) {
  auto& st = self->state;
  st.busy = true;
  auto firing = std::make_shared<storage::schedule_firing>(std::move(st.claimed.front()));
  st.claimed.pop_front();
  auto me = caf::actor_cast<caf::actor>(self);
  // The firing travels with the job and comes back with its answer: one owner at a time.
  deps.postgres->try_submit(
      [firing, options = deps.options, now = deps.clock->wall_ms()](pg::connection& c) {
        return storage::advance_schedule(c, *firing, options, now);
      },
      [me, firing](result<storage::schedule_step> r) { caf::anon_send(me, stepped_atom::value, firing, std::move(r)); });
}

// The next piece of work, if any and none is running.
void next(self_ptr self, const schedule_deps& deps) {
  auto& st = self->state;
  if (st.busy || st.wait_for_poll) return;
  if (!st.claimed.empty()) return step(self, deps);
  if (st.full_claim) claim(self, deps);
}

}  // namespace

schedule_deps schedule_deps_for(pg::pool& postgres, storage::worker_pool<redis::connection>& redis,
                                const runtime::time_zone_db& zones, std::string node_id, std::chrono::milliseconds poll,
                                int catch_up_ticks, std::size_t lead_batch) {
  schedule_deps d;
  d.postgres = &postgres;
  d.redis = &redis;
  d.poll = poll;
  d.options.owner = std::move(node_id);
  d.options.zones = &zones;
  d.options.catch_up_ticks = catch_up_ticks;
  d.options.lead_batch = lead_batch;
  d.options.on_time_ms = std::max<std::int64_t>(domain::k_min_on_time_ms, 2 * static_cast<std::int64_t>(poll.count()));
  return d;
}

caf::behavior schedule_actor(self_ptr self, schedule_deps deps) {
  self->send(self, poll_atom::value);
  return {
      [=](poll_atom) {
        self->delayed_send(self, deps.poll, poll_atom::value);
        auto& st = self->state;
        st.wait_for_poll = false;
        if (st.busy) return;
        if (st.claimed.empty()) return claim(self, deps);
        next(self, deps);
      },
      [=](claimed_atom, result<std::vector<storage::schedule_firing>>& r) {
        auto& st = self->state;
        st.busy = false;
        if (!r.ok()) {
          // Busy or away: the next poll asks again.
          spdlog::debug("schedules: cannot claim due schedules: {}", r.err().message);
          return;
        }
        st.full_claim = r->size() >= deps.options.claim_batch;
        for (auto& f : *r) st.claimed.push_back(std::move(f));
        next(self, deps);
      },
      [=](stepped_atom, std::shared_ptr<storage::schedule_firing>& firing, result<storage::schedule_step>& r) {
        auto& st = self->state;
        st.busy = false;
        if (!r.ok()) {
          if (r.err().transient()) {
            // The pool was full or the server away: the same step again at the next poll (its
            // claim holds for the lease; if that lapses, another node takes over).
            spdlog::debug("schedule {}: step postponed: {}", firing->workflow_id, r.err().message);
            st.claimed.push_front(std::move(*firing));
            st.wait_for_poll = true;
          } else {
            spdlog::error("schedule {}: step failed: {}; another claim retries it", firing->workflow_id, r.err().message);
          }
          return next(self, deps);
        }
        for (const auto& n : r->notes) report(n);
        wake(deps, std::move(r->started));
        if (!r->done) st.claimed.push_front(std::move(*firing));
        next(self, deps);
      },
  };
}

}  // namespace flowtrack::actors
