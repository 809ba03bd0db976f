// Cron parsing and next occurrences, including DST changes.
#include "runtime/cron.hpp"

#include <gtest/gtest.h>

#include "tests/unit/runtime/test_helpers.hpp"

namespace flowtrack::runtime {
namespace {

using test::ms;
using test::zone;

std::string next(const char* expr, const char* after, const std::string& zone_name) {
  auto c = cron_schedule::parse(expr);
  EXPECT_TRUE(c.ok()) << expr;
  if (!c.ok()) return "parse error";
  auto n = c->next_after(ms(after) / 1000, *zone(zone_name));
  return n ? format_iso8601_utc(*n * 1000) : "never";
}

TEST(cron_schedule, rejects_bad_expressions) {
  for (const char* bad : {"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
                          "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "* * * FOO *",
                          "1,,2 * * * *", "@sometimes"}) {
    EXPECT_FALSE(cron_schedule::parse(bad).ok()) << bad;
  }
}

struct next_case {
  const char* expr;
  const char* after;
  const char* zone;
  const char* expected;
};

TEST(cron_schedule, finds_the_next_occurrence_table) {
  const next_case cases[] = {
      {"* * * * *", "2025-01-01T00:00:30Z", "UTC", "2025-01-01T00:01:00Z"},
      {"0 9 * * *", "2025-01-01T08:59:00Z", "UTC", "2025-01-01T09:00:00Z"},
      {"0 9 * * *", "2025-01-01T09:00:00Z", "UTC", "2025-01-02T09:00:00Z"},
      {"*/15 * * * *", "2025-01-01T10:07:00Z", "UTC", "2025-01-01T10:15:00Z"},
      {"0 9 * * MON-FRI", "2025-01-03T10:00:00Z", "UTC", "2025-01-06T09:00:00Z"},  // Fri -> Mon
      {"0 0 1 JAN *", "2025-06-01T00:00:00Z", "UTC", "2026-01-01T00:00:00Z"},
      {"0 0 29 2 *", "2025-01-01T00:00:00Z", "UTC", "2028-02-29T00:00:00Z"},
      {"0 12 13 * 5", "2025-01-01T00:00:00Z", "UTC", "2025-01-03T12:00:00Z"},  // dom OR dow
      {"30 8 * * 0,7", "2025-01-01T00:00:00Z", "UTC", "2025-01-05T08:30:00Z"},
      {"@daily", "2025-01-01T00:00:00Z", "UTC", "2025-01-02T00:00:00Z"},
      {"0 9 * * *", "2025-07-01T00:00:00Z", "America/New_York", "2025-07-01T13:00:00Z"},
      {"0 9 * * *", "2025-01-01T00:00:00Z", "America/New_York", "2025-01-01T14:00:00Z"},
      // Spring forward: 09:00 stays 09:00 local across the change.
      {"0 9 * * *", "2025-03-08T15:00:00Z", "America/New_York", "2025-03-09T13:00:00Z"},
      // 02:30 does not exist on 2025-03-09 in New York: fires at 03:30 EDT.
      {"30 2 * * *", "2025-03-09T05:00:00Z", "America/New_York", "2025-03-09T07:30:00Z"},
      // 01:30 happens twice on 2025-11-02: a fixed-time job fires once, at the first.
      {"30 1 * * *", "2025-11-02T05:00:00Z", "America/New_York", "2025-11-02T05:30:00Z"},
      {"30 1 * * *", "2025-11-02T05:30:00Z", "America/New_York", "2025-11-03T06:30:00Z"},
      // An every-15-minutes job keeps its rhythm through the repeated hour.
      {"*/15 * * * *", "2025-11-02T06:00:00Z", "America/New_York", "2025-11-02T06:15:00Z"},
      {"0 3 * * *", "2025-10-25T12:00:00Z", "Europe/Berlin", "2025-10-26T02:00:00Z"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(next(c.expr, c.after, c.zone), c.expected) << c.expr << " after " << c.after << " in " << c.zone;
  }
}

TEST(cron_schedule, reports_a_schedule_that_never_fires) {
  auto c = cron_schedule::parse("0 0 30 2 *");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->next_after(0, *time_zone::utc()).has_value());
}

}  // namespace
}  // namespace flowtrack::runtime
