// The SMTP intake server in-process on a free port, with a test handler implementing
// smtp::handler, driven by swaks and by raw sockets (plain and TLS): delivery, pipelining,
// STARTTLS and its injection guard, limits, timeouts, handler failures and deadlines, stop.
#include "adapters/smtp/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "metrics/metrics.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::smtp {
namespace {

using namespace std::chrono_literals;

// Accepts senders except those under blocked.test, recipients under intake.test, and keeps
// messages in memory. Answers come from another thread, as the actors' would.
class test_handler : public handler {
 public:
  enum class mode { keep, fail, never, throws };
  struct kept {
    envelope env;
    std::string message;
  };

  ~test_handler() override {
    for (auto& t : threads_) t.join();
  }

  void check_sender(const envelope& so_far, reply_callback done) override {
    ++sender_checks;
    answer(std::move(done), so_far.mail_from.domain == "blocked.test" ? reply{550, "5.7.1", "not an allowed forwarder"}
                                                                       : reply{250, "2.1.0", "sender ok"});
  }
  void check_recipient(const envelope&, const address& rcpt, reply_callback done) override {
    answer(std::move(done), rcpt.domain == "intake.test" ? reply{250, "2.1.5", "recipient ok"}
                                                         : reply{550, "5.1.1", "no such recipient here"});
  }
  void deliver(const envelope& env, std::string message, reply_callback done) override {
    switch (mode_.load()) {
      case mode::fail:
        return answer(std::move(done), reply{451, "4.3.0", "storage unavailable"});
      case mode::throws:
        throw std::runtime_error("the workspace actor is gone");
      case mode::never: {
        std::lock_guard lock(mutex_);
        parked_.push_back(std::move(done));  // never answered
        return;
      }
      case mode::keep: {
        {
          std::lock_guard lock(mutex_);
          kept_.push_back(kept{env, std::move(message)});
        }
        cv_.notify_all();
        return answer(std::move(done), reply{250, "2.0.0", "kept"});
      }
    }
  }

  void set_mode(mode m) { mode_ = m; }
  std::size_t parked() {
    std::lock_guard lock(mutex_);
    return parked_.size();
  }
  // Answers the deliveries parked in mode::never.
  void answer_parked(reply r) {
    std::vector<reply_callback> parked;
    {
      std::lock_guard lock(mutex_);
      parked.swap(parked_);
    }
    for (auto& done : parked) answer(std::move(done), r);
  }
  std::vector<kept> messages() {
    std::lock_guard lock(mutex_);
    return kept_;
  }
  bool await_messages(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return kept_.size() >= n; });
  }

  std::atomic<int> sender_checks{0};

 private:
  void answer(reply_callback done, reply r) {
    std::lock_guard lock(mutex_);
    threads_.emplace_back([done = std::move(done), r = std::move(r)] { done(r); });
  }

  std::atomic<mode> mode_{mode::keep};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<kept> kept_;
  std::vector<reply_callback> parked_;
  std::vector<std::thread> threads_;
};

// A blocking SMTP client on a POSIX socket, optionally switched to TLS; every read has a deadline.
class client {
 public:
  explicit client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~client() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool connected() const { return connected_; }

  bool send(const std::string& bytes) {
    std::size_t at = 0;
    while (at < bytes.size()) {
      long n = ssl_ ? SSL_write(ssl_, bytes.data() + at, static_cast<int>(bytes.size() - at))
                    : ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
    }
    return true;
  }

  // One whole reply (all its lines, CRLF stripped); empty on timeout or close.
  std::vector<std::string> reply(std::chrono::milliseconds timeout = 10s) {
    std::vector<std::string> lines;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto line = read_line(deadline);
      if (!line) return {};
      lines.push_back(*line);
      if (line->size() < 4 || (*line)[3] != '-') return lines;
    }
  }
  std::string last_line(std::chrono::milliseconds timeout = 10s) {
    auto r = reply(timeout);
    return r.empty() ? std::string() : r.back();
  }
  // Sends one command and answers its reply's last line.
  std::string cmd(const std::string& line) {
    send(line + "\r\n");
    return last_line();
  }

  // Whether the server closes the connection within the timeout (reading and dropping bytes).
  bool closed_by_server(std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (!buffer_.empty()) {
        buffer_.clear();
        continue;
      }
      int got = fill(deadline);
      if (got == 0) return true;
      if (got < 0) return false;
    }
  }

  bool start_tls() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }

 private:
  std::optional<std::string> read_line(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      auto crlf = buffer_.find("\r\n");
      if (crlf != std::string::npos) {
        auto line = buffer_.substr(0, crlf);
        buffer_.erase(0, crlf + 2);
        return line;
      }
      if (fill(deadline) <= 0) return std::nullopt;
    }
  }

  // Reads what is there: >0 bytes read, 0 closed, -1 timeout.
  int fill(std::chrono::steady_clock::time_point deadline) {
    char buf[65536];
    if (!(ssl_ && SSL_pending(ssl_) > 0)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return -1;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) return -1;
    }
    long n = ssl_ ? SSL_read(ssl_, buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    buffer_.append(buf, static_cast<std::size_t>(n));
    return static_cast<int>(n);
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// A directory of its own under the temp dir, removed at the end.
struct temp_dir {
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("flowtrack-smtp-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name, const std::string& content) const {
    auto p = (path / name).string();
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  std::filesystem::path path;
};

// Waits for `condition` until `timeout`; answers whether it came true.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string text_of(std::size_t bytes) {
  std::string out;
  while (out.size() + 100 <= bytes) out += std::string(98, 'x') + "\r\n";
  return out;
}

class smtp_server_test : public ::testing::Test {
 protected:
  server_options options() {
    server_options o;
    o.listen = config::endpoint{"127.0.0.1", 0};
    o.hostname = "mx.flowtrack.test";
    return o;
  }
  void start(server_options o) {
    srv_ = std::make_unique<server>(std::move(o), handler_);
    auto started = srv_->start();
    ASSERT_TRUE(started.ok()) << started.err().message;
  }
  // A connected client past the greeting and EHLO.
  std::unique_ptr<client> greeted() {
    auto c = std::make_unique<client>(srv_->port());
    EXPECT_TRUE(c->connected());
    EXPECT_EQ(c->last_line().substr(0, 4), "220 ");
    auto ehlo = c->cmd("EHLO client.test");
    EXPECT_EQ(ehlo.substr(0, 4), "250 ");
    return c;
  }
  std::string swaks(const std::string& args) {
    auto r = test::run_command("swaks --server 127.0.0.1:" + std::to_string(srv_->port()) + " --timeout 20 " + args);
    last_swaks_exit_ = r.exit_code;
    return r.out + r.err;
  }
  // A self-signed certificate for localhost, made with the openssl CLI.
  std::pair<std::string, std::string> certificate() {
    auto cert = (dir_.path / "cert.pem").string(), key = (dir_.path / "key.pem").string();
    auto r = test::run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " +
                               test::shell_quote(key) + " -out " + test::shell_quote(cert));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return {cert, key};
  }

  test_handler handler_;
  temp_dir dir_;
  std::unique_ptr<server> srv_;
  int last_swaks_exit_ = -1;
};

TEST_F(smtp_server_test, swaks_delivers_a_message_with_a_received_header) {
  start(options());
  auto data = dir_.file("message.eml", "From: Sender <sender@other.test>\r\nSubject: a lead\r\n\r\nHello,\r\n.starts with a dot\r\n");
  auto out = swaks("--from sender@other.test --to lead@intake.test --data " + test::shell_quote(data));
  ASSERT_EQ(last_swaks_exit_, 0) << out;
  ASSERT_TRUE(handler_.await_messages(1, 10s));
  auto kept = handler_.messages().at(0);
  EXPECT_EQ(kept.env.mail_from.text, "sender@other.test");
  ASSERT_EQ(kept.env.recipients.size(), 1u);
  EXPECT_EQ(kept.env.recipients[0].domain, "intake.test");
  EXPECT_EQ(kept.env.client_ip, "127.0.0.1");
  EXPECT_FALSE(kept.env.tls);
  EXPECT_EQ(kept.message.rfind("Received: from ", 0), 0u) << kept.message;
  EXPECT_NE(kept.message.find("by mx.flowtrack.test (FlowTrack) with ESMTP id "), std::string::npos) << kept.message;
  EXPECT_NE(kept.message.find("\r\nSubject: a lead\r\n\r\nHello,\r\n.starts with a dot\r\n"), std::string::npos) << kept.message;
}

TEST_F(smtp_server_test, swaks_pipelines_a_transaction) {
  start(options());
  auto out = swaks("--pipeline --from sender@other.test --to a@intake.test,b@intake.test");
  ASSERT_EQ(last_swaks_exit_, 0) << out;
  EXPECT_NE(out.find("PIPELINING"), std::string::npos) << out;
  ASSERT_TRUE(handler_.await_messages(1, 10s));
  EXPECT_EQ(handler_.messages().at(0).env.recipients.size(), 2u);
}

TEST_F(smtp_server_test, swaks_over_starttls) {
  auto o = options();
  std::tie(o.tls_cert_file, o.tls_key_file) = certificate();
  start(std::move(o));
  auto out = swaks("--tls --from sender@other.test --to lead@intake.test");
  ASSERT_EQ(last_swaks_exit_, 0) << out << "(swaks --tls needs libnet-ssleay-perl)";
  ASSERT_TRUE(handler_.await_messages(1, 10s));
  auto kept = handler_.messages().at(0);
  EXPECT_TRUE(kept.env.tls);
  EXPECT_NE(kept.message.find(" with ESMTPS id "), std::string::npos) << kept.message;
}

TEST_F(smtp_server_test, a_bad_certificate_fails_start_naming_the_setting) {
  auto o = options();
  o.tls_cert_file = dir_.file("bad.pem", "not a certificate");
  o.tls_key_file = o.tls_cert_file;
  server s(std::move(o), handler_);
  auto started = s.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.err().subject, "smtp_tls_cert");
}

TEST_F(smtp_server_test, pipelined_batch_is_answered_in_order) {
  start(options());
  auto c = greeted();
  ASSERT_TRUE(c->send("MAIL FROM:<s@other.test>\r\nRCPT TO:<a@intake.test>\r\nRCPT TO:<x@stranger.test>\r\nRCPT TO:<b@intake.test>\r\nDATA\r\n"));
  EXPECT_EQ(c->last_line(), "250 2.1.0 sender ok");
  EXPECT_EQ(c->last_line(), "250 2.1.5 recipient ok");
  EXPECT_EQ(c->last_line(), "550 5.1.1 no such recipient here");
  EXPECT_EQ(c->last_line(), "250 2.1.5 recipient ok");
  EXPECT_EQ(c->last_line(), "354 End data with <CR><LF>.<CR><LF>");
  ASSERT_TRUE(c->send("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"));
  EXPECT_EQ(c->last_line(), "250 2.0.0 kept");
  EXPECT_EQ(c->last_line(), "221 2.0.0 mx.flowtrack.test closing connection");
  EXPECT_TRUE(c->closed_by_server());
  ASSERT_TRUE(handler_.await_messages(1, 10s));
  EXPECT_EQ(handler_.messages().at(0).env.recipients.size(), 2u);
}

TEST_F(smtp_server_test, a_stranger_recipient_and_a_refused_sender) {
  start(options());
  auto c = greeted();
  EXPECT_EQ(c->cmd("MAIL FROM:<spammer@blocked.test>"), "550 5.7.1 not an allowed forwarder");
  EXPECT_EQ(c->cmd("MAIL FROM:<s@other.test>"), "250 2.1.0 sender ok");
  EXPECT_EQ(c->cmd("RCPT TO:<who@stranger.test>"), "550 5.1.1 no such recipient here");
  EXPECT_EQ(c->cmd("DATA"), "554 5.5.1 no valid recipients");
}

TEST_F(smtp_server_test, oversize_data_gets_552_while_streaming) {
  auto o = options();
  o.limits.max_message_bytes = 64 * 1024;
  o.limits.max_discard_bytes = 64 * 1024;
  start(std::move(o));
  auto c = greeted();
  EXPECT_EQ(c->cmd("MAIL FROM:<s@other.test>"), "250 2.1.0 sender ok");
  EXPECT_EQ(c->cmd("RCPT TO:<a@intake.test>"), "250 2.1.5 recipient ok");
  EXPECT_EQ(c->cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>");
  std::string chunk;
  for (int i = 0; i < 100; ++i) chunk += std::string(98, 'x') + "\r\n";  // 10 KB
  // Never sends the final dot: the refusal must come while the message streams.
  std::string answer;
  for (int i = 0; i < 40 && answer.empty(); ++i) {
    if (!c->send(chunk)) break;
    answer = c->last_line(50ms);
  }
  if (answer.empty()) answer = c->last_line();
  EXPECT_EQ(answer.substr(0, 10), "552 5.3.4 ") << answer;
  EXPECT_TRUE(c->closed_by_server());
  EXPECT_TRUE(handler_.messages().empty());
}

TEST_F(smtp_server_test, long_command_line_gets_500) {
  start(options());
  auto c = greeted();
  EXPECT_EQ(c->cmd("MAIL FROM:<" + std::string(600, 'a') + "@other.test>"), "500 5.5.2 line too long (a command line is at most 512 octets)");
  EXPECT_EQ(c->cmd("NOOP"), "250 2.0.0 OK");
}

TEST_F(smtp_server_test, too_many_recipients_get_452) {
  auto o = options();
  o.limits.max_recipients = 3;
  start(std::move(o));
  auto c = greeted();
  c->cmd("MAIL FROM:<s@other.test>");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c->cmd("RCPT TO:<r" + std::to_string(i) + "@intake.test>"), "250 2.1.5 recipient ok");
  EXPECT_EQ(c->cmd("RCPT TO:<r4@intake.test>"), "452 4.5.3 too many recipients; send the rest in another transaction");
}

TEST_F(smtp_server_test, command_timeout_closes_with_421) {
  auto o = options();
  o.command_timeout = 1s;
  start(std::move(o));
  auto c = greeted();
  EXPECT_EQ(c->last_line(10s), "421 4.4.2 mx.flowtrack.test timeout exceeded; closing");
  EXPECT_TRUE(c->closed_by_server());
}

TEST_F(smtp_server_test, data_timeout_closes_a_message_that_never_ends) {
  auto o = options();
  o.data_timeout = 1s;
  start(std::move(o));
  auto c = greeted();
  c->cmd("MAIL FROM:<s@other.test>");
  c->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(c->cmd("DATA").substr(0, 4), "354 ");
  // A client trickling a line at a time still runs into the deadline for the whole message.
  std::string answer;
  for (int i = 0; i < 100 && answer.empty(); ++i) {
    ASSERT_TRUE(c->send("line\r\n"));
    answer = c->last_line(100ms);
  }
  EXPECT_EQ(answer, "421 4.4.2 mx.flowtrack.test timeout exceeded; closing");
  EXPECT_TRUE(c->closed_by_server());
  EXPECT_TRUE(handler_.messages().empty());
}

TEST_F(smtp_server_test, per_ip_connection_cap_answers_421) {
  auto o = options();
  o.max_connections_per_ip = 2;
  start(std::move(o));
  auto a = greeted(), b = greeted();
  client third(srv_->port());
  EXPECT_EQ(third.last_line(), "421 4.7.0 mx.flowtrack.test too many connections from your address; try again later");
  EXPECT_TRUE(third.closed_by_server());
  // A slot freed is a slot usable again.
  EXPECT_EQ(a->cmd("QUIT").substr(0, 4), "221 ");
  EXPECT_TRUE(a->closed_by_server());
  bool admitted = false;
  for (auto deadline = std::chrono::steady_clock::now() + 10s; !admitted && std::chrono::steady_clock::now() < deadline;) {
    client again(srv_->port());
    admitted = again.last_line().substr(0, 4) == "220 ";
  }
  EXPECT_TRUE(admitted);
}

TEST_F(smtp_server_test, total_connection_cap_answers_421) {
  auto o = options();
  o.max_connections = 1;
  start(std::move(o));
  auto a = greeted();
  client second(srv_->port());
  EXPECT_EQ(second.last_line(), "421 4.7.0 mx.flowtrack.test too many connections; try again later");
  EXPECT_EQ(srv_->connections(), 1u);
}

TEST_F(smtp_server_test, commands_pipelined_behind_starttls_are_discarded) {
  auto o = options();
  std::tie(o.tls_cert_file, o.tls_key_file) = certificate();
  start(std::move(o));
  client c(srv_->port());
  EXPECT_EQ(c.last_line().substr(0, 4), "220 ");
  ASSERT_TRUE(c.send("EHLO client.test\r\n"));
  auto ehlo = c.reply();
  ASSERT_FALSE(ehlo.empty());
  EXPECT_EQ(ehlo.back(), "250 STARTTLS");
  ASSERT_TRUE(c.send("STARTTLS\r\nMAIL FROM:<injected@other.test>\r\n"));
  EXPECT_EQ(c.last_line(), "220 2.0.0 ready to start TLS");
  ASSERT_TRUE(c.start_tls());
  EXPECT_EQ(c.cmd("RCPT TO:<a@intake.test>"), "503 5.5.1 send EHLO or HELO first");
  ASSERT_TRUE(c.send("EHLO client.test\r\n"));
  auto again = c.reply();
  ASSERT_FALSE(again.empty());
  for (const auto& l : again) EXPECT_EQ(l.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(c.cmd("RCPT TO:<a@intake.test>"), "503 5.5.1 need MAIL before RCPT");
  EXPECT_EQ(handler_.sender_checks.load(), 0) << "the injected MAIL FROM reached the handler";
}

TEST_F(smtp_server_test, a_failing_handler_gets_451_and_nothing_is_kept) {
  start(options());
  handler_.set_mode(test_handler::mode::fail);
  auto c = greeted();
  c->cmd("MAIL FROM:<s@other.test>");
  c->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(c->cmd("DATA").substr(0, 4), "354 ");
  ASSERT_TRUE(c->send("Subject: x\r\n\r\nbody\r\n.\r\n"));
  EXPECT_EQ(c->last_line(), "451 4.3.0 storage unavailable");
  EXPECT_TRUE(handler_.messages().empty());
  EXPECT_EQ(c->cmd("RCPT TO:<a@intake.test>"), "503 5.5.1 need MAIL before RCPT") << "the transaction is over";
}

TEST_F(smtp_server_test, a_throwing_handler_gets_451_and_the_session_goes_on) {
  start(options());
  handler_.set_mode(test_handler::mode::throws);
  auto c = greeted();
  c->cmd("MAIL FROM:<s@other.test>");
  c->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(c->cmd("DATA").substr(0, 4), "354 ");
  ASSERT_TRUE(c->send("body\r\n.\r\n"));
  EXPECT_EQ(c->last_line(), "451 4.3.0 internal error; try again later");
  handler_.set_mode(test_handler::mode::keep);
  c->cmd("MAIL FROM:<s@other.test>");
  c->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(c->cmd("DATA").substr(0, 4), "354 ");
  ASSERT_TRUE(c->send("second\r\n.\r\n"));
  EXPECT_EQ(c->last_line(), "250 2.0.0 kept");
  ASSERT_EQ(handler_.messages().size(), 1u);
  EXPECT_NE(handler_.messages()[0].message.find("\r\nsecond\r\n"), std::string::npos);
}

TEST_F(smtp_server_test, a_handler_that_never_answers_gets_451_after_the_deadline) {
  auto o = options();
  o.handler_timeout = 1s;
  start(std::move(o));
  handler_.set_mode(test_handler::mode::never);
  auto c = greeted();
  c->cmd("MAIL FROM:<s@other.test>");
  c->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(c->cmd("DATA").substr(0, 4), "354 ");
  ASSERT_TRUE(c->send("body\r\n.\r\n"));
  EXPECT_EQ(c->last_line(10s), "451 4.4.1 no answer in time; try again later");
  EXPECT_EQ(c->cmd("NOOP"), "250 2.0.0 OK") << "the session goes on";
}

TEST_F(smtp_server_test, stop_answers_idle_sessions_421_and_lets_a_message_finish) {
  start(options());
  auto idle = greeted();
  auto busy = greeted();
  busy->cmd("MAIL FROM:<s@other.test>");
  busy->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(busy->cmd("DATA").substr(0, 4), "354 ");
  ASSERT_TRUE(busy->send("Subject: x\r\n\r\nfirst half\r\n"));
  std::thread stopper([this] { srv_->stop(10s); });
  EXPECT_EQ(idle->last_line(), "421 4.3.2 mx.flowtrack.test service shutting down; try again later");
  EXPECT_TRUE(idle->closed_by_server());
  ASSERT_TRUE(busy->send("second half\r\n.\r\n"));
  EXPECT_EQ(busy->last_line(), "250 2.0.0 kept");
  EXPECT_EQ(busy->cmd("MAIL FROM:<s@other.test>"), "421 4.3.2 mx.flowtrack.test service shutting down; try again later");
  stopper.join();
  ASSERT_EQ(handler_.messages().size(), 1u);
  EXPECT_NE(handler_.messages()[0].message.find("first half\r\nsecond half\r\n"), std::string::npos);
}

// smtp_max_buffered_bytes: 10000 bytes for all sessions (the two clients share 127.0.0.1, whose
// share is at least one largest message: the whole budget here).
TEST_F(smtp_server_test, a_message_beyond_the_shared_budget_gets_452_until_the_first_is_answered) {
  auto o = options();
  o.limits.max_message_bytes = 10000;
  o.max_buffered_bytes = 10000;
  start(std::move(o));
  handler_.set_mode(test_handler::mode::never);
  auto first = greeted(), second = greeted();
  EXPECT_EQ(first->cmd("MAIL FROM:<s@other.test> SIZE=6000").substr(0, 4), "250 ");
  first->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(first->cmd("DATA").substr(0, 4), "354 ");
  ASSERT_TRUE(first->send(text_of(6000) + ".\r\n"));
  ASSERT_TRUE(eventually([&] { return handler_.parked() == 1; })) << "the first message is with the handler";
  EXPECT_EQ(srv_->buffered_bytes(), 6000u);

  EXPECT_EQ(second->cmd("MAIL FROM:<s@other.test> SIZE=6000").substr(0, 4), "250 ");
  second->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(second->cmd("DATA"), "452 4.3.1 insufficient system storage; try again later");
  // Without SIZE the room is taken as the text arrives: it runs out mid-message.
  EXPECT_EQ(second->cmd("RSET"), "250 2.0.0 OK");
  second->cmd("MAIL FROM:<s@other.test>");
  second->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(second->cmd("DATA").substr(0, 4), "354 ");
  ASSERT_TRUE(second->send(text_of(8000) + ".\r\n"));
  EXPECT_EQ(second->last_line(), "452 4.3.1 insufficient system storage; try again later");
  EXPECT_EQ(srv_->buffered_bytes(), 6000u);

  handler_.answer_parked(reply{250, "2.0.0", "kept"});
  EXPECT_EQ(first->last_line(), "250 2.0.0 kept");
  ASSERT_TRUE(eventually([&] { return srv_->buffered_bytes() == 0; }));
  handler_.set_mode(test_handler::mode::keep);
  second->cmd("MAIL FROM:<s@other.test> SIZE=6000");
  second->cmd("RCPT TO:<a@intake.test>");
  EXPECT_EQ(second->cmd("DATA").substr(0, 4), "354 ");
  ASSERT_TRUE(second->send(text_of(6000) + ".\r\n"));
  EXPECT_EQ(second->last_line(), "250 2.0.0 kept");
  ASSERT_EQ(handler_.messages().size(), 1u) << "the cut message was never handed over";
  EXPECT_NE(handler_.messages()[0].message.find(text_of(6000)), std::string::npos);
  EXPECT_NE(metrics::global().render().find("flowtrack_smtp_insufficient_storage_total 2"), std::string::npos)
      << metrics::global().render();
  EXPECT_TRUE(eventually([&] { return srv_->buffered_bytes() == 0; }));
}

TEST_F(smtp_server_test, the_budget_returns_to_zero_after_clients_leave_mid_data) {
  auto o = options();
  o.handler_timeout = 3s;
  o.data_timeout = 3s;
  start(std::move(o));
  handler_.set_mode(test_handler::mode::never);
  {
    auto sized = greeted(), unsized = greeted(), delivered = greeted(), slow = greeted();
    sized->cmd("MAIL FROM:<s@other.test> SIZE=500000");
    unsized->cmd("MAIL FROM:<s@other.test>");
    delivered->cmd("MAIL FROM:<s@other.test>");
    slow->cmd("MAIL FROM:<s@other.test> SIZE=1000");
    for (auto* c : {sized.get(), unsized.get(), delivered.get(), slow.get()}) {
      c->cmd("RCPT TO:<a@intake.test>");
      EXPECT_EQ(c->cmd("DATA").substr(0, 4), "354 ");
    }
    ASSERT_TRUE(sized->send(text_of(100000)));
    ASSERT_TRUE(unsized->send(text_of(100000)));
    ASSERT_TRUE(delivered->send(text_of(5000) + ".\r\n"));  // then the client leaves while the handler works
    ASSERT_TRUE(eventually([&] { return handler_.parked() == 1 && srv_->buffered_bytes() >= 500000 + 100000 + 5000; }))
        << srv_->buffered_bytes();
    // Two clients leave mid-DATA, long before any timeout: their bytes are given back at once.
    sized.reset();
    unsized.reset();
    EXPECT_TRUE(eventually([&] { return srv_->buffered_bytes() < 100000; }, 1500ms)) << srv_->buffered_bytes();
    // One left while its message is with the handler: given back once the deadline answers.
    delivered.reset();
    // `slow` stays connected and runs into the DATA timeout.
    EXPECT_EQ(slow->last_line(10s), "421 4.4.2 mx.flowtrack.test timeout exceeded; closing");
  }
  EXPECT_TRUE(eventually([&] { return srv_->buffered_bytes() == 0; })) << srv_->buffered_bytes() << " bytes still held";
  EXPECT_TRUE(eventually([&] { return srv_->connections() == 0; }));
  EXPECT_TRUE(handler_.messages().empty());
}

}  // namespace
}  // namespace flowtrack::smtp
