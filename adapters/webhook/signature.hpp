// Standard Webhooks signing (https://www.standardwebhooks.com): the key taken from an
// endpoint's stored secret, and "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>". Pure; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::webhook {

/// The secret as stored in webhook_endpoints.secret_key, made usable. Secrets are stored as
/// they are today; encryption at rest comes later, and then this is the one place that
/// decrypts. Every reader of secret_key or auth_header_value goes through it.
std::string reveal_secret(std::string_view stored);

/// The HMAC key for a secret: "whsec_<base64>" is base64-decoded (Standard Webhooks); any
/// other secret is used as its raw bytes. Nullopt when a "whsec_" secret is not valid base64.
std::optional<std::string> signing_key(std::string_view secret);

/// The `webhook-signature` header value: "v1," + base64 HMAC-SHA256(key, "id.timestamp.body").
std::string sign(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

/// Standard base64 (padding optional); nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace flowtrack::webhook
