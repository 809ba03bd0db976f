#include "actors/node.hpp"

#include <ctime>

namespace flowtrack::actors {

std::string sql_timestamp(std::int64_t utc_ms) {
  std::time_t s = static_cast<std::time_t>(utc_ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(utc_ms % 1000));
  return buf;
}

}  // namespace flowtrack::actors
