// The outgoing webhook retry rules: schedule, jitter bounds, Retry-After, 410, abort-message,
// five days of failures, and the circuit breaker.
#include <gtest/gtest.h>

#include <set>

#include "domain/webhook_policy.hpp"

namespace flowtrack::domain::webhook {
namespace {

TEST(webhook_policy, the_schedule_doubles_and_jitter_only_shortens_by_at_most_a_fifth) {
  retry_policy p{5, 60};
  std::set<std::int64_t> seen;
  for (std::uint64_t seed = 0; seed < 2000; ++seed)
    for (int retry = 1; retry <= 5; ++retry) {
      std::int64_t base = 60000LL << (retry - 1);
      std::int64_t d = retry_delay_ms(p, retry, seed);
      EXPECT_LE(d, base);
      EXPECT_GE(d, base * 8 / 10) << "retry " << retry << " seed " << seed;
      if (retry == 1) seen.insert(d);
    }
  EXPECT_GT(seen.size(), 1000u) << "messages that failed together spread out";
  EXPECT_EQ(retry_delay_ms(p, 3, 42), retry_delay_ms(p, 3, 42)) << "the same message, the same delay";
  EXPECT_EQ(schedule_length_ms(p), (60 + 120 + 240 + 480 + 960) * 1000LL);
}

TEST(webhook_policy, a_long_schedule_reaches_days_in_steps_of_at_most_one) {
  retry_policy p{15, 60};
  EXPECT_GE(schedule_length_ms(p), 3LL * 24 * 3600 * 1000) << "an endpoint may ask for three days";
  for (int r = 1; r <= 15; ++r) EXPECT_LE(retry_delay_ms(p, r, 7), k_max_step_ms);
}

TEST(webhook_policy, retry_after_as_seconds_or_http_date) {
  const std::int64_t now = 784111777000;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("120", now), 120000);
  EXPECT_EQ(parse_retry_after(" 0 ", now), 0);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now), 120000);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now), 0) << "a date in the past is now";
  EXPECT_EQ(parse_retry_after("99999999999999999999999", now), k_max_retry_after_ms);
  EXPECT_EQ(parse_retry_after("9999999", now), k_max_retry_after_ms);
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("12abc", now));
  EXPECT_FALSE(parse_retry_after("tomorrow", now));
}

TEST(webhook_policy, decisions) {
  retry_policy p{3, 60};
  attempt_facts f;
  f.now_ms = 1'000'000;
  f.http_status = 204;
  EXPECT_EQ(decide(f, p).outcome, verdict::delivered);

  f.http_status = 500;
  auto d = decide(f, p);
  EXPECT_EQ(d.outcome, verdict::retry);
  ASSERT_TRUE(d.next_retry_at_ms);
  EXPECT_GE(*d.next_retry_at_ms, f.now_ms + 48000);
  EXPECT_LE(*d.next_retry_at_ms, f.now_ms + 60000);

  f.http_status = 0;  // no answer: retried too
  EXPECT_EQ(decide(f, p).outcome, verdict::retry);

  f.http_status = 429;
  f.retry_after_ms = 600000;
  EXPECT_EQ(*decide(f, p).next_retry_at_ms, f.now_ms + 600000) << "Retry-After when longer";
  f.retry_after_ms = 1000;
  EXPECT_GE(*decide(f, p).next_retry_at_ms, f.now_ms + 48000) << "never sooner than the schedule";
  f.http_status = 500;
  f.retry_after_ms = 600000;
  EXPECT_LE(*decide(f, p).next_retry_at_ms, f.now_ms + 60000) << "Retry-After only on 429 and 503";
  f.retry_after_ms.reset();

  f.attempt_number = 4;  // the first and three retries
  EXPECT_EQ(decide(f, p).outcome, verdict::failed);
  EXPECT_FALSE(decide(f, p).next_retry_at_ms);
  f.attempt_number = 1;

  f.http_status = 410;
  d = decide(f, p);
  EXPECT_EQ(d.outcome, verdict::failed);
  ASSERT_TRUE(d.disable_reason);

  f.http_status = 500;
  f.abort_requested = true;
  EXPECT_EQ(decide(f, p).outcome, verdict::cancelled);
  f.abort_requested = false;

  f.failing_since_ms = f.now_ms - k_disable_after_ms + 1;
  EXPECT_EQ(decide(f, p).outcome, verdict::retry);
  f.failing_since_ms = f.now_ms - k_disable_after_ms;
  d = decide(f, p);
  EXPECT_EQ(d.outcome, verdict::failed);
  EXPECT_TRUE(d.disable_reason);
}

TEST(webhook_policy, the_breaker_opens_after_a_long_run_and_half_opens) {
  breaker b(50, 5000);
  std::int64_t t = 0;
  for (int i = 0; i < 49; ++i) {
    ASSERT_TRUE(b.allow(t));
    b.failure(t);
  }
  b.success();  // a success in between: the run starts again
  for (int i = 0; i < 49; ++i) b.failure(t);
  EXPECT_FALSE(b.open());
  b.failure(t);
  EXPECT_TRUE(b.open());
  EXPECT_FALSE(b.allow(t + 4999));
  EXPECT_TRUE(b.allow(t + 5000)) << "half-open: one probe";
  EXPECT_FALSE(b.allow(t + 5000)) << "only one";
  b.failure(t + 5100);
  EXPECT_TRUE(b.open());
  EXPECT_FALSE(b.allow(t + 10099));
  EXPECT_TRUE(b.allow(t + 10100));
  b.success();
  EXPECT_FALSE(b.open());
  EXPECT_TRUE(b.allow(t + 10100));
  EXPECT_TRUE(b.allow(t + 10100));
}

}  // namespace
}  // namespace flowtrack::domain::webhook
