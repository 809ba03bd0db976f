// The management API's sign-in (issue #13 items 1-2) against a running node with real
// PostgreSQL (a database of this suite's own), Redis and an SMTP sink: every flow, tokens read
// from the emails the sink receives, and the attacks (refresh reuse, expired / tampered /
// alg:none / wrong-algorithm JWTs, brute force to the limit, enumeration by status, body and
// timing, TOTP not bypassed by a reset), body and CORS rules, Clerk RS256 tokens.
//
// Nodes here hash passwords with low Argon2 costs (password_hash_memory_kib, a test-only
// setting) except in the timing test, which keeps the production costs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "crypto/jwt.hpp"
#include "crypto/totp.hpp"
#include "tests/support/api_session.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string k_jwt_key_hex = "0f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a6978";
const std::string k_enc_key_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string k_origin = "https://app.example.com";
const std::string k_password = "correct horse battery staple";

std::string jwt_key_bytes() {
  std::string out;
  for (std::size_t i = 0; i + 1 < k_jwt_key_hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(k_jwt_key_hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

scratch_database& database() {
  static scratch_database db("ft_api_auth");
  return db;
}

using reply = api_reply;

class api_auth : public api_session {
 protected:
  int ip_counter = 0;

  node_process::settings settings(bool cheap_hashes = true) {
    auto s = node_settings(cheap_hashes);
    s.insert({{"FLOWTRACK_JWT_KEY", k_jwt_key_hex},
              {"FLOWTRACK_ENCRYPTION_KEY", k_enc_key_hex},
              {"FLOWTRACK_CORS_ALLOWED_ORIGINS", k_origin},
              // X-Forwarded-For from the test names the client, so limits per IP are testable.
              {"FLOWTRACK_TRUSTED_PROXIES", "127.0.0.1/32"}});
    return s;
  }

  void SetUp() override {
    ASSERT_TRUE(use_database(database()));
    default_headers["X-Forwarded-For"] = "192.0.2.10";
  }
  void start(node_process::settings s) { node = std::make_unique<node_process>(s); }
  void start() { start(settings()); }

  // A client address of its own for each caller that wants one (the limiter counts per IP).
  std::string fresh_ip() { return "198.51.100." + std::to_string(++ip_counter % 250 + 1); }

  reply post(const std::string& path, const json::object& body, const std::string& token = "", headers_t headers = {}) {
    return send("POST", path, body, token, std::move(headers));
  }

  // The nth email to `to` whose body has `token=...`, waited for; its token.
  std::string token_mailed_to(const std::string& to, std::size_t nth = 1) {
    return mailed_match(to, std::regex("token=([A-Za-z0-9_-]+)"), nth);
  }
  std::size_t mails_to(const std::string& to) {
    std::size_t n = 0;
    for (const auto& m : sink.messages()) n += m.header("to").find(to) != std::string::npos;
    return n;
  }

  std::string unique_email(const std::string& tag) { return unique_name(tag) + "@example.com"; }

  // Signs up, verifies through the mailed link; returns the login's pair.
  reply signed_up_and_in(const std::string& email, const std::string& password = k_password) {
    return sign_up_and_log_in(email, password, {{"firstName", "Ada"}});
  }
};

std::string sign(const json::object& claims) { return crypto::jwt_sign_hs256(claims, jwt_key_bytes()); }

TEST_F(api_auth, signs_up_verifies_by_the_mailed_link_signs_in_and_edits_the_profile) {
  start();
  auto email = unique_email("flow");
  auto s = post("/auth/signup", {{"email", email}, {"password", k_password}, {"firstName", "Ada"}, {"lastName", "Lovelace"}});
  ASSERT_EQ(s.status, 201) << s.text;
  auto early = post("/auth/login", {{"email", email}, {"password", k_password}});
  EXPECT_EQ(early.status, 403);
  EXPECT_EQ(early.error_code(), "email_not_verified");

  auto token = token_mailed_to(email);
  EXPECT_EQ(token.size(), 43u) << "32 random bytes, base64url";
  EXPECT_EQ(post("/auth/verify-email", {{"token", token}}).status, 200);
  auto again = post("/auth/verify-email", {{"token", token}});
  EXPECT_EQ(again.status, 400) << "single use";
  EXPECT_EQ(again.error_field(), "token");

  auto l = post("/auth/login", {{"email", email}, {"password", k_password}});
  ASSERT_EQ(l.status, 200) << l.text;
  EXPECT_EQ(l.str("tokenType"), "Bearer");
  EXPECT_EQ(l.body.at("expiresIn").to_number<int>(), 900);
  EXPECT_EQ(crypto::base64url_decode(l.str("refreshToken"))->size(), 32u);
  auto claims = crypto::jwt_verify_hs256(l.str("accessToken"), jwt_key_bytes(), now_s());
  ASSERT_TRUE(claims.ok());
  for (const char* c : {"sub", "iat", "exp", "jti", "sid"}) EXPECT_TRUE(claims->contains(c)) << c;
  EXPECT_EQ(claims->at("exp").to_number<std::int64_t>() - claims->at("iat").to_number<std::int64_t>(), 900);

  auto me = call("GET", "/me", "", l.str("accessToken"));
  ASSERT_EQ(me.status, 200) << me.text;
  EXPECT_EQ(me.str("email"), email);
  EXPECT_EQ(me.str("firstName"), "Ada");
  EXPECT_TRUE(me.body.at("emailVerified").as_bool());
  auto patched = call("PATCH", "/me", R"({"firstName":"Augusta"})", l.str("accessToken"));
  ASSERT_EQ(patched.status, 200) << patched.text;
  EXPECT_EQ(patched.str("firstName"), "Augusta");
  EXPECT_EQ(patched.str("lastName"), "Lovelace");
  auto wrong = call("PATCH", "/me", R"({"email":"x@example.com"})", l.str("accessToken"));
  EXPECT_EQ(wrong.status, 422);
  EXPECT_EQ(wrong.error_field(), "email");

  auto reasons = column("SELECT COALESCE(failure_reason, 'OK') FROM login_attempts WHERE email = '" + email + "' ORDER BY created_at");
  EXPECT_EQ(reasons, (std::vector<std::string>{"EMAIL_NOT_VERIFIED", "OK"}));
  auto hash = column("SELECT refresh_tokens.token FROM refresh_tokens JOIN users ON users.id = user_id WHERE users.email = '" + email + "'");
  ASSERT_EQ(hash.size(), 1u);
  EXPECT_NE(hash[0], l.str("refreshToken")) << "stored hashed";
  EXPECT_EQ(hash[0].size(), 64u);
}

TEST_F(api_auth, signing_up_again_unverified_mails_a_new_link_and_verified_mails_a_notice_with_the_same_answer) {
  start();
  auto email = unique_email("again");
  auto first = post("/auth/signup", {{"email", email}, {"password", k_password}});
  ASSERT_EQ(first.status, 201) << first.text;
  auto token1 = token_mailed_to(email, 1);

  // Never verified (the mail lost, say): a new link; the earlier one stops working, and the
  // newest sign-up's password is the account's.
  auto again = post("/auth/signup", {{"email", email}, {"password", "a second fine passphrase"}});
  EXPECT_EQ(again.status, first.status);
  EXPECT_EQ(again.text, first.text);
  auto token2 = token_mailed_to(email, 2);
  EXPECT_NE(token2, token1);
  EXPECT_EQ(sink.messages().back().header("subject"), "Confirm your email address");
  EXPECT_EQ(post("/auth/verify-email", {{"token", token1}}).status, 400) << "the earlier link is void";
  ASSERT_EQ(post("/auth/verify-email", {{"token", token2}}).status, 200);
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", k_password}}).status, 401);
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", "a second fine passphrase"}}).status, 200);

  // Verified: the same answer again; the address's owner gets a notice with no link that signs
  // anyone in, and the account is as it was.
  auto known = post("/auth/signup", {{"email", email}, {"password", "a third fine passphrase"}});
  EXPECT_EQ(known.status, first.status);
  EXPECT_EQ(known.text, first.text);
  auto notice = mailed_match(email, std::regex("(reset it at \\S+/forgot-password)"));
  EXPECT_FALSE(notice.empty());
  auto last = sink.messages().back();
  EXPECT_EQ(last.header("subject"), "You already have a FlowTrack account");
  EXPECT_EQ(last.raw.find("token="), std::string::npos);
  EXPECT_EQ(mails_to(email), 3u);
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", "a third fine passphrase"}}).status, 401);
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", "a second fine passphrase"}}).status, 200);
}

TEST_F(api_auth, refuses_weak_passwords_and_bad_bodies_naming_the_field) {
  start();
  auto email = unique_email("weak");
  struct { std::string password, code; } cases[] = {{"short", "too_short"}, {"password123", "common"}, {email, "same_as_email"}};
  for (const auto& c : cases) {
    auto r = post("/auth/signup", {{"email", email}, {"password", c.password}});
    EXPECT_EQ(r.status, 422) << c.password;
    EXPECT_EQ(r.error_field(), "password") << c.password;
    EXPECT_EQ(r.error_code(), c.code) << r.text;
  }
  auto long_ok = post("/auth/signup", {{"email", unique_email("long")}, {"password", std::string(128, 'q') + "z"}});
  EXPECT_EQ(long_ok.status, 201) << "129 characters accepted untruncated: " << long_ok.text;

  auto typed = call("POST", "/auth/signup", R"({"email":"a@example.com","password":42})");
  EXPECT_EQ(typed.status, 422);
  EXPECT_EQ(typed.error_field(), "password");
  auto missing = call("POST", "/auth/signup", R"({"password":"long enough passphrase"})");
  EXPECT_EQ(missing.status, 422);
  EXPECT_EQ(missing.error_field(), "email");
  auto unknown = call("POST", "/auth/login", R"({"email":"a@example.com","password":"x","remember":true})");
  EXPECT_EQ(unknown.status, 422);
  EXPECT_EQ(unknown.error_field(), "remember");
  auto media = call("POST", "/auth/login", R"({"email":"a@example.com","password":"x"})", "", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(media.status, 415);
  EXPECT_EQ(media.error_field(), "Content-Type");
  auto not_json = call("POST", "/auth/login", "{\"email\":");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.error_code(), "invalid_json");
  // Refused from its Content-Length by the HTTP server before a byte of it is read.
  auto big = call("POST", "/auth/login", "{\"email\":\"" + std::string(2 * 1024 * 1024, 'a') + "\"}");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.error_code(), "too_large");
  auto nf = call("GET", "/nowhere");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.error_code(), "not_found");
  auto na = call("DELETE", "/me");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.headers["allow"], "GET, PATCH");
}

TEST_F(api_auth, refresh_rotates_allows_only_the_parent_in_the_grace_window_and_revokes_the_family_on_reuse) {
  start();
  auto email = unique_email("refresh");
  auto first = signed_up_and_in(email);
  auto r1 = first.str("refreshToken");
  auto second = post("/auth/refresh", {{"refreshToken", r1}});
  ASSERT_EQ(second.status, 200) << second.text;
  auto r2 = second.str("refreshToken");
  EXPECT_NE(r2, r1);
  // A second tab presenting the parent a moment later gets the same pair, not a new one.
  auto tab = post("/auth/refresh", {{"refreshToken", r1}});
  ASSERT_EQ(tab.status, 200) << tab.text;
  EXPECT_EQ(tab.str("refreshToken"), r2);
  EXPECT_EQ(tab.str("accessToken"), second.str("accessToken"));

  auto third = post("/auth/refresh", {{"refreshToken", r2}});
  ASSERT_EQ(third.status, 200) << third.text;
  auto r3 = third.str("refreshToken");
  // r1 is now the grandparent of the live token: reuse. The whole family ends.
  auto reuse = post("/auth/refresh", {{"refreshToken", r1}});
  EXPECT_EQ(reuse.status, 401);
  EXPECT_EQ(reuse.error_code(), "refresh_token_reused");
  auto after = post("/auth/refresh", {{"refreshToken", r3}});
  EXPECT_EQ(after.status, 401) << "the family was revoked";
  EXPECT_EQ(after.error_code(), "refresh_token_reused") << "a revoked token presented again is reuse too";
  EXPECT_EQ(post("/auth/refresh", {{"refreshToken", "AAAA"}}).status, 401);
  auto events = column("SELECT kind FROM security_events JOIN users ON users.id = user_id WHERE users.email = '" + email +
                       "' AND kind = 'refresh_token_reuse'");
  EXPECT_EQ(events.size(), 2u) << "r1, then r3 after the family was revoked";
  EXPECT_GE(node->metric("flowtrack_security_events_total{kind=\"refresh_token_reuse\"}"), 1);
}

TEST_F(api_auth, concurrent_refreshes_of_one_token_all_get_the_one_new_pair_and_keep_the_session) {
  start();
  auto l = signed_up_and_in(unique_email("tabs"));
  auto token = l.str("refreshToken");
  constexpr int k_tabs = 4;
  std::vector<reply> got(k_tabs);
  std::vector<std::thread> tabs;
  for (int i = 0; i < k_tabs; ++i) tabs.emplace_back([&, i] { got[i] = post("/auth/refresh", {{"refreshToken", token}}); });
  for (auto& t : tabs) t.join();
  for (int i = 0; i < k_tabs; ++i) {
    ASSERT_EQ(got[i].status, 200) << i << ": " << got[i].text;
    EXPECT_EQ(got[i].str("refreshToken"), got[0].str("refreshToken")) << i;
  }
  EXPECT_NE(got[0].str("refreshToken"), token);
  auto next = post("/auth/refresh", {{"refreshToken", got[0].str("refreshToken")}});
  EXPECT_EQ(next.status, 200) << "the session lives on: " << next.text;
}

TEST_F(api_auth, refuses_expired_tampered_unsigned_and_foreign_algorithm_tokens) {
  start();
  auto email = unique_email("jwt");
  auto l = signed_up_and_in(email);
  auto good = l.str("accessToken");
  ASSERT_EQ(call("GET", "/me", "", good).status, 200);
  auto claims = *crypto::jwt_verify_hs256(good, jwt_key_bytes(), now_s());

  auto expired_claims = claims;
  expired_claims["iat"] = now_s() - 2000;
  expired_claims["exp"] = now_s() - 100;
  auto expired = call("GET", "/me", "", sign(expired_claims));
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(expired.error_code(), "token_expired");

  auto tampered_claims = claims;
  tampered_claims["sub"] = "00000000-0000-0000-0000-000000000000";
  auto dot1 = good.find('.'), dot2 = good.rfind('.');
  auto tampered = good.substr(0, dot1 + 1) + crypto::base64url_encode(json::serialize(tampered_claims)) + good.substr(dot2);
  EXPECT_EQ(call("GET", "/me", "", tampered).status, 401);

  auto payload = good.substr(dot1 + 1, dot2 - dot1 - 1);
  auto none = crypto::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + payload + ".";
  EXPECT_EQ(call("GET", "/me", "", none).status, 401);
  auto hs512 = crypto::base64url_encode(R"({"alg":"HS512","typ":"JWT"})") + "." + payload + "." + good.substr(dot2 + 1);
  EXPECT_EQ(call("GET", "/me", "", hs512).status, 401);
  auto rs256 = crypto::base64url_encode(R"({"alg":"RS256","typ":"JWT"})") + "." + payload + "." + good.substr(dot2 + 1);
  EXPECT_EQ(call("GET", "/me", "", rs256).status, 401) << "no Clerk keys on this node";
  EXPECT_EQ(call("GET", "/me", "", crypto::jwt_sign_hs256(claims, std::string(32, 'x'))).status, 401) << "another key";

  auto missing = call("GET", "/me");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(call("GET", "/me", "", "", {{"Cookie", "accessToken=" + good}}).status, 401) << "cookies are not read";
  auto query = http_request(node->port, "GET", "/api/v1/me?access_token=" + good);
  EXPECT_EQ(query.status, 400) << "never in the URL";
}

TEST_F(api_auth, logout_ends_one_session_and_logout_all_every_one) {
  start();
  auto email = unique_email("logout");
  auto a = signed_up_and_in(email);
  auto b = post("/auth/login", {{"email", email}, {"password", k_password}});
  auto c = post("/auth/login", {{"email", email}, {"password", k_password}});
  ASSERT_EQ(b.status, 200);
  ASSERT_EQ(c.status, 200);
  EXPECT_EQ(post("/auth/logout", {{"refreshToken", a.str("refreshToken")}}).status, 204);
  EXPECT_EQ(post("/auth/refresh", {{"refreshToken", a.str("refreshToken")}}).status, 401);
  auto all = post("/auth/logout-all", {}, b.str("accessToken"));
  ASSERT_EQ(all.status, 200) << all.text;
  EXPECT_EQ(all.body.at("revoked").to_number<int>(), 2);
  // The access tokens of ended sessions are refused at once, not only after their 15 minutes.
  auto ended = call("GET", "/me", "", c.str("accessToken"));
  EXPECT_EQ(ended.status, 401);
  EXPECT_EQ(ended.error_code(), "session_ended");
  EXPECT_EQ(call("GET", "/me", "", a.str("accessToken")).status, 401);
  EXPECT_EQ(post("/auth/refresh", {{"refreshToken", b.str("refreshToken")}}).status, 401);
  EXPECT_EQ(post("/auth/refresh", {{"refreshToken", c.str("refreshToken")}}).status, 401);
}

TEST_F(api_auth, change_password_keeps_this_session_and_ends_the_others) {
  start();
  auto email = unique_email("change");
  auto mine = signed_up_and_in(email);
  auto other = post("/auth/login", {{"email", email}, {"password", k_password}});
  ASSERT_EQ(other.status, 200);
  auto wrong = post("/auth/change-password", {{"currentPassword", "not the password"}, {"newPassword", "a brand new passphrase"}},
                    mine.str("accessToken"));
  EXPECT_EQ(wrong.status, 422);
  EXPECT_EQ(wrong.error_field(), "currentPassword");
  auto weak = post("/auth/change-password", {{"currentPassword", k_password}, {"newPassword", "short"}}, mine.str("accessToken"));
  EXPECT_EQ(weak.status, 422);
  EXPECT_EQ(weak.error_field(), "newPassword");
  auto ok = post("/auth/change-password", {{"currentPassword", k_password}, {"newPassword", "a brand new passphrase"}}, mine.str("accessToken"));
  ASSERT_EQ(ok.status, 200) << ok.text;
  EXPECT_EQ(post("/auth/refresh", {{"refreshToken", other.str("refreshToken")}}).status, 401) << "other sessions end";
  EXPECT_EQ(call("GET", "/me", "", other.str("accessToken")).status, 401) << "their access tokens too";
  EXPECT_EQ(call("GET", "/me", "", mine.str("accessToken")).status, 200);
  EXPECT_EQ(post("/auth/refresh", {{"refreshToken", mine.str("refreshToken")}}).status, 200) << "this one stays";
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", k_password}}).status, 401);
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", "a brand new passphrase"}}).status, 200);
  EXPECT_EQ(column("SELECT kind FROM security_events JOIN users ON users.id = user_id WHERE users.email = '" + email +
                   "' AND kind = 'password_changed'").size(), 1u);
}

TEST_F(api_auth, a_login_renews_a_hash_weaker_than_the_nodes_parameters_and_never_weakens_one) {
  start();  // cheap hashes: m=256, t=1
  auto email = unique_email("rehash");
  auto first = signed_up_and_in(email);
  auto stored = [&] { return column("SELECT password_hash || ' ' || COALESCE(password_changed_at::text, 'never') FROM users WHERE email = '" + email + "'"); };
  auto cheap = stored();
  ASSERT_EQ(cheap.size(), 1u);
  EXPECT_EQ(cheap[0].rfind("$argon2id$v=19$m=256,t=1,p=4$", 0), 0u) << cheap[0];
  auto changed_at = cheap[0].substr(cheap[0].find(' '));

  // A node whose parameters are higher: the login renews the hash before it answers.
  node.reset();
  auto higher = settings();
  higher["FLOWTRACK_PASSWORD_HASH_MEMORY_KIB"] = "1024";
  higher["FLOWTRACK_PASSWORD_HASH_ITERATIONS"] = "2";
  start(higher);
  ASSERT_EQ(post("/auth/login", {{"email", email}, {"password", k_password}}).status, 200);
  auto renewed = stored();
  ASSERT_EQ(renewed.size(), 1u);
  EXPECT_EQ(renewed[0].rfind("$argon2id$v=19$m=1024,t=2,p=4$", 0), 0u) << renewed[0];
  EXPECT_EQ(renewed[0].substr(renewed[0].find(' ')), changed_at) << "the password itself did not change";
  EXPECT_EQ(post("/auth/refresh", {{"refreshToken", first.str("refreshToken")}}).status, 200) << "no session ended";
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", k_password}}).status, 200) << "the new hash verifies";
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", "not the password at all"}}).status, 401);
  EXPECT_EQ(stored(), renewed) << "renewed once";

  // Back on a node with the cheap parameters: the stronger hash stays.
  node.reset();
  start();
  ASSERT_EQ(post("/auth/login", {{"email", email}, {"password", k_password}}).status, 200);
  EXPECT_EQ(stored(), renewed);
}

TEST_F(api_auth, forgot_and_reset_password_by_the_mailed_link_newest_wins_single_use) {
  start();
  auto email = unique_email("reset");
  auto session = signed_up_and_in(email);
  auto known = post("/auth/forgot-password", {{"email", email}});
  auto unknown = post("/auth/forgot-password", {{"email", unique_email("nobody")}});
  EXPECT_EQ(known.status, 202);
  EXPECT_EQ(unknown.status, 202);
  EXPECT_EQ(known.text, unknown.text);
  auto older = token_mailed_to(email, 2);  // the first mail is the verification
  ASSERT_EQ(post("/auth/forgot-password", {{"email", email}}).status, 202);
  auto newest = token_mailed_to(email, 3);
  auto stale = post("/auth/reset-password", {{"token", older}, {"password", "my reset passphrase"}});
  EXPECT_EQ(stale.status, 400) << "the newest token wins";
  EXPECT_EQ(stale.error_field(), "token");
  auto weak = post("/auth/reset-password", {{"token", newest}, {"password", "password123"}});
  EXPECT_EQ(weak.status, 422);
  EXPECT_EQ(weak.error_field(), "password");
  auto done = post("/auth/reset-password", {{"token", newest}, {"password", "my reset passphrase"}});
  ASSERT_EQ(done.status, 200) << done.text;
  EXPECT_EQ(post("/auth/reset-password", {{"token", newest}, {"password", "another passphrase"}}).status, 400) << "single use";
  EXPECT_EQ(post("/auth/refresh", {{"refreshToken", session.str("refreshToken")}}).status, 401) << "sessions end on a reset";
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", "my reset passphrase"}}).status, 200);
}

TEST_F(api_auth, five_failures_per_email_or_per_ip_lock_with_retry_after_and_verify_no_password) {
  start();
  auto email = unique_email("brute");
  signed_up_and_in(email);
  for (int i = 0; i < 5; ++i) {
    auto r = post("/auth/login", {{"email", email}, {"password", "wrong guess " + std::to_string(i)}}, "", {{"X-Forwarded-For", fresh_ip()}});
    EXPECT_EQ(r.status, 401) << i;
    EXPECT_EQ(r.error_code(), "invalid_credentials");
  }
  auto locked = post("/auth/login", {{"email", email}, {"password", k_password}}, "", {{"X-Forwarded-For", fresh_ip()}});
  EXPECT_EQ(locked.status, 429) << "even the right password, from another address";
  ASSERT_TRUE(locked.headers.count("retry-after"));
  auto wait = std::stoi(locked.headers["retry-after"]);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 15 * 60);
  auto reasons = column("SELECT failure_reason FROM login_attempts WHERE email = '" + email + "' AND NOT was_successful ORDER BY created_at");
  ASSERT_EQ(reasons.size(), 6u);
  EXPECT_EQ(reasons.back(), "ACCOUNT_LOCKED");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "INVALID_PASSWORD"), 5);

  // Per IP: five unknown emails from one address lock that address for a sixth email.
  std::string ip = "203.0.113.77";
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(post("/auth/login", {{"email", unique_email("spray")}, {"password", "guess"}}, "", {{"X-Forwarded-For", ip}}).status, 401);
  auto by_ip = post("/auth/login", {{"email", unique_email("spray")}, {"password", "guess"}}, "", {{"X-Forwarded-For", ip}});
  EXPECT_EQ(by_ip.status, 429);
  EXPECT_TRUE(by_ip.headers.count("retry-after"));
  EXPECT_EQ(column("SELECT count(*) FROM login_attempts WHERE ip_address = '" + ip + "' AND failure_reason = 'USER_NOT_FOUND'"),
            (std::vector<std::string>{"5"}));
}

TEST_F(api_auth, totp_is_required_once_enabled_refuses_replays_takes_recovery_codes_once_and_survives_a_reset) {
  start();
  auto email = unique_email("totp");
  auto l = signed_up_and_in(email);
  auto token = l.str("accessToken");
  auto setup = post("/auth/totp/setup", {}, token);
  ASSERT_EQ(setup.status, 200) << setup.text;
  EXPECT_NE(setup.str("otpauthUri").find("otpauth://totp/"), std::string::npos);
  auto secret = crypto::base32_decode(setup.str("secret"));
  ASSERT_TRUE(secret);
  auto bad = post("/auth/totp/enable", {{"code", "000000"}}, token);
  if (crypto::totp_code(*secret, now_s()) != "000000") {
    EXPECT_EQ(bad.status, 422);
    EXPECT_EQ(bad.error_field(), "code");
  }
  auto enabled = post("/auth/totp/enable", {{"code", crypto::totp_code(*secret, now_s())}}, token);
  ASSERT_EQ(enabled.status, 200) << enabled.text;
  auto codes = enabled.body.at("recoveryCodes").as_array();
  ASSERT_EQ(codes.size(), 10u);
  // The secret is stored sealed, not in the clear.
  auto stored = column("SELECT totp_secret FROM users WHERE email = '" + email + "'");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].find(setup.str("secret")), std::string::npos);

  auto without = post("/auth/login", {{"email", email}, {"password", k_password}});
  EXPECT_EQ(without.status, 401);
  EXPECT_EQ(without.error_code(), "totp_required");
  EXPECT_EQ(without.error_field(), "totp");
  // The code that enabled it is spent; the next step's code is accepted once.
  auto next = crypto::totp_code(*secret, now_s() + 30);
  auto with = post("/auth/login", {{"email", email}, {"password", k_password}, {"totp", next}});
  ASSERT_EQ(with.status, 200) << with.text;
  auto replay = post("/auth/login", {{"email", email}, {"password", k_password}, {"totp", next}});
  EXPECT_EQ(replay.status, 401);
  EXPECT_EQ(replay.error_code(), "invalid_totp");
  auto recovery = std::string(codes[0].as_string());
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", k_password}, {"totp", recovery}}).status, 200);
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", k_password}, {"totp", recovery}}).status, 401) << "single use";

  // A reset changes the password, never the second factor.
  ASSERT_EQ(post("/auth/forgot-password", {{"email", email}}).status, 202);
  auto reset = post("/auth/reset-password", {{"token", token_mailed_to(email, 2)}, {"password", "after the reset phrase"}});
  ASSERT_EQ(reset.status, 200) << reset.text;
  auto after = post("/auth/login", {{"email", email}, {"password", "after the reset phrase"}});
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.error_code(), "totp_required");
  auto in = post("/auth/login", {{"email", email}, {"password", "after the reset phrase"}, {"totp", std::string(codes[1].as_string())}});
  ASSERT_EQ(in.status, 200) << in.text;
  auto off = post("/auth/totp/disable", {{"code", std::string(codes[2].as_string())}}, in.str("accessToken"));
  ASSERT_EQ(off.status, 200) << off.text;
  EXPECT_EQ(post("/auth/login", {{"email", email}, {"password", "after the reset phrase"}}).status, 200);
  auto kinds = column("SELECT kind FROM security_events JOIN users ON users.id = user_id WHERE users.email = '" + email +
                      "' AND kind LIKE 'totp_%' ORDER BY security_events.created_at");
  EXPECT_EQ(kinds, (std::vector<std::string>{"totp_enabled", "totp_disabled"}));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST_F(api_auth, unknown_and_known_emails_get_the_same_status_body_and_timing) {
  start(settings(/*cheap_hashes=*/false));  // production Argon2 costs: the timing is the hash's
  std::vector<std::string> known{unique_email("known-a"), unique_email("known-b")};
  for (const auto& e : known) signed_up_and_in(e);

  auto timed = [&](const std::string& path, const json::object& body, reply& out) {
    auto began = std::chrono::steady_clock::now();
    out = post(path, body, "", {{"X-Forwarded-For", fresh_ip()}});
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  };
  std::vector<double> known_login, unknown_login, known_signup, unknown_signup, known_forgot, unknown_forgot;
  std::string login_body, signup_body, forgot_body;
  for (int round = 0; round < 6; ++round) {
    const auto& k = known[round % 2];
    auto u = unique_email("unknown");
    reply a, b;
    known_login.push_back(timed("/auth/login", {{"email", k}, {"password", "wrong password " + std::to_string(round)}}, a));
    unknown_login.push_back(timed("/auth/login", {{"email", u}, {"password", "wrong password " + std::to_string(round)}}, b));
    EXPECT_EQ(a.status, 401);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.text, b.text);
    if (round < 4) {
      known_signup.push_back(timed("/auth/signup", {{"email", k}, {"password", "another fine passphrase"}}, a));
      unknown_signup.push_back(timed("/auth/signup", {{"email", u}, {"password", "another fine passphrase"}}, b));
      EXPECT_EQ(a.status, 201);
      EXPECT_EQ(a.status, b.status);
      EXPECT_EQ(a.text, b.text);
      known_forgot.push_back(timed("/auth/forgot-password", {{"email", k}}, a));
      unknown_forgot.push_back(timed("/auth/forgot-password", {{"email", unique_email("unknown")}}, b));
      EXPECT_EQ(a.status, 202);
      EXPECT_EQ(a.status, b.status);
      EXPECT_EQ(a.text, b.text);
    }
  }
  // Relative to each other, with a generous tolerance: a missing dummy hash would make the
  // unknown login many times faster than the known one.
  auto ratio = [](const std::vector<double>& x, const std::vector<double>& y) { return median(x) / median(y); };
  EXPECT_GT(ratio(unknown_login, known_login), 0.5) << median(unknown_login) << " s vs " << median(known_login) << " s";
  EXPECT_LT(ratio(unknown_login, known_login), 2.0);
  EXPECT_GT(ratio(unknown_signup, known_signup), 0.5) << median(unknown_signup) << " s vs " << median(known_signup) << " s";
  EXPECT_LT(ratio(unknown_signup, known_signup), 2.0);
  // Forgot-password answers before the look-up; both are quick, compared with an absolute floor
  // against scheduling noise.
  EXPECT_LT(median(known_forgot), 2.0 * median(unknown_forgot) + 0.05);
  EXPECT_LT(median(unknown_forgot), 2.0 * median(known_forgot) + 0.05);
}

TEST_F(api_auth, cors_answers_listed_origins_and_refuses_others) {
  start();
  auto pre = http_request(node->port, "OPTIONS", "/api/v1/auth/login", "",
                          {{"Origin", k_origin}, {"Access-Control-Request-Method", "POST"}, {"Access-Control-Request-Headers", "content-type"}});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.headers["access-control-allow-origin"], k_origin);
  EXPECT_NE(pre.headers["access-control-allow-methods"].find("POST"), std::string::npos);
  EXPECT_EQ(pre.headers["vary"], "Origin");
  EXPECT_FALSE(pre.headers.count("access-control-allow-credentials"));
  auto denied = http_request(node->port, "OPTIONS", "/api/v1/auth/login", "",
                             {{"Origin", "https://evil.example.com"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(denied.status, 403);
  EXPECT_FALSE(denied.headers.count("access-control-allow-origin"));
  auto allowed = call("GET", "/me", "", "", {{"Origin", k_origin}});
  EXPECT_EQ(allowed.headers["access-control-allow-origin"], k_origin);
  EXPECT_EQ(allowed.headers["vary"], "Origin");
  auto other = call("GET", "/me", "", "", {{"Origin", "https://evil.example.com"}});
  EXPECT_FALSE(other.headers.count("access-control-allow-origin"));
}

TEST_F(api_auth, without_jwt_key_the_sign_in_routes_answer_503_naming_it_and_the_node_serves) {
  auto s = settings();
  s.erase("FLOWTRACK_JWT_KEY");
  start(s);
  auto r = post("/auth/login", {{"email", "a@example.com"}, {"password", "whatever it is"}});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.error_field(), "jwt_key");
  EXPECT_NE(r.text.find("jwt_key"), std::string::npos);
  EXPECT_TRUE(r.headers.count("retry-after"));
  EXPECT_EQ(http_request(node->port, "GET", "/healthz").status, 200);
}

TEST_F(api_auth, a_malformed_jwt_key_or_clerk_key_file_stops_the_node_with_exit_78_naming_the_setting) {
  auto env = "FLOWTRACK_DATABASE_URL=" + shell_quote(database().url()) + " FLOWTRACK_REDIS_URL=" + shell_quote(redis_url()) +
             " FLOWTRACK_HTTP_LISTEN=127.0.0.1:" + std::to_string(free_port()) + " FLOWTRACK_ADMIN_LISTEN=off" +
             " FLOWTRACK_SMTP_LISTEN=127.0.0.1:" + std::to_string(free_port()) + " ";
  auto bad_key = run_command(env + "FLOWTRACK_JWT_KEY=not-hex-at-all " + flowtrackd() + " serve");
  EXPECT_EQ(bad_key.exit_code, 78);
  EXPECT_NE(bad_key.err.find("jwt_key"), std::string::npos) << bad_key.err;
  EXPECT_EQ(bad_key.err.find("not-hex-at-all"), std::string::npos) << "a key is never echoed";
  auto not_pem = std::filesystem::temp_directory_path() / unique_name("ft-not-pem");
  std::ofstream(not_pem) << "this is not a key\n";
  auto bad_file = run_command(env + "FLOWTRACK_CLERK_PUBLIC_KEY_FILE=" + shell_quote(not_pem.string()) + " " + flowtrackd() + " serve");
  std::filesystem::remove(not_pem);
  EXPECT_EQ(bad_file.exit_code, 78);
  EXPECT_NE(bad_file.err.find("clerk_public_key_file"), std::string::npos) << bad_file.err;
}

// ---- Clerk ----

struct clerk_keys {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / unique_name("ft-clerk");
  clerk_keys() {
    std::filesystem::create_directories(dir);
    auto r = run_command("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + shell_quote((dir / "key.pem").string()) +
                         " 2>&1 && openssl pkey -in " + shell_quote((dir / "key.pem").string()) + " -pubout -out " +
                         shell_quote((dir / "pub.pem").string()) + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.out;
  }
  ~clerk_keys() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string public_key_file() const { return (dir / "pub.pem").string(); }
  // An RS256 token signed by the openssl CLI with this key.
  std::string token(const json::object& claims) const {
    auto input = crypto::base64url_encode(R"({"alg":"RS256","typ":"JWT","kid":"ins_test"})") + "." +
                 crypto::base64url_encode(json::serialize(claims));
    {
      std::ofstream(dir / "input") << input;
    }
    auto r = run_command("openssl dgst -sha256 -sign " + shell_quote((dir / "key.pem").string()) + " -out " +
                         shell_quote((dir / "sig").string()) + " " + shell_quote((dir / "input").string()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::ifstream in(dir / "sig", std::ios::binary);
    std::string sig((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return input + "." + crypto::base64url_encode(sig);
  }
};

TEST_F(api_auth, clerk_session_tokens_sign_in_and_make_the_user_on_first_sight) {
  clerk_keys keys;
  auto s = settings();
  s["FLOWTRACK_CLERK_PUBLIC_KEY_FILE"] = keys.public_key_file();
  start(s);
  auto email = unique_email("clerk");
  auto clerk_id = unique_name("user_");
  json::object claims{{"sub", clerk_id}, {"email", email}, {"first_name", "Grace"}, {"iat", now_s()}, {"exp", now_s() + 60}};
  auto first = call("GET", "/me", "", keys.token(claims));
  ASSERT_EQ(first.status, 200) << first.text;
  EXPECT_EQ(first.str("email"), email);
  EXPECT_EQ(first.str("authProvider"), "clerk");
  EXPECT_TRUE(first.body.at("emailVerified").as_bool());
  auto second = call("GET", "/me", "", keys.token(claims));
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.str("id"), first.str("id")) << "the same user, not a second one";
  EXPECT_EQ(column("SELECT clerk_user_id FROM users WHERE email = '" + email + "'"), (std::vector<std::string>{clerk_id}));

  auto expired = claims;
  expired["exp"] = now_s() - 60;
  EXPECT_EQ(call("GET", "/me", "", keys.token(expired)).status, 401);
  clerk_keys other;
  EXPECT_EQ(call("GET", "/me", "", other.token(claims)).status, 401) << "signed by another key";
  // Our own tokens still work beside Clerk's.
  auto mine = signed_up_and_in(unique_email("native"));
  EXPECT_EQ(call("GET", "/me", "", mine.str("accessToken")).status, 200);
}

}  // namespace
}  // namespace flowtrack::test
