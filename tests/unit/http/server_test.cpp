// The HTTP server's pure helpers (address ranges, the client behind trusted proxies, media types),
// what Beast 1.81's parser lets through that the server refuses itself, the admission step, and
// streamed request bodies and answers (order, back-pressure, the body budget, HEAD, abort,
// keep-alive) on a server in-process on a free port, driven by a raw socket.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "adapters/http/server.hpp"
#include "metrics/metrics.hpp"
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

// ---- Streamed request bodies and answers ----

// Byte `at` of the bodies these tests send and expect: a position check, so that order and
// completeness are both seen.
char pattern_at(std::size_t at) { return static_cast<char>('a' + at % 26); }
std::string pattern(std::size_t from, std::size_t n) {
  // A copy out of one long run (the pattern repeats every 26 bytes), so that producing is cheap.
  static const std::string run = [] {
    std::string r(4 * 1024 * 1024 + 26, ' ');
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<char>('a' + i % 26);
    return r;
  }();
  if (n + 26 <= run.size()) return run.substr(from % 26, n);
  std::string out(n, ' ');
  for (std::size_t i = 0; i < n; ++i) out[i] = pattern_at(from + i);
  return out;
}

// A client on a POSIX socket that reads whole messages of any framing through Beast's parser,
// with a deadline; `receive_buffer` sets SO_RCVBUF before connecting (a small one keeps the
// kernel from taking much on the client's behalf).
class stream_client {
 public:
  explicit stream_client(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~stream_client() { ::close(fd_); }
  stream_client(const stream_client&) = delete;
  stream_client& operator=(const stream_client&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    for (std::size_t at = 0; at < bytes.size();) {
      auto n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
    }
    return true;
  }
  /// Up to `max` bytes as they come (empty: closed, or nothing before the deadline).
  std::string receive_some(std::size_t max, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (!in_.empty()) {
      std::string out = in_.substr(0, max);
      in_.erase(0, out.size());
      return out;
    }
    return from_socket(max, timeout);
  }
  /// One whole response; nullopt when the connection ended (or the deadline passed) before it
  /// was complete. `head`: the answer to a HEAD (no body whatever its fields say).
  std::optional<bhttp::response<bhttp::string_body>> read(bool head = false, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(boost::none);
    p.skip(head);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      while (!in_.empty()) {
        boost::system::error_code ec;
        auto used = p.put(boost::asio::buffer(in_.data(), in_.size()), ec);
        in_.erase(0, used);
        if (ec == bhttp::error::need_more) break;
        if (ec) return std::nullopt;
        if (p.is_done()) return p.release();
        if (used == 0) break;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto more = from_socket(64 * 1024, left);
      if (more.empty()) return std::nullopt;
      in_ += more;
    }
  }
  /// Whatever arrives until the server closes (or the deadline); `closed` tells which.
  std::string read_to_close(bool& closed, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string out = std::move(in_);
    in_.clear();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    closed = false;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return out;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
      char buf[16384];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        return out;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  std::string from_socket(std::size_t max, std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
    std::string buf(max, '\0');
    auto n = ::recv(fd_, buf.data(), max, 0);
    buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return buf;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string in_;
};

std::size_t query_number(std::string_view target, std::string_view name) {
  auto at = target.find(std::string(name) + "=");
  return at == std::string_view::npos ? 0 : std::strtoul(std::string(target.substr(at + name.size() + 1)).c_str(), nullptr, 10);
}

// A server whose routes are test harnesses of the two streams:
//  GET /export?chunks=N&size=S  N chunks of S pattern bytes, each produced only when the previous
//                               one was written (counted in `produced`), then the X-Chunks trailer;
//  GET /abort?chunks=N&size=S   N chunks, then abort();
//  POST /upload                 the body streamed (admission), checked against the pattern; the
//                               answer is "bytes|pieces|most bytes the server held meanwhile";
//  POST /early                  the body streamed; answered 422 after its first piece;
//  GET /gated                   one chunk, the second and the end when the test resumes it;
//  POST /buffered               the body buffered whole (as every other route).
// The budget of buffered bodies is small (256 KiB), the uploads' limit 6 MiB.
class stream_test : public ::testing::Test {
 protected:
  static constexpr std::size_t k_budget = 256 * 1024;
  static constexpr std::size_t k_upload_limit = 6 * 1024 * 1024;

  void SetUp() override {
    server_options o;
    o.listen = config::endpoint{"127.0.0.1", 0};
    o.max_buffered_body_bytes = k_budget;
    o.body_limit_for = [](std::string_view) { return k_upload_limit; };
    o.admit = [](const request_head& head, const request_info&, admission_callback done) {
      auto target = head.target();
      done(target == "/upload" || target == "/early" ? admission::admit_streamed() : admission::admit());
    };
    srv = std::make_unique<server>(o, [this](request&& req, const request_info& info, responder reply) {
      std::string_view target = req.target();
      if (target.starts_with("/export") || target.starts_with("/abort")) {
        auto n = query_number(target, "chunks"), size = query_number(target, "size");
        response head{bhttp::status::ok, 11};
        head.set(bhttp::field::content_type, "text/plain");
        head.set(bhttp::field::trailer, "X-Chunks");
        auto out = info.stream;
        bool abort = target.starts_with("/abort");
        out->start(std::move(head), [this, out, n, size, abort](bool more) {
          if (more) produce(out, 0, n, size, abort);
        });
        return;
      }
      if (target == "/gated") {  // one chunk, then a second when the test calls resume_gated()
        auto out = info.stream;
        out->start(response{bhttp::status::ok, 11}, [this, out](bool more) {
          if (!more) return;
          out->write(pattern(0, 100), [this, out](bool more2) {
            if (!more2) return;
            std::lock_guard lock(mutex);
            gated = [out] { out->write(pattern(100, 100), [out](bool more3) { if (more3) out->finish({}); }); };
          });
        });
        return;
      }
      if (target == "/upload" || target == "/early") {
        if (!info.body) return reply(json_response(bhttp::status::internal_server_error, "no body stream"));
        read_upload(info.body, std::move(reply), target == "/early", std::make_shared<upload>());
        return;
      }
      reply(json_response(bhttp::status::ok, std::to_string(req.body().size())));
    });
    auto started = srv->start();
    ASSERT_TRUE(started.ok()) << started.err().message;
  }
  void TearDown() override {
    if (srv) srv->stop(0ms);
  }

  void produce(std::shared_ptr<response_stream> out, std::size_t i, std::size_t n, std::size_t size, bool abort) {
    if (i == n) {
      if (abort) return out->abort();
      return out->finish({{"X-Chunks", std::to_string(n)}});
    }
    ++produced;
    out->write(pattern(i * size, size), [this, out, i, n, size, abort](bool more) {
      if (more) produce(out, i + 1, n, size, abort);
      else ++stopped;
    });
  }

  struct upload {
    std::size_t bytes = 0, pieces = 0, most_held = 0;
    bool in_order = true;
  };
  void read_upload(std::shared_ptr<body_stream> body, responder reply, bool early, std::shared_ptr<upload> u) {
    body->read([this, body, reply = std::move(reply), early, u](result<body_stream::piece> p) mutable {
      if (!p) {
        ++body_errors;
        return;
      }
      u->most_held = std::max(u->most_held, srv->buffered_body_bytes());
      if (p->bytes.size() > k_body_piece || (p->bytes.empty() && !p->last)) u->in_order = false;
      for (char c : p->bytes)
        if (c != pattern_at(u->bytes++)) u->in_order = false;
      ++u->pieces;
      if (early) return reply(json_error(bhttp::status::unprocessable_entity, "invalid", "not this body"));
      if (!p->last) return read_upload(body, std::move(reply), early, u);
      reply(json_response(bhttp::status::ok, std::to_string(u->bytes) + "|" + std::to_string(u->pieces) + "|" +
                                                 std::to_string(u->most_held) + (u->in_order ? "" : "|out of order")));
    });
  }

  static std::string get(const std::string& target, const std::string& method = "GET") {
    return method + " " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  static std::string chunked(const std::string& body, std::size_t piece) {
    std::string out;
    char size[32];
    for (std::size_t at = 0; at < body.size(); at += piece) {
      auto n = std::min(piece, body.size() - at);
      std::snprintf(size, sizeof size, "%zx\r\n", n);
      out += size + body.substr(at, n) + "\r\n";
    }
    return out + "0\r\n\r\n";
  }

  bool gated_parked() {
    std::lock_guard lock(mutex);
    return static_cast<bool>(gated);
  }
  void resume_gated() {
    std::function<void()> next;
    {
      std::lock_guard lock(mutex);
      next = std::move(gated);
    }
    next();
  }

  std::unique_ptr<server> srv;
  std::atomic<std::size_t> produced{0}, stopped{0}, body_errors{0};
  std::mutex mutex;
  std::function<void()> gated;
};

TEST_F(stream_test, an_answer_streams_its_chunks_in_order_and_the_connection_serves_the_next_request) {
  auto& requests = metrics::global().counters("flowtrack_http_requests_total", "", {"route", "status"});
  auto before = requests.at({"other", "200"}).value();
  stream_client c(srv->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/export?chunks=50&size=1000")));
  auto r = c.read();
  ASSERT_TRUE(r) << "a complete chunked message";
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_TRUE(r->chunked());
  EXPECT_EQ(r->count(bhttp::field::content_length), 0u);
  EXPECT_EQ(r->body(), pattern(0, 50 * 1000)) << "every chunk, in order";
  EXPECT_EQ((*r)["X-Chunks"], "50") << "the trailer";
  EXPECT_FALSE((*r)["X-Request-Id"].empty());
  EXPECT_EQ(produced.load(), 50u);
  // Counted once the last chunk is written, which the client may see first.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (requests.at({"other", "200"}).value() == before && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(requests.at({"other", "200"}).value(), before + 1) << "counted once, when it ended";

  // The same connection: a HEAD gets the header alone and the producer is told to stop at once...
  ASSERT_TRUE(c.send(get("/export?chunks=50&size=1000", "HEAD")));
  auto h = c.read(/*head=*/true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->result_int(), 200);
  EXPECT_TRUE(h->body().empty());
  EXPECT_EQ(produced.load(), 50u) << "nothing produced for a HEAD";
  // ...and the connection is still good after it.
  ASSERT_TRUE(c.send(get("/export?chunks=2&size=10")));
  auto again = c.read();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body(), pattern(0, 20));
}

TEST_F(stream_test, a_slow_reader_holds_the_producer_back_instead_of_the_server_buffering) {
  // What the kernel may hold between producer and client: the server's send buffer (at most
  // tcp_wmem's maximum) and the client's small receive buffer (doubled by the kernel).
  std::size_t wmem_max = 4 * 1024 * 1024;
  {
    std::ifstream f("/proc/sys/net/ipv4/tcp_wmem");
    std::size_t lo = 0, def = 0, hi = 0;
    if (f >> lo >> def >> hi) wmem_max = hi;
  }
  constexpr int k_rcvbuf = 64 * 1024;
  constexpr std::size_t k_chunk = 64 * 1024, k_chunks = 400;  // 25 MiB in all
  ASSERT_GT(k_chunk * k_chunks, 4 * (wmem_max + 2 * k_rcvbuf)) << "the test needs a body well beyond what the kernel holds";
  const std::size_t in_flight = wmem_max + 2 * k_rcvbuf + 2 * k_chunk;

  stream_client c(srv->port(), k_rcvbuf);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/export?chunks=" + std::to_string(k_chunks) + "&size=" + std::to_string(k_chunk))));
  std::size_t received = 0, checks = 0;
  std::string tail;
  const std::string end = "\r\n0\r\nX-Chunks: " + std::to_string(k_chunks) + "\r\n\r\n";
  while (tail.find(end) == std::string::npos) {
    // A slow reader: a pause after every read (pacing, not synchronisation: the bound below
    // holds however fast or slow the client is, but a server producing ahead of the socket
    // would now be far ahead of it).
    if (received > 0) std::this_thread::sleep_for(200us);
    auto part = c.receive_some(16 * 1024);
    ASSERT_FALSE(part.empty()) << "the stream stopped after " << received << " bytes";
    received += part.size();
    // Everything produced is either read by the client or in the kernel's buffers (or the one
    // chunk being handed over): a server buffering ahead would have produced all 400 at once.
    ASSERT_LE(produced.load() * k_chunk, received + in_flight) << "after " << received << " bytes read";
    ++checks;
    tail = (tail + part).substr(std::max<std::size_t>(tail.size() + part.size(), 64) - 64);
  }
  EXPECT_EQ(produced.load(), k_chunks);
  EXPECT_GT(received, k_chunk * k_chunks);
  EXPECT_GT(checks, 100u);
}

TEST_F(stream_test, an_aborted_answer_ends_without_its_last_chunk_and_closes) {
  stream_client c(srv->port());
  ASSERT_TRUE(c.send(get("/abort?chunks=3&size=100")));
  bool closed = false;
  auto bytes = c.read_to_close(closed);
  EXPECT_TRUE(closed);
  EXPECT_NE(bytes.find("Transfer-Encoding: chunked"), std::string::npos) << bytes;
  EXPECT_NE(bytes.find(pattern(200, 100)), std::string::npos) << "the chunks before the abort arrived";
  EXPECT_EQ(bytes.find("\r\n0\r\n"), std::string::npos) << "no last chunk: the client sees a truncated body";
  stream_client d(srv->port());
  ASSERT_TRUE(d.send(get("/abort?chunks=3&size=100")));
  EXPECT_FALSE(d.read().has_value()) << "a parser refuses the cut message";
}

TEST_F(stream_test, a_stream_under_way_at_shutdown_is_finished_within_the_grace_then_closed) {
  auto client = std::make_unique<stream_client>(srv->port());
  auto& c = *client;
  ASSERT_TRUE(c.send(get("/gated")));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!gated_parked() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(gated_parked()) << "the first chunk was written";
  std::thread stopper([this] { srv->stop(10s); });
  // Shutdown has begun once new connections are refused.
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < deadline) refused = !stream_client(srv->port()).connected();
  EXPECT_TRUE(refused);
  resume_gated();
  auto r = c.read();  // no ASSERT from here on: the stopper thread must be joined
  EXPECT_TRUE(r) << "the stream in flight is finished";
  if (r) {
    EXPECT_EQ(r->body(), pattern(0, 200));
  }
  bool closed = false;
  c.read_to_close(closed);
  EXPECT_TRUE(closed) << "then the connection closes";
  client.reset();  // ends the server's lingering close at once
  stopper.join();
  EXPECT_EQ(srv->connections(), 0u);
}

TEST_F(stream_test, a_streamed_body_holds_one_piece_against_the_budget_and_keeps_the_connection) {
  const std::size_t n = 4 * 1024 * 1024;  // 16 times the budget
  const std::string body = pattern(0, n);
  stream_client c(srv->port());
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" + body));
  auto r = c.read();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->result_int(), 200) << r->body();
  auto fields = r->body();
  EXPECT_EQ(fields.substr(0, fields.find('|')), std::to_string(n)) << fields;
  EXPECT_EQ(fields.find("out of order"), std::string::npos) << fields;
  auto most_held = std::stoul(fields.substr(fields.rfind('|') + 1));
  EXPECT_LE(most_held, k_body_piece) << "only the piece being read counts";
  EXPECT_GE(std::stoul(fields.substr(fields.find('|') + 1)), n / k_body_piece) << "read in pieces";
  // The same connection, a chunked body this time, in odd sizes.
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(pattern(0, 1000003), 7919)));
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  ASSERT_EQ(r2->result_int(), 200) << r2->body();
  EXPECT_EQ(r2->body().substr(0, r2->body().find('|')), "1000003");
  EXPECT_EQ(r2->body().find("out of order"), std::string::npos);
  EXPECT_EQ(srv->buffered_body_bytes(), 0u);
  // A buffered body of the same size does not fit the budget.
  ASSERT_TRUE(c.send("POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n"));
  auto refused = c.read();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 503);
}

TEST_F(stream_test, an_answer_before_the_whole_body_closes_the_connection_after_it) {
  stream_client c(srv->port());
  ASSERT_TRUE(c.send("POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n" + pattern(0, 200000)));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 422);
  EXPECT_FALSE(r->keep_alive()) << "the rest of the body is never read";
  bool closed = false;
  c.read_to_close(closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(srv->buffered_body_bytes(), 0u);
}

TEST_F(stream_test, a_streamed_body_over_the_limit_gets_413_and_the_handler_an_error) {
  stream_client c(srv->port());
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  // Sent while the server reads; it stops reading at the limit, so the send may fail then.
  std::thread sender([&c] { c.send(chunked(pattern(0, k_upload_limit + 100000), 100000)); });
  auto r = c.read();
  sender.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 413);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (body_errors.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(body_errors.load(), 1u) << "the handler's read failed";
}

TEST_F(stream_test, expect_100_continue_is_answered_when_the_handler_reads) {
  stream_client c(srv->port());
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 26\r\n\r\n"));
  auto interim = c.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->result_int(), 100);
  ASSERT_TRUE(c.send(pattern(0, 26)));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body().substr(0, 3), "26|");
}

TEST(buffered_streams, hand_out_a_body_in_pieces_and_gather_an_answer) {
  auto body = buffered_body_stream(pattern(0, k_body_piece + 10));
  std::string got;
  bool last = false;
  while (!last) body->read([&](result<body_stream::piece> p) {
    ASSERT_TRUE(p.ok());
    got += p->bytes;
    last = p->last;
  });
  EXPECT_EQ(got, pattern(0, k_body_piece + 10));
  std::optional<response> answer;
  auto out = buffered_response_stream([&](response&& r) { answer = std::move(r); });
  response head{bhttp::status::ok, 11};
  head.set(bhttp::field::trailer, "X-Rows");
  out->start(std::move(head), [&](bool more) {
    ASSERT_TRUE(more);
    out->write("a,b\r\n", [&](bool more2) {
      ASSERT_TRUE(more2);
      out->finish({{"X-Rows", "1"}});
    });
  });
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body(), "a,b\r\n");
  EXPECT_EQ((*answer)["X-Rows"], "1");
  EXPECT_EQ(answer->count(bhttp::field::trailer), 0u);
}

}  // namespace
}  // namespace flowtrack::http
