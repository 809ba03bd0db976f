// OAuth 2.0 authorization-code values: random URL-safe tokens (state, PKCE code_verifier) and the
// PKCE S256 code_challenge (RFC 7636). OpenSSL only; no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::crypto {

/// base64url (no padding) of `bytes` random bytes from RAND_bytes; nullopt when the system has no
/// randomness to give. 32 bytes give a 43-character PKCE code_verifier (RFC 7636 section 4.1).
std::optional<std::string> random_url_token(std::size_t bytes = 32);

/// The S256 code_challenge of a code_verifier: base64url(SHA-256(ASCII(verifier))), no padding.
std::string pkce_s256_challenge(std::string_view code_verifier);

/// Whether `v` is a code_verifier RFC 7636 allows: 43 to 128 characters of [A-Za-z0-9-._~].
bool valid_code_verifier(std::string_view v);

}  // namespace flowtrack::crypto
