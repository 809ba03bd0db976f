// A node's place in the cluster: its member actor (actors/cluster) published for CAF's BASP on
// loopback only, the tunnel server in front of it on cluster_listen, and one tunnel dialer per
// peer address (adapters/cluster/tunnel), through which CAF connects to the peers' members. No
// peer reaches BASP except through the tunnel, so none gets past without the cluster secret.
// Also the operators' way in: `connect_member` reaches a member the same way for the CLI.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/cluster.hpp"
#include "adapters/cluster/tunnel.hpp"
#include "config/settings.hpp"
#include "runtime/error.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::cluster {

/// Loads CAF's middleman and registers the messages that cross nodes, with BASP heartbeats and
/// its connection timeout from the settings (the same on every node, as BASP needs).
void configure_cluster(caf::actor_system_config& cfg, const config::settings& s);

/// "host:port" (IPv6 as "[::1]:7400") into an endpoint; `invalid` otherwise.
result<endpoint> parse_address(const std::string& address);

/// Dialers by peer address, made on first use and kept while the node runs.
class dialers {
 public:
  explicit dialers(std::string secret) : secret_(std::move(secret)) {}
  /// The loopback port that reaches `remote` through the tunnel.
  result<std::uint16_t> port_for(const endpoint& remote);
  void stop();

 private:
  std::string secret_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<tunnel_dialer>> by_address_;
};

/// The node's cluster parts, running.
class cluster_node {
 public:
  /// Checks the secret, probes every member to join (a refusal is an error: this node's secret
  /// is not the cluster's, and nothing was touched), publishes the member actor on loopback and
  /// starts the tunnel server on `cluster_listen`. The member starts joining at once.
  static result<std::unique_ptr<cluster_node>> start(caf::actor_system& system, const config::settings& s,
                                                     pg::pool& postgres);
  ~cluster_node();
  actors::member_actor member() const { return member_; }
  const std::string& name() const { return name_; }
  std::uint16_t port() const { return server_->port(); }
  std::shared_ptr<actors::ownership_view> ownership() const { return ownership_; }
  /// The name this node holds shard leases under (actors::lease_holder: name/incarnation).
  const std::string& lease_holder() const { return holder_; }
  /// Stops the tunnels (connections to and from peers end); the member actor ends with the system.
  void stop();

 private:
  cluster_node() = default;
  caf::actor_system* system_ = nullptr;
  std::string name_;
  std::string holder_;
  actors::member_actor member_;
  std::unique_ptr<tunnel_server> server_;
  std::shared_ptr<dialers> dialers_;
  std::shared_ptr<actors::ownership_view> ownership_;
};

/// A member reached for the CLI, with the dialer that carries the connection.
struct member_connection {
  std::unique_ptr<tunnel_dialer> dialer;
  actors::member_actor member;
};

/// Probes `remote` and connects to its member through the tunnel (blocking, within `timeout`
/// for the probe): `unauthorized` when the remote refused this secret, `unavailable` when it
/// cannot be reached.
result<member_connection> connect_member(caf::actor_system& system, const std::string& secret, const endpoint& remote,
                                         std::chrono::milliseconds timeout);

}  // namespace flowtrack::cluster
