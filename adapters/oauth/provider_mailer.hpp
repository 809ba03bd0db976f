// Outbound email through a workspace's connected Google or Outlook account (Gmail API
// users.messages.send, Microsoft Graph sendMail), chosen by the workspace's emailSender; every
// other email goes to the SMTP mailer it wraps. Implements actors::mailer_port without blocking
// the caller: the workspace's choice and credential are read (and a token about to expire is
// refreshed, under the row lock) on the PostgreSQL pool, the HTTP goes through the node's
// non-blocking sender. Knows the providers and storage::oauth; nothing of actors.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "actors/ports.hpp"
#include "adapters/oauth/provider_client.hpp"
#include "crypto/secret_box.hpp"
#include "storage/oauth.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::oauth {

/// What the provider mailer needs besides its peers.
struct provider_mailer_options {
  std::string mail_domain;  ///< right-hand side of Message-IDs (as the SMTP mailer's)
  std::string public_url;   ///< tracking links of emails to leads
  /// A token expiring within this is refreshed before a send.
  std::chrono::milliseconds refresh_margin{60'000};
};

/// Emails the workspace owner that its connected account no longer grants access (through
/// `mail`, the SMTP mailer) and logs a warning; no token in either. Runs on a pool thread (`c`).
void tell_owner_revoked(pg::connection& c, actors::mailer_port& mail, const std::string& workspace_id, provider p);

/// The mailer for the actors. Per email: emailSender smtp (or unset, or no workspace): the SMTP
/// mailer. google/outlook: the workspace's credential (refreshed first when it expires within
/// refresh_margin), the message sent with its Bearer token; a 401 refreshes once and retries;
/// success updates last_used_at. Errors as mailer_port says: `unavailable`/`timeout` (provider or
/// PostgreSQL unreachable, 429, 5xx) are retryable; `invalid` is not: the provider refused the
/// message, or the account is inactive (a revoked grant, found at a refresh, makes it inactive
/// and tells the owner). A disconnected account resets emailSender to smtp (storage::oauth::
/// disconnect), so later emails go through SMTP.
class provider_mailer final : public actors::mailer_port {
 public:
  /// Everything borrowed outlives the mailer (and the jobs and requests it started).
  provider_mailer(pg::pool& postgres, const crypto::keyring& keys, provider_client& client, actors::mailer_port& smtp,
                  provider_mailer_options options);

  void send(actors::email_message message, std::function<void(result<std::string>)> done) override;

 private:
  struct attempt;
  void transmit(std::shared_ptr<attempt> a);
  void after_send(std::shared_ptr<attempt> a, result<void> sent);

  pg::pool& postgres_;
  const crypto::keyring& keys_;
  provider_client& client_;
  actors::mailer_port& smtp_;
  provider_mailer_options opts_;
};

}  // namespace flowtrack::oauth
