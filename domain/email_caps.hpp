// How much email a workspace may send to other people: the hourly cap (plan default, workspace
// override) and the plan's `email_sends` quota for the billing period, as a reservation asks
// storage for them, and what storage answers. Pure: parsing and checkpoint shaping, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/tenant.hpp"
#include "runtime/stepper.hpp"

namespace flowtrack::domain {

/// The setting and the plan quota key that hold the hourly cap.
inline constexpr std::string_view k_email_hourly_cap = "email_hourly_cap";
/// The plan quota key (and usage_quotas key) of the emails a billing period allows.
inline constexpr std::string_view k_email_sends = "email_sends";

/// A workspace's email limits.
struct email_limits {
  std::optional<int> hourly_cap;  ///< emails in any rolling hour; nullopt: no cap; 0: sending paused
  std::optional<int> quota;       ///< emails per billing period (refused beyond 120%); nullopt: unlimited
  std::string period_start;       ///< 'YYYY-MM-DD', the usage_quotas row the sends count in
  std::string period_end;
  /// Why the workspace's `email_hourly_cap` setting was ignored (not an integer >= 0), else empty.
  std::string ignored_setting;
};

/// The limits of `ws`: the hourly cap is the workspace setting `email_hourly_cap` (an integer
/// >= 0; any other value is ignored and named in `ignored_setting`) or else the plan's quota
/// `email_hourly_cap`, a missing key being no cap (enterprise); the quota is the plan's
/// `email_sends`, a missing key being unlimited.
email_limits email_limits_of(const workspace_info& ws);

/// One email to reserve before it is sent.
struct email_send_request {
  std::string workspace_id;
  std::string execution_id;     ///< may be empty
  std::string idempotency_key;  ///< the step's "<execution id>:<node id>": a retry is counted once
  email_limits limits;
};

/// What a reservation answered.
struct email_send_grant {
  enum class verdict : std::uint8_t {
    reserved,          ///< counted now: send it
    already_reserved,  ///< this key was counted before (a retry of the step): send it, not counted again
    wait,              ///< the hourly cap is reached: try again after `wait_ms`
  };
  verdict outcome = verdict::reserved;
  std::int64_t wait_ms = 0;        ///< wait: until the rolling hour has room for one more
  int sent_last_hour = 0;          ///< sends counted in the rolling hour (before this one)
  std::optional<int> quota_used;   ///< email_sends used this period after this reservation (limited plans)
};

/// "reserved", "already_reserved", "wait".
std::string_view to_string(email_send_grant::verdict v);

/// Puts the action `cp` has in flight back on the frontier to run at `ready_at_ms` with the same
/// attempt: it did not run (it had to wait for a limit), so no retry is used up. No-op when
/// nothing is in flight.
void defer_in_flight(runtime::checkpoint& cp, std::int64_t ready_at_ms);

}  // namespace flowtrack::domain
