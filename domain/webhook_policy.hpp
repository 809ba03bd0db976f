// What an outgoing webhook attempt's answer means, and when to try again: the retry schedule
// (exponential with jitter that never shortens a delay by more than 20%), Retry-After, 410 Gone,
// a receiver's `webhook-delivery: abort-message`, the endpoint that failed for five days, and the
// per-endpoint circuit breaker. Pure: no I/O, time passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::domain::webhook {

/// An endpoint's retry settings (webhook_endpoints.max_retries, retry_delay_seconds).
struct retry_policy {
  int max_retries = 3;          ///< attempts after the first
  int retry_delay_seconds = 60; ///< the first retry's delay; each further one doubles
};

/// One retry step never waits longer than this (a long schedule is many steps, not one huge one).
inline constexpr std::int64_t k_max_step_ms = 24LL * 3600 * 1000;
/// An endpoint failing every delivery this long is disabled.
inline constexpr std::int64_t k_disable_after_ms = 5LL * 24 * 3600 * 1000;
/// Longest Retry-After honoured.
inline constexpr std::int64_t k_max_retry_after_ms = 24LL * 3600 * 1000;

/// The delay before retry `retry` (1: the first retry): retry_delay_seconds * 2^(retry-1), at
/// most k_max_step_ms, shortened by a jitter in [0, 20%) drawn from `seed` (so every message
/// gets its own, and the same message the same).
std::int64_t retry_delay_ms(const retry_policy& p, int retry, std::uint64_t seed);

/// The whole schedule's length (no jitter): how long a message may keep being retried.
std::int64_t schedule_length_ms(const retry_policy& p);

/// A Retry-After value, delta-seconds or an HTTP-date (RFC 9110), as a delay from `now_ms`
/// (never negative, at most k_max_retry_after_ms); nullopt when unreadable.
std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_ms);

/// What is known of an attempt once it ended.
struct attempt_facts {
  int attempt_number = 1;                     ///< this attempt (1: the first)
  int http_status = 0;                        ///< 0: no HTTP answer
  bool abort_requested = false;               ///< `webhook-delivery: abort-message` in the answer
  std::optional<std::int64_t> retry_after_ms; ///< from a 429 or 503 answer
  std::optional<std::int64_t> failing_since_ms;  ///< the endpoint's first failure since its last success
  std::int64_t now_ms = 0;
  std::uint64_t seed = 0;                     ///< jitter seed (e.g. a hash of the webhook-id and attempt)
};

enum class verdict : std::uint8_t { delivered, retry, failed, cancelled };
std::string_view to_string(verdict v);

/// What to record and do after an attempt.
struct decision {
  verdict outcome = verdict::failed;
  std::optional<std::int64_t> next_retry_at_ms;  ///< with retry
  std::optional<std::string> disable_reason;     ///< the endpoint is to be disabled, and why
};

/// 2xx: delivered. A receiver's abort-message: cancelled. 410 Gone: failed, and the endpoint
/// disabled at once. Failing since five days or more: failed, endpoint disabled. Retries used up:
/// failed. Otherwise retry after the schedule's delay, or the Retry-After of a 429/503 when longer.
decision decide(const attempt_facts& f, const retry_policy& p);

/// An endpoint's circuit breaker: opens after `threshold` failures in a row (no success in
/// between); while open nothing is sent; `half_open_after_ms` later one probe may go; its success
/// closes the breaker, its failure opens it again.
class breaker {
 public:
  explicit breaker(int threshold = 50, std::int64_t half_open_after_ms = 5000)
      : threshold_(threshold), half_open_after_ms_(half_open_after_ms) {}
  /// Whether an attempt may start now; in half-open state only one (the probe) may.
  bool allow(std::int64_t now_ms);
  void success();
  void failure(std::int64_t now_ms);
  bool open() const { return open_; }
  int failures_in_a_row() const { return failures_; }
  /// When the open breaker lets a probe through.
  std::int64_t probe_at_ms() const { return opened_at_ms_ + half_open_after_ms_; }

 private:
  int threshold_;
  std::int64_t half_open_after_ms_;
  int failures_ = 0;
  bool open_ = false;
  bool probing_ = false;
  std::int64_t opened_at_ms_ = 0;
};

}  // namespace flowtrack::domain::webhook
