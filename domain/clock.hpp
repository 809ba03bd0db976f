// Where the rules and the actors read time: the wall clock (Unix milliseconds, for rows, due
// times and quotas) and a monotonic clock (for durations and deadlines). The node passes the
// system's; tests pass a manual one they move by hand.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace flowtrack::domain {

class clock {
 public:
  using monotonic_point = std::chrono::steady_clock::time_point;
  virtual ~clock() = default;
  /// Now, in UTC milliseconds since the Unix epoch.
  virtual std::int64_t wall_ms() const = 0;
  /// Now, on a clock that never goes back.
  virtual monotonic_point monotonic() const = 0;
};

/// The system's clocks.
const clock& system_clock();

/// A clock that moves only when told; both readings move together.
class manual_clock final : public clock {
 public:
  explicit manual_clock(std::int64_t wall_ms) : wall_(wall_ms) {}
  std::int64_t wall_ms() const override { return wall_.load(); }
  monotonic_point monotonic() const override { return monotonic_point(std::chrono::milliseconds(mono_.load())); }
  void advance(std::chrono::milliseconds d) {
    wall_ += d.count();
    mono_ += d.count();
  }

 private:
  std::atomic<std::int64_t> wall_;
  std::atomic<std::int64_t> mono_{0};
};

}  // namespace flowtrack::domain
