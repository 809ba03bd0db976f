// Cron parsing and next-occurrence search over local calendar days.
#include "runtime/cron.hpp"

#include <array>
#include <cctype>
#include <vector>

namespace flowtrack::runtime {

namespace {

struct field_spec {
  const char* name;
  int lo, hi;
  const char* const* names;  // names for lo.. (months from 1, weekdays from 0), or null
};

constexpr const char* k_month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                         "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* k_day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

bool parse_value(std::string_view s, const field_spec& f, int& out) {
  if (s.empty()) return false;
  if (f.names && std::isalpha(static_cast<unsigned char>(s[0]))) {
    if (s.size() != 3) return false;
    const int count = f.hi - f.lo + 1 - (f.names == k_day_names ? 1 : 0);
    for (int k = 0; k < count; ++k) {
      bool eq = true;
      for (int c = 0; c < 3; ++c) {
        eq = eq && std::toupper(static_cast<unsigned char>(s[static_cast<std::size_t>(c)])) == f.names[k][c];
      }
      if (eq) {
        out = f.lo + k;
        return true;
      }
    }
    return false;
  }
  out = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9' || out > 1000) return false;
    out = out * 10 + (ch - '0');
  }
  return out >= f.lo && out <= f.hi;
}

// Parses one field into a bit set; `star` tells whether it was an unrestricted '*'.
result<std::uint64_t> parse_field(std::string_view s, const field_spec& f, bool& star) {
  auto bad = [&](const std::string& why) {
    return make_error(error_code::invalid, std::string("cron ") + f.name + " field '" + std::string(s) + "': " + why,
                      f.name);
  };
  std::uint64_t bits = 0;
  star = s == "*" || s == "?";
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t comma = std::min(s.find(',', pos), s.size());
    std::string_view part = s.substr(pos, comma - pos);
    pos = comma + 1;
    if (part.empty()) return bad("empty list element");
    int step = 1;
    if (const auto slash = part.find('/'); slash != std::string_view::npos) {
      step = 0;
      for (char ch : part.substr(slash + 1)) {
        if (ch < '0' || ch > '9' || step > 1000) return bad("bad step");
        step = step * 10 + (ch - '0');
      }
      if (step == 0 || slash + 1 == part.size()) return bad("bad step");
      part = part.substr(0, slash);
    }
    int a = f.lo, b = f.hi;
    if (part == "*" || part == "?") {
    } else if (const auto dash = part.find('-'); dash != std::string_view::npos) {
      if (!parse_value(part.substr(0, dash), f, a) || !parse_value(part.substr(dash + 1), f, b)) {
        return bad("value out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi));
      }
      if (a > b) return bad("range runs backwards");
    } else {
      if (!parse_value(part, f, a)) return bad("value out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi));
      b = step > 1 ? f.hi : a;
    }
    for (int v = a; v <= b; v += step) bits |= std::uint64_t{1} << v;
    if (comma == s.size()) break;
  }
  return bits;
}

}  // namespace

result<cron_schedule> cron_schedule::parse(std::string_view expr) {
  std::string_view e = expr;
  while (!e.empty() && std::isspace(static_cast<unsigned char>(e.front()))) e.remove_prefix(1);
  while (!e.empty() && std::isspace(static_cast<unsigned char>(e.back()))) e.remove_suffix(1);
  std::string expanded;
  if (!e.empty() && e.front() == '@') {
    if (e == "@hourly") expanded = "0 * * * *";
    else if (e == "@daily" || e == "@midnight") expanded = "0 0 * * *";
    else if (e == "@weekly") expanded = "0 0 * * 0";
    else if (e == "@monthly") expanded = "0 0 1 * *";
    else if (e == "@yearly" || e == "@annually") expanded = "0 0 1 1 *";
    else return make_error(error_code::invalid, "unknown cron macro '" + std::string(e) + "'", "cron");
    e = expanded;
  }
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < e.size()) {
    while (i < e.size() && std::isspace(static_cast<unsigned char>(e[i]))) ++i;
    const std::size_t b = i;
    while (i < e.size() && !std::isspace(static_cast<unsigned char>(e[i]))) ++i;
    if (i > b) parts.push_back(e.substr(b, i - b));
  }
  if (parts.size() != 5) {
    return make_error(error_code::invalid,
                      "cron expression '" + std::string(expr) + "' must have 5 fields (minute hour day month weekday), has " +
                          std::to_string(parts.size()),
                      "cron");
  }
  static constexpr std::array<field_spec, 5> k_fields{{{"minute", 0, 59, nullptr},
                                                       {"hour", 0, 23, nullptr},
                                                       {"day-of-month", 1, 31, nullptr},
                                                       {"month", 1, 12, k_month_names},
                                                       {"day-of-week", 0, 7, k_day_names}}};
  cron_schedule c;
  c.text_ = std::string(expr);
  std::array<std::uint64_t, 5> bits{};
  std::array<bool, 5> star{};
  for (std::size_t k = 0; k < 5; ++k) {
    auto r = parse_field(parts[k], k_fields[k], star[k]);
    if (!r) return r.err();
    bits[k] = *r;
  }
  c.minutes_ = bits[0];
  c.hours_ = static_cast<std::uint32_t>(bits[1]);
  c.days_ = static_cast<std::uint32_t>(bits[2]);
  c.months_ = static_cast<std::uint16_t>(bits[3]);
  c.weekdays_ = static_cast<std::uint8_t>((bits[4] | (bits[4] >> 7)) & 0x7f);  // 7 is Sunday too
  c.hours_star_ = star[1];
  c.days_star_ = star[2];
  c.weekdays_star_ = star[4];
  return c;
}

std::optional<std::int64_t> cron_schedule::next_after(std::int64_t after, const time_zone& zone) const {
  const civil_time start = zone.to_local(after);
  std::int64_t day = days_from_civil(start.year, start.month, start.day);
  // Begin one day early: a repeated hour can put a later instant on an earlier local date.
  day -= 1;
  for (int n = 0; n < 366 * 5 + 2; ++n, ++day) {
    civil_time d = civil_from_days(day);
    if (!(months_ & (1u << d.month))) continue;
    const bool dom = (days_ >> d.day) & 1u;
    const bool dow = (weekdays_ >> weekday_from_days(day)) & 1u;
    const bool day_ok = days_star_ || weekdays_star_ ? (dom && dow) : (dom || dow);
    if (!day_ok) continue;
    for (int h = 0; h < 24; ++h) {
      if (!((hours_ >> h) & 1u)) continue;
      for (int m = 0; m < 60; ++m) {
        if (!((minutes_ >> m) & 1u)) continue;
        d.hour = h;
        d.minute = m;
        d.second = 0;
        const std::int64_t first = zone.from_local(d, false);
        if (first > after) return first;
        if (hours_star_) {
          const std::int64_t second = zone.from_local(d, true);
          if (second > after) return second;
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace flowtrack::runtime
