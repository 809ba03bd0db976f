// A Redis delay queue: ids scheduled for a time, claimed atomically when due, invisible while
// claimed, back after a visibility timeout unless acknowledged. Knows Redis keys and Lua; knows
// nothing of executions, actors or clocks (time always comes from the caller).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"
#include "storage/redis/codec.hpp"

namespace flowtrack::redis {

class connection;

/// An entry handed out by `delay_queue::claim`.
struct claimed {
  std::string id;
  std::int64_t due_ms = 0;    ///< when it was scheduled for
  std::uint64_t token = 0;    ///< proof of this claim for `ack`; unique within the queue
  std::uint32_t attempt = 0;  ///< 1 on the first claim after scheduling, 2 after one timeout, ...
};

/// A delay queue named `name` in Redis.
///
/// Keys (the braces keep a queue's keys in one Redis Cluster slot, as scripts need):
/// `prefix{name}:due` sorted set, id -> the time it may next be claimed (its due time, or the end
/// of its visibility timeout while claimed); `prefix{name}:entries` hash, id -> msgpack
/// delay_entry; `prefix{name}:seq` the token counter; `prefix{name}:bad` hash, id -> the raw
/// bytes of entries that were found unreadable and set aside.
///
/// Every operation is one Lua script or one command, so that concurrent claimers on separate
/// connections never get the same entry while it is invisible. Times are milliseconds on the
/// caller's clock (Unix epoch, so they fit a Redis score exactly: |t| <= 2^53).
///
/// Uses the connection from the calling thread only (see `connection`).
class delay_queue {
 public:
  /// Most entries one `claim` returns: a script blocks Redis while it runs.
  static constexpr std::size_t k_max_claim = 1000;

  /// The queue `name` under `prefix` (default "ft:dq:") on `conn`, which must outlive it.
  delay_queue(connection& conn, std::string_view name, std::string prefix = "ft:dq:");

  /// Schedules `id` for `due_ms`. Scheduling an id that is already queued (claimed or not)
  /// moves it to the new time, resets its attempt count and voids earlier claims of it.
  result<void> schedule(std::string_view id, std::int64_t due_ms);

  /// Claims up to `max` (at most k_max_claim) entries due at `now_ms` (due <= now), earliest
  /// first, and hides them until `now_ms + visibility`: one that is not acknowledged by then can
  /// be claimed again. Entries whose stored value is unreadable are moved to the `:bad` hash and
  /// reported as `invalid` (naming their ids); nothing is claimed by that call, and the next call
  /// goes on with the rest.
  result<std::vector<claimed>> claim(std::int64_t now_ms, std::size_t max, std::chrono::milliseconds visibility);

  /// Removes the entry if `c` is still its latest claim: true. False, and nothing removed, when it
  /// was re-scheduled, claimed again, or removed since. An unreadable stored value is `invalid`.
  result<bool> ack(const claimed& c);

  /// Acknowledges many claims in one round trip; returns how many were removed (see the
  /// single `ack`). An unreadable stored value is `invalid`; the others are acknowledged anyway.
  result<std::size_t> ack(std::span<const claimed> batch);

  /// Removes `id` whatever its state (e.g. its run was cancelled); true if it was queued.
  result<bool> remove(std::string_view id);

  /// The stored entry for `id`, or no value when it is not queued. Unreadable bytes are `invalid`.
  result<std::optional<delay_entry>> find(std::string_view id);

  /// Number of queued entries, claimed-but-unacknowledged ones included.
  result<std::size_t> size();

  /// The earliest time at which `claim` can return something (a due time, or the end of a
  /// visibility timeout); no value when the queue is empty.
  result<std::optional<std::int64_t>> next_due();

  /// The queue's name.
  const std::string& name() const { return name_; }

 private:
  error with_context(error e) const;

  connection& conn_;
  std::string name_;
  std::string due_key_;
  std::string entries_key_;
  std::string seq_key_;
  std::string bad_key_;
};

}  // namespace flowtrack::redis
