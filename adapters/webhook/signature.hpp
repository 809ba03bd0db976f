// Standard Webhooks signing (https://www.standardwebhooks.com): the endpoint's stored secret
// opened, its key, and "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>". Pure; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret_box.hpp"
#include "runtime/error.hpp"

namespace flowtrack::webhook {

/// A secret as stored in webhook_endpoints.secret_key or auth_header_value (sealed by
/// crypto::keyring, bound to `context`: storage::secret_context(column, endpoint id)), opened.
/// The one place delivery code decrypts. Errors name the column and the key id, never a value:
/// no key configured or a key id the ring lacks -> `unavailable` (another node or a restart with
/// the key can deliver); a value that is not sealed, altered or copied from another row ->
/// `invalid`.
result<std::string> reveal_secret(const crypto::keyring& keys, std::string_view stored, std::string_view context);

/// The HMAC key for a secret: "whsec_<base64>" is base64-decoded (Standard Webhooks); any
/// other secret is used as its raw bytes. Nullopt when a "whsec_" secret is not valid base64.
std::optional<std::string> signing_key(std::string_view secret);

/// The `webhook-signature` header value: "v1," + base64 HMAC-SHA256(key, "id.timestamp.body").
std::string sign(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body);

/// The `webhook-signature` header value for every key, space-separated in the keys' order
/// ("v1,<a> v1,<b>"): during a secret rotation the new and the previous secret both sign, so a
/// receiver holding either verifies. Empty when `keys` is empty.
std::string sign_all(const std::vector<std::string>& keys, std::string_view id, std::int64_t timestamp,
                     std::string_view body);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

/// Standard base64 (padding optional); nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace flowtrack::webhook
