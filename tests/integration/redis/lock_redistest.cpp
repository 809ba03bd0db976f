// lock_service against a real Redis: exclusion, expiry hand-over, fencing, owner checks and
// corrupt values.
#include <latch>
#include <thread>

#include <gtest/gtest.h>

#include "storage/redis/codec.hpp"
#include "storage/redis/connection.hpp"
#include "storage/redis/lock.hpp"
#include "tests/integration/redis/redis_fixture.hpp"

namespace flowtrack::redis {
namespace {

using namespace std::chrono_literals;
using testing::await;
using testing::connect_or_fail;

class redis_lock : public testing::redis_test {
 protected:
  std::int64_t pttl(const std::string& name) {
    auto r = conn().command({"PTTL", prefix() + "lock:" + name});
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->integer : -100;
  }
  std::string lock_prefix() const { return prefix() + "lock:"; }
};

TEST_F(redis_lock, one_of_two_contenders_holds_it) {
  auto other_conn = connect_or_fail();
  ASSERT_NE(other_conn, nullptr);
  lock_service a(conn(), lock_prefix());
  lock_service b(*other_conn, lock_prefix());

  auto got = a.acquire("run-1", "node-a", 10s);
  ASSERT_TRUE(got.ok()) << got.err().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->owner, "node-a");
  EXPECT_GT((*got)->fencing_token, 0u);

  auto lost = b.acquire("run-1", "node-b", 10s);
  ASSERT_TRUE(lost.ok()) << lost.err().message;
  EXPECT_FALSE(lost->has_value());
  auto again = a.acquire("run-1", "node-a", 10s);  // not re-entrant
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());

  auto who = b.holder("run-1");
  ASSERT_TRUE(who.ok()) << who.err().message;
  ASSERT_TRUE(who->has_value());
  EXPECT_EQ((*who)->owner, "node-a");
  EXPECT_EQ((*who)->fencing_token, (*got)->fencing_token);
  EXPECT_GT((*who)->ttl, 9s);
  EXPECT_LE((*who)->ttl, 10s);
}

TEST_F(redis_lock, racing_contenders_never_both_win) {
  constexpr int k_rounds = 100;
  auto conn_b = connect_or_fail();
  ASSERT_NE(conn_b, nullptr);
  lock_service a(conn(), lock_prefix());
  lock_service b(*conn_b, lock_prefix());
  int wins_a = 0, wins_b = 0, both = 0, errors = 0;
  for (int round = 0; round < k_rounds; ++round) {
    const std::string name = "race-" + std::to_string(round);
    std::latch start(2);
    bool won_b = false;
    std::thread tb([&] {
      start.arrive_and_wait();
      auto r = b.acquire(name, "node-b", 10s);
      if (!r) ++errors;
      won_b = r.ok() && r->has_value();
    });
    start.arrive_and_wait();
    auto r = a.acquire(name, "node-a", 10s);
    tb.join();
    if (!r) ++errors;
    const bool won_a = r.ok() && r->has_value();
    wins_a += won_a;
    wins_b += won_b;
    both += won_a && won_b;
    EXPECT_TRUE(won_a || won_b) << "nobody got " << name;
  }
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(both, 0);
  EXPECT_EQ(wins_a + wins_b, k_rounds);
}

TEST_F(redis_lock, expiry_hands_it_over_and_voids_the_old_lease) {
  auto other_conn = connect_or_fail();
  ASSERT_NE(other_conn, nullptr);
  lock_service a(conn(), lock_prefix());
  lock_service b(*other_conn, lock_prefix());
  const auto start = std::chrono::steady_clock::now();
  auto first = a.acquire("ws-7", "node-a", 150ms);
  ASSERT_TRUE(first.ok() && first->has_value());

  std::optional<lease> second;
  ASSERT_TRUE(await(5000ms, [&] {
    auto r = b.acquire("ws-7", "node-b", 10s);
    EXPECT_TRUE(r.ok());
    if (r.ok() && r->has_value()) second = **r;
    return second.has_value();
  }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 140ms) << "handed over before the ttl ran out";
  EXPECT_GT(second->fencing_token, (*first)->fencing_token);

  // The old holder cannot extend or drop what is no longer his.
  auto renew = a.renew(**first, 10s);
  ASSERT_TRUE(renew.ok());
  EXPECT_FALSE(*renew);
  auto release = a.release(**first);
  ASSERT_TRUE(release.ok());
  EXPECT_FALSE(*release);
  auto who = a.holder("ws-7");
  ASSERT_TRUE(who.ok() && who->has_value());
  EXPECT_EQ((*who)->owner, "node-b");
  EXPECT_EQ((*who)->fencing_token, second->fencing_token);
}

TEST_F(redis_lock, fencing_token_strictly_increases_across_acquisitions) {
  lock_service locks(conn(), lock_prefix());
  std::uint64_t last = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string owner = i % 2 == 0 ? "node-a" : "node-b";
    auto l = locks.acquire("run-9", owner, 10s);
    ASSERT_TRUE(l.ok() && l->has_value()) << i;
    EXPECT_GT((*l)->fencing_token, last) << "acquisition " << i;
    last = (*l)->fencing_token;
    // Another lock under the same prefix in between must not break the order.
    auto other = locks.acquire("run-" + std::to_string(100 + i), owner, 10s);
    ASSERT_TRUE(other.ok() && other->has_value());
    auto released = locks.release(**l);
    ASSERT_TRUE(released.ok() && *released);
  }
  // Also after an expiry rather than a release.
  auto short_lived = locks.acquire("run-9", "node-a", 20ms);
  ASSERT_TRUE(short_lived.ok() && short_lived->has_value());
  EXPECT_GT((*short_lived)->fencing_token, last);
  std::optional<lease> after;
  ASSERT_TRUE(await(5000ms, [&] {
    auto r = locks.acquire("run-9", "node-b", 10s);
    if (r.ok() && r->has_value()) after = **r;
    return after.has_value();
  }));
  EXPECT_GT(after->fencing_token, (*short_lived)->fencing_token);
}

TEST_F(redis_lock, wrong_owner_or_token_cannot_release_or_renew) {
  lock_service locks(conn(), lock_prefix());
  auto got = locks.acquire("run-3", "node-a", 10s);
  ASSERT_TRUE(got.ok() && got->has_value());
  const lease real = **got;
  const lease wrong_owner{real.name, "node-b", real.fencing_token, real.ttl};
  const lease wrong_token{real.name, real.owner, real.fencing_token + 1, real.ttl};
  const lease wrong_name{"run-4", real.owner, real.fencing_token, real.ttl};

  for (const lease& forged : {wrong_owner, wrong_token, wrong_name}) {
    auto renew = locks.renew(forged, 60s);
    ASSERT_TRUE(renew.ok()) << renew.err().message;
    EXPECT_FALSE(*renew) << forged.owner << " " << forged.fencing_token;
    auto release = locks.release(forged);
    ASSERT_TRUE(release.ok()) << release.err().message;
    EXPECT_FALSE(*release) << forged.owner << " " << forged.fencing_token;
  }
  EXPECT_LE(pttl("run-3"), 10000) << "a forged renew extended the lock";
  auto who = locks.holder("run-3");
  ASSERT_TRUE(who.ok() && who->has_value());
  EXPECT_EQ((*who)->owner, "node-a");
  EXPECT_EQ((*who)->fencing_token, real.fencing_token);

  auto renew = locks.renew(real, 60s);
  ASSERT_TRUE(renew.ok() && *renew);
  EXPECT_GT(pttl("run-3"), 50000);
  auto release = locks.release(real);
  ASSERT_TRUE(release.ok() && *release);
  auto gone = locks.holder("run-3");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  auto twice = locks.release(real);
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(*twice);
}

TEST_F(redis_lock, a_stale_lease_of_the_same_owner_cannot_release_a_later_acquisition) {
  lock_service locks(conn(), lock_prefix());
  auto first = locks.acquire("run-5", "node-a", 10s);
  ASSERT_TRUE(first.ok() && first->has_value());
  ASSERT_TRUE(*locks.release(**first));
  auto second = locks.acquire("run-5", "node-a", 10s);
  ASSERT_TRUE(second.ok() && second->has_value());
  auto stale = locks.release(**first);
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale);
  auto who = locks.holder("run-5");
  ASSERT_TRUE(who.ok() && who->has_value());
  EXPECT_EQ((*who)->fencing_token, (*second)->fencing_token);
}

TEST_F(redis_lock, stores_the_msgpack_layout_the_codec_reads_and_writes) {
  lock_service locks(conn(), lock_prefix());
  auto got = locks.acquire("run-6", "node-\xff\x01", 10s);
  ASSERT_TRUE(got.ok() && got->has_value());
  auto raw = conn().command({"GET", locks.key_of("run-6")});
  ASSERT_TRUE(raw.ok() && raw->is_string());
  auto value = decode_lock_value(raw->text);
  ASSERT_TRUE(value.ok()) << value.err().message;
  EXPECT_EQ(value->owner, "node-\xff\x01");
  EXPECT_EQ(value->fencing_token, (*got)->fencing_token);
  EXPECT_EQ(raw->text, encode(*value)) << "Lua's cmsgpack and msgpack-cxx disagree on the bytes";

  // A value written from C++ is understood by the Lua scripts.
  ASSERT_TRUE(conn().command({"SET", locks.key_of("run-7"), encode(lock_value{"node-c", 77}), "PX", "10000"}).ok());
  auto released = locks.release(lease{"run-7", "node-c", 77, 10s});
  ASSERT_TRUE(released.ok()) << released.err().message;
  EXPECT_TRUE(*released);
}

TEST_F(redis_lock, a_corrupt_value_is_invalid_and_left_alone) {
  lock_service locks(conn(), lock_prefix());
  const std::string key = locks.key_of("run-8");
  for (const std::string& junk : {std::string("\xc1garbage"), std::string("\x92\xa1" "a"), std::string("\x05"),
                                  std::string("plain text")}) {
    ASSERT_TRUE(conn().command({"SET", key, junk, "PX", "10000"}).ok());
    auto who = locks.holder("run-8");
    ASSERT_FALSE(who.ok());
    EXPECT_EQ(who.err().code, error_code::invalid) << who.err().message;
    auto release = locks.release(lease{"run-8", "node-a", 1, 10s});
    ASSERT_FALSE(release.ok());
    EXPECT_EQ(release.err().code, error_code::invalid) << release.err().message;
    auto renew = locks.renew(lease{"run-8", "node-a", 1, 10s}, 10s);
    ASSERT_FALSE(renew.ok());
    EXPECT_EQ(renew.err().code, error_code::invalid) << renew.err().message;
    auto taken = locks.acquire("run-8", "node-a", 10s);
    ASSERT_TRUE(taken.ok());
    EXPECT_FALSE(taken->has_value());
    auto still = conn().command({"GET", key});
    ASSERT_TRUE(still.ok());
    EXPECT_EQ(still->text, junk);
  }
}

TEST_F(redis_lock, rejects_empty_names_and_owners_and_non_positive_ttls) {
  lock_service locks(conn(), lock_prefix());
  auto no_name = locks.acquire("", "node-a", 10s);
  ASSERT_FALSE(no_name.ok());
  EXPECT_EQ(no_name.err().code, error_code::invalid);
  auto no_owner = locks.acquire("run", "", 10s);
  ASSERT_FALSE(no_owner.ok());
  EXPECT_EQ(no_owner.err().code, error_code::invalid);
  auto no_ttl = locks.acquire("run", "node-a", 0ms);
  ASSERT_FALSE(no_ttl.ok());
  EXPECT_EQ(no_ttl.err().code, error_code::invalid);
  auto got = locks.acquire("run", "node-a", 10s);
  ASSERT_TRUE(got.ok() && got->has_value());
  auto bad_renew = locks.renew(**got, -1ms);
  ASSERT_FALSE(bad_renew.ok());
  EXPECT_EQ(bad_renew.err().code, error_code::invalid);
}

}  // namespace
}  // namespace flowtrack::redis
