// Workspaces and members in SQL against real PostgreSQL (storage/workspace_members, migration
// 024): creation as a user (owner row, free plan, slug rules and conflicts), membership as one
// index probe, edits and soft deletion (the public form, intake, inbound token and hooks stop
// resolving), invitations (password-less invitees, newest wins, the right user only, single use
// under a race), role changes, removal, the last owner, ownership transfer, and tenant isolation.
// Every test makes its own users and workspaces.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "storage/accounts.hpp"
#include "storage/pg/array.hpp"
#include "storage/workspace_members.hpp"
#include "storage/workspaces.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

using namespace std::chrono_literals;
using domain::refusal;
using domain::role;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::unique_ptr<pg::connection> connect() {
  auto opened = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.err().message);
  return opened.ok() ? std::move(*opened) : nullptr;
}

std::string unique_email(const std::string& prefix = "wsm") { return test::unique_name(prefix) + "@example.com"; }

std::string scalar(pg::connection& c, std::string_view sql, const pg::params& p = {}) {
  auto r = c.exec(sql, p);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
  if (!r.ok() || r->empty() || r->is_null(0, 0)) return "";
  return std::string(r->get(0, 0));
}

std::string describe(const error& e) { return std::string(to_string(e.code)) + " " + e.subject + ": " + e.message; }

// The refusal of a change, or a failure of the test when it was done or failed.
std::optional<refusal::kind> refused(const result<std::optional<refusal>>& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : describe(r.err()));
  if (!r.ok() || !r->has_value()) return std::nullopt;
  EXPECT_FALSE((*r)->reason.empty());
  return (**r).why;
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect();

  // A user as sign-up makes it; its id.
  std::string user(const std::string& email = unique_email()) {
    auto s = sign_up(*c, email, "hash", "Ada", "Lovelace", test::unique_name("verify"), now_ms() + 3600'000);
    EXPECT_TRUE(s.ok() && *s == signup_outcome::created);
    auto u = find_user_by_email(*c, email);
    EXPECT_TRUE(u.ok() && u->has_value());
    return u.ok() && u->has_value() ? (*u)->id : std::string();
  }
  std::string email_of(const std::string& user_id) {
    return scalar(*c, "SELECT email FROM users WHERE id = $1::uuid", pg::params{}.add(user_id));
  }

  // A workspace of `owner`; its id.
  std::string workspace(const std::string& owner, const std::string& prefix = "wsm") {
    auto w = create_workspace_for_user(*c, owner, "Team " + prefix, test::unique_slug(prefix));
    EXPECT_TRUE(w.ok()) << (w.ok() ? "" : describe(w.err()));
    return w.ok() ? w->id : std::string();
  }

  // Invites and accepts: `email`'s user joins as `r`; returns its id.
  std::string join(const std::string& ws, const std::string& inviter, role r, const std::string& email = unique_email()) {
    const std::string token = test::unique_name("inv");
    auto inv = invite_member(*c, ws, inviter, email, r, token, now_ms() + 3600'000);
    EXPECT_TRUE(inv.ok() && std::holds_alternative<invitation>(*inv)) << (inv.ok() ? "refused" : describe(inv.err()));
    if (!inv.ok() || !std::holds_alternative<invitation>(*inv)) return "";
    const std::string id = std::get<invitation>(*inv).invitee_user_id;
    auto acc = accept_invitation(*c, token, id);
    EXPECT_TRUE(acc.ok() && std::holds_alternative<accepted_invitation>(*acc)) << (acc.ok() ? "refused" : describe(acc.err()));
    return id;
  }

  std::optional<role> role_in(const std::string& ws, const std::string& user_id) {
    auto m = membership(*c, ws, user_id);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : describe(m.err()));
    return m.ok() ? *m : std::nullopt;
  }
};

void await_blocked(pg::connection& observer, const std::vector<int>& pids) {
  pg::array_builder a;
  for (int p : pids) a.add(static_cast<std::int64_t>(p));
  const std::string list = a.finish();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    auto n = scalar(observer, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND wait_event_type = 'Lock'",
                    pg::params{}.add(list));
    if (n == std::to_string(pids.size())) return;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "the contenders never queued on the lock";
      return;
    }
    std::this_thread::sleep_for(5ms);
  }
}

TEST(workspace_members_pgtest, a_user_creates_a_workspace_as_its_owner_on_the_free_plan) {
  fixture f;
  const std::string owner = f.user();
  const std::string slug = test::unique_slug("mine");
  auto w = create_workspace_for_user(*f.c, owner, "My Team", slug, "Europe/Berlin");
  ASSERT_TRUE(w.ok()) << describe(w.err());
  EXPECT_EQ(w->slug, slug);
  EXPECT_EQ(w->name, "My Team");
  EXPECT_EQ(w->timezone, "Europe/Berlin");
  EXPECT_EQ(w->settings, "{}");
  EXPECT_EQ(w->intake_email_id.size(), 12u);
  EXPECT_EQ(f.role_in(w->id, owner), role::owner);

  auto info = find_workspace(*f.c, w->id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->owner_user_id, owner);
  EXPECT_EQ(info->plan_slug, "free");
  EXPECT_EQ(scalar(*f.c, "SELECT s.status || ' ' || s.billing_cycle FROM subscriptions s JOIN subscription_plans p ON p.id = s.subscription_plan_id "
                        "WHERE s.workspace_id = $1::uuid AND p.slug = 'free'", pg::params{}.add(w->id)),
            "active monthly");
  EXPECT_EQ(scalar(*f.c, "SELECT role || ' ' || (joined_at IS NOT NULL) FROM workspace_members WHERE workspace_id = $1::uuid",
                   pg::params{}.add(w->id)),
            "owner true");

  auto again = create_workspace_for_user(*f.c, owner, "Second", test::unique_slug("mine2"));
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->intake_email_id, w->intake_email_id);
  EXPECT_EQ(again->timezone, "UTC");
  auto mine = workspaces_of_user(*f.c, owner);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].workspace.name, "My Team") << "by name";
  EXPECT_EQ((*mine)[0].role, role::owner);
  EXPECT_EQ((*mine)[1].workspace.id, again->id);
  auto summary = workspace_summary_of(*f.c, w->id);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->intake_email_id, w->intake_email_id);
}

TEST(workspace_members_pgtest, a_taken_slug_is_a_conflict_and_bad_fields_are_named) {
  fixture f;
  const std::string owner = f.user();
  const std::string slug = test::unique_slug("taken");
  ASSERT_TRUE(create_workspace_for_user(*f.c, owner, "First", slug).ok());
  auto dup = create_workspace_for_user(*f.c, owner, "Second", slug);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.err().code, error_code::conflict);
  EXPECT_EQ(dup.err().subject, "slug");
  EXPECT_EQ(workspaces_of_user(*f.c, owner)->size(), 1u) << "the failed creation left nothing behind";

  struct bad {
    std::string name, slug, zone, field;
  };
  for (const auto& b : {bad{"N", "api", "UTC", "slug"}, bad{"N", "-lead" + slug, "UTC", "slug"}, bad{"N", "Upper", "UTC", "slug"},
                        bad{"", test::unique_slug("x"), "UTC", "name"}, bad{"N", test::unique_slug("x"), "Mars/Base", "timezone"},
                        bad{"N", test::unique_slug("x"), "../etc", "timezone"}}) {
    auto r = create_workspace_for_user(*f.c, owner, b.name, b.slug, b.zone);
    ASSERT_FALSE(r.ok()) << b.slug;
    EXPECT_EQ(r.err().code, error_code::invalid) << describe(r.err());
    EXPECT_EQ(r.err().subject, b.field) << describe(r.err());
  }
  auto nobody = create_workspace_for_user(*f.c, "00000000-0000-4000-8000-000000000000", "N", test::unique_slug("x"));
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.err().code, error_code::not_found);

  // The CLI's path holds the same slug rules.
  auto cli_reserved = create_workspace(*f.c, new_workspace{"N", "hooks", unique_email(), "free", "UTC", ""});
  ASSERT_FALSE(cli_reserved.ok());
  EXPECT_EQ(cli_reserved.err().subject, "slug");
}

TEST(workspace_members_pgtest, membership_is_one_probe_of_a_member_index_and_the_workspace_key) {
  fixture f;
  const std::string owner = f.user(), stranger = f.user();
  const std::string ws = f.workspace(owner);
  EXPECT_EQ(f.role_in(ws, owner), role::owner);
  EXPECT_EQ(f.role_in(ws, stranger), std::nullopt);
  EXPECT_EQ(f.role_in("not-a-uuid", owner), std::nullopt);
  EXPECT_EQ(f.role_in(ws, "00000000-0000-4000-8000-000000000000"), std::nullopt);

  // With statistics (autovacuum's job on a live database) and sequential scans priced out, as in
  // a table of many rows: each table is reached through an index condition.
  ASSERT_TRUE(f.c->exec("ANALYZE workspaces, workspace_members").ok());
  ASSERT_TRUE(f.c->exec("SET enable_seqscan = off").ok());
  auto plan = f.c->exec("EXPLAIN " + detail::membership_sql(), pg::params{}.add(ws).add(owner));
  ASSERT_TRUE(f.c->exec("SET enable_seqscan = on").ok());
  ASSERT_TRUE(plan.ok()) << describe(plan.err());
  std::string text;
  for (int i = 0; i < plan->size(); ++i) text += std::string(plan->get(i, 0)) + "\n";
  // The member row by (workspace, user) or by user (which of the two is the planner's choice by
  // size; both find a handful of rows at most), the workspace by its key.
  EXPECT_TRUE(text.find("workspace_members_unique_user_workspace") != std::string::npos ||
              text.find("idx_workspace_members_user") != std::string::npos) << text;
  EXPECT_NE(text.find("user_id = '" + owner + "'::uuid"), std::string::npos) << text;
  std::size_t conds = 0;
  for (auto at = text.find("Index Cond"); at != std::string::npos; at = text.find("Index Cond", at + 1)) ++conds;
  EXPECT_EQ(conds, 2u) << "each table reached through its index\n" << text;
  EXPECT_NE(text.find("workspaces_pkey"), std::string::npos) << text;
  EXPECT_EQ(text.find("Seq Scan"), std::string::npos) << text;
}

TEST(workspace_members_pgtest, updates_change_name_timezone_and_merge_settings) {
  fixture f;
  const std::string owner = f.user();
  const std::string ws = f.workspace(owner);
  boost::json::object patch{{"allowedForwarders", boost::json::array{"a@b.example"}}, {"theme", "dark"}};
  auto u = update_workspace(*f.c, ws, std::string("Renamed"), std::string("America/New_York"), patch);
  ASSERT_TRUE(u.ok()) << describe(u.err());
  EXPECT_EQ(u->name, "Renamed");
  EXPECT_EQ(u->timezone, "America/New_York");
  EXPECT_EQ(scalar(*f.c, "SELECT settings->>'theme' FROM workspaces WHERE id = $1::uuid", pg::params{}.add(ws)), "dark");

  auto u2 = update_workspace(*f.c, ws, std::nullopt, std::nullopt, boost::json::object{{"theme", nullptr}, {"x", 1}});
  ASSERT_TRUE(u2.ok()) << describe(u2.err());
  EXPECT_EQ(u2->name, "Renamed") << "nullopt keeps";
  EXPECT_EQ(scalar(*f.c, "SELECT settings::text FROM workspaces WHERE id = $1::uuid", pg::params{}.add(ws)),
            R"({"x": 1, "allowedForwarders": ["a@b.example"]})");
  EXPECT_EQ(find_workspace(*f.c, ws)->settings, R"({"x": 1, "allowedForwarders": ["a@b.example"]})");

  auto bad_zone = update_workspace(*f.c, ws, std::nullopt, std::string("Nowhere/Land"), std::nullopt);
  ASSERT_FALSE(bad_zone.ok());
  EXPECT_EQ(bad_zone.err().subject, "timezone");
  auto bad_name = update_workspace(*f.c, ws, std::string(101, 'n'), std::nullopt, std::nullopt);
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.err().subject, "name");
  EXPECT_EQ(update_workspace(*f.c, "00000000-0000-4000-8000-000000000000", std::string("x"), std::nullopt, std::nullopt).err().code,
            error_code::not_found);
}

TEST(workspace_members_pgtest, a_soft_deleted_workspace_stops_resolving_everywhere) {
  fixture f;
  const std::string owner = f.user();
  const std::string ws = f.workspace(owner, "gone");
  auto info = find_workspace(*f.c, ws);
  ASSERT_TRUE(info.ok());
  const std::string workflow =
      scalar(*f.c, "INSERT INTO workflows (workspace_id, name) VALUES ($1::uuid, 'wf') RETURNING id", pg::params{}.add(ws));
  auto token = rotate_inbound_token(*f.c, ws);
  ASSERT_TRUE(token.ok());
  const std::string token_text = *token;
  const std::string inv_token = test::unique_name("inv");
  const std::string invitee_email = unique_email();
  ASSERT_TRUE(invite_member(*f.c, ws, owner, invitee_email, role::member, inv_token, now_ms() + 3600'000).ok());
  const std::string since = scalar(*f.c, "SELECT (now() - interval '1 second')::text");

  auto before = find_tenants(*f.c, {info->slug}, {workflow}, {info->intake_email_id});
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->slugs.size(), 1u);
  EXPECT_EQ(before->workflows.size(), 1u);
  EXPECT_EQ(before->intakes.size(), 1u);

  ASSERT_TRUE(soft_delete_workspace(*f.c, ws).ok());

  auto after = find_tenants(*f.c, {info->slug}, {workflow}, {info->intake_email_id});
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->slugs.empty()) << "the public form /p/{slug}";
  EXPECT_TRUE(after->workflows.empty()) << "POST /hooks/{workflow}";
  EXPECT_TRUE(after->intakes.empty()) << "the intake address";
  EXPECT_EQ(intake_of_inbound_token(*f.c, token_text).err().code, error_code::unauthorized);
  EXPECT_EQ(find_workspace(*f.c, ws).err().code, error_code::not_found);
  auto polled = poll_tenant_changes(*f.c, since);
  ASSERT_TRUE(polled.ok());
  bool reported = false;
  for (const auto& ch : polled->changes)
    if (ch.what == tenant_change::kind::workspace && ch.id == ws) {
      reported = true;
      EXPECT_FALSE(ch.usable) << "nodes drop it";
    }
  EXPECT_TRUE(reported);

  EXPECT_EQ(f.role_in(ws, owner), std::nullopt);
  EXPECT_TRUE(workspaces_of_user(*f.c, owner)->empty());
  EXPECT_TRUE(list_members(*f.c, ws)->empty());
  EXPECT_EQ(workspace_summary_of(*f.c, ws).err().code, error_code::not_found);
  EXPECT_EQ(soft_delete_workspace(*f.c, ws).err().code, error_code::not_found) << "once";
  const std::string invitee = scalar(*f.c, "SELECT id FROM users WHERE email = $1::citext", pg::params{}.add(invitee_email));
  auto acc = accept_invitation(*f.c, inv_token, invitee);
  ASSERT_FALSE(acc.ok());
  EXPECT_EQ(acc.err().code, error_code::not_found) << "its invitations are dead";
  EXPECT_EQ(change_member_role(*f.c, ws, owner, owner, role::owner).err().code, error_code::not_found);
  auto retaken = create_workspace_for_user(*f.c, owner, "Again", info->slug);
  ASSERT_FALSE(retaken.ok());
  EXPECT_EQ(retaken.err().code, error_code::conflict) << "a deleted workspace's slug is not reused";
}

TEST(workspace_members_pgtest, an_invitation_makes_a_passwordless_user_who_joins_by_accepting) {
  fixture f;
  const std::string owner = f.user();
  const std::string ws = f.workspace(owner);
  const std::string email = unique_email("new");
  const std::string token = test::unique_name("inv");
  auto inv = invite_member(*f.c, ws, owner, email, role::admin, token, now_ms() + 3600'000);
  ASSERT_TRUE(inv.ok()) << describe(inv.err());
  ASSERT_TRUE(std::holds_alternative<invitation>(*inv));
  const auto& made = std::get<invitation>(*inv);
  EXPECT_EQ(made.workspace_id, ws);
  EXPECT_EQ(made.role, role::admin);
  auto invitee = find_user_by_id(*f.c, made.invitee_user_id);
  ASSERT_TRUE(invitee.ok() && invitee->has_value());
  EXPECT_EQ((*invitee)->email, email);
  EXPECT_EQ((*invitee)->auth_provider, "local");
  EXPECT_FALSE((*invitee)->password_hash.has_value()) << "no password until sign-up";
  EXPECT_EQ(f.role_in(ws, made.invitee_user_id), std::nullopt) << "not a member before accepting";

  auto listed = list_members(*f.c, ws);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].user_id, owner);
  EXPECT_FALSE((*listed)[0].pending);
  EXPECT_GT((*listed)[0].joined_at_ms, 0);
  EXPECT_EQ((*listed)[0].first_name, "Ada");
  EXPECT_EQ((*listed)[1].user_id, made.invitee_user_id);
  EXPECT_TRUE((*listed)[1].pending);
  EXPECT_EQ((*listed)[1].role, role::admin);
  EXPECT_EQ((*listed)[1].joined_at_ms, 0);
  EXPECT_EQ((*listed)[1].invited_by, owner);
  EXPECT_EQ((*listed)[1].invitation_id, made.id);
  EXPECT_NEAR(static_cast<double>((*listed)[1].expires_at_ms), static_cast<double>(made.expires_at_ms), 1000);

  // The invitee signs up (sign_up takes a password-less user) and accepts.
  auto s = sign_up(*f.c, email, "hash", "Grace", "Hopper", test::unique_name("verify"), now_ms() + 3600'000);
  ASSERT_TRUE(s.ok() && *s == signup_outcome::created);
  const std::string other = f.user();
  auto wrong = accept_invitation(*f.c, token, other);
  ASSERT_TRUE(wrong.ok()) << describe(wrong.err());
  ASSERT_TRUE(std::holds_alternative<refusal>(*wrong)) << "only the invitee";
  EXPECT_EQ(std::get<refusal>(*wrong).why, refusal::kind::forbidden);
  EXPECT_EQ(f.role_in(ws, other), std::nullopt);

  auto right = accept_invitation(*f.c, token, made.invitee_user_id);
  ASSERT_TRUE(right.ok()) << describe(right.err());
  ASSERT_TRUE(std::holds_alternative<accepted_invitation>(*right));
  EXPECT_EQ(std::get<accepted_invitation>(*right).workspace_id, ws);
  EXPECT_EQ(std::get<accepted_invitation>(*right).role, role::admin);
  EXPECT_EQ(f.role_in(ws, made.invitee_user_id), role::admin);
  EXPECT_EQ(scalar(*f.c, "SELECT (invited_by_user_id = $3::uuid AND invited_at IS NOT NULL AND joined_at IS NOT NULL)::text "
                        "FROM workspace_members WHERE workspace_id = $1::uuid AND user_id = $2::uuid",
                   pg::params{}.add(ws).add(made.invitee_user_id).add(owner)),
            "true");
  auto twice = accept_invitation(*f.c, token, made.invitee_user_id);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.err().code, error_code::not_found) << "single use";
  EXPECT_EQ(twice.err().subject, "token");
  auto listed_after = list_members(*f.c, ws);
  ASSERT_EQ(listed_after->size(), 2u);
  EXPECT_FALSE((*listed_after)[1].pending);
  EXPECT_EQ((*listed_after)[1].first_name, "Grace");

  auto again = invite_member(*f.c, ws, owner, email, role::viewer, test::unique_name("inv"), now_ms() + 3600'000);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.err().code, error_code::conflict) << "already a member";
  EXPECT_EQ(again.err().subject, "email");
}

TEST(workspace_members_pgtest, invitations_follow_the_inviters_role_the_newest_wins_and_they_expire) {
  fixture f;
  const std::string owner = f.user();
  const std::string ws = f.workspace(owner);
  const std::string admin = f.join(ws, owner, role::admin);
  const std::string member = f.join(ws, admin, role::member);
  const std::string viewer = f.join(ws, admin, role::viewer);
  ASSERT_EQ(f.role_in(ws, member), role::member);

  auto kind = [&](const std::string& inviter, role r) -> std::optional<refusal::kind> {
    auto inv = invite_member(*f.c, ws, inviter, unique_email(), r, test::unique_name("inv"), now_ms() + 3600'000);
    EXPECT_TRUE(inv.ok()) << (inv.ok() ? "" : describe(inv.err()));
    if (!inv.ok() || std::holds_alternative<invitation>(*inv)) return std::nullopt;
    return std::get<refusal>(*inv).why;
  };
  EXPECT_EQ(kind(member, role::viewer), refusal::kind::forbidden);
  EXPECT_EQ(kind(viewer, role::viewer), refusal::kind::forbidden);
  EXPECT_EQ(kind(admin, role::owner), refusal::kind::forbidden);
  EXPECT_EQ(kind(owner, role::owner), refusal::kind::invalid);
  EXPECT_EQ(kind(admin, role::admin), std::nullopt);

  const std::string outsider = f.user();
  auto out = invite_member(*f.c, ws, outsider, unique_email(), role::viewer, test::unique_name("inv"), now_ms() + 3600'000);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.err().code, error_code::not_found) << "an outsider learns nothing of the workspace";
  auto bad_email = invite_member(*f.c, ws, owner, "not-an-email", role::viewer, test::unique_name("inv"), now_ms() + 3600'000);
  ASSERT_FALSE(bad_email.ok());
  EXPECT_EQ(bad_email.err().code, error_code::invalid);
  EXPECT_EQ(bad_email.err().subject, "email");

  // Newest wins: the first link dies when the second is sent.
  const std::string email = unique_email();
  const std::string first = test::unique_name("inv"), second = test::unique_name("inv");
  ASSERT_TRUE(invite_member(*f.c, ws, owner, email, role::viewer, first, now_ms() + 3600'000).ok());
  auto resent = invite_member(*f.c, ws, owner, email, role::member, second, now_ms() + 3600'000);
  ASSERT_TRUE(resent.ok() && std::holds_alternative<invitation>(*resent));
  const std::string invitee = std::get<invitation>(*resent).invitee_user_id;
  EXPECT_EQ(accept_invitation(*f.c, first, invitee).err().code, error_code::not_found);
  EXPECT_EQ(scalar(*f.c, "SELECT count(*) FROM workspace_invitations WHERE workspace_id = $1::uuid AND email = $2::citext "
                        "AND accepted_at IS NULL AND revoked_at IS NULL", pg::params{}.add(ws).add(email)),
            "1");

  // An expired link is dead.
  ASSERT_TRUE(f.c->exec("UPDATE workspace_invitations SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
                        pg::params{}.add(second)).ok());
  auto late = accept_invitation(*f.c, second, invitee);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.err().code, error_code::not_found);
  EXPECT_EQ(f.role_in(ws, invitee), std::nullopt);
  EXPECT_EQ(invite_member(*f.c, ws, owner, unique_email(), role::viewer, test::unique_name("inv"), now_ms() - 1).err().subject,
            "expires_at");
}

TEST(workspace_members_pgtest, roles_change_as_the_matrix_allows_and_the_last_owner_stays) {
  fixture f;
  const std::string owner = f.user();
  const std::string ws = f.workspace(owner);
  const std::string admin = f.join(ws, owner, role::admin);
  const std::string member = f.join(ws, owner, role::member);

  EXPECT_EQ(refused(change_member_role(*f.c, ws, admin, member, role::viewer)), std::nullopt);
  EXPECT_EQ(f.role_in(ws, member), role::viewer);
  EXPECT_EQ(refused(change_member_role(*f.c, ws, admin, owner, role::admin)), refusal::kind::forbidden);
  EXPECT_EQ(refused(change_member_role(*f.c, ws, admin, member, role::owner)), refusal::kind::forbidden);
  EXPECT_EQ(refused(change_member_role(*f.c, ws, member, member, role::admin)), refusal::kind::forbidden);
  EXPECT_EQ(refused(change_member_role(*f.c, ws, owner, member, role::owner)), refusal::kind::invalid);
  EXPECT_EQ(refused(change_member_role(*f.c, ws, owner, owner, role::admin)), refusal::kind::conflict) << "the last owner";
  EXPECT_EQ(refused(change_member_role(*f.c, ws, owner, owner, role::owner)), std::nullopt) << "a no-op";
  EXPECT_EQ(f.role_in(ws, owner), role::owner);
  EXPECT_EQ(f.role_in(ws, admin), role::admin);
  EXPECT_EQ(refused(change_member_role(*f.c, ws, owner, admin, role::member)), std::nullopt);
  EXPECT_EQ(f.role_in(ws, admin), role::member);

  auto stranger = change_member_role(*f.c, ws, owner, f.user(), role::viewer);
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.err().code, error_code::not_found);
  EXPECT_EQ(stranger.err().subject, "userId");
  // The database holds one owner whatever the code does.
  auto second_owner = f.c->exec("UPDATE workspace_members SET role = 'owner' WHERE workspace_id = $1::uuid AND user_id = $2::uuid",
                                pg::params{}.add(ws).add(member));
  ASSERT_FALSE(second_owner.ok());
  EXPECT_EQ(second_owner.err().code, error_code::conflict);
}

TEST(workspace_members_pgtest, members_leave_admins_remove_and_nobody_removes_the_owner) {
  fixture f;
  const std::string owner = f.user();
  const std::string ws = f.workspace(owner);
  const std::string admin = f.join(ws, owner, role::admin);
  const std::string member = f.join(ws, owner, role::member);
  const std::string viewer_email = unique_email();
  const std::string viewer = f.join(ws, owner, role::viewer, viewer_email);

  EXPECT_EQ(refused(remove_member(*f.c, ws, member, viewer)), refusal::kind::forbidden);
  EXPECT_EQ(refused(remove_member(*f.c, ws, admin, owner)), refusal::kind::forbidden);
  EXPECT_EQ(refused(remove_member(*f.c, ws, owner, owner)), refusal::kind::conflict) << "the last owner cannot leave";
  EXPECT_EQ(refused(remove_member(*f.c, ws, member, member)), std::nullopt) << "anyone may leave";
  EXPECT_EQ(f.role_in(ws, member), std::nullopt);
  EXPECT_EQ(refused(remove_member(*f.c, ws, admin, viewer)), std::nullopt);
  EXPECT_EQ(f.role_in(ws, viewer), std::nullopt);
  EXPECT_EQ(scalar(*f.c, "SELECT (deleted_at IS NOT NULL)::text FROM workspace_members WHERE workspace_id = $1::uuid AND user_id = $2::uuid",
                   pg::params{}.add(ws).add(viewer)),
            "true") << "soft";
  EXPECT_EQ(remove_member(*f.c, ws, admin, viewer).err().subject, "userId") << "gone already";
  auto removed_actor = remove_member(*f.c, ws, member, admin);
  ASSERT_FALSE(removed_actor.ok());
  EXPECT_EQ(removed_actor.err().code, error_code::not_found) << "a removed member is an outsider";

  // Invited again, the removed viewer comes back with the new role.
  const std::string token = test::unique_name("inv");
  ASSERT_TRUE(invite_member(*f.c, ws, admin, viewer_email, role::member, token, now_ms() + 3600'000).ok());
  // Removing an invitee revokes the invitation...
  EXPECT_EQ(refused(remove_member(*f.c, ws, admin, viewer)), std::nullopt);
  EXPECT_EQ(accept_invitation(*f.c, token, viewer).err().code, error_code::not_found);
  // ...and a new one revives the membership.
  const std::string token2 = test::unique_name("inv");
  ASSERT_TRUE(invite_member(*f.c, ws, admin, viewer_email, role::member, token2, now_ms() + 3600'000).ok());
  auto back = accept_invitation(*f.c, token2, viewer);
  ASSERT_TRUE(back.ok() && std::holds_alternative<accepted_invitation>(*back));
  EXPECT_EQ(f.role_in(ws, viewer), role::member);
  EXPECT_EQ(list_members(*f.c, ws)->size(), 3u) << "owner, admin, the returned member";
}

TEST(workspace_members_pgtest, ownership_moves_to_an_active_member_in_one_step) {
  fixture f;
  const std::string owner = f.user();
  const std::string ws = f.workspace(owner);
  const std::string heir_email = unique_email("heir");
  const std::string heir = f.join(ws, owner, role::member, heir_email);
  const std::string admin = f.join(ws, owner, role::admin);

  EXPECT_EQ(refused(transfer_ownership(*f.c, ws, admin, heir)), refusal::kind::forbidden);
  EXPECT_EQ(refused(transfer_ownership(*f.c, ws, owner, owner)), refusal::kind::invalid);
  auto outsider = transfer_ownership(*f.c, ws, owner, f.user());
  ASSERT_FALSE(outsider.ok());
  EXPECT_EQ(outsider.err().subject, "userId");

  EXPECT_EQ(refused(transfer_ownership(*f.c, ws, owner, heir)), std::nullopt);
  EXPECT_EQ(f.role_in(ws, heir), role::owner);
  EXPECT_EQ(f.role_in(ws, owner), role::admin);
  auto info = find_workspace(*f.c, ws);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->owner_user_id, heir);
  EXPECT_EQ(info->owner_email, heir_email);
  // The old owner is an admin now: may leave, may not take it back.
  EXPECT_EQ(refused(transfer_ownership(*f.c, ws, owner, owner)), refusal::kind::forbidden);
  EXPECT_EQ(refused(remove_member(*f.c, ws, owner, owner)), std::nullopt);
  EXPECT_EQ(refused(remove_member(*f.c, ws, heir, heir)), refusal::kind::conflict);
}

TEST(workspace_members_pgtest, another_workspaces_ids_never_match) {
  fixture f;
  const std::string owner_a = f.user(), owner_b = f.user();
  const std::string a = f.workspace(owner_a, "wa"), b = f.workspace(owner_b, "wb");
  const std::string member_a = f.join(a, owner_a, role::member);
  const std::string token_b = test::unique_name("inv");
  ASSERT_TRUE(invite_member(*f.c, b, owner_b, unique_email(), role::viewer, token_b, now_ms() + 3600'000).ok());

  EXPECT_EQ(f.role_in(b, member_a), std::nullopt);
  EXPECT_EQ(f.role_in(b, owner_a), std::nullopt);
  auto listed_b = list_members(*f.c, b);
  ASSERT_TRUE(listed_b.ok());
  EXPECT_EQ(listed_b->size(), 2u) << "B's owner and B's invitee";
  for (const auto& m : *listed_b) {
    EXPECT_NE(m.user_id, member_a);
    EXPECT_NE(m.user_id, owner_a);
  }
  // B's owner acting on A's member through B, and A's owner acting on B.
  EXPECT_EQ(change_member_role(*f.c, b, owner_b, member_a, role::viewer).err().subject, "userId");
  EXPECT_EQ(remove_member(*f.c, b, owner_b, member_a).err().subject, "userId");
  EXPECT_EQ(transfer_ownership(*f.c, b, owner_b, member_a).err().subject, "userId");
  EXPECT_EQ(change_member_role(*f.c, b, owner_a, owner_b, role::viewer).err().code, error_code::not_found);
  EXPECT_EQ(remove_member(*f.c, b, owner_a, owner_b).err().code, error_code::not_found);
  EXPECT_EQ(invite_member(*f.c, b, owner_a, unique_email(), role::viewer, test::unique_name("i"), now_ms() + 60'000).err().code,
            error_code::not_found);
  EXPECT_EQ(update_workspace(*f.c, b, std::string("x"), std::nullopt, std::nullopt)->name, "x") << "storage trusts the route's check";
  EXPECT_EQ(f.role_in(a, member_a), role::member) << "A untouched";
  EXPECT_EQ(f.role_in(b, owner_b), role::owner);
  auto listed_a = workspaces_of_user(*f.c, member_a);
  ASSERT_EQ(listed_a->size(), 1u);
  EXPECT_EQ((*listed_a)[0].workspace.id, a);
}

TEST(workspace_members_pgtest, one_invitation_accepted_twice_at_once_has_one_winner) {
  fixture f;
  const std::string owner = f.user();
  const std::string ws = f.workspace(owner);
  const std::string token = test::unique_name("inv");
  auto inv = invite_member(*f.c, ws, owner, unique_email(), role::member, token, now_ms() + 3600'000);
  ASSERT_TRUE(inv.ok() && std::holds_alternative<invitation>(*inv));
  const std::string invitee = std::get<invitation>(*inv).invitee_user_id;

  // A third session holds the workspace's lock so both acceptances queue behind it, then lets go.
  auto holder = connect();
  auto a = connect(), b = connect();
  ASSERT_TRUE(holder && a && b);
  ASSERT_TRUE(holder->begin().ok());
  ASSERT_TRUE(holder->exec("SELECT 1 FROM workspaces WHERE id = $1::uuid FOR NO KEY UPDATE", pg::params{}.add(ws)).ok());
  result<or_refused<accepted_invitation>> ra = make_error(error_code::internal, "not run");
  result<or_refused<accepted_invitation>> rb = make_error(error_code::internal, "not run");
  std::thread ta([&] { ra = accept_invitation(*a, token, invitee); });
  std::thread tb([&] { rb = accept_invitation(*b, token, invitee); });
  await_blocked(*f.c, {a->backend_pid(), b->backend_pid()});
  ASSERT_TRUE(holder->commit().ok());
  ta.join();
  tb.join();
  const int wins = (ra.ok() && std::holds_alternative<accepted_invitation>(*ra)) +
                   (rb.ok() && std::holds_alternative<accepted_invitation>(*rb));
  EXPECT_EQ(wins, 1) << "exactly one acceptance wins";
  const auto& loser = ra.ok() ? rb : ra;
  ASSERT_FALSE(loser.ok());
  EXPECT_EQ(loser.err().code, error_code::not_found) << describe(loser.err());
  EXPECT_EQ(f.role_in(ws, invitee), role::member);
  EXPECT_EQ(scalar(*f.c, "SELECT count(*) FROM workspace_members WHERE workspace_id = $1::uuid", pg::params{}.add(ws)), "2");
}

}  // namespace
}  // namespace flowtrack::storage
