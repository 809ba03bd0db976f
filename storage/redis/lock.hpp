// Named leases in Redis with owner tokens and fencing tokens (SET NX PX, Lua compare-and-set).
// Knows Redis keys and scripts; knows nothing of what is locked (runs, workspaces) or of actors.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/error.hpp"

namespace flowtrack::redis {

class connection;

/// A lock held by `owner` until it expires or is released.
struct lease {
  std::string name;
  std::string owner;
  /// Strictly greater than the token of every earlier acquisition of this lock (and of every
  /// other lock under the same prefix): a writer can reject work carrying a smaller token.
  std::uint64_t fencing_token = 0;
  /// The time to live asked for; for `lock_service::holder`, the time left.
  std::chrono::milliseconds ttl{0};
};

/// Acquires, renews and releases named locks. Only the holder (same owner and fencing token) can
/// renew or release; everyone else is told `false` and nothing changes.
///
/// Keys: the lock `name` is stored at `prefix + name` as msgpack [owner, fencing_token] (see
/// codec.hpp) with a PX expiry. The fencing counter is the key named by the prefix itself (no
/// lock name is empty, so it cannot collide): one counter for all locks under a prefix, so that
/// a lock name leaves no key behind once released, and tokens still only grow for every name.
///
/// Uses the connection from the calling thread only (see `connection`).
class lock_service {
 public:
  /// Locks under `prefix` (default "ft:lock:") on `conn`, which must outlive this service.
  explicit lock_service(connection& conn, std::string prefix = "ft:lock:");

  /// Takes the lock for `ttl` if nobody holds it. Returns the lease, or no value when someone
  /// (the same owner included: locks are not re-entrant) holds it. Empty name or owner, or a
  /// non-positive ttl, are `invalid`.
  result<std::optional<lease>> acquire(std::string_view name, std::string_view owner, std::chrono::milliseconds ttl);

  /// Sets the lock's time to live to `ttl` from now if `l` still holds it; false otherwise
  /// (expired, released, taken by someone else). A stored value that is not a lock is `invalid`.
  result<bool> renew(const lease& l, std::chrono::milliseconds ttl);

  /// Deletes the lock if `l` still holds it; false otherwise, and nothing is deleted.
  /// A stored value that is not a lock is `invalid`.
  result<bool> release(const lease& l);

  /// Who holds `name` now, with the time left in `ttl`; no value when it is free.
  /// A stored value that is not a lock is `invalid`.
  result<std::optional<lease>> holder(std::string_view name);

  /// The Redis key of lock `name`.
  /// Raises the fencing counter to at least `floor` (never lowers it). After Redis lost its data
  /// the counter restarts from zero; callers restore it from the largest token they stored.
  result<void> raise_fencing_floor(std::uint64_t floor);

  std::string key_of(std::string_view name) const { return prefix_ + std::string(name); }

 private:
  connection& conn_;
  std::string prefix_;
};

}  // namespace flowtrack::redis
