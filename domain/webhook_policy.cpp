#include "domain/webhook_policy.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>

namespace flowtrack::domain::webhook {
namespace {

// splitmix64: a well-mixed 64-bit value from any seed.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::int64_t base_delay_ms(const retry_policy& p, int retry) {
  std::int64_t d = std::max(1, p.retry_delay_seconds) * 1000LL;
  for (int i = 1; i < retry && d < k_max_step_ms; ++i) d *= 2;
  return std::min(d, k_max_step_ms);
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, the only form senders should use).
std::optional<std::int64_t> parse_http_date(std::string_view v) {
  std::tm tm{};
  std::string s(v);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

}  // namespace

std::int64_t retry_delay_ms(const retry_policy& p, int retry, std::uint64_t seed) {
  std::int64_t d = base_delay_ms(p, std::max(1, retry));
  // Jitter in [0, 20%): spreads retries of messages that failed together, never much earlier.
  double cut = static_cast<double>(mix(seed ^ static_cast<std::uint64_t>(retry)) >> 11) / 9007199254740992.0 * 0.2;
  return d - static_cast<std::int64_t>(static_cast<double>(d) * cut);
}

std::int64_t schedule_length_ms(const retry_policy& p) {
  std::int64_t total = 0;
  for (int r = 1; r <= p.max_retries; ++r) total += base_delay_ms(p, r);
  return total;
}

std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_ms) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::int64_t ms = 0;
  if (value.front() >= '0' && value.front() <= '9') {
    std::int64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) return k_max_retry_after_ms;
    if (ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
    ms = seconds > k_max_retry_after_ms / 1000 ? k_max_retry_after_ms : seconds * 1000;
  } else {
    auto at = parse_http_date(value);
    if (!at) return std::nullopt;
    ms = *at - now_ms;
  }
  return std::clamp<std::int64_t>(ms, 0, k_max_retry_after_ms);
}

std::string_view to_string(verdict v) {
  switch (v) {
    case verdict::delivered: return "delivered";
    case verdict::retry: return "retry";
    case verdict::failed: return "failed";
    case verdict::cancelled: return "cancelled";
  }
  return "failed";
}

decision decide(const attempt_facts& f, const retry_policy& p) {
  decision d;
  if (f.http_status >= 200 && f.http_status < 300) {
    d.outcome = verdict::delivered;
    return d;
  }
  if (f.abort_requested) {
    d.outcome = verdict::cancelled;
    return d;
  }
  if (f.http_status == 410) {
    d.outcome = verdict::failed;
    d.disable_reason = "the receiver answered 410 Gone";
    return d;
  }
  if (f.failing_since_ms && f.now_ms - *f.failing_since_ms >= k_disable_after_ms) {
    d.outcome = verdict::failed;
    d.disable_reason = "every delivery failed for 5 days";
    return d;
  }
  if (f.attempt_number > p.max_retries) {
    d.outcome = verdict::failed;
    return d;
  }
  std::int64_t wait = retry_delay_ms(p, f.attempt_number, f.seed);
  if ((f.http_status == 429 || f.http_status == 503) && f.retry_after_ms) wait = std::max(wait, *f.retry_after_ms);
  d.outcome = verdict::retry;
  d.next_retry_at_ms = f.now_ms + wait;
  return d;
}

bool breaker::allow(std::int64_t now_ms) {
  if (!open_) return true;
  if (probing_ || now_ms < probe_at_ms()) return false;
  probing_ = true;  // half-open: this one attempt decides
  return true;
}

void breaker::success() {
  failures_ = 0;
  open_ = false;
  probing_ = false;
}

void breaker::failure(std::int64_t now_ms) {
  ++failures_;
  if (probing_ || (!open_ && failures_ >= threshold_)) {
    open_ = true;
    opened_at_ms_ = now_ms;
  }
  probing_ = false;
}

}  // namespace flowtrack::domain::webhook
