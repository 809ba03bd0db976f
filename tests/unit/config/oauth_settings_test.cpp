// The mail integrations' settings: the real providers' endpoints by default, no provider offered
// without a client id, URLs checked and trimmed, client secrets from the environment and never
// echoed in an error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/settings.hpp"

namespace flowtrack::config {
namespace {

TEST(oauth_settings, default_to_the_real_providers_endpoints_and_no_client) {
  settings s;
  EXPECT_TRUE(s.google_oauth_client_id.empty());
  EXPECT_TRUE(s.microsoft_oauth_client_id.empty());
  EXPECT_EQ(s.google_oauth_authorize_url, "https://accounts.google.com/o/oauth2/v2/auth");
  EXPECT_EQ(s.google_oauth_token_url, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(s.google_oauth_revoke_url, "https://oauth2.googleapis.com/revoke");
  EXPECT_EQ(s.gmail_api_url, "https://gmail.googleapis.com");
  EXPECT_EQ(s.microsoft_oauth_token_url, "https://login.microsoftonline.com/common/oauth2/v2.0/token");
  EXPECT_EQ(s.microsoft_graph_url, "https://graph.microsoft.com/v1.0");
  EXPECT_TRUE(s.microsoft_oauth_revoke_url.empty());
  EXPECT_EQ(s.oauth_refresh_interval_s, 60);
  EXPECT_EQ(s.oauth_refresh_window_s, 600);
}

TEST(oauth_settings, urls_are_taken_trimmed_without_trailing_slashes_and_bad_ones_are_refused) {
  settings s;
  apply_values(s, {{"google_oauth_token_url", " http://127.0.0.1:9999/token/ "}, {"microsoft_graph_url", "http://127.0.0.1:9/v1.0"},
                   {"google_oauth_revoke_url", ""}});
  EXPECT_EQ(s.google_oauth_token_url, "http://127.0.0.1:9999/token");
  EXPECT_EQ(s.microsoft_graph_url, "http://127.0.0.1:9/v1.0");
  EXPECT_TRUE(s.google_oauth_revoke_url.empty()) << "a revoke URL is optional";
  for (const char* bad : {"ftp://x/token", "", "https://a b/"}) {
    try {
      apply_values(s, {{"google_oauth_token_url", bad}});
      ADD_FAILURE() << "took '" << bad << "'";
    } catch (const config_error& e) {
      EXPECT_EQ(e.key(), "google_oauth_token_url");
    }
  }
  EXPECT_THROW(apply_values(s, {{"oauth_refresh_window_s", "10"}}), config_error);
}

TEST(oauth_settings, client_secrets_come_from_the_environment_and_are_never_echoed) {
  std::vector<std::string> args;
  std::string a = "FLOWTRACK_GOOGLE_OAUTH_CLIENT_SECRET=g-secret", b = "FLOWTRACK_MICROSOFT_OAUTH_CLIENT_ID=ms-client";
  char* env[] = {a.data(), b.data(), nullptr};
  auto s = load(args, env);
  EXPECT_EQ(s.google_oauth_client_secret, "g-secret");
  EXPECT_EQ(s.microsoft_oauth_client_id, "ms-client");
  try {
    apply_values(s, {{"microsoft_oauth_client_secret", "has a_blank_TOPSECRET"}});
    ADD_FAILURE() << "a secret with a blank was taken";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), "microsoft_oauth_client_secret");
    EXPECT_EQ(std::string(e.what()).find("TOPSECRET"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flowtrack::config
