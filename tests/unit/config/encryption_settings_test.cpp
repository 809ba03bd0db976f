// The encryption key settings: 64 hex characters, a comma-separated list of old keys, and
// errors that name the setting but never echo a key.
#include <gtest/gtest.h>

#include "config/settings.hpp"

namespace flowtrack::config {
namespace {

const std::string k_a(64, 'a');
const std::string k_b = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(encryption_settings, take_64_hex_characters_and_a_list_of_old_keys) {
  settings s;
  EXPECT_TRUE(s.encryption_key.empty());
  EXPECT_TRUE(s.encryption_old_keys.empty());
  apply_values(s, {{"encryption_key", " " + k_a + " "}, {"encryption_old_keys", k_b + " , " + k_a + ","}});
  EXPECT_EQ(s.encryption_key, k_a);
  EXPECT_EQ(s.encryption_old_keys, (std::vector<std::string>{k_b, k_a}));
  apply_values(s, {{"encryption_key", ""}, {"encryption_old_keys", ""}});
  EXPECT_TRUE(s.encryption_key.empty());
  EXPECT_TRUE(s.encryption_old_keys.empty());
}

TEST(encryption_settings, a_malformed_key_names_the_setting_and_never_the_key) {
  for (const std::string& bad : {std::string(63, 'a'), std::string(65, 'a'), std::string(63, 'a') + "x",
                                 std::string("secret-passphrase-that-is-not-hex")}) {
    for (const char* key : {"encryption_key", "encryption_old_keys"}) {
      settings s;
      try {
        apply_values(s, {{key, key == std::string("encryption_key") ? bad : k_a + "," + bad}});
        ADD_FAILURE() << key << " accepted " << bad.size() << " characters";
      } catch (const config_error& e) {
        EXPECT_EQ(e.key(), key);
        EXPECT_EQ(std::string(e.what()).find(bad), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).find(k_a), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("64 hex"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(encryption_settings, come_from_the_environment_like_every_setting) {
  std::string key = "FLOWTRACK_ENCRYPTION_KEY=" + k_a, old = "FLOWTRACK_ENCRYPTION_OLD_KEYS=" + k_b;
  std::vector<char*> env{key.data(), old.data(), nullptr};
  std::vector<std::string> args;
  auto s = load(args, env.data());
  EXPECT_EQ(s.encryption_key, k_a);
  EXPECT_EQ(s.encryption_old_keys, std::vector<std::string>{k_b});
}

}  // namespace
}  // namespace flowtrack::config
