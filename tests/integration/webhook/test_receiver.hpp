// A webhook receiver for the sender's tests: Boost.Beast on one thread of the test, listening on
// 127.0.0.1 (and ::1 when the host has it), counting connections and keeping what it was sent.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace flowtrack::test {

/// What the receiver saw of one request.
struct seen_request {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< lower-case names, in order
};

/// Waits until `ready()` holds or the deadline passes; the last value of `ready()`.
inline bool await_condition(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return ready();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

/// Answers by path: /hang reads the request and never answers (the connection stays open until
/// the receiver goes); /stall sends the status and part of the body, then nothing; /big 200 with 200 KiB; /redirect 302 to /echo; /status/<code> that code;
/// anything else 200 with "received:" + the body, X-Reply: "  padded value  " and two X-Multi
/// headers. Keeps connections alive.
class test_receiver {
 public:
  test_receiver() : v4_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    accept(v4_);
    try {
      v6_.emplace(io_, boost::asio::ip::tcp::endpoint{boost::asio::ip::make_address("::1"), 0});
      accept(*v6_);
    } catch (const std::exception&) {
      v6_.reset();  // no IPv6 loopback here
    }
    thread_ = std::thread([this] { io_.run(); });
  }
  ~test_receiver() {
    io_.stop();
    thread_.join();
  }
  test_receiver(const test_receiver&) = delete;
  test_receiver& operator=(const test_receiver&) = delete;

  int port() const { return v4_.local_endpoint().port(); }
  /// The port on ::1, or nullopt when the host has no IPv6 loopback.
  std::optional<int> v6_port() const {
    if (!v6_) return std::nullopt;
    return v6_->local_endpoint().port();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port()) + path; }

  /// Connections accepted so far, on either address.
  int accepts() const { return accepts_.load(); }
  std::vector<seen_request> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::size_t request_count() const {
    std::lock_guard lock(mutex_);
    return seen_.size();
  }

 private:
  using tcp = boost::asio::ip::tcp;
  struct session : std::enable_shared_from_this<session> {
    test_receiver* owner;
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> req;
    boost::beast::http::response<boost::beast::http::string_body> res;

    session(test_receiver* o, tcp::socket s) : owner(o), stream(std::move(s)) {}

    void read() {
      req = {};
      boost::beast::http::async_read(stream, buffer, req, [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
        if (!ec) self->answer();
      });
    }

    void answer() {
      namespace http = boost::beast::http;
      seen_request seen{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        seen.headers.emplace_back(name, std::string(f.value()));
      }
      {
        std::lock_guard lock(owner->mutex_);
        owner->seen_.push_back(seen);
      }
      std::string target(req.target());
      if (target == "/hang") {
        owner->hung_.push_back(shared_from_this());  // kept open, never answered
        return;
      }
      if (target == "/stall") {  // the status, then 10 of the 100 bytes promised, then nothing
        owner->hung_.push_back(shared_from_this());
        static const std::string partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
        boost::asio::async_write(stream, boost::asio::buffer(partial), [](boost::beast::error_code, std::size_t) {});
        return;
      }
      res = http::response<http::string_body>(http::status::ok, 11);
      res.set(http::field::content_type, "text/plain");
      if (target == "/big") {
        res.body() = std::string(200 * 1024, 'x');
      } else if (target == "/redirect") {
        res.result(http::status::found);
        res.set(http::field::location, "/echo");
      } else if (target.rfind("/status/", 0) == 0) {
        res.result(static_cast<unsigned>(std::stoi(target.substr(8))));
        res.body() = "status " + target.substr(8);
      } else {
        res.set("X-Reply", "  padded value  ");
        res.insert("X-Multi", "a");
        res.insert("X-Multi", "b");
        res.body() = "received:" + req.body();
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::async_write(stream, res, [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
        if (!ec && self->res.keep_alive()) self->read();
      });
    }
  };

  void accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([this, &acceptor](boost::beast::error_code ec, tcp::socket s) {
      if (ec) return;
      ++accepts_;
      std::make_shared<session>(this, std::move(s))->read();
      accept(acceptor);
    });
  }

  boost::asio::io_context io_;
  tcp::acceptor v4_;
  std::optional<tcp::acceptor> v6_;
  std::vector<std::shared_ptr<session>> hung_;  // the receiver thread's only
  std::atomic<int> accepts_{0};
  mutable std::mutex mutex_;
  std::vector<seen_request> seen_;
  std::thread thread_;
};

}  // namespace flowtrack::test
