// The OAuth 2.0 and mail-sending protocols of Google (Gmail API) and Microsoft (Graph) as values:
// the providers' settings, the authorization URL (PKCE S256), token request bodies, token and
// userinfo answers read into storage's types, and the bodies of Gmail users.messages.send and
// Graph sendMail. Pure: no sockets, no SQL, no clock of its own.
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

/// The mail providers a workspace can connect.
enum class provider { google, outlook };

/// "google" / "outlook": the API's path segment and emailSender value.
std::string_view api_name(provider p);
/// oauth_credentials.provider_type: "GOOGLE_EMAIL" / "OUTLOOK_EMAIL".
std::string_view provider_type(provider p);
/// The provider an API name ("google", "outlook") names, or nullopt.
std::optional<provider> parse_provider(std::string_view api_name);
/// The provider of a provider_type, or nullopt.
std::optional<provider> from_provider_type(std::string_view type);

/// One provider's client and endpoints, from the settings.
struct provider_config {
  std::string client_id, client_secret;
  std::string authorize_url, token_url, userinfo_url, revoke_url;
  std::string api_url;  ///< Gmail: https://gmail.googleapis.com; Graph: https://graph.microsoft.com/v1.0
  std::string scopes;   ///< space-separated
  /// Offered: a client id is configured.
  bool offered() const { return !client_id.empty(); }
};

/// The provider's configuration from the settings (google_oauth_*, microsoft_oauth_*, ...).
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
