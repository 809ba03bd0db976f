#include "domain/email_caps.hpp"

#include <cmath>
#include <limits>

#include <boost/json.hpp>

#include "domain/records.hpp"

namespace flowtrack::domain {
namespace {

// A JSON number that is a whole number in [0, INT_MAX]; nothing for anything else.
std::optional<int> whole_count(const boost::json::value& v) {
  if (v.is_int64()) {
    auto n = v.as_int64();
    if (n >= 0 && n <= std::numeric_limits<int>::max()) return static_cast<int>(n);
    return std::nullopt;
  }
  if (v.is_uint64()) {
    auto n = v.as_uint64();
    if (n <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return static_cast<int>(n);
    return std::nullopt;
  }
  if (v.is_double()) {
    double d = v.as_double();
    if (std::isfinite(d) && d >= 0 && d <= std::numeric_limits<int>::max() && std::floor(d) == d) return static_cast<int>(d);
  }
  return std::nullopt;
}

const boost::json::value* member(const boost::json::value& doc, std::string_view key) {
  return doc.is_object() ? doc.as_object().if_contains(key) : nullptr;
}

boost::json::value parse_or_null(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  return ec ? boost::json::value() : v;
}

}  // namespace

email_limits email_limits_of(const workspace_info& ws) {
  email_limits out;
  out.period_start = ws.period_start;
  out.period_end = ws.period_end;
  auto plan = parse_or_null(ws.plan_quotas);
  if (auto* cap = member(plan, k_email_hourly_cap)) out.hourly_cap = whole_count(*cap);
  if (auto* sends = member(plan, k_email_sends)) out.quota = whole_count(*sends);
  auto settings = parse_or_null(ws.settings);
  if (auto* own = member(settings, k_email_hourly_cap); own && !own->is_null()) {
    if (auto n = whole_count(*own)) out.hourly_cap = n;
    else out.ignored_setting = "email_hourly_cap must be a whole number >= 0; the plan's cap applies";
  }
  return out;
}

std::string_view to_string(email_send_grant::verdict v) {
  switch (v) {
    case email_send_grant::verdict::reserved: return "reserved";
    case email_send_grant::verdict::already_reserved: return "already_reserved";
    case email_send_grant::verdict::wait: return "wait";
  }
  return "reserved";
}

void defer_in_flight(runtime::checkpoint& cp, std::int64_t ready_at_ms) {
  if (cp.in_flight == runtime::k_no_node) return;
  cp.frontier.push_back(runtime::pending_node{cp.in_flight, ready_at_ms, cp.in_flight_attempt});
  cp.in_flight = runtime::k_no_node;
  cp.in_flight_attempt = 0;
  cp.in_flight_patch.reset();
}

}  // namespace flowtrack::domain
