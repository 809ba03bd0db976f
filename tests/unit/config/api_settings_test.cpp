// The management API's settings: jwt_key (64 hex, never echoed), the CORS allow-list (origins
// only, no wildcard), the Clerk key files (readable), the test-only Argon2 costs.
#include <gtest/gtest.h>

#include "config/settings.hpp"

namespace flowtrack::config {
namespace {

std::string refusal_key(const raw_values& v, std::string* what = nullptr) {
  settings s;
  try {
    apply_values(s, v);
  } catch (const config_error& e) {
    if (what) *what = e.what();
    return e.key();
  }
  return {};
}

TEST(api_settings, jwt_key_takes_64_hex_characters_and_never_echoes_a_bad_one) {
  settings s;
  EXPECT_TRUE(s.jwt_key.empty());
  apply_values(s, {{"jwt_key", std::string(64, 'b')}});
  EXPECT_EQ(s.jwt_key, std::string(64, 'b'));
  std::string what;
  EXPECT_EQ(refusal_key({{"jwt_key", "not-a-key-but-a-secret-phrase"}}, &what), "jwt_key");
  EXPECT_EQ(what.find("not-a-key"), std::string::npos) << what;
  EXPECT_EQ(refusal_key({{"jwt_key", std::string(62, 'a')}}), "jwt_key");
}

TEST(api_settings, cors_allowed_origins_takes_origins_and_refuses_wildcards_and_paths) {
  settings s;
  apply_values(s, {{"cors_allowed_origins", "https://App.example.com/, http://localhost:5173"}});
  EXPECT_EQ(s.cors_allowed_origins, (std::vector<std::string>{"https://app.example.com", "http://localhost:5173"}));
  for (const char* bad : {"*", "null", "app.example.com", "https://app.example.com/path", "https://*.example.com", "ftp://x", "https://"})
    EXPECT_EQ(refusal_key({{"cors_allowed_origins", bad}}), "cors_allowed_origins") << bad;
}

TEST(api_settings, clerk_key_files_must_be_readable_and_hash_costs_bounded) {
  EXPECT_EQ(refusal_key({{"clerk_jwks_file", "/nonexistent/jwks.json"}}), "clerk_jwks_file");
  EXPECT_EQ(refusal_key({{"clerk_public_key_file", "/nonexistent/clerk.pem"}}), "clerk_public_key_file");
  settings s;
  EXPECT_EQ(s.password_hash_memory_kib, 65536);
  EXPECT_EQ(s.password_hash_iterations, 3);
  apply_values(s, {{"password_hash_memory_kib", "256"}, {"password_hash_iterations", "1"}});
  EXPECT_EQ(s.password_hash_memory_kib, 256);
  EXPECT_EQ(refusal_key({{"password_hash_memory_kib", "8"}}), "password_hash_memory_kib");
  EXPECT_EQ(refusal_key({{"password_hash_iterations", "0"}}), "password_hash_iterations");
}

}  // namespace
}  // namespace flowtrack::config
