// JSON Web Tokens in compact JWS form: HS256 signing and verification, RS256 verification against
// a PEM key or a JWKS document (Clerk session tokens). OpenSSL and Boost.JSON only; no I/O.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "crypto/base64url.hpp"

#include <boost/json/object.hpp>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace flowtrack::crypto {

/// Why a token was refused.
enum class jwt_errc {
  malformed,      ///< not three strict base64url segments of JSON objects, too large, or a claim missing or mistyped
  bad_algorithm,  ///< the header's `alg` is not the one the verifier pins
  bad_signature,  ///< the signature does not verify under the key
  expired,        ///< now >= exp + leeway
  not_yet_valid,  ///< nbf or iat lies beyond now + leeway
  unknown_key,    ///< the header's `kid` names no key of the set (or names none and the set needs one)
  bad_key,        ///< the verifier's own key is unusable (an HS256 key shorter than 32 bytes)
};

/// A refusal as a value. The message never holds the token, a part of it, or key material.
struct jwt_error {
  jwt_errc code = jwt_errc::malformed;
  std::string message;
};

/// A value or a jwt_error.
template <class T>
class [[nodiscard]] jwt_result {
 public:
  jwt_result(T value) : v_(std::move(value)) {}
  jwt_result(jwt_error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& operator*() { assert(ok()); return std::get<0>(v_); }
  const T& operator*() const { assert(ok()); return std::get<0>(v_); }
  T* operator->() { return &**this; }
  const T* operator->() const { return &**this; }
  const jwt_error& err() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, jwt_error> v_;
};

/// The largest token the verifiers look at; anything longer is `malformed` before any decoding.
inline constexpr std::size_t k_jwt_max_size = 8192;

/// The shortest HS256 key accepted (RFC 7518 3.2: at least the hash's 256 bits).
inline constexpr std::size_t k_hs256_min_key = 32;


/// A compact JWS: base64url({"alg":"HS256","typ":"JWT"}) . base64url(claims) . base64url(HMAC-SHA256).
/// The claims are serialized as given (add `exp`: the verifier requires it). Empty when `key` is
/// shorter than k_hs256_min_key: no token is made under a key the verifier would refuse.
std::string jwt_sign_hs256(const boost::json::object& claims, std::string_view key);

/// The claims of an HS256 token signed with `key`. The algorithm is pinned: a header whose `alg`
/// is not exactly "HS256" is `bad_algorithm` (so "none" and RS256 tokens are refused); the MAC is
/// compared in constant time; `exp` is required (a number) and `now_s >= exp + leeway_s` is
/// `expired`; `nbf` or `iat` later than `now_s + leeway_s` is `not_yet_valid`. A header carrying
/// `crit` is `malformed` (no extension is understood). A negative leeway counts as 0.
jwt_result<boost::json::object> jwt_verify_hs256(std::string_view token, std::string_view key, std::int64_t now_s,
                                                 std::int64_t leeway_s = 0);

/// RSA public keys that RS256 tokens are verified against: one kid-less key from a PEM, or the
/// RSA signing keys of a JWKS document, each with its `kid`. Copies share the keys (immutable,
/// safe to use from several threads at once).
class rsa_keyset {
 public:
  /// One SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----") RSA key of 2048 to 8192 bits.
  /// Nullopt for anything else (another key type, a private key, a second PEM block).
  static std::optional<rsa_keyset> from_pem(std::string_view pem);

  /// The keys of a JWKS document ({"keys":[{"kty":"RSA","kid":..,"n":..,"e":..}, ...]}). Keys of
  /// another type, or whose `use` is not "sig" or `alg` not "RS256", are skipped. Nullopt when the
  /// document is not such JSON, an RSA key lacks a string kid or strict base64url n/e, a modulus
  /// is outside 2048..8192 bits, e is even, below 3 or longer than 8 bytes, two keys share a kid,
  /// or no usable key remains.
  static std::optional<rsa_keyset> from_jwks(std::string_view json);

  /// How many keys the set holds (at least one).
  std::size_t size() const { return keys_.size(); }
  /// Whether the keys carry ids (a JWKS set): then a token must name one in its header's `kid`.
  bool has_kids() const { return !keys_.empty() && !keys_.front().kid.empty(); }
  /// The key ids, in document order; empty for a PEM set.
  std::vector<std::string> kids() const;

 private:
  friend jwt_result<boost::json::object> jwt_verify_rs256(std::string_view, const rsa_keyset&, std::int64_t,
                                                          std::int64_t);
  struct key_entry {
    std::string kid;  // empty for a PEM key
    std::shared_ptr<evp_pkey_st> pkey;
  };
  rsa_keyset() = default;
  std::vector<key_entry> keys_;
};

/// The claims of an RS256 token (RSASSA-PKCS1-v1_5 with SHA-256). The algorithm is pinned to
/// "RS256" (`bad_algorithm` otherwise, so an HS256 token MACed with the public key's text is
/// refused). With a JWKS set the header's `kid` picks the key (`unknown_key` when it names none of
/// them or is missing); a PEM set's single key is used whatever the kid. Claim checks as
/// jwt_verify_hs256.
jwt_result<boost::json::object> jwt_verify_rs256(std::string_view token, const rsa_keyset& keys, std::int64_t now_s,
                                                 std::int64_t leeway_s = 5);

}  // namespace flowtrack::crypto
