// PKCE and random tokens over OpenSSL.
#include "crypto/pkce.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "crypto/base64url.hpp"

namespace flowtrack::crypto {

std::optional<std::string> random_url_token(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (bytes > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) return std::nullopt;
  return base64url_encode(raw);
}

std::string pkce_s256_challenge(std::string_view code_verifier) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(code_verifier.data()), code_verifier.size(), md);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

bool valid_code_verifier(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  for (unsigned char c : v)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~'))
      return false;
  return true;
}

}  // namespace flowtrack::crypto
