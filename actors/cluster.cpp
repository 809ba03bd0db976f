#include "actors/cluster.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "domain/shard_ring.hpp"
#include "metrics/metrics.hpp"
#include "storage/shard_leases.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::actors {
namespace {

namespace leases = storage::shard_leases;

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double load_average() {
  double one = 0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &one) != 1) one = 0;
    std::fclose(f);
  }
  return one;
}

struct member_actor_state {
  member_actor_state() = default;  // not an aggregate (CAF 0.17 and C++20)
  std::unique_ptr<domain::membership> table;
  std::map<std::string, member_actor> peers;         ///< by member name
  std::set<std::string> dialing;                     ///< addresses being connected now
  std::map<std::string, std::int64_t> last_dial_ms;  ///< by address
  std::set<std::string> seeds_waiting;               ///< join addresses not answered yet
  bool ready = false;
  std::int64_t started_ms = 0;
  std::vector<std::int32_t> held;
  std::vector<std::int64_t> epochs;
  bool lease_round = false;
  std::int64_t last_round_ms = 0;
  std::vector<std::string> owners;  ///< the ring's members at the last round
  std::vector<std::int32_t> to_adopt;  ///< shards begun while the engine was not there yet
  std::set<std::int32_t> handing;      ///< held, the ring gives them to another node: finishing what is in flight
  std::set<std::int32_t> handed;       ///< held, handed off: released in the next round
  /// Triggers waiting to be forwarded to an owner, by owner name.
  struct outbox {
    std::vector<domain::trigger_record> records;
    std::vector<caf::typed_response_promise<ingest_reply>> promises;
    int in_flight = 0;  ///< batches sent, not answered yet
  };
  std::map<std::string, outbox> forwards;
  static inline const char* name = "cluster_member";
};

using self_ptr = member_actor::stateful_pointer<member_actor_state>;

struct cluster_metrics {
  std::mutex mutex;
  std::map<std::string, double> by_state;
};

cluster_metrics& gauges() {
  static cluster_metrics m;
  return m;
}

void publish_gauges(const domain::membership& table, std::size_t held) {
  auto& g = gauges();
  std::lock_guard lock(g.mutex);
  g.by_state = {{"up", 0}, {"suspect", 0}, {"down", 0}, {"leaving", 0}};
  for (const auto& m : table.members()) g.by_state[std::string(domain::to_string(m.state))] += 1;
  g.by_state["held_shards"] = static_cast<double>(held);
}

void register_gauges_once() {
  static bool done = [] {
    metrics::global().gauge("flowtrack_cluster_members", "Members of the cluster as this node sees them, by state.", {"state"}, [] {
      auto& g = gauges();
      std::lock_guard lock(g.mutex);
      std::vector<metrics::gauge_reading> out;
      for (const auto& [state, n] : g.by_state)
        if (state != "held_shards") out.push_back({{state}, n});
      return out;
    });
    metrics::global().gauge("flowtrack_cluster_shards_held", "Shards whose lease this node holds.", {}, [] {
      auto& g = gauges();
      std::lock_guard lock(g.mutex);
      return std::vector<metrics::gauge_reading>{{{}, g.by_state["held_shards"]}};
    });
    return true;
  }();
  (void)done;
}

domain::member_info self_info(self_ptr self) {
  auto info = self->state.table->self();
  info.shards = static_cast<std::int32_t>(self->state.held.size());
  info.load = load_average();
  return info;
}

member_list known(self_ptr self) {
  member_list out{self_info(self)};
  for (const auto& m : self->state.table->members())
    if (m.info.name != out.front().name && m.state != domain::member_state::down) out.push_back(m.info);
  return out;
}

// Starts a connection to `address` off the actor threads, unless one is under way or was tried
// within the last second.
void dial(self_ptr self, const cluster_deps& deps, const std::string& address, std::int64_t every_ms = 1000) {
  auto now = steady_ms();
  auto& st = self->state;
  if (address.empty() || st.dialing.count(address) || now - st.last_dial_ms[address] < every_ms) return;
  st.dialing.insert(address);
  st.last_dial_ms[address] = now;
  auto me = caf::actor_cast<member_actor>(self);
  self->spawn<caf::detached>(
      [me, address](caf::event_based_actor* helper, decltype(deps.connect) connect) -> caf::behavior {
        auto peer = connect(address);
        if (!peer) spdlog::debug("cluster: cannot reach {} yet: {}", address, helper->system().render(peer.error()));
        helper->send(me, peer_atom::value, address, peer ? *peer : caf::strong_actor_ptr{});
        helper->quit();
        return {};
      },
      deps.connect);
}

void adopt_peer(self_ptr self, const std::string& name, member_actor handle) {
  if (!handle) return;
  auto& peers = self->state.peers;
  auto it = peers.find(name);
  if (it != peers.end() && it->second == handle) return;
  peers[name] = handle;
  self->monitor(handle);
}

// Takes in what a peer knows: new members (dialed when this node's name is the lower) and the
// leaving flag of known ones.
void take_known(self_ptr self, const cluster_deps& deps, const member_list& list) {
  auto& table = *self->state.table;
  auto now = steady_ms();
  for (const auto& m : list) {
    if (m.name == table.self().name) continue;
    if (table.learned(m, now)) {
      spdlog::info("cluster: learned of member {} at {}", m.name, m.address);
    } else if (m.leaving) {
      if (const auto* k = table.find(m.name); k && k->info.incarnation == m.incarnation && !k->info.leaving)
        table.set_leaving(m.name);
    }
    if (!self->state.peers.count(m.name) && table.self().name < m.name) dial(self, deps, m.address);
  }
}

// Tells the rest of the node what it holds, and which of those it no longer works: the shards
// being handed off and those handed off, until the round that releases them.
void publish_ownership(self_ptr self, const cluster_deps& deps) {
  auto& st = self->state;
  std::vector<std::int32_t> leaving;
  std::set_union(st.handing.begin(), st.handing.end(), st.handed.begin(), st.handed.end(), std::back_inserter(leaving));
  deps.ownership->set(st.held, st.epochs, std::move(leaving));
}

// Asks the local engine to finish what is in flight for `shards` (it starts nothing new for them
// now: ownership_view::working_epoch_of), then marks them handed, for the next round to release.
void hand_off(self_ptr self, const cluster_deps& deps, std::vector<std::int32_t> shards) {
  auto registry = self->system().registry().get<caf::actor>(k_registry_name);
  if (!registry) return self->send(self, handed_atom::value, std::move(shards));
  spdlog::info("cluster: handing {} shard(s) to their new owner(s): finishing the steps in flight", shards.size());
  self->request(registry, deps.handoff_timeout, handoff_atom::value, shards)
      .then([=](bool) { self->send(self, handed_atom::value, shards); },
            [=](caf::error& e) {
              spdlog::warn("cluster: the hand-off of {} shard(s) did not finish ({}); releasing them anyway", shards.size(),
                           self->system().render(e));
              self->send(self, handed_atom::value, shards);
            });
}

void lease_round(self_ptr self, const cluster_deps& deps) {
  auto& st = self->state;
  st.lease_round = true;
  st.last_round_ms = steady_ms();
  st.owners = st.table->owners();
  domain::ring ring(st.owners);
  std::vector<int> desired = st.table->self().leaving ? std::vector<int>{} : ring.shards_of(st.table->self().name);
  // A shard the ring gives away is handed off: kept while the engine finishes its steps and
  // deliveries in flight (starting none), released once that is done.
  std::vector<leases::held_shard> keep, give;
  std::vector<std::int32_t> newly_handing;
  for (std::size_t i = 0; i < st.held.size(); ++i) {
    leases::held_shard h{st.held[i], st.epochs[i]};
    if (std::binary_search(desired.begin(), desired.end(), h.shard)) {
      st.handing.erase(h.shard);  // the ring moved back
      st.handed.erase(h.shard);
      keep.push_back(h);
    } else if (st.handed.count(h.shard)) {
      give.push_back(h);
    } else {
      keep.push_back(h);
      if (st.handing.insert(h.shard).second) newly_handing.push_back(h.shard);
    }
  }
  if (!newly_handing.empty()) {
    publish_ownership(self, deps);
    hand_off(self, deps, std::move(newly_handing));
  }
  auto holder = lease_holder(st.table->self());
  auto me = caf::actor_cast<member_actor>(self);
  auto lease = deps.lease;
  deps.postgres->submit(
      [holder, keep, give, desired, lease](pg::connection& c) -> result<lease_update> {
        lease_update u;
        std::vector<leases::held_shard> now_held;
        if (!keep.empty()) {
          auto renewed = leases::renew(c, holder, keep, lease);
          if (!renewed) return renewed.err();
          now_held = renewed->held;
          for (const auto& l : renewed->lost) u.lost.push_back(l.shard);
        }
        // Given away at once (the next owner takes them without waiting for expiry); a failed
        // release only means the lease runs out on its own.
        for (const auto& g : give) (void)leases::release(c, holder, g.shard, g.epoch);
        std::vector<int> want;
        for (int s : desired)
          if (std::none_of(now_held.begin(), now_held.end(), [s](const auto& h) { return h.shard == s; })) want.push_back(s);
        if (!want.empty()) {
          auto got = leases::acquire(c, want, holder, lease);
          if (!got) return got.err();
          for (const auto& a : *got)
            if (a.held) {
              now_held.push_back({a.shard, a.epoch});
              if (a.began) u.began.push_back(a.shard);
            }
        }
        std::sort(now_held.begin(), now_held.end(), [](const auto& a, const auto& b) { return a.shard < b.shard; });
        for (const auto& h : now_held) {
          u.shards.push_back(h.shard);
          u.epochs.push_back(h.epoch);
        }
        return u;
      },
      [me](result<lease_update> r) {
        lease_update u;
        if (r) u = std::move(*r);
        else u.failure = r.err().message;
        caf::anon_send(me, leases_atom::value, std::move(u));
      });
}

// Tells the local workspace registry to adopt the executions of the shards begun; kept for the
// next heartbeat while the engine is not up yet.
void adopt(self_ptr self) {
  auto& st = self->state;
  if (st.to_adopt.empty()) return;
  auto registry = self->system().registry().get<caf::actor>(k_registry_name);
  if (!registry) return;
  std::sort(st.to_adopt.begin(), st.to_adopt.end());
  st.to_adopt.erase(std::unique(st.to_adopt.begin(), st.to_adopt.end()), st.to_adopt.end());
  // Only those still held.
  std::erase_if(st.to_adopt, [&](std::int32_t s) { return !std::binary_search(st.held.begin(), st.held.end(), s); });
  if (!st.to_adopt.empty()) caf::anon_send(registry, adopt_atom::value, std::move(st.to_adopt));
  st.to_adopt.clear();
}

// Hands an execution to this node's workspace registry when this node works its shard (holds
// it and is not handing it off).
bool hand_to_engine(self_ptr self, const cluster_deps& deps, resume_request& req) {
  if (deps.ownership->working_epoch_of(domain::shard_of(req.workspace_id)) == 0) return false;
  auto registry = self->system().registry().get<caf::actor>(k_registry_name);
  if (!registry) return false;
  caf::anon_send(registry, resume_atom::value, std::move(req));
  return true;
}

// Sends an execution of this node's engine to the member the ring names owner of its shard; when
// that member cannot take it (not holding the shard yet, or unreachable), again after a
// heartbeat, for about twice the down time.
void route_resume(self_ptr self, const cluster_deps& deps, resume_request req, std::int32_t attempt) {
  auto& st = self->state;
  int shard = domain::shard_of(req.workspace_id);
  auto owner = std::string(domain::ring(st.table->owners()).owner(shard));
  auto limit = 2 * deps.detector.down_after_ms / std::max<std::int64_t>(1, deps.heartbeat.count()) + 1;
  auto again = [self, deps, limit](resume_request r, std::int32_t n) {
    if (n >= limit) {
      spdlog::debug("cluster: execution {} not handed to an owner; the owner adopts it", r.execution_id);
      return;
    }
    self->delayed_send(self, deps.heartbeat, resume_atom::value, std::move(r), n + 1);
  };
  // This node is the ring's owner but does not hold the shard yet: its epoch, when it begins,
  // adopts every execution committed before (this one included).
  if (owner == st.table->self().name) return;
  auto it = st.peers.find(owner);
  if (it == st.peers.end()) return again(std::move(req), attempt);
  self->request(it->second, std::chrono::seconds(2), resume_atom::value, req)
      .then([=](bool taken) mutable { if (!taken) again(std::move(req), attempt); },
            [=](caf::error&) mutable { again(std::move(req), attempt); });
}

// Forwarded triggers: metrics, the local commit (the fallback), and the batches to an owner.
constexpr double k_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
struct forward_metrics {
  // outcome: owner (committed there), refused (by the owner: not its shard now), unanswered
  // (timeout, connection lost) or unreachable (no connection): the last three committed here.
  metrics::family<metrics::counter>& forwarded = metrics::global().counters(
      "flowtrack_cluster_triggers_forwarded_total", "Triggers of another node's shard: committed by the owner, or here (and why).",
      {"outcome"});
  metrics::family<metrics::histogram>& batch = metrics::global().histograms(
      "flowtrack_cluster_forward_batch_size", "Triggers per batch forwarded to an owner.", {}, k_batch_bounds);
};
forward_metrics& forward_stats() {
  static forward_metrics m;
  return m;
}

// The execution of a trigger committed by this node's writer goes to its shard's owner (this
// node's engine when it works the shard).
void hand_execution(self_ptr self, const cluster_deps& deps, const std::string& workspace_id, const ingest_reply& r) {
  if (!r.ok() || !r->execution_id || r->duplicate || r->settled) return;
  resume_request req{workspace_id, *r->execution_id, std::nullopt};
  if (!hand_to_engine(self, deps, req)) route_resume(self, deps, std::move(req), 0);
}

// Commits a trigger here (its owner could not take it) and hands its execution over; the writer
// answers `unavailable` itself when the database is far behind, so this only bounds a lost answer.
constexpr auto k_local_ingest_timeout = std::chrono::seconds(30);

void ingest_here(self_ptr self, const cluster_deps& deps, domain::trigger_record r, caf::typed_response_promise<ingest_reply> rp) {
  auto writer = self->system().registry().get<caf::actor>(k_writer_name);
  if (!writer) {
    rp.deliver(ingest_reply(make_error(error_code::unavailable, "the storage writer is not running")));
    return;
  }
  auto workspace_id = r.workspace_id;
  self->request(writer, k_local_ingest_timeout, ingest_atom::value, std::move(r))
      .then(
          [=](ingest_reply& reply) mutable {
            hand_execution(self, deps, workspace_id, reply);
            rp.deliver(std::move(reply));
          },
          [=](caf::error& e) mutable {
            rp.deliver(ingest_reply(make_error(error_code::unavailable, "the storage writer did not answer: " + self->system().render(e))));
          });
}

constexpr int k_forward_batches_in_flight = 2;
constexpr std::size_t k_forward_batch_max = 256;

// Sends what waits for `owner` as one batch, while fewer than k_forward_batches_in_flight are
// unanswered (so the batch grows with what arrives meanwhile: group commit across nodes). A
// trigger the owner refuses, or a batch lost, is committed here instead.
void flush_forwards(self_ptr self, const cluster_deps& deps, const std::string& owner) {
  auto& st = self->state;
  auto& box = st.forwards[owner];
  if (box.records.empty() || box.in_flight >= k_forward_batches_in_flight) return;
  auto peer = st.peers.find(owner);
  auto n = std::min(box.records.size(), k_forward_batch_max);
  auto records = std::make_shared<std::vector<domain::trigger_record>>(std::make_move_iterator(box.records.begin()),
                                                                        std::make_move_iterator(box.records.begin() + static_cast<std::ptrdiff_t>(n)));
  auto promises = std::make_shared<std::vector<caf::typed_response_promise<ingest_reply>>>(
      std::make_move_iterator(box.promises.begin()), std::make_move_iterator(box.promises.begin() + static_cast<std::ptrdiff_t>(n)));
  box.records.erase(box.records.begin(), box.records.begin() + static_cast<std::ptrdiff_t>(n));
  box.promises.erase(box.promises.begin(), box.promises.begin() + static_cast<std::ptrdiff_t>(n));
  auto fallback = [=](std::size_t i, const char* why) {
    forward_stats().forwarded.at({why}).add();
    ingest_here(self, deps, std::move((*records)[i]), (*promises)[i]);
  };
  if (peer == st.peers.end()) {
    for (std::size_t i = 0; i < n; ++i) fallback(i, "unreachable");
    return;
  }
  ++box.in_flight;
  forward_stats().batch.at({}).observe(static_cast<double>(n));
  forward_batch batch{k_wire_version, *records};
  self->request(peer->second, deps.forward_timeout, forward_atom::value, std::move(batch))
      .then(
          [=](forward_replies& replies) {
            --self->state.forwards[owner].in_flight;
            for (std::size_t i = 0; i < n; ++i) {
              if (i < replies.outcomes.size() && (replies.outcomes[i].ok() || replies.outcomes[i].err().code != error_code::conflict)) {
                forward_stats().forwarded.at({"owner"}).add();
                (*promises)[i].deliver(std::move(replies.outcomes[i]));
              } else {
                fallback(i, "refused");
              }
            }
            flush_forwards(self, deps, owner);
          },
          [=](caf::error& e) {
            spdlog::warn("cluster: {} trigger(s) forwarded to {} not answered ({}); committing them here", n, owner,
                         self->system().render(e));
            --self->state.forwards[owner].in_flight;
            for (std::size_t i = 0; i < n; ++i) fallback(i, "unanswered");
            flush_forwards(self, deps, owner);
          });
}

void maybe_lease_round(self_ptr self, const cluster_deps& deps) {
  auto& st = self->state;
  if (!st.ready || st.lease_round) return;
  bool ring_moved = st.table->owners() != st.owners;
  if (ring_moved || steady_ms() - st.last_round_ms >= deps.lease.count() / 3) lease_round(self, deps);
}

}  // namespace

std::string lease_holder(const domain::member_info& m) { return m.name + "/" + std::to_string(m.incarnation); }

std::string_view node_of_holder(std::string_view holder) { return holder.substr(0, holder.find('/')); }

void ownership_view::set(std::vector<std::int32_t> shards, std::vector<std::int64_t> epochs, std::vector<std::int32_t> handing) {
  std::lock_guard lock(mutex_);
  shards_ = std::move(shards);
  epochs_ = std::move(epochs);
  handing_ = std::move(handing);
}

std::int64_t ownership_view::working_epoch_of(int shard) const {
  std::lock_guard lock(mutex_);
  return std::binary_search(handing_.begin(), handing_.end(), shard) ? 0 : epoch_locked(shard);
}

std::vector<int> ownership_view::working_shards() const {
  std::lock_guard lock(mutex_);
  std::vector<int> out;
  out.reserve(shards_.size());
  for (auto s : shards_)
    if (!std::binary_search(handing_.begin(), handing_.end(), s)) out.push_back(s);
  return out;
}

std::int64_t ownership_view::epoch_of(int shard) const {
  std::lock_guard lock(mutex_);
  return epoch_locked(shard);
}

std::int64_t ownership_view::epoch_locked(int shard) const {
  auto it = std::lower_bound(shards_.begin(), shards_.end(), shard);
  return it != shards_.end() && *it == shard ? epochs_[static_cast<std::size_t>(it - shards_.begin())] : 0;
}

std::size_t ownership_view::held() const {
  std::lock_guard lock(mutex_);
  return shards_.size();
}

void add_cluster_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<domain::member_info>("ft_member_info");
  cfg.add_message_type<member_list>("ft_member_list");
  cfg.add_message_type<cluster_status>("ft_cluster_status");
  cfg.add_message_type<shard_owner>("ft_shard_owner");
  cfg.add_message_type<lease_update>("ft_lease_update");
  cfg.add_message_type<member_actor>("ft_member_actor");
}

member_actor spawn_member(caf::actor_system& system, cluster_deps deps) {
  register_gauges_once();
  auto member = system.spawn([deps](self_ptr self) -> member_actor::behavior_type {
    auto& st = self->state;
    st.table = std::make_unique<domain::membership>(deps.self, deps.detector);
    st.started_ms = steady_ms();
    st.seeds_waiting = {deps.join.begin(), deps.join.end()};
    st.ready = deps.join.empty();
    for (const auto& address : deps.join) dial(self, deps, address);
    self->set_down_handler([self](caf::down_msg& msg) {
      for (auto it = self->state.peers.begin(); it != self->state.peers.end(); ++it)
        if (caf::actor_cast<caf::actor_addr>(it->second) == msg.source) {
          spdlog::info("cluster: the connection to {} ended", it->first);
          self->state.peers.erase(it);
          break;
        }
    });
    self->send(self, judge_atom::value);
    return {
        [=](hello_atom, const domain::member_info& from) -> member_list {
          auto& table = *self->state.table;
          if (!domain::speaks_with(from, table.self())) {
            spdlog::error("cluster: refused member {} ({}): it reads wire versions {}-{}, this node {}-{}", from.name,
                          from.address, from.wire_min, from.wire_max, table.self().wire_min, table.self().wire_max);
            return {};
          }
          if (table.heard(from, steady_ms()))
            spdlog::info("cluster: member {} ({}) joined through this node", from.name, from.address);
          adopt_peer(self, from.name, caf::actor_cast<member_actor>(self->current_sender()));
          maybe_lease_round(self, deps);
          return known(self);
        },
        [=](heartbeat_atom, const domain::member_info& from, const member_list& list) {
          auto& table = *self->state.table;
          if (table.heard(from, steady_ms())) spdlog::info("cluster: member {} ({}) is up", from.name, from.address);
          if (!self->state.peers.count(from.name))
            adopt_peer(self, from.name, caf::actor_cast<member_actor>(self->current_sender()));
          take_known(self, deps, list);
          maybe_lease_round(self, deps);
        },
        [=](status_atom) -> cluster_status {
          cluster_status out;
          for (const auto& m : self->state.table->members()) {
            bool me = m.info.name == self->state.table->self().name;
            out.members.push_back({m.info.name, m.info.address, std::string(domain::to_string(m.state)),
                                   me ? static_cast<std::int32_t>(self->state.held.size())
                                   : m.state == domain::member_state::down ? 0  // its leases lapse
                                                                           : m.info.shards,
                                   me ? load_average() : m.info.load});
          }
          return out;
        },
        [=](owner_atom, const std::string& workspace) -> caf::typed_response_promise<shard_owner> {
          auto rp = self->make_response_promise<shard_owner>();
          auto owners = self->state.table->owners();
          deps.postgres->try_submit(
              [workspace, owners](pg::connection& c) -> result<shard_owner> {
                auto ws = storage::find_workspace(c, workspace);
                if (!ws) return ws.err();
                auto rows = leases::leases(c);
                if (!rows) return rows.err();
                shard_owner out;
                out.workspace = workspace;
                out.shard = domain::shard_of(ws->id);
                for (const auto& l : *rows)
                  if (l.shard == out.shard) {
                    out.epoch = l.epoch;
                    if (!l.expired && l.owner) out.owner = std::string(node_of_holder(*l.owner));
                  }
                if (out.owner.empty()) out.owner = std::string(domain::ring(owners).owner(out.shard));
                return out;
              },
              [rp](result<shard_owner> r) mutable {
                if (r) rp.deliver(std::move(*r));
                else rp.deliver(caf::make_error(caf::sec::runtime_error, r.err().message));
              });
          return rp;
        },
        [=](drain_atom, const std::string& node) -> bool {
          auto& table = *self->state.table;
          if (node == table.self().name) {
            if (!table.self().leaving) spdlog::info("cluster: draining this node: its shards go to the others");
            table.set_leaving(node);
            maybe_lease_round(self, deps);
            return true;
          }
          if (!table.find(node)) return false;
          table.set_leaving(node);
          if (auto it = self->state.peers.find(node); it != self->state.peers.end())
            caf::anon_send(it->second, drain_atom::value, node);  // its answer is not needed
          maybe_lease_round(self, deps);
          return true;
        },
        [=](peer_atom, const std::string& address, const caf::strong_actor_ptr& ptr) {
          self->state.dialing.erase(address);
          auto handle = caf::actor_cast<member_actor>(ptr);
          if (!handle) return;
          self->request(handle, std::chrono::seconds(5), hello_atom::value, self_info(self))
              .then(
                  [=](const member_list& list) {
                    if (list.empty() || !domain::speaks_with(list.front(), self->state.table->self())) {
                      spdlog::error("cluster: {} did not take this node as a member (no wire version in common?)", address);
                      return;
                    }
                    auto& table = *self->state.table;
                    if (table.heard(list.front(), steady_ms()))
                      spdlog::info("cluster: joined member {} at {}", list.front().name, address);
                    adopt_peer(self, list.front().name, handle);
                    take_known(self, deps, list);
                    self->state.seeds_waiting.erase(address);
                    if (!self->state.ready) {
                      self->state.ready = true;
                      spdlog::info("cluster: joined the cluster through {}", address);
                    }
                    maybe_lease_round(self, deps);
                  },
                  [=](caf::error& e) { spdlog::warn("cluster: {} did not answer hello: {}", address, self->system().render(e)); });
        },
        [=](judge_atom) {
          auto& st = self->state;
          auto now = steady_ms();
          for (const auto& name : st.table->judge(now))
            if (const auto* m = st.table->find(name))
              spdlog::log(m->state == domain::member_state::up ? spdlog::level::info : spdlog::level::warn,
                          "cluster: member {} is {}", name, domain::to_string(m->state));
          auto beat = self_info(self);
          auto list = known(self);
          for (const auto& [name, handle] : st.peers)
            if (const auto* m = st.table->find(name); m && m->state != domain::member_state::down)
              self->send(handle, heartbeat_atom::value, beat, list);
          for (const auto& address : st.seeds_waiting) dial(self, deps, address);
          // Alone again (the peers dropped this node, say after it was paused): back through the seeds.
          if (st.peers.empty())
            for (const auto& address : deps.join) dial(self, deps, address, deps.detector.down_after_ms);
          // The lower name dials; a member that is down is tried now and then, in case it is back.
          for (const auto& m : st.table->members())
            if (m.info.name != beat.name && !st.peers.count(m.info.name) && beat.name < m.info.name)
              dial(self, deps, m.info.address, m.state == domain::member_state::down ? deps.detector.down_after_ms : 1000);
          if (!st.ready && now - st.started_ms >= deps.detector.down_after_ms) {
            st.ready = true;
            spdlog::warn("cluster: no member to join answered within {} ms; going on with the members known", deps.detector.down_after_ms);
          }
          publish_gauges(*st.table, st.held.size());
          maybe_lease_round(self, deps);
          adopt(self);
          self->delayed_send(self, deps.heartbeat, judge_atom::value);
        },
        [=](leases_atom, lease_update& u) {
          auto& st = self->state;
          st.lease_round = false;
          if (!u.failure.empty()) {
            spdlog::warn("cluster: shard leases not renewed: {}", u.failure);
            return;
          }
          if (!u.lost.empty()) spdlog::warn("cluster: lost {} shard lease(s) (expired or taken over)", u.lost.size());
          if (u.shards.size() != st.held.size())
            spdlog::info("cluster: this node holds {} shard(s) (was {})", u.shards.size(), st.held.size());
          st.held = std::move(u.shards);
          st.epochs = std::move(u.epochs);
          auto not_held = [&](std::int32_t s) { return !std::binary_search(st.held.begin(), st.held.end(), s); };
          std::erase_if(st.handing, not_held);
          std::erase_if(st.handed, not_held);
          publish_ownership(self, deps);
          publish_gauges(*st.table, st.held.size());
          if (!u.began.empty()) {
            spdlog::info("cluster: began {} shard lease(s); adopting their executions", u.began.size());
            st.to_adopt.insert(st.to_adopt.end(), u.began.begin(), u.began.end());
            adopt(self);
          }
          // The ring may have moved while the round ran.
          if (st.table->owners() != st.owners) lease_round(self, deps);
        },
        [=](handed_atom, std::vector<std::int32_t>& shards) {
          auto& st = self->state;
          for (auto s : shards)
            if (st.handing.erase(s) > 0) st.handed.insert(s);
          st.last_round_ms = 0;  // released in the next round, now or after the one under way
          maybe_lease_round(self, deps);
        },
        [=](forward_atom, domain::trigger_record& r) -> caf::typed_response_promise<ingest_reply> {
          auto& st = self->state;
          auto rp = self->make_response_promise<ingest_reply>();
          if (!r.idempotency_key) r.idempotency_key = "fwd:" + r.execution_id;  // the fallback's commit finds the owner's
          auto owner = std::string(domain::ring(st.table->owners()).owner(domain::shard_of(r.workspace_id)));
          if (owner.empty() || owner == st.table->self().name || !st.peers.count(owner)) {
            forward_stats().forwarded.at({"unreachable"}).add();
            ingest_here(self, deps, std::move(r), rp);
            return rp;
          }
          auto& box = st.forwards[owner];
          box.records.push_back(std::move(r));
          box.promises.push_back(rp);
          flush_forwards(self, deps, owner);
          return rp;
        },
        [=](forward_atom, forward_batch& batch) -> caf::typed_response_promise<forward_replies> {
          auto rp = self->make_response_promise<forward_replies>();
          auto n = batch.triggers.size();
          auto out = std::make_shared<forward_replies>();
          out->outcomes.reserve(n);
          for (std::size_t i = 0; i < n; ++i) out->outcomes.emplace_back(make_error(error_code::conflict, "not answered"));
          auto left = std::make_shared<std::size_t>(n + 1);
          auto one_done = [=]() mutable {
            if (--*left == 0) rp.deliver(std::move(*out));
          };
          auto writer = self->system().registry().get<caf::actor>(k_writer_name);
          for (std::size_t i = 0; i < n; ++i) {
            auto& t = batch.triggers[i];
            if (!writer || !deps.ownership->working_epoch_of(domain::shard_of(t.workspace_id))) {
              out->outcomes[i] = make_error(error_code::conflict, "this node does not work the workspace's shard");
              one_done();
              continue;
            }
            auto workspace_id = t.workspace_id;
            self->request(writer, deps.forward_timeout, ingest_atom::value, std::move(t))
                .then(
                    [=](ingest_reply& r) mutable {
                      hand_execution(self, deps, workspace_id, r);
                      out->outcomes[i] = std::move(r);
                      one_done();
                    },
                    [=](caf::error& e) mutable {
                      out->outcomes[i] = make_error(error_code::conflict, "the writer did not answer: " + self->system().render(e));
                      one_done();
                    });
          }
          one_done();
          return rp;
        },
        [=](resume_atom, resume_request& req) -> bool {
          if (hand_to_engine(self, deps, req)) return true;
          const auto& sender = self->current_sender();
          if (sender && sender->node() != self->node()) return false;  // a peer's, for a shard not held here (any more)
          route_resume(self, deps, std::move(req), 0);
          return true;
        },
        [=](resume_atom, resume_request& req, std::int32_t attempt) {
          if (!hand_to_engine(self, deps, req)) route_resume(self, deps, std::move(req), attempt);
        },
    };
  });
  system.registry().put(k_member_name, caf::actor_cast<caf::strong_actor_ptr>(member));
  return member;
}

}  // namespace flowtrack::actors
