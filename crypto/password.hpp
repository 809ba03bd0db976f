// Password hashing for accounts: Argon2id (libargon2) in the PHC string form, verification that
// refuses malformed or hostile stored strings, and the rehash decision. No I/O, no accounts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flowtrack::crypto {

/// Argon2id cost parameters. The defaults are what new hashes use (64 MiB, 3 passes, 4 lanes).
struct argon2_params {
  std::uint32_t memory_kib = 65536;
  std::uint32_t iterations = 3;
  std::uint32_t parallelism = 4;
};

/// Bounds a stored hash's parameters must respect before it is verified, so that a hostile
/// stored string cannot make a verification take gigabytes or minutes.
inline constexpr std::uint32_t k_max_memory_kib = 1024 * 1024;  // 1 GiB
inline constexpr std::uint32_t k_max_iterations = 100;
inline constexpr std::uint32_t k_max_parallelism = 64;

/// Hashes `password` with Argon2id under `p`, a fresh 16-byte salt (OpenSSL RAND_bytes) and a
/// 32-byte output: `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>` (unpadded standard base64,
/// the form libargon2 and the `argon2` CLI write). Throws std::runtime_error only when the
/// random source or libargon2 fails (e.g. parameters libargon2 refuses); the message never
/// holds the password.
std::string hash_password(std::string_view password, const argon2_params& p = {});

/// Whether `password` matches the stored `encoded` hash (compared in constant time by
/// libargon2). False for a wrong password and for anything that is not an Argon2id PHC string
/// within the bounds above; never throws.
bool verify_password(std::string_view encoded, std::string_view password) noexcept;

/// Whether `encoded` should be replaced by a new hash_password(…, p) at the next successful
/// login: it is not Argon2id v=19, its m, t or p differ from `p`, its salt is not 16 bytes or
/// its hash not 32 bytes, or it cannot be read at all.
bool needs_rehash(std::string_view encoded, const argon2_params& p = {}) noexcept;

/// A hash of a random password under the default parameters, made once (thread-safe) per
/// process. Login verifies against it when no account has the email given, so the answer
/// takes as long as for a known email with a wrong password.
const std::string& dummy_password_hash();

}  // namespace flowtrack::crypto
