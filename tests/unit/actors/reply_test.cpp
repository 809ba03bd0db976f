// Reply slots: answered exactly once, by the actor, by the deadline sweep or by being dropped.
#include <gtest/gtest.h>

#include <future>

#include "actors/reply.hpp"

namespace flowtrack::actors {
namespace {

using answer = result<int>;

TEST(reply_slot, delivers_the_first_answer_only) {
  std::vector<answer> seen;
  reply_deadlines deadlines(std::chrono::hours(1));
  auto slot = deadlines.make<answer>([&](answer a) { seen.push_back(std::move(a)); });
  slot->deliver(answer(7));
  slot->deliver(answer(8));
  slot->expire();
  slot.reset();  // the destructor finds it answered
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_TRUE(seen[0].ok());
  EXPECT_EQ(*seen[0], 7);
}

TEST(reply_slot, a_slot_dropped_unanswered_answers_unavailable) {
  std::vector<answer> seen;
  reply_deadlines deadlines(std::chrono::hours(1));
  deadlines.make<answer>([&](answer a) { seen.push_back(std::move(a)); });  // dropped at once, like a message to a dead actor
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_FALSE(seen[0].ok());
  EXPECT_EQ(seen[0].err().code, error_code::unavailable);
}

TEST(reply_slot, a_slot_nobody_answers_expires_with_unavailable) {
  reply_deadlines deadlines(std::chrono::milliseconds(20));
  std::promise<answer> got;
  auto slot = deadlines.make<answer>([&](answer a) { got.set_value(std::move(a)); });
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto a = f.get();
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.err().code, error_code::unavailable);
  EXPECT_NE(a.err().message.find("in time"), std::string::npos) << a.err().message;
  slot->deliver(answer(1));  // too late: not called again (the promise would throw)
}

TEST(reply_deadlines, answered_slots_leave_the_sweep) {
  reply_deadlines deadlines(std::chrono::hours(1));
  for (int i = 0; i < 1000; ++i) deadlines.make<answer>([](answer) {})->deliver(answer(i));
  EXPECT_LE(deadlines.watched(), 1u);
}

TEST(reply_deadlines, admits_at_most_max_outstanding_unanswered_slots) {
  reply_deadlines deadlines(std::chrono::hours(1), 2);
  int answered = 0;
  std::function<void(answer)> cb = [&](answer) { ++answered; };
  auto a = deadlines.try_make<answer>(cb);
  cb = [&](answer) { ++answered; };
  auto b = deadlines.try_make<answer>(cb);
  cb = [&](answer) { ++answered; };
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(deadlines.try_make<answer>(cb)) << "a third is refused";
  EXPECT_TRUE(static_cast<bool>(cb)) << "a refused callback is left to the caller";
  a->deliver(answer(1));
  EXPECT_EQ(deadlines.outstanding(), 1u);
  auto c = deadlines.try_make<answer>(cb);
  EXPECT_TRUE(c) << "an answer makes room";
  b.reset();  // dropped: answered unavailable, room again
  c->deliver(answer(3));
  EXPECT_EQ(deadlines.outstanding(), 0u);
  EXPECT_EQ(answered, 3);
}

}  // namespace
}  // namespace flowtrack::actors
