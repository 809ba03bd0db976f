// The cluster tunnel over real sockets on loopback: a dialer and a server in front of an echo
// target, with the right secret, a wrong one, a plain TCP client and a silent peer.
#include "adapters/cluster/tunnel.hpp"

#include <mutex>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <gtest/gtest.h>

#include "metrics/metrics.hpp"

#include "tests/unit/cluster/tunnel_peers.hpp"

namespace flowtrack::cluster {
namespace {

using namespace flowtrack::test;

constexpr std::string_view k_secret = "correct horse battery staple 42";
constexpr std::string_view k_other_secret = "another cluster's secret, 0123";

// The refusals a server or dialer reported, for assertions from the test thread.
struct refusals {
  std::mutex mutex;
  std::vector<refusal> seen;
  refusal_handler handler() {
    return [this](const refusal& r) {
      std::lock_guard lock(mutex);
      seen.push_back(r);
    };
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return seen.size();
  }
  refusal at(std::size_t i) {
    std::lock_guard lock(mutex);
    return seen.at(i);
  }
};

tunnel_options with(refusals& r, std::chrono::milliseconds handshake_timeout = 5s) {
  tunnel_options o;
  o.on_refused = r.handler();
  o.handshake_timeout = handshake_timeout;
  o.connect_timeout = 5s;
  return o;
}

std::unique_ptr<tunnel_server> start_server(std::string_view secret, std::uint16_t target, tunnel_options o = {}) {
  auto s = tunnel_server::start(secret, {"127.0.0.1", 0}, target, std::move(o));
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<tunnel_dialer> start_dialer(std::string_view secret, std::uint16_t remote, tunnel_options o = {}) {
  auto d = tunnel_dialer::start(secret, {"127.0.0.1", remote}, std::move(o));
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.err().message);
  return d.ok() ? std::move(*d) : nullptr;
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

TEST(cluster_secret, refuses_a_secret_shorter_than_16_characters_naming_the_variable) {
  auto short_one = validate_secret("fifteen chars..");
  ASSERT_FALSE(short_one.ok());
  EXPECT_EQ(short_one.err().code, error_code::invalid);
  EXPECT_EQ(short_one.err().subject, "FLOWTRACK_CLUSTER_SECRET");
  EXPECT_NE(short_one.err().message.find("at least 16"), std::string::npos) << short_one.err().message;
  EXPECT_TRUE(validate_secret("sixteen chars...").ok());

  auto refused = tunnel_server::start("too short", {"127.0.0.1", 0}, 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.err().subject, "FLOWTRACK_CLUSTER_SECRET");
  EXPECT_FALSE(tunnel_dialer::start("too short", {"127.0.0.1", 1}).ok());
}

TEST(cluster_secret, derives_the_same_32_byte_key_from_the_same_secret_and_another_from_another) {
  EXPECT_EQ(derive_psk(k_secret), derive_psk(k_secret));
  EXPECT_NE(derive_psk(k_secret), derive_psk(k_other_secret));
  EXPECT_NE(derive_psk(k_secret), psk{});
}

TEST(cluster_secret, derives_hkdf_sha256_with_the_fixed_salt_and_identity_so_every_version_agrees) {
  // HMAC-based HKDF (RFC 5869) of k_secret, salt "flowtrack cluster psk v1", info
  // "flowtrack-cluster-1", computed apart with Python's hmac module.
  constexpr std::string_view expected = "55d05a677f74a4c90e4e03188fa410479684b501d8354780d4aaae39c73f3270";
  std::string hex;
  for (unsigned char b : derive_psk(k_secret)) {
    constexpr char digits[] = "0123456789abcdef";
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  EXPECT_EQ(hex, expected);
}

TEST(cluster_tunnel, server_closes_an_authenticated_peer_when_its_target_is_down) {
  refusals at_server, at_dialer;
  auto server = start_server(k_secret, closed_port(), with(at_server));
  auto dialer = start_dialer(k_secret, server->port(), with(at_dialer));
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  EXPECT_EQ(c.read_to_end(10s, true).value_or("<error>"), "");
  ASSERT_TRUE(eventually([&] { return at_server.size() == 1; }));
  EXPECT_EQ(at_server.at(0).kind, failure::unreachable) << at_server.at(0).reason;
  EXPECT_NE(at_server.at(0).reason.find("local target"), std::string::npos) << at_server.at(0).reason;
  EXPECT_TRUE(eventually([&] { return dialer->stats().open == 0; }));
}

TEST(cluster_tunnel, echoes_bytes_through_dialer_and_server_to_the_target) {
  echo_target target;
  auto server = start_server(k_secret, target.port());
  auto dialer = start_dialer(k_secret, server->port());
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  ASSERT_TRUE(c.write("hello, node"));
  EXPECT_EQ(c.read(11), "hello, node");
  ASSERT_TRUE(c.write("again"));
  EXPECT_EQ(c.read(5), "again");
  EXPECT_EQ(target.accepted(), 1);
  EXPECT_EQ(server->stats().established, 1u);
  EXPECT_EQ(dialer->stats().established, 1u);
  EXPECT_EQ(server->stats().refused, 0u);
}

TEST(cluster_tunnel, carries_8_mib_each_way_and_the_half_close_both_ways) {
  echo_target target;
  auto server = start_server(k_secret, target.port());
  auto dialer = start_dialer(k_secret, server->port());
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  auto data = pattern(8 << 20, 7);
  // The target answers "<eof>" only after our FIN reached it through the tunnel, then closes
  // its side: reading to the end proves both half-closes crossed.
  auto back = c.exchange(data);
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), data.size() + 5);
  EXPECT_TRUE(back->compare(0, data.size(), data) == 0);
  EXPECT_EQ(back->substr(data.size()), "<eof>");
  EXPECT_TRUE(eventually([&] { return server->stats().open == 0 && dialer->stats().open == 0; }));
}

TEST(cluster_tunnel, keeps_carrying_the_target_s_answer_after_the_client_half_closed) {
  echo_target target;
  auto server = start_server(k_secret, target.port());
  auto dialer = start_dialer(k_secret, server->port());
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  ASSERT_TRUE(c.write("last words"));
  c.shutdown_send();
  EXPECT_EQ(c.read_to_end(), "last words<eof>");
}

TEST(cluster_tunnel, refuses_a_wrong_secret_on_both_sides_and_the_target_sees_nothing) {
  echo_target target;
  refusals at_server, at_dialer;
  auto server = start_server(k_secret, target.port(), with(at_server));
  auto dialer = start_dialer(k_other_secret, server->port(), with(at_dialer));
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  c.write("let me in");  // may fail once the dialer closed
  auto got = c.read_to_end(10s, true);
  EXPECT_EQ(got.value_or("<error>"), "");  // closed by the dialer, nothing echoed

  ASSERT_TRUE(eventually([&] { return at_server.size() == 1 && at_dialer.size() == 1; }));
  EXPECT_EQ(at_server.at(0).kind, failure::wrong_secret);
  EXPECT_NE(at_server.at(0).reason.find("wrong cluster secret?"), std::string::npos) << at_server.at(0).reason;
  EXPECT_NE(at_server.at(0).peer.find("127.0.0.1:"), std::string::npos);
  EXPECT_EQ(at_dialer.at(0).kind, failure::wrong_secret);
  EXPECT_NE(at_dialer.at(0).reason.find("wrong cluster secret?"), std::string::npos) << at_dialer.at(0).reason;
  EXPECT_EQ(at_dialer.at(0).peer, "127.0.0.1:" + std::to_string(server->port()));
  EXPECT_EQ(server->stats().refused, 1u);
  EXPECT_EQ(dialer->stats().refused, 1u);
  EXPECT_EQ(server->stats().established, 0u);
  EXPECT_EQ(target.accepted(), 0);
}

TEST(cluster_tunnel, counts_refusals_in_the_metrics_by_side_and_reason) {
  echo_target target;
  auto server = start_server(k_secret, target.port());
  auto dialer = start_dialer(k_other_secret, server->port());
  auto& refused = metrics::global().counters("flowtrack_cluster_tunnel_refused_total", "", {"side", "reason"});
  auto before_server = refused.at({"server", "wrong_secret"}).value();
  auto before_dialer = refused.at({"dialer", "wrong_secret"}).value();
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  EXPECT_TRUE(c.read_to_end(10s, true).has_value());
  ASSERT_TRUE(eventually([&] { return server->stats().refused == 1 && dialer->stats().refused == 1; }));
  EXPECT_EQ(refused.at({"server", "wrong_secret"}).value(), before_server + 1);
  EXPECT_EQ(refused.at({"dialer", "wrong_secret"}).value(), before_dialer + 1);
  EXPECT_NE(metrics::global().render().find("flowtrack_cluster_tunnels_open"), std::string::npos);
}

TEST(cluster_tunnel, refuses_a_tls_client_without_the_cluster_psk_as_there_is_no_certificate_to_fall_back_on) {
  echo_target target;
  refusals at_server;
  auto server = start_server(k_secret, target.port(), with(at_server));
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);  // it would take any certificate: there is none
  asio::ssl::stream<tcp::socket> tls(io, ctx);
  std::optional<boost::system::error_code> result;
  tls.next_layer().async_connect({asio::ip::address_v4::loopback(), server->port()}, [&](boost::system::error_code ec) {
    if (ec) return void(result = ec);
    tls.async_handshake(asio::ssl::stream_base::client, [&](boost::system::error_code ec) { result = ec; });
  });
  io.run_for(10s);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(*result) << "a TLS client without the PSK completed a handshake";
  ASSERT_TRUE(eventually([&] { return at_server.size() == 1; }));
  EXPECT_EQ(at_server.at(0).kind, failure::not_a_peer) << at_server.at(0).reason;
  EXPECT_EQ(target.accepted(), 0);
}

TEST(cluster_tunnel, closes_connections_beyond_max_handshakes_at_once) {
  echo_target target;
  refusals at_server;
  auto o = with(at_server, 60s);
  o.max_handshakes = 2;
  auto server = start_server(k_secret, target.port(), std::move(o));
  client a, b, c;
  ASSERT_TRUE(a.connect(server->port()) && b.connect(server->port()));
  ASSERT_TRUE(eventually([&] { return server->stats().open == 2; }));
  ASSERT_TRUE(c.connect(server->port()));
  EXPECT_TRUE(c.read_to_end(10s, true).has_value());  // closed although a and b wait for 60 s
  ASSERT_TRUE(eventually([&] { return at_server.size() == 1; }));
  EXPECT_NE(at_server.at(0).reason.find("too many handshakes"), std::string::npos) << at_server.at(0).reason;
  EXPECT_EQ(server->stats().open, 2u);
}

TEST(cluster_tunnel, gives_a_plain_tcp_client_nothing_and_never_reaches_the_target) {
  echo_target target;
  refusals at_server;
  auto server = start_server(k_secret, target.port(), with(at_server));
  client c;
  ASSERT_TRUE(c.connect(server->port()));
  c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto got = c.read_to_end(10s, true);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->find("GET"), std::string::npos);  // nothing echoed (at most a TLS alert)
  ASSERT_TRUE(eventually([&] { return at_server.size() == 1; }));
  EXPECT_EQ(at_server.at(0).kind, failure::not_a_peer) << at_server.at(0).reason;
  EXPECT_EQ(target.accepted(), 0);
}

TEST(cluster_tunnel, closes_a_silent_peer_after_the_handshake_timeout) {
  echo_target target;
  refusals at_server;
  auto server = start_server(k_secret, target.port(), with(at_server, 300ms));
  client c;
  ASSERT_TRUE(c.connect(server->port()));
  auto got = c.read_to_end(10s, true);  // the server hangs up on us
  EXPECT_EQ(got.value_or("<error>"), "");
  ASSERT_TRUE(eventually([&] { return at_server.size() == 1; }));
  EXPECT_EQ(at_server.at(0).kind, failure::timeout);
  EXPECT_NE(at_server.at(0).reason.find("300 ms"), std::string::npos) << at_server.at(0).reason;
  EXPECT_TRUE(eventually([&] { return server->stats().open == 0; }));
  EXPECT_EQ(target.accepted(), 0);
}

TEST(cluster_tunnel, dialer_gives_up_on_a_remote_that_never_answers_the_handshake) {
  silent_listener remote;
  refusals at_dialer;
  auto dialer = start_dialer(k_secret, remote.port(), with(at_dialer, 300ms));
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  auto got = c.read_to_end(10s, true);
  EXPECT_EQ(got.value_or("<error>"), "");
  ASSERT_TRUE(eventually([&] { return at_dialer.size() == 1; }));
  EXPECT_EQ(at_dialer.at(0).kind, failure::timeout);
}

TEST(cluster_tunnel, dialer_reports_an_unreachable_remote) {
  refusals at_dialer;
  auto dialer = start_dialer(k_secret, closed_port(), with(at_dialer));
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  EXPECT_EQ(c.read_to_end(10s, true).value_or("<error>"), "");
  ASSERT_TRUE(eventually([&] { return at_dialer.size() == 1; }));
  EXPECT_EQ(at_dialer.at(0).kind, failure::unreachable) << at_dialer.at(0).reason;
}

TEST(cluster_tunnel, fifty_concurrent_tunnels_survive_one_of_them_being_killed) {
  echo_target target;
  auto server = start_server(k_secret, target.port());
  auto dialer = start_dialer(k_secret, server->port());
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 50; ++i) {
    clients.push_back(std::make_unique<client>());
    ASSERT_TRUE(clients.back()->connect(dialer->local_port()));
  }
  for (int i = 0; i < 50; ++i) {
    auto msg = "ping " + std::to_string(i);
    ASSERT_TRUE(clients[i]->write(msg));
    ASSERT_EQ(clients[i]->read(msg.size()), msg);
  }
  ASSERT_TRUE(eventually([&] { return server->stats().open == 50 && target.accepted() == 50; }));
  clients[17]->kill();
  ASSERT_TRUE(eventually([&] { return server->stats().open == 49 && dialer->stats().open == 49; }));
  for (int i = 0; i < 50; ++i) {
    if (i == 17) continue;
    auto msg = pattern(100 * 1024, i);
    ASSERT_TRUE(clients[i]->write(msg)) << i;
    ASSERT_EQ(clients[i]->read(msg.size()), msg) << i;
  }
  EXPECT_EQ(server->stats().refused, 0u);
}

TEST(cluster_tunnel, stopping_one_dialer_leaves_another_dialer_s_tunnels_to_the_same_server_working) {
  // The caf_openssl bug this tunnel replaces: one TLS peer leaving dropped another peer's link.
  echo_target target;
  auto server = start_server(k_secret, target.port());
  auto leaving = start_dialer(k_secret, server->port());
  auto staying = start_dialer(k_secret, server->port());
  std::vector<std::unique_ptr<client>> left, stayed;
  for (int i = 0; i < 10; ++i) {
    left.push_back(std::make_unique<client>());
    stayed.push_back(std::make_unique<client>());
    ASSERT_TRUE(left.back()->connect(leaving->local_port()));
    ASSERT_TRUE(stayed.back()->connect(staying->local_port()));
    ASSERT_TRUE(left.back()->write("x") && left.back()->read(1) == "x");
    ASSERT_TRUE(stayed.back()->write("y") && stayed.back()->read(1) == "y");
  }
  leaving->stop();
  for (auto& c : left) EXPECT_TRUE(c->read_to_end(10s, true).has_value());  // closed
  ASSERT_TRUE(eventually([&] { return server->stats().open == 10; }));
  for (auto& c : stayed) {
    ASSERT_TRUE(c->write("still here"));
    EXPECT_EQ(c->read(10), "still here");
  }
}

TEST(cluster_tunnel, stop_closes_every_connection_and_returns) {
  echo_target target;
  auto server = start_server(k_secret, target.port());
  auto dialer = start_dialer(k_secret, server->port());
  client c;
  ASSERT_TRUE(c.connect(dialer->local_port()));
  ASSERT_TRUE(c.write("a") && c.read(1) == "a");
  server->stop();
  EXPECT_TRUE(c.read_to_end(10s, true).has_value());  // the tunnel went down
  server->stop();                                      // idempotent
  EXPECT_EQ(server->stats().open, 0u);
}

TEST(cluster_probe, tells_ok_refused_unreachable_and_timeout_apart) {
  echo_target target;
  auto server = start_server(k_secret, target.port());
  auto ok = probe(k_secret, {"127.0.0.1", server->port()}, 5s);
  EXPECT_EQ(ok.outcome, probe_result::status::ok) << ok.reason;

  auto wrong = probe(k_other_secret, {"127.0.0.1", server->port()}, 5s);
  EXPECT_EQ(wrong.outcome, probe_result::status::refused);
  EXPECT_NE(wrong.reason.find("wrong cluster secret?"), std::string::npos) << wrong.reason;

  auto not_tls = probe(k_secret, {"127.0.0.1", target.port()}, 5s);  // the echo target is no tunnel
  EXPECT_EQ(not_tls.outcome, probe_result::status::refused) << not_tls.reason;

  auto nobody = probe(k_secret, {"127.0.0.1", closed_port()}, 5s);
  EXPECT_EQ(nobody.outcome, probe_result::status::unreachable) << nobody.reason;

  silent_listener silent;
  auto slow = probe(k_secret, {"127.0.0.1", silent.port()}, 300ms);
  EXPECT_EQ(slow.outcome, probe_result::status::timeout) << slow.reason;

  EXPECT_TRUE(eventually([&] { return server->stats().refused == 1; }));  // the wrong secret
}

}  // namespace
}  // namespace flowtrack::cluster
