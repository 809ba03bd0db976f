// Argon2id through libargon2's argon2_hash/argon2id_verify; the PHC string is read here first so
// that only well-formed strings with bounded parameters ever reach the library.
#include "crypto/password.hpp"

#include <array>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <argon2.h>
#include <openssl/rand.h>

namespace flowtrack::crypto {
namespace {

constexpr std::size_t k_salt_bytes = 16, k_hash_bytes = 32;
// Longer than any string we write (~100 characters) with room for other salt and hash lengths;
// anything longer is not ours and is refused before it is copied.
constexpr std::size_t k_max_encoded = 512;
constexpr std::size_t k_max_field_bytes = 64;  // salt or hash, decoded
constexpr std::string_view k_b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A PHC string taken apart, without decoding the salt and hash.
struct phc {
  std::string_view type;  // "argon2id", "argon2i", ...
  std::uint32_t version = 0;
  std::uint32_t m = 0, t = 0, p = 0;
  std::size_t salt_bytes = 0, hash_bytes = 0;
};

/// Removes and returns the text up to the next '$' (or the end) of `s`.
std::string_view take_field(std::string_view& s) {
  auto pos = s.find('$');
  auto field = s.substr(0, pos);
  s = pos == std::string_view::npos ? std::string_view() : s.substr(pos + 1);
  return field;
}

/// `name=<decimal>` with no sign, no leading zero and no overflow of 32 bits.
std::optional<std::uint32_t> named_number(std::string_view field, std::string_view name) {
  if (field.size() <= name.size() + 1 || field.substr(0, name.size()) != name || field[name.size()] != '=')
    return std::nullopt;
  auto digits = field.substr(name.size() + 1);
  if (digits.size() > 10 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + std::uint64_t(c - '0');
  }
  if (v > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

/// Decoded length of unpadded standard base64 in canonical form (unused bits zero); nullopt
/// for anything else.
std::optional<std::size_t> base64_length(std::string_view s) {
  if (s.empty() || s.size() % 4 == 1) return std::nullopt;
  for (char c : s)
    if (k_b64.find(c) == std::string_view::npos) return std::nullopt;
  auto last = k_b64.find(s.back());
  if (s.size() % 4 == 2 && (last & 0x0f) != 0) return std::nullopt;
  if (s.size() % 4 == 3 && (last & 0x03) != 0) return std::nullopt;
  return s.size() * 3 / 4;
}

/// `$<type>$v=<n>$m=<n>,t=<n>,p=<n>$<salt>$<hash>`, as libargon2 writes it (the version is
/// required: without it libargon2 would assume the old 1.0 format).
std::optional<phc> parse(std::string_view s) {
  if (s.size() > k_max_encoded || s.empty() || s[0] != '$') return std::nullopt;
  s.remove_prefix(1);
  phc out;
  out.type = take_field(s);
  if (out.type.empty()) return std::nullopt;
  auto v = named_number(take_field(s), "v");
  if (!v) return std::nullopt;
  out.version = *v;
  auto params = take_field(s);
  auto c1 = params.find(','), c2 = params.find(',', c1 == std::string_view::npos ? c1 : c1 + 1);
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) return std::nullopt;
  auto m = named_number(params.substr(0, c1), "m");
  auto t = named_number(params.substr(c1 + 1, c2 - c1 - 1), "t");
  auto p = named_number(params.substr(c2 + 1), "p");
  if (!m || !t || !p) return std::nullopt;
  out.m = *m;
  out.t = *t;
  out.p = *p;
  auto salt = base64_length(take_field(s));
  if (s.find('$') != std::string_view::npos) return std::nullopt;  // nothing after the hash
  auto hash = base64_length(s);
  if (!salt || !hash) return std::nullopt;
  out.salt_bytes = *salt;
  out.hash_bytes = *hash;
  return out;
}

/// Whether libargon2 may be asked to verify against `h`: Argon2id v1.3, parameters within the
/// library's minimums and our maximums, salt and hash of sane lengths.
bool verifiable(const phc& h) {
  return h.type == "argon2id" && h.version == ARGON2_VERSION_13 && h.t >= 1 && h.t <= k_max_iterations &&
         h.p >= 1 && h.p <= k_max_parallelism && h.m >= 8 * h.p && h.m <= k_max_memory_kib &&
         h.salt_bytes >= ARGON2_MIN_SALT_LENGTH && h.salt_bytes <= k_max_field_bytes &&
         h.hash_bytes >= ARGON2_MIN_OUTLEN && h.hash_bytes <= k_max_field_bytes;
}

}  // namespace

std::string hash_password(std::string_view password, const argon2_params& p) {
  // A string we would refuse to verify is a programming error, not a hash to store.
  if (p.memory_kib > k_max_memory_kib || p.iterations > k_max_iterations || p.parallelism > k_max_parallelism)
    throw std::runtime_error("argon2: parameters above the verification bounds (m <= 1 GiB, t <= 100, p <= 64)");
  std::array<unsigned char, k_salt_bytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1)
    throw std::runtime_error("argon2: the random source failed to produce a salt");
  std::string encoded(argon2_encodedlen(p.iterations, p.memory_kib, p.parallelism, k_salt_bytes, k_hash_bytes, Argon2_id),
                      '\0');
  int rc = argon2_hash(p.iterations, p.memory_kib, p.parallelism, password.data(), password.size(), salt.data(),
                       salt.size(), nullptr, k_hash_bytes, encoded.data(), encoded.size(), Argon2_id,
                       ARGON2_VERSION_13);
  if (rc != ARGON2_OK) throw std::runtime_error(std::string("argon2: ") + argon2_error_message(rc));
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool verify_password(std::string_view encoded, std::string_view password) noexcept {
  auto h = parse(encoded);
  if (!h || !verifiable(*h)) return false;
  try {
    std::string text(encoded);  // libargon2 wants it NUL-terminated; parse() refused any NUL
    return argon2id_verify(text.c_str(), password.data(), password.size()) == ARGON2_OK;
  } catch (...) {
    return false;
  }
}

bool needs_rehash(std::string_view encoded, const argon2_params& p) noexcept {
  auto h = parse(encoded);
  return !h || h->type != "argon2id" || h->version != ARGON2_VERSION_13 || h->m != p.memory_kib ||
         h->t != p.iterations || h->p != p.parallelism || h->salt_bytes != k_salt_bytes ||
         h->hash_bytes != k_hash_bytes;
}

const std::string& dummy_password_hash() {
  static const std::string hash = [] {
    std::array<unsigned char, 32> secret{};
    if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1)
      throw std::runtime_error("argon2: the random source failed to produce the dummy password");
    return hash_password(std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()));
  }();
  return hash;
}

}  // namespace flowtrack::crypto
