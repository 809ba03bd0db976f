// Time zones: TZif parsing, offsets, DST gaps and overlaps, POSIX footers, ISO 8601.
#include "runtime/tz.hpp"

#include <gtest/gtest.h>

#include "tests/unit/runtime/test_helpers.hpp"

namespace flowtrack::runtime {
namespace {

using test::ms;
using test::zone;

TEST(civil_time, round_trips_days_and_weekdays) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(weekday_from_days(0), 4);  // Thursday
  EXPECT_EQ(weekday_from_days(days_from_civil(2025, 3, 10)), 1);  // Monday
  for (std::int64_t d = -800000; d < 800000; d += 997) {
    const civil_time c = civil_from_days(d);
    ASSERT_EQ(days_from_civil(c.year, c.month, c.day), d);
  }
  EXPECT_EQ(days_in_month(2024, 2), 29);
  EXPECT_EQ(days_in_month(2100, 2), 28);
}

TEST(time_zone, reads_new_york_offsets_either_side_of_dst) {
  auto ny = zone("America/New_York");
  EXPECT_EQ(ny->offset_at(ms("2025-01-15T12:00:00Z") / 1000).utc_offset_s, -5 * 3600);
  EXPECT_EQ(ny->offset_at(ms("2025-07-15T12:00:00Z") / 1000).utc_offset_s, -4 * 3600);
  EXPECT_EQ(ny->offset_at(ms("2025-07-15T12:00:00Z") / 1000).abbreviation, "EDT");
  EXPECT_TRUE(ny->offset_at(ms("2025-07-15T12:00:00Z") / 1000).is_dst);
}

TEST(time_zone, moves_a_time_in_the_spring_gap_forward) {
  auto ny = zone("America/New_York");
  // 2025-03-09 02:30 does not exist in New York: it becomes 03:30 EDT = 07:30Z.
  EXPECT_EQ(ny->from_local({2025, 3, 9, 2, 30, 0}) * 1000, ms("2025-03-09T07:30:00Z"));
}

TEST(time_zone, resolves_a_repeated_time_to_first_or_second) {
  auto ny = zone("America/New_York");
  // 2025-11-02 01:30 happens twice: EDT (05:30Z) then EST (06:30Z).
  EXPECT_EQ(ny->from_local({2025, 11, 2, 1, 30, 0}) * 1000, ms("2025-11-02T05:30:00Z"));
  EXPECT_EQ(ny->from_local({2025, 11, 2, 1, 30, 0}, true) * 1000, ms("2025-11-02T06:30:00Z"));
}

TEST(time_zone, handles_the_southern_hemisphere) {
  auto syd = zone("Australia/Sydney");
  EXPECT_EQ(syd->offset_at(ms("2025-01-15T00:00:00Z") / 1000).utc_offset_s, 11 * 3600);
  EXPECT_EQ(syd->offset_at(ms("2025-07-15T00:00:00Z") / 1000).utc_offset_s, 10 * 3600);
}

TEST(time_zone, uses_the_posix_footer_past_the_table) {
  auto berlin = zone("Europe/Berlin");
  // 2100 is past any table; the footer rule CET-1CEST,M3.5.0,M10.5.0/3 applies.
  EXPECT_EQ(berlin->offset_at(ms("2100-07-01T00:00:00Z") / 1000).utc_offset_s, 2 * 3600);
  EXPECT_EQ(berlin->offset_at(ms("2100-12-01T00:00:00Z") / 1000).utc_offset_s, 3600);
  // Last Sunday of March 2100 is the 28th; CEST starts at 01:00Z.
  EXPECT_EQ(berlin->offset_at(ms("2100-03-28T00:59:59Z") / 1000).utc_offset_s, 3600);
  EXPECT_EQ(berlin->offset_at(ms("2100-03-28T01:00:00Z") / 1000).utc_offset_s, 7200);
}

TEST(time_zone, parses_posix_rules_alone) {
  auto z = time_zone::from_posix("test", "EST5EDT,M3.2.0,M11.1.0");
  ASSERT_TRUE(z.ok());
  EXPECT_EQ((*z)->offset_at(ms("2030-07-01T00:00:00Z") / 1000).utc_offset_s, -4 * 3600);
  auto q = time_zone::from_posix("q", "<+0530>-5:30");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)->offset_at(0).utc_offset_s, 5 * 3600 + 1800);
  EXPECT_FALSE(time_zone::from_posix("bad", "E5").ok());
  EXPECT_FALSE(time_zone::from_posix("bad", "EST5EDT,M13.1.0,M11.1.0").ok());
}

TEST(time_zone, rejects_bytes_that_are_not_tzif) {
  EXPECT_FALSE(time_zone::from_tzif("x", "").ok());
  EXPECT_FALSE(time_zone::from_tzif("x", "TZif2").ok());
  EXPECT_FALSE(time_zone::from_tzif("x", std::string(60, 'A')).ok());
}

TEST(time_zone_db, knows_utc_without_a_loader_and_rejects_unknown_names) {
  time_zone_db db(nullptr);
  EXPECT_TRUE(db.get("UTC").ok());
  EXPECT_EQ(test::zones().get("Mars/Olympus").err().code, error_code::not_found);
  EXPECT_EQ(test::zones().get("../etc/passwd").err().code, error_code::invalid);
  EXPECT_FALSE(is_valid_zone_name("/etc/passwd"));
  EXPECT_TRUE(is_valid_zone_name("America/Argentina/Buenos_Aires"));
}

TEST(time_zone_db, loads_each_zone_once) {
  int loads = 0;
  time_zone_db db([&](std::string_view n) -> result<std::string> {
    ++loads;
    return cli::zoneinfo_loader()(n);
  });
  ASSERT_TRUE(db.get("Europe/Paris").ok());
  ASSERT_TRUE(db.get("Europe/Paris").ok());
  EXPECT_EQ(loads, 1);
}

struct iso_case {
  const char* text;
  const char* utc;  // expected, or null for invalid
};

TEST(iso8601, parses_and_rejects_table) {
  const iso_case cases[] = {
      {"2025-03-09T07:30:00Z", "2025-03-09T07:30:00Z"},
      {"2025-03-09T02:30:00-05:00", "2025-03-09T07:30:00Z"},
      {"2025-03-09T09:30:00+0200", "2025-03-09T07:30:00Z"},
      {"2025-03-09", "2025-03-09T00:00:00Z"},
      {"2025-03-09T07:30Z", "2025-03-09T07:30:00Z"},
      {"2025-03-09T07:30:00.250Z", "2025-03-09T07:30:00.250Z"},
      {"2025-02-29T00:00:00Z", nullptr},
      {"2025-13-01", nullptr},
      {"2025-03-09T24:00:00Z", nullptr},
      {"tomorrow", nullptr},
      {"2025-03-09T07:30:00Zjunk", nullptr},
  };
  for (const auto& c : cases) {
    auto r = parse_iso8601(c.text);
    if (!c.utc) {
      EXPECT_FALSE(r.ok()) << c.text;
    } else {
      ASSERT_TRUE(r.ok()) << c.text;
      EXPECT_EQ(format_iso8601_utc(*r), c.utc) << c.text;
    }
  }
}

TEST(iso8601, reads_times_without_offset_in_the_given_zone) {
  auto ny = zone("America/New_York");
  EXPECT_EQ(*parse_iso8601("2025-07-01T09:00:00", ny.get()), ms("2025-07-01T13:00:00Z"));
}

TEST(format_time, formats_in_a_zone) {
  auto ny = zone("America/New_York");
  EXPECT_EQ(format_time(ms("2025-07-04T16:05:09Z"), "%Y-%m-%d %H:%M:%S %Z %z", *ny), "2025-07-04 12:05:09 EDT -0400");
  EXPECT_EQ(format_time(ms("2025-07-04T16:05:09Z"), "%a %A %b %B %I%p %j %F %T %%", *ny),
            "Fri Friday Jul July 12PM 185 2025-07-04 12:05:09 %");
}

}  // namespace
}  // namespace flowtrack::runtime
