// The cluster member: one actor per node that knows the other members (hello, heartbeats, the
// failure detector of domain/membership), decides which shards this node should own (the ring of
// domain/shard_ring over the members that own shards) and holds their leases in PostgreSQL
// (storage/shard_leases: acquire, renew every third of a lease, release what moved away). It
// answers the operators' questions (`flowtrackd cluster status|owner|drain`).
//
// Its interface is typed and every message in it is serialisable: peers reach it through the
// cluster tunnel (adapters/cluster) and CAF's BASP on loopback. Connections are made off the
// actor threads by `cluster_deps::connect` (blocking, run in a detached helper). One connection
// per pair: a node dials the members it was told to join, and of two members that learned of
// each other through others, the one with the lower name dials.
//
// Before it has heard from a member it joins through (or after cluster_down_after_ms without),
// a node takes no lease, so a node that cannot reach its cluster does not grab every shard.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"
#include "domain/membership.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::domain {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("ft_member_info"), x.name, x.address, x.incarnation, x.leaving, x.shards, x.load,
           x.wire_min, x.wire_max);
}

}  // namespace flowtrack::domain

namespace flowtrack::actors {

using hello_atom = caf::atom_constant<caf::atom("ft_hello")>;    ///< a peer joins: who it is
using heartbeat_atom = caf::atom_constant<caf::atom("ft_beat")>;  ///< a peer is alive, and whom it knows
using status_atom = caf::atom_constant<caf::atom("ft_status")>;  ///< operators: the members
using owner_atom = caf::atom_constant<caf::atom("ft_owner")>;    ///< operators: a workspace's owner
using drain_atom = caf::atom_constant<caf::atom("ft_drain")>;    ///< operators: hand a node's shards away
using peer_atom = caf::atom_constant<caf::atom("ft_peer")>;      ///< local: a connection to a member was made
using judge_atom = caf::atom_constant<caf::atom("ft_judge")>;    ///< local: the heartbeat timer
using leases_atom = caf::atom_constant<caf::atom("ft_leases")>;  ///< local: a lease round finished
/// To the local workspace registry: this node began holding these shards (a new epoch); adopt
/// their executions now (queued, running, paused and due).
using adopt_atom = caf::atom_constant<caf::atom("ft_adopt")>;
/// Local: the engine finished handing these shards off (or gave up waiting); release them.
using handed_atom = caf::atom_constant<caf::atom("ft_handed")>;

/// The registered name of the node's member actor (the engine hands it resume requests for
/// shards this node does not hold).
inline const caf::atom_value k_member_name = caf::atom("ft_member");

/// One member in `flowtrackd cluster status`.
struct member_status {
  std::string name, address, state;  ///< state: up, suspect, down, leaving
  std::int32_t shards = 0;
  double load = 0;
};

struct cluster_status {
  std::vector<member_status> members;
};

/// `flowtrackd cluster owner`: the workspace's shard, the node holding its lease (or, with no
/// live lease, the node the ring gives it to) and the lease's epoch.
struct shard_owner {
  std::string workspace;
  std::int32_t shard = 0;
  std::string owner;
  std::int64_t epoch = 0;
};

/// What a lease round left this node with.
struct lease_update {
  std::vector<std::int32_t> shards;  ///< held now, ascending
  std::vector<std::int64_t> epochs;  ///< their epochs
  std::vector<std::int32_t> lost;    ///< held before, lost (expired or taken over)
  std::vector<std::int32_t> began;   ///< held now at an epoch that began in this round (the node adopts their executions)
  std::string failure;               ///< the round failed (the database); held stays as it was
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_status& x) {
  return f(caf::meta::type_name("ft_member_status"), x.name, x.address, x.state, x.shards, x.load);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("ft_cluster_status"), x.members);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_owner& x) {
  return f(caf::meta::type_name("ft_shard_owner"), x.workspace, x.shard, x.owner, x.epoch);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_update& x) {
  return f(caf::meta::type_name("ft_lease_update"), x.shards, x.epochs, x.lost, x.began, x.failure);
}

using member_list = std::vector<domain::member_info>;

/// The member actor's interface, the one peers and operators' tools talk to.
using member_actor = caf::typed_actor<
    caf::replies_to<hello_atom, domain::member_info>::with<member_list>,  // answer: what this node knows, itself first
    caf::reacts_to<heartbeat_atom, domain::member_info, member_list>,
    caf::replies_to<status_atom>::with<cluster_status>,
    caf::replies_to<owner_atom, std::string>::with<shard_owner>,  // a workspace's slug or id
    caf::replies_to<drain_atom, std::string>::with<bool>,         // a node's name; false: unknown
    caf::reacts_to<peer_atom, std::string, caf::strong_actor_ptr>,  // the address dialed; null: it failed
    caf::reacts_to<judge_atom>,
    caf::reacts_to<leases_atom, lease_update>,
    caf::reacts_to<handed_atom, std::vector<std::int32_t>>,
    // A trigger of a workspace whose shard another node owns, from this node's engine: sent to
    // the owner in a batch (its writer commits it and its engine runs it), answered with the
    // owner's outcome. When the owner cannot take it (unreachable, not holding the shard, a
    // timeout) it is committed here instead and the execution handed over as usual: accepted
    // either way, and once (it carries an idempotency key, "fwd:<execution id>" unless it had one).
    caf::replies_to<forward_atom, domain::trigger_record>::with<ingest_reply>,
    // A batch of those from a peer: one outcome each, in order; `conflict` for a trigger of a
    // shard this node does not work (the sender commits it itself).
    caf::replies_to<forward_atom, forward_batch>::with<forward_replies>,
    // An execution to run on the owner of its workspace's shard. From a peer: handed to this
    // node's workspace registry when this node holds the shard (true), else false. From this
    // node's engine (anonymous or local senders): sent on to the member the ring names owner,
    // and tried again each heartbeat (the int: attempts so far) while it answers false or
    // cannot be reached, for about twice the down time. Given up after that (or when the ring
    // names this node, which then adopts it when its epoch begins), it is not lost: the owner
    // adopts it when its epoch begins, or recovery finds it stale.
    caf::replies_to<resume_atom, resume_request>::with<bool>,
    caf::reacts_to<resume_atom, resume_request, std::int32_t>>;

/// Registers the cluster's message types with CAF (with add_wire_types, before the system).
void add_cluster_types(caf::actor_system_config& cfg);

/// The shards this node holds and their epochs, for the rest of the node: runs start only for
/// workspaces of these shards (node_services::ownership) and their writes are fenced by the
/// epoch. Thread-safe.
class ownership_view {
 public:
  /// `handing`: those of `shards` being handed to another node, or handed and not released yet
  /// (all ascending).
  void set(std::vector<std::int32_t> shards, std::vector<std::int64_t> epochs, std::vector<std::int32_t> handing = {});
  /// The epoch this node holds `shard` at; 0 when it does not hold it. Writes of the shard's
  /// runs pass the fence with it (those in flight during a hand-off too).
  std::int64_t epoch_of(int shard) const;
  /// epoch_of, but 0 for a shard being handed off: what starts new work (runs, deliveries).
  std::int64_t working_epoch_of(int shard) const;
  /// The shards held and not being handed off, ascending.
  std::vector<int> working_shards() const;
  std::size_t held() const;

 private:
  std::int64_t epoch_locked(int shard) const;  ///< epoch_of, the mutex held
  mutable std::mutex mutex_;
  std::vector<std::int32_t> shards_;
  std::vector<std::int64_t> epochs_;
  std::vector<std::int32_t> handing_;
};

struct cluster_deps {
  pg::pool* postgres = nullptr;
  domain::member_info self;          ///< name, address, incarnation
  std::vector<std::string> join;     ///< "host:port" of members to join through
  std::chrono::milliseconds heartbeat{500};
  domain::detector_options detector;
  std::chrono::milliseconds lease{4000};
  /// How long a forwarded batch may take before its triggers are committed here instead.
  std::chrono::milliseconds forward_timeout{2000};
  /// How long a hand-off waits for the steps and deliveries in flight before releasing anyway
  /// (the epoch still fences whatever comes later).
  std::chrono::milliseconds handoff_timeout{10000};
  /// Connects to the member at "host:port" (blocking; called off the actor threads).
  std::function<caf::expected<caf::strong_actor_ptr>(const std::string& address)> connect;
  std::shared_ptr<ownership_view> ownership = std::make_shared<ownership_view>();
};

/// The name a node holds shard leases under: its name and incarnation, so a restarted node (or a
/// paused old process of the same name) never shares an epoch with its other self.
std::string lease_holder(const domain::member_info& m);
/// The node name in a lease holder ("n1/1733..." → "n1").
std::string_view node_of_holder(std::string_view holder);

/// Spawns the member actor; it starts joining and judging at once.
member_actor spawn_member(caf::actor_system& system, cluster_deps deps);

}  // namespace flowtrack::actors
