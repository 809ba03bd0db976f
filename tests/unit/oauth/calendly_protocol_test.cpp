// Calendly's OAuth and webhook subscriptions as values (adapters/oauth/protocol): what goes to
// Calendly and how its answers are read, without a network.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "adapters/oauth/protocol.hpp"
#include "tests/support/fake_oauth_provider.hpp"

namespace flowtrack::oauth {
namespace {
namespace json = boost::json;
using test::fake_oauth_provider;

config::settings with_calendly() {
  config::settings s;
  s.calendly_oauth_client_id = "cal-client";
  s.calendly_oauth_client_secret = "cal-secret";
  return s;
}

TEST(oauth_calendly_protocol, calendly_is_offered_with_a_client_id_and_reaches_calendlys_endpoints_by_default) {
  EXPECT_FALSE(config_for(provider::calendly, config::settings{}).offered());
  auto c = config_for(provider::calendly, with_calendly());
  EXPECT_TRUE(c.offered());
  EXPECT_EQ(c.authorize_url, "https://auth.calendly.com/oauth/authorize");
  EXPECT_EQ(c.token_url, "https://auth.calendly.com/oauth/token");
  EXPECT_EQ(c.api_url, "https://api.calendly.com");
  EXPECT_TRUE(c.revoke_url.empty());
  EXPECT_EQ(api_name(provider::calendly), "calendly");
  EXPECT_EQ(provider_type(provider::calendly), "CALENDLY");
  EXPECT_FALSE(sends_mail(provider::calendly));
  EXPECT_TRUE(sends_mail(provider::google));
}

TEST(oauth_calendly_protocol, the_authorization_url_has_pkce_and_no_scope) {
  auto c = config_for(provider::calendly, with_calendly());
  auto url = authorization_url(provider::calendly, c, "https://app.example/cb", "st", "challenge");
  ASSERT_EQ(url.rfind("https://auth.calendly.com/oauth/authorize?", 0), 0u) << url;
  auto q = fake_oauth_provider::decode_form(url.substr(url.find('?') + 1));
  EXPECT_EQ(q["response_type"], "code");
  EXPECT_EQ(q["client_id"], "cal-client");
  EXPECT_EQ(q["redirect_uri"], "https://app.example/cb");
  EXPECT_EQ(q["code_challenge"], "challenge");
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["state"], "st");
  EXPECT_EQ(q.count("scope"), 0u);
  EXPECT_EQ(q.count("access_type"), 0u) << "Google's parameters are Google's";
}

TEST(oauth_calendly_protocol, the_account_is_the_token_answers_owner) {
  auto t = parse_token_response(200,
                                R"({"token_type":"Bearer","access_token":"at","refresh_token":"rt","scope":"default","created_at":1,)"
                                R"("expires_in":7200,"owner":"https://api.calendly.com/users/U1",)"
                                R"("organization":"https://api.calendly.com/organizations/O1"})",
                                1000);
  ASSERT_TRUE(t) << t.err().message;
  EXPECT_EQ(t->expires_at_ms, 1000 + 7200 * 1000);
  auto a = calendly_account(*t);
  ASSERT_TRUE(a) << a.err().message;
  EXPECT_EQ(a->provider_user_id, "https://api.calendly.com/users/U1");
  EXPECT_FALSE(a->email);
  t->organization.reset();
  EXPECT_EQ(calendly_account(*t).err().code, error_code::internal) << "no organization: no subscription can be made";
}

TEST(oauth_calendly_protocol, the_subscription_body_asks_for_invitee_created_under_our_key) {
  auto body = json::parse(calendly_subscription_body({"https://ft.example/integrations/calendly/webhook/W",
                                                      "https://api.calendly.com/organizations/O1",
                                                      "https://api.calendly.com/users/U1", "k3y"}));
  EXPECT_EQ(body.at("url"), "https://ft.example/integrations/calendly/webhook/W");
  EXPECT_EQ(body.at("events"), json::array{"invitee.created"});
  EXPECT_EQ(body.at("organization"), "https://api.calendly.com/organizations/O1");
  EXPECT_EQ(body.at("user"), "https://api.calendly.com/users/U1");
  EXPECT_EQ(body.at("scope"), "user");
  EXPECT_EQ(body.at("signing_key"), "k3y");
}

TEST(oauth_calendly_protocol, subscription_answers_are_read_by_status) {
  auto made = parse_calendly_subscription(201, R"({"resource":{"uri":"https://api.calendly.com/webhook_subscriptions/S1"}})");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_EQ(*made, "https://api.calendly.com/webhook_subscriptions/S1");
  auto exists = parse_calendly_subscription(409, R"({"title":"Already Exists","message":"Hook with this url already exists"})");
  EXPECT_EQ(exists.err().code, error_code::conflict);
  EXPECT_EQ(exists.err().subject, "webhook_exists");
  EXPECT_NE(exists.err().message.find("delete it in Calendly"), std::string::npos);
  EXPECT_EQ(parse_calendly_subscription(403, R"({"message":"Permission Denied"})").err().subject, "provider_refused");
  EXPECT_EQ(parse_calendly_subscription(503, "").err().code, error_code::unavailable);
  EXPECT_EQ(parse_calendly_subscription(201, R"({"resource":{}})").err().code, error_code::internal);
}

TEST(oauth_calendly_protocol, a_disconnect_deletes_the_stored_subscription_at_the_configured_api) {
  auto url = calendly_unsubscribe_url("https://api.calendly.com", "https://api.calendly.com/webhook_subscriptions/3f2a-b9_c");
  ASSERT_TRUE(url) << url.err().message;
  EXPECT_EQ(*url, "https://api.calendly.com/webhook_subscriptions/3f2a-b9_c");
  // The stored URI's host is not trusted: only its uuid is taken.
  auto elsewhere = calendly_unsubscribe_url("http://127.0.0.1:8080/", "https://evil.example/webhook_subscriptions/S9?x=1");
  ASSERT_TRUE(elsewhere) << elsewhere.err().message;
  EXPECT_EQ(*elsewhere, "http://127.0.0.1:8080/webhook_subscriptions/S9");
  for (const char* bad : {"", "https://api.calendly.com/users/U1", "https://api.calendly.com/webhook_subscriptions/",
                          "https://api.calendly.com/webhook_subscriptions/../users", "webhook_subscriptions", "S1"}) {
    auto r = calendly_unsubscribe_url("https://api.calendly.com", bad);
    ASSERT_FALSE(r) << bad << " -> " << *r;
    EXPECT_EQ(r.err().code, error_code::invalid) << bad;
  }
}

TEST(oauth_calendly_protocol, unsubscribe_answers_are_read_by_status) {
  EXPECT_TRUE(parse_calendly_unsubscribe(204, ""));
  EXPECT_TRUE(parse_calendly_unsubscribe(200, "{}"));
  EXPECT_TRUE(parse_calendly_unsubscribe(404, R"({"title":"Resource Not Found"})")) << "already gone is what a delete wants";
  auto refused = parse_calendly_unsubscribe(403, R"({"message":"Permission Denied"})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, error_code::invalid);
  EXPECT_EQ(refused.err().subject, "provider_refused");
  EXPECT_NE(refused.err().message.find("Permission Denied"), std::string::npos);
  EXPECT_EQ(parse_calendly_unsubscribe(401, "").err().subject, "provider_refused");
  EXPECT_EQ(parse_calendly_unsubscribe(429, "").err().code, error_code::unavailable);
  EXPECT_EQ(parse_calendly_unsubscribe(503, "").err().code, error_code::unavailable);
  EXPECT_EQ(parse_calendly_unsubscribe(302, "").err().code, error_code::internal);
}

}  // namespace
}  // namespace flowtrack::oauth
