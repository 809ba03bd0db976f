// Fixed-window counters in Redis that expire on their own, for rate limits and quotas.
// Knows Redis keys and Lua; knows nothing of what is being limited (forms, IPs, workspaces).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/error.hpp"

namespace flowtrack::redis {

class connection;

/// What one `rate_counter::hit` saw.
struct hit {
  std::int64_t count = 0;               ///< the total in the current window, this hit included
  std::chrono::milliseconds reset_in{0};  ///< until the window ends and the count starts over
};

/// Counters that start at the first hit and vanish `window` later (a fixed window per key).
/// Each hit is one atomic script: INCRBY, and PEXPIRE only when the key has no expiry yet, so a
/// window is never extended by later hits.
///
/// Keys: `prefix + key`, a plain integer (so INCRBY can work on it; not msgpack).
/// Uses the connection from the calling thread only (see `connection`).
class rate_counter {
 public:
  /// Counters under `prefix` (default "ft:rl:") on `conn`, which must outlive this.
  explicit rate_counter(connection& conn, std::string prefix = "ft:rl:");

  /// Adds `amount` to `key`'s counter, opening a `window` if none is open. An empty key or a
  /// non-positive window is `invalid`; a key holding something other than an integer is `invalid`.
  result<redis::hit> hit(std::string_view key, std::chrono::milliseconds window, std::int64_t amount = 1);

 private:
  connection& conn_;
  std::string prefix_;
};

}  // namespace flowtrack::redis
