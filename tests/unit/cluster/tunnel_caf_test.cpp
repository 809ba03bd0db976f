// CAF 0.17 nodes over the cluster tunnel: node A publishes an actor on loopback behind a
// tunnel_server, node B reaches it through a tunnel_dialer, node C with another secret cannot.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <gtest/gtest.h>

#include "adapters/cluster/tunnel.hpp"
#include "tests/unit/cluster/tunnel_peers.hpp"

namespace flowtrack::cluster {

// Message types that cross nodes: serialised by CAF, so the tunnel carries real BASP payloads.
struct ft_ping {
  std::int32_t n = 0;
  std::string note;
};
struct ft_pong {
  std::int32_t n = 0;
  std::string note;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ft_ping& x) {
  return f(caf::meta::type_name("ft_ping"), x.n, x.note);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ft_pong& x) {
  return f(caf::meta::type_name("ft_pong"), x.n, x.note);
}

namespace {

constexpr std::string_view k_secret = "correct horse battery staple 42";
constexpr std::string_view k_other_secret = "another cluster's secret, 0123";

class node_config : public caf::actor_system_config {
 public:
  node_config() {
    load<caf::io::middleman>();
    add_message_type<ft_ping>("ft_ping");
    add_message_type<ft_pong>("ft_pong");
    set("scheduler.max-threads", std::size_t{2});
    set("logger.verbosity", caf::atom("quiet"));
  }
};

// Answers ft_ping{n} with ft_pong{n + step}. (An argument-less function actor trips UBSan in
// CAF 0.17's init_fun_factory: it dereferences an empty argument tuple.)
caf::behavior answerer(caf::event_based_actor*, std::int32_t step) {
  return {[step](const ft_ping& p) { return ft_pong{p.n + step, "pong: " + p.note}; }};
}

struct refusals {
  std::mutex mutex;
  std::vector<refusal> seen;
  tunnel_options options() {
    tunnel_options o;
    o.on_refused = [this](const refusal& r) {
      std::lock_guard lock(mutex);
      seen.push_back(r);
    };
    return o;
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return seen.size();
  }
  std::optional<refusal> first() {
    std::lock_guard lock(mutex);
    if (seen.empty()) return std::nullopt;
    return seen.front();
  }
};

TEST(cluster_tunnel_caf, a_node_with_the_secret_gets_the_remote_actor_and_one_without_does_not) {
  node_config cfg_a, cfg_b, cfg_c;
  caf::actor_system node_a{cfg_a}, node_b{cfg_b}, node_c{cfg_c};

  auto actor = node_a.spawn(answerer, 1);
  // An actor lives until it exits, and node A's destructor waits for it: also when an ASSERT returns.
  struct exit_at_end {
    caf::actor who;
    ~exit_at_end() { caf::anon_send_exit(who, caf::exit_reason::user_shutdown); }
  } exit_guard{actor};
  auto basp = node_a.middleman().publish(actor, 0, "127.0.0.1");
  ASSERT_TRUE(basp) << node_a.render(basp.error());

  refusals at_server, at_b, at_c;
  auto server = tunnel_server::start(k_secret, {"127.0.0.1", 0}, *basp, at_server.options());
  ASSERT_TRUE(server.ok()) << server.err().message;
  auto dialer_b = tunnel_dialer::start(k_secret, {"127.0.0.1", (*server)->port()}, at_b.options());
  ASSERT_TRUE(dialer_b.ok()) << dialer_b.err().message;
  auto dialer_c = tunnel_dialer::start(k_other_secret, {"127.0.0.1", (*server)->port()}, at_c.options());
  ASSERT_TRUE(dialer_c.ok()) << dialer_c.err().message;

  // The secret checked before CAF connects.
  EXPECT_EQ(probe(k_secret, {"127.0.0.1", (*server)->port()}, std::chrono::seconds(5)).outcome, probe_result::status::ok);
  EXPECT_EQ(probe(k_other_secret, {"127.0.0.1", (*server)->port()}, std::chrono::seconds(5)).outcome,
            probe_result::status::refused);

  {
    auto remote = node_b.middleman().remote_actor("127.0.0.1", (*dialer_b)->local_port());
    ASSERT_TRUE(remote) << node_b.render(remote.error());
    caf::scoped_actor self{node_b};
    std::optional<ft_pong> got;
    self->request(*remote, std::chrono::seconds(10), ft_ping{41, "through the tunnel"})
        .receive([&](const ft_pong& p) { got = p; }, [&](caf::error& e) { ADD_FAILURE() << node_b.render(e); });
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->n, 42);
    EXPECT_EQ(got->note, "pong: through the tunnel");
  }
  EXPECT_EQ((*dialer_b)->stats().established, 1u);
  EXPECT_EQ((*dialer_b)->stats().refused, 0u);

  auto refused = node_c.middleman().remote_actor("127.0.0.1", (*dialer_c)->local_port());
  EXPECT_FALSE(refused) << "node C got the actor without the secret";
  ASSERT_TRUE(test::eventually([&] { return at_c.first().has_value(); }));
  EXPECT_EQ(at_c.first()->kind, failure::wrong_secret) << at_c.first()->reason;
  ASSERT_TRUE(test::eventually([&] { return at_server.count() >= 2; }));  // the probe's and node C's
  EXPECT_EQ(at_server.first()->kind, failure::wrong_secret);
  EXPECT_EQ((*dialer_c)->stats().established, 0u);

  // Node B's link still works after node C's attempt.
  auto again = node_b.middleman().remote_actor("127.0.0.1", (*dialer_b)->local_port());
  ASSERT_TRUE(again) << node_b.render(again.error());
  caf::scoped_actor self{node_b};
  std::optional<std::int32_t> n;
  self->request(*again, std::chrono::seconds(10), ft_ping{1, "again"})
      .receive([&](const ft_pong& p) { n = p.n; }, [&](caf::error& e) { ADD_FAILURE() << node_b.render(e); });
  EXPECT_EQ(n, 2);

  (*dialer_c)->stop();
  (*dialer_b)->stop();
  (*server)->stop();
}

TEST(cluster_tunnel_caf, a_remote_that_never_answers_does_not_stall_another_connect) {
  // CAF 0.17's middleman connects inside its actor: an unreachable host stalls every connect.
  // Through a dialer CAF's connect is local and instant; the remote is dialed off its path.
  node_config cfg_a, cfg_b;
  caf::actor_system node_a{cfg_a}, node_b{cfg_b};
  auto actor = node_a.spawn(answerer, 1);
  struct exit_at_end {
    caf::actor who;
    ~exit_at_end() { caf::anon_send_exit(who, caf::exit_reason::user_shutdown); }
  } exit_guard{actor};
  auto basp = node_a.middleman().publish(actor, 0, "127.0.0.1");
  ASSERT_TRUE(basp) << node_a.render(basp.error());
  auto server = tunnel_server::start(k_secret, {"127.0.0.1", 0}, *basp);
  ASSERT_TRUE(server.ok()) << server.err().message;
  auto good = tunnel_dialer::start(k_secret, {"127.0.0.1", (*server)->port()});
  ASSERT_TRUE(good.ok());

  test::silent_listener hung;  // takes the TCP connection, never answers the handshake
  tunnel_options slow;
  slow.handshake_timeout = std::chrono::minutes(5);
  auto stuck = tunnel_dialer::start(k_secret, {"127.0.0.1", hung.port()}, slow);
  ASSERT_TRUE(stuck.ok());
  std::atomic<bool> stuck_done{false};
  std::thread stuck_connect([&] {
    auto r = node_b.middleman().remote_actor("127.0.0.1", (*stuck)->local_port());
    EXPECT_FALSE(r);
    stuck_done = true;
  });
  ASSERT_TRUE(test::eventually([&] { return (*stuck)->stats().open == 1; }));  // CAF's connection is in the dialer

  auto remote = node_b.middleman().remote_actor("127.0.0.1", (*good)->local_port());
  ASSERT_TRUE(remote) << node_b.render(remote.error());
  caf::scoped_actor self{node_b};
  std::optional<std::int32_t> n;
  self->request(*remote, std::chrono::seconds(10), ft_ping{7, "while another connect hangs"})
      .receive([&](const ft_pong& p) { n = p.n; }, [&](caf::error& e) { ADD_FAILURE() << node_b.render(e); });
  EXPECT_EQ(n, 8);
  EXPECT_FALSE(stuck_done.load());  // it can only end when its dialer closes, below

  (*stuck)->stop();  // CAF's pending connect now fails
  stuck_connect.join();
  EXPECT_TRUE(stuck_done.load());
}

}  // namespace
}  // namespace flowtrack::cluster
