// Native sign-in in SQL (issue #13, migration 022): users, email verification, password reset
// tokens, refresh-token families, login attempts for the limiter, TOTP and recovery codes,
// security events, Clerk users. Token columns hold the SHA-256 hex the caller computed: storage
// never sees a raw token, a password or an unsealed TOTP secret. Knows SQL, nothing of HTTP.
//
// Every function is one statement (several changes are data-modifying CTEs), so each is atomic on
// its own and none opens a transaction: a caller may run several inside its own pg::transact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// A user as sign-in needs it. NULL names read as empty strings.
struct user_row {
  std::string id, email, first_name, last_name, auth_provider;
  std::optional<std::string> password_hash, clerk_user_id, totp_secret;  ///< totp_secret sealed
  bool email_verified = false, is_active = true, totp_enabled = false;
  std::optional<std::int64_t> totp_last_step;
  std::int64_t created_at_ms = 0;
};

/// The user with that email (case-insensitive); soft-deleted users are not found.
result<std::optional<user_row>> find_user_by_email(pg::connection& c, std::string_view email);
/// The user with that id; soft-deleted users and ids that are not UUIDs are not found.
result<std::optional<user_row>> find_user_by_id(pg::connection& c, std::string_view id);

/// What a sign-up did.
enum class signup_outcome { created, already_registered };

/// Signs up. A new email is inserted (auth_provider 'local'). An existing user without a password
/// (invited, or made by the CLI) gets the hash, names and verification token, and must verify the
/// email again before the password means anything (email_verified_at is cleared: whoever signs up
/// must prove they hold the address): outcome `created` too. So does a user whose email was never
/// verified (a sign-up again, its mail lost): the newest sign-up's password and token replace the
/// earlier ones, whose link stops working. (Keeping the first password would let whoever signed up
/// first with someone else's address hold the account that address's owner verifies later.) A
/// verified user with a password, a Clerk user (clerk_user_id set: they add a password through the
/// reset flow) and a soft-deleted user are left as they are: `already_registered`. An email the
/// users_email_valid check refuses is `invalid`.
result<signup_outcome> sign_up(pg::connection& c, std::string_view email, std::string_view password_hash,
                               std::string_view first_name, std::string_view last_name,
                               std::string_view verification_token_hash, std::int64_t expires_at_ms);

/// Verifies the email of the user holding that unexpired token: sets email_verified_at (kept if
/// already set), clears token and expiry, returns the user id. nullopt when no user holds it
/// unexpired.
result<std::optional<std::string>> verify_email(pg::connection& c, std::string_view token_hash);

/// Changes the names given (nullopt keeps one; an empty string stores NULL). `not_found` when no
/// such user.
result<void> update_profile(pg::connection& c, std::string_view user_id, std::optional<std::string> first_name,
                            std::optional<std::string> last_name);

/// Sets the hash and password_changed_at, marks every unused reset token of the user used, and
/// revokes every refresh token of the user except those of `keep_family` (the session that
/// changed it). `not_found` when no such user.
result<void> set_password(pg::connection& c, std::string_view user_id, std::string_view password_hash,
                          std::optional<std::string> keep_family);

/// Replaces the user's hash `old_hash` by `new_hash`, the same password under other costs (a
/// rehash at login): password_changed_at, reset tokens and sessions stay as they are. Nothing
/// changes, and false, when the stored hash is no longer `old_hash` (the password changed
/// meanwhile) or there is no such user.
result<bool> rehash_password(pg::connection& c, std::string_view user_id, std::string_view old_hash,
                             std::string_view new_hash);

/// Stores a reset token (the caller gives 1 hour). Newest wins: the user's older unused,
/// unexpired tokens are marked used. `not_found` when no such user.
result<void> issue_reset_token(pg::connection& c, std::string_view user_id, std::string_view token_hash,
                               std::int64_t expires_at_ms);

/// Consumes a reset token: the user id when it is the user's newest token, unused and unexpired,
/// and marks it used. Of two concurrent consumers exactly one gets the id (the row lock makes the
/// second re-read it used); nullopt otherwise.
result<std::optional<std::string>> consume_reset_token(pg::connection& c, std::string_view token_hash);

/// A refresh token as the rotation needs it. revoked_at_ms is 0 while not revoked.
struct refresh_row {
  std::string id, user_id, family_id;
  std::optional<std::string> replaced_by;
  bool revoked = false;
  std::int64_t expires_at_ms = 0, revoked_at_ms = 0;
};

/// Stores a refresh token; returns its id. `family_id` nullopt starts a new family (the token's own
/// id). Empty user agent or IP store NULL.
result<std::string> insert_refresh_token(pg::connection& c, std::string_view user_id, std::string_view token_hash,
                                         std::optional<std::string> family_id, std::optional<std::string> parent_id,
                                         std::int64_t expires_at_ms, std::string_view user_agent, std::string_view ip);

/// The token with that hash, revoked or not, expired or not (the caller decides: a revoked token
/// presented again is reuse).
result<std::optional<refresh_row>> find_refresh_token(pg::connection& c, std::string_view token_hash);

/// Rotates in one statement: revokes `old_id` if it is not revoked yet (under its row lock),
/// inserts the new token in its family with parent `old_id`, sets old.replaced_by; returns the new
/// id. nullopt when `old_id` was already revoked (someone else rotated or revoked it first) or does
/// not exist: of two concurrent rotations exactly one gets an id. Expiry is not checked here: the
/// caller read it with find_refresh_token.
result<std::optional<std::string>> rotate_refresh_token(pg::connection& c, std::string_view old_id,
                                                        std::string_view new_token_hash, std::int64_t expires_at_ms,
                                                        std::string_view user_agent, std::string_view ip);

/// Revokes every live token of the family; how many.
result<std::size_t> revoke_family(pg::connection& c, std::string_view family_id);

/// Revokes every live token of the user except those of `except_family`; how many.
result<std::size_t> revoke_user_tokens(pg::connection& c, std::string_view user_id,
                                       std::optional<std::string> except_family);

/// Logout: revokes the user's token with that hash and the rest of its family (the session).
/// True when that token was the user's and live; false otherwise (nothing of another user changes).
result<bool> revoke_refresh_token(pg::connection& c, std::string_view user_id, std::string_view token_hash);

/// Records one sign-in attempt (login_attempts is append-only). Empty user agent stores NULL.
result<void> record_login_attempt(pg::connection& c, std::string_view email, std::string_view ip,
                                  std::string_view user_agent, bool ok, std::optional<std::string_view> failure_reason);

/// Failed attempts since `since_ms` by email (case-insensitive) and by IP, each window apart, and
/// the oldest of each window (0 when none) for Retry-After. Successes are not counted.
struct attempt_counts {
  std::int64_t by_email = 0, by_ip = 0;
  std::int64_t oldest_email_ms = 0, oldest_ip_ms = 0;
};

/// One statement, one range scan of each of idx_login_attempts_email and idx_login_attempts_ip.
result<attempt_counts> failed_attempts_since(pg::connection& c, std::string_view email, std::string_view ip,
                                             std::int64_t since_ms);

/// Stores a pending TOTP secret (sealed by the caller), or clears it with nullopt. `conflict` while
/// TOTP is enabled (disable it first: an enabled secret never changes unverified); `not_found`
/// when no such user.
result<void> set_totp_secret(pg::connection& c, std::string_view user_id, std::optional<std::string> sealed_secret);

/// Enables TOTP with the pending secret: totp_enabled_at, totp_last_step = `step` (the code that
/// proved the setup is spent) and the recovery codes, replacing any the user had. `conflict` when
/// there is no pending secret or TOTP is already enabled; `not_found` when no such user.
result<void> enable_totp(pg::connection& c, std::string_view user_id, std::int64_t step,
                         std::vector<std::string> recovery_code_hashes);

/// Clears the secret, totp_enabled_at and the recovery codes (totp_last_step stays: steps only
/// grow). `not_found` when no such user.
result<void> disable_totp(pg::connection& c, std::string_view user_id);

/// Accepts `step` only if it is greater than totp_last_step (one conditional UPDATE, so two
/// concurrent uses of one code: one wins). false = replay (or no such user).
result<bool> advance_totp_step(pg::connection& c, std::string_view user_id, std::int64_t step);

/// Spends one unused recovery code of the user; false when there is none with that hash (used,
/// unknown, another user's). Two concurrent uses: one wins.
result<bool> use_recovery_code(pg::connection& c, std::string_view user_id, std::string_view code_hash);

/// Appends a security event (`kind` e.g. "password_changed", "refresh_token_reuse"); an empty IP
/// or user agent stores NULL.
result<void> record_security_event(pg::connection& c, std::optional<std::string> user_id, std::string_view kind,
                                   std::string_view ip, std::string_view user_agent, const boost::json::object& detail);

/// The user of a Clerk sign-in: the one with that clerk_user_id; else the user with that email,
/// linked (clerk_user_id set, email_verified_at set if it was not; names filled where empty); else
/// a new user (auth_provider 'clerk', email_verified_at now). `conflict` when the email belongs to
/// another Clerk user or to a soft-deleted user, or the clerk id to a soft-deleted user.
result<user_row> find_or_create_clerk_user(pg::connection& c, std::string_view clerk_user_id, std::string_view email,
                                           std::string_view first_name, std::string_view last_name);

namespace detail {
/// The statement failed_attempts_since runs ($1 email, $2 IP, $3 since in ms), for a test to
/// EXPLAIN it.
const std::string& failed_attempts_sql();
}  // namespace detail

}  // namespace flowtrack::storage
