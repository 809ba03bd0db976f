// The HTTP/1.1 server on Boost.Beast: keep-alive, RFC 9112 checks, size limits, header/body
// timeouts, connection limits (total and per peer), a budget of buffered body bytes, accept
// back-off, the client address behind trusted proxies, request ids, graceful shutdown, request
// bodies read as the handler consumes them and responses sent as they are produced (chunked),
// both with back-pressure. Routes are a handler handed in; the server knows nothing of
// FlowTrack's routes, SQL or actors.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>

#include "config/settings.hpp"
#include "runtime/error.hpp"

namespace flowtrack::http {

namespace bhttp = boost::beast::http;
using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

using request_head = bhttp::request_header<>;

/// Sends the response to a request. Call it exactly once, from any thread.
using responder = std::function<void(response&&)>;

/// The bytes a streamed request body is read in: what one such request holds against
/// server_options::max_buffered_body_bytes.
inline constexpr std::size_t k_body_piece = 64 * 1024;

/// A request body read as the handler consumes it (admission::stream_body). Nothing of the body
/// is read from the client until the handler asks for a piece, so a handler that processes each
/// piece before it asks for the next bounds what the request holds, and TCP makes a fast client
/// wait (back-pressure). body_timeout applies to each piece, not to the whole body.
class body_stream {
 public:
  struct piece {
    std::string bytes;  ///< at most k_body_piece bytes; empty only when `last`
    bool last = false;  ///< the body ends with this piece
  };
  using read_handler = std::function<void(result<piece>)>;
  virtual ~body_stream() = default;
  /// Asks for the next piece; `then` runs once, on an I/O thread (it must not block: hand work
  /// to a pool). An error when the client left, the piece did not arrive within body_timeout,
  /// the body exceeds the route's limit or its chunked framing is malformed (the server answers
  /// 408, 413 or 400 itself, or closes: the handler's answer is then ignored), or when the
  /// request was answered already. One read at a time; after the last piece a read gets an
  /// empty last piece again.
  virtual void read(read_handler then) = 0;
};

/// A body already in memory, handed out in k_body_piece pieces (`then` runs at once, on the
/// caller's thread): for handlers called outside a server, e.g. by tests.
std::shared_ptr<body_stream> buffered_body_stream(std::string body);

/// An answer whose body is sent while it is produced (HTTP/1.1 chunked transfer coding; to an
/// HTTP/1.0 client the body is delimited by closing the connection), in place of the responder.
/// Back-pressure: every call's `then` runs once the server is done with it (the header or the
/// chunk is on the socket, or the stream ended); make the next call only then, so that one chunk
/// at a time is held. Calls may come from any thread; `then` runs on an I/O thread and must not
/// block (hand the next page's work to a pool).
class response_stream {
 public:
  /// true: go on (write the next chunk, or finish). false: stop producing: the client left or
  /// took more than body_timeout to take a chunk, the request was a HEAD (only the header is
  /// sent, and the response is complete), or the request was answered otherwise.
  using next = std::function<void(bool more)>;
  using trailer_fields = std::vector<std::pair<std::string, std::string>>;
  virtual ~response_stream() = default;
  /// Sends the header: `head`'s status and fields (its body is ignored; Transfer-Encoding:
  /// chunked replaces any Content-Length). This is the request's answer: a responder call after
  /// it is ignored, and a start after the responder was called gets false.
  virtual void start(response head, next then) = 0;
  /// Sends one chunk; an empty one is skipped.
  virtual void write(std::string chunk, next then) = 0;
  /// Ends the body with its last chunk, carrying `trailers` (name them in the head's Trailer
  /// field); the connection then takes its next request (keep-alive). Ignored after a false.
  virtual void finish(trailer_fields trailers) = 0;
  /// Ends the response without its last chunk and closes the connection, so that the client
  /// sees a truncated transfer, never a short body that looks complete (e.g. a database error
  /// mid-stream). Ignored after a false.
  virtual void abort() = 0;
};

/// A response_stream that gathers the body and answers through `reply` at finish (trailers as
/// header fields; abort: 500); `then` runs at once, on the caller's thread. No bound on what it
/// holds: for handlers called outside a server, e.g. by tests.
std::shared_ptr<response_stream> buffered_response_stream(responder reply);

/// What the server knows of a request beyond its text.
struct request_info {
  std::string client_ip;   ///< the client: the TCP peer, or the address a trusted proxy forwarded for
  std::string request_id;  ///< also sent back as X-Request-Id
  /// What the admission step found (server_options::admit), e.g. the intake a token names;
  /// empty when it found nothing or there is no admission step.
  std::string admitted;
  /// Set when the admission step asked for a streamed body (admission::stream_body): the body is
  /// read from here, and the request's own body is empty.
  std::shared_ptr<body_stream> body = nullptr;
  /// Answers with a streamed body instead of the responder; null when the handler is called
  /// outside a server.
  std::shared_ptr<response_stream> stream = nullptr;
};

/// A route's decision on a request head (method, target, headers) before its body is read.
struct admission {
  /// Set: the request is answered with this at once. A body not read yet is never read, and the
  /// connection is closed after the answer.
  std::optional<response> refusal;
  /// Otherwise the body is read and the handler gets this as request_info::admitted.
  std::string admitted;
  /// The body is not buffered: the handler is called once the head is admitted and reads the
  /// body through request_info::body as it consumes it (up to the route's limit). Only the piece
  /// being read counts against max_buffered_body_bytes. An answer given before the whole body
  /// was read closes the connection after it.
  bool stream_body = false;

  static admission admit(std::string found = {}) { return admission{std::nullopt, std::move(found), false}; }
  /// Admits with a streamed body (see stream_body).
  static admission admit_streamed(std::string found = {}) { return admission{std::nullopt, std::move(found), true}; }
  static admission refuse(response r) { return admission{std::move(r), {}, false}; }
};
/// Whether the head declares a Content-Length above `limit` (a malformed one is left to the
/// body reader): an admission step refuses such a body before a byte of it is read.
bool declares_more_than(const request_head& head, std::size_t limit);

/// Takes the admission decision. Call it exactly once, from any thread; later calls are ignored.
using admission_callback = std::function<void(admission)>;
/// The admission step: runs on the server's I/O thread once a request head has arrived, before a
/// byte of the body is read or held against the body budget. It must not block: an answer that
/// needs I/O (a database look-up) comes later through `done`, from any thread. `head` and `info`
/// are valid only during the call; copy what a later answer needs. An exception is answered 500.
using admitter = std::function<void(const request_head& head, const request_info& info, admission_callback done)>;

/// An address range such as 10.0.0.0/8 or fd00::/8 (a bare address is a /32 or /128).
struct ip_network {
  boost::asio::ip::address base;
  int prefix = 0;
  /// Nullopt when `text` is not an address with an optional /prefix.
  static std::optional<ip_network> parse(std::string_view text);
  /// Whether `a` lies in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
  bool contains(const boost::asio::ip::address& a) const;
};

/// The client a request comes from. `peer` itself, unless it lies in one of `trusted`: then
/// X-Forwarded-For (`forwarded_for`, its values joined by commas) names the client, read from
/// the right: the right-most address that is not itself trusted (a malformed entry stops the
/// walk at the last good one). Answers an address as text, an IPv4-mapped one as IPv4.
std::string client_address(const boost::asio::ip::address& peer, std::string_view forwarded_for,
                           const std::vector<ip_network>& trusted);

/// Whether a Content-Type value names the media type `type` (lower case, e.g.
/// "application/json"): compared case-insensitively, parameters such as charset ignored.
bool media_type_is(std::string_view content_type, std::string_view type);
/// Handles one request; may answer later, from another thread, through the responder.
using handler = std::function<void(request&&, const request_info&, responder)>;

/// Server limits.
struct server_options {
  config::endpoint listen{"127.0.0.1", 8080};
  std::string setting = "http_listen";  ///< the setting `listen` came from, for error messages
  std::size_t header_limit = 16 * 1024;
  std::size_t body_limit = 1024 * 1024;
  /// A route's own body limit (e.g. raw email), by path; unset or 0: body_limit.
  std::function<std::size_t(std::string_view path)> body_limit_for;
  std::chrono::milliseconds header_timeout{10000};  ///< to receive a whole header
  std::chrono::milliseconds body_timeout{30000};    ///< to receive a whole body
  std::chrono::milliseconds idle_timeout{60000};    ///< keep-alive wait for the next request
  std::size_t max_connections = 10000;
  /// Open connections from one TCP peer address; one more gets 503 with Retry-After and is closed.
  std::size_t max_connections_per_ip = 256;
  /// Request-body bytes held at once across all connections (a body being read or handled; a
  /// chunked body counts as `body_limit`, a streamed one as k_body_piece); a new body beyond it
  /// gets 503 with Retry-After.
  std::size_t max_buffered_body_bytes = 64 * 1024 * 1024;
  /// Peers whose X-Forwarded-For is believed (see client_address).
  std::vector<ip_network> trusted_proxies;
  int threads = 1;
  /// Runs on every request head before its body is read (see admitter); unset: every request is
  /// admitted. An admission not answered within body_timeout gets 503 with Retry-After.
  admitter admit;
  /// Names a request's route for metrics and the access log ("form", "hooks"; few distinct
  /// values, since each is a metric series); unset: "other".
  std::function<std::string(std::string_view path)> route_of;
};

namespace detail {
struct connection_limits;
}

/// A JSON response in FlowTrack's one error shape: {"error":{"code","message","fields":[...]}},
/// plus "field" when exactly one field is at fault.
response json_error(bhttp::status status, std::string_view code, std::string_view message,
                    const std::vector<std::pair<std::string, std::string>>& fields = {});

/// An HTML page: no caching, nosniff, a Content-Security-Policy that allows inline styles only,
/// no framing, plus `form_action` (e.g. "form-action 'self'"), and the Referrer-Policy given.
response html_page(bhttp::status status, std::string body, std::string_view form_action, std::string_view referrer_policy);

/// A JSON response with the given body.
response json_response(bhttp::status status, std::string body);

/// The server. A request head goes through the admission step (server_options::admit) before its
/// body is read or held against the budget; the admission may ask for the body to be streamed
/// to the handler (admission::stream_body; an `Expect: 100-continue` is then answered when the
/// handler first reads). A handler answers through the responder or with a streamed body
/// (request_info::stream). A HEAD request gets the GET answer's header without the body. RFC 9112: a
/// Transfer-Encoding other than `chunked`, an obs-fold header line, or a missing or repeated Host
/// (HTTP/1.1) is a 400 and closes the connection. Every response carries
/// `X-Content-Type-Options: nosniff`. Every response is counted in `flowtrack_http_requests_total` and
/// `flowtrack_http_request_duration_seconds` (by route and status) and written to the access
/// log (spdlog, info, logger "access"; a streamed answer once it ended, `stream=aborted` when it
/// was cut).
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
  /// Request-body bytes held right now against max_buffered_body_bytes.
  std::size_t buffered_body_bytes() const;

 private:
  struct session_registry;
  void do_accept();
  void on_accept_error(const boost::system::error_code& ec);

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
  std::shared_ptr<detail::connection_limits> limits_;
  boost::asio::steady_timer accept_pause_;      ///< on the acceptor's strand
  std::chrono::milliseconds accept_backoff_{0};  ///< after failed accepts: the current pause
  std::size_t accept_failures_ = 0;              ///< in a row
  bool stopped_ = false;
};

}  // namespace flowtrack::http
