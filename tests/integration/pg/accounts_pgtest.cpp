// Native sign-in's SQL against real PostgreSQL (storage/accounts, migration 022): sign-up and
// verification, reset tokens (newest wins, one winner of two consumers), refresh-token rotation
// (one winner of two rotations), families and logout, the login limiter and its indexes, TOTP and
// recovery codes, security events, Clerk users. Every test makes its own users, emails and IPs.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <thread>

#include "storage/accounts.hpp"
#include "storage/pg/array.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

using namespace std::chrono_literals;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::unique_ptr<pg::connection> connect() {
  auto opened = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.err().message);
  return opened.ok() ? std::move(*opened) : nullptr;
}

std::string unique_email(const std::string& prefix = "acc") { return test::unique_name(prefix) + "@example.com"; }

// A value as a string, whatever the query; fails the test on an error.
std::string scalar(pg::connection& c, std::string_view sql, const pg::params& p = {}) {
  auto r = c.exec(sql, p);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
  if (!r.ok() || r->empty() || r->is_null(0, 0)) return "";
  return std::string(r->get(0, 0));
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect();

  // A signed-up local user (password "hash-1"), unverified; its id.
  std::string user(const std::string& email = unique_email()) {
    auto s = sign_up(*c, email, "hash-1", "Ada", "Lovelace", test::unique_name("verify"), now_ms() + 3600'000);
    EXPECT_TRUE(s.ok() && *s == signup_outcome::created);
    auto u = find_user_by_email(*c, email);
    EXPECT_TRUE(u.ok() && u->has_value());
    return u.ok() && u->has_value() ? (*u)->id : std::string();
  }
};

// Waits until every backend in `pids` waits on a lock (the deadline fails the test), so a race
// starts with both contenders queued behind the same row lock.
void await_blocked(pg::connection& observer, const std::vector<int>& pids) {
  pg::array_builder a;
  for (int p : pids) a.add(static_cast<std::int64_t>(p));
  const std::string list = a.finish();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    auto n = scalar(observer, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND wait_event_type = 'Lock'",
                    pg::params{}.add(list));
    if (n == std::to_string(pids.size())) return;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "the contenders never queued on the row lock";
      return;
    }
    std::this_thread::sleep_for(5ms);
  }
}

TEST(accounts_pgtest, sign_up_creates_renews_an_unverified_account_then_reports_a_verified_one_already_registered) {
  fixture f;
  const std::string email = unique_email();
  const std::string token1 = test::unique_name("v"), token2 = test::unique_name("v");
  auto first = sign_up(*f.c, email, "hash-1", "Ada", "Lovelace", token1, now_ms() + 3600'000);
  ASSERT_TRUE(first.ok()) << first.err().message;
  EXPECT_EQ(*first, signup_outcome::created);

  std::string upper = email;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto u = find_user_by_email(*f.c, upper);
  ASSERT_TRUE(u.ok() && u->has_value()) << "CITEXT: found whatever the case";
  EXPECT_EQ((*u)->email, email);
  EXPECT_EQ((*u)->first_name, "Ada");
  EXPECT_EQ((*u)->last_name, "Lovelace");
  EXPECT_EQ((*u)->auth_provider, "local");
  EXPECT_EQ((*u)->password_hash, "hash-1");
  EXPECT_FALSE((*u)->email_verified);
  EXPECT_TRUE((*u)->is_active);
  EXPECT_FALSE((*u)->totp_enabled);
  EXPECT_FALSE((*u)->totp_secret.has_value());
  EXPECT_NEAR(static_cast<double>((*u)->created_at_ms), static_cast<double>(now_ms()), 60'000);

  // Never verified: the newest sign-up's password, names and token replace the first's.
  auto again = sign_up(*f.c, upper, "hash-2", "Eve", "X", token2, now_ms() + 3600'000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, signup_outcome::created);
  EXPECT_EQ((*find_user_by_email(*f.c, email))->password_hash, "hash-2");
  EXPECT_EQ((*find_user_by_email(*f.c, email))->first_name, "Eve");
  EXPECT_FALSE(verify_email(*f.c, token1)->has_value()) << "the first link no longer works";
  auto verified = verify_email(*f.c, token2);
  ASSERT_TRUE(verified.ok() && verified->has_value());
  EXPECT_EQ(**verified, (*u)->id);

  // Verified: left as it is.
  auto third = sign_up(*f.c, email, "hash-3", "Mallory", "Y", test::unique_name("v"), now_ms() + 3600'000);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, signup_outcome::already_registered);
  EXPECT_EQ((*find_user_by_email(*f.c, email))->password_hash, "hash-2") << "a verified user's password never changes";
  EXPECT_EQ((*find_user_by_email(*f.c, email))->first_name, "Eve");
  EXPECT_TRUE((*find_user_by_email(*f.c, email))->email_verified);

  auto bad = sign_up(*f.c, "not-an-email", "h", "", "", test::unique_name("v"), now_ms() + 1000);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, error_code::invalid);
}

TEST(accounts_pgtest, sign_up_of_a_passwordless_user_sets_the_password_and_asks_to_verify_again) {
  fixture f;
  const std::string email = unique_email("invited");
  // As an invitation or `flowtrackd workspace create --owner-email` leaves it (here even verified).
  const std::string id = scalar(*f.c, "INSERT INTO users (email, first_name, email_verified_at) VALUES ($1, 'Old', now()) RETURNING id",
                                pg::params{}.add(email));
  const std::string token = test::unique_name("verify");
  auto s = sign_up(*f.c, email, "hash-new", "Grace", "", token, now_ms() + 3600'000);
  ASSERT_TRUE(s.ok()) << s.err().message;
  EXPECT_EQ(*s, signup_outcome::created);
  auto u = find_user_by_id(*f.c, id);
  ASSERT_TRUE(u.ok() && u->has_value());
  EXPECT_EQ((*u)->password_hash, "hash-new");
  EXPECT_EQ((*u)->first_name, "Grace");
  EXPECT_FALSE((*u)->email_verified) << "whoever signs up must prove they hold the address";

  auto v = verify_email(*f.c, token);
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, id);
  EXPECT_TRUE((*find_user_by_id(*f.c, id))->email_verified);
  EXPECT_FALSE(verify_email(*f.c, token)->has_value()) << "the token is cleared once used";
}

TEST(accounts_pgtest, verify_email_refuses_expired_and_unknown_tokens) {
  fixture f;
  const std::string email = unique_email();
  const std::string token = test::unique_name("expired");
  ASSERT_TRUE(sign_up(*f.c, email, "h", "", "", token, now_ms() - 1000).ok());
  auto expired = verify_email(*f.c, token);
  ASSERT_TRUE(expired.ok());
  EXPECT_FALSE(expired->has_value());
  EXPECT_FALSE((*find_user_by_email(*f.c, email))->email_verified);
  EXPECT_FALSE(verify_email(*f.c, test::unique_name("unknown"))->has_value());
}

TEST(accounts_pgtest, finds_users_by_id_and_not_once_deleted) {
  fixture f;
  const std::string email = unique_email();
  const std::string id = f.user(email);
  auto u = find_user_by_id(*f.c, id);
  ASSERT_TRUE(u.ok() && u->has_value());
  EXPECT_EQ((*u)->email, email);
  EXPECT_FALSE(find_user_by_id(*f.c, "not-a-uuid")->has_value());
  EXPECT_FALSE(find_user_by_id(*f.c, "00000000-0000-0000-0000-000000000000")->has_value());
  ASSERT_TRUE(f.c->exec("UPDATE users SET deleted_at = now() WHERE id = $1::uuid", pg::params{}.add(id)).ok());
  EXPECT_FALSE(find_user_by_id(*f.c, id)->has_value());
  EXPECT_FALSE(find_user_by_email(*f.c, email)->has_value());
}

TEST(accounts_pgtest, update_profile_changes_only_the_names_given) {
  fixture f;
  const std::string id = f.user();
  ASSERT_TRUE(update_profile(*f.c, id, std::string("Augusta"), std::nullopt).ok());
  auto u = find_user_by_id(*f.c, id);
  EXPECT_EQ((*u)->first_name, "Augusta");
  EXPECT_EQ((*u)->last_name, "Lovelace");
  ASSERT_TRUE(update_profile(*f.c, id, std::nullopt, std::string("")).ok());
  u = find_user_by_id(*f.c, id);
  EXPECT_EQ((*u)->first_name, "Augusta");
  EXPECT_EQ((*u)->last_name, "");
  EXPECT_EQ(scalar(*f.c, "SELECT last_name IS NULL FROM users WHERE id = $1::uuid", pg::params{}.add(id)), "t");
  auto missing = update_profile(*f.c, "00000000-0000-0000-0000-000000000000", std::string("x"), std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().code, error_code::not_found);
}

TEST(accounts_pgtest, reset_tokens_newest_wins_single_use_and_expire) {
  fixture f;
  const std::string id = f.user();
  const std::string older = test::unique_name("reset"), newer = test::unique_name("reset");
  ASSERT_TRUE(issue_reset_token(*f.c, id, older, now_ms() + 3600'000).ok());
  ASSERT_TRUE(issue_reset_token(*f.c, id, newer, now_ms() + 3600'000).ok());
  EXPECT_FALSE(consume_reset_token(*f.c, older)->has_value()) << "a newer token supersedes it";
  auto got = consume_reset_token(*f.c, newer);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, id);
  EXPECT_FALSE(consume_reset_token(*f.c, newer)->has_value()) << "single use";

  const std::string expired = test::unique_name("reset");
  ASSERT_TRUE(issue_reset_token(*f.c, id, expired, now_ms() - 1000).ok());
  EXPECT_FALSE(consume_reset_token(*f.c, expired)->has_value());
  EXPECT_FALSE(consume_reset_token(*f.c, test::unique_name("unknown"))->has_value());

  auto nobody = issue_reset_token(*f.c, "00000000-0000-0000-0000-000000000000", test::unique_name("reset"), now_ms() + 1000);
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.err().code, error_code::not_found);
}

TEST(accounts_pgtest, a_reset_token_consumed_by_two_at_once_has_one_winner) {
  fixture f;
  const std::string id = f.user();
  const std::string token = test::unique_name("reset");
  ASSERT_TRUE(issue_reset_token(*f.c, id, token, now_ms() + 3600'000).ok());

  // A third session holds the token's row lock so both consumers queue behind it, then lets go.
  auto holder = connect();
  auto a = connect(), b = connect();
  ASSERT_TRUE(holder && a && b);
  ASSERT_TRUE(holder->begin().ok());
  ASSERT_TRUE(holder->exec("SELECT 1 FROM password_reset_tokens WHERE token = $1 FOR UPDATE", pg::params{}.add(token)).ok());
  result<std::optional<std::string>> ra = std::optional<std::string>{}, rb = std::optional<std::string>{};
  std::thread ta([&] { ra = consume_reset_token(*a, token); });
  std::thread tb([&] { rb = consume_reset_token(*b, token); });
  await_blocked(*f.c, {a->backend_pid(), b->backend_pid()});
  ASSERT_TRUE(holder->commit().ok());
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(static_cast<int>(ra->has_value()) + static_cast<int>(rb->has_value()), 1) << "exactly one consumer wins";
  EXPECT_EQ(ra->has_value() ? **ra : **rb, id);
}

TEST(accounts_pgtest, refresh_tokens_rotate_within_their_family) {
  fixture f;
  const std::string id = f.user();
  const std::string h1 = test::unique_name("rt"), h2 = test::unique_name("rt");
  auto first = insert_refresh_token(*f.c, id, h1, std::nullopt, std::nullopt, now_ms() + 7 * 86400'000LL, "ua/1", "192.0.2.1");
  ASSERT_TRUE(first.ok()) << first.err().message;
  auto row = find_refresh_token(*f.c, h1);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->id, *first);
  EXPECT_EQ((*row)->family_id, *first) << "a new family is the token's own id";
  EXPECT_EQ((*row)->user_id, id);
  EXPECT_FALSE((*row)->revoked);
  EXPECT_EQ((*row)->revoked_at_ms, 0);
  EXPECT_NEAR(static_cast<double>((*row)->expires_at_ms), static_cast<double>(now_ms() + 7 * 86400'000LL), 60'000);

  auto next = rotate_refresh_token(*f.c, *first, h2, now_ms() + 7 * 86400'000LL, "ua/2", "");
  ASSERT_TRUE(next.ok() && next->has_value()) << (next.ok() ? "" : next.err().message);
  auto old_row = find_refresh_token(*f.c, h1);
  EXPECT_TRUE((*old_row)->revoked);
  EXPECT_GT((*old_row)->revoked_at_ms, 0);
  EXPECT_EQ((*old_row)->replaced_by, **next);
  auto new_row = find_refresh_token(*f.c, h2);
  ASSERT_TRUE(new_row->has_value());
  EXPECT_EQ((*new_row)->id, **next);
  EXPECT_EQ((*new_row)->family_id, *first);
  EXPECT_FALSE((*new_row)->revoked);
  EXPECT_EQ(scalar(*f.c, "SELECT parent_id::text || ' ' || COALESCE(ip_address, 'null') || ' ' || user_agent FROM refresh_tokens WHERE id = $1::uuid",
                   pg::params{}.add(**next)),
            *first + " null ua/2");

  auto again = rotate_refresh_token(*f.c, *first, test::unique_name("rt"), now_ms() + 1000, "", "");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value()) << "a revoked token does not rotate";
  EXPECT_FALSE(find_refresh_token(*f.c, test::unique_name("unknown"))->has_value());

  // A family given explicitly is kept.
  auto sibling = insert_refresh_token(*f.c, id, test::unique_name("rt"), *first, **next, now_ms() + 1000, "", "");
  ASSERT_TRUE(sibling.ok());
  EXPECT_EQ(scalar(*f.c, "SELECT family_id::text FROM refresh_tokens WHERE id = $1::uuid", pg::params{}.add(*sibling)), *first);
}

TEST(accounts_pgtest, two_rotations_of_one_token_at_once_have_one_winner) {
  fixture f;
  const std::string id = f.user();
  auto old_id = insert_refresh_token(*f.c, id, test::unique_name("rt"), std::nullopt, std::nullopt, now_ms() + 86400'000, "", "");
  ASSERT_TRUE(old_id.ok());

  auto holder = connect();
  auto a = connect(), b = connect();
  ASSERT_TRUE(holder && a && b);
  ASSERT_TRUE(holder->begin().ok());
  ASSERT_TRUE(holder->exec("SELECT 1 FROM refresh_tokens WHERE id = $1::uuid FOR UPDATE", pg::params{}.add(*old_id)).ok());
  result<std::optional<std::string>> ra = std::optional<std::string>{}, rb = std::optional<std::string>{};
  const std::string ha = test::unique_name("rt"), hb = test::unique_name("rt");
  std::thread ta([&] { ra = rotate_refresh_token(*a, *old_id, ha, now_ms() + 86400'000, "a", ""); });
  std::thread tb([&] { rb = rotate_refresh_token(*b, *old_id, hb, now_ms() + 86400'000, "b", ""); });
  await_blocked(*f.c, {a->backend_pid(), b->backend_pid()});
  ASSERT_TRUE(holder->commit().ok());
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok() && rb.ok()) << (ra.ok() ? "" : ra.err().message) << (rb.ok() ? "" : rb.err().message);
  EXPECT_EQ(static_cast<int>(ra->has_value()) + static_cast<int>(rb->has_value()), 1) << "exactly one rotation succeeds";
  EXPECT_EQ(scalar(*f.c, "SELECT count(*) FROM refresh_tokens WHERE family_id = $1::uuid", pg::params{}.add(*old_id)), "2")
      << "the loser inserted nothing";
  const std::string winner = ra->has_value() ? **ra : **rb;
  EXPECT_EQ((*find_refresh_token(*f.c, ra->has_value() ? ha : hb))->id, winner);
  EXPECT_EQ(scalar(*f.c, "SELECT replaced_by::text FROM refresh_tokens WHERE id = $1::uuid", pg::params{}.add(*old_id)), winner);
}

TEST(accounts_pgtest, revoke_family_ends_one_session_only) {
  fixture f;
  const std::string id = f.user();
  const std::string h1 = test::unique_name("rt"), h2 = test::unique_name("rt"), other = test::unique_name("rt");
  auto fam = insert_refresh_token(*f.c, id, h1, std::nullopt, std::nullopt, now_ms() + 86400'000, "", "");
  ASSERT_TRUE(fam.ok());
  ASSERT_TRUE(rotate_refresh_token(*f.c, *fam, h2, now_ms() + 86400'000, "", "")->has_value());
  ASSERT_TRUE(insert_refresh_token(*f.c, id, other, std::nullopt, std::nullopt, now_ms() + 86400'000, "", "").ok());
  auto n = revoke_family(*f.c, *fam);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u) << "only the live token of the family (the first was rotated away)";
  EXPECT_TRUE((*find_refresh_token(*f.c, h2))->revoked);
  EXPECT_FALSE((*find_refresh_token(*f.c, other))->revoked);
  EXPECT_EQ(*revoke_family(*f.c, *fam), 0u);
}

TEST(accounts_pgtest, revoke_user_tokens_spares_one_family_and_logout_ends_its_session) {
  fixture f;
  const std::string id = f.user(), stranger = f.user();
  const std::string keep = test::unique_name("rt"), drop1 = test::unique_name("rt"), drop2 = test::unique_name("rt");
  const std::string theirs = test::unique_name("rt");
  auto kept = insert_refresh_token(*f.c, id, keep, std::nullopt, std::nullopt, now_ms() + 86400'000, "", "");
  ASSERT_TRUE(kept.ok());
  ASSERT_TRUE(insert_refresh_token(*f.c, id, drop1, std::nullopt, std::nullopt, now_ms() + 86400'000, "", "").ok());
  ASSERT_TRUE(insert_refresh_token(*f.c, id, drop2, std::nullopt, std::nullopt, now_ms() + 86400'000, "", "").ok());
  ASSERT_TRUE(insert_refresh_token(*f.c, stranger, theirs, std::nullopt, std::nullopt, now_ms() + 86400'000, "", "").ok());
  auto n = revoke_user_tokens(*f.c, id, *kept);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_FALSE((*find_refresh_token(*f.c, keep))->revoked);
  EXPECT_TRUE((*find_refresh_token(*f.c, drop1))->revoked);
  EXPECT_FALSE((*find_refresh_token(*f.c, theirs))->revoked);

  // Logout: another user's token is not this user's to revoke.
  EXPECT_FALSE(*revoke_refresh_token(*f.c, id, theirs));
  EXPECT_FALSE((*find_refresh_token(*f.c, theirs))->revoked);
  const std::string rotated = test::unique_name("rt");
  ASSERT_TRUE(rotate_refresh_token(*f.c, *kept, rotated, now_ms() + 86400'000, "", "")->has_value());
  auto out = revoke_refresh_token(*f.c, id, rotated);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(*out);
  EXPECT_TRUE((*find_refresh_token(*f.c, rotated))->revoked);
  EXPECT_FALSE(*revoke_refresh_token(*f.c, id, rotated)) << "already out";
  EXPECT_EQ(*revoke_user_tokens(*f.c, id, std::nullopt), 0u);
  EXPECT_EQ(*revoke_user_tokens(*f.c, stranger, std::nullopt), 1u);
}

TEST(accounts_pgtest, set_password_revokes_other_sessions_and_reset_tokens) {
  fixture f;
  const std::string id = f.user();
  const std::string here = test::unique_name("rt"), elsewhere = test::unique_name("rt"), reset = test::unique_name("reset");
  auto fam = insert_refresh_token(*f.c, id, here, std::nullopt, std::nullopt, now_ms() + 86400'000, "", "");
  ASSERT_TRUE(fam.ok());
  ASSERT_TRUE(insert_refresh_token(*f.c, id, elsewhere, std::nullopt, std::nullopt, now_ms() + 86400'000, "", "").ok());
  ASSERT_TRUE(issue_reset_token(*f.c, id, reset, now_ms() + 3600'000).ok());

  ASSERT_TRUE(set_password(*f.c, id, "hash-2", *fam).ok());
  auto u = find_user_by_id(*f.c, id);
  EXPECT_EQ((*u)->password_hash, "hash-2");
  EXPECT_EQ(scalar(*f.c, "SELECT password_changed_at > now() - interval '1 minute' FROM users WHERE id = $1::uuid", pg::params{}.add(id)), "t");
  EXPECT_FALSE((*find_refresh_token(*f.c, here))->revoked) << "the session that changed it stays";
  EXPECT_TRUE((*find_refresh_token(*f.c, elsewhere))->revoked);
  EXPECT_FALSE(consume_reset_token(*f.c, reset)->has_value()) << "reset tokens die with the old password";

  ASSERT_TRUE(set_password(*f.c, id, "hash-3", std::nullopt).ok());
  EXPECT_TRUE((*find_refresh_token(*f.c, here))->revoked) << "without a family to keep, every session ends";
  auto missing = set_password(*f.c, "00000000-0000-0000-0000-000000000000", "h", std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().code, error_code::not_found);
}

TEST(accounts_pgtest, limiter_counts_failures_per_email_and_per_ip_apart) {
  fixture f;
  const std::string email = unique_email("limit"), other_email = unique_email("limit");
  const std::string ip = test::unique_name("ip"), other_ip = test::unique_name("ip");
  const std::int64_t since = now_ms() - 15 * 60'000;
  // Older than the window: not counted.
  ASSERT_TRUE(f.c->exec("INSERT INTO login_attempts (email, ip_address, was_successful, created_at) "
                        "VALUES ($1, $2, false, now() - interval '20 minutes')",
                        pg::params{}.add(email).add(ip)).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(record_login_attempt(*f.c, email, ip, "ua", false, "INVALID_PASSWORD").ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(record_login_attempt(*f.c, email, ip, "ua", true, std::nullopt).ok());
  ASSERT_TRUE(record_login_attempt(*f.c, email, other_ip, "", false, "INVALID_PASSWORD").ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(record_login_attempt(*f.c, other_email, ip, "", false, "USER_NOT_FOUND").ok());

  std::string upper = email;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto n = failed_attempts_since(*f.c, upper, ip, since);
  ASSERT_TRUE(n.ok()) << n.err().message;
  EXPECT_EQ(n->by_email, 4) << "3 here + 1 from the other IP, whatever the case; successes and old ones not";
  EXPECT_EQ(n->by_ip, 5) << "3 of this email + 2 of another";
  EXPECT_GE(n->oldest_email_ms, since);
  EXPECT_LE(n->oldest_email_ms, now_ms() + 60'000);
  EXPECT_GE(n->oldest_ip_ms, since);

  auto other = failed_attempts_since(*f.c, other_email, other_ip, since);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->by_email, 2);
  EXPECT_EQ(other->by_ip, 1);

  auto none = failed_attempts_since(*f.c, unique_email("nobody"), test::unique_name("ip"), since);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->by_email, 0);
  EXPECT_EQ(none->by_ip, 0);
  EXPECT_EQ(none->oldest_email_ms, 0);
  EXPECT_EQ(none->oldest_ip_ms, 0);
  EXPECT_EQ(failed_attempts_since(*f.c, email, ip, now_ms() + 60'000)->by_email, 0) << "a window starting later holds nothing";

  EXPECT_EQ(scalar(*f.c, "SELECT count(*) FROM login_attempts WHERE email = $1 AND user_agent IS NULL", pg::params{}.add(email)), "2")
      << "the empty user agent stored as NULL (the backdated row has none either)";
}

TEST(accounts_pgtest, the_limiter_statement_is_served_by_the_login_attempts_indexes) {
  fixture f;
  // The shared test table holds a few hundred rows, where a sequential scan is honestly the
  // cheaper plan, so the planner is told to avoid one: what this proves is that the statement's
  // predicates fit the spec's (email, created_at DESC) and (ip_address, created_at DESC) indexes
  // (CITEXT equality on the leading column, a range on the second), the plan a table of millions
  // gets. Were a predicate unindexable (text = citext, a function on the column), the planner would
  // fall back to a Seq Scan even so, and this would fail.
  // The window starts at the epoch here, not 15 minutes ago: on the shared table the planner may
  // otherwise find the created_at index's last 15 minutes (a few rows of other suites) cheaper,
  // which says nothing of a real table; over every row only the email and IP indexes narrow it.
  ASSERT_TRUE(f.c->exec("SET enable_seqscan = off").ok());
  auto plan = f.c->exec("EXPLAIN " + detail::failed_attempts_sql(),
                        pg::params{}.add(unique_email()).add(test::unique_name("ip")).add(std::int64_t{0}));
  ASSERT_TRUE(plan.ok()) << plan.err().message;
  std::string text;
  for (int i = 0; i < plan->size(); ++i) text += std::string(plan->get(i, 0)) + "\n";
  EXPECT_EQ(text.find("Seq Scan on login_attempts"), std::string::npos) << text;
  EXPECT_NE(text.find("idx_login_attempts_email"), std::string::npos) << text;
  EXPECT_NE(text.find("idx_login_attempts_ip"), std::string::npos) << text;
  EXPECT_NE(text.find("Index Cond"), std::string::npos) << text;
  EXPECT_EQ(text.find("idx_login_attempts_created"), std::string::npos) << "the created_at index alone scans every email's rows\n" << text;
}

TEST(accounts_pgtest, totp_setup_enable_replay_guard_recovery_codes_and_disable) {
  fixture f;
  const std::string id = f.user(), stranger = f.user();
  auto early = enable_totp(*f.c, id, 1, {"c"});
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.err().code, error_code::conflict) << "nothing set up yet";

  ASSERT_TRUE(set_totp_secret(*f.c, id, std::string("v1.sealed.secret")).ok());
  auto u = find_user_by_id(*f.c, id);
  EXPECT_EQ((*u)->totp_secret, "v1.sealed.secret");
  EXPECT_FALSE((*u)->totp_enabled);

  ASSERT_TRUE(enable_totp(*f.c, id, 100, {"code-a", "code-b", "code-a"}).ok());
  u = find_user_by_id(*f.c, id);
  EXPECT_TRUE((*u)->totp_enabled);
  EXPECT_EQ((*u)->totp_last_step, 100);
  EXPECT_EQ(scalar(*f.c, "SELECT count(*) FROM user_recovery_codes WHERE user_id = $1::uuid", pg::params{}.add(id)), "2");

  auto reset = set_totp_secret(*f.c, id, std::string("v1.other"));
  ASSERT_FALSE(reset.ok());
  EXPECT_EQ(reset.err().code, error_code::conflict) << "an enabled secret never changes unverified";
  EXPECT_EQ(enable_totp(*f.c, id, 200, {"x"}).err().code, error_code::conflict);
  EXPECT_EQ((*find_user_by_id(*f.c, id))->totp_secret, "v1.sealed.secret");

  EXPECT_FALSE(*advance_totp_step(*f.c, id, 100)) << "the setup code is spent";
  EXPECT_TRUE(*advance_totp_step(*f.c, id, 101));
  EXPECT_FALSE(*advance_totp_step(*f.c, id, 101)) << "replay";
  EXPECT_FALSE(*advance_totp_step(*f.c, id, 99)) << "an older step";
  EXPECT_TRUE(*advance_totp_step(*f.c, stranger, 1)) << "steps are per user";

  EXPECT_TRUE(*use_recovery_code(*f.c, id, "code-a"));
  EXPECT_FALSE(*use_recovery_code(*f.c, id, "code-a")) << "single use";
  EXPECT_FALSE(*use_recovery_code(*f.c, stranger, "code-b")) << "another user's code";
  EXPECT_FALSE(*use_recovery_code(*f.c, id, "unknown"));

  ASSERT_TRUE(disable_totp(*f.c, id).ok());
  u = find_user_by_id(*f.c, id);
  EXPECT_FALSE((*u)->totp_enabled);
  EXPECT_FALSE((*u)->totp_secret.has_value());
  EXPECT_FALSE(*use_recovery_code(*f.c, id, "code-b")) << "codes go with TOTP";
  EXPECT_EQ(scalar(*f.c, "SELECT count(*) FROM user_recovery_codes WHERE user_id = $1::uuid", pg::params{}.add(id)), "0");

  ASSERT_TRUE(set_totp_secret(*f.c, id, std::string("v1.new")).ok());
  ASSERT_TRUE(set_totp_secret(*f.c, id, std::nullopt).ok());
  EXPECT_FALSE((*find_user_by_id(*f.c, id))->totp_secret.has_value()) << "nullopt clears a pending secret";
  ASSERT_TRUE(set_totp_secret(*f.c, id, std::string("v1.new")).ok());
  ASSERT_TRUE(enable_totp(*f.c, id, 50, {"code-c"}).ok());
  EXPECT_EQ((*find_user_by_id(*f.c, id))->totp_last_step, 101) << "the guard never goes back";
  EXPECT_TRUE(*use_recovery_code(*f.c, id, "code-c"));

  const std::string nobody = "00000000-0000-0000-0000-000000000000";
  EXPECT_EQ(set_totp_secret(*f.c, nobody, std::string("s")).err().code, error_code::not_found);
  EXPECT_EQ(enable_totp(*f.c, nobody, 1, {}).err().code, error_code::not_found);
  EXPECT_EQ(disable_totp(*f.c, nobody).err().code, error_code::not_found);
  EXPECT_FALSE(*advance_totp_step(*f.c, nobody, 1));
}

TEST(accounts_pgtest, security_events_are_appended_with_their_detail) {
  fixture f;
  const std::string id = f.user();
  const std::string kind = test::unique_name("ev");  // at most 50 characters
  ASSERT_TRUE(record_security_event(*f.c, id, kind, "192.0.2.9", "ua/1", boost::json::object{{"family", "f1"}, {"n", 2}}).ok());
  EXPECT_EQ(scalar(*f.c, "SELECT kind || ' ' || ip_address || ' ' || user_agent || ' ' || (detail->>'family') || (detail->>'n') "
                         "FROM security_events WHERE user_id = $1::uuid",
                   pg::params{}.add(id)),
            kind + " 192.0.2.9 ua/1 f12");
  ASSERT_TRUE(record_security_event(*f.c, std::nullopt, kind, "", "", {}).ok());
  EXPECT_EQ(scalar(*f.c, "SELECT count(*) FROM security_events WHERE kind = $1 AND user_id IS NULL AND ip_address IS NULL "
                         "AND detail = '{}'::jsonb",
                   pg::params{}.add(kind)),
            "1");
  auto unknown = record_security_event(*f.c, std::string("00000000-0000-0000-0000-000000000000"), kind, "", "", {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.err().code, error_code::not_found);
}

TEST(accounts_pgtest, clerk_users_are_created_found_and_linked) {
  fixture f;
  const std::string clerk = test::unique_name("user_clerk"), email = unique_email("clerk");
  auto made = find_or_create_clerk_user(*f.c, clerk, email, "Clara", "Kerk");
  ASSERT_TRUE(made.ok()) << made.err().message;
  EXPECT_EQ(made->auth_provider, "clerk");
  EXPECT_EQ(made->clerk_user_id, clerk);
  EXPECT_TRUE(made->email_verified);
  EXPECT_FALSE(made->password_hash.has_value());
  EXPECT_EQ(made->first_name, "Clara");

  auto found = find_or_create_clerk_user(*f.c, clerk, unique_email("changed"), "", "");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->id, made->id) << "found by the clerk id, even after an email change at Clerk";
  EXPECT_EQ(found->email, email);
  EXPECT_EQ(*sign_up(*f.c, email, "h", "", "", test::unique_name("v"), now_ms() + 1000), signup_outcome::already_registered)
      << "a Clerk user gets no password through sign-up";

  // A local user signing in through Clerk for the first time is linked, password kept.
  const std::string local_email = unique_email("local");
  const std::string local = f.user(local_email);
  std::string upper = local_email;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const std::string clerk2 = test::unique_name("user_clerk");
  auto linked = find_or_create_clerk_user(*f.c, clerk2, upper, "Other", "Name");
  ASSERT_TRUE(linked.ok()) << linked.err().message;
  EXPECT_EQ(linked->id, local);
  EXPECT_EQ(linked->clerk_user_id, clerk2);
  EXPECT_EQ(linked->auth_provider, "local");
  EXPECT_EQ(linked->password_hash, "hash-1");
  EXPECT_TRUE(linked->email_verified) << "Clerk verified the address";
  EXPECT_EQ(linked->first_name, "Ada") << "names are filled, not replaced";

  auto taken = find_or_create_clerk_user(*f.c, test::unique_name("user_clerk"), upper, "", "");
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.err().code, error_code::conflict) << "the email belongs to another Clerk user";
}

}  // namespace
}  // namespace flowtrack::storage
