// Envelope encryption of secrets at rest: AES-256-GCM under a key ring (the current key, plus
// older keys kept for rotation), sealed values in a compact text form. OpenSSL only; no I/O.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace flowtrack::crypto {

/// Why a value could not be sealed or opened.
enum class box_errc {
  no_key,       ///< no current key is configured (sealing), or no key at all (opening)
  bad_key,      ///< a configured key is not 64 hex characters
  malformed,    ///< the stored text is not a sealed value
  unknown_key,  ///< sealed under a key id the ring does not hold
  tampered,     ///< the tag does not verify: altered, or sealed for another row or column
  internal,     ///< OpenSSL failed
};

/// An error as a value. The message never holds key material or plaintext; `setting` names the
/// setting at fault for `bad_key` (encryption_key or encryption_old_keys).
struct box_error {
  box_errc code = box_errc::internal;
  std::string message;
  std::string setting;
};

/// A value or a box_error.
template <class T>
class [[nodiscard]] box_result {
 public:
  box_result(T value) : v_(std::move(value)) {}
  box_result(box_error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& operator*() { assert(ok()); return std::get<0>(v_); }
  const T& operator*() const { assert(ok()); return std::get<0>(v_); }
  T* operator->() { return &**this; }
  const T* operator->() const { return &**this; }
  const box_error& err() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, box_error> v_;
};

/// A 256-bit key and its id: the first 8 hex characters of the key's SHA-256, safe to show and
/// stored with every value sealed under it. The bytes are wiped when the key goes.
class data_key {
 public:
  /// 64 hex characters (either case); nullopt for anything else.
  static std::optional<data_key> from_hex(std::string_view hex);
  ~data_key();
  data_key(const data_key&);
  data_key& operator=(const data_key&);

  const std::string& id() const { return id_; }
  const std::array<unsigned char, 32>& bytes() const { return bytes_; }

 private:
  data_key() = default;
  std::array<unsigned char, 32> bytes_{};
  std::string id_;
};

/// The keys a node holds: the current one seals, any of them opens (picked by the key id in the
/// value). Sealed text: `v1.<key id>.<base64url(nonce | ciphertext | tag)>`, a random 96-bit
/// nonce per value, and the key id plus a caller's context (e.g. "webhook_endpoints.secret_key:"
/// + row id) as associated data, so a value copied to another row or column does not open.
class keyring {
 public:
  /// An empty ring: seal fails with `no_key`, open with `no_key`.
  keyring() = default;

  /// The current key (empty = none) and older keys, each 64 hex characters. Errors name the
  /// setting (encryption_key, encryption_old_keys) and never echo a key.
  static box_result<keyring> from_hex(std::string_view current, const std::vector<std::string>& old = {});

  /// Whether a current key is configured (new secrets can be sealed).
  bool can_seal() const { return current_.has_value(); }
  /// The current key's id; empty without one.
  std::string current_id() const { return current_ ? current_->id() : std::string(); }

  /// Seals `plaintext` under the current key, bound to `context`.
  box_result<std::string> seal(std::string_view plaintext, std::string_view context) const;
  /// Opens a sealed value with the key its id names, checking it was sealed for `context`.
  box_result<std::string> open(std::string_view sealed, std::string_view context) const;
  /// Whether the ring holds the key with this id.
  bool holds(std::string_view key_id) const { return find(key_id) != nullptr; }
  /// Whether `sealed` is a well-formed value under the current key (nothing to rotate).
  bool sealed_with_current(std::string_view sealed) const;

  /// A token carrying `payload` in the clear, signed (HMAC-SHA256) under the current key for
  /// `purpose` (e.g. "tracking"): `<key id>.<base64url(payload)>.<base64url(mac)>`, URL-safe.
  /// Fails with `no_key` without a current key.
  box_result<std::string> sign(std::string_view payload, std::string_view purpose) const;
  /// The payload of a token signed by any key of the ring for `purpose`; nullopt for anything
  /// else (malformed, another purpose, an unknown key, altered).
  std::optional<std::string> verify(std::string_view token, std::string_view purpose) const;

 private:
  const data_key* find(std::string_view id) const;
  std::optional<data_key> current_;
  std::vector<data_key> keys_;  // current first, then the old ones
};

/// The key id of a well-formed sealed value; nullopt when `text` is not one.
std::optional<std::string> key_id_of(std::string_view text);

/// Characters of the sealed form of a plaintext of `bytes` bytes (for column limits).
constexpr std::size_t sealed_length(std::size_t bytes) {
  std::size_t raw = 12 + bytes + 16;
  return 3 + 8 + 1 + (raw * 4 + 2) / 3;
}

}  // namespace flowtrack::crypto
