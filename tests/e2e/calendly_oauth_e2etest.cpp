// Calendly as an integration (issue #16 item 4) against a running node, Calendly played by
// tests/support/fake_oauth_provider.hpp (flavour::calendly) on a local port: the connect flow
// (authorization URL with PKCE, the code exchanged with its verifier, the account read from the
// token answer's owner), the workspace's webhook subscription made at connect with a signing key
// of the node's choosing, kept sealed; an invitee.created signed with that key moves the lead to
// BOOKED with a lead event, while one signed with the node's key or another workspace's is
// refused; the refresh job renewing the token and a revoked grant making the credential inactive
// with the owner told; a disconnect deleting the subscription at Calendly and forgetting the key (a
// reconnect gets a fresh subscription and key), or, when Calendly will not delete it, completing
// anyway with the subscription named in the log (a reconnect meets 409). No token or key plain in
// the table or log.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <functional>
#include <regex>
#include <thread>

#include <boost/json.hpp>

#include "crypto/calendly_signature.hpp"
#include "domain/ids.hpp"
#include "tests/support/api_session.hpp"
#include "tests/support/fake_oauth_provider.hpp"
#include "tests/support/own_redis.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string k_jwt_key_hex = "4c3b2a1908f7e6d5c4b3a2910f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c";
const std::string k_encryption_key = "c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9fa0b1";
const std::string k_node_key = "calendly_node_key_" + std::string(24, 'n');
const std::string k_redirect = "https://app.example.com/integrations/calendly/callback";

scratch_database& database() {
  static scratch_database db("ft_calendly_oauth_e2e");
  return db;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Calendly's invitee.created body (the fields FlowTrack reads).
std::string invitee_created(const std::string& email) {
  const std::string event_uri = "https://api.calendly.com/scheduled_events/" + domain::new_uuid();
  return json::serialize(json::object{
      {"event", "invitee.created"},
      {"created_at", "2026-12-03T10:00:00.000000Z"},
      {"payload", json::object{{"email", email},
                               {"name", "Ada Lovelace"},
                               {"uri", event_uri + "/invitees/" + domain::new_uuid()},
                               {"scheduled_event", json::object{{"uri", event_uri}, {"start_time", "2026-12-10T15:00:00.000000Z"}}}}}});
}

json::object graph_node(const std::string& id, const std::string& type) {
  return {{"id", id}, {"type", type}, {"position", {{"x", 0}, {"y", 0}}}, {"data", json::object{}}};
}

class calendly_oauth_e2etest : public api_session {
 protected:
  own_redis redis;
  fake_oauth_provider calendly{"cal-client", "cal-secret-NEVER-LOGGED", "", fake_oauth_provider::flavour::calendly};

  void start(bool node_key, int expires_in_s = 7200) {
    ASSERT_TRUE(use_database(database()));
    calendly.set_expires_in(expires_in_s);
    node_process::settings s{{"FLOWTRACK_JWT_KEY", k_jwt_key_hex},
                             {"FLOWTRACK_ENCRYPTION_KEY", k_encryption_key},
                             {"FLOWTRACK_REDIS_URL", redis.url()},
                             {"FLOWTRACK_LOG_LEVEL", "debug"},
                             {"FLOWTRACK_CALENDLY_OAUTH_CLIENT_ID", "cal-client"},
                             {"FLOWTRACK_CALENDLY_OAUTH_CLIENT_SECRET", "cal-secret-NEVER-LOGGED"},
                             {"FLOWTRACK_CALENDLY_OAUTH_AUTHORIZE_URL", calendly.authorize_url()},
                             {"FLOWTRACK_CALENDLY_OAUTH_TOKEN_URL", calendly.token_url()},
                             {"FLOWTRACK_CALENDLY_API_URL", calendly.calendly_api_url()},
                             {"FLOWTRACK_OAUTH_REFRESH_INTERVAL_S", "1"}};
    if (node_key) s["FLOWTRACK_CALENDLY_WEBHOOK_SIGNING_KEY"] = k_node_key;
    start_node(s);
  }
  void TearDown() override { node.reset(); }  // the node stops before its Redis and the fake

  std::string one(const std::string& sql) {
    auto c = column(sql);
    return c.empty() ? "" : c.front();
  }

  std::string workspace(const api_user& owner) {
    static int made = 0;
    auto slug = "co-" + std::to_string(::getpid()) + "-" + std::to_string(++made);
    auto r = send("POST", "/workspaces", {{"name", "Bookings"}, {"slug", slug}}, owner.token);
    EXPECT_EQ(r.status, 201) << r.text;
    return r.status == 201 ? r.str("id") : "";
  }

  // The connect up to the callback: POST .../connect, the browser at the fake's authorize URL.
  std::pair<std::string, std::string> authorize(const std::string& ws, const api_user& u) {
    auto c = send("POST", "/workspaces/" + ws + "/integrations/calendly/connect", {{"redirectUri", k_redirect}}, u.token);
    EXPECT_EQ(c.status, 201) << c.text;
    if (c.status != 201) return {};
    auto url = c.str("authorizationUrl");
    EXPECT_EQ(url.rfind(calendly.authorize_url() + "?", 0), 0u) << url;
    auto visit = http_request(calendly.port(), "GET", url.substr(calendly.base().size()));
    EXPECT_EQ(visit.status, 302) << visit.body;
    auto location = visit.headers["location"];
    auto back = fake_oauth_provider::decode_form(location.substr(location.find('?') + 1));
    EXPECT_EQ(back["state"], c.str("state"));
    auto asked = calendly.last_authorize();
    EXPECT_EQ(asked["code_challenge_method"], "S256");
    EXPECT_EQ(asked["client_id"], "cal-client");
    EXPECT_EQ(asked.count("scope"), 0u) << "Calendly's app scopes apply";
    return {back["code"], back["state"]};
  }

  api_reply callback(const std::string& ws, const api_user& u) {
    auto [code, state] = authorize(ws, u);
    return send("POST", "/workspaces/" + ws + "/integrations/calendly/callback", {{"code", code}, {"state", state}}, u.token);
  }

  // A lead of the workspace with `email`, made by a manual run of a workflow that only ends.
  std::string lead(const std::string& ws, const api_user& u, const std::string& email) {
    json::object wf{{"name", "Capture"},
                    {"nodes", json::array{graph_node("start", "TRIGGER_MANUAL"), graph_node("end", "LOGIC_END")}},
                    {"edges", json::array{json::object{{"id", "e1"}, {"source", "start"}, {"target", "end"}}}}};
    auto made = send("POST", "/workspaces/" + ws + "/workflows", wf, u.token);
    EXPECT_EQ(made.status, 201) << made.text;
    if (made.status != 201) return {};
    auto id = made.str("id");
    EXPECT_EQ(call("POST", "/workspaces/" + ws + "/workflows/" + id + "/activate", "", u.token).status, 200);
    auto r = send("POST", "/workspaces/" + ws + "/workflows/" + id + "/run", {{"lead", json::object{{"email", email}}}}, u.token);
    EXPECT_EQ(r.status, 202) << r.text;
    std::string lead_id;
    EXPECT_TRUE(eventually([&] {
      lead_id = one("SELECT id FROM leads WHERE workspace_id = '" + ws + "' AND email = '" + email + "'");
      return !lead_id.empty();
    }));
    return lead_id;
  }

  // Calendly's delivery to the workspace's URL, signed now under `key`.
  http_reply deliver(const std::string& ws, const std::string& body, const std::string& key) {
    return http_request(node->port, "POST", "/integrations/calendly/webhook/" + ws, body,
                        {{"Content-Type", "application/json"},
                         {"Calendly-Webhook-Signature", crypto::calendly_signature_header(key, now_s(), body)}});
  }
  static std::string outcome(const http_reply& r) {
    if (r.status != 200) return "HTTP " + std::to_string(r.status) + ": " + r.body;
    return std::string(json::parse(r.body).at("outcome").as_string());
  }

  // The subscription the fake holds for the workspace's URL.
  std::optional<fake_oauth_provider::calendly_subscription> subscription_of(const std::string& ws) {
    for (const auto& s : calendly.subscriptions())
      if (s.url.ends_with("/integrations/calendly/webhook/" + ws)) return s;
    return std::nullopt;
  }

  // No token the fake gave, no signing key, no client secret in the table or the node's log.
  void expect_nothing_plain() {
    auto rows = one("SELECT COALESCE(json_agg(o)::text, '') FROM oauth_credentials o");
    auto log = node->process->log();
    std::vector<std::string> secrets = calendly.access_tokens();
    for (const auto& [t, ok] : calendly.refresh_tokens()) secrets.push_back(t);
    for (const auto& s : calendly.subscriptions()) secrets.push_back(s.signing_key);
    secrets.push_back("NEVER-LOGGED");
    secrets.push_back(k_node_key);
    for (const auto& s : secrets) {
      EXPECT_EQ(rows.find(s), std::string::npos) << s << " in oauth_credentials";
      EXPECT_EQ(log.find(s), std::string::npos) << s << " in the node's log";
    }
  }
};

TEST_F(calendly_oauth_e2etest, a_connect_subscribes_the_workspace_and_only_its_own_key_books_its_leads) {
  start(/*node_key=*/true);
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto other_owner = new_user("other");
  auto other = workspace(other_owner);
  ASSERT_FALSE(ws.empty());
  ASSERT_FALSE(other.empty());
  const std::string email = unique_name("ada") + "@example.com";
  auto lead_id = lead(ws, owner, email);
  ASSERT_FALSE(lead_id.empty());

  auto r = callback(ws, owner);
  ASSERT_EQ(r.status, 200) << r.text << "\n" << node->process->log();
  EXPECT_EQ(r.str("provider"), "CALENDLY");
  EXPECT_EQ(r.body.at("active"), true);
  EXPECT_EQ(r.str("webhookUrl"), "http://127.0.0.1:" + std::to_string(node->port) + "/integrations/calendly/webhook/" + ws);
  auto exchange = calendly.last_token_request();
  EXPECT_EQ(exchange["grant_type"], "authorization_code");
  EXPECT_FALSE(exchange["code_verifier"].empty()) << "PKCE: the fake checked it against the S256 challenge";
  EXPECT_EQ(one("SELECT provider_user_id FROM oauth_credentials WHERE workspace_id = '" + ws + "'"), calendly.owner_uri());

  // The workspace's subscription at Calendly: its URL, invitee.created, the token's user and
  // organization, a signing key of the node's choosing, made with the connect's access token.
  auto sub = subscription_of(ws);
  ASSERT_TRUE(sub) << node->process->log();
  EXPECT_EQ(sub->url, r.str("webhookUrl"));
  EXPECT_EQ(sub->events, std::vector<std::string>{"invitee.created"});
  EXPECT_EQ(sub->scope, "user");
  EXPECT_EQ(sub->user, calendly.owner_uri());
  EXPECT_EQ(sub->organization, calendly.organization_uri());
  EXPECT_GE(sub->signing_key.size(), 32u);
  EXPECT_EQ(sub->access_token, calendly.access_tokens().front());
  EXPECT_EQ(one("SELECT metadata->>'webhookSubscription' FROM oauth_credentials WHERE workspace_id = '" + ws + "'"), sub->uri);

  // The other workspace connects the same Calendly account: a subscription and a key of its own.
  ASSERT_EQ(callback(other, other_owner).status, 200);
  auto other_sub = subscription_of(other);
  ASSERT_TRUE(other_sub);
  EXPECT_NE(other_sub->signing_key, sub->signing_key);

  // Signed with the node's key, or with the other workspace's: refused, nothing changes.
  auto by_node = deliver(ws, invitee_created(email), k_node_key);
  EXPECT_EQ(by_node.status, 400) << by_node.body;
  EXPECT_NE(by_node.body.find("invalid_signature"), std::string::npos) << by_node.body;
  auto by_other = deliver(ws, invitee_created(email), other_sub->signing_key);
  EXPECT_EQ(by_other.status, 400) << by_other.body;
  EXPECT_EQ(one("SELECT status FROM leads WHERE id = '" + lead_id + "'"), "NEW");
  EXPECT_EQ(one("SELECT count(*) FROM lead_events WHERE lead_id = '" + lead_id + "' AND event_type = 'STATUS_CHANGED'"), "0");

  // Signed with its own key: the lead is BOOKED, with a lead event saying Calendly did it.
  auto body = invitee_created(email);
  EXPECT_EQ(outcome(deliver(ws, body, sub->signing_key)), "booked");
  EXPECT_EQ(one("SELECT status FROM leads WHERE id = '" + lead_id + "'"), "BOOKED");
  EXPECT_EQ(one("SELECT metadata->>'source' FROM lead_events WHERE lead_id = '" + lead_id + "' AND event_type = 'STATUS_CHANGED'"),
            "CALENDLY");
  EXPECT_EQ(outcome(deliver(ws, body, sub->signing_key)), "duplicate");

  // A workspace without a Calendly connection still takes the node's key (existing setups).
  const std::string email2 = unique_name("bob") + "@example.com";
  auto plain_owner = new_user("plain");
  auto plain = workspace(plain_owner);
  auto lead2 = lead(plain, plain_owner, email2);
  ASSERT_FALSE(lead2.empty());
  EXPECT_EQ(deliver(plain, invitee_created(email2), sub->signing_key).status, 400) << "a workspace's key is no good elsewhere";
  EXPECT_EQ(outcome(deliver(plain, invitee_created(email2), k_node_key)), "booked");
  expect_nothing_plain();
}

TEST_F(calendly_oauth_e2etest, a_disconnect_deletes_the_subscription_and_forgets_the_key_so_a_reconnect_gets_a_fresh_one) {
  start(/*node_key=*/false);
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  const std::string email = unique_name("cy") + "@example.com";
  auto lead_id = lead(ws, owner, email);
  ASSERT_FALSE(lead_id.empty());

  // Without a connection and without a node key, nothing can verify: the route answers 404.
  EXPECT_EQ(deliver(ws, invitee_created(email), "anything").status, 404);

  ASSERT_EQ(callback(ws, owner).status, 200) << node->process->log();
  auto sub = subscription_of(ws);
  ASSERT_TRUE(sub);
  auto listed = call("GET", "/workspaces/" + ws + "/integrations", "", owner.token);
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(listed.data().size(), 1u);
  EXPECT_EQ(listed.data()[0].at("provider"), "CALENDLY");
  EXPECT_EQ(send("PUT", "/workspaces/" + ws + "/integrations/email-sender", {{"provider", "calendly"}}, owner.token).status, 422)
      << "Calendly sends no email";

  auto gone = call("DELETE", "/workspaces/" + ws + "/integrations/calendly", "", owner.token);
  ASSERT_EQ(gone.status, 204) << gone.text;
  // The subscription was deleted at Calendly, with the connect's token, before the key was forgotten.
  EXPECT_EQ(calendly.subscription_deletes(), std::vector<std::string>{sub->uri});
  EXPECT_FALSE(subscription_of(ws)) << node->process->log();
  EXPECT_EQ(one("SELECT access_token || '|' || COALESCE(refresh_token, 'NULL') || '|' || metadata::text || '|' || "
                "(deleted_at IS NOT NULL)::text FROM oauth_credentials WHERE workspace_id = '" + ws + "'"),
            "|NULL|{}|true");
  auto log = node->process->log();
  EXPECT_NE(log.find("Calendly webhook subscription " + sub->uri + " deleted"), std::string::npos) << log;
  EXPECT_EQ(log.find("left at Calendly"), std::string::npos) << log;
  // The forgotten key no longer opens the route; nothing moved.
  EXPECT_EQ(deliver(ws, invitee_created(email), sub->signing_key).status, 404);
  EXPECT_EQ(one("SELECT status FROM leads WHERE id = '" + lead_id + "'"), "NEW");
  EXPECT_EQ(call("DELETE", "/workspaces/" + ws + "/integrations/calendly", "", owner.token).status, 404);
  EXPECT_EQ(calendly.subscription_deletes().size(), 1u) << "nothing connected: nothing to delete";

  // A reconnect makes a new subscription with a fresh key; the old key stays refused.
  auto again = callback(ws, owner);
  ASSERT_EQ(again.status, 200) << again.text << "\n" << node->process->log();
  auto fresh = subscription_of(ws);
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->uri, sub->uri);
  EXPECT_NE(fresh->signing_key, sub->signing_key);
  EXPECT_GE(fresh->signing_key.size(), 32u);
  EXPECT_EQ(one("SELECT metadata->>'webhookSubscription' FROM oauth_credentials WHERE workspace_id = '" + ws + "'"), fresh->uri);
  EXPECT_EQ(deliver(ws, invitee_created(email), sub->signing_key).status, 400);
  EXPECT_EQ(outcome(deliver(ws, invitee_created(email), fresh->signing_key)), "booked");
  expect_nothing_plain();
}

TEST_F(calendly_oauth_e2etest, a_subscription_calendly_will_not_delete_is_logged_and_the_disconnect_still_completes) {
  start(/*node_key=*/false);
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  const std::string email = unique_name("eve") + "@example.com";
  auto lead_id = lead(ws, owner, email);
  ASSERT_FALSE(lead_id.empty());
  ASSERT_EQ(callback(ws, owner).status, 200) << node->process->log();
  auto sub = subscription_of(ws);
  ASSERT_TRUE(sub);

  calendly.set_refuse_subscription_deletes(true);  // Calendly answers 503
  auto gone = call("DELETE", "/workspaces/" + ws + "/integrations/calendly", "", owner.token);
  ASSERT_EQ(gone.status, 204) << gone.text;
  EXPECT_EQ(calendly.subscription_deletes(), std::vector<std::string>{sub->uri}) << "the delete was tried";
  EXPECT_EQ(one("SELECT metadata::text || '|' || (deleted_at IS NOT NULL)::text FROM oauth_credentials WHERE workspace_id = '" + ws + "'"),
            "{}|true");
  auto log = node->process->log();
  EXPECT_NE(log.find("Calendly webhook subscription " + sub->uri + " could not be deleted"), std::string::npos) << log;
  EXPECT_NE(log.find("left at Calendly"), std::string::npos) << "the subscription left behind is named";
  EXPECT_EQ(deliver(ws, invitee_created(email), sub->signing_key).status, 404);
  EXPECT_EQ(one("SELECT status FROM leads WHERE id = '" + lead_id + "'"), "NEW");

  // The subscription is still at Calendly: a reconnect is refused with 409 naming what to do,
  // and stores nothing.
  ASSERT_EQ(calendly.subscriptions().size(), 1u);
  auto again = callback(ws, owner);
  EXPECT_EQ(again.status, 409) << again.text;
  EXPECT_EQ(again.error_code(), "webhook_exists");
  EXPECT_NE(again.error_message().find("delete it in Calendly"), std::string::npos) << again.text;
  EXPECT_EQ(one("SELECT (deleted_at IS NOT NULL)::text FROM oauth_credentials WHERE workspace_id = '" + ws + "'"), "true");
  expect_nothing_plain();
}

TEST_F(calendly_oauth_e2etest, the_refresh_job_renews_the_token_and_a_revoked_grant_goes_inactive_and_tells_the_owner) {
  // Tokens good for 5 minutes: within the refresh window (600 s) at once.
  start(/*node_key=*/true, /*expires_in_s=*/300);
  calendly.set_rotate_refresh_tokens(true);
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  const std::string email = unique_name("dee") + "@example.com";
  auto lead_id = lead(ws, owner, email);
  ASSERT_FALSE(lead_id.empty());
  ASSERT_EQ(callback(ws, owner).status, 200) << node->process->log();
  auto sub = subscription_of(ws);
  ASSERT_TRUE(sub);

  ASSERT_TRUE(eventually([&] { return calendly.refreshes() >= 1; })) << node->process->log();
  EXPECT_EQ(calendly.last_token_request()["grant_type"], "refresh_token");
  EXPECT_EQ(calendly.last_token_request()["client_id"], "cal-client");

  // Revoked at Calendly: the next refresh gets invalid_grant; inactive, and the owner is told.
  calendly.revoke_all();
  ASSERT_TRUE(eventually([&] { return one("SELECT is_active::text FROM oauth_credentials WHERE workspace_id = '" + ws + "'") == "false"; }))
      << node->process->log();
  EXPECT_EQ(one("SELECT inactive_reason FROM oauth_credentials WHERE workspace_id = '" + ws + "'"), "invalid_grant");
  EXPECT_FALSE(mailed_match(owner.email, std::regex("(can no longer reach the Calendly account)")).empty());

  // An inactive credential's key is not used: the node's key applies to the workspace again.
  EXPECT_EQ(deliver(ws, invitee_created(email), sub->signing_key).status, 400);
  EXPECT_EQ(outcome(deliver(ws, invitee_created(email), k_node_key)), "booked");
  expect_nothing_plain();
}

}  // namespace
}  // namespace flowtrack::test
