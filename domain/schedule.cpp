#include "domain/schedule.hpp"

#include <algorithm>

#include <boost/json.hpp>

namespace flowtrack::domain {
namespace json = boost::json;
namespace {

// Ticks are whole seconds; instants are milliseconds.
std::int64_t floor_s(std::int64_t ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }
std::int64_t ceil_s(std::int64_t ms) { return -floor_s(-ms); }

// A walk of a long outage never takes more ticks than this per window.
constexpr std::size_t k_max_ticks_per_window = 100000;
// Skipped ticks before the window are counted one by one up to this many.
constexpr std::size_t k_max_counted_skips = 1000;

}  // namespace

result<std::optional<schedule_spec>> schedule_of(const runtime::workflow_graph& source, const runtime::compiled_graph& graph,
                                                 std::string_view workspace_zone, const runtime::time_zone_db* zones) {
  auto at = graph.find_trigger(runtime::node_type::trigger_schedule);
  if (!at) return std::optional<schedule_spec>();
  const auto& node = graph.at(*at);
  const auto* config = std::get_if<runtime::schedule_config>(&node.config);
  if (!config) return std::optional<schedule_spec>();
  schedule_spec spec;
  spec.cron = config->cron;
  spec.trigger_node = node.id;
  spec.zone_name = config->zone_name.empty() ? std::string(workspace_zone) : config->zone_name;
  if (spec.zone_name.empty() || spec.zone_name == "UTC") {
    spec.zone_name = "UTC";
    spec.zone = runtime::time_zone::utc();
  } else if (config->zone && config->zone->name() == spec.zone_name) {
    spec.zone = config->zone;
  } else {
    auto zone = zones ? zones->get(spec.zone_name)
                      : result<std::shared_ptr<const runtime::time_zone>>(make_error(error_code::not_found, "no zone database"));
    if (!zone) return make_error(error_code::invalid, "the schedule's time zone '" + spec.zone_name + "' cannot be loaded", "timezone");
    spec.zone = *zone;
  }
  for (const auto& n : source.nodes) {
    if (n.id != node.id) continue;
    const auto* filter = n.data.if_contains("leadFilter");
    if (!filter || filter->is_null()) break;
    auto compiled = runtime::condition::compile(*filter);
    if (!compiled) {
      auto e = compiled.err();
      e.message = "leadFilter: " + e.message;
      e.subject = e.subject.empty() ? "leadFilter" : "leadFilter." + e.subject;
      return e;
    }
    spec.lead_filter = std::move(*compiled);
    break;
  }
  return std::optional<schedule_spec>(std::move(spec));
}

tick_plan plan_ticks(const runtime::cron_schedule& cron, const runtime::time_zone& zone, const tick_baseline& base,
                     std::int64_t now_ms, int catch_up, std::int64_t on_time_ms) {
  tick_plan plan;
  const std::int64_t now_s = floor_s(now_ms);
  // Ticks strictly after `after_s` count: at or after the activation and the last change,
  // after the last tick.
  std::int64_t after_s = ceil_s(base.activated_ms.value_or(now_ms)) - 1;
  if (base.since_ms) after_s = std::max(after_s, ceil_s(*base.since_ms) - 1);
  if (base.last_tick_ms) after_s = std::max(after_s, floor_s(*base.last_tick_ms));
  if (auto next = cron.next_after(std::max(after_s, now_s), zone)) plan.next = *next * 1000;
  if (after_s >= now_s) return plan;

  const auto wanted = static_cast<std::size_t>(std::max(catch_up, 0));
  auto missed = [&](std::int64_t t_s) { return t_s * 1000 < now_ms - on_time_ms; };
  // The latest due ticks, found in windows back from now that grow until they hold the
  // `catch_up` latest missed ticks or reach the baseline: a long outage is not walked tick by tick.
  std::vector<std::int64_t> due;
  std::int64_t lo = after_s;
  for (std::int64_t window = 3600;; window *= 8) {
    lo = std::max(after_s, now_s - window);
    due.clear();
    for (auto t = cron.next_after(lo, zone); t && *t <= now_s && due.size() < k_max_ticks_per_window; t = cron.next_after(*t, zone))
      due.push_back(*t);
    const auto missed_in_window = static_cast<std::size_t>(std::count_if(due.begin(), due.end(), missed));
    if (lo == after_s || missed_in_window > wanted || window > (std::int64_t{1} << 40)) break;
  }
  if (!due.empty()) plan.last_due = due.back() * 1000;

  // Fire: every on-time tick and the latest `wanted` missed ones; skip the other missed ones.
  std::size_t missed_seen = 0;
  std::vector<std::int64_t> fire_rev;
  for (auto it = due.rbegin(); it != due.rend(); ++it) {
    if (!missed(*it)) {
      fire_rev.push_back(*it);
    } else if (missed_seen++ < wanted) {
      fire_rev.push_back(*it);
    } else {
      ++plan.skipped;
      plan.first_skipped = *it * 1000;
      if (!plan.last_skipped) plan.last_skipped = *it * 1000;
    }
  }
  for (auto it = fire_rev.rbegin(); it != fire_rev.rend(); ++it) plan.fire.push_back(*it * 1000);
  if (lo > after_s) {
    // Ticks between the baseline and the window were missed too: counted when there are few,
    // else the count is a lower bound.
    auto first = cron.next_after(after_s, zone);
    if (first && *first <= lo) {
      plan.first_skipped = *first * 1000;
      if (!plan.last_skipped) plan.last_skipped = *first * 1000;
      std::int64_t more = 0;
      for (auto t = first; t && *t <= lo; t = cron.next_after(*t, zone)) {
        if (++more > static_cast<std::int64_t>(k_max_counted_skips)) {
          plan.skipped_exact = false;
          more = static_cast<std::int64_t>(k_max_counted_skips);
          break;
        }
      }
      plan.skipped += more;
    }
  }
  return plan;
}

std::string tick_key(std::string_view workflow_id, std::int64_t tick_ms) {
  return std::string(workflow_id) + ":" + runtime::format_iso8601_utc(tick_ms);
}

std::string tick_key(std::string_view workflow_id, std::int64_t tick_ms, std::string_view lead_id) {
  return tick_key(workflow_id, tick_ms) + ":" + std::string(lead_id);
}

std::string tick_trigger_data(const schedule_spec& spec, std::int64_t tick_ms) {
  return json::serialize(json::object{
      {"scheduledAt", runtime::format_iso8601_utc(tick_ms)}, {"cron", spec.cron.text()}, {"timezone", spec.zone_name}});
}

}  // namespace flowtrack::domain
