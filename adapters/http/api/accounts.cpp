// Native sign-in routes. Password work (Argon2id) runs on the API's hashing threads, which may
// also wait there for PostgreSQL; everything else is one job on the PostgreSQL pool.
#include "adapters/http/api/accounts.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include "crypto/totp.hpp"
#include "domain/password_policy.hpp"
#include "metrics/metrics.hpp"
#include "storage/accounts.hpp"
#include "storage/hash.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

constexpr std::int64_t k_verification_ttl_ms = 24 * 3600 * 1000LL;
constexpr std::int64_t k_reset_ttl_ms = 3600 * 1000LL;
constexpr std::string_view k_totp_issuer = "FlowTrack";

// Login failure reasons as recorded in login_attempts.failure_reason.
constexpr std::string_view k_invalid_password = "INVALID_PASSWORD";
constexpr std::string_view k_user_not_found = "USER_NOT_FOUND";
constexpr std::string_view k_account_locked = "ACCOUNT_LOCKED";
constexpr std::string_view k_email_not_verified = "EMAIL_NOT_VERIFIED";
constexpr std::string_view k_account_disabled = "ACCOUNT_DISABLED";
constexpr std::string_view k_totp_required = "TOTP_REQUIRED";
constexpr std::string_view k_invalid_totp = "INVALID_TOTP";

std::string totp_context(std::string_view user_id) { return "users.totp_secret:" + std::string(user_id); }

// A security event: a row (security_events), a log line without secrets, a metric.
void audit(pg::connection& c, std::string_view kind, std::optional<std::string> user_id, const api_call& call,
           json::object detail = {}) {
  static auto& events = metrics::global().counters("flowtrack_security_events_total",
                                                   "Security events of the accounts API (logins, refresh reuse, password and TOTP changes).",
                                                   {"kind"});
  events.at({std::string(kind)}).add();
  spdlog::info("security: {} user={} ip={} request={} {}", kind, user_id.value_or("-"), call.client_ip, call.request_id,
               json::serialize(detail));
  if (auto r = storage::record_security_event(c, std::move(user_id), kind, call.client_ip, call.user_agent, detail); !r)
    spdlog::warn("security: cannot record {}: {}", kind, r.err().message);
}

// The hashing threads wait for PostgreSQL here (never an HTTP or actor thread).
template <class Work>
auto blocking_db(api_service& api, Work work) {
  return api.options().postgres->run(std::move(work)).get();
}

void send_mail(api_service& api, std::string to, std::string subject, std::string text) {
  actors::email_message m;
  m.idempotency_key = "account-" + random_token().substr(0, 24);
  m.from_name = "FlowTrack";
  m.to = std::move(to);
  m.subject = std::move(subject);
  m.text_body = std::move(text);
  api.mail(std::move(m));
}

json::object token_pair(std::string_view access, std::string_view refresh, std::int64_t expires_in_s) {
  return json::object{{"accessToken", access}, {"refreshToken", refresh}, {"tokenType", "Bearer"}, {"expiresIn", expires_in_s}};
}

json::object user_json(const storage::user_row& u) {
  return json::object{{"id", u.id},
                      {"email", u.email},
                      {"firstName", u.first_name},
                      {"lastName", u.last_name},
                      {"emailVerified", u.email_verified},
                      {"totpEnabled", u.totp_enabled},
                      {"authProvider", u.auth_provider},
                      {"createdAt", u.created_at_ms}};
}

bool plausible_email(std::string_view e) {
  auto at = e.find('@');
  if (e.size() > 254 || at == std::string_view::npos || at == 0 || at + 1 >= e.size() || e.find('@', at + 1) != std::string_view::npos)
    return false;
  return std::none_of(e.begin(), e.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == ','; });
}

void fail(const responder& reply, const api_error& e) { reply(error_response(e)); }
void fail(const responder& reply, const error& e) {
  if (e.code == error_code::internal) spdlog::error("accounts: {}", e.message);
  reply(error_response(from_error(e)));
}

// Reads a body; on a problem answers it and returns false.
bool finish(body_reader& b, const responder& reply) {
  if (auto p = b.finish()) {
    fail(reply, *p);
    return false;
  }
  return true;
}

api_error invalid_credentials() { return api_error::unauthorized("invalid_credentials", "the email or the password is wrong"); }

// Pairs made by recent rotations, by the rotated token's id, for the grace window.
class rotation_cache {
 public:
  struct entry {
    std::string child_id, child_hash, access, refresh;
    std::int64_t made_ms = 0;
  };
  void put(const std::string& parent_id, entry e, std::int64_t now_ms) {
    {
      std::lock_guard lock(mutex_);
      std::erase_if(entries_, [now_ms](const auto& kv) { return now_ms - kv.second.made_ms > k_refresh_grace_ms; });
      entries_[parent_id] = std::move(e);
    }
    added_.notify_all();
  }
  /// The pair, waiting up to `wait` for it: a rotation that won the row lock a moment ago stores
  /// its pair just after its commit.
  std::optional<entry> get(const std::string& parent_id, std::int64_t now_ms,
                           std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const {
    std::unique_lock lock(mutex_);
    auto found = [&] { return entries_.find(parent_id) != entries_.end(); };
    if (!found() && wait.count() > 0) added_.wait_for(lock, wait, found);
    auto it = entries_.find(parent_id);
    if (it == entries_.end() || now_ms - it->second.made_ms > k_refresh_grace_ms) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable added_;
  std::map<std::string, entry> entries_;
};

// A TOTP code or a recovery code as the user typed it. A 6-digit code must advance the user's
// last step (no replay); anything else is tried as a recovery code ("xxxxx-xxxxx").
result<bool> second_factor_ok(pg::connection& c, api_service& api, const storage::user_row& u, std::string code) {
  code.erase(std::remove_if(code.begin(), code.end(), [](unsigned char ch) { return std::isspace(ch); }), code.end());
  bool digits = code.size() == 6 && std::all_of(code.begin(), code.end(), [](unsigned char ch) { return std::isdigit(ch); });
  if (digits) {
    if (!u.totp_secret || api.options().keys == nullptr) return false;
    auto secret = api.options().keys->open(*u.totp_secret, totp_context(u.id));
    if (!secret) return make_error(error_code::unavailable, "the TOTP secret cannot be opened: " + secret.err().message);
    auto step = crypto::totp_match(*secret, code, api.now_ms() / 1000);
    if (!step) return false;
    return storage::advance_totp_step(c, u.id, *step);
  }
  std::transform(code.begin(), code.end(), code.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (code.size() == 10) code.insert(5, "-");
  if (code.size() != 11) return false;
  return storage::use_recovery_code(c, u.id, storage::sha256_hex(code));
}

// The hash an unknown email's password is verified against: a random password under the node's
// own parameters (so it costs what a real user's hash costs). Made once, on a hashing thread at
// start-up (add_account_routes queues it), before the first login needs it.
const std::string& dummy_hash(const api_service& api) {
  static std::once_flag once;
  static std::string hash;
  std::call_once(once, [&] { hash = crypto::hash_password(random_token(), api.options().password_params); });
  return hash;
}

// The memory, passes and lanes of an Argon2id PHC string ("$argon2id$v=19$m=65536,t=3,p=4$..."),
// or nullopt when it is not one.
std::optional<crypto::argon2_params> argon2id_cost(std::string_view encoded) {
  constexpr std::string_view prefix = "$argon2id$v=19$";
  if (!encoded.starts_with(prefix)) return std::nullopt;
  encoded.remove_prefix(prefix.size());
  auto list = encoded.substr(0, encoded.find('$'));
  crypto::argon2_params out{0, 0, 0};
  int seen = 0;
  while (!list.empty()) {
    auto item = list.substr(0, list.find(','));
    list.remove_prefix(std::min(list.size(), item.size() + 1));
    if (item.size() < 3 || item[1] != '=') return std::nullopt;
    std::uint32_t v = 0;
    auto [end, ec] = std::from_chars(item.data() + 2, item.data() + item.size(), v);
    if (ec != std::errc{} || end != item.data() + item.size()) return std::nullopt;
    switch (item[0]) {
      case 'm': out.memory_kib = v; break;
      case 't': out.iterations = v; break;
      case 'p': out.parallelism = v; break;
      default: return std::nullopt;
    }
    ++seen;
  }
  if (seen != 3 || out.memory_kib == 0 || out.iterations == 0 || out.parallelism == 0) return std::nullopt;
  return out;
}

// Whether a hash that just verified is to be made again under the node's parameters: its memory,
// passes or lanes are below them, or it is no Argon2id v19 string at all. A hash at least as
// costly in each stays as it is, so a node configured lower (a test setting, an older node
// mid-rollout) never weakens one.
bool weaker_than(std::string_view encoded, const crypto::argon2_params& node) {
  if (!crypto::needs_rehash(encoded, node)) return false;
  auto cost = argon2id_cost(encoded);
  return !cost || cost->memory_kib < node.memory_kib || cost->iterations < node.iterations || cost->parallelism < node.parallelism;
}

// After a successful login on a hashing thread: stores the password under the node's current
// parameters when its hash is weaker (its cost rises with the node's settings). Best-effort: a
// failure is logged and the login stands.
void rehash_if_weaker(api_service& api, const storage::user_row& u, const std::string& password) {
  const auto& params = api.options().password_params;
  if (!u.password_hash || !weaker_than(*u.password_hash, params)) return;
  try {
    auto fresh = crypto::hash_password(password, params);
    auto done = blocking_db(api, [&](pg::connection& c) { return storage::rehash_password(c, u.id, *u.password_hash, fresh); });
    if (!done) return spdlog::warn("accounts: the password hash of user {} was not renewed: {}", u.id, done.err().message);
    if (*done)
      spdlog::info("accounts: the password hash of user {} was renewed under m={} t={} p={}", u.id, params.memory_kib,
                   params.iterations, params.parallelism);
  } catch (const std::exception& e) {
    spdlog::warn("accounts: the password hash of user {} was not renewed: {}", u.id, e.what());
  }
}

// ---- sign-up and verification ------------------------------------------------------------------

void signup(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto email = b.string("email", true, 254);
  auto password = b.string("password", true, 4096);
  auto first = b.string("firstName", false, 100);
  auto last = b.string("lastName", false, 100);
  if (!finish(b, reply)) return;
  if (!plausible_email(*email)) return fail(reply, api_error::invalid("email", "email is not an email address"));
  if (auto problem = domain::check_password(*password, *email))
    return fail(reply, api_error::invalid("password", problem->message, problem->code));
  bool queued = api.run_blocking([&api, email = *email, password = *password, first = first.value_or(""), last = last.value_or(""),
                                  reply] {
    // Hashed whether or not the email is taken: both answers take as long.
    auto hash = crypto::hash_password(password, api.options().password_params);
    auto token = random_token();
    auto outcome = blocking_db(api, [&](pg::connection& c) {
      return storage::sign_up(c, email, hash, first, last, storage::sha256_hex(token), api.now_ms() + k_verification_ttl_ms);
    });
    if (!outcome) {
      if (outcome.err().code == error_code::invalid) return fail(reply, api_error::invalid("email", "email is not an email address"));
      return fail(reply, outcome.err());
    }
    const auto& base = api.options().public_base_url;
    if (*outcome == storage::signup_outcome::created) {
      // A new address, or one never verified (its earlier link no longer works): a new link.
      send_mail(api, email, "Confirm your email address",
                "Welcome to FlowTrack.\n\nConfirm your email address by opening this link within 24 hours:\n\n" + base +
                    "/verify-email?token=" + token + "\n\nIf you did not sign up, ignore this email.\n");
    } else {
      // The same answer as a new sign-up; the owner of the verified address hears of it instead
      // (only their mailbox sees it, so it tells nobody else anything): a sign-up they did not
      // make is worth knowing of, and one they forgot is answered with the way back in.
      send_mail(api, email, "You already have a FlowTrack account",
                "Someone (perhaps you) tried to sign up with this email address, which already has an account.\n\n"
                "If you forgot your password, reset it at " + base + "/forgot-password\n\nOtherwise ignore this email.\n");
    }
    reply(json_reply(bhttp::status::created,
                     json::object{{"status", "verification_sent"},
                                  {"message", "check your inbox for a link to confirm your email address"}}));
  });
  if (!queued) fail(reply, api_service::busy());
}

void verify_email(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto token = b.string("token", true, 256);
  if (!finish(b, reply)) return;
  api.db([hash = storage::sha256_hex(*token)](pg::connection& c) { return storage::verify_email(c, hash); },
         [reply](result<std::optional<std::string>> r) {
           if (!r) return fail(reply, r.err());
           if (!*r)
             return fail(reply, api_error{bhttp::status::bad_request, "invalid_token",
                                          "this verification link is unknown, used or expired; sign up again for a new one", "token", 0});
           reply(json_reply(bhttp::status::ok, json::object{{"status", "verified"}}));
         });
}

// ---- login -------------------------------------------------------------------------------------

void login(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto email = b.string("email", true, 254);
  auto password = b.string("password", true, 4096);
  auto totp = b.string("totp", false, 64);
  if (!finish(b, reply)) return;
  bool queued = api.run_blocking([&api, call = std::move(call), email = *email, password = *password, totp, reply] {
    std::int64_t now = api.now_ms();
    auto record = [&](pg::connection& c, bool ok, std::optional<std::string_view> reason) {
      if (auto r = storage::record_login_attempt(c, email, call.client_ip, call.user_agent, ok, reason); !r)
        spdlog::warn("accounts: cannot record a login attempt: {}", r.err().message);
    };
    auto counts = blocking_db(api, [&](pg::connection& c) { return storage::failed_attempts_since(c, email, call.client_ip, now - k_login_window_ms); });
    if (!counts) return fail(reply, counts.err());
    if (counts->by_email >= k_login_max_failures || counts->by_ip >= k_login_max_failures) {
      // Refused before any password is verified; the wait is until the oldest failure that
      // keeps a window full leaves it.
      std::int64_t until = 0;
      if (counts->by_email >= k_login_max_failures) until = std::max(until, counts->oldest_email_ms + k_login_window_ms);
      if (counts->by_ip >= k_login_max_failures) until = std::max(until, counts->oldest_ip_ms + k_login_window_ms);
      int wait_s = static_cast<int>(std::max<std::int64_t>(1, (until - now + 999) / 1000));
      (void)blocking_db(api, [&](pg::connection& c) -> result<void> {
        record(c, false, k_account_locked);
        audit(c, "login_locked", std::nullopt, call, json::object{{"byEmail", counts->by_email}, {"byIp", counts->by_ip}});
        return {};
      });
      return fail(reply, api_error{bhttp::status::too_many_requests, "too_many_attempts",
                                   "too many failed sign-ins; try again in " + std::to_string(wait_s) + " s", {}, wait_s});
    }
    auto found = blocking_db(api, [&](pg::connection& c) { return storage::find_user_by_email(c, email); });
    if (!found) return fail(reply, found.err());
    const auto& u = *found;
    // An unknown email (or one without a password) is verified against a dummy hash of the same
    // cost, so the answer takes as long as for a known one.
    const std::string& dummy = dummy_hash(api);
    bool has_password = u && u->password_hash;
    bool ok = crypto::verify_password(has_password ? *u->password_hash : dummy, password) && has_password;

    std::optional<api_error> refusal;
    std::string_view reason;
    if (!u) refusal = invalid_credentials(), reason = k_user_not_found;
    else if (!ok) refusal = invalid_credentials(), reason = k_invalid_password;
    else if (!u->is_active) refusal = invalid_credentials(), reason = k_account_disabled;
    else if (!u->email_verified)
      refusal = api_error{bhttp::status::forbidden, "email_not_verified", "confirm your email address first: open the link we sent", {}, 0},
      reason = k_email_not_verified;
    else if (u->totp_enabled && (!totp || totp->empty()))
      refusal = api_error{bhttp::status::unauthorized, "totp_required", "this account needs its authenticator code: send totp", "totp", 0},
      reason = k_totp_required;

    auto outcome = blocking_db(api, [&](pg::connection& c) -> result<json::object> {
      if (!refusal && u->totp_enabled) {
        auto second = second_factor_ok(c, api, *u, *totp);
        if (!second) return second.err();
        if (!*second)
          refusal = api_error{bhttp::status::unauthorized, "invalid_totp", "the authenticator or recovery code is wrong or used", "totp", 0},
          reason = k_invalid_totp;
      }
      std::optional<std::string> user_id = u ? std::optional<std::string>(u->id) : std::nullopt;
      if (refusal) {
        record(c, false, reason);
        audit(c, "login_failed", user_id, call, json::object{{"reason", reason}});
        return json::object{};
      }
      auto refresh = random_token();
      auto family = storage::insert_refresh_token(c, u->id, storage::sha256_hex(refresh), std::nullopt, std::nullopt,
                                                  now + k_refresh_ttl_s * 1000, call.user_agent, call.client_ip);
      if (!family) return family.err();
      record(c, true, std::nullopt);
      audit(c, "login_succeeded", user_id, call, json::object{{"session", *family}});
      return token_pair(issue_access_token(api.options().jwt_key, u->id, *family, now), refresh, k_access_ttl_s);
    });
    if (!outcome) return fail(reply, outcome.err());
    if (refusal) return fail(reply, *refusal);
    // Before the answer, so the next login already verifies the new hash; it happens once per
    // user when the node's parameters rise.
    rehash_if_weaker(api, *u, password);
    reply(json_reply(bhttp::status::ok, *outcome));
  });
  if (!queued) fail(reply, api_service::busy());
}

// ---- refresh and logout ------------------------------------------------------------------------

api_error refresh_refused(std::string code, std::string message) { return api_error::unauthorized(std::move(code), std::move(message)); }

void refresh(api_service& api, std::shared_ptr<rotation_cache> cache, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto token = b.string("refreshToken", true, 256);
  if (!finish(b, reply)) return;
  api.db(
      [&api, cache, call = std::move(call), token = *token](pg::connection& c) -> result<std::variant<json::object, api_error>> {
        using out = std::variant<json::object, api_error>;
        std::int64_t now = api.now_ms();
        auto row = storage::find_refresh_token(c, storage::sha256_hex(token));
        if (!row) return row.err();
        if (!*row) return out(refresh_refused("invalid_refresh_token", "this refresh token is unknown; sign in again"));
        auto& t = **row;
        // A rotated token presented again: within the grace window, while the token that replaced
        // it is live, the pair that rotation made (a second tab); otherwise reuse.
        auto answer_again = [&](std::chrono::milliseconds wait) -> std::optional<json::object> {
          if (!t.replaced_by || now - t.revoked_at_ms > k_refresh_grace_ms) return std::nullopt;
          auto e = cache->get(t.id, now, wait);
          if (!e || e->child_id != *t.replaced_by) return std::nullopt;
          auto child = storage::find_refresh_token(c, e->child_hash);
          if (!child || !*child || (*child)->revoked) return std::nullopt;
          return token_pair(e->access, e->refresh, k_access_ttl_s - (now - e->made_ms) / 1000);
        };
        auto reused = [&]() -> result<out> {
          auto revoked = storage::revoke_family(c, t.family_id);
          if (!revoked) return revoked.err();
          api.sessions().end_session(t.family_id, now);
          audit(c, "refresh_token_reuse", t.user_id, call, json::object{{"session", t.family_id}, {"revoked", *revoked}});
          return out(refresh_refused("refresh_token_reused", "this refresh token was already used; the session is ended, sign in again"));
        };
        if (t.revoked) {
          // A rotation that committed a moment ago may not have stored its pair yet.
          if (auto again = answer_again(std::chrono::milliseconds(250))) return out(std::move(*again));
          return reused();
        }
        if (now >= t.expires_at_ms) return out(refresh_refused("refresh_token_expired", "this refresh token expired; sign in again"));
        auto u = storage::find_user_by_id(c, t.user_id);
        if (!u) return u.err();
        if (!*u || !(*u)->is_active) {
          (void)storage::revoke_family(c, t.family_id);
          api.sessions().end_session(t.family_id, now);
          return out(refresh_refused("invalid_refresh_token", "this account is not active"));
        }
        auto next = random_token();
        auto next_hash = storage::sha256_hex(next);
        auto id = storage::rotate_refresh_token(c, t.id, next_hash, now + k_refresh_ttl_s * 1000, call.user_agent, call.client_ip);
        if (!id) return id.err();
        if (!*id) {
          // Rotated by a concurrent request a moment ago: the same as a second tab.
          auto again_row = storage::find_refresh_token(c, storage::sha256_hex(token));
          if (again_row && *again_row) {
            t = **again_row;
            if (auto again = answer_again(std::chrono::milliseconds(250))) return out(std::move(*again));
          }
          return out(refresh_refused("refresh_token_reused", "this refresh token was already used; sign in again"));
        }
        auto access = issue_access_token(api.options().jwt_key, t.user_id, t.family_id, now);
        cache->put(t.id, rotation_cache::entry{**id, next_hash, access, next, now}, now);
        return out(token_pair(access, next, k_access_ttl_s));
      },
      [reply](result<std::variant<json::object, api_error>> r) {
        if (!r) return fail(reply, r.err());
        if (auto* e = std::get_if<api_error>(&*r)) return fail(reply, *e);
        reply(json_reply(bhttp::status::ok, std::get<json::object>(*r)));
      });
}

void logout(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto token = b.string("refreshToken", true, 256);
  if (!finish(b, reply)) return;
  // Holding the refresh token is enough to end its session (an expired access token must not
  // keep a session alive). Unknown or already revoked: the same 204.
  api.db(
      [&api, call = std::move(call), hash = storage::sha256_hex(*token)](pg::connection& c) -> result<void> {
        auto row = storage::find_refresh_token(c, hash);
        if (!row) return row.err();
        if (!*row) return {};
        auto done = storage::revoke_refresh_token(c, (*row)->user_id, hash);
        if (!done) return done.err();
        api.sessions().end_session((*row)->family_id, api.now_ms());
        if (*done) audit(c, "logout", (*row)->user_id, call, json::object{{"session", (*row)->family_id}});
        return {};
      },
      [reply](result<void> r) {
        if (!r) return fail(reply, r.err());
        reply(no_content());
      });
}

void logout_all(api_service& api, api_call&& call, responder reply) {
  api.db(
      [&api, call = std::move(call)](pg::connection& c) -> result<std::size_t> {
        auto n = storage::revoke_user_tokens(c, call.user->user_id, std::nullopt);
        if (n) api.sessions().end_user_sessions(call.user->user_id, std::nullopt, api.now_ms());
        if (n) audit(c, "logout_all", call.user->user_id, call, json::object{{"revoked", *n}});
        return n;
      },
      [reply](result<std::size_t> r) {
        if (!r) return fail(reply, r.err());
        reply(json_reply(bhttp::status::ok, json::object{{"revoked", *r}}));
      });
}

// ---- profile -----------------------------------------------------------------------------------

void reply_user(responder reply, result<std::optional<storage::user_row>> u) {
  if (!u) return fail(reply, u.err());
  if (!*u) return fail(reply, api_error::unauthorized("invalid_token", "the account of this token no longer exists"));
  reply(json_reply(bhttp::status::ok, user_json(**u)));
}

void get_me(api_service& api, api_call&& call, responder reply) {
  api.db([id = call.user->user_id](pg::connection& c) { return storage::find_user_by_id(c, id); },
         [reply](result<std::optional<storage::user_row>> u) { reply_user(reply, std::move(u)); });
}

void patch_me(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto first = b.string("firstName", false, 100);
  auto last = b.string("lastName", false, 100);
  if (!finish(b, reply)) return;
  api.db(
      [id = call.user->user_id, first, last](pg::connection& c) -> result<std::optional<storage::user_row>> {
        if (auto r = storage::update_profile(c, id, first, last); !r) {
          if (r.err().code == error_code::not_found) return std::optional<storage::user_row>{};
          return r.err();
        }
        return storage::find_user_by_id(c, id);
      },
      [reply](result<std::optional<storage::user_row>> u) { reply_user(reply, std::move(u)); });
}

// ---- passwords ---------------------------------------------------------------------------------

void change_password(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto current = b.string("currentPassword", true, 4096);
  auto next = b.string("newPassword", true, 4096);
  if (!finish(b, reply)) return;
  bool queued = api.run_blocking([&api, call = std::move(call), current = *current, next = *next, reply] {
    const auto& me = *call.user;
    auto u = blocking_db(api, [&](pg::connection& c) { return storage::find_user_by_id(c, me.user_id); });
    if (!u) return fail(reply, u.err());
    if (!*u) return fail(reply, api_error::unauthorized("invalid_token", "the account of this token no longer exists"));
    const auto& user = **u;
    // Guessing the current password here counts against the same limiter as login.
    std::int64_t now = api.now_ms();
    auto counts = blocking_db(api, [&](pg::connection& c) { return storage::failed_attempts_since(c, user.email, call.client_ip, now - k_login_window_ms); });
    if (!counts) return fail(reply, counts.err());
    if (counts->by_email >= k_login_max_failures || counts->by_ip >= k_login_max_failures)
      return fail(reply, api_error{bhttp::status::too_many_requests, "too_many_attempts", "too many failed attempts; try again later", {}, 900});
    if (!user.password_hash) return fail(reply, {bhttp::status::conflict, "no_password", "this account signs in through Clerk or has no password yet; use forgot-password to set one", {}, 0});
    if (!crypto::verify_password(*user.password_hash, current)) {
      (void)blocking_db(api, [&](pg::connection& c) { return storage::record_login_attempt(c, user.email, call.client_ip, call.user_agent, false, k_invalid_password); });
      return fail(reply, api_error::invalid("currentPassword", "the current password is wrong", "invalid_password"));
    }
    if (auto problem = domain::check_password(next, user.email))
      return fail(reply, api_error::invalid("newPassword", problem->message, problem->code));
    auto hash = crypto::hash_password(next, api.options().password_params);
    std::optional<std::string> keep = me.session_id.empty() ? std::nullopt : std::optional<std::string>(me.session_id);
    auto done = blocking_db(api, [&](pg::connection& c) -> result<void> {
      auto r = storage::set_password(c, user.id, hash, keep);
      if (r) api.sessions().end_user_sessions(user.id, keep, api.now_ms());
      if (r) audit(c, "password_changed", user.id, call);
      return r;
    });
    if (!done) return fail(reply, done.err());
    reply(json_reply(bhttp::status::ok, json::object{{"status", "changed"}}));
  });
  if (!queued) fail(reply, api_service::busy());
}

void forgot_password(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto email = b.string("email", true, 254);
  if (!finish(b, reply)) return;
  // Answered before the look-up: the same status, body and timing whatever the email.
  reply(json_reply(bhttp::status::accepted,
                   json::object{{"status", "accepted"}, {"message", "if an account has this email, a reset link is on its way"}}));
  auto token = random_token();
  api.db(
      [&api, email = *email, token](pg::connection& c) -> result<std::optional<std::string>> {
        auto u = storage::find_user_by_email(c, email);
        if (!u) return u.err();
        if (!*u || !(*u)->is_active) return std::optional<std::string>{};
        if (auto r = storage::issue_reset_token(c, (*u)->id, storage::sha256_hex(token), api.now_ms() + k_reset_ttl_ms); !r) return r.err();
        return std::optional<std::string>((*u)->email);
      },
      [&api, token](result<std::optional<std::string>> to) {
        if (!to) return spdlog::warn("accounts: a password reset was not issued: {}", to.err().message);
        if (!*to) return;
        send_mail(api, **to, "Reset your FlowTrack password",
                  "Someone (perhaps you) asked to reset the password of this account.\n\nChoose a new password within one hour:\n\n" +
                      api.options().public_base_url + "/reset-password?token=" + token +
                      "\n\nIf it was not you, ignore this email: your password stays as it is.\n");
      });
}

void reset_password(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto token = b.string("token", true, 256);
  auto password = b.string("password", true, 4096);
  if (!finish(b, reply)) return;
  // What can be checked without the account first, so a weak password does not spend the token.
  if (auto problem = domain::check_password(*password, ""))
    return fail(reply, api_error::invalid("password", problem->message, problem->code));
  bool queued = api.run_blocking([&api, call = std::move(call), token = *token, password = *password, reply] {
    auto hash = crypto::hash_password(password, api.options().password_params);
    auto outcome = blocking_db(api, [&](pg::connection& c) -> result<std::variant<std::monostate, api_error>> {
      using out = std::variant<std::monostate, api_error>;
      auto id = storage::consume_reset_token(c, storage::sha256_hex(token));
      if (!id) return id.err();
      if (!*id)
        return out(api_error{bhttp::status::bad_request, "invalid_token", "this reset link is unknown, used, replaced or expired; ask for a new one", "token", 0});
      auto u = storage::find_user_by_id(c, **id);
      if (!u) return u.err();
      if (!*u) return out(api_error{bhttp::status::bad_request, "invalid_token", "this reset link's account no longer exists", "token", 0});
      if (auto problem = domain::check_password(password, (*u)->email))
        return out(api_error::invalid("password", problem->message + "; ask for a new reset link", problem->code));
      // Every session ends; TOTP stays as it was (a reset never bypasses the second factor).
      if (auto r = storage::set_password(c, **id, hash, std::nullopt); !r) return r.err();
      api.sessions().end_user_sessions(**id, std::nullopt, api.now_ms());
      audit(c, "password_reset", **id, call);
      return out(std::monostate{});
    });
    if (!outcome) return fail(reply, outcome.err());
    if (auto* e = std::get_if<api_error>(&*outcome)) return fail(reply, *e);
    reply(json_reply(bhttp::status::ok, json::object{{"status", "reset"}}));
  });
  if (!queued) fail(reply, api_service::busy());
}

// ---- TOTP --------------------------------------------------------------------------------------

using totp_out = std::variant<json::object, api_error>;

void answer_totp(const responder& reply, result<totp_out> r) {
  if (!r) return fail(reply, r.err());
  if (auto* e = std::get_if<api_error>(&*r)) return fail(reply, *e);
  reply(json_reply(bhttp::status::ok, std::get<json::object>(*r)));
}

void totp_setup(api_service& api, api_call&& call, responder reply) {
  const auto* keys = api.options().keys;
  if (keys == nullptr || !keys->can_seal())
    return fail(reply, api_error{bhttp::status::service_unavailable, "not_configured",
                                 "two-factor sign-in needs encryption_key (FLOWTRACK_ENCRYPTION_KEY) on this node", "encryption_key", 60});
  api.db(
      [keys, id = call.user->user_id](pg::connection& c) -> result<totp_out> {
        auto u = storage::find_user_by_id(c, id);
        if (!u) return u.err();
        if (!*u) return totp_out(api_error::unauthorized("invalid_token", "the account of this token no longer exists"));
        if ((*u)->totp_enabled)
          return totp_out(api_error{bhttp::status::conflict, "totp_enabled", "two-factor sign-in is on; disable it first", {}, 0});
        auto secret = crypto::totp_secret();
        auto sealed = keys->seal(secret, totp_context(id));
        if (!sealed) return make_error(error_code::internal, "sealing a TOTP secret: " + sealed.err().message);
        if (auto r = storage::set_totp_secret(c, id, *sealed); !r) return r.err();
        auto b32 = crypto::base32_encode(secret);
        while (!b32.empty() && b32.back() == '=') b32.pop_back();
        return totp_out(json::object{{"secret", b32}, {"otpauthUri", crypto::otpauth_uri(k_totp_issuer, (*u)->email, secret)}});
      },
      [reply](result<totp_out> r) { answer_totp(reply, std::move(r)); });
}

void totp_enable(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto code = b.string("code", true, 64);
  if (!finish(b, reply)) return;
  api.db(
      [&api, call = std::move(call), code = *code](pg::connection& c) -> result<totp_out> {
        const auto& id = call.user->user_id;
        auto u = storage::find_user_by_id(c, id);
        if (!u) return u.err();
        if (!*u) return totp_out(api_error::unauthorized("invalid_token", "the account of this token no longer exists"));
        if ((*u)->totp_enabled) return totp_out(api_error{bhttp::status::conflict, "totp_enabled", "two-factor sign-in is already on", {}, 0});
        if (!(*u)->totp_secret || api.options().keys == nullptr)
          return totp_out(api_error{bhttp::status::conflict, "totp_not_set_up", "call /auth/totp/setup first", {}, 0});
        auto secret = api.options().keys->open(*(*u)->totp_secret, totp_context(id));
        if (!secret) return make_error(error_code::unavailable, "the TOTP secret cannot be opened: " + secret.err().message);
        auto step = crypto::totp_match(*secret, code, api.now_ms() / 1000);
        if (!step) return totp_out(api_error::invalid("code", "the code does not match; check the authenticator's clock", "invalid_code"));
        auto codes = crypto::recovery_codes(10);
        std::vector<std::string> hashes;
        for (const auto& rc : codes) hashes.push_back(storage::sha256_hex(rc));
        if (auto r = storage::enable_totp(c, id, *step, std::move(hashes)); !r) return r.err();
        audit(c, "totp_enabled", id, call);
        json::array list;
        for (auto& rc : codes) list.emplace_back(rc);
        return totp_out(json::object{{"status", "enabled"}, {"recoveryCodes", std::move(list)}});
      },
      [reply](result<totp_out> r) { answer_totp(reply, std::move(r)); });
}

void totp_disable(api_service& api, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto code = b.string("code", true, 64);
  if (!finish(b, reply)) return;
  api.db(
      [&api, call = std::move(call), code = *code](pg::connection& c) -> result<totp_out> {
        const auto& id = call.user->user_id;
        auto u = storage::find_user_by_id(c, id);
        if (!u) return u.err();
        if (!*u) return totp_out(api_error::unauthorized("invalid_token", "the account of this token no longer exists"));
        if (!(*u)->totp_enabled) return totp_out(api_error{bhttp::status::conflict, "totp_not_enabled", "two-factor sign-in is off", {}, 0});
        auto ok = second_factor_ok(c, api, **u, code);
        if (!ok) return ok.err();
        if (!*ok) return totp_out(api_error::invalid("code", "the authenticator or recovery code is wrong or used", "invalid_code"));
        if (auto r = storage::disable_totp(c, id); !r) return r.err();
        audit(c, "totp_disabled", id, call);
        return totp_out(json::object{{"status", "disabled"}});
      },
      [reply](result<totp_out> r) { answer_totp(reply, std::move(r)); });
}

}  // namespace

void add_account_routes(api_service& api) {
  auto cache = std::make_shared<rotation_cache>();
  if (!api.run_blocking([&api] { (void)dummy_hash(api); })) spdlog::warn("accounts: the dummy hash is made at the first login");
  const route_options open_body{true, false, true}, signed_body{true, true, true}, signed_plain{false, true, true};
  auto bind = [&api](void (*f)(api_service&, api_call&&, responder)) {
    return [&api, f](api_call&& call, responder reply) { f(api, std::move(call), std::move(reply)); };
  };
  api.add(verb::post, "/auth/signup", open_body, bind(signup));
  api.add(verb::post, "/auth/verify-email", open_body, bind(verify_email));
  api.add(verb::post, "/auth/login", open_body, bind(login));
  api.add(verb::post, "/auth/refresh", open_body, [&api, cache](api_call&& call, responder reply) {
    refresh(api, cache, std::move(call), std::move(reply));
  });
  api.add(verb::post, "/auth/logout", open_body, bind(logout));
  api.add(verb::post, "/auth/logout-all", signed_plain, bind(logout_all));
  api.add(verb::post, "/auth/change-password", signed_body, bind(change_password));
  api.add(verb::post, "/auth/forgot-password", open_body, bind(forgot_password));
  api.add(verb::post, "/auth/reset-password", open_body, bind(reset_password));
  api.add(verb::post, "/auth/totp/setup", signed_plain, bind(totp_setup));
  api.add(verb::post, "/auth/totp/enable", signed_body, bind(totp_enable));
  api.add(verb::post, "/auth/totp/disable", signed_body, bind(totp_disable));
  // Clerk users reach /me without jwt_key.
  api.add(verb::get, "/me", {false, true, false}, bind(get_me));
  api.add(verb::patch, "/me", {true, true, false}, bind(patch_me));
}

}  // namespace flowtrack::http::api
