// The cluster tunnel: PSK derivation, the TLS 1.3 PSK handshake driven on non-blocking sockets,
// and the per-connection splice. Knows nothing of CAF: it connects sockets.
#include "adapters/cluster/tunnel.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"

namespace flowtrack::cluster {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// The secret and the key.

result<void> validate_secret(std::string_view secret) {
  if (secret.size() < k_min_secret_length)
    return make_error(error_code::invalid,
                      "FLOWTRACK_CLUSTER_SECRET must be at least " + std::to_string(k_min_secret_length) +
                          " characters (it has " + std::to_string(secret.size()) +
                          "); set the same random value on every node, e.g. the output of `openssl rand -base64 32`",
                      "FLOWTRACK_CLUSTER_SECRET");
  return {};
}

psk derive_psk(std::string_view secret) {
  static constexpr std::string_view salt = "flowtrack cluster psk v1";
  psk key{};
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()), secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(k_psk_identity.data()), k_psk_identity.size()),
      OSSL_PARAM_construct_end()};
  bool ok = ctx && EVP_KDF_derive(ctx, key.data(), key.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  // Only a broken OpenSSL install fails here; a zero key would silently "work" between such nodes.
  if (!ok) throw std::runtime_error("cluster tunnel: HKDF-SHA256 is not available from OpenSSL");
  return key;
}

std::string_view to_string(failure f) {
  switch (f) {
    case failure::wrong_secret: return "wrong_secret";
    case failure::not_a_peer: return "not_a_peer";
    case failure::timeout: return "timeout";
    case failure::unreachable: return "unreachable";
    case failure::io_error: return "io_error";
  }
  return "io_error";
}

std::string_view to_string(probe_result::status s) {
  switch (s) {
    case probe_result::status::ok: return "ok";
    case probe_result::status::refused: return "refused";
    case probe_result::status::unreachable: return "unreachable";
    case probe_result::status::timeout: return "timeout";
  }
  return "unreachable";
}

namespace {

// ---------------------------------------------------------------------------------------------
// OpenSSL: the contexts, the PSK callbacks and a socket BIO that never raises SIGPIPE.

enum class side { server, dialer };

std::string_view side_name(side s) { return s == side::server ? "server" : "dialer"; }

struct ssl_ctx_free {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct ssl_free {
  void operator()(SSL* s) const { SSL_free(s); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_free>;
using ssl_ptr = std::unique_ptr<SSL, ssl_free>;

// The key hangs off the SSL_CTX in an ex_data slot of our own (Asio keeps its callbacks in the
// app_data slots).
int psk_slot() {
  static const int slot = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

const psk& key_of(SSL* ssl) { return *static_cast<const psk*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), psk_slot())); }

// TLS_AES_128_GCM_SHA256: its hash (SHA-256) is the PSK's.
constexpr unsigned char k_cipher_id[2] = {0x13, 0x01};

SSL_SESSION* psk_session(SSL* ssl) {
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, k_cipher_id);
  SSL_SESSION* s = SSL_SESSION_new();
  const psk& key = key_of(ssl);
  if (!s || !cipher || !SSL_SESSION_set1_master_key(s, key.data(), key.size()) || !SSL_SESSION_set_cipher(s, cipher) ||
      !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
    SSL_SESSION_free(s);
    return nullptr;
  }
  return s;
}

int use_psk(SSL* ssl, const EVP_MD* md, const unsigned char** id, std::size_t* id_len, SSL_SESSION** session) {
  *session = nullptr;
  if (md && EVP_MD_get_type(md) != NID_sha256) return 1;  // after a HelloRetryRequest for another hash: no PSK
  *session = psk_session(ssl);
  if (!*session) return 0;
  *id = reinterpret_cast<const unsigned char*>(k_psk_identity.data());
  *id_len = k_psk_identity.size();
  return 1;
}

int find_psk(SSL* ssl, const unsigned char* id, std::size_t id_len, SSL_SESSION** session) {
  *session = nullptr;
  // An unknown identity gets no PSK; with no certificate to fall back on, the handshake fails.
  if (std::string_view(reinterpret_cast<const char*>(id), id_len) != k_psk_identity) return 1;
  *session = psk_session(ssl);
  return *session ? 1 : 0;
}

ssl_ctx_ptr make_context(side s, const psk* key) {
  ssl_ctx_ptr ctx(SSL_CTX_new(s == side::server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return nullptr;
  SSL_CTX* c = ctx.get();
  bool ok = SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) == 1 && SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256") == 1 && SSL_CTX_set_num_tickets(c, 0) == 1 &&
            SSL_CTX_set_ex_data(c, psk_slot(), const_cast<psk*>(key)) == 1;
  if (!ok) return nullptr;
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (s == side::server) {
    SSL_CTX_set_psk_find_session_callback(c, find_psk);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_psk_use_session_callback(c, use_psk);
    // No trust store: a server that answers with a certificate instead of the PSK is refused.
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

// What the socket BIO reads: the descriptor and whether the peer closed it.
struct bio_socket {
  int fd = -1;
  bool eof = false;
};

int bio_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  auto* s = static_cast<bio_socket*>(BIO_get_data(b));
  ssize_t n = ::send(s->fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
    return -1;
  }
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  auto* s = static_cast<bio_socket*>(BIO_get_data(b));
  ssize_t n = ::recv(s->fd, data, static_cast<std::size_t>(len), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_read(b);
    return -1;
  }
  if (n == 0) s->eof = true;
  return static_cast<int>(n);
}

long bio_ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_EOF: return static_cast<bio_socket*>(BIO_get_data(b))->eof ? 1 : 0;
    default: return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* socket_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "flowtrack cluster socket");
    BIO_meth_set_write(x, bio_write);
    BIO_meth_set_read(x, bio_read);
    BIO_meth_set_ctrl(x, bio_ctrl);
    BIO_meth_set_create(x, bio_create);
    return x;
  }();
  return m;
}

// A new SSL on `fd` (non-blocking), reading through `state` (which must outlive it).
ssl_ptr make_ssl(SSL_CTX* ctx, side s, bio_socket& state) {
  ssl_ptr ssl(SSL_new(ctx));
  BIO* bio = ssl ? BIO_new(socket_method()) : nullptr;
  if (!bio) return nullptr;
  BIO_set_data(bio, &state);
  SSL_set_bio(ssl.get(), bio, bio);
  if (s == side::server)
    SSL_set_accept_state(ssl.get());
  else
    SSL_set_connect_state(ssl.get());
  return ssl;
}

std::string describe(const tcp::endpoint& e) {
  auto a = e.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a.is_v6() ? "[" + a.to_string() + "]:" + std::to_string(e.port()) : a.to_string() + ":" + std::to_string(e.port());
}

std::string describe(const endpoint& e) { return e.host + ":" + std::to_string(e.port); }

struct handshake_failure {
  failure kind;
  std::string reason;
};

// Why SSL_do_handshake failed, from its error and the thread's OpenSSL error queue.
handshake_failure classify(int ssl_error, side s) {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (ssl_error == SSL_ERROR_SYSCALL || e == 0)
    return {failure::io_error, "the connection closed during the TLS handshake"};
  int reason = ERR_GET_REASON(e);
  const char* text = ERR_reason_error_string(e);
  std::string what = text ? text : "TLS error " + std::to_string(reason);
  switch (reason) {
    case SSL_R_BINDER_DOES_NOT_VERIFY:  // server: the client's key differs
      return {failure::wrong_secret, "wrong cluster secret? (the peer's PSK binder does not verify)"};
    // Dialer: the server could not verify our binder. OpenSSL 3.0 answers a bad binder with
    // illegal_parameter; RFC 8446 (4.2.11) says decrypt_error.
    case SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
      return {failure::wrong_secret, "refused by the remote node: wrong cluster secret? (" + what + ")"};
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return {failure::io_error, "the connection closed during the TLS handshake"};
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return {failure::not_a_peer, "the remote is not a cluster node: it offered a certificate, not the cluster PSK"};
    default:
      break;
  }
  if (s == side::server) return {failure::not_a_peer, "not a cluster peer (no TLS 1.3 with the cluster PSK): " + what};
  return {failure::not_a_peer, "the remote refused the handshake (not a cluster tunnel, or another version?): " + what};
}

using handshake_done = std::function<void(std::optional<handshake_failure>)>;

// Drives SSL_do_handshake on the non-blocking `sock` until it completes or fails; `done` runs once.
// A handshake that completed without the PSK (a certificate-based one) is a failure.
void drive_handshake(SSL* ssl, tcp::socket& sock, side s, handshake_done done) {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    if (SSL_session_reused(ssl) != 1) return done(handshake_failure{failure::not_a_peer, "the handshake did not use the cluster PSK"});
    return done(std::nullopt);
  }
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    sock.async_wait(e == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
                    [ssl, &sock, s, done = std::move(done)](const boost::system::error_code& ec) mutable {
                      if (ec) return done(handshake_failure{failure::io_error, ec.message()});
                      drive_handshake(ssl, sock, s, std::move(done));
                    });
    return;
  }
  done(classify(e, s));
}

// Process-wide series; open connections are summed over every server and dialer.
struct tunnel_metrics {
  metrics::family<metrics::counter>& refused = metrics::global().counters(
      "flowtrack_cluster_tunnel_refused_total", "Cluster tunnel connections refused or failed before splicing.", {"side", "reason"});
  metrics::family<metrics::counter>& established = metrics::global().counters(
      "flowtrack_cluster_tunnel_established_total", "Cluster tunnel connections authenticated and spliced.", {"side"});
  std::atomic<std::int64_t> open_server{0}, open_dialer{0};

  tunnel_metrics() {
    metrics::global().gauge("flowtrack_cluster_tunnels_open", "Cluster tunnel connections being handshaken or spliced.", {"side"},
                            [this] {
                              return std::vector<metrics::gauge_reading>{
                                  {{"server"}, static_cast<double>(open_server.load())},
                                  {{"dialer"}, static_cast<double>(open_dialer.load())}};
                            });
  }
  static tunnel_metrics& get() {
    static tunnel_metrics m;
    return m;
  }
  std::atomic<std::int64_t>& open(side s) { return s == side::server ? open_server : open_dialer; }
};

}  // namespace

namespace detail {

class connection;

// One listener, its I/O thread and its connections. Everything but stats() and stop() runs on
// the I/O thread, so connections need no locks.
class tunnel_core {
 public:
  tunnel_core(side s, psk key, tunnel_options options, endpoint remote, std::uint16_t target_port)
      : side_(s), key_(key), options_(std::move(options)), remote_(std::move(remote)), target_port_(target_port) {}
  ~tunnel_core() { stop(); }

  result<void> open(const endpoint& where);
  void stop();
  std::uint16_t port() const { return port_; }
  tunnel_stats stats() const {
    return {established_.load(), refused_.load(), static_cast<std::uint64_t>(open_.load())};
  }

  // For connections, on the I/O thread.
  side role() const { return side_; }
  SSL_CTX* context() const { return ctx_.get(); }
  const tunnel_options& options() const { return options_; }
  const endpoint& remote() const { return remote_; }
  std::uint16_t target_port() const { return target_port_; }
  asio::io_context& io() { return io_; }
  const std::string& listen_name() const { return listen_name_; }
  void refuse(const std::string& peer, handshake_failure f);
  void count_established() {
    ++established_;
    tunnel_metrics::get().established.at({std::string(side_name(side_))}).add();
  }
  void opened() {
    ++open_;
    ++tunnel_metrics::get().open(side_);
  }
  void closed(std::uint64_t id, bool handshaking) {
    --open_;
    --tunnel_metrics::get().open(side_);
    if (handshaking) --handshaking_;
    connections_.erase(id);
  }
  void handshake_over() { --handshaking_; }

 private:
  void accept();

  side side_;
  psk key_;
  tunnel_options options_;
  endpoint remote_;
  std::uint16_t target_port_;
  ssl_ctx_ptr ctx_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  tcp::acceptor acceptor_{io_};
  asio::steady_timer accept_retry_{io_};
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::string listen_name_;
  std::uint64_t next_id_ = 0;
  std::size_t handshaking_ = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<connection>> connections_;
  std::atomic<std::uint64_t> established_{0}, refused_{0};
  std::atomic<std::int64_t> open_{0};
  std::chrono::steady_clock::time_point log_window_{};
  int log_count_ = 0;
  std::uint64_t log_suppressed_ = 0;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

// One tunnel connection: a TLS socket to the other node and a plain socket to the local side
// (the BASP target on a server, CAF's connection on a dialer).
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(tunnel_core& core, std::uint64_t id, tcp::socket accepted)
      : core_(core),
        id_(id),
        tls_(core.io()),
        plain_(core.io()),
        timer_(core.io()),
        up_(core.options().buffer_bytes),
        down_(core.options().buffer_bytes) {
    (core.role() == side::server ? tls_ : plain_) = std::move(accepted);
  }
  ~connection() = default;

  void start() {
    core_.opened();
    if (core_.role() == side::server) {
      boost::system::error_code ec;
      peer_ = describe(tls_.remote_endpoint(ec));
      start_handshake();
    } else {
      peer_ = describe(core_.remote());
      dial();
    }
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    resolver_.reset();
    tls_.close(ignored);
    plain_.close(ignored);
    core_.closed(id_, !handshake_over_);
  }

 private:
  // Dialer: the remote node, with a connect timeout.
  void dial() {
    arm_timer(core_.options().connect_timeout, "no TCP connection within ");
    resolver_ = std::make_unique<tcp::resolver>(core_.io());
    resolver_->async_resolve(core_.remote().host, std::to_string(core_.remote().port),
                             [self = shared_from_this()](const boost::system::error_code& ec, tcp::resolver::results_type found) {
                               if (self->closed_ || self->refused_) return;
                               if (ec) return self->fail({failure::unreachable, "cannot resolve: " + ec.message()});
                               asio::async_connect(self->tls_, found, [self](const boost::system::error_code& ec, const tcp::endpoint&) {
                                 if (self->closed_ || self->refused_) return;
                                 if (ec) return self->fail({failure::unreachable, "cannot connect: " + ec.message()});
                                 self->start_handshake();
                               });
                             });
  }

  void start_handshake() {
    arm_timer(core_.options().handshake_timeout, "no TLS handshake within ");
    boost::system::error_code ec;
    tls_.non_blocking(true, ec);
    if (!ec) tls_.set_option(tcp::no_delay(true), ec);
    if (!ec) tls_.set_option(asio::socket_base::keep_alive(true), ec);
    bio_.fd = tls_.native_handle();
    if (!ec) ssl_ = make_ssl(core_.context(), core_.role(), bio_);
    if (ec || !ssl_) return fail({failure::io_error, "cannot set up TLS: " + (ec ? ec.message() : std::string("SSL_new failed"))});
    drive_handshake(ssl_.get(), tls_, core_.role(), [self = shared_from_this()](std::optional<handshake_failure> f) {
      if (self->closed_ || self->refused_) return;
      if (f) return self->fail(std::move(*f));
      if (self->core_.role() == side::server)
        self->connect_target();
      else
        self->splice();
    });
  }

  // Server: the BASP port on loopback, only now that the peer proved the key.
  void connect_target() {
    arm_timer(core_.options().connect_timeout, "the local target accepted no connection within ");
    tcp::endpoint target(asio::ip::address_v4::loopback(), core_.target_port());
    plain_.async_connect(target, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (self->closed_ || self->refused_) return;
      if (ec)
        return self->fail({failure::unreachable, "the local target 127.0.0.1:" + std::to_string(self->core_.target_port()) +
                                                     " refused: " + ec.message()});
      self->splice();
    });
  }

  void arm_timer(std::chrono::milliseconds after, std::string what) {
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), what = std::move(what), after](const boost::system::error_code& ec) {
      if (ec || self->closed_ || self->refused_) return;
      self->fail({failure::timeout, what + std::to_string(after.count()) + " ms"});
    });
  }

  // Closed first, so that stats() are final when the refusal handler runs.
  void fail(handshake_failure f) {
    refused_ = true;
    close();
    core_.refuse(peer_, std::move(f));
  }

  void splice() {
    timer_.cancel();
    handshake_over_ = true;
    core_.handshake_over();
    core_.count_established();
    boost::system::error_code ec;
    plain_.set_option(tcp::no_delay(true), ec);
    read_plain();
    read_tls();
  }

  // plain -> TLS
  void read_plain() {
    plain_.async_read_some(asio::buffer(up_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      if (self->closed_) return;
      if (ec == asio::error::eof) return self->send_close_notify();
      if (ec) return self->close();
      self->up_len_ = n;
      self->up_at_ = 0;
      self->write_tls();
    });
  }

  void write_tls() {
    while (up_at_ < up_len_) {
      ERR_clear_error();
      std::size_t n = 0;
      int r = SSL_write_ex(ssl_.get(), up_.data() + up_at_, up_len_ - up_at_, &n);
      if (r == 1) {
        up_at_ += n;
        continue;
      }
      int e = SSL_get_error(ssl_.get(), r);
      if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return wait(e, &connection::write_tls);
      ERR_clear_error();
      return close();
    }
    read_plain();
  }

  // The local side finished sending: close_notify ends our TLS direction; we keep reading
  // (TLS 1.3 half-close).
  void send_close_notify() {
    ERR_clear_error();
    int r = SSL_shutdown(ssl_.get());
    if (r >= 0) {
      up_done_ = true;
      return finish_if_done();
    }
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_WRITE) return wait(e, &connection::send_close_notify);
    ERR_clear_error();
    close();
  }

  // TLS -> plain
  void read_tls() {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(ssl_.get(), down_.data(), down_.size(), &n);
    if (r == 1) {
      asio::async_write(plain_, asio::buffer(down_.data(), n), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        if (self->closed_) return;
        if (ec) return self->close();
        self->read_tls();
      });
      return;
    }
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return wait(e, &connection::read_tls);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify: the other side finished sending
      boost::system::error_code ignored;
      plain_.shutdown(tcp::socket::shutdown_send, ignored);
      down_done_ = true;
      return finish_if_done();
    }
    close();  // reset, or closed without close_notify (truncation): drop both sides
  }

  void wait(int ssl_error, void (connection::*then)()) {
    tls_.async_wait(ssl_error == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
                    [self = shared_from_this(), then](const boost::system::error_code& ec) {
                      if (self->closed_) return;
                      if (ec) return self->close();
                      ((*self).*then)();
                    });
  }

  void finish_if_done() {
    if (up_done_ && down_done_) close();
  }

  tunnel_core& core_;
  std::uint64_t id_;
  tcp::socket tls_, plain_;
  asio::steady_timer timer_;
  std::unique_ptr<tcp::resolver> resolver_;
  bio_socket bio_;
  ssl_ptr ssl_;  // after bio_: freed first
  std::string peer_;
  std::vector<char> up_, down_;
  std::size_t up_len_ = 0, up_at_ = 0;
  bool up_done_ = false, down_done_ = false, closed_ = false, refused_ = false, handshake_over_ = false;
};

result<void> tunnel_core::open(const endpoint& where) {
  ctx_ = make_context(side_, &key_);
  if (!ctx_) return make_error(error_code::internal, "cluster tunnel: cannot make a TLS 1.3 PSK context (OpenSSL)");
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  auto found = resolver.resolve(where.host, std::to_string(where.port), tcp::resolver::passive, ec);
  if (ec || found.empty())
    return make_error(error_code::invalid, "cluster tunnel: cannot resolve " + describe(where) + ": " + ec.message(), "cluster_listen");
  tcp::endpoint at = found.begin()->endpoint();
  acceptor_.open(at.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(error_code::unavailable, "cluster tunnel: cannot listen on " + describe(at) + ": " + ec.message(), "cluster_listen");
  port_ = acceptor_.local_endpoint().port();
  listen_name_ = describe(acceptor_.local_endpoint());
  accept();
  thread_ = std::thread([this] { io_.run(); });
  return {};
}

void tunnel_core::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors and the like: try again shortly rather than spin.
      spdlog::warn("cluster tunnel {} on {}: accept failed: {}", side_name(side_), listen_name_, ec.message());
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    if (handshaking_ >= options_.max_handshakes) {
      boost::system::error_code ignored;
      std::string peer = side_ == side::server ? describe(s.remote_endpoint(ignored)) : describe(remote_);
      s.close(ignored);
      refuse(peer, {failure::io_error, "too many handshakes in progress (max_handshakes " + std::to_string(options_.max_handshakes) + ")"});
    } else {
      ++handshaking_;
      auto c = std::make_shared<connection>(*this, next_id_, std::move(s));
      connections_.emplace(next_id_++, c);
      c->start();
    }
    accept();
  });
}

void tunnel_core::refuse(const std::string& peer, handshake_failure f) {
  ++refused_;
  tunnel_metrics::get().refused.at({std::string(side_name(side_)), std::string(to_string(f.kind))}).add();
  // At most k_logged_per_second lines a second, so that a scan cannot flood the log; the
  // metric and the handler still see every refusal.
  constexpr int k_logged_per_second = 10;
  auto now = std::chrono::steady_clock::now();
  if (now - log_window_ >= std::chrono::seconds(1)) {
    if (log_suppressed_ > 0)
      spdlog::warn("cluster tunnel {} on {}: {} more refusals not logged", side_name(side_), listen_name_, log_suppressed_);
    log_window_ = now;
    log_count_ = 0;
    log_suppressed_ = 0;
  }
  if (log_count_++ >= k_logged_per_second)
    ++log_suppressed_;
  else if (side_ == side::server)
    spdlog::warn("cluster tunnel: refused {} on {}: {}", peer, listen_name_, f.reason);
  else
    spdlog::warn("cluster tunnel to {}: {}", peer, f.reason);
  if (options_.on_refused) {
    try {
      options_.on_refused(refusal{f.kind, peer, f.reason});
    } catch (const std::exception& e) {
      spdlog::error("cluster tunnel: the refusal handler threw: {}", e.what());
    }
  }
}

void tunnel_core::stop() {
  std::lock_guard lock(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
    // close() erases from the map: collect first.
    std::vector<std::shared_ptr<connection>> open;
    for (auto& [id, weak] : connections_)
      if (auto c = weak.lock()) open.push_back(std::move(c));
    for (auto& c : open) c->close();
  });
  work_.reset();
  thread_.join();
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Public faces.

namespace {

result<std::unique_ptr<detail::tunnel_core>> make_core(side s, std::string_view secret, const endpoint& listen, endpoint remote,
                                                       std::uint16_t target_port, tunnel_options options) {
  if (auto ok = validate_secret(secret); !ok) return ok.err();
  auto core = std::make_unique<detail::tunnel_core>(s, derive_psk(secret), std::move(options), std::move(remote), target_port);
  if (auto ok = core->open(listen); !ok) return ok.err();
  return core;
}

}  // namespace

result<std::unique_ptr<tunnel_server>> tunnel_server::start(std::string_view secret, const endpoint& listen, std::uint16_t target_port,
                                                            tunnel_options options) {
  auto core = make_core(side::server, secret, listen, {}, target_port, std::move(options));
  if (!core) return core.err();
  return std::unique_ptr<tunnel_server>(new tunnel_server(std::move(*core)));
}

tunnel_server::tunnel_server(std::unique_ptr<detail::tunnel_core> core) : core_(std::move(core)) {}
tunnel_server::~tunnel_server() { stop(); }
std::uint16_t tunnel_server::port() const { return core_->port(); }
tunnel_stats tunnel_server::stats() const { return core_->stats(); }
void tunnel_server::stop() { core_->stop(); }

result<std::unique_ptr<tunnel_dialer>> tunnel_dialer::start(std::string_view secret, endpoint remote, tunnel_options options) {
  auto core = make_core(side::dialer, secret, {"127.0.0.1", 0}, std::move(remote), 0, std::move(options));
  if (!core) return core.err();
  return std::unique_ptr<tunnel_dialer>(new tunnel_dialer(std::move(*core)));
}

tunnel_dialer::tunnel_dialer(std::unique_ptr<detail::tunnel_core> core) : core_(std::move(core)) {}
tunnel_dialer::~tunnel_dialer() { stop(); }
std::uint16_t tunnel_dialer::local_port() const { return core_->port(); }
tunnel_stats tunnel_dialer::stats() const { return core_->stats(); }
void tunnel_dialer::stop() { core_->stop(); }

probe_result probe(std::string_view secret, const endpoint& remote, std::chrono::milliseconds timeout) {
  using status = probe_result::status;
  if (auto ok = validate_secret(secret); !ok) return {status::refused, ok.err().message};
  psk key = derive_psk(secret);
  ssl_ctx_ptr ctx = make_context(side::dialer, &key);
  if (!ctx) return {status::unreachable, "cannot make a TLS 1.3 PSK context (OpenSSL)"};
  asio::io_context io(1);
  tcp::resolver resolver(io);
  tcp::socket sock(io);
  asio::steady_timer deadline(io);
  bio_socket bio;
  ssl_ptr ssl;
  std::optional<probe_result> out;
  auto finish = [&](probe_result r) {
    if (out) return;
    out = std::move(r);
    boost::system::error_code ignored;
    deadline.cancel();
    resolver.cancel();
    sock.close(ignored);
  };
  deadline.expires_after(timeout);
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) finish({status::timeout, "no TLS handshake with " + describe(remote) + " within " + std::to_string(timeout.count()) + " ms"});
  });
  resolver.async_resolve(remote.host, std::to_string(remote.port), [&](const boost::system::error_code& ec, tcp::resolver::results_type found) {
    if (out) return;
    if (ec) return finish({status::unreachable, "cannot resolve " + remote.host + ": " + ec.message()});
    asio::async_connect(sock, found, [&](const boost::system::error_code& ec, const tcp::endpoint&) {
      if (out) return;
      if (ec) return finish({status::unreachable, "cannot connect to " + describe(remote) + ": " + ec.message()});
      boost::system::error_code e;
      sock.non_blocking(true, e);
      bio.fd = sock.native_handle();
      if (!e) ssl = make_ssl(ctx.get(), side::dialer, bio);
      if (e || !ssl) return finish({status::unreachable, "cannot set up TLS"});
      drive_handshake(ssl.get(), sock, side::dialer, [&](std::optional<handshake_failure> f) {
        if (out) return;
        if (!f) {
          ERR_clear_error();
          SSL_shutdown(ssl.get());  // best effort close_notify
          return finish({status::ok, {}});
        }
        // Any failure after TCP connected (including a remote that closes at once) is a refusal.
        finish({status::refused, f->reason});
      });
    });
  });
  io.run();
  ERR_clear_error();
  return out ? *out : probe_result{status::unreachable, "no result"};
}

}  // namespace flowtrack::cluster
