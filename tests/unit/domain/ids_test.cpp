// In-process UUIDs: canonical v4 form, no repeats.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "domain/ids.hpp"

namespace flowtrack::domain {
namespace {

TEST(uuid, is_canonical_version_4) {
  std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 1000; ++i) {
    auto id = new_uuid();
    ASSERT_TRUE(std::regex_match(id, v4)) << id;
  }
}

TEST(uuid, does_not_repeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(seen.insert(new_uuid()).second);
}

}  // namespace
}  // namespace flowtrack::domain
