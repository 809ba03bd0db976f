// The management API's credentials: random opaque tokens (refresh, verification, reset), our
// HS256 access tokens (15 minutes; sub, iat, exp, jti, sid) and the Bearer check that also
// takes Clerk RS256 session tokens. Pure: no I/O (the caller passes the time).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "adapters/http/api/json_body.hpp"
#include "crypto/jwt.hpp"

namespace flowtrack::http::api {

/// An access token's lifetime (expiresIn).
inline constexpr std::int64_t k_access_ttl_s = 15 * 60;
/// A refresh token's lifetime.
inline constexpr std::int64_t k_refresh_ttl_s = 7 * 24 * 3600;

/// 32 random bytes (OpenSSL RAND_bytes), base64url without padding (43 characters). Throws
/// std::runtime_error only when the system has no random bytes to give.
std::string random_token();

/// A signed-in caller.
struct principal {
  std::string user_id;
  std::string session_id;  ///< the refresh-token family of the login; empty for a Clerk token
  std::string provider;    ///< "local" (our access token) or "clerk"
  std::int64_t issued_at_ms = 0;  ///< our token's `iat_ms` (when it was made); 0 for Clerk
};

/// Our access token for `user_id` in session `session_id`: HS256 under `key` (32 raw bytes),
/// claims sub, sid, iat, exp (iat + k_access_ttl_s), jti (random), iss "flowtrack", and the
/// private claim iat_ms (the issue time in ms, which the session deny-list compares).
std::string issue_access_token(std::string_view key, std::string_view user_id, std::string_view session_id, std::int64_t now_ms);

/// What a Clerk session token says about its user. The email is read from the claim `email`
/// (Clerk's session-token template must add it: {"email": "{{user.primary_email_address}}"});
/// names from `first_name` / `last_name` when present.
struct clerk_identity {
  std::string clerk_user_id, email, first_name, last_name;
};

/// A Bearer token checked: our own (a principal) or Clerk's (an identity the caller maps to a
/// user), or a 401 whose code says why (`invalid_token`, `token_expired`), or a 503 naming
/// jwt_key when neither kind can be checked.
using bearer_result = std::variant<principal, clerk_identity, api_error>;

/// Checks `authorization` (the header's value): "Bearer <token>", our HS256 under `jwt_key`
/// (empty: not configured) first; a token whose `alg` is RS256 goes to `clerk` when set. A
/// token with alg none or any other algorithm is refused.
bearer_result check_bearer(std::string_view authorization, std::string_view jwt_key,
                           const std::optional<crypto::rsa_keyset>& clerk, std::int64_t now_s);

}  // namespace flowtrack::http::api
