// Time zones from TZif bytes (RFC 8536) and civil-time arithmetic: offsets, local <-> UTC.
// Must not read files or touch the process time zone: callers hand in the bytes (see tz_loader).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"

namespace flowtrack::runtime {

/// A calendar date and wall-clock time with no zone attached.
struct civil_time {
  int year = 1970;
  int month = 1;   ///< 1..12
  int day = 1;     ///< 1..31
  int hour = 0;    ///< 0..23
  int minute = 0;  ///< 0..59
  int second = 0;  ///< 0..59
  friend bool operator==(const civil_time&, const civil_time&) = default;
};

/// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(int year, int month, int day);
/// The date of a day number (inverse of days_from_civil); hour/minute/second are zero.
civil_time civil_from_days(std::int64_t days);
/// Day of week of a day number, 0 = Sunday .. 6 = Saturday.
int weekday_from_days(std::int64_t days);
/// Seconds since the epoch of a civil time read as UTC.
std::int64_t seconds_from_civil(const civil_time& t);
/// The civil time of seconds since the epoch, read as UTC.
civil_time civil_from_seconds(std::int64_t s);
/// Days in a month of a year.
int days_in_month(int year, int month);

/// The offset in force at an instant.
struct zone_offset {
  std::int32_t utc_offset_s = 0;  ///< local = utc + offset
  bool is_dst = false;
  std::string_view abbreviation;  ///< "EST", "CEST"; valid while the time_zone lives
};

/// An immutable time zone: transitions from a TZif file plus its POSIX footer rule for instants
/// past the table. Thread-safe to share.
class time_zone {
 public:
  /// The UTC zone.
  static std::shared_ptr<const time_zone> utc();
  /// Parses TZif bytes (versions 1-4); `name` is kept for display.
  static result<std::shared_ptr<const time_zone>> from_tzif(std::string name, std::string_view bytes);
  /// A zone from a POSIX TZ rule alone, e.g. "EST5EDT,M3.2.0,M11.1.0".
  static result<std::shared_ptr<const time_zone>> from_posix(std::string name, std::string_view rule);

  /// The IANA name, e.g. "Europe/Berlin".
  const std::string& name() const { return name_; }
  /// The offset at a UTC instant (seconds since the epoch).
  zone_offset offset_at(std::int64_t utc_s) const;
  /// Local wall-clock time of a UTC instant.
  civil_time to_local(std::int64_t utc_s) const;
  /// The UTC instant of a local wall-clock time. A time skipped by a DST gap is moved forward by
  /// the gap (02:30 on a spring-forward night becomes 03:30); a repeated time resolves to its
  /// first occurrence, or its second when `prefer_later`.
  std::int64_t from_local(const civil_time& local, bool prefer_later = false) const;

  struct posix_rule;  ///< parsed POSIX TZ footer (private detail, public for the .cpp helpers)

 private:
  struct local_type {
    std::int32_t offset = 0;
    bool dst = false;
    std::uint8_t abbr = 0;
  };
  time_zone() = default;
  zone_offset footer_offset(std::int64_t utc_s) const;

  std::string name_;
  std::vector<std::int64_t> at_;      ///< transition instants, ascending
  std::vector<std::uint8_t> type_;    ///< local type index per transition
  std::vector<local_type> types_;
  std::string abbrs_;                 ///< NUL-separated abbreviations
  std::shared_ptr<const posix_rule> footer_;
};

/// Hands back the TZif bytes of a zone name ("America/New_York"), or an error. Supplied by the
/// edge of the program (a file reader); runtime never reads files itself.
using tz_loader = std::function<result<std::string>(std::string_view name)>;

/// Whether a zone name is well-formed (letters, digits, '_', '-', '+', '/', no "..", no leading '/').
bool is_valid_zone_name(std::string_view name);

/// A thread-safe cache of zones loaded once through a tz_loader. "UTC" needs no loader.
class time_zone_db {
 public:
  explicit time_zone_db(tz_loader loader) : loader_(std::move(loader)) {}
  /// The zone of a name, loading it on first use; not_found for an unknown zone.
  result<std::shared_ptr<const time_zone>> get(std::string_view name) const;

 private:
  tz_loader loader_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::shared_ptr<const time_zone>, std::less<>> cache_;
};

/// Formats a UTC instant in milliseconds as ISO 8601 with 'Z', e.g. "2025-03-09T07:00:00Z"
/// (milliseconds shown only when not zero).
std::string format_iso8601_utc(std::int64_t utc_ms);
/// Parses ISO 8601 "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH:MM]". Without an offset the time is
/// local in `zone` (UTC when null). Returns UTC milliseconds.
result<std::int64_t> parse_iso8601(std::string_view text, const time_zone* zone = nullptr);
/// strftime-like formatting of a UTC instant in a zone. Supports %Y %y %m %d %e %H %I %M %S %p
/// %j %a %A %b %B %Z %z %F %T %%; other conversions are copied as written.
std::string format_time(std::int64_t utc_ms, std::string_view format, const time_zone& zone);

}  // namespace flowtrack::runtime
