// Calls to the providers' endpoints (token, userinfo, revoke, Gmail send, Graph sendMail,
// Calendly webhook_subscriptions: POST, DELETE) through an actors::post_port (the node's non-blocking libcurl sender), answered as values.
// Knows HTTP and the providers; nothing of SQL or actors. Tokens go only into request bodies
// and Authorization headers, never into errors or logs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "actors/ports.hpp"
#include "adapters/oauth/protocol.hpp"

namespace flowtrack::oauth {

/// Talks to Google, Microsoft and Calendly. Every call returns at once; its callback runs once, on the
/// sender's thread (hand the answer on, do not block there).
class provider_client {
 public:
  /// `http` outlives the client. `now_ms` (unset: the system clock) dates token expiries.
  provider_client(actors::post_port& http, const config::settings& s, std::function<std::int64_t()> now_ms = {});

  const provider_config& config(provider p) const {
    return p == provider::google ? google_ : p == provider::outlook ? outlook_ : calendly_;
  }
  std::int64_t now_ms() const;

  /// POST token_url grant_type=authorization_code (PKCE).
  void exchange_code(provider p, const std::string& code, const std::string& redirect_uri, const std::string& verifier,
                     std::function<void(result<storage::oauth::token_set>)> done);
  /// POST token_url grant_type=refresh_token.
  void refresh(provider p, const std::string& refresh_token, std::function<void(result<storage::oauth::token_set>)> done);
  /// refresh(), waited for (at most `limit`): for a pool thread that holds the credential's row
  /// lock meanwhile (storage::oauth::refresh_credential). Never call it on an actor or sender thread.
  result<storage::oauth::token_set> refresh_blocking(provider p, const std::string& refresh_token,
                                                     std::chrono::milliseconds limit = std::chrono::seconds(30));
  /// POST userinfo_url with the access token (OpenID Connect allows POST): the account.
  void userinfo(provider p, const std::string& access_token, std::function<void(result<storage::oauth::account>)> done);
  /// POST revoke_url token=...; without a revoke URL `done` is called at once with success.
  void revoke(provider p, const std::string& token, std::function<void(result<void>)> done);
  /// The URL Calendly posts a workspace's events to: {public_url}/integrations/calendly/webhook/{id}.
  std::string calendly_callback_url(std::string_view workspace_id) const;
  /// POST {calendly_api_url}/webhook_subscriptions with the access token: the new subscription's
  /// URI, as parse_calendly_subscription reads the answer.
  void create_calendly_subscription(const std::string& access_token, const calendly_subscription_request& r,
                                    std::function<void(result<std::string>)> done);
  /// DELETE {calendly_api_url}/webhook_subscriptions/{uuid} of a subscription's URI with the access
  /// token, as parse_calendly_unsubscribe reads the answer (one already gone is done).
  void delete_calendly_subscription(const std::string& access_token, const std::string& subscription_uri,
                                    std::function<void(result<void>)> done);
  /// Sends a prepared body: Gmail POST {api}/gmail/v1/users/me/messages/send, Graph POST
  /// {api}/me/sendMail; the answer as send_status() reads it.
  void send_mail(provider p, const std::string& access_token, std::string body, std::function<void(result<void>)> done);

 private:
  void post(const std::string& url, std::vector<std::pair<std::string, std::string>> headers, std::string body,
            std::function<void(actors::post_answer)> done, std::string method = "POST");

  actors::post_port& http_;
  provider_config google_, outlook_, calendly_;
  std::string public_base_url_;
  std::function<std::int64_t()> now_ms_;
};

/// A post_answer without HTTP as an error: the provider could not be reached (unavailable or timeout).
error transport_error(const actors::post_answer& a, std::string_view what);

}  // namespace flowtrack::oauth
