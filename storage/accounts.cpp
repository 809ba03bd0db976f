#include "storage/accounts.hpp"

#include <boost/json/serialize.hpp>

#include "runtime/text.hpp"
#include "storage/pg/array.hpp"

namespace flowtrack::storage {
namespace {

// Times cross as ms since the epoch. The columns are TIMESTAMP (no zone), as now() lands in them:
// both ways go through the session's zone, so they agree with NOW() defaults and comparisons.
std::string ts(std::string_view ms_param) {
  return "to_timestamp(" + std::string(ms_param) + "::bigint / 1000.0)::timestamp";
}
std::string ms(std::string_view column) {
  return "(extract(epoch FROM " + std::string(column) + "::timestamptz) * 1000)::bigint";
}

// The columns user_row reads, in its order.
const std::string k_user_cols =
    "id, email, COALESCE(first_name, '') AS first_name, COALESCE(last_name, '') AS last_name, auth_provider, "
    "password_hash, clerk_user_id, totp_secret, email_verified_at IS NOT NULL AS email_verified, is_active, "
    "totp_enabled_at IS NOT NULL AS totp_enabled, totp_last_step, " + ms("created_at") + " AS created_at_ms";

// The unique email index (CITEXT: case-insensitive); a soft-deleted user is gone for sign-in.
const pg::statement k_user_by_email{"ft_acc_user_by_email",
                                    "SELECT " + k_user_cols + " FROM users WHERE email = $1::citext AND deleted_at IS NULL"};
const pg::statement k_user_by_id{"ft_acc_user_by_id",
                                 "SELECT " + k_user_cols + " FROM users WHERE id = $1::uuid AND deleted_at IS NULL"};

// $1 email, $2 hash, $3 first, $4 last, $5 verification token hash, $6 its expiry (ms). A row
// without a password (invited, made by the CLI) takes the sign-up, but its email counts as
// unverified again: whoever signs up must prove they hold the address before the password works.
// Clerk users and soft-deleted users are left alone, as are users with a password.
const pg::statement k_sign_up{"ft_acc_sign_up", R"sql(
INSERT INTO users AS u (email, password_hash, first_name, last_name, auth_provider, email_verification_token,
                        email_verification_expiry)
VALUES ($1::citext, $2, NULLIF($3, ''), NULLIF($4, ''), 'local', $5, )sql" + ts("$6") + R"sql()
ON CONFLICT (email) DO UPDATE
  SET password_hash = EXCLUDED.password_hash,
      first_name = COALESCE(EXCLUDED.first_name, u.first_name),
      last_name = COALESCE(EXCLUDED.last_name, u.last_name),
      email_verification_token = EXCLUDED.email_verification_token,
      email_verification_expiry = EXCLUDED.email_verification_expiry,
      email_verified_at = NULL
  WHERE (u.password_hash IS NULL OR u.email_verified_at IS NULL) AND u.clerk_user_id IS NULL AND u.deleted_at IS NULL
RETURNING id
)sql"};

const pg::statement k_verify_email{"ft_acc_verify_email", R"sql(
UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()), email_verification_token = NULL,
                 email_verification_expiry = NULL
WHERE email_verification_token = $1 AND email_verification_expiry > now() AND deleted_at IS NULL
RETURNING id
)sql"};

// A NULL parameter keeps the name; an empty one stores NULL.
const pg::statement k_update_profile{"ft_acc_update_profile", R"sql(
UPDATE users SET first_name = CASE WHEN $2::text IS NULL THEN first_name ELSE NULLIF($2::text, '') END,
                 last_name = CASE WHEN $3::text IS NULL THEN last_name ELSE NULLIF($3::text, '') END
WHERE id = $1::uuid AND deleted_at IS NULL
)sql"};

// $1 user, $2 hash, $3 family to keep (or NULL). The other CTEs run only when the user exists
// (EXISTS on u is a one-time filter, so each still scans its user_id index with $1).
const pg::statement k_set_password{"ft_acc_set_password", R"sql(
WITH u AS (
  UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1::uuid AND deleted_at IS NULL RETURNING id
), resets AS (
  UPDATE password_reset_tokens SET is_used = true, used_at = now()
  WHERE user_id = $1::uuid AND NOT is_used AND EXISTS (SELECT 1 FROM u)
), sessions AS (
  UPDATE refresh_tokens SET is_revoked = true, revoked_at = now()
  WHERE user_id = $1::uuid AND NOT is_revoked AND ($3::uuid IS NULL OR family_id <> $3::uuid) AND EXISTS (SELECT 1 FROM u)
)
SELECT count(*) FROM u
)sql"};

// Compare-and-set: a password changed since the hash was read keeps the new one.
const pg::statement k_rehash_password{"ft_acc_rehash_password", R"sql(
UPDATE users SET password_hash = $3 WHERE id = $1::uuid AND password_hash = $2 AND deleted_at IS NULL
)sql"};

// Newest wins: the user's older tokens still open are spent by the new one.
const pg::statement k_issue_reset{"ft_acc_issue_reset", R"sql(
WITH older AS (
  UPDATE password_reset_tokens SET is_used = true, used_at = now()
  WHERE user_id = $1::uuid AND expires_at > now() AND NOT is_used
)
INSERT INTO password_reset_tokens (user_id, token, expires_at) VALUES ($1::uuid, $2, )sql" + ts("$3") + R"sql()
)sql"};

// A second consumer of the same token waits for the first's row lock and re-reads the row used
// (READ COMMITTED re-checks the WHERE on the new version): one wins. A token another one of the
// user's was issued after (or at the same instant as) is not the newest.
const pg::statement k_consume_reset{"ft_acc_consume_reset", R"sql(
UPDATE password_reset_tokens t SET is_used = true, used_at = now()
WHERE t.token = $1 AND NOT t.is_used AND t.expires_at > now()
  AND NOT EXISTS (SELECT 1 FROM password_reset_tokens n
                  WHERE n.user_id = t.user_id AND n.id <> t.id AND n.created_at >= t.created_at)
RETURNING t.user_id
)sql"};

// $3 family (NULL: a new one, the token's own id), $4 parent.
const pg::statement k_insert_refresh{"ft_acc_insert_refresh", R"sql(
INSERT INTO refresh_tokens (id, user_id, token, family_id, parent_id, expires_at, user_agent, ip_address)
SELECT n.id, $1::uuid, $2, COALESCE($3::uuid, n.id), $4::uuid, )sql" + ts("$5") + R"sql(, NULLIF($6, ''), NULLIF($7, '')
FROM (SELECT uuid_generate_v4() AS id) n
RETURNING id
)sql"};

const pg::statement k_find_refresh{"ft_acc_find_refresh",
                                   "SELECT id, user_id, family_id, replaced_by, is_revoked, " + ms("expires_at") + ", "
                                   "COALESCE(" + ms("revoked_at") + ", 0) FROM refresh_tokens WHERE token = $1"};

// $1 old id, $2 new hash, $3 expiry (ms), $4 user agent, $5 IP. The UPDATE takes the old row's
// lock; a concurrent rotation waits, re-reads it revoked and updates nothing, so it inserts
// nothing. The new id is drawn first (a volatile CTE is evaluated once) so the old row can name it.
const pg::statement k_rotate_refresh{"ft_acc_rotate_refresh", R"sql(
WITH n AS (SELECT uuid_generate_v4() AS id),
old AS (
  UPDATE refresh_tokens SET is_revoked = true, revoked_at = now(), replaced_by = (SELECT id FROM n)
  WHERE id = $1::uuid AND NOT is_revoked
  RETURNING id, user_id, family_id
)
INSERT INTO refresh_tokens (id, user_id, token, family_id, parent_id, expires_at, user_agent, ip_address)
SELECT n.id, old.user_id, $2, old.family_id, old.id, )sql" + ts("$3") + R"sql(, NULLIF($4, ''), NULLIF($5, '')
FROM old, n
RETURNING id
)sql"};

const pg::statement k_revoke_family{
    "ft_acc_revoke_family",
    "UPDATE refresh_tokens SET is_revoked = true, revoked_at = now() WHERE family_id = $1::uuid AND NOT is_revoked"};

const pg::statement k_revoke_user{"ft_acc_revoke_user", R"sql(
UPDATE refresh_tokens SET is_revoked = true, revoked_at = now()
WHERE user_id = $1::uuid AND NOT is_revoked AND ($2::uuid IS NULL OR family_id <> $2::uuid)
)sql"};

// Logout ends the session: the token and whatever else of its family still lives.
const pg::statement k_revoke_token{"ft_acc_revoke_token", R"sql(
WITH t AS (
  SELECT id, family_id FROM refresh_tokens WHERE token = $2 AND user_id = $1::uuid
), r AS (
  UPDATE refresh_tokens SET is_revoked = true, revoked_at = now()
  WHERE family_id = (SELECT family_id FROM t) AND NOT is_revoked
  RETURNING id
)
SELECT EXISTS (SELECT 1 FROM r JOIN t ON r.id = t.id)
)sql"};

const pg::statement k_record_attempt{"ft_acc_record_attempt", R"sql(
INSERT INTO login_attempts (email, ip_address, user_agent, was_successful, failure_reason)
VALUES ($1::citext, $2, NULLIF($3, ''), $4::boolean, $5)
)sql"};

// $1 email, $2 IP, $3 since (ms). Each window is one range scan of its spec index: (email,
// created_at DESC) and (ip_address, created_at DESC); successes are filtered on the heap rows the
// range returns. CITEXT's = is the operator idx_login_attempts_email is built for.
const std::string k_failed_attempts_sql = R"sql(
SELECT e.n, e.oldest, i.n, i.oldest
FROM (SELECT count(*) AS n, COALESCE()sql" + ms("min(created_at)") + R"sql(, 0) AS oldest
      FROM login_attempts
      WHERE email = $1::citext AND created_at >= )sql" + ts("$3") + R"sql( AND NOT was_successful) e,
     (SELECT count(*) AS n, COALESCE()sql" + ms("min(created_at)") + R"sql(, 0) AS oldest
      FROM login_attempts
      WHERE ip_address = $2 AND created_at >= )sql" + ts("$3") + R"sql( AND NOT was_successful) i
)sql";
const pg::statement k_failed_attempts{"ft_acc_failed_attempts", k_failed_attempts_sql};

// An enabled secret never changes unverified: disable first. Columns: the user exists, changed.
const pg::statement k_set_totp_secret{"ft_acc_set_totp_secret", R"sql(
WITH u AS (SELECT id FROM users WHERE id = $1::uuid AND deleted_at IS NULL),
s AS (
  UPDATE users SET totp_secret = $2 WHERE id = $1::uuid AND deleted_at IS NULL AND totp_enabled_at IS NULL RETURNING id
)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM s)
)sql"};

// $2 the step that proved the setup (spent), $3 the recovery code hashes (text[]). The old codes
// go and the new ones come in the same statement, only when enabling happened. The DELETE sees
// the table as it was before the statement, so it never removes the codes inserted beside it.
const pg::statement k_enable_totp{"ft_acc_enable_totp", R"sql(
WITH u AS (SELECT id FROM users WHERE id = $1::uuid AND deleted_at IS NULL),
e AS (
  UPDATE users SET totp_enabled_at = now(), totp_last_step = GREATEST(COALESCE(totp_last_step, $2::bigint), $2::bigint)
  WHERE id = $1::uuid AND deleted_at IS NULL AND totp_secret IS NOT NULL AND totp_enabled_at IS NULL
  RETURNING id
), gone AS (
  DELETE FROM user_recovery_codes WHERE user_id = $1::uuid AND EXISTS (SELECT 1 FROM e)
), codes AS (
  INSERT INTO user_recovery_codes (user_id, code_hash)
  SELECT $1::uuid, h FROM (SELECT DISTINCT unnest($3::text[]) AS h) x WHERE EXISTS (SELECT 1 FROM e)
)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM e)
)sql"};

const pg::statement k_disable_totp{"ft_acc_disable_totp", R"sql(
WITH u AS (
  UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL WHERE id = $1::uuid AND deleted_at IS NULL RETURNING id
), gone AS (
  DELETE FROM user_recovery_codes WHERE user_id = $1::uuid AND EXISTS (SELECT 1 FROM u)
)
SELECT count(*) FROM u
)sql"};

// The replay guard: a concurrent use of the same step waits for the row lock and re-reads the
// step taken.
const pg::statement k_advance_totp{"ft_acc_advance_totp", R"sql(
UPDATE users SET totp_last_step = $2::bigint
WHERE id = $1::uuid AND deleted_at IS NULL AND (totp_last_step IS NULL OR totp_last_step < $2::bigint)
)sql"};

const pg::statement k_use_recovery{"ft_acc_use_recovery", R"sql(
UPDATE user_recovery_codes SET used_at = now() WHERE user_id = $1::uuid AND code_hash = $2 AND used_at IS NULL
)sql"};

const pg::statement k_security_event{"ft_acc_security_event", R"sql(
INSERT INTO security_events (user_id, kind, ip_address, user_agent, detail)
VALUES ($1::uuid, $2, NULLIF($3, ''), NULLIF($4, ''), $5::jsonb)
)sql"};

// The user with the clerk id; else the one with the email, linked (not one of another Clerk user,
// nor a soft-deleted one: then nothing is returned); else a new one. Two first sign-ins at once:
// the second's insert meets the first's row on the email and links the same clerk id, so both get
// the row.
const pg::statement k_clerk_user{"ft_acc_clerk_user", "WITH existing AS (SELECT " + k_user_cols +
                                                          " FROM users WHERE clerk_user_id = $1 AND deleted_at IS NULL"
                                                          R"sql(
), made AS (
  INSERT INTO users AS u (clerk_user_id, email, first_name, last_name, auth_provider, email_verified_at)
  SELECT $1, $2::citext, NULLIF($3, ''), NULLIF($4, ''), 'clerk', now() WHERE NOT EXISTS (SELECT 1 FROM existing)
  ON CONFLICT (email) DO UPDATE
    SET clerk_user_id = EXCLUDED.clerk_user_id,
        email_verified_at = COALESCE(u.email_verified_at, now()),
        first_name = COALESCE(NULLIF(u.first_name, ''), EXCLUDED.first_name),
        last_name = COALESCE(NULLIF(u.last_name, ''), EXCLUDED.last_name)
    WHERE u.deleted_at IS NULL AND (u.clerk_user_id IS NULL OR u.clerk_user_id = EXCLUDED.clerk_user_id)
  RETURNING )sql" + k_user_cols + R"sql(
)
SELECT * FROM existing UNION ALL SELECT * FROM made
)sql"};

user_row read_user(const pg::rows& r, int i) {
  user_row u;
  u.id = r.get(i, 0);
  u.email = r.get(i, 1);
  u.first_name = r.get(i, 2);
  u.last_name = r.get(i, 3);
  u.auth_provider = r.get(i, 4);
  u.password_hash = r.get_optional(i, 5);
  u.clerk_user_id = r.get_optional(i, 6);
  u.totp_secret = r.get_optional(i, 7);
  u.email_verified = r.get_bool(i, 8);
  u.is_active = r.get_bool(i, 9);
  u.totp_enabled = r.get_bool(i, 10);
  if (!r.is_null(i, 11)) u.totp_last_step = r.get_int(i, 11);
  u.created_at_ms = r.get_int(i, 12);
  return u;
}

result<std::optional<user_row>> one_user(result<pg::rows> rows) {
  if (!rows) return rows.err();
  if (rows->empty()) return std::optional<user_row>{};
  return std::optional<user_row>{read_user(*rows, 0)};
}

result<std::optional<std::string>> optional_first(result<pg::rows> rows) {
  if (!rows) return rows.err();
  if (rows->empty()) return std::optional<std::string>{};
  return std::optional<std::string>{std::string(rows->get(0, 0))};
}

error no_user(std::string_view user_id) {
  return make_error(error_code::not_found, "no user " + std::string(user_id), "user_id");
}

}  // namespace

namespace detail {
const std::string& failed_attempts_sql() { return k_failed_attempts_sql; }
}  // namespace detail

result<std::optional<user_row>> find_user_by_email(pg::connection& c, std::string_view email) {
  return one_user(c.exec(k_user_by_email, pg::params{}.add(email)));
}

result<std::optional<user_row>> find_user_by_id(pg::connection& c, std::string_view id) {
  if (!runtime::is_uuid(id)) return std::optional<user_row>{};
  return one_user(c.exec(k_user_by_id, pg::params{}.add(id)));
}

result<signup_outcome> sign_up(pg::connection& c, std::string_view email, std::string_view password_hash,
                               std::string_view first_name, std::string_view last_name,
                               std::string_view verification_token_hash, std::int64_t expires_at_ms) {
  auto rows = c.exec(k_sign_up, pg::params{}
                                    .add(email)
                                    .add(password_hash)
                                    .add(first_name)
                                    .add(last_name)
                                    .add(verification_token_hash)
                                    .add(expires_at_ms));
  if (!rows) return rows.err();
  return rows->empty() ? signup_outcome::already_registered : signup_outcome::created;
}

result<std::optional<std::string>> verify_email(pg::connection& c, std::string_view token_hash) {
  return optional_first(c.exec(k_verify_email, pg::params{}.add(token_hash)));
}

result<void> update_profile(pg::connection& c, std::string_view user_id, std::optional<std::string> first_name,
                            std::optional<std::string> last_name) {
  auto rows = c.exec(k_update_profile, pg::params{}.add(user_id).add(std::move(first_name)).add(std::move(last_name)));
  if (!rows) return rows.err();
  if (rows->affected() == 0) return no_user(user_id);
  return {};
}

result<void> set_password(pg::connection& c, std::string_view user_id, std::string_view password_hash,
                          std::optional<std::string> keep_family) {
  auto rows = c.exec(k_set_password, pg::params{}.add(user_id).add(password_hash).add(std::move(keep_family)));
  if (!rows) return rows.err();
  if (rows->get_int(0, 0) == 0) return no_user(user_id);
  return {};
}

result<bool> rehash_password(pg::connection& c, std::string_view user_id, std::string_view old_hash,
                             std::string_view new_hash) {
  auto rows = c.exec(k_rehash_password, pg::params{}.add(user_id).add(old_hash).add(new_hash));
  if (!rows) return rows.err();
  return rows->affected() == 1;
}

result<void> issue_reset_token(pg::connection& c, std::string_view user_id, std::string_view token_hash,
                               std::int64_t expires_at_ms) {
  auto rows = c.exec(k_issue_reset, pg::params{}.add(user_id).add(token_hash).add(expires_at_ms));
  if (!rows) {
    // The only foreign key the insert can miss is the user.
    if (rows.err().code == error_code::not_found) return no_user(user_id);
    return rows.err();
  }
  return {};
}

result<std::optional<std::string>> consume_reset_token(pg::connection& c, std::string_view token_hash) {
  return optional_first(c.exec(k_consume_reset, pg::params{}.add(token_hash)));
}

result<std::string> insert_refresh_token(pg::connection& c, std::string_view user_id, std::string_view token_hash,
                                         std::optional<std::string> family_id, std::optional<std::string> parent_id,
                                         std::int64_t expires_at_ms, std::string_view user_agent, std::string_view ip) {
  auto rows = c.exec(k_insert_refresh, pg::params{}
                                           .add(user_id)
                                           .add(token_hash)
                                           .add(std::move(family_id))
                                           .add(std::move(parent_id))
                                           .add(expires_at_ms)
                                           .add(user_agent)
                                           .add(ip));
  if (!rows) return rows.err();
  return std::string(rows->get(0, 0));
}

result<std::optional<refresh_row>> find_refresh_token(pg::connection& c, std::string_view token_hash) {
  auto rows = c.exec(k_find_refresh, pg::params{}.add(token_hash));
  if (!rows) return rows.err();
  if (rows->empty()) return std::optional<refresh_row>{};
  refresh_row r;
  r.id = rows->get(0, 0);
  r.user_id = rows->get(0, 1);
  r.family_id = rows->get(0, 2);
  r.replaced_by = rows->get_optional(0, 3);
  r.revoked = rows->get_bool(0, 4);
  r.expires_at_ms = rows->get_int(0, 5);
  r.revoked_at_ms = rows->get_int(0, 6);
  return std::optional<refresh_row>{std::move(r)};
}

result<std::optional<std::string>> rotate_refresh_token(pg::connection& c, std::string_view old_id,
                                                        std::string_view new_token_hash, std::int64_t expires_at_ms,
                                                        std::string_view user_agent, std::string_view ip) {
  return optional_first(c.exec(
      k_rotate_refresh,
      pg::params{}.add(old_id).add(new_token_hash).add(expires_at_ms).add(user_agent).add(ip)));
}

result<std::size_t> revoke_family(pg::connection& c, std::string_view family_id) {
  auto rows = c.exec(k_revoke_family, pg::params{}.add(family_id));
  if (!rows) return rows.err();
  return static_cast<std::size_t>(rows->affected());
}

result<std::size_t> revoke_user_tokens(pg::connection& c, std::string_view user_id,
                                       std::optional<std::string> except_family) {
  auto rows = c.exec(k_revoke_user, pg::params{}.add(user_id).add(std::move(except_family)));
  if (!rows) return rows.err();
  return static_cast<std::size_t>(rows->affected());
}

result<bool> revoke_refresh_token(pg::connection& c, std::string_view user_id, std::string_view token_hash) {
  auto rows = c.exec(k_revoke_token, pg::params{}.add(user_id).add(token_hash));
  if (!rows) return rows.err();
  return rows->get_bool(0, 0);
}

result<void> record_login_attempt(pg::connection& c, std::string_view email, std::string_view ip,
                                  std::string_view user_agent, bool ok, std::optional<std::string_view> failure_reason) {
  pg::params p;
  p.add(email).add(ip).add(user_agent).add(ok);
  failure_reason ? p.add(*failure_reason) : p.add_null();
  auto rows = c.exec(k_record_attempt, p);
  if (!rows) return rows.err();
  return {};
}

result<attempt_counts> failed_attempts_since(pg::connection& c, std::string_view email, std::string_view ip,
                                             std::int64_t since_ms) {
  auto rows = c.exec(k_failed_attempts, pg::params{}.add(email).add(ip).add(since_ms));
  if (!rows) return rows.err();
  attempt_counts n;
  n.by_email = rows->get_int(0, 0);
  n.oldest_email_ms = rows->get_int(0, 1);
  n.by_ip = rows->get_int(0, 2);
  n.oldest_ip_ms = rows->get_int(0, 3);
  return n;
}

result<void> set_totp_secret(pg::connection& c, std::string_view user_id, std::optional<std::string> sealed_secret) {
  auto rows = c.exec(k_set_totp_secret, pg::params{}.add(user_id).add(std::move(sealed_secret)));
  if (!rows) return rows.err();
  if (rows->get_int(0, 0) == 0) return no_user(user_id);
  if (rows->get_int(0, 1) == 0)
    return make_error(error_code::conflict, "two-factor authentication is enabled; disable it before setting it up again",
                      "totp");
  return {};
}

result<void> enable_totp(pg::connection& c, std::string_view user_id, std::int64_t step,
                         std::vector<std::string> recovery_code_hashes) {
  pg::array_builder codes;
  for (const auto& h : recovery_code_hashes) codes.add(h);
  auto rows = c.exec(k_enable_totp, pg::params{}.add(user_id).add(step).add(codes.finish()));
  if (!rows) return rows.err();
  if (rows->get_int(0, 0) == 0) return no_user(user_id);
  if (rows->get_int(0, 1) == 0)
    return make_error(error_code::conflict,
                      "two-factor authentication is already enabled, or was not set up first; set it up again", "totp");
  return {};
}

result<void> disable_totp(pg::connection& c, std::string_view user_id) {
  auto rows = c.exec(k_disable_totp, pg::params{}.add(user_id));
  if (!rows) return rows.err();
  if (rows->get_int(0, 0) == 0) return no_user(user_id);
  return {};
}

result<bool> advance_totp_step(pg::connection& c, std::string_view user_id, std::int64_t step) {
  auto rows = c.exec(k_advance_totp, pg::params{}.add(user_id).add(step));
  if (!rows) return rows.err();
  return rows->affected() > 0;
}

result<bool> use_recovery_code(pg::connection& c, std::string_view user_id, std::string_view code_hash) {
  auto rows = c.exec(k_use_recovery, pg::params{}.add(user_id).add(code_hash));
  if (!rows) return rows.err();
  return rows->affected() > 0;
}

result<void> record_security_event(pg::connection& c, std::optional<std::string> user_id, std::string_view kind,
                                   std::string_view ip, std::string_view user_agent, const boost::json::object& detail) {
  auto rows = c.exec(k_security_event, pg::params{}
                                           .add(std::move(user_id))
                                           .add(kind)
                                           .add(ip)
                                           .add(user_agent)
                                           .add(boost::json::serialize(detail)));
  if (!rows) return rows.err();
  return {};
}

result<user_row> find_or_create_clerk_user(pg::connection& c, std::string_view clerk_user_id, std::string_view email,
                                           std::string_view first_name, std::string_view last_name) {
  auto rows = c.exec(k_clerk_user, pg::params{}.add(clerk_user_id).add(email).add(first_name).add(last_name));
  if (!rows) return rows.err();
  if (rows->empty())
    return make_error(error_code::conflict,
                      "the email " + std::string(email) + " belongs to another Clerk user or to a deleted account", "email");
  return read_user(*rows, 0);
}

}  // namespace flowtrack::storage
