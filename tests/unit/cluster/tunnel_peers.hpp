// Test peers for the cluster tunnel: an echo target that counts its connections, a client with
// deadlines on every operation, a listener that never answers, and waiting for a condition.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace flowtrack::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

/// Waits until `ok()` holds or `within` passed; true when it holds.
inline bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds within = 10s) {
  auto until = std::chrono::steady_clock::now() + within;
  while (!ok()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);  // polling interval of the await, not synchronisation
  }
  return true;
}

/// Echoes every byte on 127.0.0.1:port(); when a client half-closes, answers "<eof>" and
/// half-closes too, so a client can tell that its EOF arrived.
class echo_target {
 public:
  echo_target() {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::address_v4::loopback(), 0});
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~echo_target() {
    asio::post(io_, [this] { acceptor_.close(); });
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_.load(); }

 private:
  struct session : std::enable_shared_from_this<session> {
    explicit session(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    std::array<char, 32 * 1024> buf{};
    void read() {
      sock.async_read_some(asio::buffer(buf), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
        if (ec == asio::error::eof) {
          asio::async_write(self->sock, asio::buffer(std::string_view("<eof>")), [self](boost::system::error_code, std::size_t) {
            boost::system::error_code ignored;
            self->sock.shutdown(tcp::socket::shutdown_send, ignored);
          });
          return;
        }
        if (ec) return;
        asio::async_write(self->sock, asio::buffer(self->buf.data(), n), [self](boost::system::error_code ec, std::size_t) {
          if (!ec) self->read();
        });
      });
    }
  };
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      ++accepted_;
      std::make_shared<session>(std::move(s))->read();
      accept();
    });
  }
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  tcp::acceptor acceptor_{io_};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

/// Accepts connections on 127.0.0.1 and never sends or reads a byte.
class silent_listener {
 public:
  silent_listener() {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::address_v4::loopback(), 0});
    acceptor_.listen();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};  // the kernel completes handshakes in the backlog
};

/// A port on 127.0.0.1 where nothing listens (bound, then released).
inline std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::address_v4::loopback(), 0});
  return a.local_endpoint().port();
}

/// A TCP client whose every operation has a deadline.
class client {
 public:
  /// Connects to 127.0.0.1:port; false on failure.
  bool connect(std::uint16_t port, std::chrono::milliseconds within = 5s) {
    bool ok = false;
    sock_.async_connect({asio::ip::address_v4::loopback(), port}, [&](boost::system::error_code ec) { ok = !ec; });
    return run(within) && ok;
  }
  bool write(const std::string& data, std::chrono::milliseconds within = 10s) {
    bool ok = false;
    asio::async_write(sock_, asio::buffer(data), [&](boost::system::error_code ec, std::size_t) { ok = !ec; });
    return run(within) && ok;
  }
  /// Exactly n bytes, or nullopt (EOF, error or deadline).
  std::optional<std::string> read(std::size_t n, std::chrono::milliseconds within = 10s) {
    std::string out(n, '\0');
    bool ok = false;
    asio::async_read(sock_, asio::buffer(out), [&](boost::system::error_code ec, std::size_t) { ok = !ec; });
    if (!run(within) || !ok) return std::nullopt;
    return out;
  }
  /// Everything until the peer's EOF; nullopt on an error other than EOF or the deadline.
  /// `reset_ok`: a reset counts as the end too.
  std::optional<std::string> read_to_end(std::chrono::milliseconds within = 10s, bool reset_ok = false) {
    std::string out;
    std::optional<bool> ok;
    read_more(out, ok, reset_ok);
    if (!run(within) || !ok || !*ok) return std::nullopt;
    return out;
  }
  /// Writes `data`, half-closes and reads until EOF, concurrently (so both directions stream).
  std::optional<std::string> exchange(const std::string& data, std::chrono::milliseconds within = 60s) {
    std::string out;
    std::optional<bool> read_ok;
    bool write_ok = false;
    asio::async_write(sock_, asio::buffer(data), [&](boost::system::error_code ec, std::size_t) {
      write_ok = !ec;
      boost::system::error_code ignored;
      sock_.shutdown(tcp::socket::shutdown_send, ignored);
    });
    read_more(out, read_ok, false);
    if (!run(within) || !write_ok || !read_ok || !*read_ok) return std::nullopt;
    return out;
  }
  void shutdown_send() {
    boost::system::error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_send, ignored);
  }
  /// Closes with a TCP reset (linger 0), as a killed process would.
  void kill() {
    boost::system::error_code ignored;
    sock_.set_option(asio::socket_base::linger(true, 0), ignored);
    sock_.close(ignored);
  }
  tcp::socket& socket() { return sock_; }

 private:
  void read_more(std::string& out, std::optional<bool>& ok, bool reset_ok) {
    sock_.async_read_some(asio::buffer(buf_), [this, &out, &ok, reset_ok](boost::system::error_code ec, std::size_t n) {
      out.append(buf_.data(), n);
      if (ec == asio::error::eof || (reset_ok && ec == asio::error::connection_reset)) return void(ok = true);
      if (ec) return void(ok = false);
      read_more(out, ok, reset_ok);
    });
  }
  // Runs the pending operations; false (and the socket closed) when the deadline passed first.
  bool run(std::chrono::milliseconds within) {
    io_.restart();
    io_.run_for(within);
    if (io_.stopped()) return true;
    boost::system::error_code ignored;
    sock_.close(ignored);
    io_.restart();
    io_.run();  // let the aborted handlers finish: they refer to this frame's locals
    return false;
  }
  asio::io_context io_;
  tcp::socket sock_{io_};
  std::array<char, 64 * 1024> buf_{};
};

}  // namespace flowtrack::test
