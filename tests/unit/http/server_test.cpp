// The HTTP server's pure helpers (address ranges, the client behind trusted proxies, media types),
// what Beast 1.81's parser lets through that the server refuses itself, and the admission step
// on a server in-process on a free port, driven by a raw socket.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "adapters/http/server.hpp"
#include "tests/unit/http/raw_client.hpp"

namespace flowtrack::http {
namespace {

boost::asio::ip::address ip(const char* text) { return boost::asio::ip::make_address(text); }

std::vector<ip_network> nets(std::initializer_list<const char*> texts) {
  std::vector<ip_network> out;
  for (const char* t : texts) out.push_back(ip_network::parse(t).value());
  return out;
}

TEST(ip_network, parses_ranges_and_bare_addresses_and_refuses_the_rest) {
  EXPECT_EQ(ip_network::parse("10.0.0.0/8")->prefix, 8);
  EXPECT_EQ(ip_network::parse("10.1.2.3")->prefix, 32);
  EXPECT_EQ(ip_network::parse("fd00::/8")->prefix, 8);
  EXPECT_EQ(ip_network::parse("::1")->prefix, 128);
  for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "example.com", "10.0.0.0/8x", "10.0.0.0/-1"})
    EXPECT_FALSE(ip_network::parse(bad).has_value()) << bad;
}

TEST(ip_network, contains_addresses_inside_the_prefix_only) {
  auto n = ip_network::parse("192.168.4.0/22").value();
  EXPECT_TRUE(n.contains(ip("192.168.4.0")));
  EXPECT_TRUE(n.contains(ip("192.168.7.255")));
  EXPECT_FALSE(n.contains(ip("192.168.8.0")));
  EXPECT_FALSE(n.contains(ip("192.168.3.255")));
  EXPECT_TRUE(n.contains(ip("::ffff:192.168.5.1"))) << "a mapped address is its IPv4 address";
  EXPECT_FALSE(n.contains(ip("fd00::1")));
  auto v6 = ip_network::parse("2001:db8:1::/48").value();
  EXPECT_TRUE(v6.contains(ip("2001:db8:1:ffff::1")));
  EXPECT_FALSE(v6.contains(ip("2001:db8:2::1")));
  EXPECT_TRUE(ip_network::parse("0.0.0.0/0")->contains(ip("8.8.8.8")));
  EXPECT_TRUE(ip_network::parse("::ffff:10.0.0.0/104")->contains(ip("10.9.9.9")));
}

TEST(client_address, ignores_forwarded_for_from_an_untrusted_peer) {
  EXPECT_EQ(client_address(ip("203.0.113.7"), "198.51.100.1", nets({"10.0.0.0/8"})), "203.0.113.7");
  EXPECT_EQ(client_address(ip("203.0.113.7"), "198.51.100.1", {}), "203.0.113.7");
  EXPECT_EQ(client_address(ip("::ffff:203.0.113.7"), "", {}), "203.0.113.7") << "a dual-stack listener's IPv4 peer";
}

TEST(client_address, takes_the_right_most_untrusted_address_behind_trusted_proxies) {
  auto trusted = nets({"10.0.0.0/8", "fd00::/8"});
  EXPECT_EQ(client_address(ip("10.0.0.1"), "198.51.100.1", trusted), "198.51.100.1");
  // The client may send its own X-Forwarded-For: only what the trusted proxies appended counts.
  EXPECT_EQ(client_address(ip("10.0.0.1"), "6.6.6.6, 198.51.100.1", trusted), "198.51.100.1");
  EXPECT_EQ(client_address(ip("10.0.0.1"), "6.6.6.6, 198.51.100.1 ,10.2.3.4", trusted), "198.51.100.1");
  EXPECT_EQ(client_address(ip("10.0.0.1"), "2001:db8::5, fd00::9", trusted), "2001:db8::5");
  EXPECT_EQ(client_address(ip("::ffff:10.0.0.1"), "::ffff:198.51.100.3", trusted), "198.51.100.3");
  // All trusted: the left-most one.
  EXPECT_EQ(client_address(ip("10.0.0.1"), "10.9.9.9,10.8.8.8", trusted), "10.9.9.9");
  // No header: the proxy itself.
  EXPECT_EQ(client_address(ip("10.0.0.1"), "", trusted), "10.0.0.1");
  // A malformed entry stops the walk at the last address believed.
  EXPECT_EQ(client_address(ip("10.0.0.1"), "198.51.100.1, not-an-ip", trusted), "10.0.0.1");
  EXPECT_EQ(client_address(ip("10.0.0.1"), "junk, 10.7.7.7", trusted), "10.7.7.7");
}

// Why the server checks these itself: Beast 1.81's parser lets them through.
bool beast_accepts(std::string_view raw, request* out = nullptr) {
  bhttp::request_parser<bhttp::string_body> p;
  boost::system::error_code ec;
  p.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  if (ec) return false;
  if (out) *out = p.release();
  return true;
}

TEST(beast_parser, accepts_obs_fold_joining_the_line_into_the_previous_value) {
  request r;
  ASSERT_TRUE(beast_accepts("GET / HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n b\r\n\r\n", &r));
  EXPECT_EQ(r["X-Note"], "a b");
}

TEST(beast_parser, accepts_http_1_1_without_host_and_an_unknown_transfer_coding) {
  EXPECT_TRUE(beast_accepts("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(beast_accepts("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
  request r;
  // No body for Beast, so the next bytes would be read as another request (smuggling).
  ASSERT_TRUE(beast_accepts("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", &r));
  EXPECT_TRUE(r.body().empty());
}

TEST(media_type_is, compares_case_insensitively_and_ignores_parameters) {
  EXPECT_TRUE(media_type_is("application/json", "application/json"));
  EXPECT_TRUE(media_type_is("Application/JSON; charset=UTF-8", "application/json"));
  EXPECT_TRUE(media_type_is(" application/json ;charset=utf-8", "application/json"));
  EXPECT_TRUE(media_type_is("APPLICATION/X-WWW-FORM-URLENCODED;charset=utf-8", "application/x-www-form-urlencoded"));
  EXPECT_FALSE(media_type_is("application/jsonp", "application/json"));
  EXPECT_FALSE(media_type_is("text/json", "application/json"));
  EXPECT_FALSE(media_type_is("", "application/json"));
  EXPECT_FALSE(media_type_is("application/json-patch+json", "application/json"));
}

// ---- The admission step: a route's decision on the request head, before the body ----

using namespace std::chrono_literals;

// A server on a free port whose admission step is a test harness: X-Token "good" is admitted (from
// another thread, as a database answer would come), "never" is never answered, anything else is
// refused 401; the handler echoes what admission found and the body.
class admission_test : public ::testing::Test {
 protected:
  void start(std::chrono::milliseconds body_timeout = 30s) {
    server_options o;
    o.listen = config::endpoint{"127.0.0.1", 0};
    o.body_limit_for = [](std::string_view path) { return path == "/upload" ? std::size_t(25 * 1024 * 1024) : 0; };
    o.body_timeout = body_timeout;
    o.admit = [this](const request_head& head, const request_info& info, admission_callback done) {
      ++admissions;
      std::string token(head["X-Token"]);
      if (token == "never") {
        std::lock_guard lock(mutex);
        parked.push_back(std::move(done));
        return;
      }
      if (token != "good") return done(admission::refuse(json_error(bhttp::status::unauthorized, "unauthorized", "bad token")));
      std::lock_guard lock(mutex);
      threads.emplace_back([done = std::move(done), found = "client " + info.client_ip] { done(admission::admit(found)); });
    };
    srv = std::make_unique<server>(o, [this](request&& req, const request_info& info, responder reply) {
      ++handled;
      reply(json_response(bhttp::status::ok, info.admitted + "|" + std::to_string(req.body().size())));
    });
    auto started = srv->start();
    ASSERT_TRUE(started.ok()) << started.err().message;
  }
  void TearDown() override {
    if (srv) srv->stop(0ms);
    for (auto& t : threads) t.join();
  }

  std::unique_ptr<server> srv;
  std::atomic<int> admissions{0}, handled{0};
  std::mutex mutex;
  std::vector<std::thread> threads;
  std::vector<admission_callback> parked;
};

TEST_F(admission_test, a_refused_head_is_answered_before_its_body_is_sent_and_the_connection_closes) {
  start();
  test::raw_client c(srv->port());
  ASSERT_TRUE(c.connected());
  // 20 MiB announced, not a byte of it sent: the answer must come anyway.
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: x\r\nX-Token: bad\r\nContent-Length: 20971520\r\n\r\n"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 401) << r.head;
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos) << r.head;
  EXPECT_TRUE(c.closed_by_server()) << "the body was not read: the connection cannot carry another request";
  EXPECT_EQ(handled.load(), 0);
  EXPECT_EQ(srv->buffered_body_bytes(), 0u) << "a refused body never counts against the budget";
}

TEST_F(admission_test, an_admission_answered_later_lets_the_body_be_read_and_hands_its_finding_to_the_handler) {
  start();
  test::raw_client c(srv->port());
  std::string body(100000, 'b');
  for (int i = 0; i < 2; ++i) {  // twice on one keep-alive connection
    ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: x\r\nX-Token: good\r\nContent-Length: 100000\r\n\r\n" + body));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 200) << r.head;
    EXPECT_EQ(r.body, "client 127.0.0.1|100000");
  }
  EXPECT_EQ(admissions.load(), 2);
  EXPECT_EQ(handled.load(), 2);
  EXPECT_EQ(srv->buffered_body_bytes(), 0u);
}

TEST_F(admission_test, a_refused_request_without_a_body_keeps_its_connection) {
  start();
  test::raw_client c(srv->port());
  ASSERT_TRUE(c.send("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(c.read_response().status, 401);
  ASSERT_TRUE(c.send("GET /page HTTP/1.1\r\nHost: x\r\nX-Token: good\r\n\r\n"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "client 127.0.0.1|0");
}

TEST_F(admission_test, an_admission_that_never_answers_gets_503_after_the_body_timeout) {
  start(300ms);
  test::raw_client c(srv->port());
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: x\r\nX-Token: never\r\nContent-Length: 10\r\n\r\n"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 503) << r.head;
  EXPECT_NE(r.head.find("Retry-After"), std::string::npos);
  EXPECT_EQ(handled.load(), 0);
  std::lock_guard lock(mutex);
  for (auto& done : parked) done(admission::admit("late"));  // too late: ignored
}

}  // namespace
}  // namespace flowtrack::http
