// Google and Outlook integrations against a running node (issue #16 item 4), the providers played
// by tests/support/fake_oauth_provider.hpp on local ports: the connect flow (authorization URL with
// PKCE, the browser's redirect, the callback's code exchange), a workflow's email sent through the
// Gmail API or Microsoft Graph when the workspace chooses it and through SMTP otherwise, the
// refresh job renewing a token before it expires, a revoked grant making the credential inactive
// and the owner told at the SMTP sink, a refresh racing a send (one refresh at the provider, the
// rotated refresh token kept, the send made), and a disconnect (revoked at the provider, tokens
// wiped, later emails through SMTP). Tokens never appear plain in the table or the node's log.
#include <gtest/gtest.h>

#include <unistd.h>

#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "crypto/secret_box.hpp"
#include "tests/support/api_session.hpp"
#include "tests/support/fake_oauth_provider.hpp"
#include "tests/support/own_redis.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string k_jwt_key_hex = "3f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a6978";
const std::string k_encryption_key = "b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const std::string k_redirect = "https://app.example.com/integrations/callback";

scratch_database& database() {
  static scratch_database db("ft_oauth_e2e");
  return db;
}

json::object graph_node(const std::string& id, const std::string& type, json::object data = {}) {
  return {{"id", id}, {"type", type}, {"position", {{"x", 0}, {"y", 0}}}, {"data", std::move(data)}};
}

json::object emailing_workflow() {
  return {{"name", "Welcome"},
          {"nodes", json::array{graph_node("start", "TRIGGER_MANUAL"),
                                graph_node("mail", "ACTION_SEND_EMAIL", {{"emailSubject", "Welcome aboard"}, {"emailBody", "Hello from FlowTrack"}}),
                                graph_node("end", "LOGIC_END")}},
          {"edges", json::array{json::object{{"id", "e1"}, {"source", "start"}, {"target", "mail"}},
                                json::object{{"id", "e2"}, {"source", "mail"}, {"target", "end"}}}}};
}

class integrations_e2etest : public api_session {
 protected:
  own_redis redis;
  fake_oauth_provider google{"g-client", "g-secret-NEVER-LOGGED", "ada@gmail.example"};
  fake_oauth_provider microsoft{"ms-client", "ms-secret-NEVER-LOGGED", "ada@outlook.example"};

  void SetUp() override {
    ASSERT_TRUE(use_database(database()));
    start_node({{"FLOWTRACK_JWT_KEY", k_jwt_key_hex},
                {"FLOWTRACK_ENCRYPTION_KEY", k_encryption_key},
                {"FLOWTRACK_REDIS_URL", redis.url()},
                {"FLOWTRACK_LOG_LEVEL", "debug"},
                {"FLOWTRACK_GOOGLE_OAUTH_CLIENT_ID", "g-client"},
                {"FLOWTRACK_GOOGLE_OAUTH_CLIENT_SECRET", "g-secret-NEVER-LOGGED"},
                {"FLOWTRACK_GOOGLE_OAUTH_AUTHORIZE_URL", google.authorize_url()},
                {"FLOWTRACK_GOOGLE_OAUTH_TOKEN_URL", google.token_url()},
                {"FLOWTRACK_GOOGLE_USERINFO_URL", google.userinfo_url()},
                {"FLOWTRACK_GOOGLE_OAUTH_REVOKE_URL", google.revoke_url()},
                {"FLOWTRACK_GMAIL_API_URL", google.gmail_url()},
                {"FLOWTRACK_MICROSOFT_OAUTH_CLIENT_ID", "ms-client"},
                {"FLOWTRACK_MICROSOFT_OAUTH_CLIENT_SECRET", "ms-secret-NEVER-LOGGED"},
                {"FLOWTRACK_MICROSOFT_OAUTH_AUTHORIZE_URL", microsoft.authorize_url()},
                {"FLOWTRACK_MICROSOFT_OAUTH_TOKEN_URL", microsoft.token_url()},
                {"FLOWTRACK_MICROSOFT_USERINFO_URL", microsoft.userinfo_url()},
                {"FLOWTRACK_MICROSOFT_GRAPH_URL", microsoft.graph_url()},
                {"FLOWTRACK_OAUTH_REFRESH_INTERVAL_S", "1"}});
  }
  void TearDown() override { node.reset(); }  // the node stops before its Redis and the fakes

  std::string workspace(const api_user& owner) {
    static int made = 0;
    auto slug = "oa-" + std::to_string(::getpid()) + "-" + std::to_string(++made);
    auto r = send("POST", "/workspaces", {{"name", "Acme"}, {"slug", slug}}, owner.token);
    EXPECT_EQ(r.status, 201) << r.text;
    return r.status == 201 ? r.str("id") : "";
  }

  // POST .../connect; the browser's visit to the authorization URL at the fake (a 302 back to the
  // redirect URI); the code and state it carries.
  std::pair<std::string, std::string> authorize(const std::string& ws, const api_user& u, const std::string& provider,
                                                fake_oauth_provider& fake) {
    auto c = send("POST", "/workspaces/" + ws + "/integrations/" + provider + "/connect", {{"redirectUri", k_redirect}}, u.token);
    EXPECT_EQ(c.status, 201) << c.text;
    if (c.status != 201) return {};
    auto url = c.str("authorizationUrl");
    EXPECT_EQ(url.rfind(fake.authorize_url() + "?", 0), 0u) << url;
    auto visit = http_request(fake.port(), "GET", url.substr(fake.base().size()));
    EXPECT_EQ(visit.status, 302) << visit.body;
    auto location = visit.headers["location"];
    EXPECT_EQ(location.rfind(k_redirect + "?", 0), 0u) << location;
    auto back = fake_oauth_provider::decode_form(location.substr(location.find('?') + 1));
    EXPECT_EQ(back["state"], c.str("state"));
    EXPECT_EQ(fake.last_authorize()["code_challenge_method"], "S256");
    return {back["code"], back["state"]};
  }

  // The whole connect flow; the integration as the callback answers it.
  api_reply connect_account(const std::string& ws, const api_user& u, const std::string& provider, fake_oauth_provider& fake) {
    auto [code, state] = authorize(ws, u, provider, fake);
    auto r = send("POST", "/workspaces/" + ws + "/integrations/" + provider + "/callback", {{"code", code}, {"state", state}}, u.token);
    EXPECT_EQ(r.status, 200) << r.text << "\n" << node->process->log();
    return r;
  }

  std::string emailing_workflow_of(const std::string& ws, const api_user& u) {
    auto r = send("POST", "/workspaces/" + ws + "/workflows", emailing_workflow(), u.token);
    EXPECT_EQ(r.status, 201) << r.text;
    auto id = r.status == 201 ? r.str("id") : "";
    EXPECT_EQ(call("POST", "/workspaces/" + ws + "/workflows/" + id + "/activate", "", u.token).status, 200);
    return id;
  }

  // Runs the workflow for a lead; waits for the execution to end in `status`.
  void run_for(const std::string& ws, const api_user& u, const std::string& wf, const std::string& lead_email,
               const std::string& status = "completed") {
    auto r = send("POST", "/workspaces/" + ws + "/workflows/" + wf + "/run", {{"lead", json::object{{"email", lead_email}}}}, u.token);
    ASSERT_EQ(r.status, 202) << r.text;
    auto ex = r.str("executionId");
    api_reply last;
    bool ok = eventually([&] {
      last = call("GET", "/workspaces/" + ws + "/executions/" + ex, "", u.token);
      return last.status == 200 && last.body.at("execution").at("status").as_string() == status;
    });
    EXPECT_TRUE(ok) << "execution " << ex << " never became " << status << ": " << last.text << "\n" << node->process->log();
  }

  std::string one(const std::string& sql) {
    auto c = column(sql);
    return c.empty() ? "" : c.front();
  }

  // No token the fake gave, nor a client secret, in the credential rows or the node's log.
  void expect_no_plain_token(const fake_oauth_provider& fake) {
    auto rows = one("SELECT COALESCE(json_agg(o)::text, '') FROM oauth_credentials o");
    auto log = node->process->log();
    std::vector<std::string> secrets = fake.access_tokens();
    for (const auto& [t, ok] : fake.refresh_tokens()) secrets.push_back(t);
    secrets.push_back("NEVER-LOGGED");
    for (const auto& s : secrets) {
      EXPECT_EQ(rows.find(s), std::string::npos) << s << " in oauth_credentials";
      EXPECT_EQ(log.find(s), std::string::npos) << s << " in the node's log";
    }
  }
};

TEST_F(integrations_e2etest, google_connect_sends_through_gmail_refreshes_before_expiry_and_a_revoked_grant_tells_the_owner) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = emailing_workflow_of(ws, owner);

  auto refused = send("PUT", "/workspaces/" + ws + "/integrations/email-sender", {{"provider", "google"}}, owner.token);
  EXPECT_EQ(refused.status, 409) << refused.text;
  EXPECT_EQ(refused.error_field(), "provider");

  auto g = connect_account(ws, owner, "google", google);
  EXPECT_EQ(g.str("provider"), "GOOGLE_EMAIL");
  EXPECT_EQ(g.str("email"), "ada@gmail.example");
  EXPECT_EQ(g.body.at("connected"), true);
  EXPECT_FALSE(g.body.as_object().contains("accessToken"));
  EXPECT_EQ(google.last_token_request()["grant_type"], "authorization_code");
  EXPECT_FALSE(google.last_token_request()["code_verifier"].empty());
  auto list = call("GET", "/workspaces/" + ws + "/integrations", "", owner.token);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.data().size(), 1u);
  EXPECT_EQ(list.data()[0].at("provider"), "GOOGLE_EMAIL");

  auto chosen = send("PUT", "/workspaces/" + ws + "/integrations/email-sender", {{"provider", "google"}}, owner.token);
  ASSERT_EQ(chosen.status, 200) << chosen.text;
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/integrations/email-sender", "", owner.token).str("provider"), "google");

  // A workflow's email goes through Gmail with the account's token, not to the SMTP relay.
  run_for(ws, owner, wf, "lead1@example.com");
  ASSERT_TRUE(eventually([&] { return google.sent().size() == 1; })) << node->process->log();
  auto sent = google.sent().front();
  EXPECT_EQ(sent.access_token, google.access_tokens().back());
  EXPECT_NE(sent.raw.find("To: lead1@example.com"), std::string::npos) << sent.raw;
  EXPECT_NE(sent.raw.find("Subject: Welcome aboard"), std::string::npos) << sent.raw;
  EXPECT_NE(sent.raw.find("ada@gmail.example"), std::string::npos) << "From is the connected account";
  EXPECT_NE(sent.raw.find("Message-ID: <"), std::string::npos);
  for (const auto& m : sink.messages()) EXPECT_EQ(m.header("to").find("lead1@example.com"), std::string::npos) << "sent by SMTP too";
  EXPECT_TRUE(eventually([&] { return one("SELECT (last_used_at IS NOT NULL)::text FROM oauth_credentials WHERE workspace_id = '" + ws + "'") == "true"; }));

  // The job refreshes a token about to expire (within 10 minutes).
  column("UPDATE oauth_credentials SET expires_at = now() + interval '2 minutes' WHERE workspace_id = '" + ws + "' RETURNING 1");
  ASSERT_TRUE(eventually([&] { return google.refreshes() == 1; })) << node->process->log();
  EXPECT_TRUE(eventually([&] { return one("SELECT (expires_at > now() + interval '30 minutes')::text FROM oauth_credentials WHERE workspace_id = '" + ws + "'") == "true"; }));
  EXPECT_EQ(google.last_token_request()["grant_type"], "refresh_token");

  // The grant is revoked at Google: the next refresh gets invalid_grant, the credential goes
  // inactive and the owner hears of it at the SMTP sink.
  google.revoke_all();
  column("UPDATE oauth_credentials SET expires_at = now() + interval '1 minute' WHERE workspace_id = '" + ws + "' RETURNING 1");
  ASSERT_TRUE(eventually([&] { return one("SELECT is_active::text FROM oauth_credentials WHERE workspace_id = '" + ws + "'") == "false"; })) << node->process->log();
  EXPECT_EQ(one("SELECT inactive_reason FROM oauth_credentials WHERE workspace_id = '" + ws + "'"), "invalid_grant");
  EXPECT_FALSE(mailed_match(owner.email, std::regex("(no longer send email through the Google account)")).empty());
  EXPECT_NE(node->process->log().find("no longer grants access"), std::string::npos);
  auto after = call("GET", "/workspaces/" + ws + "/integrations", "", owner.token);
  EXPECT_EQ(after.data()[0].at("active"), false);

  // A later email is not sent (the account no longer works) and the run says so.
  run_for(ws, owner, wf, "lead2@example.com", "failed");
  EXPECT_EQ(google.sent().size(), 1u);
  expect_no_plain_token(google);
}

TEST_F(integrations_e2etest, outlook_connect_sends_through_graph_and_bad_states_and_codes_name_the_field) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = emailing_workflow_of(ws, owner);
  const std::string base = "/workspaces/" + ws + "/integrations/";

  EXPECT_EQ(send("POST", base + "calendly/connect", {{"redirectUri", k_redirect}}, owner.token).status, 404);
  EXPECT_EQ(send("POST", base + "outlook/connect", {{"redirectUri", "not a url"}}, owner.token).error_field(), "redirectUri");
  auto [code, state] = authorize(ws, owner, "outlook", microsoft);
  auto bad_state = send("POST", base + "outlook/callback", {{"code", code}, {"state", state + "x"}}, owner.token);
  EXPECT_EQ(bad_state.status, 422) << bad_state.text;
  EXPECT_EQ(bad_state.error_field(), "state");
  auto bad_code = send("POST", base + "outlook/callback", {{"code", code + "x"}, {"state", state}}, owner.token);
  EXPECT_EQ(bad_code.status, 422) << bad_code.text;
  EXPECT_EQ(bad_code.error_field(), "code");
  EXPECT_EQ(bad_code.error_code(), "invalid_grant");
  auto reused = send("POST", base + "outlook/callback", {{"code", code}, {"state", state}}, owner.token);
  EXPECT_EQ(reused.error_field(), "state") << "a state is taken once";

  auto o = connect_account(ws, owner, "outlook", microsoft);
  EXPECT_EQ(o.str("provider"), "OUTLOOK_EMAIL");
  EXPECT_EQ(o.str("email"), "ada@outlook.example");
  ASSERT_EQ(send("PUT", base + "email-sender", {{"provider", "outlook"}}, owner.token).status, 200);
  run_for(ws, owner, wf, "lead@example.com");
  ASSERT_TRUE(eventually([&] { return microsoft.sent().size() == 1; })) << node->process->log();
  auto graph_sent = microsoft.sent();
  const auto& msg = graph_sent.front().graph.at("message");
  EXPECT_EQ(msg.at("subject"), "Welcome aboard");
  EXPECT_EQ(msg.at("toRecipients").at(0).at("emailAddress").at("address"), "lead@example.com");
  EXPECT_EQ(msg.at("body").at("contentType").as_string().empty(), false);
  EXPECT_EQ(msg.at("internetMessageHeaders").at(0).at("name"), "X-FlowTrack-Message-Id");
  EXPECT_EQ(microsoft.sent().front().access_token, microsoft.access_tokens().back());

  // A 401 (the token died early at Microsoft) refreshes once and sends again.
  microsoft.expire_access_tokens();
  run_for(ws, owner, wf, "lead-again@example.com");
  ASSERT_TRUE(eventually([&] { return microsoft.sent().size() == 2; })) << node->process->log();
  EXPECT_EQ(microsoft.refreshes(), 1);
  EXPECT_EQ(microsoft.sent().back().access_token, microsoft.access_tokens().back());
  expect_no_plain_token(microsoft);
}

TEST_F(integrations_e2etest, a_refresh_racing_a_send_refreshes_once_keeps_the_rotated_token_and_sends) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = emailing_workflow_of(ws, owner);
  google.set_rotate_refresh_tokens(true);
  connect_account(ws, owner, "google", google);
  ASSERT_EQ(send("PUT", "/workspaces/" + ws + "/integrations/email-sender", {{"provider", "google"}}, owner.token).status, 200);

  // Expired: the job (every second) and the send both find the token due.
  column("UPDATE oauth_credentials SET expires_at = now() - interval '1 minute' WHERE workspace_id = '" + ws + "' RETURNING 1");
  run_for(ws, owner, wf, "race@example.com");
  ASSERT_TRUE(eventually([&] { return google.sent().size() == 1; })) << node->process->log();
  EXPECT_EQ(google.refreshes(), 1) << "one refresh at the provider";
  EXPECT_EQ(google.sent().front().access_token, google.access_tokens().back()) << "sent with the refreshed token";
  // The refresh token stored is the rotated one (the only one that still works at the provider).
  std::string live;
  for (const auto& [t, ok] : google.refresh_tokens())
    if (ok) live = t;
  auto ring = *crypto::keyring::from_hex(k_encryption_key);
  auto row = column("SELECT id::text || ' ' || workspace_id::text || ' ' || refresh_token FROM oauth_credentials WHERE workspace_id = '" +
                    ws + "'");
  ASSERT_EQ(row.size(), 1u);
  std::istringstream in(row[0]);
  std::string id, wsid, sealed;
  in >> id >> wsid >> sealed;
  auto opened = ring.open(sealed, "oauth_credentials.refresh_token:" + id + ":" + wsid);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, live);
  expect_no_plain_token(google);
}

TEST_F(integrations_e2etest, without_a_choice_email_goes_through_smtp_and_a_disconnect_revokes_wipes_and_falls_back) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = emailing_workflow_of(ws, owner);
  connect_account(ws, owner, "google", google);
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/integrations/email-sender", "", owner.token).str("provider"), "smtp");
  run_for(ws, owner, wf, "smtp-lead@example.com");
  EXPECT_FALSE(mailed_match("smtp-lead@example.com", std::regex("(Hello from FlowTrack)")).empty());
  EXPECT_TRUE(google.sent().empty()) << "connected but not chosen";

  ASSERT_EQ(send("PUT", "/workspaces/" + ws + "/integrations/email-sender", {{"provider", "google"}}, owner.token).status, 200);
  auto refresh_token = google.refresh_tokens().begin()->first;
  auto gone = call("DELETE", "/workspaces/" + ws + "/integrations/google", "", owner.token);
  ASSERT_EQ(gone.status, 204) << gone.text;
  EXPECT_EQ(google.revoked_tokens(), std::vector<std::string>{refresh_token}) << "the grant revoked at Google";
  EXPECT_EQ(one("SELECT access_token || '|' || COALESCE(refresh_token, 'NULL') || '|' || (deleted_at IS NOT NULL)::text "
                "FROM oauth_credentials WHERE workspace_id = '" + ws + "'"),
            "|NULL|true");
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/integrations", "", owner.token).data().size(), 0u);
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/integrations/email-sender", "", owner.token).str("provider"), "smtp");
  EXPECT_EQ(call("DELETE", "/workspaces/" + ws + "/integrations/google", "", owner.token).status, 404);
  run_for(ws, owner, wf, "after@example.com");
  EXPECT_FALSE(mailed_match("after@example.com", std::regex("(Hello from FlowTrack)")).empty()) << "back on SMTP";
  EXPECT_TRUE(google.sent().empty());
  expect_no_plain_token(google);
}

TEST_F(integrations_e2etest, only_owners_and_admins_manage_integrations) {
  auto owner = new_user("owner");
  auto viewer = new_user("viewer");
  auto ws = workspace(owner);
  auto inv = send("POST", "/workspaces/" + ws + "/members", {{"email", viewer.email}, {"role", "member"}}, owner.token);
  ASSERT_EQ(inv.status, 201) << inv.text;
  ASSERT_EQ(send("POST", "/invitations/accept", {{"token", mailed(viewer.email, "invitation")}}, viewer.token).status, 200);
  auto r = send("POST", "/workspaces/" + ws + "/integrations/google/connect", {{"redirectUri", k_redirect}}, viewer.token);
  EXPECT_EQ(r.status, 403) << r.text;
  EXPECT_EQ(send("PUT", "/workspaces/" + ws + "/integrations/email-sender", {{"provider", "smtp"}}, viewer.token).status, 403);
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/integrations/email-sender", "", viewer.token).status, 200) << "members read it";
  auto stranger = new_user("stranger");
  EXPECT_EQ(call("DELETE", "/workspaces/" + ws + "/integrations/google", "", stranger.token).status, 404);
}


// A node offering Google only, its token endpoint on a port where nothing listens.
class integrations_unreachable_e2etest : public api_session {
 protected:
  own_redis redis;
  fake_oauth_provider google{"g-client", "g-secret", "ada@gmail.example"};
  void SetUp() override {
    ASSERT_TRUE(use_database(database()));
    start_node({{"FLOWTRACK_JWT_KEY", k_jwt_key_hex},
                {"FLOWTRACK_ENCRYPTION_KEY", k_encryption_key},
                {"FLOWTRACK_REDIS_URL", redis.url()},
                {"FLOWTRACK_GOOGLE_OAUTH_CLIENT_ID", "g-client"},
                {"FLOWTRACK_GOOGLE_OAUTH_CLIENT_SECRET", "g-secret"},
                {"FLOWTRACK_GOOGLE_OAUTH_AUTHORIZE_URL", google.authorize_url()},
                {"FLOWTRACK_GOOGLE_OAUTH_TOKEN_URL", "http://127.0.0.1:" + std::to_string(free_port()) + "/token"}});
  }
  void TearDown() override { node.reset(); }
};

TEST_F(integrations_unreachable_e2etest, a_provider_without_a_client_is_not_offered_and_an_unreachable_one_is_a_502) {
  auto owner = new_user("owner");
  auto r = send("POST", "/workspaces", {{"name", "Acme"}, {"slug", "oa-u-" + std::to_string(::getpid())}}, owner.token);
  ASSERT_EQ(r.status, 201) << r.text;
  const std::string base = "/workspaces/" + r.str("id") + "/integrations/";
  auto outlook = send("POST", base + "outlook/connect", {{"redirectUri", k_redirect}}, owner.token);
  EXPECT_EQ(outlook.status, 404) << outlook.text;
  EXPECT_EQ(outlook.error_code(), "not_configured");
  EXPECT_NE(outlook.error_message().find("microsoft_oauth_client_id"), std::string::npos) << outlook.error_message();

  auto c = send("POST", base + "google/connect", {{"redirectUri", k_redirect}}, owner.token);
  ASSERT_EQ(c.status, 201) << c.text;
  auto cb = send("POST", base + "google/callback", {{"code", "any"}, {"state", c.str("state")}}, owner.token);
  EXPECT_EQ(cb.status, 502) << cb.text;
  EXPECT_EQ(cb.error_code(), "provider_unavailable");
  EXPECT_EQ(column("SELECT count(*)::text FROM oauth_credentials WHERE workspace_id = '" + r.str("id") + "'").at(0), "0");
}
}  // namespace
}  // namespace flowtrack::test
