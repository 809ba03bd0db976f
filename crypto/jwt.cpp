// Compact JWS with OpenSSL (HMAC-SHA256, RSA PKCS#1 v1.5 via EVP, keys from PEM or JWKS n/e via
// OSSL_PARAM_BLD) and Boost.JSON. Refusals are values; nothing here logs or does I/O.
#include "crypto/jwt.hpp"

#include <array>
#include <cmath>
#include <limits>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

namespace flowtrack::crypto {
namespace {

constexpr std::string_view k_hs256_header = R"({"alg":"HS256","typ":"JWT"})";
constexpr int k_min_rsa_bits = 2048, k_max_rsa_bits = 8192;
constexpr std::size_t k_max_key_document = 256 * 1024;


jwt_error fail(jwt_errc code, std::string message) { return jwt_error{code, std::move(message)}; }

struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct pkey_ctx_deleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct bn_deleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct param_bld_deleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct param_deleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_deleter>;

// OpenSSL leaves reasons for a failed call on the thread's error queue; a refused key or
// signature is an answer, not an error to report later, so the queue is emptied.
struct clear_errors_on_exit {
  ~clear_errors_on_exit() { ERR_clear_error(); }
};

// A PEM block claiming encryption asks for a password: refuse instead of prompting on a terminal.
int no_password(char*, int, int, void*) { return -1; }

const unsigned char* bytes_of(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::optional<boost::json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

/// A token taken apart: the signed text, the header, the payload's raw JSON and the signature.
struct token_parts {
  std::string_view signing_input;  // header.payload, as sent
  boost::json::object header;
  std::string payload;
  std::string signature;
};

jwt_result<token_parts> split_token(std::string_view token) {
  if (token.size() > k_jwt_max_size)
    return fail(jwt_errc::malformed, "the token is longer than " + std::to_string(k_jwt_max_size) + " bytes");
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail(jwt_errc::malformed, "a token has exactly three dot-separated parts (header.payload.signature)");
  auto header = base64url_decode(token.substr(0, dot1));
  auto payload = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header || !payload || !signature || header->empty() || payload->empty())
    return fail(jwt_errc::malformed, "the token's parts are not base64url without padding");
  auto h = parse_object(*header);
  if (!h) return fail(jwt_errc::malformed, "the token's header is not a JSON object");
  return token_parts{token.substr(0, dot2), std::move(*h), std::move(*payload), std::move(*signature)};
}

/// Refuses a header that does not name `alg` exactly, or that asks for extensions.
std::optional<jwt_error> check_header(const boost::json::object& header, std::string_view alg) {
  const auto* a = header.if_contains("alg");
  if (a == nullptr || !a->is_string() || a->get_string() != alg)
    return fail(jwt_errc::bad_algorithm, "the token is not signed with " + std::string(alg) + ", the only algorithm accepted here");
  if (header.contains("crit")) return fail(jwt_errc::malformed, "the token's header asks for critical extensions, none of which is supported");
  return std::nullopt;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

enum class rounding { down, up };

/// A NumericDate claim as whole seconds, rounded towards refusal; nullopt when it is not a
/// number that fits.
std::optional<std::int64_t> numeric_date(const boost::json::value& v, rounding r) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    // Beyond int64 it is later than any clock: pin it to the maximum.
    return v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    double d = r == rounding::down ? std::floor(v.get_double()) : std::ceil(v.get_double());
    // 2^63 as a double; comparisons rather than a cast so that NaN and infinities are refused.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

/// Parses the (already authenticated) payload and applies the time claims.
jwt_result<boost::json::object> check_claims(const std::string& payload, std::int64_t now_s, std::int64_t leeway_s) {
  auto claims = parse_object(payload);
  if (!claims) return fail(jwt_errc::malformed, "the token's payload is not a JSON object");
  if (leeway_s < 0) leeway_s = 0;
  const auto* exp_v = claims->if_contains("exp");
  if (exp_v == nullptr) return fail(jwt_errc::malformed, "the token has no expiry (exp claim)");
  auto exp = numeric_date(*exp_v, rounding::down);
  if (!exp) return fail(jwt_errc::malformed, "the token's exp claim is not a number of seconds");
  if (now_s >= saturating_add(*exp, leeway_s)) return fail(jwt_errc::expired, "the token has expired");
  for (const char* name : {"nbf", "iat"}) {
    const auto* v = claims->if_contains(name);
    if (v == nullptr) continue;
    auto t = numeric_date(*v, rounding::up);
    if (!t) return fail(jwt_errc::malformed, std::string("the token's ") + name + " claim is not a number of seconds");
    if (*t > saturating_add(now_s, leeway_s))
      return fail(jwt_errc::not_yet_valid, std::string("the token is not valid yet (") + name + " is in the future)");
  }
  return std::move(*claims);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes_of(data), data.size(), md, &len) == nullptr)
    return {};
  std::string out(reinterpret_cast<const char*>(md), len);
  OPENSSL_cleanse(md, sizeof md);
  return out;
}

/// An RSA public key from n and e (big-endian bytes), within the accepted sizes.
std::shared_ptr<EVP_PKEY> rsa_from_n_e(const std::string& n, const std::string& e) {
  clear_errors_on_exit guard;
  if (n.empty() || e.empty() || e.size() > 8 || n.size() > k_max_rsa_bits / 8 + 1) return nullptr;
  bn_ptr bn_n(BN_bin2bn(bytes_of(n), static_cast<int>(n.size()), nullptr));
  bn_ptr bn_e(BN_bin2bn(bytes_of(e), static_cast<int>(e.size()), nullptr));
  if (!bn_n || !bn_e) return nullptr;
  int bits = BN_num_bits(bn_n.get());
  if (bits < k_min_rsa_bits || bits > k_max_rsa_bits || !BN_is_odd(bn_n.get())) return nullptr;
  if (!BN_is_odd(bn_e.get()) || BN_num_bits(bn_e.get()) < 2) return nullptr;  // e odd and >= 3
  std::unique_ptr<OSSL_PARAM_BLD, param_bld_deleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return nullptr;
  std::unique_ptr<OSSL_PARAM, param_deleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return nullptr;
  return std::shared_ptr<EVP_PKEY>(raw, pkey_deleter{});
}

bool rs256_verifies(EVP_PKEY* key, std::string_view signing_input, const std::string& signature) {
  clear_errors_on_exit guard;
  if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) return false;
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
  // An RSA key's default padding for EVP_DigestVerify is PKCS#1 v1.5, which RS256 is.
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), bytes_of(signing_input),
                          signing_input.size()) == 1;
}

}  // namespace

std::string jwt_sign_hs256(const boost::json::object& claims, std::string_view key) {
  if (key.size() < k_hs256_min_key) return {};
  std::string token = base64url_encode(k_hs256_header);
  token += '.';
  token += base64url_encode(boost::json::serialize(claims));
  std::string mac = hmac_sha256(key, token);
  if (mac.empty()) return {};
  token += '.';
  token += base64url_encode(mac);
  return token;
}

jwt_result<boost::json::object> jwt_verify_hs256(std::string_view token, std::string_view key, std::int64_t now_s,
                                                 std::int64_t leeway_s) {
  if (key.size() < k_hs256_min_key)
    return fail(jwt_errc::bad_key, "the HS256 key is shorter than " + std::to_string(k_hs256_min_key) + " bytes");
  auto parts = split_token(token);
  if (!parts) return parts.err();
  if (auto e = check_header(parts->header, "HS256")) return *e;
  std::string want = hmac_sha256(key, parts->signing_input);
  const std::string& got = parts->signature;
  if (want.empty() || got.size() != want.size() || CRYPTO_memcmp(want.data(), got.data(), want.size()) != 0)
    return fail(jwt_errc::bad_signature, "the token's signature does not verify");
  return check_claims(parts->payload, now_s, leeway_s);
}

std::optional<rsa_keyset> rsa_keyset::from_pem(std::string_view pem) {
  clear_errors_on_exit guard;
  if (pem.size() > k_max_key_document) return std::nullopt;
  constexpr std::string_view begin = "-----BEGIN ";
  auto first = pem.find(begin);
  if (first == std::string_view::npos || pem.find(begin, first + 1) != std::string_view::npos) return std::nullopt;
  std::unique_ptr<BIO, bio_deleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return std::nullopt;
  std::shared_ptr<EVP_PKEY> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_password, nullptr), pkey_deleter{});
  if (!key || !EVP_PKEY_is_a(key.get(), "RSA")) return std::nullopt;
  int bits = EVP_PKEY_get_bits(key.get());
  if (bits < k_min_rsa_bits || bits > k_max_rsa_bits) return std::nullopt;
  rsa_keyset set;
  set.keys_.push_back(key_entry{std::string(), std::move(key)});
  return set;
}

std::optional<rsa_keyset> rsa_keyset::from_jwks(std::string_view json) {
  if (json.size() > k_max_key_document) return std::nullopt;
  auto doc = parse_object(json);
  if (!doc) return std::nullopt;
  const auto* keys = doc->if_contains("keys");
  if (keys == nullptr || !keys->is_array()) return std::nullopt;
  rsa_keyset set;
  for (const auto& k : keys->get_array()) {
    if (!k.is_object()) return std::nullopt;
    const auto& o = k.get_object();
    auto str = [&o](const char* name) -> const boost::json::string* {
      const auto* v = o.if_contains(name);
      return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
    };
    const auto* kty = str("kty");
    if (kty == nullptr || *kty != "RSA") continue;
    if (o.contains("use") && (str("use") == nullptr || *str("use") != "sig")) continue;
    if (o.contains("alg") && (str("alg") == nullptr || *str("alg") != "RS256")) continue;
    const auto *kid = str("kid"), *n = str("n"), *e = str("e");
    if (kid == nullptr || kid->empty() || n == nullptr || e == nullptr) return std::nullopt;
    auto n_bytes = base64url_decode(*n);
    auto e_bytes = base64url_decode(*e);
    if (!n_bytes || !e_bytes) return std::nullopt;
    auto pkey = rsa_from_n_e(*n_bytes, *e_bytes);
    if (!pkey) return std::nullopt;
    for (const auto& have : set.keys_)
      if (have.kid == *kid) return std::nullopt;
    set.keys_.push_back(key_entry{std::string(*kid), std::move(pkey)});
  }
  if (set.keys_.empty()) return std::nullopt;
  return set;
}

std::vector<std::string> rsa_keyset::kids() const {
  std::vector<std::string> out;
  if (!has_kids()) return out;
  for (const auto& k : keys_) out.push_back(k.kid);
  return out;
}

jwt_result<boost::json::object> jwt_verify_rs256(std::string_view token, const rsa_keyset& keys, std::int64_t now_s,
                                                 std::int64_t leeway_s) {
  if (keys.keys_.empty()) return fail(jwt_errc::bad_key, "the RSA key set is empty");
  auto parts = split_token(token);
  if (!parts) return parts.err();
  if (auto e = check_header(parts->header, "RS256")) return *e;
  EVP_PKEY* key = nullptr;
  if (!keys.has_kids()) {
    key = keys.keys_.front().pkey.get();
  } else {
    const auto* kid = parts->header.if_contains("kid");
    if (kid == nullptr || !kid->is_string()) return fail(jwt_errc::unknown_key, "the token names no key id (kid)");
    for (const auto& k : keys.keys_)
      if (k.kid == kid->get_string()) key = k.pkey.get();
    if (key == nullptr) return fail(jwt_errc::unknown_key, "the token's key id (kid) names none of the known keys");
  }
  if (!rs256_verifies(key, parts->signing_input, parts->signature))
    return fail(jwt_errc::bad_signature, "the token's signature does not verify");
  return check_claims(parts->payload, now_s, leeway_s);
}

}  // namespace flowtrack::crypto
