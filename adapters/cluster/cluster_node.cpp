#include "adapters/cluster/cluster_node.hpp"

#include <unistd.h>

#include <caf/io/middleman.hpp>
#include <spdlog/spdlog.h>

#include "actors/wire.hpp"

namespace flowtrack::cluster {

void configure_cluster(caf::actor_system_config& cfg, const config::settings& s) {
  cfg.load<caf::io::middleman>();
  actors::add_wire_types(cfg);
  actors::add_cluster_types(cfg);
  // Off by default in CAF 0.17; the same on every node (both come from the shared defaults or
  // the operator's settings). A peer that stops talking on its BASP connection is dropped.
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(s.cluster_heartbeat_ms)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(s.cluster_down_after_ms)});
  // Never connect to a peer directly (that would go around the tunnel).
  cfg.set("middleman.enable-automatic-connections", false);
}

result<endpoint> parse_address(const std::string& address) {
  try {
    auto e = config::parse_endpoint("cluster address", address);
    return endpoint{e.host, e.port};
  } catch (const std::exception& e) {
    return make_error(error_code::invalid, e.what(), "address");
  }
}

result<std::uint16_t> dialers::port_for(const endpoint& remote) {
  std::string key = remote.host + ":" + std::to_string(remote.port);
  std::lock_guard lock(mutex_);
  auto it = by_address_.find(key);
  if (it == by_address_.end()) {
    auto d = tunnel_dialer::start(secret_, remote);
    if (!d) return d.err();
    it = by_address_.emplace(key, std::move(*d)).first;
  }
  return it->second->local_port();
}

void dialers::stop() {
  std::lock_guard lock(mutex_);
  for (auto& [_, d] : by_address_) d->stop();
  by_address_.clear();
}

result<std::unique_ptr<cluster_node>> cluster_node::start(caf::actor_system& system, const config::settings& s,
                                                          pg::pool& postgres) {
  if (s.cluster_secret.empty())
    return make_error(error_code::invalid, "cluster_listen needs the cluster secret: set FLOWTRACK_CLUSTER_SECRET (at least 16 characters, the same on every node)",
                      "cluster_secret");
  if (auto ok = validate_secret(s.cluster_secret); !ok) return ok.err();
  std::unique_ptr<cluster_node> node(new cluster_node());
  node->system_ = &system;
  node->name_ = s.node_name;
  if (node->name_.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    node->name_ = host;
  }
  // A refusal now means this node's secret is not the cluster's: stop before any lease.
  for (const auto& j : s.cluster_join) {
    auto p = probe(s.cluster_secret, {j.host, j.port}, std::chrono::milliseconds(5000));
    if (p.outcome == probe_result::status::refused)
      return make_error(error_code::unauthorized, "the member at " + j.to_string() + " refused this node: " + p.reason, "cluster_secret");
    if (p.outcome != probe_result::status::ok)
      spdlog::warn("cluster: {} cannot be reached yet ({}); this node keeps trying", j.to_string(), p.reason);
  }
  node->dialers_ = std::make_shared<dialers>(s.cluster_secret);
  node->ownership_ = std::make_shared<actors::ownership_view>();

  actors::cluster_deps deps;
  deps.postgres = &postgres;
  deps.self.name = node->name_;
  deps.self.address = s.cluster_listen->to_string();
  deps.self.incarnation = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  deps.self.wire_min = actors::k_wire_version_min;
  deps.self.wire_max = actors::k_wire_version;
  for (const auto& j : s.cluster_join) deps.join.push_back(j.to_string());
  deps.heartbeat = std::chrono::milliseconds(s.cluster_heartbeat_ms);
  deps.detector = {s.cluster_suspect_after_ms, s.cluster_down_after_ms};
  deps.lease = std::chrono::milliseconds(s.shard_lease_ms);
  deps.ownership = node->ownership_;
  node->holder_ = actors::lease_holder(deps.self);
  auto* sys = &system;
  deps.connect = [sys, dl = node->dialers_](const std::string& address) -> caf::expected<caf::strong_actor_ptr> {
    auto remote = parse_address(address);
    if (!remote) return caf::make_error(caf::sec::invalid_argument, remote.err().message);
    auto port = dl->port_for(*remote);
    if (!port) return caf::make_error(caf::sec::cannot_connect_to_node, port.err().message);
    auto m = sys->middleman().remote_actor<actors::member_actor>("127.0.0.1", *port);
    if (!m) return m.error();
    return caf::actor_cast<caf::strong_actor_ptr>(*m);
  };

  node->member_ = actors::spawn_member(system, deps);
  auto basp = system.middleman().publish(node->member_, 0, "127.0.0.1");
  if (!basp) return make_error(error_code::unavailable, "cannot publish the cluster member on loopback: " + system.render(basp.error()));
  auto server = tunnel_server::start(s.cluster_secret, {s.cluster_listen->host, s.cluster_listen->port}, *basp);
  if (!server) return server.err();
  node->server_ = std::move(*server);
  spdlog::info("cluster: node {} listens on {}:{} (members join through it)", node->name_, s.cluster_listen->host,
               node->server_->port());
  return node;
}

cluster_node::~cluster_node() { stop(); }

void cluster_node::stop() {
  if (server_) server_->stop();
  if (dialers_) dialers_->stop();
}

result<member_connection> connect_member(caf::actor_system& system, const std::string& secret, const endpoint& remote,
                                         std::chrono::milliseconds timeout) {
  if (auto ok = validate_secret(secret); !ok) return ok.err();
  auto p = probe(secret, remote, timeout);
  std::string where = remote.host + ":" + std::to_string(remote.port);
  if (p.outcome == probe_result::status::refused)
    return make_error(error_code::unauthorized, where + " refused this secret: " + p.reason, "cluster_secret");
  if (p.outcome != probe_result::status::ok) return make_error(error_code::unavailable, where + ": " + p.reason, "join");
  auto d = tunnel_dialer::start(secret, remote);
  if (!d) return d.err();
  auto m = system.middleman().remote_actor<actors::member_actor>("127.0.0.1", (*d)->local_port());
  if (!m) return make_error(error_code::unavailable, where + ": " + system.render(m.error()), "join");
  return member_connection{std::move(*d), *m};
}

}  // namespace flowtrack::cluster
