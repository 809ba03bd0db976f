// The password policy for accounts: length in code points, valid UTF-8, not among the 10,000
// most common passwords (embedded at build time), not the email. Pure: no I/O, no hashing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::domain {

/// Fewest code points a password may have.
inline constexpr std::size_t k_password_min_chars = 10;
/// Most bytes a password may have (128 characters of up to 4 bytes each always fit).
inline constexpr std::size_t k_password_max_bytes = 1024;

/// Why a password is refused: `code` for programs, `message` for the person choosing it.
struct password_problem {
  std::string code;  ///< too_short, too_long, invalid_utf8, common, same_as_email
  std::string message;
};

/// The first problem with `password` for the account of `email`, or nullopt when it is
/// acceptable. Checked in this order: too_long (more than 1024 bytes), invalid_utf8, too_short
/// (fewer than 10 code points), same_as_email (the email or its local part, ignoring case),
/// common (among the 10,000 most common passwords, ignoring case). No composition rules; the
/// password is never changed or truncated.
std::optional<password_problem> check_password(std::string_view password, std::string_view email);

/// Whether `password`, lower-cased (ASCII), is among the 10,000 most common passwords
/// (domain/data/common-passwords.txt, compiled in).
bool is_common_password(std::string_view password);

/// How many distinct lower-cased entries the compiled-in list holds.
std::size_t common_password_count();

}  // namespace flowtrack::domain
