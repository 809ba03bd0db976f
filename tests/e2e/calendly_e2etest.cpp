// POST /integrations/calendly/webhook/{workspace_id} against a running node (a database of this
// suite's own): the test acts as Calendly and signs each event with the node's signing key.
// Without the key the route does not exist; a signed invitee.created moves the lead a form made
// to BOOKED with a STATUS_CHANGED event; a replay, a bad, a stale and a tampered delivery change
// nothing; an email with no lead answers no_lead and an unknown workspace 404.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <optional>
#include <thread>

#include <boost/json.hpp>

#include "crypto/calendly_signature.hpp"
#include "domain/ids.hpp"
#include "tests/support/api_session.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string k_jwt_key_hex = "2e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f";
const std::string k_key = "calendly_e2e_" + std::string(32, 'q');

scratch_database& database() {
  static scratch_database db("ft_calendly_e2e");
  return db;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* k_form = R"({"name":"Contact","status":"active","settings":{"form":{"slug":"contact"}},
 "nodes":[{"id":"t","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},{"id":"e","type":"LOGIC_END","position":{"x":0,"y":1},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"e"}],
 "formFields":[{"fieldKey":"email","label":"Email","fieldType":"EMAIL","isRequired":true,"displayOrder":1}]})";

// Calendly's invitee.created body (the fields FlowTrack reads, and a few it does not).
std::string invitee_created(const std::string& email, const std::string& invitee_uri) {
  const std::string event_uri = invitee_uri.substr(0, invitee_uri.find("/invitees/"));
  return json::serialize(json::object{
      {"event", "invitee.created"},
      {"created_at", "2026-12-03T10:00:00.000000Z"},
      {"created_by", "https://api.calendly.com/users/U1"},
      {"payload", json::object{{"email", email},
                               {"name", "Ada Lovelace"},
                               {"status", "active"},
                               {"uri", invitee_uri},
                               {"scheduled_event", json::object{{"uri", event_uri},
                                                                {"name", "Intro call"},
                                                                {"start_time", "2026-12-10T15:00:00.000000Z"},
                                                                {"end_time", "2026-12-10T15:30:00.000000Z"}}},
                               {"tracking", json::object{{"utm_source", nullptr}}}}}});
}

std::string new_invitee_uri() {
  return "https://api.calendly.com/scheduled_events/" + domain::new_uuid() + "/invitees/" + domain::new_uuid();
}

class calendly_webhook_e2e : public api_session {
 protected:
  void SetUp() override { ASSERT_TRUE(use_database(database())); }

  void start(bool with_key = true) {
    node_process::settings s{{"FLOWTRACK_JWT_KEY", k_jwt_key_hex}, {"FLOWTRACK_FORM_RATE_LIMIT", "0"}};
    if (with_key) s["FLOWTRACK_CALENDLY_WEBHOOK_SIGNING_KEY"] = k_key;
    start_node(s);
  }

  // Calendly's delivery: the body signed now (or at `signed_at`) under `key`.
  http_reply deliver(const std::string& workspace_id, const std::string& body, std::optional<std::int64_t> signed_at = std::nullopt,
                     const std::string& key = k_key) {
    return http_request(node->port, "POST", "/integrations/calendly/webhook/" + workspace_id, body,
                        {{"Content-Type", "application/json; charset=utf-8"},
                         {"Calendly-Webhook-Signature", crypto::calendly_signature_header(key, signed_at.value_or(now_s()), body)}});
  }
  std::string outcome(const http_reply& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    return std::string(json::parse(r.body).at("outcome").as_string());
  }
  std::string one(const std::string& sql) {
    auto c = column(sql);
    return c.empty() ? "" : c.front();
  }

  struct tenant {
    std::string id, slug;
  };
  // A workspace made through the API with a form the node serves.
  tenant workspace() {
    tenant t;
    auto owner = new_user("owner");
    t.slug = unique_slug("cal");
    auto r = send("POST", "/workspaces", {{"name", "Calendly"}, {"slug", t.slug}}, owner.token);
    EXPECT_EQ(r.status, 201) << r.text;
    if (r.status == 201) t.id = r.str("id");
    std::string file = "/tmp/" + unique_name("calendly-wf") + ".json";
    std::ofstream(file) << k_form;
    cli("workflow import --workspace " + t.slug + " " + file);
    std::remove(file.c_str());
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (http_request(node->port, "GET", "/p/" + t.slug).status != 200 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
    return t;
  }
  // A lead made by the form; its id once committed.
  std::string lead(const tenant& t, const std::string& email) {
    auto r = http_request(node->port, "POST", "/p/" + t.slug, json::serialize(json::object{{"email", email}}),
                          {{"Content-Type", "application/json"}});
    EXPECT_LT(r.status, 300) << r.body;
    return one("SELECT id FROM leads WHERE workspace_id = '" + t.id + "' AND email = '" + email + "'");
  }
};

TEST_F(calendly_webhook_e2e, without_the_signing_key_the_route_does_not_exist) {
  start(false);
  auto body = invitee_created("a@example.com", new_invitee_uri());
  EXPECT_EQ(deliver(domain::new_uuid(), body).status, 404);
}

TEST_F(calendly_webhook_e2e, a_signed_booking_moves_the_lead_to_booked_once) {
  start();
  auto t = workspace();
  ASSERT_FALSE(t.id.empty());
  const std::string email = unique_name("ada") + "@example.com";
  auto id = lead(t, email);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(one("SELECT status FROM leads WHERE id = '" + id + "'"), "NEW");

  std::string upper = email;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const auto invitee = new_invitee_uri();
  const auto body = invitee_created(upper, invitee);

  // Forged, stale (a genuine delivery replayed 10 minutes late), tampered, unsigned: 400, nothing changes.
  auto forged = deliver(t.id, body, std::nullopt, "guessed");
  EXPECT_EQ(forged.status, 400) << forged.body;
  EXPECT_NE(forged.body.find("invalid_signature"), std::string::npos) << forged.body;
  EXPECT_EQ(deliver(t.id, body, now_s() - 600).status, 400);
  auto tampered = http_request(node->port, "POST", "/integrations/calendly/webhook/" + t.id, body + " ",
                               {{"Content-Type", "application/json"},
                                {"Calendly-Webhook-Signature", crypto::calendly_signature_header(k_key, now_s(), body)}});
  EXPECT_EQ(tampered.status, 400) << "the signature covers the raw body";
  EXPECT_EQ(http_request(node->port, "POST", "/integrations/calendly/webhook/" + t.id, body, {{"Content-Type", "application/json"}}).status,
            400);
  EXPECT_EQ(one("SELECT status FROM leads WHERE id = '" + id + "'"), "NEW");

  // The good delivery, whatever the email's case.
  EXPECT_EQ(outcome(deliver(t.id, body)), "booked");
  EXPECT_EQ(one("SELECT status FROM leads WHERE id = '" + id + "'"), "BOOKED");
  EXPECT_EQ(one("SELECT metadata->>'inviteeUri' FROM lead_events WHERE lead_id = '" + id + "' AND event_type = 'STATUS_CHANGED'"), invitee);
  // Calendly's retry of the same invitee: nothing more.
  EXPECT_EQ(outcome(deliver(t.id, body)), "duplicate");
  EXPECT_EQ(one("SELECT count(*) FROM lead_events WHERE lead_id = '" + id + "' AND event_type = 'STATUS_CHANGED'"), "1");

  // A WON lead booking again keeps WON.
  column("UPDATE leads SET status = 'WON' WHERE id = '" + id + "' RETURNING 1");
  EXPECT_EQ(outcome(deliver(t.id, invitee_created(email, new_invitee_uri()))), "kept");
  EXPECT_EQ(one("SELECT status FROM leads WHERE id = '" + id + "'"), "WON");

  // Other types, no lead, unknown workspace.
  std::string canceled = R"({"event":"invitee.canceled","payload":{"email":")" + email + R"("}})";
  EXPECT_EQ(outcome(deliver(t.id, canceled)), "ignored");
  EXPECT_EQ(outcome(deliver(t.id, invitee_created(unique_name("nobody") + "@example.com", new_invitee_uri()))), "no_lead");
  EXPECT_EQ(deliver(domain::new_uuid(), invitee_created(email, new_invitee_uri())).status, 404);
  EXPECT_EQ(node->process->log().find(k_key), std::string::npos) << "the key is never logged";
}

}  // namespace
}  // namespace flowtrack::test
