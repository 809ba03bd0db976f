// The SMTP server's connections, limits, TLS and accept loop. The protocol itself is
// smtp::session; this file moves its bytes and asks the handler.
#include "adapters/smtp/server.hpp"

#include <unistd.h>

#include <array>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"

namespace flowtrack::smtp {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code_t = boost::system::error_code;

server_options options_from(const config::settings& s) {
  server_options o;
  o.listen = s.smtp_listen;
  o.hostname = s.smtp_hostname;
  o.limits.max_message_bytes = static_cast<std::size_t>(s.smtp_max_message_bytes);
  o.limits.max_discard_bytes = static_cast<std::size_t>(s.smtp_max_message_bytes);
  o.limits.max_recipients = static_cast<std::size_t>(s.smtp_max_recipients);
  o.limits.max_errors = static_cast<std::size_t>(s.smtp_max_errors);
  o.command_timeout = std::chrono::milliseconds(s.smtp_command_timeout_ms);
  o.data_timeout = std::chrono::milliseconds(s.smtp_data_timeout_ms);
  o.handler_timeout = std::chrono::milliseconds(s.smtp_handler_timeout_ms);
  o.max_connections = static_cast<std::size_t>(s.smtp_max_connections);
  o.max_connections_per_ip = static_cast<std::size_t>(s.smtp_max_connections_per_ip);
  o.max_buffered_bytes = static_cast<std::size_t>(s.smtp_max_buffered_bytes);
  o.tls_cert_file = s.smtp_tls_cert;
  o.tls_key_file = s.smtp_tls_key;
  return o;
}

namespace detail {

// What the server and all its connections share. `alive` guards posting onto the I/O context
// from a handler's thread: once the server is stopping for good, a late answer is dropped
// instead of touching an executor that is going away.
struct shared_state {
  std::mutex mutex;
  bool alive = true;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open{0};
  std::unordered_map<std::string, std::size_t> per_peer;  ///< under mutex
  std::unique_ptr<ssl::context> tls;                      ///< set when STARTTLS is offered
  std::shared_ptr<message_budget> budget;                 ///< message bytes of all sessions

  bool try_open(const std::string& peer, std::size_t max) {
    std::lock_guard lock(mutex);
    auto& n = per_peer[peer];
    if (n >= max) {
      if (n == 0) per_peer.erase(peer);
      return false;
    }
    ++n;
    return true;
  }
  void close(const std::string& peer) {
    std::lock_guard lock(mutex);
    auto it = per_peer.find(peer);
    if (it != per_peer.end() && --it->second == 0) per_peer.erase(it);
  }
};

}  // namespace detail

namespace {

// An IPv4-mapped IPv6 address as the IPv4 address it is, so limits and logs see one spelling.
asio::ip::address unmapped(const asio::ip::address& x) {
  return x.is_v6() && x.to_v6().is_v4_mapped() ? asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, x.to_v6())) : x;
}

// Message ids for logs and Received:: a per-process random prefix and a counter.
std::string next_message_id() {
  static const std::string prefix = [] {
    std::random_device rd;
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08X", rd());
    return std::string(buf);
  }();
  static std::atomic<std::uint64_t> counter{0};
  return prefix + "." + std::to_string(++counter);
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

struct smtp_metrics {
  metrics::family<metrics::counter>& messages = metrics::global().counters(
      "flowtrack_smtp_messages_total", "Messages handed to the intake handler, by its answer (accepted, deferred, rejected).", {"result"});
  metrics::family<metrics::counter>& refused = metrics::global().counters(
      "flowtrack_smtp_connections_refused_total", "SMTP connections refused at connect, by reason.", {"reason"});
  metrics::family<metrics::counter>& no_storage = metrics::global().counters(
      "flowtrack_smtp_insufficient_storage_total",
      "Messages answered 452 4.3.1 because smtp_max_buffered_bytes could not hold them.", {});
  static smtp_metrics& get() {
    static smtp_metrics m;
    return m;
  }
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  /// `peer_key` is non-empty when the connection counts against its peer's limit.
  connection(tcp::socket&& socket, const server_options& opts, const std::string& hostname, handler& h,
             std::shared_ptr<detail::shared_state> shared, std::string client_ip, std::string peer_key)
      : socket_(std::move(socket)),
        opts_(opts),
        hostname_(hostname),
        handler_(h),
        shared_(std::move(shared)),
        peer_key_(std::move(peer_key)),
        session_(opts.limits, hostname, client_ip, shared_->tls != nullptr, shared_->budget) {
    if (!peer_key_.empty()) ++shared_->open;
  }
  ~connection() {
    if (!peer_key_.empty()) {
      shared_->close(peer_key_);
      --shared_->open;
    }
  }

  void start() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      spdlog::debug("smtp: connection from {}", self->session_.current().client_ip);
      self->session_.greet();
      self->drive();
    });
  }

  void refuse(reply r) {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this(), r = std::move(r)] {
      self->session_.refuse(r);
      self->drive();
    });
  }

  // The server is stopping: an idle session is told so and closed now.
  void shut_down() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->reading_ && self->session_.shut_down()) {
        error_code_t ec;
        self->socket_.cancel(ec);  // the read ends with operation_aborted; drive() then says 421
      }
    });
  }

 private:
  // Runs the session until it needs the network or the handler.
  void drive() {
    auto next = session_.run();
    if (auto refusals = session_.storage_refusals(); refusals != storage_refusals_) {
      smtp_metrics::get().no_storage.at({}).add(refusals - storage_refusals_);
      storage_refusals_ = refusals;
      spdlog::info("smtp: {} answered 452 4.3.1: smtp_max_buffered_bytes ({}) holds no room for the message",
                   session_.current().client_ip, opts_.max_buffered_bytes);
    }
    switch (next) {
      case step::read:
        if (shared_->stopping.load() && session_.shut_down()) return drive();
        return flush_then([](connection& c) { c.do_read(); });
      case step::check_sender:
      case step::check_recipient:
      case step::deliver:
        return ask();
      case step::start_tls:
        return flush_then([](connection& c) { c.handshake(); });
      case step::close:
        return flush_then([](connection& c) { c.finish(); });
    }
  }

  template <class Next>
  void flush_then(Next next) {
    if (!session_.has_output()) return next(*this);
    auto out = std::make_shared<std::string>(session_.take_output());
    arm(opts_.command_timeout);
    auto done = [self = shared_from_this(), out, next](error_code_t ec, std::size_t) {
      self->disarm();
      if (ec) return self->close_now();
      next(*self);
    };
    if (tls_) asio::async_write(*tls_, asio::buffer(*out), std::move(done));
    else asio::async_write(socket_, asio::buffer(*out), std::move(done));
  }

  void do_read() {
    // DATA has its own deadline from the 354 on, on top of the wait for each read.
    if (session_.in_data()) {
      if (!data_deadline_) data_deadline_ = std::chrono::steady_clock::now() + opts_.data_timeout;
    } else {
      data_deadline_.reset();
    }
    auto wait = opts_.command_timeout;
    if (data_deadline_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*data_deadline_ - std::chrono::steady_clock::now());
      wait = std::max(std::chrono::milliseconds(1), std::min(wait, left));
    }
    arm(wait);
    reading_ = true;
    auto done = [self = shared_from_this()](error_code_t ec, std::size_t n) {
      self->reading_ = false;
      self->disarm();
      if (self->timed_out_) {
        self->timed_out_ = false;
        spdlog::info("smtp: {} timed out{}", self->session_.current().client_ip, self->session_.in_data() ? " in DATA" : "");
        self->session_.timed_out();
        return self->drive();
      }
      if (ec) {
        // Cancelled by shut_down(): the session holds its 421.
        if (ec == asio::error::operation_aborted && self->session_.closed()) return self->drive();
        return self->close_now();  // the client left
      }
      self->session_.receive(std::string_view(self->buf_.data(), n));
      self->drive();
    };
    if (tls_) tls_->async_read_some(asio::buffer(buf_), std::move(done));
    else socket_.async_read_some(asio::buffer(buf_), std::move(done));
  }

  // Asks the handler what the session's pending step needs; the answer comes back through
  // on_answer() on this strand, or a 451 4.4.1 when it does not come in time.
  void ask() {
    auto what = session_.run();
    auto generation = ++generation_;
    auto answered = std::make_shared<std::atomic<bool>>(false);
    std::weak_ptr<connection> weak = weak_from_this();
    auto shared = shared_;
    reply_callback done = [weak, shared, generation, answered](reply r) {
      if (answered->exchange(true)) return;
      // Declared before the lock, so released after it: when the posted answer has already run
      // on the strand, this is the last reference, and ~connection takes the same mutex.
      std::shared_ptr<connection> self;
      std::lock_guard lock(shared->mutex);
      if (!shared->alive) return;
      if ((self = weak.lock()))
        asio::post(self->socket_.get_executor(), [self, generation, r = std::move(r)]() mutable { self->on_answer(generation, std::move(r)); });
    };
    handler_deadline_.expires_after(opts_.handler_timeout);
    handler_deadline_.async_wait([self = shared_from_this(), generation](error_code_t ec) {
      if (ec || generation != self->generation_) return;
      spdlog::warn("smtp: the intake handler did not answer within {} ms ({})", self->opts_.handler_timeout.count(),
                   self->session_.current().client_ip);
      self->on_answer(generation, reply{451, "4.4.1", "no answer in time; try again later"});
    });
    try {
      switch (what) {
        case step::check_sender:
          return handler_.check_sender(session_.current(), std::move(done));
        case step::check_recipient:
          return handler_.check_recipient(session_.current(), session_.candidate(), std::move(done));
        case step::deliver: {
          message_id_ = next_message_id();
          auto body = session_.take_message();
          message_size_ = body.size();
          std::string message = received_header(session_.current(), hostname_, message_id_, std::time(nullptr));
          message.reserve(message.size() + body.size());
          message += body;
          body = {};
          return handler_.deliver(session_.current(), std::move(message), std::move(done));
        }
        default:
          return;
      }
    } catch (const std::exception& e) {
      spdlog::error("smtp: the intake handler failed: {}", e.what());
      if (!answered->exchange(true)) on_answer(generation, reply{451, "4.3.0", "internal error; try again later"});
    }
  }

  void on_answer(std::uint64_t generation, reply r) {
    if (generation != generation_) return;  // late: the deadline already answered
    ++generation_;
    handler_deadline_.cancel();
    if (session_.in_data()) log_message(r);
    session_.resolve(std::move(r));
    drive();
  }

  void log_message(const reply& r) {
    const auto& env = session_.current();
    const char* result = r.positive() ? "accepted" : r.code < 500 ? "deferred" : "rejected";
    smtp_metrics::get().messages.at({result}).add();
    spdlog::info("smtp: message {} from {} <{}> to {} recipient(s), {} octets{}: {} {}", message_id_, env.client_ip,
                 env.mail_from.text, env.recipients.size(), message_size_, env.tls ? ", TLS" : "", r.code, r.enhanced);
  }

  void handshake() {
    tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *shared_->tls);
    arm(opts_.command_timeout);
    tls_->async_handshake(ssl::stream_base::server, [self = shared_from_this()](error_code_t ec) {
      self->disarm();
      if (ec) {
        spdlog::info("smtp: TLS handshake with {} failed: {}", self->session_.current().client_ip, ec.message());
        return self->close_now();
      }
      self->session_.tls_started();
      self->drive();
    });
  }

  // The session ended: close after its last reply. A plain connection lingers briefly so a
  // client still sending (after a 552 mid-DATA) reads the reply instead of a reset.
  void finish() {
    error_code_t ec;
    if (tls_) {
      arm(std::chrono::seconds(1));
      tls_->async_shutdown([self = shared_from_this()](error_code_t) {
        self->disarm();
        self->close_now();
      });
      return;
    }
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    arm(std::chrono::seconds(2));
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](error_code_t ec, std::size_t) {
      if (ec) {
        self->disarm();
        return self->close_now();
      }
      self->drain();
    });
  }

  void close_now() {
    error_code_t ec;
    handler_deadline_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // A deadline for the read, write or handshake in progress: cancels it, and the generation
  // tells a timer that fired as its operation finished that it is too late.
  void arm(std::chrono::milliseconds limit) {
    timed_out_ = false;
    auto generation = ++io_generation_;
    io_deadline_.expires_after(limit);
    io_deadline_.async_wait([self = shared_from_this(), generation](error_code_t ec) {
      if (ec || generation != self->io_generation_) return;
      self->timed_out_ = true;
      error_code_t ignored;
      self->socket_.cancel(ignored);
    });
  }

  void disarm() {
    ++io_generation_;
    io_deadline_.cancel();
  }

  tcp::socket socket_;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
  const server_options& opts_;
  const std::string& hostname_;
  handler& handler_;
  std::shared_ptr<detail::shared_state> shared_;
  std::string peer_key_;
  session session_;
  std::array<char, 16 * 1024> buf_{};
  asio::steady_timer io_deadline_{socket_.get_executor()};
  asio::steady_timer handler_deadline_{socket_.get_executor()};
  std::uint64_t io_generation_ = 0;
  std::uint64_t generation_ = 0;  ///< of handler requests
  bool timed_out_ = false;
  bool reading_ = false;  ///< a read for the client's next bytes is in progress
  std::optional<std::chrono::steady_clock::time_point> data_deadline_;
  std::string message_id_;
  std::size_t message_size_ = 0;
  std::size_t storage_refusals_ = 0;  ///< of session_, already counted
};

}  // namespace

// Weak handles on live connections, so stop() can reach them.
struct server::session_registry {
  std::mutex mutex;
  std::list<std::weak_ptr<connection>> connections;
  void add(const std::shared_ptr<connection>& c) {
    std::lock_guard lock(mutex);
    connections.remove_if([](const std::weak_ptr<connection>& w) { return w.expired(); });
    connections.push_back(c);
  }
  void shut_down() {
    std::lock_guard lock(mutex);
    for (auto& w : connections)
      if (auto c = w.lock()) c->shut_down();
  }
};

server::server(server_options opts, handler& h)
    : opts_(std::move(opts)),
      handler_(h),
      acceptor_(asio::make_strand(io_)),
      shared_(std::make_shared<detail::shared_state>()),
      sessions_(std::make_unique<session_registry>()),
      accept_pause_(acceptor_.get_executor()) {
  if (opts_.hostname.empty()) opts_.hostname = host_name();
  shared_->budget = std::make_shared<message_budget>(opts_.max_buffered_bytes, opts_.limits.max_message_bytes);
}

server::~server() { stop(std::chrono::milliseconds(0)); }

std::size_t server::connections() const { return shared_->open.load(); }

std::size_t server::buffered_bytes() const { return shared_->budget->held(); }

result<void> server::start() {
  if (opts_.tls_cert_file.empty() != opts_.tls_key_file.empty())
    return make_error(error_code::invalid, "smtp_tls_cert and smtp_tls_key must be set together",
                      opts_.tls_cert_file.empty() ? "smtp_tls_cert" : "smtp_tls_key");
  if (!opts_.tls_cert_file.empty()) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    error_code_t ec;
    ctx->use_certificate_chain_file(opts_.tls_cert_file, ec);
    if (ec) return make_error(error_code::invalid, "smtp_tls_cert: cannot load '" + opts_.tls_cert_file + "': " + ec.message(), "smtp_tls_cert");
    ctx->use_private_key_file(opts_.tls_key_file, ssl::context::pem, ec);
    if (ec) return make_error(error_code::invalid, "smtp_tls_key: cannot load '" + opts_.tls_key_file + "': " + ec.message(), "smtp_tls_key");
    shared_->tls = std::move(ctx);
  }
  error_code_t ec;
  auto address = asio::ip::make_address(opts_.listen.host, ec);
  if (ec) return make_error(error_code::invalid, opts_.setting + ": '" + opts_.listen.host + "' is not an IP address", opts_.setting);
  tcp::endpoint ep{address, opts_.listen.port};
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(error_code::unavailable, "cannot listen on " + opts_.listen.to_string() + " (" + opts_.setting + "): " + ec.message(),
                      opts_.setting);
  port_ = acceptor_.local_endpoint().port();
  std::weak_ptr<detail::shared_state> weak = shared_;
  metrics::global().gauge("flowtrack_smtp_sessions_open", "Open SMTP connections.", {}, [weak] {
    auto s = weak.lock();
    return std::vector<metrics::gauge_reading>{{{}, s ? static_cast<double>(s->open.load()) : 0.0}};
  });
  metrics::global().gauge("flowtrack_smtp_buffered_bytes", "Message bytes held by SMTP sessions against smtp_max_buffered_bytes.", {},
                          [weak] {
                            auto s = weak.lock();
                            return std::vector<metrics::gauge_reading>{{{}, s ? static_cast<double>(s->budget->held()) : 0.0}};
                          });
  work_ = std::make_unique<work_guard>(io_.get_executor());
  do_accept();
  for (int i = 0; i < std::max(1, opts_.threads); ++i) threads_.emplace_back([this] { io_.run(); });
  spdlog::info("smtp: listening on {}:{}{}", opts_.listen.host, port_, shared_->tls ? " (STARTTLS offered)" : "");
  return {};
}

void server::do_accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](error_code_t ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      return on_accept_error(ec);
    }
    if (accept_failures_ > 0) {
      spdlog::info("smtp: accepting again on {} after {} failed attempts", opts_.listen.to_string(), accept_failures_);
      accept_failures_ = 0;
      accept_backoff_ = {};
    }
    // Replies are small writes: without this, Nagle's algorithm holds one back until the client's
    // delayed ACK (~40 ms), which dominated the end-of-DATA-to-250 time.
    socket.set_option(tcp::no_delay(true), ec);
    auto peer = unmapped(socket.remote_endpoint(ec).address());
    std::string key = peer.to_string();
    const char* reason = nullptr;
    if (shared_->open.load() >= opts_.max_connections) reason = "total";
    else if (!shared_->try_open(key, opts_.max_connections_per_ip)) reason = "per_ip";
    // A refused connection does not count against its peer or the total.
    auto c = std::make_shared<connection>(std::move(socket), opts_, opts_.hostname, handler_, shared_, key,
                                          reason ? std::string() : key);
    if (reason) {
      smtp_metrics::get().refused.at({reason}).add();
      spdlog::info("smtp: refused a connection from {}: too many connections ({})", key, reason);
      c->refuse(reply{421, "4.7.0", opts_.hostname + (std::string_view(reason) == "total" ? " too many connections; try again later"
                                                                                     : " too many connections from your address; try again later")});
    } else {
      sessions_->add(c);
      c->start();
    }
    do_accept();
  });
}

// An accept that fails for lack of resources (EMFILE, ENFILE, ENOBUFS) leaves the connection in
// the backlog, so accepting again at once would fail again at full speed: pause, doubling the
// pause up to a second while it keeps failing, and log once per episode.
void server::on_accept_error(const boost::system::error_code& ec) {
  accept_backoff_ = accept_backoff_.count() == 0 ? std::chrono::milliseconds(20)
                                                 : std::min<std::chrono::milliseconds>(accept_backoff_ * 2, std::chrono::seconds(1));
  if (accept_failures_++ == 0)
    spdlog::warn("smtp: accept failed on {}: {}; pausing accepts (20 ms, doubling up to 1 s) until it works again",
                 opts_.listen.to_string(), ec.message());
  accept_pause_.expires_after(accept_backoff_);
  accept_pause_.async_wait([this](error_code_t wait_ec) {
    if (wait_ec || !acceptor_.is_open()) return;
    do_accept();
  });
}

void server::stop(std::chrono::milliseconds grace) {
  if (stopped_) return;
  stopped_ = true;
  shared_->stopping.store(true);
  if (!threads_.empty()) {
    asio::post(acceptor_.get_executor(), [this] {
      error_code_t ec;
      accept_pause_.cancel();
      acceptor_.close(ec);
    });
    // Idle sessions get 421 now; one in DATA or waiting for the handler finishes its message.
    auto deadline = std::chrono::steady_clock::now() + grace;
    do {
      sessions_->shut_down();
      if (shared_->open.load() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
  }
  {
    std::lock_guard lock(shared_->mutex);
    shared_->alive = false;
  }
  work_.reset();
  io_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace flowtrack::smtp
