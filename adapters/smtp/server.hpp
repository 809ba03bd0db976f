// The SMTP intake server on Boost.Asio: connections, timeouts, connection limits (total and per
// client address), accept back-off, STARTTLS (OpenSSL), graceful stop. The protocol is
// smtp::session; deciding recipients and keeping messages is a handler handed in. Knows nothing
// of actors, SQL or workflows.
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
#include <boost/asio/steady_timer.hpp>

#include "adapters/smtp/session.hpp"
#include "config/settings.hpp"
#include "runtime/error.hpp"

namespace boost::asio::ssl {
class context;
}

namespace flowtrack::smtp {

/// Takes the handler's answer. Call it exactly once, from any thread; later calls are ignored,
/// and so is an answer that comes after the handler deadline (the client already got 451).
using reply_callback = std::function<void(reply)>;

/// What the server asks of the rest of FlowTrack: whether a sender and a recipient are
/// acceptable, and to keep a message. Implemented by the wiring layer (which asks the workspace
/// actors). Calls come on the server's I/O threads and must not block; answer through the
/// callback, now or later, from any thread. A 2xx answer accepts; a 4xx or 5xx is sent to the
/// client as given (one line of text; an invalid enhanced code becomes x.0.0; an invalid reply
/// becomes 451 4.3.0). An exception thrown by a call is answered 451 4.3.0. The envelope and
/// address references are valid only during the call: copy what an answer given later needs.
class handler {
 public:
  virtual ~handler() = default;
  /// At MAIL FROM; `so_far.mail_from` is the sender (empty text for the null sender <>).
  /// Refuse with e.g. 550 5.7.1 (a sender not allowed to forward here).
  virtual void check_sender(const envelope& so_far, reply_callback done) = 0;
  /// At RCPT TO; `so_far.recipients` holds those accepted before `rcpt`. Accept with 250;
  /// refuse with e.g. 550 5.1.1 (no such mailbox) or 451 4.3.0 (try later).
  virtual void check_recipient(const envelope& so_far, const address& rcpt, reply_callback done) = 0;
  /// After the end of DATA: `message` is the whole message as received (dot-unstuffed, CRLF line
  /// ends) below the server's Received: field. Answer 250 only once the message is kept; 451
  /// 4.3.0 on an internal failure; 550/554 to refuse it.
  virtual void deliver(const envelope& env, std::string message, reply_callback done) = 0;
};

/// Server settings and limits.
struct server_options {
  config::endpoint listen{"127.0.0.1", 2525};
  std::string setting = "smtp_listen";  ///< the setting `listen` came from, for error messages
  std::string hostname;                 ///< in the greeting and Received:; empty: the host's name
  session_limits limits;
  std::chrono::milliseconds command_timeout{300000};  ///< waiting for a command (and for a write)
  std::chrono::milliseconds data_timeout{600000};     ///< from 354 to the final "." (RFC 5321 4.5.3.2.6)
  std::chrono::milliseconds handler_timeout{60000};   ///< an unanswered handler call then gets 451 4.4.1
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_ip = 20;
  /// Message bytes held at once by all sessions (smtp_max_buffered_bytes): DATA beyond it gets
  /// 452 4.3.1 (see session). One client address holds at most an eighth (at least one message).
  std::size_t max_buffered_bytes = 256 * 1024 * 1024;
  std::string tls_cert_file;  ///< PEM certificate chain; with tls_key_file, STARTTLS is offered
  std::string tls_key_file;   ///< PEM private key
  int threads = 1;
};

/// The options the smtp_* settings describe.
server_options options_from(const config::settings& s);

namespace detail {
struct shared_state;
}

/// The server. Every connection runs on its own strand. Logs (spdlog) connections, refusals and
/// one line per message (sender, recipient count, size, answer), never message text. Metrics:
/// flowtrack_smtp_sessions_open (gauge), flowtrack_smtp_connections_refused_total{reason},
/// flowtrack_smtp_messages_total{result} (accepted, deferred, rejected),
/// flowtrack_smtp_buffered_bytes (gauge, against max_buffered_bytes) and
/// flowtrack_smtp_insufficient_storage_total (messages answered 452 4.3.1).
class server {
 public:
  /// `h` must outlive the server.
  server(server_options opts, handler& h);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Loads the TLS certificate (if configured), binds, listens and starts the I/O threads; port
  /// 0 picks a free port. An unreadable certificate or key is an `invalid` error naming
  /// smtp_tls_cert or smtp_tls_key.
  result<void> start();
  /// The port it listens on (after start).
  std::uint16_t port() const { return port_; }
  /// Stops accepting; idle sessions get 421 4.3.2 and are closed; a session inside DATA or
  /// waiting for the handler finishes that message (its next command gets 421) within `grace`;
  /// then everything is closed.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  /// Open connections right now.
  std::size_t connections() const;
  /// Message bytes held right now against max_buffered_bytes.
  std::size_t buffered_bytes() const;

 private:
  struct session_registry;
  void do_accept();
  void on_accept_error(const boost::system::error_code& ec);

  server_options opts_;
  handler& handler_;
  using work_guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  boost::asio::io_context io_;
  std::unique_ptr<work_guard> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::shared_ptr<detail::shared_state> shared_;
  std::unique_ptr<session_registry> sessions_;
  boost::asio::steady_timer accept_pause_;      ///< on the acceptor's strand
  std::chrono::milliseconds accept_backoff_{0};  ///< after failed accepts: the current pause
  std::size_t accept_failures_ = 0;              ///< in a row
  bool stopped_ = false;
};

}  // namespace flowtrack::smtp
