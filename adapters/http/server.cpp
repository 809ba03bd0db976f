// The HTTP server's sessions, limits and accept loop, and the pure helpers it shares with routes.
#include "adapters/http/server.hpp"

#include <charconv>
#include <deque>
#include <list>
#include <mutex>
#include <random>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"

namespace flowtrack::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

response html_page(bhttp::status status, std::string body, std::string_view form_action, std::string_view referrer_policy) {
  response res{status, 11};
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'unsafe-inline'; " + std::string(form_action) + "; frame-ancestors 'none'");
  res.set("Referrer-Policy", std::string(referrer_policy));
  res.body() = std::move(body);
  return res;
}

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
  if (fields.size() == 1) err["field"] = fields.front().first;  // as the management API names the one at fault
  return json_response(status, boost::json::serialize(boost::json::object{{"error", std::move(err)}}));
}

namespace {

class buffered_body final : public body_stream {
 public:
  explicit buffered_body(std::string body) : body_(std::move(body)) {}
  void read(read_handler then) override {
    auto n = std::min(k_body_piece, body_.size() - at_);
    piece p{body_.substr(at_, n), at_ + n == body_.size()};
    at_ += n;
    then(std::move(p));
  }

 private:
  std::string body_;
  std::size_t at_ = 0;
};

class buffered_answer final : public response_stream {
 public:
  explicit buffered_answer(responder reply) : reply_(std::move(reply)) {}
  void start(response head, next then) override {
    if (head_ || done_) return then(false);
    head_ = std::move(head);
    head_->body().clear();
    then(true);
  }
  void write(std::string chunk, next then) override {
    if (!head_ || done_) return then(false);
    head_->body() += chunk;
    then(true);
  }
  void finish(trailer_fields trailers) override {
    if (!head_ || done_) return;
    done_ = true;
    for (auto& [name, value] : trailers) head_->set(name, value);
    head_->erase(bhttp::field::trailer);
    head_->prepare_payload();
    reply_(std::move(*head_));
  }
  void abort() override {
    if (!head_ || done_) return;
    done_ = true;
    reply_(json_error(bhttp::status::internal_server_error, "internal", "the response could not be completed; it was logged"));
  }

 private:
  responder reply_;
  std::optional<response> head_;
  bool done_ = false;
};

}  // namespace

std::shared_ptr<body_stream> buffered_body_stream(std::string body) { return std::make_shared<buffered_body>(std::move(body)); }

std::shared_ptr<response_stream> buffered_response_stream(responder reply) {
  return std::make_shared<buffered_answer>(std::move(reply));
}

namespace {

// An IPv4-mapped IPv6 address (a dual-stack listener's IPv4 peer) as the IPv4 address it is, so
// that limits and logs see one spelling per client.
asio::ip::address unmapped(const asio::ip::address& x) {
  return x.is_v6() && x.to_v6().is_v4_mapped() ? asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, x.to_v6())) : x;
}

}  // namespace

std::optional<ip_network> ip_network::parse(std::string_view text) {
  auto slash = text.find('/');
  boost::system::error_code ec;
  auto base = asio::ip::make_address(std::string(text.substr(0, slash)), ec);
  if (ec) return std::nullopt;
  int max = base.is_v4() ? 32 : 128, prefix = max;
  if (slash != std::string_view::npos) {
    auto bits = text.substr(slash + 1);
    auto [p, err] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (bits.empty() || err != std::errc{} || p != bits.data() + bits.size() || prefix < 0 || prefix > max) return std::nullopt;
  }
  return ip_network{base, prefix};
}

bool ip_network::contains(const asio::ip::address& a) const {
  auto net = unmapped(base), addr = unmapped(a);
  if (net.is_v4() != addr.is_v4()) return false;
  // A mapped base (::ffff:10.0.0.0/104) becomes its IPv4 network (/8).
  int bits = base.is_v6() && base.to_v6().is_v4_mapped() ? std::max(0, prefix - 96) : prefix;
  auto compare = [bits](const auto& x, const auto& y) {
    for (int i = 0; i < bits / 8; ++i)
      if (x[i] != y[i]) return false;
    if (bits % 8 == 0) return true;
    auto mask = static_cast<unsigned char>(0xFF << (8 - bits % 8));
    return (x[bits / 8] & mask) == (y[bits / 8] & mask);
  };
  return net.is_v4() ? compare(net.to_v4().to_bytes(), addr.to_v4().to_bytes())
                     : compare(net.to_v6().to_bytes(), addr.to_v6().to_bytes());
}

std::string client_address(const asio::ip::address& peer, std::string_view forwarded_for,
                           const std::vector<ip_network>& trusted) {
  auto is_trusted = [&trusted](const asio::ip::address& a) {
    for (const auto& n : trusted)
      if (n.contains(a)) return true;
    return false;
  };
  asio::ip::address client = peer;
  while (is_trusted(client) && !forwarded_for.empty()) {
    auto comma = forwarded_for.rfind(',');
    auto item = forwarded_for.substr(comma == std::string_view::npos ? 0 : comma + 1);
    forwarded_for = comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    boost::system::error_code ec;
    auto next = asio::ip::make_address(std::string(item), ec);
    if (ec) break;  // not an address: believe nothing left of it
    client = next;
  }
  return unmapped(client).to_string();
}

bool media_type_is(std::string_view content_type, std::string_view type) {
  auto essence = content_type.substr(0, content_type.find(';'));
  while (!essence.empty() && (essence.front() == ' ' || essence.front() == '\t')) essence.remove_prefix(1);
  while (!essence.empty() && (essence.back() == ' ' || essence.back() == '\t')) essence.remove_suffix(1);
  return beast::iequals(essence, type);
}

namespace detail {

// What all sessions of one server share: open connections per peer and buffered body bytes.
struct connection_limits {
  std::mutex mutex;
  std::unordered_map<std::string, std::size_t> per_peer;
  std::unordered_map<std::string, std::size_t> body_bytes_per_peer;
  std::atomic<std::size_t> buffered_body_bytes{0};

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
  // A peer may hold at most an eighth of the budget (and at least one largest body), so a few
  // connections sending nothing after their header cannot lock every other client out.
  bool try_reserve(const std::string& peer, std::size_t bytes, std::size_t budget, std::size_t body_limit) {
    std::lock_guard lock(mutex);
    auto held = buffered_body_bytes.load();
    auto& mine = body_bytes_per_peer[peer];
    if (held + bytes > budget || mine + bytes > std::max(budget / 8, body_limit)) {
      if (mine == 0) body_bytes_per_peer.erase(peer);
      return false;
    }
    mine += bytes;
    buffered_body_bytes += bytes;
    return true;
  }
  void release(const std::string& peer, std::size_t bytes) {
    std::lock_guard lock(mutex);
    buffered_body_bytes -= bytes;
    auto it = body_bytes_per_peer.find(peer);
    if (it != body_bytes_per_peer.end() && (it->second -= bytes) == 0) body_bytes_per_peer.erase(it);
  }
};

}  // namespace detail

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
  /// `peer_key` is non-empty when the connection counts against its peer's limit.
  session(tcp::socket&& socket, const server_options& opts, const handler& h, std::shared_ptr<std::atomic<std::size_t>> open,
          std::shared_ptr<std::atomic<bool>> stopping, std::shared_ptr<detail::connection_limits> limits,
          asio::ip::address peer, std::string peer_key)
      : stream_(std::move(socket)),
        opts_(opts),
        handler_(h),
        open_(std::move(open)),
        stopping_(std::move(stopping)),
        limits_(std::move(limits)),
        peer_(peer),
        peer_key_(std::move(peer_key)),
        peer_text_(peer.to_string()),
        client_ip_(peer_text_) {
    // A refused connection is on its way out: it does not count against the open connections,
    // so a flood of refusals cannot lock others out.
    if (!peer_key_.empty()) ++*open_;
  }
  ~session() {
    release_body();
    if (!peer_key_.empty()) {
      limits_->close(peer_key_);
      --*open_;
    }
  }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(self->opts_.idle_timeout); });
  }

  // Rejects a connection over a limit with a 503 and closes it.
  void reject_busy(std::string message) {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this(), message = std::move(message)] {
      self->send(busy(message), /*keep_alive=*/false, next_request_id());
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
  static response busy(const std::string& message) {
    auto res = json_error(bhttp::status::service_unavailable, "unavailable", message);
    res.set(bhttp::field::retry_after, "1");
    return res;
  }

  void do_read(std::chrono::milliseconds wait) {
    idle_ = true;
    release_body();
    body_parser_.reset();
    piece_.reset();
    stream_body_ = body_streamed_ = expect_continue_ = false;
    out_streaming_ = false;
    out_ops_.clear();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts_.header_limit));
    // The route's limit is known once the target is: set in on_header, checked there against
    // a Content-Length.
    parser_->body_limit(boost::none);
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
    parse_header();
  }

  // The header is parsed here rather than by async_read_header so that its raw bytes can be
  // checked for obs-fold, which Beast would silently join into the previous field's value. It is
  // handed to the parser whole, once its blank line has arrived: Beast keeps what it parsed of a
  // partial header, so feeding it the same bytes twice would misread them.
  void parse_header() {
    std::string_view bytes{static_cast<const char*>(buffer_.data().data()), buffer_.size()};
    auto end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (bytes.size() >= opts_.header_limit) {
        disarm();
        return on_read_error(bhttp::error::header_limit, /*in_header=*/true);
      }
      stream_.async_read_some(buffer_.prepare(8192), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
        if (ec) {
          self->disarm();
          return self->on_read_error(ec, /*in_header=*/true);
        }
        self->buffer_.commit(n);
        self->parse_header();
      });
      return;
    }
    disarm();
    auto header = bytes.substr(0, end + 4);
    beast::error_code ec;
    auto used = parser_->put(asio::buffer(header.data(), header.size()), ec);
    if (!ec && (used != header.size() || !parser_->is_header_done())) ec = bhttp::error::bad_line_ending;
    if (ec) return on_read_error(ec, /*in_header=*/true);
    bool folded = has_obs_fold(header);
    buffer_.consume(used);
    on_header(folded);
  }

  // A line of the header (after the request line's CRLF) that starts with SP or HTAB.
  static bool has_obs_fold(std::string_view header) {
    for (auto at = header.find("\r\n"); at != std::string_view::npos && at + 2 < header.size(); at = header.find("\r\n", at + 2))
      if (header[at + 2] == ' ' || header[at + 2] == '\t') return true;
    return false;
  }

  void on_header(bool folded) {
    const auto& head = parser_->get();
    method_ = std::string(head.method_string());
    target_ = std::string(head.target());
    route_ = route_of(target_);
    if (auto refusal = nonconforming(head, folded); !refusal.empty())
      return send(json_error(bhttp::status::bad_request, "invalid", refusal), false, next_request_id());
    if (!parser_->is_done()) {
      limit_ = opts_.body_limit;
      if (opts_.body_limit_for)
        if (auto own = opts_.body_limit_for(target_.substr(0, target_.find('?'))); own > 0) limit_ = own;
      parser_->body_limit(limit_);
      auto length = parser_->content_length();
      if (length && *length > limit_)
        return send(json_error(bhttp::status::payload_too_large, "too_large",
                               "the request body exceeds " + std::to_string(limit_) + " bytes"),
                    false, next_request_id());
    }
    name_request(head);
    admitted_.clear();
    if (!opts_.admit) return read_body();
    admit(head);
  }

  // The request id and the client address, known from the head (the admission step sees them).
  void name_request(const request_head& head) {
    auto given = head["X-Request-Id"];
    request_id_ = acceptable_request_id(given) ? std::string(given) : next_request_id();
    if (!opts_.trusted_proxies.empty()) {
      std::string forwarded;
      for (auto [it, end] = head.equal_range("X-Forwarded-For"); it != end; ++it) {
        if (!forwarded.empty()) forwarded += ',';
        forwarded += it->value();
      }
      client_ip_ = client_address(peer_, forwarded, opts_.trusted_proxies);
    }
  }

  // Asks the admission step about the head; nothing is read meanwhile. Its answer comes back on
  // this strand (at once when given during the call), or a 503 when it does not come in time.
  void admit(const request_head& head) {
    auto self = shared_from_this();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    admission_callback done = [self, answered](admission a) {
      if (answered->exchange(true)) return;
      asio::dispatch(self->stream_.get_executor(), [self, a = std::move(a)]() mutable { self->on_admitted(std::move(a)); });
    };
    auto generation = ++deadline_generation_;
    deadline_.expires_after(opts_.body_timeout);
    deadline_.async_wait([self, generation, answered](beast::error_code ec) {
      if (ec || generation != self->deadline_generation_ || answered->exchange(true)) return;
      spdlog::warn("http: the admission step did not answer {} {} within {} ms", self->method_, loggable_target(self->target_),
                   self->opts_.body_timeout.count());
      self->on_admitted(admission::refuse(busy("the request could not be checked in time; retry shortly")));
    });
    try {
      opts_.admit(head, request_info{client_ip_, request_id_, {}}, std::move(done));
    } catch (const std::exception& e) {
      spdlog::error("http: admission failed for {} {}: {}", method_, loggable_target(target_), e.what());
      if (!answered->exchange(true)) {
        disarm();
        send(json_error(bhttp::status::internal_server_error, "internal", "internal error; it was logged"), false, request_id_);
      }
    }
  }

  void on_admitted(admission a) {
    disarm();
    if (a.refusal) {
      // Unread body bytes would be taken for the next request: then the connection must close.
      bool keep_alive = parser_->is_done() && parser_->get().keep_alive();
      return send(std::move(*a.refusal), keep_alive, request_id_);
    }
    admitted_ = std::move(a.admitted);
    stream_body_ = a.stream_body;
    read_body();
  }

  // A body is coming: hold its bytes against the server-wide budget first (a streamed body: the
  // piece being read).
  void read_body() {
    if (!parser_->is_done()) {
      auto length = parser_->content_length();
      std::size_t bytes = length ? static_cast<std::size_t>(*length) : limit_;
      if (stream_body_) bytes = std::min(bytes, k_body_piece);
      if (!limits_->try_reserve(peer_text_, bytes, opts_.max_buffered_body_bytes, limit_))
        return send(busy("the server holds too many request bodies; retry shortly"), false, next_request_id());
      reserved_ = bytes;
    }
    if (parser_->is_done()) return dispatch_request();
    if (stream_body_) {
      // The head was parsed alone (parse_header), so no body byte has reached the parser yet and
      // it can change its body type. The handler reads the body (read_piece).
      body_parser_.emplace(std::move(*parser_));
      piece_ = std::make_unique<char[]>(k_body_piece);
      body_streamed_ = true;
      return dispatch_request();
    }
    arm(opts_.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->disarm();
                        if (ec) return self->on_read_error(ec, /*in_header=*/false);
                        self->dispatch_request();
                      });
  }

  // What RFC 9112 forbids in a request header that Beast lets through; empty when it conforms.
  static std::string nonconforming(const bhttp::request_header<>& head, bool folded) {
    if (folded) return "obsolete line folding (a header line starting with a space or tab) is not accepted";
    auto codings = head.count(bhttp::field::transfer_encoding);
    if (codings > 0) {
      auto value = head[bhttp::field::transfer_encoding];
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      if (codings > 1 || !beast::iequals(value, "chunked"))
        return "Transfer-Encoding must be exactly chunked";
      // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
      if (head.version() < 11) return "Transfer-Encoding needs HTTP/1.1";
    }
    auto hosts = head.count(bhttp::field::host);
    if (hosts > 1 || (hosts == 0 && head.version() >= 11)) return "an HTTP/1.1 request needs exactly one Host header";
    return {};
  }

  // A started header or a body must arrive by the deadline. tcp_stream's own timeout would
  // close the socket; this timer cancels the read instead, so the client still gets its 408.
  // A timer that fired just as its read finished still runs its handler: the generation tells
  // it that the read it was guarding is over, so it cannot cut the next one.
  void arm(std::chrono::milliseconds limit) {
    timed_out_ = false;
    auto generation = ++deadline_generation_;
    deadline_.expires_after(limit);
    deadline_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->deadline_generation_) return;  // the read finished first
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  void disarm() {
    ++deadline_generation_;
    deadline_.cancel();
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
                             "the request body exceeds " + std::to_string(limit_) + " bytes"),
                  false, id);
    if (ec == bhttp::error::header_limit)
      return send(json_error(bhttp::status::request_header_fields_too_large, "too_large",
                             "the request header exceeds " + std::to_string(opts_.header_limit) + " bytes"),
                  false, id);
    if (ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::error::broken_pipe)
      return close();
    // Beast's own words for what was wrong; never the request's bytes.
    return send(json_error(bhttp::status::bad_request, "invalid", "malformed HTTP request: " + ec.message()), false, id);
  }

  void dispatch_request() {
    request req;
    if (body_streamed_) {
      req.base() = body_parser_->get().base();
      // The client waits for a 100 before it sends the body: it gets one when the handler first
      // reads, i.e. once the route decided to take the body (a byte already here says it did not wait).
      expect_continue_ = req.version() >= 11 && beast::iequals(req[bhttp::field::expect], "100-continue") && buffer_.size() == 0;
    } else {
      req = parser_->release();
    }
    std::string id = request_id_;
    bool keep_alive = req.keep_alive() && !stopping_->load();
    head_ = req.method() == bhttp::verb::head;
    http10_ = req.version() < 11;
    // Nothing is read while the handler works; the timer would otherwise cut a slow handler.
    stream_.expires_never();
    auto self = shared_from_this();
    // One answer per request (the responder, a streamed answer or the server's own): a handler
    // that answered and then threw must not write twice.
    auto answered = answered_ = std::make_shared<std::atomic<bool>>(false);
    const auto serial = ++serial_;
    responder reply = [self, keep_alive, id, answered](response&& res) {
      if (answered->exchange(true)) return;
      asio::post(self->stream_.get_executor(), [self, keep_alive, id, res = std::move(res)]() mutable {
        self->answer(std::move(res), keep_alive, id);
      });
    };
    request_info info{client_ip_, id, std::move(admitted_)};
    if (body_streamed_) info.body = std::make_shared<streamed_body>(self, serial);
    info.stream = std::make_shared<chunked_answer>(self, serial, answered, keep_alive, id);
    try {
      handler_(std::move(req), info, std::move(reply));
    } catch (const std::exception& e) {
      spdlog::error("http: handler failed for {} {}: {}", method_, loggable_target(target_), e.what());
      if (!answered->exchange(true))
        send(json_error(bhttp::status::internal_server_error, "internal", "internal error; it was logged"), false, id);
    }
  }

  // The handler's answer through the responder.
  void answer(response&& res, bool keep_alive, const std::string& id) {
    // Unread bytes of a streamed body would be taken for the next request: close after it.
    if (body_streamed_ && !body_parser_->is_done()) keep_alive = false;
    send(std::move(res), keep_alive, id);
  }

  void send(response&& res, bool keep_alive, const std::string& id) {
    release_body();  // the request is answered: its body no longer counts
    res.set("X-Request-Id", id);
    res.set("X-Content-Type-Options", "nosniff");
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
      self->next_request();
    });
  }

  // After a complete answer on a keep-alive connection.
  void next_request() {
    target_.clear();
    head_ = false;
    started_ = {};
    client_ip_ = peer_.to_string();
    do_read(opts_.idle_timeout);
  }

  // ---- A streamed request body (admission::stream_body), read as the handler asks ----------

  static error body_gone(std::string why) { return make_error(error_code::unavailable, std::move(why), "body"); }

  // Runs a callback of the handler's; one that throws closes the connection (an I/O thread must
  // not unwind).
  template <class F, class... Args>
  void call_handler(const char* what, F& f, Args&&... args) {
    try {
      f(std::forward<Args>(args)...);
    } catch (const std::exception& e) {
      spdlog::error("http: a {} callback failed for {} {}: {}", what, method_, loggable_target(target_), e.what());
      answered_->store(true);
      out_streaming_ = false;
      close();
    }
  }

  void read_piece(std::uint64_t serial, body_stream::read_handler then) {
    if (serial != serial_ || !body_streamed_) return call_handler("body", then, body_gone("the request is over"));
    if (answered_->load()) return call_handler("body", then, body_gone("the request was answered; its body is no longer read"));
    if (body_reading_) return call_handler("body", then, body_gone("a read of the body is under way already"));
    if (body_parser_->is_done()) return call_handler("body", then, body_stream::piece{{}, true});
    body_reading_ = true;
    auto self = shared_from_this();
    if (expect_continue_) {
      expect_continue_ = false;
      static const std::string k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
      arm(opts_.body_timeout);
      asio::async_write(stream_, asio::buffer(k_continue), [self, serial, then = std::move(then)](beast::error_code ec, std::size_t) mutable {
        self->disarm();
        self->body_reading_ = false;
        if (!ec && !self->linger_after_read_) return self->read_piece(serial, std::move(then));
        self->on_piece(ec ? ec : beast::error_code(asio::error::operation_aborted), std::move(then));
      });
      return;
    }
    auto& body = body_parser_->get().body();
    body.data = piece_.get();
    body.size = k_body_piece;
    body.more = true;
    arm(opts_.body_timeout);
    bhttp::async_read(stream_, buffer_, *body_parser_, [self, then = std::move(then)](beast::error_code ec, std::size_t) mutable {
      self->disarm();
      self->body_reading_ = false;
      self->on_piece(ec, std::move(then));
    });
  }

  void on_piece(beast::error_code ec, body_stream::read_handler then) {
    if (ec == bhttp::error::need_buffer) ec = {};  // the piece is full
    if (linger_after_read_) {  // answered while this piece was on its way: now close
      linger_after_read_ = false;
      call_handler("body", then, body_gone("the request was answered; its body is no longer read"));
      return linger_close();
    }
    if (ec) {
      call_handler("body", then,
                   make_error(ec == bhttp::error::body_limit ? error_code::invalid : error_code::unavailable,
                              "the request body could not be read: " + ec.message(), "body"));
      if (answered_->exchange(true)) return close();  // the handler answered meanwhile (or threw)
      return on_read_error(ec, /*in_header=*/false);
    }
    const std::size_t n = k_body_piece - body_parser_->get().body().size;
    const bool last = body_parser_->is_done();
    if (last) release_body();  // nothing more is held
    call_handler("body", then, body_stream::piece{std::string(piece_.get(), n), last});
  }

  // ---- A streamed answer (request_info::stream), one chunk at a time -------------------------

  enum class out_kind { write, finish, abort };
  struct out_op {
    out_kind kind = out_kind::write;
    std::string bytes;           // a chunk's data, or the last chunk with its trailers
    response_stream::next then;  // write only
  };
  struct out_head {
    bhttp::response<bhttp::empty_body> msg;
    std::optional<bhttp::response_serializer<bhttp::empty_body>> sr;
  };

  void out_start(std::uint64_t serial, response head, bool keep_alive, const std::string& id, response_stream::next then) {
    if (serial != serial_) return call_handler("stream", then, false);
    if (!body_streamed_ || body_parser_->is_done()) release_body();
    // Unread bytes of a streamed body would be taken for the next request: close after it.
    if (body_streamed_ && !body_parser_->is_done()) keep_alive = false;
    out_raw_ = http10_;  // HTTP/1.0 knows no chunks: the close ends the body
    out_keep_alive_ = keep_alive && !stopping_->load() && !out_raw_;
    out_status_ = head.result_int();
    out_id_ = id;
    auto out = std::make_shared<out_head>();
    out->msg.base() = std::move(head.base());
    out->msg.set("X-Request-Id", id);
    out->msg.set("X-Content-Type-Options", "nosniff");
    out->msg.keep_alive(out_keep_alive_);
    if (out_raw_) {
      out->msg.erase(bhttp::field::content_length);
      out->msg.erase(bhttp::field::trailer);
    } else {
      out->msg.chunked(true);
    }
    out->sr.emplace(out->msg);
    out_streaming_ = true;
    out_writing_ = true;
    stream_.expires_after(opts_.body_timeout);
    bhttp::async_write_header(stream_, *out->sr, [self = shared_from_this(), out, then = std::move(then)](beast::error_code ec, std::size_t) mutable {
      self->out_writing_ = false;
      if (ec) {
        self->out_failed();
        return self->call_handler("stream", then, false);
      }
      if (self->head_) {  // HEAD: the header is the whole answer
        self->out_ended();
        return self->call_handler("stream", then, false);
      }
      self->call_handler("stream", then, true);
      self->pump_out();
    });
  }

  void out_enqueue(std::uint64_t serial, out_op op) {
    if (serial != serial_ || !out_streaming_) {
      if (op.then) call_handler("stream", op.then, false);
      return;
    }
    out_ops_.push_back(std::move(op));
    pump_out();
  }

  void pump_out() {
    while (out_streaming_ && !out_writing_ && !out_ops_.empty()) {
      out_op op = std::move(out_ops_.front());
      out_ops_.pop_front();
      if (op.kind == out_kind::abort) return out_aborted();
      if (op.kind == out_kind::write && op.bytes.empty()) {
        call_handler("stream", op.then, true);
        continue;
      }
      if (op.kind == out_kind::finish && out_raw_) return out_ended();
      auto data = std::make_shared<std::string>(std::move(op.bytes));
      out_writing_ = true;
      stream_.expires_after(opts_.body_timeout);
      auto done = [self = shared_from_this(), data, kind = op.kind, then = std::move(op.then)](beast::error_code ec, std::size_t) mutable {
        self->out_writing_ = false;
        if (ec) {
          self->out_failed();
          if (then) self->call_handler("stream", then, false);
          return;
        }
        if (kind == out_kind::finish) return self->out_ended();
        self->call_handler("stream", then, true);
        self->pump_out();
      };
      if (op.kind == out_kind::write && !out_raw_) {
        asio::async_write(stream_, bhttp::make_chunk(asio::buffer(*data)), std::move(done));
      } else {
        asio::async_write(stream_, asio::buffer(*data), std::move(done));
      }
    }
  }

  // The stream is over: whatever the producer queued meanwhile is told to stop.
  void out_over(std::string_view note) {
    out_streaming_ = false;
    record(out_status_, out_id_, note);
    auto ops = std::move(out_ops_);
    out_ops_.clear();
    for (auto& op : ops)
      if (op.then) call_handler("stream", op.then, false);
  }

  void out_ended() {
    out_over({});
    if (out_keep_alive_ && !stopping_->load()) return next_request();
    linger_close();
  }

  // The producer gave up (e.g. a database error): no last chunk, so the client sees the cut.
  void out_aborted() {
    out_over("stream=aborted");
    close();
  }

  // The client left, or did not take a chunk within body_timeout.
  void out_failed() {
    out_over("stream=failed");
    close();
  }

  void release_body() {
    if (reserved_ > 0) limits_->release(peer_text_, reserved_);
    reserved_ = 0;
  }

  std::string route_of(std::string_view target) const {
    auto path = target.substr(0, target.find('?'));
    return opts_.route_of ? opts_.route_of(path) : std::string("other");
  }

  // Metrics and the access log for one response (a request that never fully arrived counts
  // under the route its target names, or "none").
  void record(unsigned status, const std::string& id, std::string_view note = {}) {
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
      access->info("{} \"{} {}\" {} {:.3f}ms id={}{}{}", client_ip_, method_, loggable_target(target_), status, seconds * 1e3, id,
                   note.empty() ? "" : " ", note);
  }

  // A tracking link's token lets its holder unsubscribe the lead: the log keeps only its kind.
  static std::string loggable_target(const std::string& target) {
    if (target.starts_with("/t/") && target.size() > 4) return target.substr(0, 5) + "<token>";
    return target;
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
    if (body_reading_) {  // a piece of a streamed body is on its way: end that read first (on_piece)
      linger_after_read_ = true;
      beast::error_code ignored;
      stream_.socket().cancel(ignored);
      return;
    }
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return stream_.close();
    stream_.expires_after(peer_key_.empty() ? k_refused_linger : k_linger);
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
  static constexpr std::chrono::milliseconds k_refused_linger{200};  ///< a refused connection sent little or nothing

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const server_options& opts_;
  const handler& handler_;
  std::shared_ptr<std::atomic<std::size_t>> open_;
  std::shared_ptr<std::atomic<bool>> stopping_;
  std::shared_ptr<detail::connection_limits> limits_;
  asio::ip::address peer_;
  std::string peer_key_;     ///< set when this connection counts against its peer's limit
  const std::string peer_text_;  ///< the TCP peer's address: its share of the body budget
  std::size_t reserved_ = 0;  ///< body bytes held against max_buffered_body_bytes
  std::size_t limit_ = 0;     ///< this request's body limit
  asio::steady_timer deadline_{stream_.get_executor()};
  std::uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  bool head_ = false;  ///< the request in hand is a HEAD
  std::chrono::steady_clock::time_point started_;
  std::string method_, target_, route_, client_ip_;
  std::string request_id_;  ///< of the request in hand, from its head
  std::string admitted_;    ///< what the admission step found for the request in hand
  bool idle_ = true;
  bool http10_ = false;  ///< the request in hand is HTTP/1.0
  /// The request in hand got its answer (the responder, a streamed answer, or the server's own).
  std::shared_ptr<std::atomic<bool>> answered_ = std::make_shared<std::atomic<bool>>(false);
  /// Counts requests: the streams of an earlier request are ignored.
  std::uint64_t serial_ = 0;

  // A streamed request body.
  bool stream_body_ = false;    ///< the admission asked for it
  bool body_streamed_ = false;  ///< the request in hand's body is read by its handler
  bool body_reading_ = false;   ///< a piece (or the 100 Continue before it) is on its way
  bool linger_after_read_ = false;  ///< answered while a piece was on its way: close once it is in
  bool expect_continue_ = false;    ///< a 100 Continue goes before the first piece
  std::optional<bhttp::request_parser<bhttp::buffer_body>> body_parser_;  ///< took over from parser_
  std::unique_ptr<char[]> piece_;  ///< k_body_piece bytes

  // A streamed answer.
  bool out_streaming_ = false;  ///< its header went out and it has not ended
  bool out_writing_ = false;    ///< a write of it is under way
  bool out_raw_ = false;        ///< HTTP/1.0: no chunk framing
  bool out_keep_alive_ = false;
  unsigned out_status_ = 0;
  std::string out_id_;
  std::deque<out_op> out_ops_;

  // The handler's end of a streamed request body: reads go to the session's strand.
  class streamed_body final : public body_stream {
   public:
    streamed_body(std::shared_ptr<session> s, std::uint64_t serial) : s_(std::move(s)), serial_(serial) {}
    void read(read_handler then) override {
      asio::post(s_->stream_.get_executor(), [s = s_, serial = serial_, then = std::move(then)]() mutable {
        s->read_piece(serial, std::move(then));
      });
    }

   private:
    std::shared_ptr<session> s_;
    std::uint64_t serial_;
  };

  // The handler's end of a streamed answer: every call goes to the session's strand in order.
  class chunked_answer final : public response_stream {
   public:
    chunked_answer(std::shared_ptr<session> s, std::uint64_t serial, std::shared_ptr<std::atomic<bool>> answered, bool keep_alive,
                   std::string id)
        : s_(std::move(s)), serial_(serial), answered_(std::move(answered)), keep_alive_(keep_alive), id_(std::move(id)) {}

    void start(response head, next then) override {
      if (answered_->exchange(true)) {
        asio::post(s_->stream_.get_executor(), [s = s_, then = std::move(then)]() mutable { s->call_handler("stream", then, false); });
        return;
      }
      asio::post(s_->stream_.get_executor(), [s = s_, serial = serial_, head = std::move(head), keep_alive = keep_alive_, id = id_,
                                              then = std::move(then)]() mutable {
        s->out_start(serial, std::move(head), keep_alive, id, std::move(then));
      });
    }
    void write(std::string chunk, next then) override { enqueue(out_op{out_kind::write, std::move(chunk), std::move(then)}); }
    void finish(trailer_fields trailers) override {
      std::string last = "0\r\n";
      for (const auto& [name, value] : trailers) {
        if (name.find_first_of(":\r\n") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) continue;
        last += name + ": " + value + "\r\n";
      }
      last += "\r\n";
      enqueue(out_op{out_kind::finish, std::move(last), {}});
    }
    void abort() override { enqueue(out_op{out_kind::abort, {}, {}}); }

   private:
    void enqueue(out_op op) {
      asio::post(s_->stream_.get_executor(), [s = s_, serial = serial_, op = std::move(op)]() mutable { s->out_enqueue(serial, std::move(op)); });
    }
    std::shared_ptr<session> s_;
    std::uint64_t serial_;
    std::shared_ptr<std::atomic<bool>> answered_;
    bool keep_alive_;
    std::string id_;
  };
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
      sessions_(std::make_unique<session_registry>()),
      limits_(std::make_shared<detail::connection_limits>()),
      accept_pause_(acceptor_.get_executor()) {}

server::~server() { stop(std::chrono::milliseconds(0)); }

std::size_t server::buffered_body_bytes() const { return limits_->buffered_body_bytes.load(); }

result<void> server::start() {
  beast::error_code ec;
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
      return on_accept_error(ec);
    }
    if (accept_failures_ > 0) {
      spdlog::info("http: accepting again on {} after {} failed attempts", opts_.listen.to_string(), accept_failures_);
      accept_failures_ = 0;
      accept_backoff_ = {};
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto peer = unmapped(socket.remote_endpoint(ec).address());
    std::string key = peer.to_string();
    const char* refusal = nullptr;
    if (open_->load() >= opts_.max_connections) {
      refusal = "too many open connections; retry shortly";
    } else if (!limits_->try_open(key, opts_.max_connections_per_ip)) {
      refusal = "too many open connections from your address; retry shortly";
    }
    // A refused connection was not counted against its peer.
    auto s = std::make_shared<session>(std::move(socket), opts_, handler_, open_, stopping_, limits_, peer,
                                       refusal ? std::string() : key);
    if (refusal) {
      s->reject_busy(refusal);
    } else {
      sessions_->add(s);
      s->start();
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
    spdlog::warn("http: accept failed on {}: {}; pausing accepts (20 ms, doubling up to 1 s) until it works again",
                 opts_.listen.to_string(), ec.message());
  accept_pause_.expires_after(accept_backoff_);
  accept_pause_.async_wait([this](beast::error_code wait_ec) {
    if (wait_ec || !acceptor_.is_open()) return;
    do_accept();
  });
}

void server::stop(std::chrono::milliseconds grace) {
  if (stopped_) return;
  stopped_ = true;
  stopping_->store(true);
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    accept_pause_.cancel();
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

bool declares_more_than(const request_head& head, std::size_t limit) {
  auto length = head[bhttp::field::content_length];
  std::size_t n = 0;
  for (char c : length) {
    if (c < '0' || c > '9' || n > limit) break;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n > limit;
}

}  // namespace flowtrack::http
