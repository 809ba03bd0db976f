// base64url (RFC 4648 section 5) without padding: tokens, sealed values, JWT segments. No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::crypto {

/// base64url without padding.
std::string base64url_encode(std::string_view bytes);

/// Strict base64url: the URL-safe alphabet only, no padding, no whitespace, and unused trailing
/// bits zero (each byte string has exactly one spelling). Nullopt for anything else.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace flowtrack::crypto
