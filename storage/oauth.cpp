// Google, Outlook and Calendly integrations: the SQL of oauth_authorizations and oauth_credentials. Tokens
// are sealed before they reach a statement and opened after they leave one; no statement's
// parameters or errors are logged with them.
#include "storage/oauth.hpp"

#include <boost/json.hpp>

#include "runtime/text.hpp"
#include "storage/hash.hpp"

namespace flowtrack::storage::oauth {
namespace {

std::string ms(std::string_view column) {
  return "(extract(epoch FROM " + std::string(column) + "::timestamptz) * 1000)::bigint";
}

error box_failure(const crypto::box_error& e) {
  if (e.code == crypto::box_errc::no_key)
    return make_error(error_code::unavailable, "tokens are stored only encrypted: set encryption_key on this node", "encryption_key");
  return make_error(error_code::internal, "a stored token could not be opened: " + e.message, "encryption_key");
}

std::string verifier_context(std::string_view id) { return "oauth_authorizations.code_verifier:" + std::string(id); }
std::string access_context(std::string_view id, std::string_view ws) {
  return "oauth_credentials.access_token:" + std::string(id) + ":" + std::string(ws);
}
std::string refresh_context(std::string_view id, std::string_view ws) {
  return "oauth_credentials.refresh_token:" + std::string(id) + ":" + std::string(ws);
}
std::string signing_key_context(std::string_view id, std::string_view ws) {
  return "oauth_credentials.metadata.webhookSigningKey:" + std::string(id) + ":" + std::string(ws);
}

error no_workspace() { return make_error(error_code::not_found, "no such workspace", "workspace"); }

const pg::statement k_new_id{"ft_oauth_new_id", "SELECT uuid_generate_v4()::text"};

const pg::statement k_insert_authorization{"ft_oauth_insert_authorization", R"sql(
INSERT INTO oauth_authorizations (id, state_hash, workspace_id, user_id, provider_type, redirect_uri, code_verifier, expires_at)
VALUES ($1::uuid, $2, $3::uuid, $4::uuid, $5, $6, $7, now() + make_interval(secs => $8::bigint))
RETURNING (extract(epoch FROM expires_at) * 1000)::bigint
)sql"};

// Taken once: the UPDATE claims it, so two callbacks with the same state cannot both go on.
const pg::statement k_take_authorization{"ft_oauth_take_authorization", R"sql(
UPDATE oauth_authorizations SET used_at = now()
WHERE state_hash = $1 AND workspace_id = $2::uuid AND provider_type = $3 AND user_id = $4::uuid AND used_at IS NULL
RETURNING id::text, redirect_uri, code_verifier, expires_at > now()
)sql"};

const pg::statement k_upsert_credential{"ft_oauth_upsert_credential", R"sql(
INSERT INTO oauth_credentials (workspace_id, provider_type, access_token)
VALUES ($1::uuid, $2, '')
ON CONFLICT (workspace_id, provider_type) DO UPDATE SET updated_at = now()
RETURNING id::text, workspace_id::text
)sql"};

const pg::statement k_store_credential{"ft_oauth_store_credential", R"sql(
UPDATE oauth_credentials SET
  access_token = $2, refresh_token = $3, token_type = $4,
  expires_at = CASE WHEN $5::bigint IS NULL THEN NULL ELSE to_timestamp($5::bigint / 1000.0) END,
  scope = $6, provider_user_id = $7, provider_email = $8::citext,
  is_active = true, inactive_reason = NULL, deleted_at = NULL, last_used_at = NULL,
  metadata = COALESCE($9::jsonb, '{}'::jsonb)
WHERE id = $1::uuid
)sql"};

// The workspace's own Calendly signing key (sealed), when its credential is active and live.
const pg::statement k_calendly_key{"ft_oauth_calendly_key", R"sql(
SELECT id::text, workspace_id::text, metadata->>'webhookSigningKey' FROM oauth_credentials
WHERE workspace_id = $1::uuid AND provider_type = 'CALENDLY' AND deleted_at IS NULL AND is_active
  AND metadata ? 'webhookSigningKey'
)sql"};

const pg::statement k_calendly_subscription{"ft_oauth_calendly_subscription", R"sql(
SELECT metadata->>'webhookSubscription' FROM oauth_credentials
WHERE workspace_id = $1::uuid AND provider_type = 'CALENDLY' AND deleted_at IS NULL AND metadata ? 'webhookSubscription'
)sql"};

const std::string k_cred_cols = "id::text, workspace_id::text, provider_type, provider_email::text, access_token, refresh_token, " +
                                ms("expires_at") + ", is_active, inactive_reason";

const pg::statement k_load_credential{"ft_oauth_load_credential",
                                      "SELECT " + k_cred_cols +
                                          " FROM oauth_credentials WHERE workspace_id = $1::uuid AND provider_type = $2 "
                                          "AND deleted_at IS NULL"};

const pg::statement k_lock_credential{"ft_oauth_lock_credential",
                                      "SELECT " + k_cred_cols +
                                          " FROM oauth_credentials WHERE workspace_id = $1::uuid AND provider_type = $2 "
                                          "AND deleted_at IS NULL FOR UPDATE"};

const pg::statement k_refreshed{"ft_oauth_refreshed", R"sql(
UPDATE oauth_credentials SET
  access_token = $2, refresh_token = COALESCE($3, refresh_token),
  expires_at = CASE WHEN $4::bigint IS NULL THEN NULL ELSE to_timestamp($4::bigint / 1000.0) END,
  scope = COALESCE($5, scope)
WHERE id = $1::uuid
)sql"};

const pg::statement k_mark_used{"ft_oauth_mark_used", "UPDATE oauth_credentials SET last_used_at = now() WHERE id = $1::uuid"};

const pg::statement k_mark_inactive{"ft_oauth_mark_inactive", R"sql(
UPDATE oauth_credentials SET is_active = false, inactive_reason = $2
WHERE id = $1::uuid AND is_active AND deleted_at IS NULL
)sql"};

// access_token is NOT NULL in the specification: wiped to ''.
const pg::statement k_disconnect{"ft_oauth_disconnect", R"sql(
UPDATE oauth_credentials SET deleted_at = now(), is_active = false, inactive_reason = 'disconnected',
  access_token = '', refresh_token = NULL, expires_at = NULL, metadata = '{}'::jsonb
WHERE workspace_id = $1::uuid AND provider_type = $2 AND deleted_at IS NULL
)sql"};

const pg::statement k_reset_sender{"ft_oauth_reset_sender", R"sql(
UPDATE workspaces SET settings = jsonb_set(COALESCE(settings, '{}'::jsonb), '{emailSender}', '"smtp"')
WHERE id = $1::uuid AND settings->>'emailSender' = $2
)sql"};

const pg::statement k_expiring{"ft_oauth_expiring", R"sql(
SELECT id::text, workspace_id::text, provider_type FROM oauth_credentials
WHERE is_active AND deleted_at IS NULL AND refresh_token IS NOT NULL AND provider_type IN ('GOOGLE_EMAIL', 'OUTLOOK_EMAIL', 'CALENDLY')
  AND expires_at IS NOT NULL AND expires_at::timestamptz < now() + make_interval(secs => $1::bigint / 1000.0)
ORDER BY expires_at, id
LIMIT $2
)sql"};

const pg::statement k_sender_of{"ft_oauth_sender_of", R"sql(
SELECT COALESCE(settings->>'emailSender', 'smtp') FROM workspaces WHERE id = $1::uuid AND deleted_at IS NULL
)sql"};

const pg::statement k_lock_workspace{"ft_oauth_lock_workspace",
                                     "SELECT 1 FROM workspaces WHERE id = $1::uuid AND deleted_at IS NULL FOR UPDATE"};

const pg::statement k_active_credential{"ft_oauth_active_credential", R"sql(
SELECT 1 FROM oauth_credentials WHERE workspace_id = $1::uuid AND provider_type = $2 AND deleted_at IS NULL AND is_active
  AND access_token <> ''
)sql"};

const pg::statement k_set_sender{"ft_oauth_set_sender", R"sql(
UPDATE workspaces SET settings = jsonb_set(COALESCE(settings, '{}'::jsonb), '{emailSender}', to_jsonb($2::text))
WHERE id = $1::uuid
)sql"};

const pg::statement k_owner{"ft_oauth_owner", R"sql(
SELECT u.email::text, w.name FROM workspaces w JOIN users u ON u.id = w.owner_user_id WHERE w.id = $1::uuid
)sql"};

const pg::statement k_purge{"ft_oauth_purge",
                            "DELETE FROM oauth_authorizations WHERE expires_at < now() - make_interval(secs => $1::bigint)"};

std::optional<std::int64_t> opt_int(const pg::rows& r, int i, int col) {
  if (r.is_null(i, col)) return std::nullopt;
  return r.get_int(i, col);
}

// A credential row (k_cred_cols) with its tokens opened when active.
result<credential> read_credential(const pg::rows& r, int i, const crypto::keyring& keys) {
  credential cr;
  cr.id = r.get(i, 0);
  cr.workspace_id = r.get(i, 1);
  cr.provider_type = r.get(i, 2);
  cr.email = r.get_optional(i, 3);
  cr.expires_at_ms = opt_int(r, i, 6);
  cr.active = r.get_bool(i, 7);
  cr.inactive_reason = r.get_optional(i, 8);
  if (!cr.active) return cr;
  cr.sealed_access_token = r.get(i, 4);
  auto access = keys.open(cr.sealed_access_token, access_context(cr.id, cr.workspace_id));
  if (!access) return box_failure(access.err());
  cr.access_token = std::move(*access);
  if (auto sealed = r.get_optional(i, 5)) {
    auto refresh = keys.open(*sealed, refresh_context(cr.id, cr.workspace_id));
    if (!refresh) return box_failure(refresh.err());
    cr.refresh_token = std::move(*refresh);
  }
  return cr;
}

std::optional<std::string> opt(const std::optional<std::int64_t>& v) {
  return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
}

}  // namespace

result<std::int64_t> create_authorization(pg::connection& c, const crypto::keyring& keys, const new_authorization& a) {
  if (!runtime::is_uuid(a.workspace_id)) return no_workspace();
  if (!keys.can_seal()) return box_failure({crypto::box_errc::no_key, "no key", ""});
  auto id = c.exec(k_new_id);
  if (!id) return id.err();
  std::string row_id(id->get(0, 0));
  auto sealed = keys.seal(a.code_verifier, verifier_context(row_id));
  if (!sealed) return box_failure(sealed.err());
  auto r = c.exec(k_insert_authorization, pg::params{}
                                              .add(row_id)
                                              .add(sha256_hex(a.state))
                                              .add(a.workspace_id)
                                              .add(a.user_id)
                                              .add(a.provider_type)
                                              .add(a.redirect_uri)
                                              .add(*sealed)
                                              .add(a.ttl_s));
  if (!r) return r.err();
  return r->get_int(0, 0);
}

result<taken_authorization> take_authorization(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id,
                                               std::string_view provider_type, std::string_view state, std::string_view user_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  if (!runtime::is_uuid(user_id)) return make_error(error_code::invalid, "state matches no connect under way", "state");
  auto r = c.exec(k_take_authorization, pg::params{}.add(sha256_hex(state)).add(workspace_id).add(provider_type).add(user_id));
  if (!r) return r.err();
  if (r->empty())
    return make_error(error_code::invalid,
                      "state matches no connect under way that you started for this workspace and provider (unknown, or already "
                      "used): start again with .../connect",
                      "state");
  if (!r->get_bool(0, 3))
    return make_error(error_code::invalid, "state has expired (a connect is good for 10 minutes): start again with .../connect",
                      "state");
  taken_authorization t;
  t.redirect_uri = r->get(0, 1);
  auto verifier = keys.open(r->get(0, 2), verifier_context(r->get(0, 0)));
  if (!verifier) return box_failure(verifier.err());
  t.code_verifier = std::move(*verifier);
  return t;
}

result<std::string> save_credential(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id,
                                    std::string_view provider_type, const token_set& t, const account& who,
                                    const calendly_webhook* hook) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  if (!keys.can_seal()) return box_failure({crypto::box_errc::no_key, "no key", ""});
  return pg::transact(c, [&](pg::connection& tx) -> result<std::string> {
    auto row = tx.exec(k_upsert_credential, pg::params{}.add(workspace_id).add(provider_type));
    if (!row) return row.err();
    std::string id(row->get(0, 0)), ws(row->get(0, 1));
    auto access = keys.seal(t.access_token, access_context(id, ws));
    if (!access) return box_failure(access.err());
    std::optional<std::string> refresh;
    if (t.refresh_token) {
      auto sealed = keys.seal(*t.refresh_token, refresh_context(id, ws));
      if (!sealed) return box_failure(sealed.err());
      refresh = std::move(*sealed);
    }
    std::optional<std::string> metadata;
    if (hook) {
      auto key = keys.seal(hook->signing_key, signing_key_context(id, ws));
      if (!key) return box_failure(key.err());
      metadata = boost::json::serialize(boost::json::object{{"webhookSubscription", hook->subscription_uri},
                                                            {"organization", hook->organization_uri},
                                                            {"webhookSigningKey", *key}});
    }
    auto st = tx.exec(k_store_credential, pg::params{}
                                              .add(id)
                                              .add(*access)
                                              .add(refresh)
                                              .add(t.token_type.empty() ? std::string("Bearer") : t.token_type.substr(0, 20))
                                              .add(opt(t.expires_at_ms))
                                              .add(t.scope)
                                              .add(who.provider_user_id)
                                              .add(who.email)
                                              .add(metadata));
    if (!st) return st.err();
    return id;
  });
}

result<std::optional<std::string>> calendly_signing_key(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return std::optional<std::string>{};
  auto r = c.exec(k_calendly_key, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  if (r->empty() || r->is_null(0, 2)) return std::optional<std::string>{};
  auto key = keys.open(r->get(0, 2), signing_key_context(r->get(0, 0), r->get(0, 1)));
  if (!key) return box_failure(key.err());
  return std::optional<std::string>(std::move(*key));
}

result<std::optional<std::string>> calendly_subscription_of(pg::connection& c, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  auto r = c.exec(k_calendly_subscription, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  if (r->empty()) return std::optional<std::string>{};
  return r->get_optional(0, 0);
}

result<std::optional<credential>> load_credential(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id,
                                                  std::string_view provider_type) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  auto r = c.exec(k_load_credential, pg::params{}.add(workspace_id).add(provider_type));
  if (!r) return r.err();
  if (r->empty()) return std::optional<credential>{};
  auto cr = read_credential(*r, 0, keys);
  if (!cr) return cr.err();
  return std::optional<credential>(std::move(*cr));
}

result<refresh_outcome> refresh_credential(pg::connection& c, const crypto::keyring& keys, std::string_view workspace_id,
                                           std::string_view provider_type, const refresh_policy& policy, const refresher& refresh) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  std::optional<error> revoked;  // committed, then returned
  auto out = pg::transact(c, [&](pg::connection& tx) -> result<refresh_outcome> {
    auto r = tx.exec(k_lock_credential, pg::params{}.add(workspace_id).add(provider_type));
    if (!r) return r.err();
    if (r->empty()) return make_error(error_code::not_found, "the workspace has no connected account of this provider", "provider");
    auto cr = read_credential(*r, 0, keys);
    if (!cr) return cr.err();
    if (!cr->active)
      return make_error(error_code::invalid,
                        "the connected account is inactive (" + cr->inactive_reason.value_or("revoked") + "): connect it again",
                        "inactive");
    refresh_outcome o{std::move(*cr), false};
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    bool due;
    if (policy.stale)
      due = *policy.stale == o.current.sealed_access_token;  // otherwise someone refreshed since the caller's 401
    else
      due = o.current.expires_at_ms && *o.current.expires_at_ms < now_ms + policy.min_valid_ms;
    if (!due) return o;
    if (!o.current.refresh_token)
      return make_error(error_code::unauthorized, "the access token expired and the provider gave no refresh token: connect again",
                        "invalid_grant");
    auto fresh = refresh(*o.current.refresh_token);
    if (!fresh) {
      if (fresh.err().subject == "invalid_grant") {
        if (auto m = tx.exec(k_mark_inactive, pg::params{}.add(o.current.id).add(std::string("invalid_grant"))); !m) return m.err();
        revoked = fresh.err();
        return o;  // commits the inactive mark
      }
      return fresh.err();
    }
    auto access = keys.seal(fresh->access_token, access_context(o.current.id, o.current.workspace_id));
    if (!access) return box_failure(access.err());
    std::optional<std::string> sealed_refresh;
    if (fresh->refresh_token) {  // rotated: the new one replaces it, in this same transaction
      auto s = keys.seal(*fresh->refresh_token, refresh_context(o.current.id, o.current.workspace_id));
      if (!s) return box_failure(s.err());
      sealed_refresh = std::move(*s);
      o.current.refresh_token = fresh->refresh_token;
    }
    auto u = tx.exec(k_refreshed, pg::params{}
                                      .add(o.current.id)
                                      .add(*access)
                                      .add(sealed_refresh)
                                      .add(opt(fresh->expires_at_ms))
                                      .add(fresh->scope));
    if (!u) return u.err();
    o.current.access_token = fresh->access_token;
    o.current.sealed_access_token = *access;
    o.current.expires_at_ms = fresh->expires_at_ms;
    o.refreshed = true;
    return o;
  });
  if (out && revoked) return *revoked;
  return out;
}

result<void> mark_used(pg::connection& c, std::string_view credential_id) {
  auto r = c.exec(k_mark_used, pg::params{}.add(credential_id));
  if (!r) return r.err();
  return {};
}

result<bool> mark_inactive(pg::connection& c, std::string_view credential_id, std::string_view reason) {
  auto r = c.exec(k_mark_inactive, pg::params{}.add(credential_id).add(reason));
  if (!r) return r.err();
  return r->affected() > 0;
}

result<bool> disconnect(pg::connection& c, std::string_view workspace_id, std::string_view provider_type) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  std::string sender = provider_type == k_google ? "google" : provider_type == k_outlook ? "outlook" : "";
  return pg::transact(c, [&](pg::connection& tx) -> result<bool> {
    auto r = tx.exec(k_disconnect, pg::params{}.add(workspace_id).add(provider_type));
    if (!r) return r.err();
    if (!sender.empty())
      if (auto s = tx.exec(k_reset_sender, pg::params{}.add(workspace_id).add(sender)); !s) return s.err();
    return r->affected() > 0;
  });
}

result<std::vector<expiring_credential>> expiring_credentials(pg::connection& c, std::int64_t within_ms, int limit) {
  auto r = c.exec(k_expiring, pg::params{}.add(within_ms).add(limit));
  if (!r) return r.err();
  std::vector<expiring_credential> out;
  for (int i = 0; i < r->size(); ++i)
    out.push_back({std::string(r->get(i, 0)), std::string(r->get(i, 1)), std::string(r->get(i, 2))});
  return out;
}

result<std::string> email_sender_of(pg::connection& c, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  auto r = c.exec(k_sender_of, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  if (r->empty()) return no_workspace();
  return std::string(r->get(0, 0));
}

result<void> set_email_sender(pg::connection& c, std::string_view workspace_id, std::string_view sender) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  std::string_view provider = sender == "google" ? k_google : sender == "outlook" ? k_outlook : std::string_view{};
  if (provider.empty() && sender != "smtp")
    return make_error(error_code::invalid, "provider must be smtp, google or outlook", "provider");
  return pg::transact(c, [&](pg::connection& tx) -> result<void> {
    // The workspace row first: a disconnect (which resets the sender) cannot slip in between the
    // check and the write.
    auto ws = tx.exec(k_lock_workspace, pg::params{}.add(workspace_id));
    if (!ws) return ws.err();
    if (ws->empty()) return no_workspace();
    if (!provider.empty()) {
      auto a = tx.exec(k_active_credential, pg::params{}.add(workspace_id).add(provider));
      if (!a) return a.err();
      if (a->empty())
        return make_error(error_code::conflict,
                          "the workspace has no active " + std::string(sender) + " account: connect it first (.../integrations/" +
                              std::string(sender) + "/connect)",
                          "provider");
    }
    auto u = tx.exec(k_set_sender, pg::params{}.add(workspace_id).add(sender));
    if (!u) return u.err();
    return {};
  });
}

result<owner_contact> owner_of(pg::connection& c, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  auto r = c.exec(k_owner, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  if (r->empty()) return no_workspace();
  return owner_contact{std::string(r->get(0, 0)), std::string(r->get(0, 1))};
}

result<std::size_t> purge_authorizations(pg::connection& c, std::int64_t keep_s) {
  auto r = c.exec(k_purge, pg::params{}.add(keep_s));
  if (!r) return r.err();
  return static_cast<std::size_t>(r->affected());
}

}  // namespace flowtrack::storage::oauth
