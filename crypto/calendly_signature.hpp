// Calendly's webhook signature: the `Calendly-Webhook-Signature` header (`t=<unix seconds>,v1=<hex>`),
// HMAC-SHA256 of "<t>.<raw body>" under the subscription's signing key. The scheme is Stripe's
// byte for byte, so this is a thin, named wrapper over crypto/stripe_signature; no I/O, time passed in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/stripe_signature.hpp"

namespace flowtrack::crypto {

/// The header Calendly signs with.
inline constexpr std::string_view k_calendly_signature_header = "Calendly-Webhook-Signature";

/// How far a signature's timestamp may lie from now, either way. Calendly's docs suggest 3
/// minutes; 5 matches the Stripe route, so one clock-skew allowance covers both.
inline constexpr std::int64_t k_calendly_tolerance_s = 300;

/// What a check found (the same values as Stripe's: ok, malformed, no_signature, mismatch, stale).
using calendly_signature_check = stripe_signature_check;

/// Checks `header` against the raw body under `signing_key` (see verify_stripe_signature: the
/// HMAC is checked before the time; an empty key never matches).
inline calendly_signature_check verify_calendly_signature(std::string_view header, std::string_view payload,
                                                          std::string_view signing_key, std::int64_t now_s,
                                                          std::int64_t tolerance_s = k_calendly_tolerance_s) {
  return verify_stripe_signature(header, payload, signing_key, now_s, tolerance_s);
}

/// A whole header as Calendly sends it, `t=<timestamp>,v1=<hex>`: for tests and tools that act as Calendly.
inline std::string calendly_signature_header(std::string_view signing_key, std::int64_t timestamp, std::string_view payload) {
  return stripe_signature_header(signing_key, timestamp, payload);
}

}  // namespace flowtrack::crypto
