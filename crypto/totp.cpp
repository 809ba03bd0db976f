// TOTP with OpenSSL's HMAC-SHA1, base32, otpauth URIs and recovery codes from RAND_bytes.
#include "crypto/totp.hpp"

#include <algorithm>
#include <array>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace flowtrack::crypto {
namespace {

constexpr std::string_view k_base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr int k_match_digits = 6, k_match_step = 30, k_max_window = 10;

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

/// floor(a / b) for b > 0, also for negative a.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// RFC 4226 HOTP value before the decimal reduction (31 bits); nullopt if HMAC fails.
std::optional<std::uint32_t> hotp_raw(std::string_view secret, std::int64_t counter) {
  std::array<unsigned char, 8> msg{};
  auto c = static_cast<std::uint64_t>(counter);
  for (int i = 7; i >= 0; --i, c >>= 8) msg[static_cast<std::size_t>(i)] = static_cast<unsigned char>(c & 0xff);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(), md, &len) == nullptr ||
      len < 20)
    return std::nullopt;
  unsigned offset = md[len - 1] & 0x0f;
  std::uint32_t v = (std::uint32_t(md[offset] & 0x7f) << 24) | (std::uint32_t(md[offset + 1]) << 16) |
                    (std::uint32_t(md[offset + 2]) << 8) | std::uint32_t(md[offset + 3]);
  OPENSSL_cleanse(md, sizeof md);
  return v;
}

/// Empty if HMAC fails, so that a failure never yields a code that could match.
std::string hotp_code(std::string_view secret, std::int64_t counter, int digits) {
  auto raw = hotp_raw(secret, counter);
  if (!raw) return {};
  std::uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  std::uint32_t v = *raw % mod;
  std::string out(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v /= 10) out[static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
  return out;
}

void percent_encode(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

}  // namespace

std::string base32_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 4) / 5 * 8);
  std::uint64_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = ((acc << 8) | c) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += k_base32[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += k_base32[(acc << (5 - bits)) & 31];
  while (out.size() % 8 != 0) out += '=';
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string chars;
  chars.reserve(text.size());
  std::size_t padding = 0;
  for (char c : text) {
    if (c == ' ') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0 || base32_value(c) < 0) return std::nullopt;  // data after padding, or not base32
    chars += c;
  }
  // 8 characters carry 5 bytes; a last group of 2, 4, 5 or 7 characters carries 1 to 4.
  std::size_t rest = chars.size() % 8;
  if (rest == 1 || rest == 3 || rest == 6) return std::nullopt;
  if (padding > 0 && (rest == 0 || padding != 8 - rest)) return std::nullopt;
  std::string out;
  out.reserve(chars.size() * 5 / 8);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : chars) {
    acc = ((acc << 5) | unsigned(base32_value(c))) & 0x1fff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string totp_code(std::string_view secret_bytes, std::int64_t unix_s, int digits, int step_s) {
  if (digits < 1 || digits > 9 || step_s <= 0) return {};
  return hotp_code(secret_bytes, floor_div(unix_s, step_s), digits);
}

std::optional<std::int64_t> totp_match(std::string_view secret_bytes, std::string_view code, std::int64_t unix_s,
                                       int window) {
  if (code.size() != static_cast<std::size_t>(k_match_digits) ||
      !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  window = std::clamp(window, 0, k_max_window);
  std::int64_t now = floor_div(unix_s, k_match_step);
  std::optional<std::int64_t> matched;
  // Every candidate is computed and compared, so the time taken says nothing about which matched.
  for (std::int64_t c = now - window; c <= now + window; ++c) {
    std::string want = hotp_code(secret_bytes, c, k_match_digits);
    if (want.size() == code.size() && CRYPTO_memcmp(want.data(), code.data(), want.size()) == 0) matched = c;
  }
  return matched;
}

std::string totp_secret() {
  std::string s(20, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(s.size())) != 1) return {};
  return s;
}

std::string otpauth_uri(std::string_view issuer, std::string_view account, std::string_view secret_bytes) {
  std::string secret = base32_encode(secret_bytes);
  secret.erase(secret.find_last_not_of('=') + 1);
  std::string out = "otpauth://totp/";
  percent_encode(out, issuer);
  out += ':';
  percent_encode(out, account);
  out += "?secret=" + secret + "&issuer=";
  percent_encode(out, issuer);
  out += "&algorithm=SHA1&digits=6&period=30";
  return out;
}

std::vector<std::string> recovery_codes(int n) {
  std::vector<std::string> codes;
  if (n <= 0) return codes;
  constexpr std::size_t length = 10, alphabet = k_recovery_alphabet.size();
  // Bytes at or above the largest multiple of the alphabet's size are dropped, so every
  // character is equally likely.
  constexpr unsigned limit = 256 / alphabet * alphabet;
  std::array<unsigned char, 64> pool{};
  std::size_t used = pool.size();
  while (codes.size() < static_cast<std::size_t>(n)) {
    std::string code;
    while (code.size() < length + 1) {
      if (code.size() == 5) {
        code += '-';
        continue;
      }
      if (used == pool.size()) {
        if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) return {};
        used = 0;
      }
      unsigned char b = pool[used++];
      if (b < limit) code += k_recovery_alphabet[b % alphabet];
    }
    if (std::find(codes.begin(), codes.end(), code) == codes.end()) codes.push_back(std::move(code));
  }
  OPENSSL_cleanse(pool.data(), pool.size());
  return codes;
}

}  // namespace flowtrack::crypto
