// The HTTP edge of a running node over raw sockets: RFC 9112 refusals (Transfer-Encoding,
// obs-fold, Host), media types, error bodies that echo nothing, nosniff on every answer, the
// per-peer connection cap, the buffered-body budget, accept back-off at the descriptor limit,
// and the client address behind trusted proxies.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
using test::cli;

using env = std::map<std::string, std::string>;

// This suite's node settings over the common ones (tests/support/node_process.hpp).
struct node_process : test::node_process {
  explicit node_process(const settings& extra = {}) : test::node_process({{"FLOWTRACK_HTTP_HEADER_TIMEOUT_MS", "1000"}, {"FLOWTRACK_FORM_RATE_LIMIT", "1000"}}, extra) {}
};

// A TCP connection to 127.0.0.1:port from the loopback address `source`, or -1.
int connect_from(int port, const char* source = "127.0.0.1") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

/// What the server sent on a connection, and whether it closed it.
struct raw_reply {
  std::string text;
  bool closed = false;
  int status() const { return text.size() >= 12 && text.rfind("HTTP/1.", 0) == 0 ? std::stoi(text.substr(9, 3)) : 0; }
  std::string head() const { return text.substr(0, text.find("\r\n\r\n") + 2); }
  std::string body() const { auto at = text.find("\r\n\r\n"); return at == std::string::npos ? "" : text.substr(at + 4); }
  bool has_header(const std::string& line) const { return head().find("\r\n" + line + "\r\n") != std::string::npos; }
};

// Reads until the server closes, or until one whole response has arrived when `one` (then the
// connection stays open), or the budget passes.
raw_reply read_reply(int fd, std::chrono::milliseconds budget = 5s, bool one = false) {
  raw_reply r;
  auto end = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < end) {
    if (one) {
      auto head_end = r.text.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::smatch m;
        std::string head = r.text.substr(0, head_end);
        std::size_t length = std::regex_search(head, m, std::regex("Content-Length: (\\d+)", std::regex::icase)) ? std::stoul(m[1]) : 0;
        if (r.text.size() >= head_end + 4 + length) return r;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[8192];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      r.closed = true;
      return r;
    }
    r.text.append(buf, static_cast<std::size_t>(n));
  }
  return r;
}

// Sends raw bytes on a new connection and reads until the server closes (or 5 s).
raw_reply round_trip(int port, const std::string& bytes, const char* source = "127.0.0.1") {
  int fd = connect_from(port, source);
  EXPECT_GE(fd, 0);
  send_all(fd, bytes);
  auto r = read_reply(fd);
  ::close(fd);
  return r;
}

std::string import_form(const std::string& slug) {
  std::string file = "/tmp/" + slug + ".json";
  std::ofstream(file) << R"({"name":"Contact","status":"active","settings":{"form":{"slug":"contact"}},
 "nodes":[{"id":"t","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},{"id":"e","type":"LOGIC_END","position":{"x":0,"y":1},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"e"}],
 "formFields":[{"fieldKey":"email","label":"Email","fieldType":"EMAIL","isRequired":true,"displayOrder":1}]})";
  std::string id = cli("workflow import --workspace " + slug + " " + file);
  std::remove(file.c_str());
  return id;
}

std::string new_workspace(const std::string& prefix) {
  std::string slug = test::unique_slug(prefix);
  cli("workspace create --name Edge --slug " + slug + " --owner-email owner@" + slug + ".example.com --plan enterprise");
  import_form(slug);
  return slug;
}

class http_conformance_e2etest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    slug_ = new std::string(new_workspace("edge"));
    node_ = new node_process();
  }
  static void TearDownTestSuite() {
    delete node_;
    delete slug_;
  }
  static int port() { return node_->port; }
  static inline node_process* node_ = nullptr;
  static inline std::string* slug_ = nullptr;
};

TEST_F(http_conformance_e2etest, a_transfer_encoding_other_than_chunked_is_400_and_closes) {
  for (std::string coding : {"gzip", "gzip, chunked", "chunked, gzip", "identity", "xchunked", "chunked\r\nTransfer-Encoding: chunked",
                             "gzip\r\nTransfer-Encoding: chunked", "chunked\r\nContent-Length: 5", " "}) {
    auto r = round_trip(port(), "POST /hooks/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Transfer-Encoding: " + coding + "\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
    EXPECT_EQ(r.status(), 400) << coding << "\n" << r.text;
    EXPECT_TRUE(r.closed) << coding;
    EXPECT_NE(r.body().find(R"("code":"invalid")"), std::string::npos) << r.text;
  }
  auto old = round_trip(port(), "POST /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  EXPECT_EQ(old.status(), 400) << "HTTP/1.0 has no transfer codings\n" << old.text;
  EXPECT_TRUE(old.closed);
  // Exactly chunked (names are case-insensitive) is read: the route answers, not the parser.
  for (std::string coding : {"chunked", "Chunked"}) {
    auto r = round_trip(port(), "POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: " + coding +
                                  "\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
    EXPECT_EQ(r.status(), 405) << coding << "\n" << r.text;
  }
}

TEST_F(http_conformance_e2etest, a_header_that_arrives_in_pieces_is_read_whole) {
  // Over 4 KiB: the first read cannot hold it all.
  std::string pad(6000, 'a');
  auto big = round_trip(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + pad + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(big.status(), 200) << big.text.substr(0, 300);
  // A pipelined request whose rest comes only after the first answer.
  int fd = connect_from(port(), "127.0.0.1");
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /heal");
  auto first = read_reply(fd, 5s, /*one=*/true);
  EXPECT_EQ(first.status(), 200) << first.text;
  send_all(fd, "thz HTTP/1.1\r\nHost: x\r\nX-Pad: " + pad + "\r\nConnection: close\r\n\r\n");
  auto second = read_reply(fd);
  EXPECT_EQ(second.status(), 200) << second.text.substr(0, 300);
  ::close(fd);
  // Past the header limit (16 KiB) without its blank line: 431.
  auto huge = round_trip(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(20000, 'a') + "\r\n");
  EXPECT_EQ(huge.status(), 431) << huge.text.substr(0, 300);
}

TEST_F(http_conformance_e2etest, an_obs_fold_header_line_is_400) {
  // Beast 1.81 joins a folded line into the previous value and accepts the request; the server
  // refuses it. The same request unfolded is served.
  auto plain = round_trip(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a b\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(plain.status(), 200) << plain.text;
  auto folded = round_trip(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n b\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(folded.status(), 400) << folded.text;
  EXPECT_TRUE(folded.closed);
  auto tab = round_trip(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n\tb\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(tab.status(), 400) << tab.text;
  auto first_line = round_trip(port(), "GET /healthz HTTP/1.1\r\n Host: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(first_line.status(), 400) << first_line.text;
}

TEST_F(http_conformance_e2etest, http_1_1_needs_exactly_one_host) {
  auto missing = round_trip(port(), "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(missing.status(), 400) << missing.text;
  EXPECT_TRUE(missing.closed);
  auto twice = round_trip(port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(twice.status(), 400) << twice.text;
  EXPECT_TRUE(twice.closed);
  auto old = round_trip(port(), "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.status(), 200) << "HTTP/1.0 needs no Host\n" << old.text;
}

TEST_F(http_conformance_e2etest, media_types_compare_case_insensitively_with_parameters) {
  std::string path = "/p/" + *slug_;
  auto json = test::http_request(port(), "POST", path, R"({"email":"Case@example.com"})",
                                 {{"Content-Type", "Application/JSON; charset=UTF-8"}});
  EXPECT_EQ(json.status, 202) << json.body;
  auto form = test::http_request(port(), "POST", path, "email=case2%40example.com",
                                 {{"Content-Type", "APPLICATION/X-WWW-FORM-URLENCODED ; charset=utf-8"}});
  EXPECT_EQ(form.status, 200) << form.body;
  auto hook = test::http_request(port(), "POST", "/hooks/00000000-0000-0000-0000-000000000000", "{}",
                                 {{"Content-Type", "application/Json;charset=utf-8"}});
  EXPECT_NE(hook.status, 415) << hook.body;
  auto other = test::http_request(port(), "POST", path, "{}", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(other.status, 415) << other.body;
  auto lookalike = test::http_request(port(), "POST", path, "{}", {{"Content-Type", "application/jsonp"}});
  EXPECT_EQ(lookalike.status, 415) << lookalike.body;
}

TEST_F(http_conformance_e2etest, error_bodies_never_echo_request_bytes) {
  const std::string marker = "<script>alert(7)</script>";
  for (std::string target : {"/" + marker + "%ff\xff", "/hooks/" + marker + "\xfe", "/hooks/" + marker + "/x"}) {
    auto r = round_trip(port(), "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.status(), 404) << r.text;
    EXPECT_EQ(r.body().find("script"), std::string::npos) << r.body();
    EXPECT_EQ(r.body().find('\xff'), std::string::npos);
    EXPECT_EQ(r.body().find('\xfe'), std::string::npos);
  }
  auto bad = round_trip(port(), "GET /x HTTP/1.1\r\nHost: x\r\nX-" + marker + ": 1\r\n\r\n");
  EXPECT_EQ(bad.status(), 400) << bad.text;
  EXPECT_EQ(bad.body().find("script"), std::string::npos) << bad.body();
  auto bad_json = test::http_request(port(), "POST", "/p/" + *slug_, "{\"email\":\"" + marker + "\xff", {{"Content-Type", "application/json"}});
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.body.find("script"), std::string::npos) << bad_json.body;
}

TEST_F(http_conformance_e2etest, every_answer_carries_nosniff) {
  struct probe {
    std::string name, bytes;
    int status;
  };
  std::string big_header(20 * 1024, 'h');
  for (const auto& p : std::vector<probe>{
           {"200", "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
           {"HEAD", "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
           {"404", "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404},
           {"405", "DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405},
           {"400", "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 400},
           {"408", "GET /healthz HTTP/1.1\r\nHost: x\r\n", 408},
           {"413", "POST /p/" + *slug_ + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n", 413},
           {"431", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big_header + "\r\n\r\n", 431},
           {"form 200", "GET /p/" + *slug_ + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
       }) {
    auto r = round_trip(port(), p.bytes);
    EXPECT_EQ(r.status(), p.status) << p.name << "\n" << r.text;
    EXPECT_TRUE(r.has_header("X-Content-Type-Options: nosniff")) << p.name << "\n" << r.head();
  }
  auto admin = round_trip(node_->admin_port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(admin.status(), 200);
  EXPECT_TRUE(admin.has_header("X-Content-Type-Options: nosniff")) << admin.head();
}

TEST(http_limits_e2etest, connections_over_the_per_peer_cap_get_503_and_close_while_other_peers_are_served) {
  node_process node(env{{"FLOWTRACK_HTTP_MAX_CONNECTIONS_PER_IP", "3"}});
  const std::string ping = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {  // answered, so accepted and counted; kept open
    int fd = connect_from(node.port);
    send_all(fd, ping);
    EXPECT_EQ(read_reply(fd, 5s, /*one=*/true).status(), 200);
    held.push_back(fd);
  }
  auto over = round_trip(node.port, ping);
  EXPECT_EQ(over.status(), 503) << over.text;
  EXPECT_TRUE(over.has_header("Retry-After: 1")) << over.head();
  EXPECT_TRUE(over.has_header("X-Content-Type-Options: nosniff"));
  EXPECT_TRUE(over.closed);
  // Another address is its own peer.
  auto other = round_trip(node.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "127.0.0.2");
  EXPECT_EQ(other.status(), 200) << other.text;
  // One closes: its slot comes back once the server has seen the close.
  ::close(held.back());
  held.pop_back();
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (status != 200 && std::chrono::steady_clock::now() < deadline)
    status = round_trip(node.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status();
  EXPECT_EQ(status, 200);
  for (int fd : held) ::close(fd);
}

// The value of an unlabelled gauge on the admin listener's /metrics, or -1.
double gauge(int admin_port, const std::string& name) {
  auto m = test::http_request(admin_port, "GET", "/metrics");
  std::smatch match;
  if (std::regex_search(m.body, match, std::regex("\n" + name + " ([0-9.e+]+)"))) return std::stod(match[1]);
  return -1;
}

TEST(http_limits_e2etest, a_body_beyond_the_buffered_budget_gets_503_and_accepted_bodies_finish) {
  node_process node(env{{"FLOWTRACK_HTTP_MAX_BUFFERED_BODY_BYTES", "4096"}, {"FLOWTRACK_HTTP_BODY_TIMEOUT_MS", "20000"}});
  // A holds 3000 bytes of budget: its header is in, its body still coming.
  int a = connect_from(node.port);
  send_all(a, "POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3000\r\n\r\n" + std::string(100, 'a'));
  double held = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (held < 3000 && std::chrono::steady_clock::now() < deadline) held = gauge(node.admin_port, "flowtrack_http_buffered_body_bytes");
  ASSERT_EQ(held, 3000);
  // B would need 2000 more: refused at once, before its body is read.
  auto b = round_trip(node.port, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'b'));
  EXPECT_EQ(b.status(), 503) << b.text;
  EXPECT_TRUE(b.has_header("Retry-After: 1")) << b.head();
  EXPECT_TRUE(b.closed);
  // C fits beside A.
  auto c = round_trip(node.port, "POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 500\r\n\r\n" + std::string(500, 'c'));
  EXPECT_EQ(c.status(), 405) << "read and routed\n" << c.text;
  // A finishes and is answered by its route, not refused.
  send_all(a, std::string(2900, 'a'));
  auto a_reply = read_reply(a);
  ::close(a);
  EXPECT_EQ(a_reply.status(), 405) << a_reply.text;
  // With A answered the budget is free again.
  auto again = round_trip(node.port, "POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'b'));
  EXPECT_EQ(again.status(), 405) << again.text;
  EXPECT_EQ(gauge(node.admin_port, "flowtrack_http_buffered_body_bytes"), 0);
}

std::size_t open_descriptors(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
  return n;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(http_limits_e2etest, out_of_descriptors_the_acceptor_backs_off_and_resumes) {
  node_process node;
  pid_t pid = node.process->pid();
  // Leave the node a few descriptors beyond what it holds now; the connections below use them up.
  rlimit limit{};
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, nullptr, &limit), 0) << std::strerror(errno);
  limit.rlim_cur = open_descriptors(pid) + 4;
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, &limit, nullptr), 0) << std::strerror(errno);
  std::vector<int> clients;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (node.process->log().find("pausing accepts") == std::string::npos && std::chrono::steady_clock::now() < deadline &&
         clients.size() < 500) {
    int fd = connect_from(node.port);  // the kernel completes the handshake from the backlog
    if (fd >= 0) clients.push_back(fd);
  }
  // On a loaded machine the 500 handshakes may all complete in the backlog before the node has
  // accepted its way to the limit: the pause comes once it has.
  while (node.process->log().find("pausing accepts") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_NE(node.process->log().find("pausing accepts"), std::string::npos) << node.process->log();
  auto paused_at = std::chrono::steady_clock::now();
  // The node is still alive and keeps its descriptors: it does not spin, it waits.
  for (int fd : clients) ::close(fd);
  EXPECT_TRUE(test::await_http_status(node.port, "/healthz", 200, 10s)) << node.process->log();
  auto log = node.process->log();
  auto paused_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - paused_at).count();
  EXPECT_EQ(count(log, "pausing accepts"), 1u) << "one line per episode\n" << log;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("accepting again on \\S+ after (\\d+) failed attempts"))) << log;
  // Pauses start at 20 ms and double: a spinning acceptor would have failed thousands of times.
  EXPECT_LE(std::stol(m[1]), paused_ms / 20 + 2) << log;
}

TEST(http_client_address_e2etest, x_forwarded_for_names_the_client_only_from_a_trusted_proxy) {
  std::string slug = new_workspace("xff");
  node_process node(env{{"FLOWTRACK_FORM_RATE_LIMIT", "2"}, {"FLOWTRACK_TRUSTED_PROXIES", "127.0.0.2/32"}});
  auto submit = [&](const char* source, const std::string& xff, int i) {
    std::string body = "email=x" + std::to_string(i) + "%40example.com";
    auto r = round_trip(node.port, "POST /p/" + slug + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                 "Content-Type: application/x-www-form-urlencoded\r\nX-Forwarded-For: " + xff +
                                 "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                      source);
    return r.status();
  };
  // Untrusted peer: a fresh X-Forwarded-For each time does not buy a fresh bucket.
  EXPECT_EQ(submit("127.0.0.1", "203.0.113.1", 1), 200);
  EXPECT_EQ(submit("127.0.0.1", "203.0.113.2", 2), 200);
  EXPECT_EQ(submit("127.0.0.1", "203.0.113.3", 3), 429);
  // Trusted proxy: the forwarded address is the client, each its own bucket.
  EXPECT_EQ(submit("127.0.0.2", "198.51.100.1", 4), 200);
  EXPECT_EQ(submit("127.0.0.2", "198.51.100.1", 5), 200);
  EXPECT_EQ(submit("127.0.0.2", "198.51.100.1", 6), 429);
  EXPECT_EQ(submit("127.0.0.2", "198.51.100.2", 7), 200) << "another client behind the same proxy";
  // Only the right-most untrusted entry counts: a client cannot pick its own bucket.
  EXPECT_EQ(submit("127.0.0.2", "198.51.100.77, 198.51.100.1", 8), 429);
  // The access log names the client, not the proxy.
  EXPECT_NE(node.process->log().find("198.51.100.2 \"POST /p/" + slug), std::string::npos) << node.process->log();
}

}  // namespace
}  // namespace flowtrack
