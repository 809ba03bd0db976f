// Time-based one-time passwords (RFC 6238, HMAC-SHA1), RFC 4648 base32, otpauth:// URIs and
// recovery codes for two-factor sign-in. OpenSSL only; no I/O, no clock (callers pass the time).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowtrack::crypto {

/// RFC 4648 base32 (A-Z, 2-7) with `=` padding to a multiple of 8 characters.
std::string base32_encode(std::string_view bytes);

/// RFC 4648 base32, as people type it: either case, spaces anywhere, padding optional (when
/// present it must complete the last group of 8). Nullopt for other characters, an impossible
/// length, or unused trailing bits that are not zero.
std::optional<std::string> base32_decode(std::string_view text);

/// The RFC 6238 code for `unix_s`: HOTP (RFC 4226 dynamic truncation of HMAC-SHA1) of the counter
/// floor(unix_s / step_s), `digits` decimal digits with leading zeros. Empty when digits is not
/// 1..9 or step_s is not positive.
std::string totp_code(std::string_view secret_bytes, std::int64_t unix_s, int digits = 6, int step_s = 30);

/// The time-step counter whose 6-digit, 30-second code is `code`, searching the steps within
/// `window` (clamped to 0..10) of unix_s's step; the latest one when several match. Store it and
/// refuse a later sign-in whose counter is not greater: that stops a replay of the same code.
/// Every candidate is compared in constant time. Nullopt for no match, or a code that is not
/// exactly 6 ASCII digits.
std::optional<std::int64_t> totp_match(std::string_view secret_bytes, std::string_view code, std::int64_t unix_s,
                                       int window = 1);

/// A new TOTP secret: 20 random bytes (RFC 4226's recommended 160 bits) from RAND_bytes. Empty
/// only when the system has no random bytes to give.
std::string totp_secret();

/// `otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30`
/// for authenticator apps (a QR code of it); issuer and account are percent-encoded (UTF-8 bytes,
/// everything but A-Z a-z 0-9 - . _ ~), the secret is base32 without padding.
std::string otpauth_uri(std::string_view issuer, std::string_view account, std::string_view secret_bytes);

/// The characters of recovery codes: lower-case letters and digits without 0, 1, i, l and o.
inline constexpr std::string_view k_recovery_alphabet = "23456789abcdefghjkmnpqrstuvwxyz";

/// `n` distinct recovery codes, each 10 characters of k_recovery_alphabet drawn uniformly from
/// RAND_bytes (~49 bits), shown as "xxxxx-xxxxx". Empty for n <= 0, or when the system has no
/// random bytes to give.
std::vector<std::string> recovery_codes(int n = 10);

}  // namespace flowtrack::crypto
