// The OAuth 2.0 and mail-sending protocols of Google (Gmail API) and Microsoft (Graph), and
// Calendly's OAuth and webhook subscriptions, as values: the providers' settings, the
// authorization URL (PKCE S256), token request bodies, token and userinfo answers read into
// storage's types, the bodies of Gmail users.messages.send and Graph sendMail, and Calendly's
// webhook_subscriptions requests (create, delete) and answers. Pure: no sockets, no SQL, no clock of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/ports.hpp"
#include "config/settings.hpp"
#include "runtime/error.hpp"
#include "storage/oauth.hpp"

namespace flowtrack::oauth {

/// The providers a workspace can connect: two mail providers and Calendly (bookings).
enum class provider { google, outlook, calendly };

/// "google" / "outlook" / "calendly": the API's path segment (and, for the mail providers, the
/// emailSender value).
std::string_view api_name(provider p);
/// A label for people: "Google", "Outlook", "Calendly".
std::string_view label(provider p);
/// Whether email can be sent through the provider (Google, Outlook; not Calendly).
inline bool sends_mail(provider p) { return p != provider::calendly; }
/// oauth_credentials.provider_type: "GOOGLE_EMAIL" / "OUTLOOK_EMAIL" / "CALENDLY".
std::string_view provider_type(provider p);
/// The provider an API name ("google", "outlook") names, or nullopt.
std::optional<provider> parse_provider(std::string_view api_name);
/// The provider of a provider_type, or nullopt.
std::optional<provider> from_provider_type(std::string_view type);

/// One provider's client and endpoints, from the settings.
struct provider_config {
  std::string client_id, client_secret;
  std::string authorize_url, token_url, userinfo_url, revoke_url;
  std::string api_url;  ///< Gmail: https://gmail.googleapis.com; Graph: https://graph.microsoft.com/v1.0; Calendly: https://api.calendly.com
  std::string scopes;   ///< space-separated; empty (Calendly): no scope parameter, the app's own scopes apply
  /// Offered: a client id is configured.
  bool offered() const { return !client_id.empty(); }
};

/// The provider's configuration from the settings (google_oauth_*, microsoft_oauth_*,
/// calendly_oauth_*, ...). Calendly has no userinfo or revoke URL here: see calendly_account.
provider_config config_for(provider p, const config::settings& s);

/// `application/x-www-form-urlencoded` of the pairs, in order (RFC 3986 unreserved kept, space %20).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& pairs);

/// The URL the user's browser goes to: response_type=code, client_id, redirect_uri, scope, state,
/// code_challenge (S256 of the verifier), code_challenge_method=S256; Google also asks for
/// offline access with consent (so it gives a refresh token).
std::string authorization_url(provider p, const provider_config& c, std::string_view redirect_uri, std::string_view state,
                              std::string_view code_challenge);

/// The token request body exchanging an authorization code (grant_type=authorization_code, code,
/// redirect_uri, client_id, client_secret, code_verifier).
std::string code_exchange_body(const provider_config& c, std::string_view code, std::string_view redirect_uri,
                               std::string_view code_verifier);

/// The token request body of a refresh (grant_type=refresh_token, refresh_token, client_id, client_secret).
std::string refresh_body(const provider_config& c, std::string_view refresh_token);

/// A token endpoint's answer read: 200 with access_token (expires_in turned into an epoch-ms
/// expiry from `now_ms`). Errors: 400/401 with an OAuth `error` are `unauthorized` for
/// invalid_grant (subject "invalid_grant": the code or the grant is no good) and `invalid` for the
/// others (subject: the provider's error code), the message carrying error_description but never
/// a token; 429 and 5xx `unavailable`; anything else `internal`.
result<storage::oauth::token_set> parse_token_response(int status, std::string_view body, std::int64_t now_ms);

/// The Calendly account a token answer names. Calendly's token answer carries `owner` (the user's
/// URI, https://api.calendly.com/users/{uuid}) and `organization`; the account is read from it
/// rather than from GET /users/me (one round trip fewer). provider_user_id is
/// the owner URI; no email. `internal` when the answer names no owner or organization.
result<storage::oauth::account> calendly_account(const storage::oauth::token_set& t);

/// What a connect asks Calendly for: POST {api}/webhook_subscriptions.
struct calendly_subscription_request {
  std::string callback_url;  ///< {public_url}/integrations/calendly/webhook/{workspace_id}
  std::string organization;  ///< the token answer's organization URI
  std::string user;          ///< the token answer's owner URI
  std::string signing_key;   ///< ours, random, fresh for this subscription
};

/// The webhook_subscriptions body: url, events ["invitee.created"], organization, user, scope
/// "user" (any Calendly user may make one; "organization" needs an organization admin), signing_key.
std::string calendly_subscription_body(const calendly_subscription_request& r);

/// The answer to POST webhook_subscriptions read: 201 with resource.uri, the subscription's URI.
/// 409 (Calendly already has a subscription for this URL: one an earlier connect made that its
/// disconnect could not delete, see README) `conflict` subject "webhook_exists"; 401/403 `invalid`
/// subject "provider_refused"; 429 and 5xx `unavailable`; anything else `internal`.
result<std::string> parse_calendly_subscription(int status, std::string_view body);

/// Where a disconnect DELETEs the subscription a connect made: {api_url}/webhook_subscriptions/{uuid},
/// the uuid being the stored URI's last path segment (the URI's own host is not trusted: the call
/// goes to the configured API). `invalid` when the URI has no such segment.
result<std::string> calendly_unsubscribe_url(std::string_view api_url, std::string_view subscription_uri);

/// The answer to DELETE webhook_subscriptions/{uuid} read: 2xx, and 404 (already gone), are done;
/// 401/403 `invalid` subject "provider_refused"; 429 and 5xx `unavailable`; anything else `internal`.
result<void> parse_calendly_unsubscribe(int status, std::string_view body);

/// A userinfo answer (OpenID Connect: sub, email; Graph /me: id, mail, userPrincipalName) read.
/// `invalid` when it names no account.
result<storage::oauth::account> parse_userinfo(int status, std::string_view body);

/// The Gmail users.messages.send body: `{"raw": base64url(message)}`.
std::string gmail_send_body(std::string_view rfc5322_message);

/// The Graph sendMail body: message with subject, body (HTML when there is an HTML body, else
/// Text), toRecipients, replyTo (when set), and internetMessageHeaders carrying the FlowTrack
/// message id (X-FlowTrack-Message-Id: Graph takes only X- headers, so a resend is recognisable
/// by it); saved to Sent Items. `invalid` naming the field for a value Graph would refuse.
result<std::string> graph_send_body(const actors::email_message& m, std::string_view message_id);

/// What an HTTP status from a provider's mail API means for mailer_port: 2xx ok; 401 `unauthorized`
/// (refresh and retry once); 429 and 5xx `unavailable`; 408 `timeout`; other 4xx `invalid`
/// (the provider's message quoted, cut to 300 bytes).
result<void> send_status(int status, std::string_view body, std::string_view api);

}  // namespace flowtrack::oauth
