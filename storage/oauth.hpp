// Google, Outlook and Calendly integrations in PostgreSQL (issue #16 item 4): authorizations under way
// (oauth_authorizations, migration 030: state hashed, PKCE verifier sealed, single use), the
// connected accounts (oauth_credentials: tokens sealed with crypto/secret_box, never plain), their
// refresh under the row lock, the workspace's choice of email sender, and a Calendly credential's
// webhook subscription (its signing key sealed in the row's metadata, migration 032). Knows SQL and sealing;
// nothing of HTTP or of the providers' protocols (a refresh is handed a function that speaks it).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret_box.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage::oauth {

/// oauth_credentials.provider_type of the two mail providers and of Calendly.
inline constexpr std::string_view k_google = "GOOGLE_EMAIL";
inline constexpr std::string_view k_outlook = "OUTLOOK_EMAIL";
inline constexpr std::string_view k_calendly = "CALENDLY";

/// A connect under way, as the API starts it.
struct new_authorization {
  std::string workspace_id, user_id;
  std::string provider_type;  ///< k_google, k_outlook or k_calendly
  std::string state;          ///< stored only as its SHA-256
  std::string code_verifier;  ///< stored sealed
  std::string redirect_uri;
  std::int64_t ttl_s = 600;
};

/// Records the authorization; its expiry (epoch ms). `unavailable` naming encryption_key without a
/// key to seal with.
result<std::int64_t> create_authorization(pg::connection& c, const crypto::keyring& keys, const new_authorization& a);

/// An authorization taken by its callback.
struct taken_authorization {
  std::string redirect_uri;
  std::string code_verifier;  ///< opened
};

/// Takes the workspace's authorization of `provider_type` with this state, started by `user_id`,
/// once: `invalid` naming `state` when none matches (unknown, another workspace, provider or user,
/// already used) or it expired (the message says which).
result<taken_authorization> take_authorization(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id,
                                               std::string_view provider_type, std::string_view state, std::string_view user_id);

/// Tokens as a provider's token endpoint gave them.
struct token_set {
  std::string access_token;
  std::optional<std::string> refresh_token;  ///< nullopt: none given (a refresh keeps the old one)
  std::optional<std::int64_t> expires_at_ms;
  std::optional<std::string> scope;
  std::string token_type = "Bearer";
  /// Calendly's token answer: the user's and the organization's URIs (not stored as tokens).
  std::optional<std::string> owner, organization;
};

/// The account the tokens belong to.
struct account {
  std::optional<std::string> provider_user_id;
  std::optional<std::string> email;
};

/// The webhook subscription a Calendly connect made for the workspace.
struct calendly_webhook {
  std::string signing_key;       ///< ours (random); stored sealed bound to the row, never shown
  std::string subscription_uri;  ///< https://api.calendly.com/webhook_subscriptions/{uuid}
  std::string organization_uri;
};

/// Stores a connected account: a new row, or the workspace's row of that provider revived
/// (deleted_at and inactive cleared). Tokens are sealed bound to the row id and workspace. With
/// `hook` (Calendly), the row's metadata holds the subscription's URI, the organization and the
/// sealed signing key (`webhookSigningKey`); without, metadata is reset to {}. The credential's id.
result<std::string> save_credential(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id,
                                    std::string_view provider_type, const token_set& t, const account& who,
                                    const calendly_webhook* hook = nullptr);

/// The signing key of the workspace's own Calendly webhook subscription, opened: set when the
/// workspace has an active, live CALENDLY credential with a key; nullopt otherwise (then the
/// node's calendly_webhook_signing_key applies). `internal` when the key does not open.
result<std::optional<std::string>> calendly_signing_key(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id);

/// The URI of the workspace's live Calendly webhook subscription (metadata), or nullopt.
result<std::optional<std::string>> calendly_subscription_of(pg::connection& c, std::string_view workspace_id);

/// A credential ready to use: tokens opened.
struct credential {
  std::string id, workspace_id, provider_type;
  std::optional<std::string> email;
  std::string access_token;
  std::string sealed_access_token;  ///< as stored: tells whether a refresh happened since
  std::optional<std::string> refresh_token;
  std::optional<std::int64_t> expires_at_ms;
  bool active = false;
  std::optional<std::string> inactive_reason;
};

/// The workspace's live (not deleted) credential of the provider, or nullopt. An inactive one is
/// returned without tokens (active false).
result<std::optional<credential>> load_credential(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id,
                                                  std::string_view provider_type);

/// Gets fresh tokens for a refresh token (speaks the provider's protocol; may block, it runs on a
/// pool thread while the row is locked). An error whose subject is "invalid_grant" means the
/// grant is gone (revoked, expired): the credential is then made inactive.
using refresher = std::function<result<token_set>(const std::string& refresh_token)>;

/// When a refresh is due.
struct refresh_policy {
  /// Refresh when the access token expires within this (ms from now), or has no expiry and `stale` is set.
  std::int64_t min_valid_ms = 60'000;
  /// The sealed access token a caller saw fail (a 401): refresh unless the row holds another one
  /// already (someone refreshed meanwhile), whatever the expiry.
  std::optional<std::string> stale;
};

/// What refresh_credential did.
struct refresh_outcome {
  credential current;      ///< the credential after it
  bool refreshed = false;  ///< the refresher was called and its tokens stored
};

/// Refreshes the workspace's credential when `policy` says so, under its row lock (SELECT ... FOR
/// UPDATE), so two refreshes (a job and a send, two nodes) never both call the provider and a
/// rotated refresh token is never lost: the second finds the first's tokens and uses them.
/// Errors: `not_found` (no live credential), `invalid` subject "inactive" (the credential is
/// inactive), the refresher's error; an "invalid_grant" one also marks the row inactive
/// (committed) before it is returned.
result<refresh_outcome> refresh_credential(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id,
                                           std::string_view provider_type, const refresh_policy& policy, const refresher& refresh);

/// Sets last_used_at to now.
result<void> mark_used(pg::connection& c, std::string_view credential_id);

/// Makes a credential inactive for `reason`; false when it was already inactive or is gone.
result<bool> mark_inactive(pg::connection& c, std::string_view credential_id, std::string_view reason);

/// Disconnects the workspace's provider: the row soft-deleted, inactive, its tokens and metadata
/// (a Calendly signing key) wiped; a
/// workspace whose emailSender named the provider goes back to smtp. False when nothing was connected.
result<bool> disconnect(pg::connection& c, std::string_view workspace_id, std::string_view provider_type);

/// A credential whose access token expires soon.
struct expiring_credential {
  std::string id, workspace_id, provider_type;
};

/// Active live credentials with a refresh token whose access token expires within `within_ms`
/// (or has expired), soonest first, at most `limit`.
result<std::vector<expiring_credential>> expiring_credentials(pg::connection& c, std::int64_t within_ms, int limit);

/// The workspace's email sender: "smtp" (the default), "google" or "outlook".
result<std::string> email_sender_of(pg::connection& c, std::string_view workspace_id);

/// Sets the workspace's email sender ("smtp", "google", "outlook"). google/outlook need an active
/// live credential of that provider: `conflict` naming `provider` otherwise.
result<void> set_email_sender(pg::connection& c, std::string_view workspace_id, std::string_view sender);

/// Who to tell about a workspace's integrations.
struct owner_contact {
  std::string email, workspace_name;
};

/// The workspace owner's email and the workspace's name.
result<owner_contact> owner_of(pg::connection& c, std::string_view workspace_id);

/// Deletes authorizations that expired before now minus `keep_s`; how many.
result<std::size_t> purge_authorizations(pg::connection& c, std::int64_t keep_s = 86400);

}  // namespace flowtrack::storage::oauth
