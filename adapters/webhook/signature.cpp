// Standard Webhooks signatures with OpenSSL's HMAC-SHA256 and base64.
#include "adapters/webhook/signature.hpp"

#include <cctype>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace flowtrack::webhook {

result<std::string> reveal_secret(const crypto::keyring& keys, std::string_view stored, std::string_view context) {
  auto opened = keys.open(stored, context);
  if (opened) return std::move(*opened);
  const auto& e = opened.err();
  bool node_lacks_key = e.code == crypto::box_errc::no_key || e.code == crypto::box_errc::unknown_key;
  return make_error(node_lacks_key ? error_code::unavailable : error_code::invalid,
                    "the endpoint's secret cannot be used: " + e.message, node_lacks_key ? "encryption_key" : "secret_key");
}

std::optional<std::string> signing_key(std::string_view secret) {
  constexpr std::string_view prefix = "whsec_";
  if (secret.substr(0, prefix.size()) == prefix) return base64_decode(secret.substr(prefix.size()));
  return std::string(secret);
}

std::string sign(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), md, &len);
  return "v1," + base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string sign_all(const std::vector<std::string>& keys, std::string_view id, std::int64_t timestamp,
                     std::string_view body) {
  std::string out;
  for (const auto& key : keys) {
    if (!out.empty()) out += ' ';
    out += sign(key, id, timestamp, body);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  for (char c : text)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) return std::nullopt;
  if (text.size() % 4 == 1) return std::nullopt;
  std::string padded(text);
  while (padded.size() % 4 != 0) padded += '=';
  std::string out(3 * padded.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(padded.data()), static_cast<int>(padded.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  std::size_t pad = padded.size() - text.size();
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

}  // namespace flowtrack::webhook
