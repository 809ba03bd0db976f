// The SMTP server's protocol, as a pure state machine: bytes in, replies and requests out
// (RFC 5321, 1870 SIZE, 6152 8BITMIME, 2920 PIPELINING, 6531 SMTPUTF8, 2034/3463 enhanced codes,
// 3207 STARTTLS). No sockets, no clocks, no threads: the server and the fuzzer drive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace flowtrack::smtp {

/// One SMTP reply: a 3-digit code, an RFC 3463 enhanced code ("2.1.0"; empty only for the
/// greeting and the EHLO/HELO answer, which RFC 2034 §3 exempts) and text. Lines of a
/// multi-line reply are separated by '\n' in `text`.
struct reply {
  int code = 0;
  std::string enhanced;
  std::string text;

  /// The reply on the wire: every line "ddd-x.y.z text\r\n", the last with a space.
  std::string render() const;
  bool positive() const { return code >= 200 && code < 400; }
};

/// A path as the client gave it and its parsed parts. For the null reverse-path `<>` all three
/// are empty; for `<postmaster>` the domain is empty.
struct address {
  std::string text;    ///< between the angle brackets, source route dropped
  std::string local;   ///< the local part, unquoted
  std::string domain;  ///< as given (an address literal keeps its brackets)
};

/// What is known of the message being received so far.
struct envelope {
  std::string client_ip;
  std::string helo;      ///< the EHLO/HELO argument
  bool esmtp = false;    ///< EHLO (not HELO) was used
  address mail_from;
  std::vector<address> recipients;  ///< accepted recipients only
  bool tls = false;
  bool smtputf8 = false;            ///< MAIL FROM ... SMTPUTF8
  bool eight_bit = false;           ///< MAIL FROM ... BODY=8BITMIME
  std::optional<std::uint64_t> declared_size;  ///< MAIL FROM ... SIZE=
};

/// Limits of one session; the server fills them from settings.
struct session_limits {
  std::size_t max_message_bytes = 25 * 1024 * 1024;  ///< message text after dot-unstuffing
  std::size_t max_recipients = 100;
  std::size_t max_errors = 20;  ///< client errors before 421 and close
  /// Bytes of a refused (oversized) message discarded before giving up on the connection:
  /// past max_message_bytes + this, the session answers 552 at once and closes.
  std::size_t max_discard_bytes = 25 * 1024 * 1024;
};

/// Message bytes held at once by all sessions of one server (smtp_max_buffered_bytes), shared by
/// them; thread-safe. As the HTTP server's body budget: one client address may hold at most an
/// eighth of it (and at least one largest message), so a few clients declaring large SIZEs
/// cannot lock every other sender out.
class message_budget {
 public:
  /// `limit`: bytes for all sessions; `max_message_bytes`: a peer may always hold one such message.
  message_budget(std::size_t limit, std::size_t max_message_bytes);
  /// Takes `bytes` for `peer` when both the total and the peer's share allow it; all or nothing.
  bool try_take(const std::string& peer, std::size_t bytes);
  /// Gives back bytes taken for `peer`.
  void give_back(const std::string& peer, std::size_t bytes);
  /// Bytes held right now.
  std::size_t held() const;
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_, per_peer_limit_;
  mutable std::mutex mutex_;
  std::size_t held_ = 0;                                 ///< under mutex_
  std::unordered_map<std::string, std::size_t> per_peer_;  ///< under mutex_
};

/// What the connection must do next (see session::run).
enum class step {
  read,             ///< flush output, then read more bytes and call receive() + run()
  check_sender,     ///< ask the handler about envelope().mail_from, then resolve()
  check_recipient,  ///< ask the handler about candidate(), then resolve()
  deliver,          ///< hand envelope() and take_message() to the handler, then resolve()
  start_tls,        ///< flush output, do the TLS handshake, then tls_started() (or close)
  close,            ///< flush output and close the connection
};

/// The protocol decisions this session makes, documented once:
/// - Line ends: a command line ends at LF (a CR before it is dropped); a bare CR inside a
///   command is a syntax error. In DATA only CRLF "." CRLF ends the message, and a bare CR or LF
///   anywhere in the text rejects the message at its end (554 5.6.0): a lenient reading of bare
///   LF is what SMTP smuggling exploits.
/// - A command line longer than 512 octets (CRLF included) gets 500 5.5.2 and is skipped. A text
///   line longer than 1000 octets rejects the message at its end with 500 5.5.2 (RFC 5321
///   4.5.3.1.6/4.2.4); nothing of it is delivered.
/// - Message size is counted while DATA streams: past the limit nothing more is kept, the rest
///   is read and dropped, and the end gets 552 5.3.4; a client sending more than the limit again
///   on top gets 552 5.3.4 at once and the connection is closed.
/// - With a message_budget, the message text is held against it while it arrives: DATA gets 452
///   4.3.1 instead of 354 when the budget cannot hold the declared SIZE (or, without SIZE, has
///   nothing left); when it runs out mid-message, nothing more is kept, the rest is read and
///   dropped, and the end gets 452 4.3.1 (the session stays usable). The bytes are given back
///   when the delivery is answered, the message refused, or the session closed or destroyed.
/// - Pipelining before it was offered (a command followed by more input before EHLO, or in a
///   HELO session) is an early talker: 554 5.5.0 and close, as Postfix's reject_unauth_pipelining.
/// - After STARTTLS, input already received is discarded (RFC 3207 §4.2 command injection);
///   after the handshake the session is as new and the client must EHLO again.
class session {
 public:
  /// `budget`, when given, is shared with the other sessions of the server (see message_budget).
  session(session_limits limits, std::string hostname, std::string client_ip, bool tls_offered,
          std::shared_ptr<message_budget> budget = nullptr);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// The 220 greeting; run() then asks for input.
  void greet();
  /// Refuses the connection (e.g. 421 4.7.0 too many connections); run() then answers close.
  void refuse(reply r);
  /// Bytes from the client.
  void receive(std::string_view bytes);
  /// Processes buffered input until the handler must be asked, more input is needed, or the
  /// session ends. Calling it again while a request is unresolved answers the same step.
  step run();
  /// The handler's answer to the pending check_sender, check_recipient or deliver.
  void resolve(reply r);
  /// The TLS handshake succeeded: the session starts over (RFC 3207 §4.2).
  void tls_started();
  /// No command or data arrived in time: 421 4.4.2 and close.
  void timed_out();
  /// The server is stopping: the next command gets 421 4.3.2; at once when idle between
  /// commands with nothing buffered (returns whether it closed now).
  bool shut_down();

  /// Replies produced since the last call.
  std::string take_output();
  bool has_output() const { return !out_.empty(); }
  const envelope& current() const { return env_; }
  /// The recipient being checked (step::check_recipient).
  const address& candidate() const { return candidate_; }
  /// The received message, dot-unstuffed, CRLF line ends (step::deliver); moved out.
  std::string take_message();
  /// Whether the session is inside DATA (reading message text) or waiting for its delivery.
  bool in_data() const { return state_ == state::data || pending_ == step::deliver; }
  /// Whether nothing is pending and the session waits for a command with no input buffered.
  bool idle() const;
  bool closed() const { return state_ == state::closed; }
  /// Client errors counted so far.
  std::size_t errors() const { return errors_; }
  /// Messages accepted (2xx from deliver) so far.
  std::size_t delivered() const { return delivered_; }
  /// Bytes this session holds against its message_budget right now.
  std::size_t held_bytes() const { return held_; }
  /// Messages answered 452 4.3.1 (the budget could not hold them) so far.
  std::size_t storage_refusals() const { return storage_refusals_; }

 private:
  enum class state { start, need_helo, ready, mail, data, closed };

  void command(std::string_view line);
  void on_helo(std::string_view verb, std::string_view arg, bool esmtp);
  void on_mail(std::string_view arg);
  void on_rcpt(std::string_view arg);
  void on_data(std::string_view arg);
  void on_starttls(std::string_view arg);
  bool data_bytes();
  void end_of_data();
  void reset_transaction();
  /// Holds `bytes` in total against the budget (taking more ahead when it can); false when the
  /// budget cannot.
  bool hold(std::size_t bytes);
  void release();
  void send(int code, std::string_view enhanced, std::string_view text);
  void send(const reply& r);
  /// A reply to a client error; past max_errors, also 421 and close.
  void fail(int code, std::string_view enhanced, std::string_view text);
  void close_with(int code, std::string_view enhanced, std::string_view text);
  std::string ehlo_text() const;

  session_limits limits_;
  std::string hostname_;
  bool tls_offered_;
  std::string peer_;  ///< the client's address: its share of the budget
  state state_ = state::start;
  std::optional<step> pending_;  ///< a request the handler has not answered
  bool want_tls_ = false;        ///< STARTTLS accepted, handshake not yet done
  bool stopping_ = false;
  envelope env_;
  address candidate_;
  std::size_t rcpt_attempts_ = 0;  ///< RCPT commands in this transaction, accepted or not
  std::string in_;                 ///< received, not yet processed
  bool skipping_line_ = false;     ///< dropping the rest of an overlong command line
  std::string out_;
  std::size_t errors_ = 0;
  std::size_t delivered_ = 0;
  // DATA
  std::string message_;
  std::size_t message_size_ = 0;  ///< unstuffed octets seen, kept or not
  std::size_t line_length_ = 0;   ///< octets of the current text line so far
  bool at_line_start_ = true;
  bool after_cr_ = false;         ///< the last text octet was a CR
  bool too_big_ = false, long_line_ = false, bare_newline_ = false;
  bool over_budget_ = false;  ///< the budget ran out mid-message: the rest is dropped, 452 4.3.1
  std::shared_ptr<message_budget> budget_;
  std::size_t held_ = 0;  ///< bytes taken from budget_
  std::size_t storage_refusals_ = 0;
};

/// Parses "<local@domain>" (RFC 5321 Path, or "<>" when `null_ok`); nullopt when malformed.
/// Non-ASCII octets are accepted only with `utf8` (SMTPUTF8).
std::optional<address> parse_path(std::string_view text, bool null_ok, bool utf8);

/// The Received: trace field (RFC 5321 4.4) put above a delivered message: the client's HELO
/// name and address, `by` (the server's name), the protocol (RFC 3848 SMTP/ESMTP/ESMTPS, RFC
/// 6531 UTF8SMTP/UTF8SMTPS), the message `id`, the recipient when there is exactly one, the date.
std::string received_header(const envelope& env, std::string_view by, std::string_view id, std::time_t now);

}  // namespace flowtrack::smtp
