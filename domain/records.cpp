#include "domain/records.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <boost/json.hpp>

#include "domain/tenant.hpp"
#include "runtime/text.hpp"

namespace flowtrack::domain {

std::string sql_timestamp(std::int64_t utc_ms) {
  // Written digit by digit (every step of every run formats one: snprintf was a visible part of
  // a submission's CPU). Days to a civil date: Howard Hinnant's days_from_civil inverse, valid
  // for any date; before 1970 the milliseconds floor towards the past.
  std::int64_t ms = utc_ms % 1000, secs = utc_ms / 1000;
  if (ms < 0) ms += 1000, --secs;
  std::int64_t days = secs / 86400, sod = secs % 86400;
  if (sod < 0) sod += 86400, --days;
  days += 719468;
  std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  auto doe = static_cast<unsigned>(days - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned day = doy - (153 * mp + 2) / 5 + 1;
  unsigned month = mp < 10 ? mp + 3 : mp - 9;
  std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) {  // outside what the fixed layout holds: not a time FlowTrack writes
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lld-01-01 00:00:00.000", static_cast<long long>(std::clamp<std::int64_t>(year, 0, 9999)));
    return buf;
  }
  std::string out = "0000-00-00 00:00:00.000";
  auto put = [&out](std::size_t at, std::int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) out[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  put(5, month, 2);
  put(8, day, 2);
  put(11, sod / 3600, 2);
  put(14, sod / 60 % 60, 2);
  put(17, sod % 60, 2);
  put(20, ms, 3);
  return out;
}

bool forwarder_allowed(const workspace_info& ws, std::string_view sender) {
  boost::system::error_code ec;
  auto settings = boost::json::parse(ws.settings, ec);
  if (ec || !settings.is_object()) return true;
  auto* list = settings.as_object().if_contains("allowedForwarders");
  if (list == nullptr || !list->is_array() || list->as_array().empty()) return true;
  auto at = sender.rfind('@');
  for (const auto& v : list->as_array()) {
    if (!v.is_string()) continue;
    std::string_view allowed = v.as_string();
    if (allowed.starts_with("@") ? at != std::string_view::npos && runtime::iequals(sender.substr(at), allowed)
                                 : runtime::iequals(sender, allowed))
      return true;
  }
  return false;
}

std::string_view to_string(execution_status s) {
  switch (s) {
    case execution_status::queued: return "queued";
    case execution_status::running: return "running";
    case execution_status::paused: return "paused";
    case execution_status::completed: return "completed";
    case execution_status::failed: return "failed";
    case execution_status::cancelled: return "cancelled";
  }
  return "queued";
}

std::optional<execution_status> parse_execution_status(std::string_view s) {
  for (auto v : {execution_status::queued, execution_status::running, execution_status::paused, execution_status::completed,
                 execution_status::failed, execution_status::cancelled})
    if (s == to_string(v)) return v;
  return std::nullopt;
}

std::string_view to_string(step_status s) {
  switch (s) {
    case step_status::pending: return "pending";
    case step_status::running: return "running";
    case step_status::completed: return "completed";
    case step_status::failed: return "failed";
    case step_status::skipped: return "skipped";
  }
  return "pending";
}

std::string_view to_string(workflow_status s) {
  switch (s) {
    case workflow_status::draft: return "draft";
    case workflow_status::active: return "active";
    case workflow_status::paused: return "paused";
    case workflow_status::archived: return "archived";
  }
  return "draft";
}

std::optional<workflow_status> parse_workflow_status(std::string_view s) {
  for (auto v : {workflow_status::draft, workflow_status::active, workflow_status::paused, workflow_status::archived})
    if (s == to_string(v)) return v;
  return std::nullopt;
}

quota_limits quota_limits_from_plan(std::string_view plan_quotas_json, std::string period_start, std::string period_end) {
  quota_limits q;
  q.period_start = std::move(period_start);
  q.period_end = std::move(period_end);
  boost::system::error_code ec;
  auto v = boost::json::parse(plan_quotas_json, ec);
  if (ec || !v.is_object()) return q;
  auto limit = [&](const char* key) -> std::optional<int> {
    auto* x = v.as_object().if_contains(key);
    if (x == nullptr || !x->is_number()) return std::nullopt;
    auto n = x->to_number<double>();
    return n < 0 ? std::nullopt : std::optional<int>(static_cast<int>(n));
  };
  q.executions = limit("executions_per_month");
  q.leads = limit("leads");
  return q;
}

}  // namespace flowtrack::domain
