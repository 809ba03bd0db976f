#include "crypto/base64url.hpp"

#include <array>
#include <cstddef>

namespace flowtrack::crypto {
namespace {

constexpr std::string_view k_b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<signed char, 256> b64url_table() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  for (std::size_t i = 0; i < k_b64url.size(); ++i) t[static_cast<unsigned char>(k_b64url[i])] = static_cast<signed char>(i);
  return t;
}
constexpr auto k_b64url_value = b64url_table();

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  for (std::size_t i = 0; i < n; i += 3) {
    unsigned v = unsigned(p[i]) << 16;
    if (i + 1 < n) v |= unsigned(p[i + 1]) << 8;
    if (i + 2 < n) v |= p[i + 2];
    out += k_b64url[(v >> 18) & 63];
    out += k_b64url[(v >> 12) & 63];
    if (i + 1 < n) out += k_b64url[(v >> 6) & 63];
    if (i + 2 < n) out += k_b64url[v & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = k_b64url_value[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = ((acc << 6) | unsigned(v)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace flowtrack::crypto
