// The Calendly webhook signing key: off by default, trimmed, from the environment as well, and
// never echoed in an error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/settings.hpp"

namespace flowtrack::config {
namespace {

TEST(calendly_settings, default_to_no_webhook_and_take_a_trimmed_key) {
  settings s;
  EXPECT_TRUE(s.calendly_webhook_signing_key.empty());
  apply_values(s, {{"calendly_webhook_signing_key", " abc123_KEY "}});
  EXPECT_EQ(s.calendly_webhook_signing_key, "abc123_KEY");
  apply_values(s, {{"calendly_webhook_signing_key", ""}});
  EXPECT_TRUE(s.calendly_webhook_signing_key.empty()) << "empty turns the route off";
}

TEST(calendly_settings, the_key_comes_from_the_environment) {
  std::vector<std::string> args;
  std::string var = "FLOWTRACK_CALENDLY_WEBHOOK_SIGNING_KEY=key_from_env";
  char* env[] = {var.data(), nullptr};
  auto s = load(args, env);
  EXPECT_EQ(s.calendly_webhook_signing_key, "key_from_env");
}

TEST(calendly_settings, a_refused_value_names_the_setting_and_never_the_key) {
  settings s;
  try {
    apply_values(s, {{"calendly_webhook_signing_key", "has a_blank_TOPSECRET"}});
    ADD_FAILURE() << "a key with a blank was taken";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), "calendly_webhook_signing_key");
    EXPECT_EQ(std::string(e.what()).find("TOPSECRET"), std::string::npos) << e.what();
  }
  EXPECT_THROW(apply_values(s, {{"calendly_webhook_signing_key", std::string(1025, 'x')}}), config_error);
}

}  // namespace
}  // namespace flowtrack::config
