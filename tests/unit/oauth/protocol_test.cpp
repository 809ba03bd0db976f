// The Google and Microsoft protocols as values: what goes to the providers and how their answers
// are read, without a network.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "adapters/oauth/protocol.hpp"
#include "crypto/base64url.hpp"
#include "crypto/pkce.hpp"
#include "tests/support/fake_oauth_provider.hpp"

namespace flowtrack::oauth {
namespace {
namespace json = boost::json;
using test::fake_oauth_provider;

config::settings with_clients() {
  config::settings s;
  s.google_oauth_client_id = "g-client";
  s.google_oauth_client_secret = "g-secret&=";
  s.microsoft_oauth_client_id = "ms-client";
  s.microsoft_oauth_client_secret = "ms-secret";
  return s;
}

TEST(oauth_protocol, providers_are_named_by_api_name_and_provider_type) {
  EXPECT_EQ(parse_provider("google"), provider::google);
  EXPECT_EQ(parse_provider("outlook"), provider::outlook);
  EXPECT_EQ(parse_provider("calendly"), provider::calendly);
  EXPECT_FALSE(parse_provider("zoom"));
  EXPECT_FALSE(parse_provider("Google"));
  EXPECT_EQ(provider_type(provider::google), "GOOGLE_EMAIL");
  EXPECT_EQ(provider_type(provider::outlook), "OUTLOOK_EMAIL");
  EXPECT_EQ(from_provider_type("OUTLOOK_EMAIL"), provider::outlook);
  EXPECT_EQ(from_provider_type("CALENDLY"), provider::calendly);
  EXPECT_FALSE(from_provider_type("ZOOM"));
  EXPECT_FALSE(config_for(provider::google, config::settings{}).offered()) << "no client id: not offered";
  EXPECT_TRUE(config_for(provider::google, with_clients()).offered());
}

TEST(oauth_protocol, the_authorization_url_carries_the_pkce_challenge_state_and_scopes) {
  auto s = with_clients();
  auto c = config_for(provider::google, s);
  auto verifier = *crypto::random_url_token(48);
  auto url = authorization_url(provider::google, c, "https://app.example.com/cb?x=1", "st&ate", crypto::pkce_s256_challenge(verifier));
  ASSERT_EQ(url.rfind("https://accounts.google.com/o/oauth2/v2/auth?", 0), 0u) << url;
  auto q = fake_oauth_provider::decode_form(url.substr(url.find('?') + 1));
  EXPECT_EQ(q["response_type"], "code");
  EXPECT_EQ(q["client_id"], "g-client");
  EXPECT_EQ(q["redirect_uri"], "https://app.example.com/cb?x=1");
  EXPECT_EQ(q["state"], "st&ate");
  EXPECT_EQ(q["code_challenge"], crypto::pkce_s256_challenge(verifier));
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_NE(q["scope"].find("https://www.googleapis.com/auth/gmail.send"), std::string::npos);
  EXPECT_EQ(q["access_type"], "offline") << "Google gives a refresh token only for offline access";
  auto ms = authorization_url(provider::outlook, config_for(provider::outlook, s), "https://a/cb", "s", "c");
  auto mq = fake_oauth_provider::decode_form(ms.substr(ms.find('?') + 1));
  EXPECT_NE(mq["scope"].find("offline_access"), std::string::npos);
  EXPECT_NE(mq["scope"].find("Mail.Send"), std::string::npos);
  EXPECT_EQ(mq.count("access_type"), 0u);
}

TEST(oauth_protocol, token_bodies_are_form_encoded_with_the_client_and_the_verifier) {
  auto c = config_for(provider::google, with_clients());
  auto f = fake_oauth_provider::decode_form(code_exchange_body(c, "4/code+x", "https://a/cb", "verifier-1"));
  EXPECT_EQ(f["grant_type"], "authorization_code");
  EXPECT_EQ(f["code"], "4/code+x");
  EXPECT_EQ(f["redirect_uri"], "https://a/cb");
  EXPECT_EQ(f["client_id"], "g-client");
  EXPECT_EQ(f["client_secret"], "g-secret&=");
  EXPECT_EQ(f["code_verifier"], "verifier-1");
  auto r = fake_oauth_provider::decode_form(refresh_body(c, "1//rt"));
  EXPECT_EQ(r["grant_type"], "refresh_token");
  EXPECT_EQ(r["refresh_token"], "1//rt");
  EXPECT_EQ(r.count("code_verifier"), 0u);
  EXPECT_EQ(form_encode({{"a b", "c&d=é"}}), "a%20b=c%26d%3D%C3%A9");
}

TEST(oauth_protocol, a_token_answer_is_read_with_its_expiry_from_now) {
  auto t = parse_token_response(
      200, R"({"access_token":"ya29.a","expires_in":3599,"refresh_token":"1//r","scope":"email","token_type":"Bearer"})", 1'000'000);
  ASSERT_TRUE(t) << t.err().message;
  EXPECT_EQ(t->access_token, "ya29.a");
  EXPECT_EQ(t->refresh_token, "1//r");
  EXPECT_EQ(t->expires_at_ms, 1'000'000 + 3'599'000);
  EXPECT_EQ(t->scope, "email");
  auto no_refresh = parse_token_response(200, R"({"access_token":"x","expires_in":"60","token_type":"bearer"})", 0);
  ASSERT_TRUE(no_refresh);
  EXPECT_FALSE(no_refresh->refresh_token) << "a refresh that rotates nothing keeps the old one";
  EXPECT_EQ(no_refresh->expires_at_ms, 60'000);
}

TEST(oauth_protocol, token_errors_say_what_to_do_and_never_carry_a_token) {
  auto grant = parse_token_response(400, R"({"error":"invalid_grant","error_description":"Bad Request"})", 0);
  ASSERT_FALSE(grant);
  EXPECT_EQ(grant.err().code, error_code::unauthorized);
  EXPECT_EQ(grant.err().subject, "invalid_grant");
  auto client = parse_token_response(401, R"({"error":"invalid_client"})", 0);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.err().code, error_code::invalid);
  EXPECT_EQ(client.err().subject, "invalid_client");
  EXPECT_EQ(parse_token_response(503, "", 0).err().code, error_code::unavailable);
  EXPECT_EQ(parse_token_response(429, "{}", 0).err().code, error_code::unavailable);
  EXPECT_EQ(parse_token_response(200, R"({"token_type":"Bearer"})", 0).err().code, error_code::internal);
  EXPECT_EQ(parse_token_response(200, R"({"access_token":"x","token_type":"mac"})", 0).err().code, error_code::internal);
  auto odd = parse_token_response(200, "not json ya29.secret", 0);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.err().message.find("ya29"), std::string::npos);
}

TEST(oauth_protocol, userinfo_names_the_account_from_openid_or_graph_fields) {
  auto g = parse_userinfo(200, R"({"sub":"1234","email":"ada@gmail.com"})");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->provider_user_id, "1234");
  EXPECT_EQ(g->email, "ada@gmail.com");
  auto m = parse_userinfo(200, R"({"id":"abc","mail":null,"userPrincipalName":"ada@contoso.com"})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->provider_user_id, "abc");
  EXPECT_EQ(m->email, "ada@contoso.com");
  EXPECT_EQ(parse_userinfo(200, R"({"sub":"1"})").err().code, error_code::invalid);
  EXPECT_EQ(parse_userinfo(502, "").err().code, error_code::unavailable);
}

TEST(oauth_protocol, the_gmail_body_is_the_message_in_base64url) {
  std::string msg = "From: a@b.c\r\nSubject: ?>?\r\n\r\nhi \xc3\xa9\r\n";
  auto body = json::parse(gmail_send_body(msg)).as_object();
  ASSERT_EQ(body.size(), 1u);
  std::string raw(body.at("raw").as_string());
  EXPECT_EQ(raw.find_first_of("+/="), std::string::npos) << "URL-safe, unpadded";
  EXPECT_EQ(crypto::base64url_decode(raw), msg);
}

TEST(oauth_protocol, the_graph_body_has_the_message_fields_and_the_flowtrack_message_id) {
  actors::email_message m;
  m.idempotency_key = "ex:node";
  m.to = "lead@example.com";
  m.reply_to = "owner@example.com";
  m.subject = "Welcome";
  m.text_body = "text";
  m.html_body = "<p>html</p>";
  auto body = graph_send_body(m, "<abc@in.example>");
  ASSERT_TRUE(body) << body.err().message;
  auto o = json::parse(*body).as_object();
  const auto& msg = o.at("message").as_object();
  EXPECT_EQ(msg.at("subject"), "Welcome");
  EXPECT_EQ(msg.at("body").at("contentType"), "HTML");
  EXPECT_EQ(msg.at("body").at("content"), "<p>html</p>");
  EXPECT_EQ(msg.at("toRecipients").at(0).at("emailAddress").at("address"), "lead@example.com");
  EXPECT_EQ(msg.at("replyTo").at(0).at("emailAddress").at("address"), "owner@example.com");
  EXPECT_EQ(msg.at("internetMessageHeaders").at(0).at("name"), "X-FlowTrack-Message-Id");
  EXPECT_EQ(msg.at("internetMessageHeaders").at(0).at("value"), "<abc@in.example>");
  EXPECT_EQ(o.at("saveToSentItems"), true);

  m.html_body.clear();
  m.reply_to.clear();
  auto text = json::parse(*graph_send_body(m, "<x@y>")).as_object();
  EXPECT_EQ(text.at("message").at("body").at("contentType"), "Text");
  EXPECT_FALSE(text.at("message").as_object().contains("replyTo"));

  m.to = "not an address";
  EXPECT_EQ(graph_send_body(m, "<x@y>").err().subject, "to");
  m.to = "a@b.co";
  m.subject = "two\r\nlines";
  EXPECT_EQ(graph_send_body(m, "<x@y>").err().subject, "subject");
}

TEST(oauth_protocol, send_statuses_map_to_the_mailer_contract) {
  EXPECT_TRUE(send_status(200, "", "Gmail"));
  EXPECT_TRUE(send_status(202, "", "Graph"));
  EXPECT_EQ(send_status(401, "", "Gmail").err().code, error_code::unauthorized);
  EXPECT_EQ(send_status(429, "", "Gmail").err().code, error_code::unavailable);
  EXPECT_EQ(send_status(503, "", "Gmail").err().code, error_code::unavailable);
  EXPECT_EQ(send_status(408, "", "Gmail").err().code, error_code::timeout);
  auto refused = send_status(400, R"({"error":"Invalid To header"})", "Gmail");
  EXPECT_EQ(refused.err().code, error_code::invalid);
  EXPECT_NE(refused.err().message.find("Invalid To header"), std::string::npos);
}

}  // namespace
}  // namespace flowtrack::oauth
