// The envelope-encryption facility: round trips, tamper detection (nonce, ciphertext, tag,
// associated data), key ids, rotation and malformed keys. No servers.
#include <gtest/gtest.h>

#include "crypto/secret_box.hpp"

namespace flowtrack::crypto {
namespace {

const std::string k_a(64, 'a');
const std::string k_b = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string k_c = "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210";

keyring ring(const std::string& current, std::vector<std::string> old = {}) {
  auto r = keyring::from_hex(current, old);
  EXPECT_TRUE(r) << (r ? "" : r.err().message);
  return *r;
}

constexpr std::string_view k_b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The sealed value's raw bytes (nonce | ciphertext | tag) and back, to flip bits in them.
std::string raw_of(const std::string& sealed) {
  std::string body = sealed.substr(12), out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : body) {
    acc = (acc << 6) | unsigned(k_b64url.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string with_raw(const std::string& sealed, const std::string& raw) {
  std::string out = sealed.substr(0, 12);
  for (std::size_t i = 0; i < raw.size(); i += 3) {
    unsigned v = unsigned(static_cast<unsigned char>(raw[i])) << 16;
    if (i + 1 < raw.size()) v |= unsigned(static_cast<unsigned char>(raw[i + 1])) << 8;
    if (i + 2 < raw.size()) v |= static_cast<unsigned char>(raw[i + 2]);
    out += k_b64url[(v >> 18) & 63];
    out += k_b64url[(v >> 12) & 63];
    if (i + 1 < raw.size()) out += k_b64url[(v >> 6) & 63];
    if (i + 2 < raw.size()) out += k_b64url[v & 63];
  }
  return out;
}

TEST(secret_box, round_trips_and_shows_the_key_id_and_never_the_plaintext) {
  auto r = ring(k_a);
  for (std::string plain : {std::string(), std::string("whsec_c2VjcmV0"), std::string(1000, 'x'), std::string("\0\xff", 2)}) {
    auto sealed = r.seal(plain, "webhook_endpoints.secret_key:1");
    ASSERT_TRUE(sealed) << sealed.err().message;
    EXPECT_EQ(sealed->substr(0, 12), "v1." + r.current_id() + ".");
    EXPECT_EQ(sealed->size(), sealed_length(plain.size()));
    if (plain.size() > 3) {
      EXPECT_EQ(sealed->find(plain), std::string::npos);
    }
    auto opened = r.open(*sealed, "webhook_endpoints.secret_key:1");
    ASSERT_TRUE(opened) << opened.err().message;
    EXPECT_EQ(*opened, plain);
    EXPECT_EQ(key_id_of(*sealed), r.current_id());
    EXPECT_TRUE(r.sealed_with_current(*sealed));
  }
  EXPECT_EQ(r.current_id().size(), 8u);
  EXPECT_EQ(r.current_id().find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(secret_box, every_value_gets_its_own_nonce) {
  auto r = ring(k_a);
  auto one = r.seal("same", "ctx"), two = r.seal("same", "ctx");
  ASSERT_TRUE(one && two);
  EXPECT_NE(*one, *two);
  EXPECT_NE(raw_of(*one).substr(0, 12), raw_of(*two).substr(0, 12));
}

TEST(secret_box, a_flipped_bit_anywhere_or_another_context_is_refused) {
  auto r = ring(k_a);
  auto sealed = r.seal("whsec_secretvalue", "webhook_endpoints.secret_key:row-1");
  ASSERT_TRUE(sealed);
  std::string raw = raw_of(*sealed);
  ASSERT_EQ(raw.size(), 12u + 17u + 16u);
  ASSERT_EQ(with_raw(*sealed, raw), *sealed);
  struct where {
    const char* name;
    std::size_t at;
  };
  for (auto [name, at] : {where{"nonce", 0}, where{"nonce end", 11}, where{"ciphertext", 12}, where{"ciphertext end", 28},
                          where{"tag", 29}, where{"tag end", raw.size() - 1}}) {
    for (int bit : {0, 7}) {
      std::string bad = raw;
      bad[at] = static_cast<char>(bad[at] ^ (1 << bit));
      auto opened = r.open(with_raw(*sealed, bad), "webhook_endpoints.secret_key:row-1");
      ASSERT_FALSE(opened) << name;
      EXPECT_EQ(opened.err().code, box_errc::tampered) << name;
      EXPECT_EQ(opened.err().message.find("secretvalue"), std::string::npos);
    }
  }
  for (const char* other : {"webhook_endpoints.secret_key:row-2", "webhook_endpoints.auth_header_value:row-1", ""}) {
    auto opened = r.open(*sealed, other);
    ASSERT_FALSE(opened) << other;
    EXPECT_EQ(opened.err().code, box_errc::tampered) << other;
  }
  // A shortened value (tag cut) and trailing garbage are refused too.
  EXPECT_FALSE(r.open(with_raw(*sealed, raw.substr(0, raw.size() - 1)), "webhook_endpoints.secret_key:row-1"));
  EXPECT_FALSE(r.open(*sealed + "A", "webhook_endpoints.secret_key:row-1"));
}

TEST(secret_box, malformed_text_is_not_a_sealed_value) {
  auto r = ring(k_a);
  for (std::string bad : {"", "whsec_abc", "v1.", "v1.abcdefgh.", "v2.abcdefgh.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                          "v1.ABCDEFGH.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "v1.abcdefgz.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                          "v1.abcdefgh.AAAA", "v1.abcdefgh.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=A", "plain secret"}) {
    auto opened = r.open(bad, "ctx");
    ASSERT_FALSE(opened) << bad;
    EXPECT_EQ(opened.err().code, box_errc::malformed) << bad;
    EXPECT_FALSE(key_id_of(bad)) << bad;
  }
}

TEST(secret_box, an_unknown_key_id_is_named_and_no_key_material_is_shown) {
  auto sealed = ring(k_a).seal("s3cr3t-value", "ctx");
  ASSERT_TRUE(sealed);
  auto other = ring(k_b);
  auto opened = other.open(*sealed, "ctx");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.err().code, box_errc::unknown_key);
  EXPECT_NE(opened.err().message.find(*key_id_of(*sealed)), std::string::npos) << opened.err().message;
  EXPECT_EQ(opened.err().message.find(k_b), std::string::npos);
  EXPECT_EQ(opened.err().message.find("s3cr3t"), std::string::npos);
}

TEST(secret_box, rotation_opens_with_old_keys_and_seals_with_the_current_one) {
  auto old_ring = ring(k_a);
  auto sealed_old = old_ring.seal("rotate me", "ctx");
  ASSERT_TRUE(sealed_old);
  auto rotated = ring(k_b, {k_a, k_c});
  EXPECT_NE(rotated.current_id(), old_ring.current_id());
  EXPECT_FALSE(rotated.sealed_with_current(*sealed_old));
  auto opened = rotated.open(*sealed_old, "ctx");
  ASSERT_TRUE(opened) << opened.err().message;
  EXPECT_EQ(*opened, "rotate me");
  auto resealed = rotated.seal(*opened, "ctx");
  ASSERT_TRUE(resealed);
  EXPECT_EQ(*key_id_of(*resealed), rotated.current_id());
  EXPECT_TRUE(rotated.sealed_with_current(*resealed));
  // The old key alone cannot open what the new key sealed.
  auto back = old_ring.open(*resealed, "ctx");
  ASSERT_FALSE(back);
  EXPECT_EQ(back.err().code, box_errc::unknown_key);
  // Upper-case hex is the same key.
  EXPECT_EQ(ring(k_c).current_id(), ring(std::string("fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210")).current_id());
}

TEST(secret_box, wrong_length_or_non_hex_keys_name_the_setting_and_not_the_key) {
  for (std::string bad : {std::string(63, 'a'), std::string(65, 'a'), std::string(32, 'a'), std::string(63, 'a') + "g",
                          std::string(" ") + std::string(63, 'a')}) {
    auto r = keyring::from_hex(bad, {});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.err().code, box_errc::bad_key);
    EXPECT_EQ(r.err().setting, "encryption_key");
    EXPECT_EQ(r.err().message.find(bad), std::string::npos);
    auto o = keyring::from_hex(k_a, {k_b, bad});
    ASSERT_FALSE(o) << bad;
    EXPECT_EQ(o.err().setting, "encryption_old_keys");
    EXPECT_NE(o.err().message.find("key 2 of 2"), std::string::npos) << o.err().message;
    EXPECT_EQ(o.err().message.find(bad), std::string::npos);
  }
}

TEST(secret_box, without_a_current_key_nothing_is_sealed) {
  keyring empty;
  EXPECT_FALSE(empty.can_seal());
  auto s = empty.seal("x", "ctx");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.err().code, box_errc::no_key);
  EXPECT_NE(s.err().message.find("encryption_key"), std::string::npos);
  auto sealed = ring(k_a).seal("x", "ctx");
  auto o = empty.open(*sealed, "ctx");
  ASSERT_FALSE(o);
  EXPECT_EQ(o.err().code, box_errc::no_key);
  // Old keys alone open but do not seal.
  auto old_only = ring("", {k_a});
  EXPECT_FALSE(old_only.can_seal());
  EXPECT_EQ(*old_only.open(*sealed, "ctx"), "x");
  EXPECT_FALSE(old_only.seal("x", "ctx"));
}

TEST(signed_token, round_trips_under_any_key_of_the_ring_and_only_for_its_purpose) {
  auto before = ring(k_a);
  auto token = before.sign("o|ws|lead", "tracking");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), std::string::npos)
      << "URL-safe: " << *token;
  EXPECT_EQ(before.verify(*token, "tracking"), "o|ws|lead");
  EXPECT_FALSE(before.verify(*token, "unsubscribe")) << "another purpose";
  // After a rotation the old key still verifies what it signed; a ring without it does not.
  EXPECT_EQ(ring(k_b, {k_a}).verify(*token, "tracking"), "o|ws|lead");
  EXPECT_FALSE(ring(k_b).verify(*token, "tracking"));
  EXPECT_FALSE(keyring().sign("x", "tracking")) << "no current key";
}

TEST(signed_token, any_change_is_refused) {
  auto r = ring(k_a);
  auto token = *r.sign("c|ws|lead|https://example.com/a", "tracking");
  for (std::size_t i = 0; i < token.size(); ++i) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(r.verify(t, "tracking")) << "changed at " << i;
  }
  EXPECT_FALSE(r.verify(token.substr(0, token.size() - 1), "tracking"));
  EXPECT_FALSE(r.verify("", "tracking"));
  EXPECT_FALSE(r.verify("..", "tracking"));
  EXPECT_FALSE(r.verify(token + ".x", "tracking"));
}

}  // namespace
}  // namespace flowtrack::crypto
