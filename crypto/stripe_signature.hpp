// Stripe's webhook signature: the `Stripe-Signature` header (`t=<unix seconds>,v1=<hex>,...`),
// HMAC-SHA256 of "<t>.<raw body>" under the endpoint's signing secret (`whsec_...`, used as is),
// compared in constant time, within a tolerance around now. OpenSSL only; no I/O, time passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowtrack::crypto {

/// How far a signature's timestamp may lie from now, either way (Stripe's libraries use 300 s).
inline constexpr std::int64_t k_stripe_tolerance_s = 300;

/// The parts of a Stripe-Signature header that matter: its one timestamp and every `v1`
/// signature (Stripe sends several while a secret is being rolled). Other schemes (`v0`) are
/// left out.
struct stripe_signature_parts {
  std::int64_t timestamp = 0;
  std::vector<std::string> v1;  ///< as sent (hex expected; anything else never matches)
};

/// Reads `t=...,v1=...[,v1=...][,v0=...]` (blanks around items allowed). Nullopt when an item is
/// not `key=value`, the timestamp is missing, repeated or not 1 to 12 digits, or there are more
/// than 32 items.
std::optional<stripe_signature_parts> parse_stripe_signature(std::string_view header);

/// What a check found.
enum class stripe_signature_check {
  ok,
  malformed,     ///< the header does not parse (see parse_stripe_signature)
  no_signature,  ///< no v1 entry
  mismatch,      ///< no v1 entry is the HMAC of this payload under this secret
  stale,         ///< a v1 entry matches, but the timestamp is more than the tolerance from now
};

/// A stable lower-case name ("ok", "malformed", ...), for logs and errors.
std::string_view to_string(stripe_signature_check c);

/// Checks `header` against the raw request body. The signature is checked before the time, so a
/// forged header is `mismatch` whatever its timestamp, and a genuine one replayed late is
/// `stale`. An empty secret never matches.
stripe_signature_check verify_stripe_signature(std::string_view header, std::string_view payload, std::string_view secret,
                                               std::int64_t now_s, std::int64_t tolerance_s = k_stripe_tolerance_s);

/// HMAC-SHA256 of "<timestamp>.<payload>" under `secret`, as 64 lower-case hex characters.
std::string stripe_signature_hex(std::string_view secret, std::int64_t timestamp, std::string_view payload);

/// A whole header as Stripe sends it, `t=<timestamp>,v1=<hex>`: for tests and tools that act as
/// Stripe.
std::string stripe_signature_header(std::string_view secret, std::int64_t timestamp, std::string_view payload);

}  // namespace flowtrack::crypto
