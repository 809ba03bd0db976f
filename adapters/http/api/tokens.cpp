// Random tokens, access tokens and the Bearer check.
#include "adapters/http/api/tokens.hpp"

#include <stdexcept>

#include <openssl/rand.h>

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

api_error invalid_token(std::string message) { return api_error::unauthorized("invalid_token", std::move(message)); }

// The `alg` of a compact JWS header, without trusting anything else in it; empty when unreadable.
std::string header_alg(std::string_view token) {
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return {};
  auto head = crypto::base64url_decode(token.substr(0, dot));
  if (!head) return {};
  boost::system::error_code ec;
  auto v = json::parse(*head, ec);
  if (ec || !v.is_object()) return {};
  auto* alg = v.as_object().if_contains("alg");
  return alg && alg->is_string() ? std::string(alg->as_string()) : std::string();
}

api_error refusal(const crypto::jwt_error& e) {
  if (e.code == crypto::jwt_errc::expired) return api_error::unauthorized("token_expired", "the access token expired; refresh it");
  return invalid_token("the access token is not valid: " + e.message);
}

std::string claim_string(const json::object& claims, std::string_view name) {
  auto* v = claims.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

std::string random_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for a token");
  return crypto::base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

std::string issue_access_token(std::string_view key, std::string_view user_id, std::string_view session_id, std::int64_t now_ms) {
  std::int64_t now_s = now_ms / 1000;
  json::object claims{{"iss", "flowtrack"},
                      {"sub", user_id},
                      {"sid", session_id},
                      {"iat", now_s},
                      {"exp", now_s + k_access_ttl_s},
                      {"iat_ms", now_ms},
                      {"jti", random_token().substr(0, 22)}};
  return crypto::jwt_sign_hs256(claims, key);
}

bearer_result check_bearer(std::string_view authorization, std::string_view jwt_key,
                           const std::optional<crypto::rsa_keyset>& clerk, std::int64_t now_s) {
  if (jwt_key.empty() && !clerk)
    return api_error::unavailable("sign-in is not configured on this node: set jwt_key (FLOWTRACK_JWT_KEY, 64 hex characters)", 60);
  if (authorization.empty())
    return api_error::unauthorized("missing_token", "send the access token as Authorization: Bearer <token>");
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size() ||
      !std::equal(scheme.begin(), scheme.end(), authorization.begin(),
                  [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); }))
    return api_error::unauthorized("missing_token", "send the access token as Authorization: Bearer <token>");
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);

  if (header_alg(token) == "RS256" && clerk) {
    auto claims = crypto::jwt_verify_rs256(token, *clerk, now_s);
    if (!claims) return refusal(claims.err());
    clerk_identity id{claim_string(*claims, "sub"), claim_string(*claims, "email"), claim_string(*claims, "first_name"),
                      claim_string(*claims, "last_name")};
    if (id.clerk_user_id.empty()) return invalid_token("the Clerk token names no user (sub)");
    if (id.email.empty()) return invalid_token("the Clerk token carries no email claim; add it to the session token template");
    return id;
  }
  if (jwt_key.empty()) return invalid_token("only Clerk session tokens are accepted on this node");
  auto claims = crypto::jwt_verify_hs256(token, jwt_key, now_s);
  if (!claims) return refusal(claims.err());
  principal p{claim_string(*claims, "sub"), claim_string(*claims, "sid"), "local", 0};
  if (auto* ms = claims->if_contains("iat_ms"); ms && ms->is_int64()) p.issued_at_ms = ms->as_int64();
  else if (auto* iat = claims->if_contains("iat"); iat && iat->is_int64()) p.issued_at_ms = iat->as_int64() * 1000;
  if (p.user_id.empty() || p.session_id.empty() || claim_string(*claims, "iss") != "flowtrack")
    return invalid_token("the access token is not one of ours");
  return p;
}

}  // namespace flowtrack::http::api
