// Stripe-Signature parsing and verification. Never logs; never returns key material.
#include "crypto/stripe_signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace flowtrack::crypto {
namespace {

constexpr std::size_t k_max_items = 32;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 1 to 12 ASCII digits (Stripe's timestamps are 10; 12 keeps the value far from overflow).
std::optional<std::int64_t> parse_seconds(std::string_view s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Raw HMAC-SHA256 bytes (32) of "<t>.<payload>".
std::string hmac_of(std::string_view secret, std::int64_t timestamp, std::string_view payload) {
  std::string message = std::to_string(timestamp) + ".";
  message.append(payload);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), md, &len) == nullptr)
    return {};
  std::string out(reinterpret_cast<const char*>(md), len);
  OPENSSL_cleanse(md, sizeof md);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 64 hex characters as 32 bytes; nullopt otherwise.
std::optional<std::string> hex_bytes(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::string out(32, '\0');
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

std::optional<stripe_signature_parts> parse_stripe_signature(std::string_view header) {
  stripe_signature_parts out;
  bool have_t = false;
  std::size_t items = 0;
  while (true) {
    auto comma = header.find(',');
    std::string_view item = trim(header.substr(0, comma));
    if (++items > k_max_items) return std::nullopt;
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "t") {
      auto t = parse_seconds(value);
      if (have_t || !t) return std::nullopt;
      out.timestamp = *t;
      have_t = true;
    } else if (key == "v1") {
      out.v1.emplace_back(value);
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  if (!have_t) return std::nullopt;
  return out;
}

std::string_view to_string(stripe_signature_check c) {
  switch (c) {
    case stripe_signature_check::ok: return "ok";
    case stripe_signature_check::malformed: return "malformed";
    case stripe_signature_check::no_signature: return "no_signature";
    case stripe_signature_check::mismatch: return "mismatch";
    case stripe_signature_check::stale: return "stale";
  }
  return "malformed";
}

stripe_signature_check verify_stripe_signature(std::string_view header, std::string_view payload, std::string_view secret,
                                               std::int64_t now_s, std::int64_t tolerance_s) {
  auto parts = parse_stripe_signature(header);
  if (!parts) return stripe_signature_check::malformed;
  if (parts->v1.empty()) return stripe_signature_check::no_signature;
  if (secret.empty()) return stripe_signature_check::mismatch;
  std::string expected = hmac_of(secret, parts->timestamp, payload);
  if (expected.size() != 32) return stripe_signature_check::mismatch;
  // Every entry is compared (no early exit), each in constant time over the bytes.
  bool matched = false;
  for (const auto& v : parts->v1) {
    auto got = hex_bytes(v);
    if (got && CRYPTO_memcmp(got->data(), expected.data(), expected.size()) == 0) matched = true;
  }
  OPENSSL_cleanse(expected.data(), expected.size());
  if (!matched) return stripe_signature_check::mismatch;
  std::int64_t age = now_s - parts->timestamp;
  if (age > tolerance_s || age < -tolerance_s) return stripe_signature_check::stale;
  return stripe_signature_check::ok;
}

std::string stripe_signature_hex(std::string_view secret, std::int64_t timestamp, std::string_view payload) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string raw = hmac_of(secret, timestamp, payload);
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char b : raw) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  OPENSSL_cleanse(raw.data(), raw.size());
  return out;
}

std::string stripe_signature_header(std::string_view secret, std::int64_t timestamp, std::string_view payload) {
  return "t=" + std::to_string(timestamp) + ",v1=" + stripe_signature_hex(secret, timestamp, payload);
}

}  // namespace flowtrack::crypto
