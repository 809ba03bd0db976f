// TZif parsing, POSIX TZ footer rules and civil-time arithmetic. Pure: bytes in, values out.
#include "runtime/tz.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <optional>

namespace flowtrack::runtime {

namespace {

constexpr std::int64_t k_day = 86400;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

// Howard Hinnant's days_from_civil / civil_from_days.
std::int64_t days_from_civil(int year, int month, int day) {
  std::int64_t y = year - (month <= 2 ? 1 : 0);
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;
  const std::int64_t mp = (month + 9) % 12;
  const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

civil_time civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  civil_time t;
  t.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  t.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  t.year = static_cast<int>(yoe + era * 400 + (t.month <= 2 ? 1 : 0));
  return t;
}

int weekday_from_days(std::int64_t days) {
  return static_cast<int>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
}

std::int64_t seconds_from_civil(const civil_time& t) {
  return days_from_civil(t.year, t.month, t.day) * k_day + t.hour * 3600 + t.minute * 60 + t.second;
}

civil_time civil_from_seconds(std::int64_t s) {
  const std::int64_t days = floor_div(s, k_day);
  const std::int64_t rem = s - days * k_day;
  civil_time t = civil_from_days(days);
  t.hour = static_cast<int>(rem / 3600);
  t.minute = static_cast<int>(rem % 3600 / 60);
  t.second = static_cast<int>(rem % 60);
  return t;
}

int days_in_month(int year, int month) {
  static constexpr std::array<int, 12> k_days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  return month == 2 && is_leap(year) ? 29 : k_days[static_cast<std::size_t>(month - 1)];
}

// ---------------------------------------------------------------------------------------------
// POSIX TZ rules ("CET-1CEST,M3.5.0,M10.5.0/3")

struct time_zone::posix_rule {
  struct date_rule {
    char kind = 'M';  // 'M' month.week.day, 'J' julian 1..365 without Feb 29, 'N' zero-based day
    int month = 0, week = 0, weekday = 0, day = 0;
    std::int32_t time = 7200;  // seconds after local midnight
  };
  std::string std_name, dst_name;
  std::int32_t std_offset = 0;  // local = utc + offset (sign already flipped from POSIX)
  std::int32_t dst_offset = 0;
  bool has_dst = false;
  date_rule start, end;

  std::int64_t transition_day(const date_rule& r, int year) const {
    const std::int64_t jan1 = days_from_civil(year, 1, 1);
    if (r.kind == 'J') return jan1 + r.day - 1 + (is_leap(year) && r.day >= 60 ? 1 : 0);
    if (r.kind == 'N') return jan1 + r.day;
    const std::int64_t first = days_from_civil(year, r.month, 1);
    const int wd1 = weekday_from_days(first);
    std::int64_t d = first + (r.weekday - wd1 + 7) % 7 + (r.week - 1) * 7;
    while (d - first >= days_in_month(year, r.month)) d -= 7;
    return d;
  }
};

namespace {

struct posix_parser {
  std::string_view s;
  std::size_t i = 0;

  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }

  bool name(std::string& out) {
    if (peek() == '<') {
      const auto close = s.find('>', i);
      if (close == std::string_view::npos) return false;
      out = std::string(s.substr(i + 1, close - i - 1));
      i = close + 1;
      return !out.empty();
    }
    const std::size_t b = i;
    while (!done() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
    out = std::string(s.substr(b, i - b));
    return out.size() >= 3;
  }
  bool number(int& out, int max) {
    const std::size_t b = i;
    out = 0;
    while (!done() && s[i] >= '0' && s[i] <= '9') {
      out = out * 10 + (s[i] - '0');
      if (out > max) return false;
      ++i;
    }
    return i > b;
  }
  // [+-]hh[:mm[:ss]] as seconds
  bool hms(std::int32_t& out, int max_hours) {
    int sign = 1;
    if (peek() == '+' || peek() == '-') sign = s[i++] == '-' ? -1 : 1;
    int h = 0, m = 0, sec = 0;
    if (!number(h, max_hours)) return false;
    if (peek() == ':') {
      ++i;
      if (!number(m, 59)) return false;
      if (peek() == ':') {
        ++i;
        if (!number(sec, 59)) return false;
      }
    }
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool date(time_zone::posix_rule::date_rule& r) {
    if (peek() == 'M') {
      ++i;
      r.kind = 'M';
      if (!number(r.month, 12) || r.month < 1 || peek() != '.') return false;
      ++i;
      if (!number(r.week, 5) || r.week < 1 || peek() != '.') return false;
      ++i;
      if (!number(r.weekday, 6)) return false;
    } else if (peek() == 'J') {
      ++i;
      r.kind = 'J';
      if (!number(r.day, 365) || r.day < 1) return false;
    } else {
      r.kind = 'N';
      if (!number(r.day, 365)) return false;
    }
    if (peek() == '/') {
      ++i;
      if (!hms(r.time, 167)) return false;
    }
    return true;
  }
};

}  // namespace

result<std::shared_ptr<const time_zone>> time_zone::from_posix(std::string name, std::string_view rule) {
  auto bad = [&](const char* what) {
    return make_error(error_code::invalid, "bad POSIX time zone rule '" + std::string(rule) + "': " + what, name);
  };
  posix_parser p{rule};
  auto r = std::make_shared<posix_rule>();
  if (!p.name(r->std_name)) return bad("standard name");
  std::int32_t off = 0;
  if (!p.hms(off, 24)) return bad("standard offset");
  r->std_offset = -off;
  if (!p.done()) {
    if (!p.name(r->dst_name)) return bad("daylight name");
    r->has_dst = true;
    r->dst_offset = r->std_offset + 3600;
    if (p.peek() != ',' && !p.done()) {
      if (!p.hms(off, 24)) return bad("daylight offset");
      r->dst_offset = -off;
    }
    if (p.done()) {  // POSIX default: US rules
      r->start = {'M', 3, 2, 0, 0, 7200};
      r->end = {'M', 11, 1, 0, 0, 7200};
    } else {
      if (p.peek() != ',') return bad("expected ','");
      ++p.i;
      if (!p.date(r->start)) return bad("start rule");
      if (p.peek() != ',') return bad("expected ','");
      ++p.i;
      if (!p.date(r->end)) return bad("end rule");
      if (!p.done()) return bad("trailing characters");
    }
  }
  auto tz = std::shared_ptr<time_zone>(new time_zone());
  tz->name_ = std::move(name);
  tz->footer_ = std::move(r);
  return std::shared_ptr<const time_zone>(std::move(tz));
}

// ---------------------------------------------------------------------------------------------
// TZif

namespace {

struct byte_reader {
  std::string_view s;
  std::size_t i = 0;
  bool has(std::size_t n) const { return s.size() - i >= n && i <= s.size(); }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v = (v << 8) | static_cast<unsigned char>(s[i++]);
    return v;
  }
  std::int64_t i64() {
    std::uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | static_cast<unsigned char>(s[i++]);
    return static_cast<std::int64_t>(v);
  }
};

}  // namespace

result<std::shared_ptr<const time_zone>> time_zone::from_tzif(std::string name, std::string_view bytes) {
  auto bad = [&](const std::string& what) {
    return make_error(error_code::invalid, "time zone '" + name + "' is not a valid TZif file: " + what, name);
  };
  byte_reader r{bytes};
  auto header = [&](std::array<std::uint32_t, 6>& counts, char& version) -> bool {
    if (!r.has(44) || bytes.substr(r.i, 4) != "TZif") return false;
    version = bytes[r.i + 4];
    r.i += 20;
    for (auto& c : counts) c = r.u32();
    return true;
  };
  std::array<std::uint32_t, 6> c{};  // isutcnt isstdcnt leapcnt timecnt typecnt charcnt
  char version = 0;
  if (!header(c, version)) return bad("missing TZif header");
  auto block_size = [&](std::size_t time_size) {
    return std::size_t{c[3]} * time_size + c[3] + std::size_t{c[4]} * 6 + c[5] +
           std::size_t{c[2]} * (time_size + 4) + c[1] + c[0];
  };
  std::size_t time_size = 4;
  if (version >= '2') {  // skip the v1 block and read the 64-bit one
    if (!r.has(block_size(4))) return bad("truncated v1 data");
    r.i += block_size(4);
    if (!header(c, version)) return bad("missing v2 header");
    time_size = 8;
  }
  if (c[4] == 0 || c[4] > 256 || c[5] == 0) return bad("no local time types");
  if (!r.has(block_size(time_size))) return bad("truncated data");

  auto tz = std::shared_ptr<time_zone>(new time_zone());
  tz->name_ = name;
  tz->at_.reserve(c[3]);
  for (std::uint32_t k = 0; k < c[3]; ++k) {
    const std::int64_t t = time_size == 8 ? r.i64() : static_cast<std::int32_t>(r.u32());
    if (!tz->at_.empty() && t <= tz->at_.back()) return bad("transitions out of order");
    tz->at_.push_back(t);
  }
  tz->type_.reserve(c[3]);
  for (std::uint32_t k = 0; k < c[3]; ++k) {
    const auto t = static_cast<std::uint8_t>(bytes[r.i++]);
    if (t >= c[4]) return bad("transition to an unknown type");
    tz->type_.push_back(t);
  }
  for (std::uint32_t k = 0; k < c[4]; ++k) {
    local_type lt;
    lt.offset = static_cast<std::int32_t>(r.u32());
    lt.dst = bytes[r.i++] != 0;
    lt.abbr = static_cast<std::uint8_t>(bytes[r.i++]);
    if (lt.abbr >= c[5] || lt.offset < -26 * 3600 || lt.offset > 26 * 3600) return bad("bad local time type");
    tz->types_.push_back(lt);
  }
  tz->abbrs_ = std::string(bytes.substr(r.i, c[5]));
  tz->abbrs_.push_back('\0');
  r.i += c[5] + std::size_t{c[2]} * (time_size + 4) + c[1] + c[0];

  if (time_size == 8 && r.i < bytes.size() && bytes[r.i] == '\n') {
    const auto end = bytes.find('\n', r.i + 1);
    if (end == std::string_view::npos) return bad("unterminated footer");
    const auto rule = bytes.substr(r.i + 1, end - r.i - 1);
    if (!rule.empty()) {
      auto f = from_posix(name, rule);
      if (!f) return bad(f.err().message);
      tz->footer_ = (*f)->footer_;
    }
  }
  return std::shared_ptr<const time_zone>(std::move(tz));
}

std::shared_ptr<const time_zone> time_zone::utc() {
  static const std::shared_ptr<const time_zone> k_utc = [] {
    auto tz = std::shared_ptr<time_zone>(new time_zone());
    tz->name_ = "UTC";
    tz->types_.push_back(local_type{});
    tz->abbrs_ = std::string("UTC\0", 4);
    return std::shared_ptr<const time_zone>(std::move(tz));
  }();
  return k_utc;
}

zone_offset time_zone::footer_offset(std::int64_t t) const {
  const posix_rule& f = *footer_;
  if (!f.has_dst) return {f.std_offset, false, f.std_name};
  const int year = civil_from_seconds(t + f.std_offset).year;
  const std::int64_t start = f.transition_day(f.start, year) * k_day + f.start.time - f.std_offset;
  const std::int64_t end = f.transition_day(f.end, year) * k_day + f.end.time - f.dst_offset;
  const bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? zone_offset{f.dst_offset, true, f.dst_name} : zone_offset{f.std_offset, false, f.std_name};
}

zone_offset time_zone::offset_at(std::int64_t utc_s) const {
  auto of_type = [&](std::uint8_t idx) {
    const local_type& lt = types_[idx];
    return zone_offset{lt.offset, lt.dst, std::string_view(abbrs_.c_str() + lt.abbr)};
  };
  if (at_.empty()) return footer_ ? footer_offset(utc_s) : of_type(0);
  if (utc_s < at_.front()) return of_type(0);
  const auto it = std::upper_bound(at_.begin(), at_.end(), utc_s);
  if (it == at_.end() && footer_) return footer_offset(utc_s);
  return of_type(type_[static_cast<std::size_t>(it - at_.begin()) - 1]);
}

civil_time time_zone::to_local(std::int64_t utc_s) const {
  return civil_from_seconds(utc_s + offset_at(utc_s).utc_offset_s);
}

std::int64_t time_zone::from_local(const civil_time& local, bool prefer_later) const {
  const std::int64_t l = seconds_from_civil(local);
  // Offsets just before and after: transitions are far more than two days apart.
  const std::int32_t a = offset_at(l - 2 * k_day).utc_offset_s;
  const std::int32_t b = offset_at(l + 2 * k_day).utc_offset_s;
  const std::int64_t ua = l - a, ub = l - b;
  const bool va = offset_at(ua).utc_offset_s == a;
  const bool vb = offset_at(ub).utc_offset_s == b;
  if (va && vb) return prefer_later ? std::max(ua, ub) : std::min(ua, ub);
  if (va) return ua;
  if (vb) return ub;
  // In a gap: read the time with the offset before the gap, which lands after it.
  return ua;
}

bool is_valid_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '-' || ch == '+' || ch == '/';
  });
}

result<std::shared_ptr<const time_zone>> time_zone_db::get(std::string_view name) const {
  if (name == "UTC" || name == "Etc/UTC" || name == "Z" || name == "GMT" || name == "Etc/GMT") return time_zone::utc();
  if (!is_valid_zone_name(name)) {
    std::string m = "not a time zone name: ";
    m += name;
    return make_error(error_code::invalid, std::move(m), std::string(name));
  }
  std::lock_guard lock(mutex_);
  if (auto it = cache_.find(name); it != cache_.end()) return it->second;
  if (!loader_) return make_error(error_code::not_found, "unknown time zone '" + std::string(name) + "'", std::string(name));
  auto bytes = loader_(name);
  if (!bytes) return make_error(error_code::not_found, "unknown time zone '" + std::string(name) + "'", std::string(name));
  auto tz = time_zone::from_tzif(std::string(name), *bytes);
  if (!tz) return tz.err();
  cache_.emplace(std::string(name), *tz);
  return *tz;
}

// ---------------------------------------------------------------------------------------------
// ISO 8601 and formatting

std::string format_iso8601_utc(std::int64_t utc_ms) {
  const std::int64_t s = floor_div(utc_ms, 1000);
  const auto ms = static_cast<int>(utc_ms - s * 1000);
  const civil_time t = civil_from_seconds(s);
  char buf[40];
  int n = ms == 0 ? std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.year, t.month, t.day, t.hour,
                                  t.minute, t.second)
                  : std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.year, t.month, t.day,
                                  t.hour, t.minute, t.second, ms);
  return std::string(buf, static_cast<std::size_t>(std::max(n, 0)));
}

result<std::int64_t> parse_iso8601(std::string_view s, const time_zone* zone) {
  auto bad = [&] {
    std::string m = "not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SSZ): ";
    m += s.substr(0, 64);
    return make_error(error_code::invalid, std::move(m));
  };
  std::size_t i = 0;
  auto digits = [&](std::size_t n, int& out) {
    if (s.size() - i < n || i > s.size()) return false;
    out = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char ch = s[i + k];
      if (ch < '0' || ch > '9') return false;
      out = out * 10 + (ch - '0');
    }
    i += n;
    return true;
  };
  auto lit = [&](char ch) {
    if (i < s.size() && s[i] == ch) {
      ++i;
      return true;
    }
    return false;
  };
  civil_time t;
  if (!digits(4, t.year) || !lit('-') || !digits(2, t.month) || !lit('-') || !digits(2, t.day)) return bad();
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > days_in_month(t.year, t.month)) return bad();
  int ms = 0;
  if (i < s.size() && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
    ++i;
    if (!digits(2, t.hour) || !lit(':') || !digits(2, t.minute)) return bad();
    if (lit(':')) {
      if (!digits(2, t.second)) return bad();
      if (lit('.') || lit(',')) {
        int scale = 100;
        const std::size_t b = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          ms += (s[i] - '0') * scale;
          scale /= 10;
          ++i;
        }
        if (i == b) return bad();
      }
    }
    if (t.hour > 23 || t.minute > 59 || t.second > 60) return bad();
    if (t.second == 60) t.second = 59;  // a leap second reads as the second before
  }
  std::optional<std::int32_t> offset;
  if (i < s.size()) {
    if (s[i] == 'Z' || s[i] == 'z') {
      ++i;
      offset = 0;
    } else if (s[i] == '+' || s[i] == '-') {
      const int sign = s[i++] == '-' ? -1 : 1;
      int oh = 0, om = 0;
      if (!digits(2, oh)) return bad();
      lit(':');
      if (i < s.size() && !digits(2, om)) return bad();
      if (oh > 23 || om > 59) return bad();
      offset = sign * (oh * 3600 + om * 60);
    }
  }
  if (i != s.size()) return bad();
  std::int64_t utc_s = 0;
  if (offset) {
    utc_s = seconds_from_civil(t) - *offset;
  } else {
    utc_s = zone ? zone->from_local(t) : seconds_from_civil(t);
  }
  return utc_s * 1000 + ms;
}

std::string format_time(std::int64_t utc_ms, std::string_view fmt, const time_zone& zone) {
  static constexpr std::array<const char*, 7> k_days{"Sunday", "Monday", "Tuesday", "Wednesday",
                                                     "Thursday", "Friday", "Saturday"};
  static constexpr std::array<const char*, 12> k_months{"January", "February", "March", "April",
                                                        "May", "June", "July", "August",
                                                        "September", "October", "November", "December"};
  const std::int64_t s = floor_div(utc_ms, 1000);
  const zone_offset off = zone.offset_at(s);
  const civil_time t = civil_from_seconds(s + off.utc_offset_s);
  const std::int64_t days = days_from_civil(t.year, t.month, t.day);
  const int wd = weekday_from_days(days);
  std::string out;
  out.reserve(fmt.size() + 16);
  char buf[32];
  auto put = [&](const char* f, int v) {
    const int n = std::snprintf(buf, sizeof buf, f, v);
    out.append(buf, static_cast<std::size_t>(std::max(n, 0)));
  };
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 == fmt.size()) {
      out.push_back(fmt[i]);
      continue;
    }
    switch (const char c = fmt[++i]) {
      case 'Y': put("%04d", t.year); break;
      case 'y': put("%02d", ((t.year % 100) + 100) % 100); break;
      case 'm': put("%02d", t.month); break;
      case 'd': put("%02d", t.day); break;
      case 'e': put("%2d", t.day); break;
      case 'H': put("%02d", t.hour); break;
      case 'I': put("%02d", t.hour % 12 == 0 ? 12 : t.hour % 12); break;
      case 'M': put("%02d", t.minute); break;
      case 'S': put("%02d", t.second); break;
      case 'p': out += t.hour < 12 ? "AM" : "PM"; break;
      case 'j': put("%03d", static_cast<int>(days - days_from_civil(t.year, 1, 1) + 1)); break;
      case 'a': out.append(k_days[static_cast<std::size_t>(wd)], 3); break;
      case 'A': out += k_days[static_cast<std::size_t>(wd)]; break;
      case 'b': out.append(k_months[static_cast<std::size_t>(t.month - 1)], 3); break;
      case 'B': out += k_months[static_cast<std::size_t>(t.month - 1)]; break;
      case 'Z': out += off.abbreviation; break;
      case 'z': {
        const int o = off.utc_offset_s;
        const int a = o < 0 ? -o : o;
        const int n = std::snprintf(buf, sizeof buf, "%c%02d%02d", o < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
        out.append(buf, static_cast<std::size_t>(std::max(n, 0)));
        break;
      }
      case 'F': put("%04d", t.year); put("-%02d", t.month); put("-%02d", t.day); break;
      case 'T': put("%02d", t.hour); put(":%02d", t.minute); put(":%02d", t.second); break;
      case '%': out.push_back('%'); break;
      default: out.push_back('%'); out.push_back(c); break;
    }
  }
  return out;
}

}  // namespace flowtrack::runtime
