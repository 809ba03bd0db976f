// Scheduled triggers in SQL (migration 028): claiming the workflow_schedules rows that are due,
// firing their ticks as queued SCHEDULED executions (one without a lead, or one per lead of the
// workspace that passes the schedule's leadFilter, a batch at a time), and planning or parking
// the schedule. Every write is fenced by the claim's token; exactly once per tick comes from the
// executions' unique idempotency key, so two nodes firing the same tick start it once. `now` is
// always the caller's: tests drive time. Knows SQL, nothing of actors or Redis.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/records.hpp"
#include "domain/schedule.hpp"
#include "runtime/lead.hpp"
#include "runtime/tz.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// How schedules are fired.
struct schedule_options {
  std::string owner = "flowtrackd";           ///< who claims (workflow_schedules.claimed_by): the node id
  std::chrono::milliseconds lease{60000};     ///< a claim lapses after this unless a step renews it
  std::size_t claim_batch = 16;               ///< schedules claimed at once
  std::size_t lead_batch = 500;               ///< leads read, filtered and started per step
  int catch_up_ticks = 1;                     ///< missed ticks fired after downtime (the latest ones)
  std::int64_t on_time_ms = domain::k_min_on_time_ms;  ///< a tick later than this is missed
  const runtime::time_zone_db* zones = nullptr;        ///< zones of schedules and workspaces; null: UTC only
};

/// Something a step did or found that is worth a log line.
struct schedule_note {
  enum class kind {
    fired,           ///< a tick is done: `count` executions started by this node
    skipped,         ///< missed ticks not fired (catch-up): `count` of them (at least, see message)
    parked,          ///< the schedule stops: the workflow is not active, or has no schedule any more
    invalid,         ///< the schedule cannot fire (time zone, leadFilter, graph); it is parked
    quota_exceeded,  ///< the workspace's executions quota stopped a tick
    payment_overdue, ///< the workspace is past due beyond its grace period: ticks start nothing
    claim_lost,      ///< another node took the schedule over (this node's claim lapsed)
  };
  kind what = kind::fired;
  std::string workflow_id;
  std::string message;
  std::int64_t count = 0;
};

/// A claimed schedule on its way: made by claim_schedules, taken forward by advance_schedule,
/// one step at a time. Plain data; a step mutates it.
struct schedule_firing {
  std::string workflow_id, workspace_id, token;
  // The workflow and the schedule row as claimed.
  std::string workflow_name, status;
  bool deleted = false;
  int version = 0;
  std::optional<std::string> graph;  ///< the current version's React Flow JSON
  std::optional<std::int64_t> activated_ms, last_tick_ms, fire_tick_ms, spec_since_ms;
  std::optional<std::string> spec_seen, cursor_created, cursor_id;
  // Planned by the first step.
  bool prepared = false;
  std::shared_ptr<const domain::schedule_spec> spec;
  bool reads_fields = false;      ///< the leadFilter reads custom fields
  std::string trigger_node_id;    ///< workflow_nodes.id of the schedule trigger
  domain::quota_limits quotas;
  runtime::run_env env;
  std::deque<std::int64_t> ticks;  ///< to fire, the current one first
  std::int64_t started_in_tick = 0;
  std::optional<std::int64_t> last_due, next;
};

/// What one step did.
struct schedule_step {
  std::vector<std::string> started;  ///< executions queued by this step: wake them
  std::vector<schedule_note> notes;
  bool done = false;                 ///< the claim is finished (or lost); drop the firing
};

/// Claims up to `o.claim_batch` schedules due at `now_ms` whose claims lapsed (SKIP LOCKED: two
/// nodes never claim the same row at once), each for `o.lease`.
result<std::vector<schedule_firing>> claim_schedules(pg::connection& c, const schedule_options& o, std::int64_t now_ms);

/// Takes a claimed schedule one step on: the first step plans (or parks) it, each further one
/// starts one tick (without a lead) or one batch of a tick's leads, the last one records the
/// ticks done and the next tick and releases the claim. A failed step may be tried again.
result<schedule_step> advance_schedule(pg::connection& c, schedule_firing& f, const schedule_options& o, std::int64_t now_ms);

/// What fire_due_schedules did.
struct schedule_round {
  std::size_t schedules = 0;
  std::vector<std::string> started;
  std::vector<schedule_note> notes;
};

/// Claims and fires everything due at `now_ms`, step after step on this connection (tests, and
/// callers that may block).
result<schedule_round> fire_due_schedules(pg::connection& c, const schedule_options& o, std::int64_t now_ms);

}  // namespace flowtrack::storage
