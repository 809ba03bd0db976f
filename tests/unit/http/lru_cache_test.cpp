// The engine's bounded, expiring look-up cache: capacity, recency, expiry, erasure.
#include <gtest/gtest.h>

#include <string>

#include "actors/lru_cache.hpp"

namespace flowtrack::actors {
namespace {

using namespace std::chrono_literals;
using cache = lru_cache<std::string, int>;

TEST(lru_cache, keeps_at_most_its_capacity_dropping_the_least_recently_used) {
  cache c(2, 60s);
  auto t = cache::clock::time_point{};
  c.put("a", 1, t);
  c.put("b", 2, t);
  ASSERT_NE(c.find("a", t), nullptr);  // a is now the most recently used
  c.put("c", 3, t);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.find("b", t), nullptr) << "b was the least recently used";
  ASSERT_NE(c.find("a", t), nullptr);
  EXPECT_EQ(*c.find("c", t), 3);
}

TEST(lru_cache, an_entry_expires_after_its_ttl) {
  cache c(10, 5s);
  auto t = cache::clock::time_point{};
  c.put("a", 1, t);
  EXPECT_NE(c.find("a", t + 5s), nullptr);
  EXPECT_EQ(c.find("a", t + 6s), nullptr);
  EXPECT_EQ(c.size(), 0u) << "an expired entry is dropped when found";
  c.put("a", 2, t + 6s);
  EXPECT_EQ(*c.find("a", t + 10s), 2) << "storing again restarts its time";
}

TEST(lru_cache, entries_can_be_erased_by_key_or_by_value) {
  cache c(10, 60s);
  auto t = cache::clock::time_point{};
  c.put("slug:a", 7, t);
  c.put("workflow:x", 7, t);
  c.put("slug:b", 8, t);
  c.erase("slug:b");
  EXPECT_EQ(c.find("slug:b", t), nullptr);
  c.erase_values_if([](int v) { return v == 7; });
  EXPECT_EQ(c.size(), 0u);
  c.put("k", 1, t);
  EXPECT_EQ(*c.find("k", t), 1) << "usable after erasures";
}

}  // namespace
}  // namespace flowtrack::actors
