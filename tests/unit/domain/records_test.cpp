// sql_timestamp against the C library's calendar (gmtime_r and snprintf, what it replaced).
#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <random>

#include "domain/records.hpp"

namespace flowtrack::domain {
namespace {

std::string reference(std::int64_t utc_ms) {
  std::int64_t ms = ((utc_ms % 1000) + 1000) % 1000;
  auto s = static_cast<std::time_t>((utc_ms - ms) / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

TEST(sql_timestamp, formats_known_instants) {
  EXPECT_EQ(sql_timestamp(0), "1970-01-01 00:00:00.000");
  EXPECT_EQ(sql_timestamp(951782400123), "2000-02-29 00:00:00.123");  // a leap day of a year divisible by 400
  EXPECT_EQ(sql_timestamp(4107542399999), "2100-02-28 23:59:59.999");  // 2100 is not a leap year
  EXPECT_EQ(sql_timestamp(-1), "1969-12-31 23:59:59.999");
}

TEST(sql_timestamp, agrees_with_the_c_library_from_1900_to_2200) {
  std::mt19937_64 gen(42);
  std::uniform_int_distribution<std::int64_t> when(-2208988800000, 7258118400000);
  for (int i = 0; i < 200000; ++i) {
    auto t = when(gen);
    ASSERT_EQ(sql_timestamp(t), reference(t)) << t;
  }
  // Every day boundary of four years around a century's leap rule.
  for (std::int64_t day = 10957 - 800; day < 10957 + 800; ++day)
    for (std::int64_t t : {day * 86400000, day * 86400000 - 1}) ASSERT_EQ(sql_timestamp(t), reference(t)) << t;
}

}  // namespace
}  // namespace flowtrack::domain
