// The billing settings: Stripe's webhook secret (from the environment as well, never echoed in an
// error) and the past_due grace period in days.
#include <gtest/gtest.h>

#include <memory>

#include "config/settings.hpp"

namespace flowtrack::config {
namespace {

TEST(billing_settings, default_to_no_webhook_and_seven_days_of_grace) {
  settings s;
  EXPECT_TRUE(s.stripe_webhook_secret.empty());
  EXPECT_EQ(s.billing_grace_days, 7);
  apply_values(s, {{"stripe_webhook_secret", " whsec_abc123 "}, {"billing_grace_days", "0"}});
  EXPECT_EQ(s.stripe_webhook_secret, "whsec_abc123");
  EXPECT_EQ(s.billing_grace_days, 0);
  apply_values(s, {{"stripe_webhook_secret", ""}, {"billing_grace_days", "365"}});
  EXPECT_TRUE(s.stripe_webhook_secret.empty()) << "empty turns the route off";
  EXPECT_EQ(s.billing_grace_days, 365);
}

TEST(billing_settings, the_secret_comes_from_the_environment) {
  std::vector<std::string> args;
  std::string var = "FLOWTRACK_STRIPE_WEBHOOK_SECRET=whsec_from_env";
  std::string grace = "FLOWTRACK_BILLING_GRACE_DAYS=3";
  char* env[] = {var.data(), grace.data(), nullptr};
  auto s = load(args, env);
  EXPECT_EQ(s.stripe_webhook_secret, "whsec_from_env");
  EXPECT_EQ(s.billing_grace_days, 3);
}

TEST(billing_settings, a_refused_value_names_the_setting_and_never_the_secret) {
  const std::string secret = "whsec_has a_blank_TOPSECRET";
  settings s;
  try {
    apply_values(s, {{"stripe_webhook_secret", secret}});
    ADD_FAILURE() << "a secret with a blank was taken";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), "stripe_webhook_secret");
    EXPECT_EQ(std::string(e.what()).find("TOPSECRET"), std::string::npos) << e.what();
  }
  EXPECT_THROW(apply_values(s, {{"stripe_webhook_secret", std::string(1025, 'x')}}), config_error);
  for (const char* bad : {"-1", "366", "seven", ""}) EXPECT_THROW(apply_values(s, {{"billing_grace_days", bad}}), config_error) << bad;
}

}  // namespace
}  // namespace flowtrack::config
