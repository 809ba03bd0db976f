// Outbound email through an SMTP relay (libcurl) on a few worker threads of its own; implements
// actors::mailer_port. Knows SMTP and the relay, nothing of actors, workflows or SQL.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "actors/ports.hpp"
#include "adapters/mail/message.hpp"
#include "config/settings.hpp"
#include "crypto/secret_box.hpp"

namespace flowtrack::mail {

/// How the mailer talks to its relay.
struct mailer_options {
  /// The From address and SMTP envelope sender; empty means "noreply@<mail_domain>".
  std::string sender;
  /// Parallel SMTP sessions (threads, each keeping its relay connection open between messages).
  int threads = 2;
  /// Longest a whole exchange for one message may take.
  std::chrono::milliseconds timeout{30000};
  /// Longest connecting to the relay may take (never more than `timeout`).
  std::chrono::milliseconds connect_timeout{10000};
};

/// Sends email through `settings.mail_relay` (`smtp://[user:password@]host:port`, or `smtps://`
/// for TLS from the first byte; credentials in the URL log in with SMTP AUTH). A relay off
/// loopback must offer STARTTLS, or nothing is sent (`unavailable`). An email to a lead
/// (`lead_id` set) is tracked and unsubscribable through links under `public_url`, signed with
/// the encryption key (without a key it goes untracked). `send` only queues: composing and the
/// SMTP exchange happen on the mailer's threads, and `done` is called there with the Message-ID or an error:
/// `invalid` (a header value or address the message cannot carry, or the relay refused with a
/// 5xx reply, quoted in the message), `unavailable` (relay unreachable, connection lost, 4xx
/// reply), `timeout`.
/// Whether the relay's host (of `smtp://[user:pass@]host:port`) is a loopback address or
/// "localhost": only there may the mailer talk without STARTTLS.
bool relay_on_loopback(std::string_view relay_url);

class smtp_mailer final : public actors::mailer_port {
 public:
  /// Message-IDs are `<key@settings.mail_domain>`. Throws config::config_error ("mail_sender")
  /// when `opts.sender` is not an email address: a start-up error.
  explicit smtp_mailer(const config::settings& s, mailer_options opts = {});
  /// Sends whatever is queued, then stops the threads.
  ~smtp_mailer() override;
  smtp_mailer(const smtp_mailer&) = delete;
  smtp_mailer& operator=(const smtp_mailer&) = delete;

  /// Queues a message; never blocks. `done` receives the Message-ID header value (with angle
  /// brackets), the same for every send of the same idempotency key.
  void send(actors::email_message message, std::function<void(result<std::string>)> done) override;

  /// The From address in use.
  const std::string& sender() const { return identity_.address; }

 private:
  struct session;
  struct workers;

  result<std::string> transmit(session& s, const actors::email_message& m) const;

  std::string relay_url_;  // with the EHLO domain as its path, as libcurl takes it
  bool relay_on_loopback_ = false;
  sender_identity identity_;
  std::optional<crypto::keyring> keys_;  // signs the tracking links; unset without an encryption key
  std::string public_url_;
  mailer_options opts_;
  std::unique_ptr<workers> workers_;  // last: joined before anything it uses is destroyed
};

}  // namespace flowtrack::mail
