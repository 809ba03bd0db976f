// libFuzzer target: JWT verification (HS256, RS256 against a fixed PEM key and a fixed JWKS), JWKS
// parsing, strict base64url and base32. Checks round trips and that refusals never echo the input.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "crypto/jwt.hpp"
#include "crypto/totp.hpp"

namespace {

namespace fc = flowtrack::crypto;

constexpr std::string_view k_hs_key = "fuzz-hs256-key-of-at-least-32-bytes!";
constexpr std::int64_t k_now = 1'800'000'000;

// A throwaway 2048-bit key (its private half signed the seed token, then was deleted).
constexpr std::string_view k_pem = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqkJKtfuDvP4A8K2XbwkE
NdqnxtlgYkFZWkyCjKDrn51tEac7e1HS2yKHDcNho+s9jodrLqN9iCzBpsDx4VTu
+rYKm2+BcwF2q3kVKpXPBT3DfbisBPoReU0MqWXcLUcGTVO0Ga1VVvIU37oLx171
//uUmHS1YByahNzvQvXtTxcg+DdSa1NijbC+tUy6v7+pf5uUbF5OUsblw8oJrEYB
kYX3hwPkU8hUtyBWwRbUcc4lQLcupFSM+N6RFlOmJRxYgQLyKWr0pYD27uZ6BdyZ
jb/90TnNbIzNr+8HvINeOOKjxJzQ5EUV+n0NnM9SB/rOu+YXGzkvhCGZpUoCTxIC
BQIDAQAB
-----END PUBLIC KEY-----
)";
constexpr std::string_view k_jwks = R"({"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"fuzz_a","n":"qkJKtfuDvP4A8K2XbwkENdqnxtlgYkFZWkyCjKDrn51tEac7e1HS2yKHDcNho-s9jodrLqN9iCzBpsDx4VTu-rYKm2-BcwF2q3kVKpXPBT3DfbisBPoReU0MqWXcLUcGTVO0Ga1VVvIU37oLx171__uUmHS1YByahNzvQvXtTxcg-DdSa1NijbC-tUy6v7-pf5uUbF5OUsblw8oJrEYBkYX3hwPkU8hUtyBWwRbUcc4lQLcupFSM-N6RFlOmJRxYgQLyKWr0pYD27uZ6BdyZjb_90TnNbIzNr-8HvINeOOKjxJzQ5EUV-n0NnM9SB_rOu-YXGzkvhCGZpUoCTxICBQ","e":"AQAB"}]})";
// header {"alg":"RS256","kid":"fuzz_a","typ":"JWT"}, valid at k_now.
constexpr std::string_view k_rs_token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZ1enpfYSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyXzJhYmMiLCJzaWQiOiJzZXNzXzEiLCJpYXQiOjE3OTk5OTk5OTAsIm5iZiI6MTc5OTk5OTk5MCwiZXhwIjoxODAwMDAwMDYwfQ.GS1-yZdBeLPNKhja55bDpXknGAjE7uLdNNWrKE8W5O7ReS0PE7vTBoogGNAfOV-DFyNocCLuTIBXreeFUEDZE_Jwg-UOdxaG80tpk-c4Vv-Snl8izFtQ7GMWBw9FEW-qIr0ScUKq4RP0vNJg-okxsHQk29GWxhMG-uOXK45VGDA9sc00Lu-mUfA2_cbozGTNiNgSJdryKKxF_NA27GCQAg_JQOEsl-1wd9zLOHsLHqFVPVtB_6bYpWwsmb0GsLgSp_2FhUdiGlpnEqdl6_ZfGywiZqnQIWOR8A4G8Pk49na2hcb1R1wIbA1yC0xkt1jnlItjpSz88bfWGIETKbpD8A";

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Refusal messages are built from fixed text only, never from the token: however many inputs
// are tried, only a handful of distinct messages may ever appear.
template <class R>
void check_refusal(const R& r) {
  static std::set<std::string> seen;
  if (r.ok()) return;
  check(!r.err().message.empty());
  seen.insert(r.err().message);
  check(seen.size() <= 40);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fc::rsa_keyset pem_keys = *fc::rsa_keyset::from_pem(k_pem);
  static const fc::rsa_keyset jwks_keys = *fc::rsa_keyset::from_jwks(k_jwks);
  static const bool seeds_verify = [] {
    check(fc::jwt_verify_rs256(k_rs_token, pem_keys, k_now).ok());
    check(fc::jwt_verify_rs256(k_rs_token, jwks_keys, k_now).ok());
    return true;
  }();
  (void)seeds_verify;

  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // The input as a token.
  auto hs = fc::jwt_verify_hs256(in, k_hs_key, k_now);
  check_refusal(hs);
  if (hs) check(fc::jwt_verify_hs256(fc::jwt_sign_hs256(*hs, k_hs_key), k_hs_key, k_now).ok());
  auto rs_pem = fc::jwt_verify_rs256(in, pem_keys, k_now);
  check_refusal(rs_pem);
  auto rs_jwks = fc::jwt_verify_rs256(in, jwks_keys, k_now);
  check_refusal(rs_jwks);
  // The same key verifies the same tokens either way, except where only the JWKS needs a kid.
  if (rs_jwks) check(rs_pem.ok());

  // The input as claims: signed, then verified under the same key, it never fails the signature.
  boost::system::error_code ec;
  auto claims = boost::json::parse(in, ec);
  if (!ec && claims.is_object()) {
    auto token = fc::jwt_sign_hs256(claims.as_object(), k_hs_key);
    auto r = fc::jwt_verify_hs256(token, k_hs_key, k_now);
    check(r.ok() || r.err().code == fc::jwt_errc::malformed || r.err().code == fc::jwt_errc::expired ||
          r.err().code == fc::jwt_errc::not_yet_valid);
    // Compared with a parse of the same serialized text: Boost.JSON 1.81 parses some long
    // decimals imprecisely, so a double does not always survive serialize-then-parse.
    if (r) check(*r == boost::json::parse(boost::json::serialize(claims)).as_object());
  }

  // The input as a JWKS document.
  if (auto set = fc::rsa_keyset::from_jwks(in)) {
    check(set->size() >= 1 && set->has_kids() && set->kids().size() == set->size());
    auto r = fc::jwt_verify_rs256(k_rs_token, *set, k_now);
    check(r.ok() || r.err().code == fc::jwt_errc::unknown_key || r.err().code == fc::jwt_errc::bad_signature);
  }

  // The input as encoded text.
  if (auto b = fc::base64url_decode(in)) check(fc::base64url_encode(*b) == in);
  if (auto b = fc::base32_decode(in)) check(fc::base32_decode(fc::base32_encode(*b)) == *b);
  check(fc::base64url_decode(fc::base64url_encode(in)) == std::string(in));
  return 0;
}
