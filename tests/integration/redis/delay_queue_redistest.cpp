// delay_queue against a real Redis: due times, visibility timeouts, stale acks, two concurrent
// claimers over 10,000 entries, and corrupt entries. Time is injected: no test waits for it.
#include <algorithm>
#include <latch>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "storage/redis/codec.hpp"
#include "storage/redis/connection.hpp"
#include "storage/redis/delay_queue.hpp"
#include "tests/integration/redis/redis_fixture.hpp"

namespace flowtrack::redis {
namespace {

using namespace std::chrono_literals;
using testing::connect_or_fail;

constexpr std::int64_t k_now = 1'750'000'000'000;  // an injected "now", ms since the epoch

class redis_delay_queue : public testing::redis_test {
 protected:
  delay_queue make_queue(connection& c) { return delay_queue(c, "wake", prefix()); }

  std::vector<std::string> ids_of(const std::vector<claimed>& cs) {
    std::vector<std::string> ids;
    for (const auto& c : cs) ids.push_back(c.id);
    return ids;
  }
};

TEST_F(redis_delay_queue, claims_only_due_entries_earliest_first) {
  auto q = make_queue(conn());
  ASSERT_TRUE(q.schedule("c", k_now + 1).ok());
  ASSERT_TRUE(q.schedule("a", k_now - 10).ok());
  ASSERT_TRUE(q.schedule("b", k_now).ok());

  auto early = q.claim(k_now - 11, 10, 30s);
  ASSERT_TRUE(early.ok()) << early.err().message;
  EXPECT_TRUE(early->empty());

  auto due = q.claim(k_now, 10, 30s);  // due <= now: "b" exactly at now is due, "c" is not
  ASSERT_TRUE(due.ok()) << due.err().message;
  EXPECT_EQ(ids_of(*due), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(due->at(0).due_ms, k_now - 10);
  EXPECT_EQ(due->at(1).due_ms, k_now);
  EXPECT_EQ(due->at(0).attempt, 1u);
  EXPECT_NE(due->at(0).token, due->at(1).token);

  auto size = q.size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 3u);  // claimed entries stay until acknowledged
  auto next = q.next_due();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ(**next, k_now + 1);
}

TEST_F(redis_delay_queue, respects_the_batch_size) {
  auto q = make_queue(conn());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.schedule(std::string("e").append(std::to_string(i)), k_now - 100 + i).ok());
  auto first = q.claim(k_now, 2, 30s);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ids_of(*first), (std::vector<std::string>{"e0", "e1"}));
  auto none = q.claim(k_now, 0, 30s);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto rest = q.claim(k_now, 100, 30s);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(ids_of(*rest), (std::vector<std::string>{"e2", "e3", "e4"}));
}

TEST_F(redis_delay_queue, rescheduling_moves_an_entry_and_voids_its_claim) {
  auto q = make_queue(conn());
  ASSERT_TRUE(q.schedule("x", k_now - 5).ok());
  auto got = q.claim(k_now, 10, 30s);
  ASSERT_TRUE(got.ok() && got->size() == 1);
  ASSERT_TRUE(q.schedule("x", k_now + 500).ok());

  auto size = q.size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 1u);
  auto stale = q.ack(got->front());
  ASSERT_TRUE(stale.ok()) << stale.err().message;
  EXPECT_FALSE(*stale) << "an ack of a claim made before the re-schedule removed the entry";
  auto entry = q.find("x");
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->due_ms, k_now + 500);
  EXPECT_EQ((*entry)->attempt, 0u);

  auto before = q.claim(k_now + 499, 10, 30s);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty());
  auto at = q.claim(k_now + 500, 10, 30s);
  ASSERT_TRUE(at.ok() && at->size() == 1);
  EXPECT_EQ(at->front().due_ms, k_now + 500);
  EXPECT_EQ(at->front().attempt, 1u);
}

TEST_F(redis_delay_queue, an_unacknowledged_entry_returns_after_its_visibility_timeout) {
  auto q = make_queue(conn());
  ASSERT_TRUE(q.schedule("run-1", k_now).ok());
  auto first = q.claim(k_now, 10, 5s);
  ASSERT_TRUE(first.ok() && first->size() == 1);
  auto next = q.next_due();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ(**next, k_now + 5000);

  auto hidden = q.claim(k_now + 4999, 10, 5s);
  ASSERT_TRUE(hidden.ok());
  EXPECT_TRUE(hidden->empty());
  auto again = q.claim(k_now + 5000, 10, 5s);
  ASSERT_TRUE(again.ok() && again->size() == 1);
  EXPECT_EQ(again->front().id, "run-1");
  EXPECT_EQ(again->front().due_ms, k_now);
  EXPECT_EQ(again->front().attempt, 2u);
  EXPECT_GT(again->front().token, first->front().token);

  auto stale = q.ack(first->front());
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale) << "the first claimer's late ack removed an entry claimed again since";
  auto size = q.size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 1u);

  auto acked = q.ack(again->front());
  ASSERT_TRUE(acked.ok() && *acked);
  size = q.size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 0u);
  auto empty = q.next_due();
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  auto twice = q.ack(again->front());
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(*twice);
  auto gone = q.find("run-1");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(redis_delay_queue, an_ack_after_the_timeout_still_counts_if_nobody_claimed_it_again) {
  auto q = make_queue(conn());
  ASSERT_TRUE(q.schedule("slow", k_now).ok());
  auto got = q.claim(k_now, 10, 1s);
  ASSERT_TRUE(got.ok() && got->size() == 1);
  auto acked = q.ack(got->front());  // the timeout has passed on the injected clock; no one re-claimed
  ASSERT_TRUE(acked.ok() && *acked);
  auto later = q.claim(k_now + 10'000, 10, 1s);
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(later->empty());
}

TEST_F(redis_delay_queue, acknowledges_a_batch_and_counts_only_current_claims) {
  auto q = make_queue(conn());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.schedule(std::string("b").append(std::to_string(i)), k_now).ok());
  auto got = q.claim(k_now, 10, 30s);
  ASSERT_TRUE(got.ok() && got->size() == 4);
  ASSERT_TRUE(q.schedule("b3", k_now).ok());  // voids the claim of b3
  auto n = q.ack(std::span<const claimed>(*got));
  ASSERT_TRUE(n.ok()) << n.err().message;
  EXPECT_EQ(*n, 3u);
  auto size = q.size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 1u);
}

TEST_F(redis_delay_queue, removes_an_entry_whatever_its_state) {
  auto q = make_queue(conn());
  ASSERT_TRUE(q.schedule("cancelled", k_now).ok());
  auto got = q.claim(k_now, 10, 30s);
  ASSERT_TRUE(got.ok() && got->size() == 1);
  auto removed = q.remove("cancelled");
  ASSERT_TRUE(removed.ok() && *removed);
  auto again = q.remove("cancelled");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto ack = q.ack(got->front());
  ASSERT_TRUE(ack.ok());
  EXPECT_FALSE(*ack);
}

TEST_F(redis_delay_queue, stores_entries_the_codec_reads) {
  auto q = make_queue(conn());
  ASSERT_TRUE(q.schedule("e", -42).ok());
  auto scheduled = q.find("e");
  ASSERT_TRUE(scheduled.ok() && scheduled->has_value()) << (scheduled.ok() ? "" : scheduled.err().message);
  EXPECT_EQ((*scheduled)->due_ms, -42);
  EXPECT_EQ((*scheduled)->attempt, 0u);
  auto got = q.claim(k_now, 10, 30s);
  ASSERT_TRUE(got.ok() && got->size() == 1);
  auto claimed_entry = q.find("e");
  ASSERT_TRUE(claimed_entry.ok() && claimed_entry->has_value());
  EXPECT_EQ(**claimed_entry, (delay_entry{-42, got->front().token, 1}));
}

TEST_F(redis_delay_queue, a_corrupt_entry_is_invalid_and_set_aside_without_blocking_the_queue) {
  auto q = make_queue(conn());
  ASSERT_TRUE(q.schedule("good", k_now - 2).ok());
  ASSERT_TRUE(q.schedule("bad", k_now - 1).ok());
  const std::string entries = prefix() + "{wake}:entries";
  ASSERT_TRUE(conn().command({"HSET", entries, "bad", "\xc1\x00junk"}).ok());

  auto found = q.find("bad");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.err().code, error_code::invalid);
  EXPECT_NE(found.err().message.find("'bad'"), std::string::npos) << found.err().message;

  auto claim = q.claim(k_now, 10, 30s);
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.err().code, error_code::invalid);
  EXPECT_NE(claim.err().message.find("'bad'"), std::string::npos) << claim.err().message;
  auto kept = conn().command({"HGET", prefix() + "{wake}:bad", "bad"});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->text, "\xc1\x00junk");

  auto rest = q.claim(k_now, 10, 30s);
  ASSERT_TRUE(rest.ok()) << rest.err().message;
  EXPECT_EQ(ids_of(*rest), (std::vector<std::string>{"good"}));

  // An ack meeting a corrupt entry says so, and removes nothing.
  ASSERT_TRUE(conn().command({"HSET", entries, "good", "\x92\x01"}).ok());
  auto ack = q.ack(rest->front());
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.err().code, error_code::invalid);
  auto size = q.size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 1u);
}

TEST_F(redis_delay_queue, rejects_bad_arguments) {
  auto q = make_queue(conn());
  auto no_id = q.schedule("", k_now);
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.err().code, error_code::invalid);
  auto far = q.schedule("x", std::int64_t{1} << 60);
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.err().code, error_code::invalid);
  auto no_visibility = q.claim(k_now, 10, 0ms);
  ASSERT_FALSE(no_visibility.ok());
  EXPECT_EQ(no_visibility.err().code, error_code::invalid);
}

TEST_F(redis_delay_queue, two_claimers_take_each_of_ten_thousand_entries_exactly_once_and_none_early) {
  constexpr int k_entries = 10'000;
  auto q = make_queue(conn());
  // Even ids are due (some exactly at now), odd ones are in the future (the first 1 ms after now).
  for (int i = 0; i < k_entries; ++i) {
    const std::int64_t due = i % 2 == 0 ? k_now - i / 2 : k_now + 1 + i / 2;
    auto r = q.schedule("run-" + std::to_string(i), due);
    ASSERT_TRUE(r.ok()) << r.err().message;
  }

  struct claimer_log {
    std::vector<claimed> got;
    int calls = 0;
    std::string error;
  };
  claimer_log logs[2];
  std::latch start(2);
  auto claim_all = [&](claimer_log& log) {
    auto c = connect_or_fail();
    if (!c) return;
    delay_queue mine(*c, "wake", prefix());
    start.arrive_and_wait();
    while (true) {
      auto batch = mine.claim(k_now, 20, 60s);
      ++log.calls;
      if (!batch) {
        log.error = batch.err().message;
        return;
      }
      if (batch->empty()) return;  // nothing due is left unclaimed
      if (log.calls > k_entries) {  // entries keep coming back: they were not hidden
        log.error = "claim never ran dry after " + std::to_string(log.calls) + " calls";
        return;
      }
      log.got.insert(log.got.end(), batch->begin(), batch->end());
    }
  };
  std::thread a(claim_all, std::ref(logs[0]));
  std::thread b(claim_all, std::ref(logs[1]));
  a.join();
  b.join();
  ASSERT_EQ(logs[0].error, "");
  ASSERT_EQ(logs[1].error, "");

  std::unordered_map<std::string, int> times;
  std::vector<claimed> all;
  for (const auto& log : logs) {
    for (const auto& c : log.got) {
      ++times[c.id];
      all.push_back(c);
      const int i = std::stoi(c.id.substr(4));
      EXPECT_EQ(i % 2, 0) << c.id << " was claimed before it was due";
      EXPECT_LE(c.due_ms, k_now) << c.id;
      EXPECT_EQ(c.attempt, 1u) << c.id;
    }
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(k_entries / 2));
  EXPECT_EQ(times.size(), static_cast<std::size_t>(k_entries / 2)) << "some due entries were never claimed";
  for (const auto& [id, n] : times) EXPECT_EQ(n, 1) << id << " was handed out " << n << " times";
  std::set<std::uint64_t> tokens;
  for (const auto& c : all) tokens.insert(c.token);
  EXPECT_EQ(tokens.size(), all.size()) << "claim tokens are not unique";
  std::cout << "[ info     ] claimer batches: " << logs[0].calls << " and " << logs[1].calls << ", entries "
            << logs[0].got.size() << " and " << logs[1].got.size() << "\n";

  auto acked = q.ack(std::span<const claimed>(all));
  ASSERT_TRUE(acked.ok()) << acked.err().message;
  EXPECT_EQ(*acked, static_cast<std::size_t>(k_entries / 2));
  auto size = q.size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, static_cast<std::size_t>(k_entries / 2));
  auto next = q.next_due();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ(**next, k_now + 1);
}

}  // namespace
}  // namespace flowtrack::redis
