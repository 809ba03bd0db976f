// Scheduled triggers as rules: which schedule a workflow's graph asks for (TRIGGER_SCHEDULE's
// cron and zone, its optional leadFilter), which ticks are due at a given time and which of them
// fire (catch-up after downtime, none before the activation), and the idempotency keys that make
// each tick start once. Pure: no I/O, no actors; time passed in.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/compiled_graph.hpp"
#include "runtime/condition.hpp"
#include "runtime/cron.hpp"
#include "runtime/graph.hpp"
#include "runtime/tz.hpp"

namespace flowtrack::domain {

/// The schedule a workflow fires on: its first enabled TRIGGER_SCHEDULE node.
struct schedule_spec {
  runtime::cron_schedule cron;
  std::string zone_name;                         ///< the node's "timezone", else the workspace's
  std::shared_ptr<const runtime::time_zone> zone;
  std::string trigger_node;                      ///< the node's React Flow id
  /// "leadFilter" (the condition rule shape): one execution per matching lead of the workspace;
  /// without it a tick is one execution with no lead.
  std::optional<runtime::condition> lead_filter;

  /// What the tick times depend on ("cron zone"): when it changes, ticks count from the change.
  std::string timing() const { return cron.text() + " " + zone_name; }
};

/// The schedule of a compiled graph (`source` is the graph it was compiled from, for the
/// node's raw "leadFilter"); nothing when it has no enabled TRIGGER_SCHEDULE. The zone is the
/// node's "timezone" or `workspace_zone`, looked up in `zones` ("UTC" needs none). `invalid`
/// naming "timezone" for a zone that cannot be loaded, or "leadFilter..." for a filter that does
/// not compile.
result<std::optional<schedule_spec>> schedule_of(const runtime::workflow_graph& source, const runtime::compiled_graph& graph,
                                                 std::string_view workspace_zone, const runtime::time_zone_db* zones);

/// Where counting ticks starts. A tick fires only when it is at or after the activation and
/// the schedule's last change, and after the last tick already fired or skipped.
struct tick_baseline {
  std::optional<std::int64_t> activated_ms;  ///< workflows.activated_at; none: counts as `now`
  std::optional<std::int64_t> since_ms;      ///< the cron or zone changed then
  std::optional<std::int64_t> last_tick_ms;  ///< the latest tick fired or skipped
};

/// How late a tick may be and still count as on time: it fires whatever the catch-up setting.
/// Later ticks are missed (the node was down or stalled).
inline constexpr std::int64_t k_min_on_time_ms = 60000;

/// What to do with the ticks due at one moment.
struct tick_plan {
  std::vector<std::int64_t> fire;  ///< ticks to fire, oldest first (UTC ms)
  /// Missed ticks not fired (older than the `catch_up` latest missed ones). When `skipped_exact`
  /// is false the count is a lower bound (a long outage is not walked tick by tick).
  std::int64_t skipped = 0;
  bool skipped_exact = true;
  std::optional<std::int64_t> first_skipped, last_skipped;
  /// The latest due tick (fired or skipped): the schedule's last tick once `fire` is done.
  std::optional<std::int64_t> last_due;
  /// The first tick after `now`; none when the schedule never fires again.
  std::optional<std::int64_t> next;
};

/// The ticks of `cron` in `zone` due at `now_ms` after `base`: every tick at most `on_time_ms`
/// old fires; of older (missed) ticks only the latest `catch_up` fire, the rest are skipped.
/// DST gaps and repeats are the cron's (runtime/cron.hpp).
tick_plan plan_ticks(const runtime::cron_schedule& cron, const runtime::time_zone& zone, const tick_baseline& base,
                     std::int64_t now_ms, int catch_up, std::int64_t on_time_ms = k_min_on_time_ms);

/// The idempotency key of a tick without a lead: "<workflow>:<tick as ISO 8601 UTC>".
std::string tick_key(std::string_view workflow_id, std::int64_t tick_ms);
/// The idempotency key of a tick's execution for one lead: "<workflow>:<tick>:<lead>".
std::string tick_key(std::string_view workflow_id, std::int64_t tick_ms, std::string_view lead_id);

/// The trigger data of a tick's executions: {"scheduledAt","cron","timezone"}.
std::string tick_trigger_data(const schedule_spec& spec, std::int64_t tick_ms);

}  // namespace flowtrack::domain
