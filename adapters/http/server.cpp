#include "adapters/http/server.hpp"

#include <list>
#include <mutex>
#include <random>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"

namespace flowtrack::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

response json_response(bhttp::status status, std::string body) {
  response res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response json_error(bhttp::status status, std::string_view code, std::string_view message,
                    const std::vector<std::pair<std::string, std::string>>& fields) {
  boost::json::array f;
  for (const auto& [field, msg] : fields) f.push_back(boost::json::object{{"field", field}, {"message", msg}});
  boost::json::object err{{"code", code}, {"message", message}, {"fields", std::move(f)}};
  return json_response(status, boost::json::serialize(boost::json::object{{"error", std::move(err)}}));
}

namespace {

// Request ids: a per-process random prefix and a counter; cheap and unique enough to grep.
std::string next_request_id() {
  static const std::string prefix = [] {
    std::random_device rd;
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", rd());
    return std::string(buf);
  }();
  static std::atomic<std::uint64_t> counter{0};
  return prefix + "-" + std::to_string(++counter);
}

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id)
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& socket, const server_options& opts, const handler& h,
          std::shared_ptr<std::atomic<std::size_t>> open, std::shared_ptr<std::atomic<bool>> stopping)
      : stream_(std::move(socket)), opts_(opts), handler_(h), open_(std::move(open)), stopping_(std::move(stopping)) {
    ++*open_;
  }
  ~session() { --*open_; }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      auto peer = self->stream_.socket().remote_endpoint(ec);
      if (!ec) self->client_ip_ = peer.address().to_string();
      self->do_read(self->opts_.idle_timeout);
    });
  }

  // Rejects a connection over the limit with a 503 and closes it.
  void reject_busy() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      auto res = json_error(bhttp::status::service_unavailable, "unavailable",
                            "too many open connections; retry shortly");
      res.set(bhttp::field::retry_after, "1");
      self->send(std::move(res), /*keep_alive=*/false, next_request_id());
    });
  }

  // Closes the connection if it sits between requests (used at shutdown).
  void close_if_idle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.close();
      }
    });
  }

 private:
  void do_read(std::chrono::milliseconds wait) {
    idle_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts_.header_limit));
    parser_->body_limit(opts_.body_limit);
    if (stopping_->load()) return close();
    // The first byte may take the idle time; the whole header must then arrive within the
    // header timeout, so a client trickling bytes cannot hold the connection.
    if (buffer_.size() > 0) return read_header();
    stream_.expires_after(wait);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->on_read_error(ec, /*in_header=*/true);
      self->buffer_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    idle_ = false;
    started_ = std::chrono::steady_clock::now();
    stream_.expires_never();
    arm(opts_.header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    deadline_.cancel();
    if (ec) return on_read_error(ec, /*in_header=*/true);
    if (parser_->is_done()) return dispatch_request();
    arm(opts_.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->deadline_.cancel();
                        if (ec) return self->on_read_error(ec, /*in_header=*/false);
                        self->dispatch_request();
                      });
  }

  // A started header or a body must arrive by the deadline. tcp_stream's own timeout would
  // close the socket; this timer cancels the read instead, so the client still gets its 408.
  void arm(std::chrono::milliseconds limit) {
    timed_out_ = false;
    deadline_.expires_after(limit);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // the read finished first
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  void on_read_error(beast::error_code ec, bool in_header) {
    std::string id = next_request_id();
    if (timed_out_) {
      timed_out_ = false;
      return send(json_error(bhttp::status::request_timeout, "timeout",
                             in_header ? "the request header did not arrive in time" : "the request body did not arrive in time"),
                  false, id);
    }
    // Waiting for a request's first byte timed out, the client left, or shutdown: close quietly.
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout)
      return close();
    if (ec == bhttp::error::body_limit)
      return send(json_error(bhttp::status::payload_too_large, "too_large",
                             "the request body exceeds " + std::to_string(opts_.body_limit) + " bytes"),
                  false, id);
    if (ec == bhttp::error::header_limit)
      return send(json_error(bhttp::status::request_header_fields_too_large, "too_large",
                             "the request header exceeds " + std::to_string(opts_.header_limit) + " bytes"),
                  false, id);
    if (ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::error::broken_pipe)
      return close();
    return send(json_error(bhttp::status::bad_request, "invalid", "malformed HTTP request: " + ec.message()), false, id);
  }

  void dispatch_request() {
    request req = parser_->release();
    auto given = req["X-Request-Id"];
    std::string id = acceptable_request_id(given) ? std::string(given) : next_request_id();
    bool keep_alive = req.keep_alive() && !stopping_->load();
    method_ = std::string(req.method_string());
    head_ = req.method() == bhttp::verb::head;
    target_ = std::string(req.target());
    route_ = route_of(target_);
    // Nothing is read while the handler works; the timer would otherwise cut a slow handler.
    stream_.expires_never();
    auto self = shared_from_this();
    responder reply = [self, keep_alive, id](response&& res) {
      asio::post(self->stream_.get_executor(), [self, keep_alive, id, res = std::move(res)]() mutable {
        self->send(std::move(res), keep_alive, id);
      });
    };
    try {
      handler_(std::move(req), request_info{client_ip_, id}, std::move(reply));
    } catch (const std::exception& e) {
      spdlog::error("http: handler failed for {} {}: {}", method_, target_, e.what());
      send(json_error(bhttp::status::internal_server_error, "internal", "internal error; it was logged"), false, id);
    }
  }

  void send(response&& res, bool keep_alive, const std::string& id) {
    res.set("X-Request-Id", id);
    res.keep_alive(keep_alive && !stopping_->load());
    res.prepare_payload();
    if (head_) {  // HEAD: the GET answer's header, Content-Length included, and no body
      auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    record(res.result_int(), id);
    auto msg = std::make_shared<response>(std::move(res));
    stream_.expires_after(opts_.body_timeout);
    bhttp::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (!msg->keep_alive()) return self->linger_close();
      self->target_.clear();
      self->head_ = false;
      self->started_ = {};
      self->do_read(self->opts_.idle_timeout);
    });
  }

  std::string route_of(std::string_view target) const {
    auto path = target.substr(0, target.find('?'));
    return opts_.route_of ? opts_.route_of(path) : std::string("other");
  }

  // Metrics and the access log for one response (a request that never fully arrived counts
  // under the route its target names, or "none").
  void record(unsigned status, const std::string& id) {
    static auto& requests = metrics::global().counters("flowtrack_http_requests_total",
                                                       "HTTP responses sent, by route and status.", {"route", "status"});
    static auto& latency = metrics::global().histograms(
        "flowtrack_http_request_duration_seconds", "From a request's first byte to its response, by route and status.",
        {"route", "status"});
    auto now = std::chrono::steady_clock::now();
    if (started_ == std::chrono::steady_clock::time_point{}) started_ = now;
    double seconds = std::chrono::duration<double>(now - started_).count();
    std::string route = target_.empty() ? "none" : route_;
    metrics::labels labels{route, std::to_string(status)};
    requests.at(labels).add();
    latency.at(labels).observe(seconds);
    static auto access = [] {
      auto existing = spdlog::get("access");
      if (existing) return existing;
      auto l = spdlog::default_logger()->clone("access");
      spdlog::register_logger(l);
      return l;
    }();
    if (access->should_log(spdlog::level::info))
      access->info("{} \"{} {}\" {} {:.3f}ms id={}", client_ip_, method_, target_, status, seconds * 1e3, id);
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  // Closes after an answer that ends the connection, such as a 413 sent while the client is still
  // writing its body. Closing at once would make the kernel answer the unread bytes with a reset,
  // and the client would lose the answer; so stop sending, read and drop what still arrives for a
  // short while, then close (nginx's lingering close).
  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return stream_.close();
    stream_.expires_after(k_linger);
    drain();
  }

  void drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(64 * 1024), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->stream_.close();  // the client closed, or the linger time is up
      self->drain();
    });
  }

  static constexpr std::chrono::seconds k_linger{2};

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const server_options& opts_;
  const handler& handler_;
  std::shared_ptr<std::atomic<std::size_t>> open_;
  std::shared_ptr<std::atomic<bool>> stopping_;
  asio::steady_timer deadline_{stream_.get_executor()};
  bool timed_out_ = false;
  bool head_ = false;  ///< the request in hand is a HEAD
  std::chrono::steady_clock::time_point started_;
  std::string method_, target_, route_, client_ip_;
  bool idle_ = true;
};

}  // namespace

// Weak handles on live sessions, so shutdown can close idle keep-alive connections.
struct server::session_registry {
  std::mutex mutex;
  std::list<std::weak_ptr<session>> sessions;
  void add(const std::shared_ptr<session>& s) {
    std::lock_guard lock(mutex);
    sessions.remove_if([](const std::weak_ptr<session>& w) { return w.expired(); });
    sessions.push_back(s);
  }
  void close_idle() {
    std::lock_guard lock(mutex);
    for (auto& w : sessions)
      if (auto s = w.lock()) s->close_if_idle();
  }
};

server::server(server_options opts, handler h)
    : opts_(std::move(opts)),
      handler_(std::move(h)),
      acceptor_(asio::make_strand(io_)),
      sessions_(std::make_unique<session_registry>()) {}

server::~server() { stop(std::chrono::milliseconds(0)); }

result<void> server::start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(opts_.listen.host, ec);
  if (ec) return make_error(error_code::invalid, "http_listen: '" + opts_.listen.host + "' is not an IP address", "http_listen");
  tcp::endpoint ep{address, opts_.listen.port};
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(error_code::unavailable, "cannot listen on " + opts_.listen.to_string() + ": " + ec.message(),
                      "http_listen");
  port_ = acceptor_.local_endpoint().port();
  // Keeps the I/O threads running while a handler works on an answer after the acceptor closed
  // (at shutdown nothing else may be pending, and run() would return before the answer is sent).
  work_ = std::make_unique<work_guard>(io_.get_executor());
  do_accept();
  for (int i = 0; i < std::max(1, opts_.threads); ++i) threads_.emplace_back([this] { io_.run(); });
  return {};
}

void server::do_accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      spdlog::warn("http: accept failed: {}", ec.message());
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      bool over = open_->load() >= opts_.max_connections;
      auto s = std::make_shared<session>(std::move(socket), opts_, handler_, open_, stopping_);
      if (over) {
        s->reject_busy();
      } else {
        sessions_->add(s);
        s->start();
      }
    }
    do_accept();
  });
}

void server::stop(std::chrono::milliseconds grace) {
  if (stopped_) return;
  stopped_ = true;
  stopping_->store(true);
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  // Requests in flight finish and are answered with Connection: close; idle ones are closed.
  auto deadline = std::chrono::steady_clock::now() + grace;
  do {
    sessions_->close_idle();
    if (open_->load() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  work_.reset();
  io_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace flowtrack::http
