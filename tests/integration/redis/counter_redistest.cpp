// rate_counter against a real Redis: counting, fixed windows that expire, corrupt values.
#include <gtest/gtest.h>

#include "storage/redis/connection.hpp"
#include "storage/redis/counter.hpp"
#include "tests/integration/redis/redis_fixture.hpp"

namespace flowtrack::redis {
namespace {

using namespace std::chrono_literals;
using testing::await;

class redis_rate_counter : public testing::redis_test {};

TEST_F(redis_rate_counter, counts_hits_in_a_window) {
  rate_counter counter(conn(), prefix());
  std::chrono::milliseconds last_reset = 60s;
  for (std::int64_t expected = 1; expected <= 3; ++expected) {
    auto h = counter.hit("ip:10.0.0.1", 60s);
    ASSERT_TRUE(h.ok()) << h.err().message;
    EXPECT_EQ(h->count, expected);
    EXPECT_GT(h->reset_in, 0ms);
    EXPECT_LE(h->reset_in, last_reset);
    last_reset = h->reset_in;
  }
  auto more = counter.hit("ip:10.0.0.1", 60s, 5);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->count, 8);
  auto other = counter.hit("ip:10.0.0.2", 60s);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->count, 1);
}

TEST_F(redis_rate_counter, later_hits_do_not_extend_the_window) {
  rate_counter counter(conn(), prefix());
  auto first = counter.hit("form:abc", 2s);
  ASSERT_TRUE(first.ok());
  EXPECT_LE(first->reset_in, 2s);
  auto second = counter.hit("form:abc", 60s);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->count, 2);
  EXPECT_LE(second->reset_in, 2s);
}

TEST_F(redis_rate_counter, starts_over_when_the_window_expires) {
  rate_counter counter(conn(), prefix());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(counter.hit("ws:1", 100ms).ok());
  ASSERT_TRUE(await(5000ms, [&] {
    auto exists = conn().command({"EXISTS", prefix() + "ws:1"});
    return exists.ok() && exists->integer == 0;
  }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);
  auto fresh = counter.hit("ws:1", 100ms);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->count, 1);
}

TEST_F(redis_rate_counter, a_key_without_expiry_gets_one) {
  rate_counter counter(conn(), prefix());
  ASSERT_TRUE(conn().command({"SET", prefix() + "stuck", "41"}).ok());
  auto h = counter.hit("stuck", 5s);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->count, 42);
  EXPECT_LE(h->reset_in, 5s);
  auto ttl = conn().command({"PTTL", prefix() + "stuck"});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(ttl->integer, 0);
}

TEST_F(redis_rate_counter, a_value_that_is_not_a_count_is_invalid_and_left_alone) {
  rate_counter counter(conn(), prefix());
  ASSERT_TRUE(conn().command({"SET", prefix() + "junk", "\x93\x01\x02\x03"}).ok());
  auto h = counter.hit("junk", 5s);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.err().code, error_code::invalid) << h.err().message;
  auto still = conn().command({"GET", prefix() + "junk"});
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->text, "\x93\x01\x02\x03");
}

TEST_F(redis_rate_counter, rejects_empty_keys_and_non_positive_windows) {
  rate_counter counter(conn(), prefix());
  auto no_key = counter.hit("", 5s);
  ASSERT_FALSE(no_key.ok());
  EXPECT_EQ(no_key.err().code, error_code::invalid);
  auto no_window = counter.hit("k", 0ms);
  ASSERT_FALSE(no_window.ok());
  EXPECT_EQ(no_window.err().code, error_code::invalid);
}

}  // namespace
}  // namespace flowtrack::redis
