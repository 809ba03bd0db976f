// Workspaces and members over the management API (issue #13 item 3) against a running node with
// real PostgreSQL (a database of this suite's own), Redis and an SMTP sink: the workspace life
// cycle, slug and body rules naming the field, invitations through the emailed link, the role
// matrix on every route, tenant isolation (another workspace's ids give 404 and none of its
// data), the last owner and ownership transfer, security events.
//
// Nodes hash passwords with low Argon2 costs (password_hash_memory_kib, a test-only setting, as
// in api_auth_e2etest): these tests sign many users in and test no password strength.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

#include <boost/json.hpp>

#include "tests/support/api_session.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;

const std::string k_jwt_key_hex = "1f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a6978";
const std::string k_mail_domain = "in.flowtrack.test";

scratch_database& database() {
  static scratch_database db("ft_api_ws");
  return db;
}

using reply = api_reply;
using user = api_user;

class api_workspaces : public api_session {
 protected:
  void SetUp() override {
    ASSERT_TRUE(use_database(database()));
    start_node({{"FLOWTRACK_JWT_KEY", k_jwt_key_hex}, {"FLOWTRACK_MAIL_DOMAIN", k_mail_domain}});
  }

  // Unique within the suite's database, which every case of one process shares.
  std::string next_slug(const std::string& base = "acme") {
    static int made = 0;
    return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(++made);
  }

  // Creates a workspace as `owner`; its id.
  std::string workspace(const user& owner, const std::string& name = "Acme Leads") {
    auto r = send("POST", "/workspaces", {{"name", name}, {"slug", next_slug()}}, owner.token);
    EXPECT_EQ(r.status, 201) << r.text;
    return r.status == 201 ? r.str("id") : "";
  }

  // Invites `u` (through the API, as `by`) with `role` and accepts through the emailed link.
  void join(const std::string& ws, const user& by, const user& u, const std::string& role) {
    auto before = invitations_to(u.email);
    auto inv = send("POST", "/workspaces/" + ws + "/members", {{"email", u.email}, {"role", role}}, by.token);
    ASSERT_EQ(inv.status, 201) << inv.text;
    auto token = mailed(u.email, "invitation", before + 1);
    auto a = send("POST", "/invitations/accept", {{"token", token}}, u.token);
    ASSERT_EQ(a.status, 200) << a.text;
    EXPECT_EQ(a.str("role"), role);
  }
  std::size_t invitations_to(const std::string& to) {
    std::size_t n = 0;
    for (const auto& m : sink.messages())
      for (std::size_t i = 0; i < m.parts().size(); ++i)
        if (m.header("to").find(to) != std::string::npos && m.part_content(i).find("invitation=") != std::string::npos) {
          ++n;
          break;
        }
    return n;
  }

  std::string role_of(const std::string& ws, const user& asker, const std::string& user_id) {
    auto r = call("GET", "/workspaces/" + ws + "/members", "", asker.token);
    EXPECT_EQ(r.status, 200) << r.text;
    if (r.status != 200) return "";
    for (const auto& m : r.data())
      if (m.at("userId").as_string() == user_id && m.at("status").as_string() == "active") return std::string(m.at("role").as_string());
    return "none";
  }

  std::vector<std::string> security_events(const std::string& kind, const std::string& ws) {
    return column("SELECT user_id::text FROM security_events WHERE kind = '" + kind + "' AND detail->>'workspaceId' = '" + ws +
                  "' ORDER BY created_at");
  }
};

TEST_F(api_workspaces, creates_lists_reads_edits_and_soft_deletes_a_workspace) {
  auto owner = new_user("owner");
  auto slug = next_slug();
  auto made = send("POST", "/workspaces", {{"name", "Acme Leads"}, {"slug", slug}, {"timezone", "Europe/Paris"}}, owner.token);
  ASSERT_EQ(made.status, 201) << made.text;
  auto id = made.str("id");
  EXPECT_EQ(made.str("slug"), slug);
  EXPECT_EQ(made.str("name"), "Acme Leads");
  EXPECT_EQ(made.str("timezone"), "Europe/Paris");
  auto intake = column("SELECT intake_email_id FROM workspaces WHERE id = '" + id + "'");
  ASSERT_EQ(intake.size(), 1u);
  EXPECT_EQ(made.str("intakeEmail"), "intake@" + intake[0] + "." + k_mail_domain);
  EXPECT_EQ(column("SELECT p.name FROM subscriptions s JOIN subscription_plans p ON p.id = s.subscription_plan_id WHERE s.workspace_id = '" + id + "'").size(), 1u)
      << "the free plan";
  auto utc = send("POST", "/workspaces", {{"name", "Second"}, {"slug", next_slug()}}, owner.token);
  ASSERT_EQ(utc.status, 201) << utc.text;
  EXPECT_EQ(utc.str("timezone"), "UTC");

  auto list = call("GET", "/workspaces", "", owner.token);
  ASSERT_EQ(list.status, 200) << list.text;
  ASSERT_EQ(list.data().size(), 2u);
  EXPECT_TRUE(list.body.at("nextCursor").is_null());
  for (const auto& w : list.data()) EXPECT_EQ(w.at("role").as_string(), "owner");

  auto one = call("GET", "/workspaces/" + id, "", owner.token);
  ASSERT_EQ(one.status, 200) << one.text;
  EXPECT_EQ(one.str("role"), "owner");
  EXPECT_EQ(one.str("intakeEmail"), made.str("intakeEmail"));

  auto patched = call("PATCH", "/workspaces/" + id, R"({"name":"Acme Sales","timezone":"America/New_York","settings":{"brand":"blue"}})",
                      owner.token);
  ASSERT_EQ(patched.status, 200) << patched.text;
  EXPECT_EQ(patched.str("name"), "Acme Sales");
  EXPECT_EQ(patched.str("timezone"), "America/New_York");
  EXPECT_EQ(patched.body.at("settings").at("brand").as_string(), "blue");
  EXPECT_EQ(patched.str("slug"), slug) << "the slug stays";
  auto bad_zone = call("PATCH", "/workspaces/" + id, R"({"timezone":"Mars/Olympus"})", owner.token);
  EXPECT_EQ(bad_zone.status, 422) << bad_zone.text;
  EXPECT_EQ(bad_zone.error_field(), "timezone");
  auto bad_settings = call("PATCH", "/workspaces/" + id, R"({"settings":[1]})", owner.token);
  EXPECT_EQ(bad_settings.status, 422);
  EXPECT_EQ(bad_settings.error_field(), "settings");
  auto slug_edit = call("PATCH", "/workspaces/" + id, R"({"slug":"other-slug"})", owner.token);
  EXPECT_EQ(slug_edit.status, 422);
  EXPECT_EQ(slug_edit.error_field(), "slug");
  EXPECT_EQ(call("GET", "/workspaces/" + id, "", owner.token).str("name"), "Acme Sales");

  auto gone = call("DELETE", "/workspaces/" + id, "", owner.token);
  EXPECT_EQ(gone.status, 204) << gone.text;
  EXPECT_EQ(call("GET", "/workspaces/" + id, "", owner.token).status, 404);
  EXPECT_EQ(call("DELETE", "/workspaces/" + id, "", owner.token).status, 404);
  auto after = call("GET", "/workspaces", "", owner.token);
  ASSERT_EQ(after.data().size(), 1u);
  EXPECT_EQ(after.data()[0].at("id").as_string(), utc.str("id"));
  EXPECT_EQ(column("SELECT deleted_at IS NOT NULL FROM workspaces WHERE id = '" + id + "'"), std::vector<std::string>{"t"}) << "soft";
  EXPECT_EQ(security_events("workspace_deleted", id), std::vector<std::string>{owner.id});
  EXPECT_EQ(call("GET", "/workspaces").status, 401) << "signed in only";
}

TEST_F(api_workspaces, refuses_taken_and_malformed_slugs_and_bad_bodies_naming_the_field) {
  auto a = new_user("a");
  auto b = new_user("b");
  auto slug = next_slug();
  ASSERT_EQ(send("POST", "/workspaces", {{"name", "First"}, {"slug", slug}}, a.token).status, 201);
  auto taken = send("POST", "/workspaces", {{"name", "Copy"}, {"slug", slug}}, b.token);
  EXPECT_EQ(taken.status, 409) << taken.text;
  EXPECT_EQ(taken.error_field(), "slug");
  for (const std::string& bad : std::vector<std::string>{"Upper-Case", "ab", "-edge", "edge-", "under_score", "api", std::string(51, 'a')}) {
    auto r = send("POST", "/workspaces", {{"name", "X"}, {"slug", bad}}, a.token);
    EXPECT_EQ(r.status, 422) << bad << ": " << r.text;
    EXPECT_EQ(r.error_field(), "slug") << bad;
  }
  auto no_name = send("POST", "/workspaces", {{"slug", next_slug()}}, a.token);
  EXPECT_EQ(no_name.status, 422);
  EXPECT_EQ(no_name.error_field(), "name");
  auto blank = send("POST", "/workspaces", {{"name", "   "}, {"slug", next_slug()}}, a.token);
  EXPECT_EQ(blank.status, 422);
  EXPECT_EQ(blank.error_field(), "name");
  auto zone = send("POST", "/workspaces", {{"name", "Z"}, {"slug", next_slug()}, {"timezone", "Nowhere/City"}}, a.token);
  EXPECT_EQ(zone.status, 422);
  EXPECT_EQ(zone.error_field(), "timezone");
  auto extra = send("POST", "/workspaces", {{"name", "Z"}, {"slug", next_slug()}, {"plan", "pro"}}, a.token);
  EXPECT_EQ(extra.status, 422);
  EXPECT_EQ(extra.error_field(), "plan");
  auto typed = call("POST", "/workspaces", R"({"name":"Z","slug":7})", a.token);
  EXPECT_EQ(typed.status, 422);
  EXPECT_EQ(typed.error_field(), "slug");
  EXPECT_EQ(call("GET", "/workspaces", "", b.token).data().size(), 0u) << "nothing made by a refused request";

  auto ws = workspace(a);
  auto role = send("POST", "/workspaces/" + ws + "/members", {{"email", b.email}, {"role", "boss"}}, a.token);
  EXPECT_EQ(role.status, 422);
  EXPECT_EQ(role.error_field(), "role");
  auto owner_role = send("POST", "/workspaces/" + ws + "/members", {{"email", b.email}, {"role", "owner"}}, a.token);
  EXPECT_EQ(owner_role.status, 422) << "ownership moves by transfer: " << owner_role.text;
  EXPECT_EQ(owner_role.error_field(), "role");
  auto email = send("POST", "/workspaces/" + ws + "/members", {{"email", "not-an-email"}, {"role", "member"}}, a.token);
  EXPECT_EQ(email.status, 422);
  EXPECT_EQ(email.error_field(), "email");
  auto self = send("POST", "/workspaces/" + ws + "/members", {{"email", a.email}, {"role", "member"}}, a.token);
  EXPECT_EQ(self.status, 409) << "already a member: " << self.text;
  EXPECT_EQ(self.error_field(), "email");
  auto change = send("PATCH", "/workspaces/" + ws + "/members/" + a.id, {{"role", "superuser"}}, a.token);
  EXPECT_EQ(change.status, 422);
  EXPECT_EQ(change.error_field(), "role");
  auto transfer = send("POST", "/workspaces/" + ws + "/transfer-ownership", json::object{}, a.token);
  EXPECT_EQ(transfer.status, 422);
  EXPECT_EQ(transfer.error_field(), "userId");
}

TEST_F(api_workspaces, invites_by_the_emailed_link_and_only_the_invitee_accepts_once) {
  auto owner = new_user("owner");
  auto other = new_user("other");
  auto ws = workspace(owner, "Invite Co");
  // Invited before they have an account: a password-less user, who signs up later.
  auto invitee_email = unique_name("invitee") + "@example.com";
  auto inv = send("POST", "/workspaces/" + ws + "/members", {{"email", invitee_email}, {"role", "member"}}, owner.token);
  ASSERT_EQ(inv.status, 201) << inv.text;
  EXPECT_EQ(inv.str("status"), "pending");
  EXPECT_EQ(inv.str("role"), "member");
  EXPECT_EQ(inv.text.find("invitation="), std::string::npos) << "the token goes by email only";
  auto token = mailed(invitee_email, "invitation");
  EXPECT_EQ(token.size(), 43u) << "32 random bytes, base64url";
  auto stored = column("SELECT token_hash FROM workspace_invitations WHERE workspace_id = '" + ws + "'");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].size(), 64u) << "SHA-256 hex";
  EXPECT_NE(stored[0], token);

  auto members = call("GET", "/workspaces/" + ws + "/members", "", owner.token);
  ASSERT_EQ(members.status, 200) << members.text;
  EXPECT_TRUE(members.body.at("nextCursor").is_null());
  ASSERT_EQ(members.data().size(), 2u);
  EXPECT_EQ(members.data()[0].at("role").as_string(), "owner");
  EXPECT_EQ(members.data()[1].at("email").as_string(), invitee_email);
  EXPECT_EQ(members.data()[1].at("status").as_string(), "pending");

  auto invitee = sign_in(invitee_email);
  EXPECT_EQ(call("GET", "/workspaces/" + ws, "", invitee.token).status, 404) << "not a member before accepting";
  auto wrong = send("POST", "/invitations/accept", {{"token", token}}, other.token);
  EXPECT_EQ(wrong.status, 403) << wrong.text;
  EXPECT_EQ(call("GET", "/workspaces/" + ws, "", other.token).status, 404);
  EXPECT_EQ(send("POST", "/invitations/accept", {{"token", token}}).status, 401) << "signed in only";

  auto ok = send("POST", "/invitations/accept", {{"token", token}}, invitee.token);
  ASSERT_EQ(ok.status, 200) << ok.text;
  EXPECT_EQ(ok.str("id"), ws);
  EXPECT_EQ(ok.str("role"), "member");
  EXPECT_EQ(ok.str("name"), "Invite Co");
  auto twice = send("POST", "/invitations/accept", {{"token", token}}, invitee.token);
  EXPECT_EQ(twice.status, 400) << twice.text;
  EXPECT_EQ(twice.error_field(), "token");
  EXPECT_EQ(send("POST", "/invitations/accept", {{"token", token}}, other.token).status, 400) << "spent for everyone";
  auto unknown = send("POST", "/invitations/accept", {{"token", std::string(43, 'A')}}, other.token);
  EXPECT_EQ(unknown.status, 400);

  EXPECT_EQ(role_of(ws, owner, invitee.id), "member");
  auto mine = call("GET", "/workspaces", "", invitee.token);
  ASSERT_EQ(mine.data().size(), 1u);
  EXPECT_EQ(mine.data()[0].at("role").as_string(), "member");

  // A newer invitation replaces an open one: the first link stops working.
  auto late_email = unique_name("late") + "@example.com";
  ASSERT_EQ(send("POST", "/workspaces/" + ws + "/members", {{"email", late_email}, {"role", "viewer"}}, owner.token).status, 201);
  auto first = mailed(late_email, "invitation", 1);  // received before the second is sent: the order is known
  ASSERT_EQ(send("POST", "/workspaces/" + ws + "/members", {{"email", late_email}, {"role", "admin"}}, owner.token).status, 201);
  auto second = mailed(late_email, "invitation", 2);
  auto late = sign_in(late_email);
  EXPECT_EQ(send("POST", "/invitations/accept", {{"token", first}}, late.token).status, 400);
  auto newest = send("POST", "/invitations/accept", {{"token", second}}, late.token);
  ASSERT_EQ(newest.status, 200) << newest.text;
  EXPECT_EQ(newest.str("role"), "admin");
}

TEST_F(api_workspaces, invitation_emails_count_against_the_workspaces_email_caps) {
  auto owner = new_user("owner");
  auto ws = workspace(owner, "Capped Co");
  const std::string base = "/workspaces/" + ws;
  auto capped = call("PATCH", base, R"({"settings":{"email_hourly_cap":2}})", owner.token);
  ASSERT_EQ(capped.status, 200) << capped.text;
  std::vector<std::string> emails;
  for (int i = 0; i < 3; ++i) emails.push_back(unique_name("capped") + "@example.com");

  for (int i = 0; i < 2; ++i) {
    auto inv = send("POST", base + "/members", {{"email", emails[i]}, {"role", "viewer"}}, owner.token);
    ASSERT_EQ(inv.status, 201) << inv.text;
    EXPECT_FALSE(mailed(emails[i], "invitation").empty());
  }
  // The third in the hour: 429 with Retry-After, no invitation made, nothing counted.
  auto over = send("POST", base + "/members", {{"email", emails[2]}, {"role", "viewer"}}, owner.token);
  EXPECT_EQ(over.status, 429) << over.text;
  EXPECT_EQ(over.error_code(), "email_cap_reached");
  EXPECT_GT(std::stoi(over.header("retry-after").empty() ? "0" : over.header("retry-after")), 0);
  EXPECT_TRUE(column("SELECT id FROM workspace_invitations WHERE workspace_id = '" + ws + "' AND email = '" + emails[2] + "'").empty());
  auto keys = column("SELECT metadata->>'idempotencyKey' FROM usage_events WHERE workspace_id = '" + ws +
                     "' AND event_type = 'EMAIL_SENT' ORDER BY created_at");
  ASSERT_EQ(keys.size(), 2u);
  for (const auto& k : keys) EXPECT_EQ(k.rfind("invitation:", 0), 0u) << k;
  EXPECT_EQ(column("SELECT quota_used::text FROM usage_quotas WHERE workspace_id = '" + ws + "' AND quota_key = 'email_sends'"),
            std::vector<std::string>{"2"});
  // A refused invitation (already a member) counts nothing either.
  EXPECT_EQ(send("POST", base + "/members", {{"email", owner.email}, {"role", "viewer"}}, owner.token).status, 409);

  // With room in the hour it goes out.
  ASSERT_EQ(call("PATCH", base, R"({"settings":{"email_hourly_cap":3}})", owner.token).status, 200);
  auto later = send("POST", base + "/members", {{"email", emails[2]}, {"role", "viewer"}}, owner.token);
  ASSERT_EQ(later.status, 201) << later.text;
  EXPECT_FALSE(mailed(emails[2], "invitation").empty());
  EXPECT_EQ(column("SELECT count(*)::text FROM usage_events WHERE workspace_id = '" + ws + "' AND event_type = 'EMAIL_SENT'"),
            std::vector<std::string>{"3"});
}

TEST_F(api_workspaces, holds_the_role_matrix_on_every_workspace_route) {
  auto owner = new_user("owner");
  auto admin = new_user("admin");
  auto member = new_user("member");
  auto viewer = new_user("viewer");
  auto ws = workspace(owner);
  join(ws, owner, admin, "admin");
  join(ws, admin, member, "member");  // an admin invites too
  join(ws, owner, viewer, "viewer");
  auto target = new_user("target");
  join(ws, owner, target, "viewer");

  struct expectation {
    const user* who;
    const char* name;
    bool manage;  // admin or owner
  };
  const expectation roles[] = {{&viewer, "viewer", false}, {&member, "member", false}, {&admin, "admin", true}, {&owner, "owner", true}};
  const std::string base = "/workspaces/" + ws;
  for (const auto& r : roles) {
    SCOPED_TRACE(r.name);
    const auto& t = r.who->token;
    EXPECT_EQ(call("GET", base, "", t).status, 200);
    EXPECT_EQ(call("GET", base, "", t).str("role"), r.name);
    EXPECT_EQ(call("GET", base + "/members", "", t).status, 200);

    auto patch = call("PATCH", base, R"({"name":"Renamed by )" + std::string(r.name) + R"("})", t);
    EXPECT_EQ(patch.status, r.manage ? 200 : 403) << patch.text;
    auto invite = send("POST", base + "/members", {{"email", unique_name(r.name) + "@example.com"}, {"role", "viewer"}}, t);
    EXPECT_EQ(invite.status, r.manage ? 201 : 403) << invite.text;
    auto change = send("PATCH", base + "/members/" + target.id, {{"role", "member"}}, t);
    EXPECT_EQ(change.status, r.manage ? 200 : 403) << change.text;
    auto back = send("PATCH", base + "/members/" + target.id, {{"role", "viewer"}}, t);
    EXPECT_EQ(back.status, r.manage ? 200 : 403);
    auto remove_other = call("DELETE", base + "/members/" + (r.who == &viewer ? member.id : viewer.id), "", t);
    if (!r.manage) {
      EXPECT_EQ(remove_other.status, 403) << remove_other.text;
    }

    if (r.who != &owner) {
      auto transfer = send("POST", base + "/transfer-ownership", {{"userId", target.id}}, t);
      EXPECT_EQ(transfer.status, 403) << transfer.text;
      auto del = call("DELETE", base, "", t);
      EXPECT_EQ(del.status, 403) << del.text;
      EXPECT_EQ(del.error_code(), "forbidden");
      EXPECT_NE(del.error_message().find("owner"), std::string::npos) << "names the role needed: " << del.text;
      EXPECT_NE(del.error_message().find("delete_workspace"), std::string::npos) << "names the action: " << del.text;
    }
    if (!r.manage) {
      EXPECT_NE(patch.error_message().find("admin"), std::string::npos) << patch.text;
      EXPECT_NE(invite.error_message().find("manage_members"), std::string::npos) << invite.text;
    }
  }
  // The admin above removed the viewer and the owner then the admin's... re-check what is left.
  EXPECT_EQ(role_of(ws, owner, viewer.id), "none") << "removed by the admin";
  EXPECT_EQ(role_of(ws, owner, member.id), "member") << "refused removals changed nothing";
  // An admin never touches the owner.
  auto demote = send("PATCH", base + "/members/" + owner.id, {{"role", "viewer"}}, admin.token);
  EXPECT_EQ(demote.status, 403) << demote.text;
  EXPECT_EQ(call("DELETE", base + "/members/" + owner.id, "", admin.token).status, 403);
  // Any member may leave.
  EXPECT_EQ(call("DELETE", base + "/members/" + member.id, "", member.token).status, 204);
  EXPECT_EQ(call("GET", base, "", member.token).status, 404);
  // The owner alone transfers and deletes.
  auto transfer = send("POST", base + "/transfer-ownership", {{"userId", admin.id}}, owner.token);
  EXPECT_EQ(transfer.status, 200) << transfer.text;
  EXPECT_EQ(call("DELETE", base, "", owner.token).status, 403) << "no longer the owner";
  EXPECT_EQ(call("DELETE", base, "", admin.token).status, 204);
  EXPECT_EQ(call("GET", base, "", owner.token).status, 404);
  EXPECT_FALSE(security_events("member_role_changed", ws).empty());
  EXPECT_FALSE(security_events("member_removed", ws).empty());
}

TEST_F(api_workspaces, another_workspaces_ids_answer_404_with_none_of_its_data) {
  auto a = new_user("tenant-a");
  auto b = new_user("tenant-b");
  auto b2 = new_user("tenant-b2");
  auto ws_a = workspace(a, "Alpha Shop");
  auto made_b = send("POST", "/workspaces", {{"name", "Bravo Secret Works"}, {"slug", next_slug("bravo-secret")}}, b.token);
  ASSERT_EQ(made_b.status, 201);
  auto ws_b = made_b.str("id");
  join(ws_b, b, b2, "member");
  const std::string base_b = "/workspaces/" + ws_b;

  std::vector<reply> answers{
      call("GET", base_b, "", a.token),
      call("PATCH", base_b, R"({"name":"Hijacked"})", a.token),
      call("DELETE", base_b, "", a.token),
      call("GET", base_b + "/members", "", a.token),
      send("POST", base_b + "/members", {{"email", a.email}, {"role", "admin"}}, a.token),
      send("PATCH", base_b + "/members/" + b2.id, {{"role", "admin"}}, a.token),
      call("DELETE", base_b + "/members/" + b2.id, "", a.token),
      call("DELETE", base_b + "/members/" + a.id, "", a.token),
      send("POST", base_b + "/transfer-ownership", {{"userId", a.id}}, a.token),
  };
  // An id of no workspace and a malformed one answer the same.
  auto none = call("GET", "/workspaces/00000000-0000-4000-8000-000000000000", "", a.token);
  auto malformed = call("GET", "/workspaces/not-a-uuid", "", a.token);
  auto by_slug = call("GET", "/workspaces/" + made_b.str("slug"), "", a.token);
  for (const auto& r : answers) {
    EXPECT_EQ(r.status, 404) << r.text;
    EXPECT_EQ(r.error_code(), "not_found");
    EXPECT_EQ(r.text, none.text) << "the same answer as for a workspace that does not exist";
    EXPECT_EQ(r.text.find("Bravo"), std::string::npos);
    EXPECT_EQ(r.text.find(b2.email), std::string::npos);
  }
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(malformed.text, none.text);
  EXPECT_EQ(by_slug.text, none.text) << "ids only, and the slug of another's workspace tells nothing";

  // B's workspace is as it was.
  auto seen = call("GET", base_b, "", b.token);
  EXPECT_EQ(seen.str("name"), "Bravo Secret Works");
  EXPECT_EQ(role_of(ws_b, b, b2.id), "member");
  EXPECT_EQ(role_of(ws_b, b, a.id), "none");
  EXPECT_EQ(call("GET", "/workspaces", "", a.token).data().size(), 1u);

  // B's members through A's own workspace: not members of A.
  auto cross = send("PATCH", "/workspaces/" + ws_a + "/members/" + b2.id, {{"role", "admin"}}, a.token);
  EXPECT_EQ(cross.status, 404) << cross.text;
  EXPECT_EQ(cross.error_field(), "userId");
  EXPECT_EQ(call("DELETE", "/workspaces/" + ws_a + "/members/" + b2.id, "", a.token).status, 404);
  auto cross_transfer = send("POST", "/workspaces/" + ws_a + "/transfer-ownership", {{"userId", b2.id}}, a.token);
  EXPECT_EQ(cross_transfer.status, 404) << cross_transfer.text;
  EXPECT_EQ(cross_transfer.error_field(), "userId");
  EXPECT_EQ(role_of(ws_b, b, b2.id), "member");
  // A userId that is no id at all: the same 404 naming userId.
  for (const auto& r : {send("PATCH", "/workspaces/" + ws_a + "/members/not-an-id", {{"role", "admin"}}, a.token),
                        call("DELETE", "/workspaces/" + ws_a + "/members/not-an-id", "", a.token),
                        send("POST", "/workspaces/" + ws_a + "/transfer-ownership", {{"userId", "not-an-id"}}, a.token)}) {
    EXPECT_EQ(r.status, 404) << r.text;
    EXPECT_EQ(r.error_field(), "userId") << r.text;
  }
}

TEST_F(api_workspaces, the_last_owner_stays_and_a_transfer_makes_the_old_owner_admin) {
  auto owner = new_user("owner");
  auto admin = new_user("admin");
  auto outsider = new_user("outsider");
  auto ws = workspace(owner);
  join(ws, owner, admin, "admin");
  const std::string base = "/workspaces/" + ws;

  auto leave = call("DELETE", base + "/members/" + owner.id, "", owner.token);
  EXPECT_EQ(leave.status, 409) << leave.text;
  auto demote_self = send("PATCH", base + "/members/" + owner.id, {{"role", "admin"}}, owner.token);
  EXPECT_EQ(demote_self.status, 409) << demote_self.text;
  auto second_owner = send("PATCH", base + "/members/" + admin.id, {{"role", "owner"}}, owner.token);
  EXPECT_EQ(second_owner.status, 422) << "one owner; ownership moves by transfer: " << second_owner.text;
  EXPECT_EQ(second_owner.error_field(), "role");
  auto to_self = send("POST", base + "/transfer-ownership", {{"userId", owner.id}}, owner.token);
  EXPECT_EQ(to_self.status, 422) << to_self.text;
  EXPECT_EQ(to_self.error_field(), "userId");
  auto to_outsider = send("POST", base + "/transfer-ownership", {{"userId", outsider.id}}, owner.token);
  EXPECT_EQ(to_outsider.status, 404) << to_outsider.text;
  EXPECT_EQ(to_outsider.error_field(), "userId");
  EXPECT_EQ(role_of(ws, owner, owner.id), "owner");

  auto moved = send("POST", base + "/transfer-ownership", {{"userId", admin.id}}, owner.token);
  ASSERT_EQ(moved.status, 200) << moved.text;
  EXPECT_EQ(moved.str("ownerUserId"), admin.id);
  EXPECT_EQ(role_of(ws, admin, admin.id), "owner");
  EXPECT_EQ(role_of(ws, admin, owner.id), "admin");
  EXPECT_EQ(column("SELECT owner_user_id::text FROM workspaces WHERE id = '" + ws + "'"), std::vector<std::string>{admin.id});
  EXPECT_EQ(call("GET", base, "", owner.token).str("role"), "admin");
  EXPECT_EQ(send("POST", base + "/transfer-ownership", {{"userId", owner.id}}, owner.token).status, 403) << "no longer the owner";
  EXPECT_EQ(security_events("ownership_transferred", ws), std::vector<std::string>{owner.id});

  // Now the old owner may leave; the new owner, alone, may not.
  EXPECT_EQ(call("DELETE", base + "/members/" + owner.id, "", owner.token).status, 204);
  EXPECT_EQ(call("GET", base, "", owner.token).status, 404);
  EXPECT_EQ(call("DELETE", base + "/members/" + admin.id, "", admin.token).status, 409);
  EXPECT_EQ(security_events("member_removed", ws), std::vector<std::string>{owner.id});
  EXPECT_EQ(security_events("member_invited", ws).size(), 1u);

  // Each is a metric and a log line naming ids, never an email address or a token.
  EXPECT_EQ(node->metric("flowtrack_security_events_total{kind=\"ownership_transferred\"}"), 1);
  EXPECT_EQ(node->metric("flowtrack_security_events_total{kind=\"member_removed\"}"), 1);
  auto log = node->process->log();
  std::size_t lines = 0;
  for (std::size_t at = log.find("security: "); at != std::string::npos; at = log.find("security: ", at + 1)) {
    auto line = log.substr(at, log.find('\n', at) - at);
    if (line.find("workspaceId") == std::string::npos) continue;
    ++lines;
    EXPECT_EQ(line.find('@'), std::string::npos) << line;
    EXPECT_NE(line.find(ws), std::string::npos) << line;
  }
  EXPECT_GE(lines, 4u) << "invited, accepted, transferred, removed";
  EXPECT_NE(log.find("security: ownership_transferred user=" + owner.id), std::string::npos);
}

}  // namespace
}  // namespace flowtrack::test
