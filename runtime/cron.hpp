// Five-field cron expressions ("m h dom mon dow") and their next occurrence in a time zone.
// Knows calendars and zones (tz.hpp); must not know about schedulers, clocks or I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/error.hpp"
#include "runtime/tz.hpp"

namespace flowtrack::runtime {

/// A parsed cron schedule. Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or
/// JAN-DEC, day of week 0-7 or SUN-SAT (0 and 7 are Sunday); each a '*', a value, a range a-b,
/// a step */n or a-b/n, or a comma list of these. Macros @hourly @daily @weekly @monthly @yearly.
/// When both day fields are restricted a day matches either (Vixie cron).
class cron_schedule {
 public:
  /// Parses an expression; invalid with the offending field named.
  static result<cron_schedule> parse(std::string_view expr);

  /// The first instant strictly after `after_utc_s` (seconds) at which the schedule fires in
  /// `zone`, or nothing when it never fires within five years (e.g. "0 0 30 2 *").
  /// DST: a time skipped by a spring-forward gap fires at the shifted instant (02:30 -> 03:30);
  /// a time repeated by a fall-back fires once, except schedules with '*' hours, which keep
  /// their rhythm through the repeated hour.
  std::optional<std::int64_t> next_after(std::int64_t after_utc_s, const time_zone& zone) const;

  /// The expression as written.
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::uint64_t minutes_ = 0;  ///< bit per minute 0..59
  std::uint32_t hours_ = 0;    ///< bit per hour 0..23
  std::uint32_t days_ = 0;     ///< bit per day of month 1..31
  std::uint16_t months_ = 0;   ///< bit per month 1..12
  std::uint8_t weekdays_ = 0;  ///< bit per weekday 0..6
  bool days_star_ = true;
  bool weekdays_star_ = true;
  bool hours_star_ = true;
};

}  // namespace flowtrack::runtime
