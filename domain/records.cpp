#include "domain/records.hpp"

#include <cstdio>
#include <ctime>

#include <boost/json.hpp>

#include "domain/tenant.hpp"
#include "runtime/text.hpp"

namespace flowtrack::domain {

std::string sql_timestamp(std::int64_t utc_ms) {
  std::time_t s = static_cast<std::time_t>(utc_ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(utc_ms % 1000));
  return buf;
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
