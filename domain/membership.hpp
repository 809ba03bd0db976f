// Cluster membership as one node sees it: who said they are alive and when, and what that makes
// them (up, suspect, down, leaving). Pure: the caller feeds in what it heard and the time; the
// cluster actor (actors/cluster) sends and receives the heartbeats. A member is a name and an
// incarnation (its start): a node that restarts is a new member under the same name and replaces
// the old one, whose late heartbeats are ignored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowtrack::domain {

enum class member_state : std::uint8_t { up, suspect, down, leaving };

/// "up", "suspect", "down", "leaving": the names `flowtrackd cluster status --json` prints.
std::string_view to_string(member_state s);

/// What a node says about itself (and passes on about others).
struct member_info {
  std::string name;                ///< --node-name; unique in the cluster
  std::string address;             ///< where its cluster tunnel listens, "host:port"
  std::uint64_t incarnation = 0;   ///< its start (Unix ms, made unique): higher is newer
  bool leaving = false;            ///< draining: it gives its shards away and takes none
  std::int32_t shards = 0;         ///< shards it holds, as it last said
  double load = 0;                 ///< its machine's one-minute load average, as it last said
  /// The wire versions it reads (actors/wire.hpp: k_wire_version_min..k_wire_version). Two
  /// nodes talk when their ranges overlap, each sending the highest version both read.
  std::uint16_t wire_min = 1, wire_max = 1;
};

/// Whether two members share a wire version (nodes of adjacent releases do; others are refused).
bool speaks_with(const member_info& a, const member_info& b);

/// One member as this node sees it.
struct member_view {
  member_info info;
  member_state state = member_state::up;
  std::int64_t last_heard_ms = 0;  ///< this node's steady clock
};

/// Timings of the failure detector.
struct detector_options {
  std::int64_t suspect_after_ms = 2000;  ///< silent this long: suspect (still owns its shards)
  std::int64_t down_after_ms = 5000;     ///< silent this long: down (its shards go to the others)
};

class membership {
 public:
  membership(member_info self, detector_options options);

  /// `m` is alive (a hello or heartbeat from it, at `now_ms`). True when it is new to this node:
  /// never seen, a new incarnation, or back from down. A heartbeat of an older incarnation than
  /// the one known is ignored (false), and so is a member that shares no wire version with this
  /// node (never added: see speaks_with).
  bool heard(const member_info& m, std::int64_t now_ms);
  /// Passed on by another member: added (as up, heard now) only when unknown or newer and
  /// sharing a wire version; never refreshes a known member's time (only its own heartbeats
  /// do). True when new.
  bool learned(const member_info& m, std::int64_t now_ms);
  /// Marks a member (or this node) as leaving; false for an unknown name.
  bool set_leaving(std::string_view name);
  /// Re-judges every member by its silence at `now_ms`; the names whose state changed.
  std::vector<std::string> judge(std::int64_t now_ms);

  /// The members that own shards: this node and every member up or suspect and not leaving,
  /// sorted by name.
  std::vector<std::string> owners() const;
  /// Every member known, this node first.
  const std::vector<member_view>& members() const { return members_; }
  const member_view* find(std::string_view name) const;
  member_info& self() { return members_.front().info; }
  const member_info& self() const { return members_.front().info; }

 private:
  member_view* find_mutable(std::string_view name);
  std::vector<member_view> members_;  ///< [0] is this node
  detector_options options_;
};

}  // namespace flowtrack::domain
