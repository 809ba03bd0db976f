// The HTTP/1.1 server on Boost.Beast: keep-alive, size limits, header/body timeouts, a
// connection limit, request ids, graceful shutdown. Routes are a handler handed in; the server
// knows nothing of FlowTrack's routes, SQL or actors.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include "config/settings.hpp"
#include "runtime/error.hpp"

namespace flowtrack::http {

namespace bhttp = boost::beast::http;
using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

/// Sends the response to a request. Call it exactly once, from any thread.
using responder = std::function<void(response&&)>;
/// What the server knows of a request beyond its text.
struct request_info {
  std::string client_ip;   ///< the peer's address
  std::string request_id;  ///< also sent back as X-Request-Id
};
/// Handles one request; may answer later, from another thread, through the responder.
using handler = std::function<void(request&&, const request_info&, responder)>;

/// Server limits.
struct server_options {
  config::endpoint listen{"127.0.0.1", 8080};
  std::size_t header_limit = 16 * 1024;
  std::size_t body_limit = 1024 * 1024;
  std::chrono::milliseconds header_timeout{10000};  ///< to receive a whole header
  std::chrono::milliseconds body_timeout{30000};    ///< to receive a whole body
  std::chrono::milliseconds idle_timeout{60000};    ///< keep-alive wait for the next request
  std::size_t max_connections = 10000;
  int threads = 1;
  /// Names a request's route for metrics and the access log ("form", "hooks"; few distinct
  /// values, since each is a metric series); unset: "other".
  std::function<std::string(std::string_view path)> route_of;
};

/// A JSON response in FlowTrack's one error shape: {"error":{"code","message","fields":[...]}}.
response json_error(bhttp::status status, std::string_view code, std::string_view message,
                    const std::vector<std::pair<std::string, std::string>>& fields = {});

/// A JSON response with the given body.
response json_response(bhttp::status status, std::string body);

/// The server. A HEAD request gets the GET answer's header without the body. Every response is counted in `flowtrack_http_requests_total` and
/// `flowtrack_http_request_duration_seconds` (by route and status) and written to the access
/// log (spdlog, info, logger "access").
class server {
 public:
  server(server_options opts, handler h);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and starts the I/O threads; port 0 picks a free port.
  result<void> start();
  /// The port it listens on (after start).
  std::uint16_t port() const { return port_; }
  /// Stops accepting, lets requests in flight finish (up to `grace`), closes everything.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  /// Open connections right now.
  std::size_t connections() const { return open_->load(); }

 private:
  struct session_registry;
  void do_accept();

  server_options opts_;
  handler handler_;
  using work_guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  boost::asio::io_context io_;
  std::unique_ptr<work_guard> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::shared_ptr<std::atomic<std::size_t>> open_ = std::make_shared<std::atomic<std::size_t>>(0);
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<session_registry> sessions_;
  bool stopped_ = false;
};

}  // namespace flowtrack::http
