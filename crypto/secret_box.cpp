// AES-256-GCM with OpenSSL's EVP interface; key ids from SHA-256; base64url without padding.
#include "crypto/secret_box.hpp"

#include <algorithm>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "crypto/base64url.hpp"

namespace flowtrack::crypto {
namespace {

constexpr std::string_view k_version = "v1";
constexpr std::size_t k_nonce = 12, k_tag = 16, k_id = 8;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string base64url(const unsigned char* p, std::size_t n) {
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(p), n));
}

struct ctx_deleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, ctx_deleter>;

/// A sealed value taken apart (no key needed).
struct parts {
  std::string key_id;
  std::string raw;  // nonce | ciphertext | tag
};

std::optional<parts> split(std::string_view text) {
  // v1.<8 hex>.<base64url>
  if (text.size() < k_version.size() + 1 + k_id + 1 || text.substr(0, k_version.size()) != k_version ||
      text[k_version.size()] != '.' || text[k_version.size() + 1 + k_id] != '.')
    return std::nullopt;
  std::string id(text.substr(k_version.size() + 1, k_id));
  for (char c : id)
    if (hex_value(c) < 0 || (c >= 'A' && c <= 'F')) return std::nullopt;
  auto raw = base64url_decode(text.substr(k_version.size() + 1 + k_id + 1));
  if (!raw || raw->size() < k_nonce + k_tag) return std::nullopt;
  return parts{std::move(id), std::move(*raw)};
}

std::string associated_data(const std::string& key_id, std::string_view context) {
  std::string aad;
  aad.reserve(k_version.size() + key_id.size() + context.size() + 2);
  aad.append(k_version).append(".").append(key_id).append(".").append(context);
  return aad;
}

box_error fail(box_errc code, std::string message, std::string setting = {}) {
  return box_error{code, std::move(message), std::move(setting)};
}

}  // namespace

std::optional<data_key> data_key::from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  data_key k;
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    k.bytes_[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(k.bytes_.data(), k.bytes_.size(), digest);
  static constexpr char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < k_id / 2; ++i) {
    k.id_ += digits[digest[i] >> 4];
    k.id_ += digits[digest[i] & 15];
  }
  return k;
}

data_key::~data_key() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
data_key::data_key(const data_key& o) : bytes_(o.bytes_), id_(o.id_) {}
data_key& data_key::operator=(const data_key& o) {
  bytes_ = o.bytes_;
  id_ = o.id_;
  return *this;
}

box_result<keyring> keyring::from_hex(std::string_view current, const std::vector<std::string>& old) {
  keyring ring;
  constexpr const char* shape = "must be 64 hex characters (32 random bytes, e.g. from `openssl rand -hex 32`)";
  if (!current.empty()) {
    auto k = data_key::from_hex(current);
    if (!k) return fail(box_errc::bad_key, std::string("encryption_key ") + shape, "encryption_key");
    ring.current_ = *k;
    ring.keys_.push_back(*k);
  }
  for (std::size_t i = 0; i < old.size(); ++i) {
    auto k = data_key::from_hex(old[i]);
    if (!k)
      return fail(box_errc::bad_key, "encryption_old_keys: key " + std::to_string(i + 1) + " of " +
                                         std::to_string(old.size()) + " " + shape,
                  "encryption_old_keys");
    if (!ring.find(k->id())) ring.keys_.push_back(*k);
  }
  return ring;
}

const data_key* keyring::find(std::string_view id) const {
  for (const auto& k : keys_)
    if (k.id() == id) return &k;
  return nullptr;
}

box_result<std::string> keyring::seal(std::string_view plaintext, std::string_view context) const {
  if (!current_)
    return fail(box_errc::no_key, "no encryption key is configured: set encryption_key (FLOWTRACK_ENCRYPTION_KEY) "
                                  "to 64 hex characters to store secrets");
  const data_key& key = *current_;
  std::string aad = associated_data(key.id(), context);
  std::string raw(k_nonce + plaintext.size() + k_tag, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (RAND_bytes(out, static_cast<int>(k_nonce)) != 1) return fail(box_errc::internal, "no random bytes for a nonce");
  ctx_ptr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(k_nonce), nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.bytes().data(), out) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_EncryptUpdate(ctx.get(), out + k_nonce, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), out + k_nonce + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(k_tag),
                                out + k_nonce + plaintext.size()) == 1;
  if (!ok) {
    OPENSSL_cleanse(raw.data(), raw.size());
    return fail(box_errc::internal, "AES-256-GCM encryption failed");
  }
  std::string text;
  text.append(k_version).append(".").append(key.id()).append(".").append(base64url(out, raw.size()));
  return text;
}

box_result<std::string> keyring::open(std::string_view sealed, std::string_view context) const {
  auto p = split(sealed);
  if (!p) return fail(box_errc::malformed, "the stored value is not an encrypted secret (v1.<key id>.<data>)");
  if (keys_.empty())
    return fail(box_errc::no_key, "the secret is encrypted under key " + p->key_id +
                                      " and no encryption key is configured: set encryption_key (FLOWTRACK_ENCRYPTION_KEY)");
  const data_key* key = find(p->key_id);
  if (!key)
    return fail(box_errc::unknown_key, "the secret is encrypted under key " + p->key_id +
                                           ", which neither encryption_key nor encryption_old_keys holds");
  std::string aad = associated_data(p->key_id, context);
  const auto* raw = reinterpret_cast<const unsigned char*>(p->raw.data());
  std::size_t n = p->raw.size() - k_nonce - k_tag;
  std::string plain(n, '\0');
  std::array<unsigned char, k_tag> tag{};
  std::copy_n(raw + k_nonce + n, k_tag, tag.begin());
  ctx_ptr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ready = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
               EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(k_nonce), nullptr) == 1 &&
               EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key->bytes().data(), raw) == 1;
  if (!ready) return fail(box_errc::internal, "AES-256-GCM decryption could not start");
  bool ok = EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, raw + k_nonce,
                              static_cast<int>(n)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(k_tag), tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return fail(box_errc::tampered, "the secret under key " + p->key_id +
                                        " does not verify: it was altered, or it belongs to another row or column");
  }
  return plain;
}

bool keyring::sealed_with_current(std::string_view sealed) const {
  auto id = key_id_of(sealed);
  return current_ && id && *id == current_->id();
}

std::optional<std::string> key_id_of(std::string_view text) {
  auto p = split(text);
  if (!p) return std::nullopt;
  return p->key_id;
}

namespace {

// HMAC-SHA256 over purpose, a NUL, the key id, a dot and the payload's base64url.
std::string mac_of(const data_key& k, std::string_view purpose, std::string_view signed_part) {
  std::string msg;
  msg.reserve(purpose.size() + 1 + signed_part.size());
  msg.append(purpose).push_back('\0');
  msg.append(signed_part);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), k.bytes().data(), static_cast<int>(k.bytes().size()), reinterpret_cast<const unsigned char*>(msg.data()),
           msg.size(), md, &len) == nullptr)
    return {};
  return base64url(md, len);
}

}  // namespace

box_result<std::string> keyring::sign(std::string_view payload, std::string_view purpose) const {
  if (!current_) return box_error{box_errc::no_key, "no encryption key is configured", "encryption_key"};
  std::string part = current_->id() + "." + base64url(reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
  auto mac = mac_of(*current_, purpose, part);
  if (mac.empty()) return box_error{box_errc::internal, "HMAC failed", ""};
  return part + "." + mac;
}

std::optional<std::string> keyring::verify(std::string_view token, std::string_view purpose) const {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return std::nullopt;
  const data_key* k = find(token.substr(0, dot1));
  if (k == nullptr) return std::nullopt;
  auto want = mac_of(*k, purpose, token.substr(0, dot2));
  auto got = token.substr(dot2 + 1);
  if (want.empty() || want.size() != got.size() || CRYPTO_memcmp(want.data(), got.data(), got.size()) != 0) return std::nullopt;
  return base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
}

}  // namespace flowtrack::crypto
