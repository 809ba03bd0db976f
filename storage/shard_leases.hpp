// Shard leases in SQL (migration 031): which node may act for each of the 256 shards
// (domain/shard_ring.hpp), taken, renewed and given back in batches, and the fence that every
// durable write of a shard's runs passes inside its own transaction. Knows SQL only: no actors,
// no timers, no ring (the ring proposes owners; these rows decide them).
//
// The protocol
//
// * Ownership is the row, not the ring and not Redis. A node acts for a shard only while it holds
//   an unexpired lease on it. Two nodes whose rings disagree (one has not seen a join yet) both
//   ask; the database gives the shard to one of them.
// * The epoch is a fencing token (Temporal's RangeID). It grows by one whenever the lease begins
//   anew: taken from another owner, taken after it lapsed (even by the same node: whatever the
//   node did in between is suspect) or after it was released. Renewing a live lease keeps it.
//   A node remembers the epoch it was given and passes it to fence(); an old epoch never
//   matches again, so a node that was paused, cut off or slow past its lease cannot write,
//   whatever it believes about its lease.
// * The fence is checked in the same transaction as the write it guards and holds the lease row
//   FOR KEY SHARE until commit. A takeover (acquire) locks the row FOR UPDATE first, which
//   conflicts with KEY SHARE, so it waits for every fenced write in flight and those writes
//   either commit before the new epoch begins or are refused after it: the new owner reads a
//   shard's state after every write of the old epoch. The owner's own renewals and releases are
//   plain UPDATEs of non-key columns (FOR NO KEY UPDATE), which do not conflict with KEY SHARE:
//   a batch renewal never waits behind the node's own writes. (FOR SHARE would make renewals
//   wait too; FOR KEY SHARE without the explicit FOR UPDATE in acquire would let a takeover
//   through.) Rows are always locked in shard order, so batch calls do not deadlock each other;
//   a transaction that writes for several shards fences them all in one fence_many(), before
//   its writes, rather than one fence() a shard as it goes.
// * Time is the database's: expiry is computed and compared with the server's clock
//   (statement_timestamp() when a lease is written, clock_timestamp() in the fence), never with
//   a node's. A node keeps its own, earlier deadline: the steady time at which it sent the
//   acquire or renew plus the lease, less a margin; the database's expiry is at least that late.
//   It stops starting work for a shard once its own deadline passes, and fences keep it honest
//   if it does not.
// * A fenced-out node (fence() answers `conflict`, renew() reports the shard lost): roll the
//   transaction back, drop everything it holds in memory for the shard (run actors, caches,
//   Redis locks it took for the shard's runs), write nothing more for it, and acquire it again
//   only when its ring says so, reading the shard's state afresh under the new epoch. It must
//   not retry the refused write: the new owner redoes the step from the durable state.
// * Hand-off on a join: the old owner stops starting steps for the shard, lets those in flight
//   commit (their fences pass: it still holds the lease), then release()s; the new owner's
//   acquire takes it at once with a higher epoch. A node that dies simply stops renewing; the
//   survivors take its shards once its leases expire.
// * `node` names an incarnation: a node restarted under the same name while its old process may
//   still be alive (paused, not dead) must use a new name (e.g. "<member>/<start id>"), or the
//   two share an epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage::shard_leases {

/// A shard and the epoch a node holds (or believes it holds) it at.
struct held_shard {
  int shard = 0;
  std::int64_t epoch = 0;
  friend bool operator==(const held_shard&, const held_shard&) = default;
};

/// What acquire() answered for one shard.
struct acquisition {
  int shard = 0;
  bool held = false;        ///< this node holds the shard now, at `epoch`, until `expires_at_ms`
  bool began = false;       ///< held, and the epoch began with this call (the node must load the shard afresh)
  std::int64_t epoch = 0;   ///< held: this node's epoch; otherwise the holder's
  std::string owner;        ///< not held: the node holding it
  std::int64_t expires_at_ms = 0;  ///< Unix ms, database clock: when this node's or the holder's lease ends
};

/// What renew() answered.
struct renewal {
  std::vector<held_shard> held;  ///< still this node's, at the same epoch, extended (ascending)
  std::vector<held_shard> lost;  ///< expired, released, or taken over: treat as fenced out
  std::optional<std::int64_t> expires_at_ms;  ///< Unix ms, database clock: when the renewed leases end
};

/// A lease row, for status output.
struct lease {
  int shard = 0;
  std::optional<std::string> owner;  ///< the holder, or the last one; none: never held
  std::int64_t epoch = 0;            ///< 0: never held
  std::optional<std::int64_t> expires_at_ms;  ///< none: released or never held
  bool expired = true;               ///< by the database clock now
  std::optional<std::int64_t> acquired_at_ms, renewed_at_ms, released_at_ms;
};

/// Takes the leases of `shards` for `node` for `lease` (at least 1 ms), one answer a shard,
/// ascending, duplicates once. A shard that is free, expired or released is taken with its epoch
/// plus one; one this node already holds unexpired is kept at its epoch and extended; one held
/// by another node is left and reported with its holder. Two nodes asking at once for the same
/// shard: exactly one gets it. A takeover waits for the fenced writes of the old epoch that are
/// in flight (so does asking again for a lease the node holds: renew() does not). Call it
/// outside a transaction, or in a READ COMMITTED one. Shards outside [0, 256) or an empty node
/// are `invalid`.
result<std::vector<acquisition>> acquire(pg::connection& c, const std::vector<int>& shards, std::string_view node,
                                         std::chrono::milliseconds lease);

/// Extends, in one statement, the leases `node` still holds at the given epochs and that have
/// not expired; the others are reported lost. Never waits behind the node's own fenced writes.
result<renewal> renew(pg::connection& c, std::string_view node, const std::vector<held_shard>& held,
                      std::chrono::milliseconds lease);

/// Gives a lease back at once (the next acquire by any node takes it with a higher epoch);
/// false when `node` did not hold it at `epoch` (already lost or released). It does not wait for
/// the node's fenced writes in flight, and a takeover still waits for them; but a write fenced
/// after the release is refused, so a hand-off releases once the shard's steps have committed.
result<bool> release(pg::connection& c, std::string_view node, int shard, std::int64_t epoch);

/// The subject of the error of a fenced-out write (the constraint name fence_shard_leases()
/// raises with, SQLSTATE FTF01).
inline constexpr std::string_view k_fenced_subject = "shard_lease";

/// Inside the transaction of a durable write of `shard`'s runs: succeeds only while `node`
/// holds the shard at `epoch` and the lease has not expired by the database clock, and then
/// locks the lease row (FOR KEY SHARE) until the transaction ends, so no takeover can happen
/// before the write commits. Otherwise `conflict` (subject k_fenced_subject) naming the shard
/// and who holds it, and the transaction is aborted: roll back and treat the shard as lost.
/// Outside a transaction the lock ends with the statement and the check proves nothing about
/// later statements.
result<void> fence(pg::connection& c, std::string_view node, int shard, std::int64_t epoch);

/// fence() for a transaction spanning several shards, in one statement (rows locked in shard
/// order); fails as a whole, naming every shard that is not held as given.
result<void> fence_many(pg::connection& c, std::string_view node, const std::vector<held_shard>& held);

/// The fence as the first command of a pipeline (pg::connection::pipeline, one implicit
/// transaction): when `node` does not hold every shard at its epoch the command fails, so the
/// pipeline's later commands are aborted and nothing of it commits. The pipeline's error then
/// says so: see fenced_out() and fence_error(). The caller checks shard numbers (a shard outside
/// 0..255 is refused as "no such shard").
pg::pipelined fence_command(std::string_view node, const std::vector<held_shard>& held);

/// Whether an error is a fence's refusal (from fence(), fence_many() or a pipeline or
/// transaction that ran fence_command()).
bool fenced_out(const error& e);

/// The error as fence() reports it: a fence's refusal becomes `conflict` (PostgreSQL's custom
/// SQLSTATE maps to `internal` in pg/error_map); any other error is returned unchanged.
error fence_error(error e);

/// Every lease row, by shard.
result<std::vector<lease>> leases(pg::connection& c);

}  // namespace flowtrack::storage::shard_leases
