// Which shard a workspace belongs to, and which cluster member owns each shard: a consistent-hash
// ring with virtual nodes over the live members' names. Pure: no clocks, no I/O. The ring only
// proposes owners; a node may act for a shard only while it holds the shard's lease in
// PostgreSQL (storage/shard_leases.hpp), whatever its ring says.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowtrack::domain {

/// The fixed number of shards. Part of the durable contract (shard numbers are stored in
/// shard_leases and derived from workspace ids by every node): changing it re-maps every
/// workspace and needs a cluster-wide migration, never a rolling upgrade.
inline constexpr int k_shard_count = 256;

/// The 64-bit hash behind shards and ring points: FNV-1a 64 (offset basis 0xcbf29ce484222325,
/// prime 0x100000001b3) over the bytes, then MurmurHash3's 64-bit finaliser (fmix64) so that
/// every output bit depends on every input byte (FNV-1a alone mixes a late byte poorly into the
/// high bits, and its low 8 bits depend only on the inputs' low 8 bits).
std::uint64_t shard_hash(std::string_view bytes);

/// The shard of a workspace: the first byte of SHA-256 of the id with ASCII letters lower-cased.
/// A wire and durable contract: every node, release and platform must agree, so the function is
/// fixed (a golden value in tests/unit/domain/shard_ring_test.cpp catches a change), and SQL
/// computes the same (ft_shard_of, migration 033), so statements pick a shard's rows. Pass the
/// canonical text of the UUID (36 characters, hyphenated, as PostgreSQL prints uuid); the case
/// of hex digits does not matter, but braces or a missing hyphen give another shard.
int shard_of(std::string_view workspace_id);

/// The owners of the shards for one set of members. Each member has `vnodes` points on a 64-bit
/// ring, at shard_hash("<member>#<i>") for i in [0, vnodes); shard s sits in the middle of its
/// equal slice of the ring, at (2s + 1) * 2^63 / k_shard_count, and belongs to the member of the
/// first point at or after it (wrapping). Points that collide are ordered by member name, and members are de-duplicated,
/// so the owners depend on the set of names only, never on their order or on the node that
/// computes them. Adding a member moves shards only to it; removing one moves only its shards.
class ring {
 public:
  /// Points per member. A member's share varies by about 1/sqrt(vnodes) around 1/members, on
  /// top of the granularity of 256 shards. Measured over 1000 random name sets, 128 points keep
  /// every one of 3 members within +-25% of 256/3 in ~99% of sets (64: ~95%), and every one of 4
  /// members in ~97%; 256 or 512 points do no better. With 8 members (32 shards each) +-25% is
  /// beyond any per-shard hashing of 256 shards: about half of the name sets miss it somewhere.
  static constexpr int k_default_vnodes = 128;

  /// An empty ring: no shard has an owner.
  ring() = default;
  /// A ring over `members` (duplicates and empty names dropped); `vnodes` is at least 1.
  explicit ring(std::vector<std::string> members, int vnodes = k_default_vnodes);

  bool empty() const { return members_.empty(); }
  /// The members, sorted and unique.
  const std::vector<std::string>& members() const { return members_; }
  int vnodes() const { return vnodes_; }

  /// The owner of `shard`; empty when the ring is empty or the shard is outside [0, k_shard_count).
  std::string_view owner(int shard) const;
  /// The owner of every shard, indexed by shard (k_shard_count entries, empty strings when the
  /// ring is empty).
  std::vector<std::string> assignment() const;
  /// The shards `member` owns, ascending (none for a name that is not a member).
  std::vector<int> shards_of(std::string_view member) const;

 private:
  struct point {
    std::uint64_t at;
    std::uint32_t member;  ///< index into members_
  };
  std::vector<std::string> members_;
  std::vector<point> points_;  ///< sorted by (at, member name)
  int vnodes_ = k_default_vnodes;
};

}  // namespace flowtrack::domain
