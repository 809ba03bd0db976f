// The role matrix (each role against each action) and the member-change rules: admins and owners,
// the last owner, leaving, invitations and transfers.
#include <gtest/gtest.h>

#include <map>

#include "domain/roles.hpp"

namespace flowtrack::domain {
namespace {

constexpr role k_roles[] = {role::viewer, role::member, role::admin, role::owner};
constexpr action k_actions[] = {action::read,           action::work_leads,     action::start_runs,
                                action::manage_workflows, action::manage_forms, action::manage_webhooks,
                                action::manage_members, action::manage_workspace, action::manage_billing,
                                action::transfer_ownership, action::delete_workspace};

TEST(roles, names_round_trip_and_unknown_names_are_refused) {
  for (role r : k_roles) EXPECT_EQ(parse_role(to_string(r)), r);
  EXPECT_EQ(to_string(role::admin), "admin");
  EXPECT_FALSE(parse_role("Owner").has_value()) << "exact lower case only";
  EXPECT_FALSE(parse_role("").has_value());
  EXPECT_FALSE(parse_role("superadmin").has_value());
  EXPECT_EQ(to_string(action::manage_webhooks), "manage_webhooks");
}

TEST(roles, the_matrix_holds_for_every_role_and_action) {
  // The words, written out cell by cell.
  const std::map<action, std::map<role, bool>> want{
      {action::read, {{role::viewer, true}, {role::member, true}, {role::admin, true}, {role::owner, true}}},
      {action::work_leads, {{role::viewer, false}, {role::member, true}, {role::admin, true}, {role::owner, true}}},
      {action::start_runs, {{role::viewer, false}, {role::member, true}, {role::admin, true}, {role::owner, true}}},
      {action::manage_workflows, {{role::viewer, false}, {role::member, false}, {role::admin, true}, {role::owner, true}}},
      {action::manage_forms, {{role::viewer, false}, {role::member, false}, {role::admin, true}, {role::owner, true}}},
      {action::manage_webhooks, {{role::viewer, false}, {role::member, false}, {role::admin, true}, {role::owner, true}}},
      {action::manage_members, {{role::viewer, false}, {role::member, false}, {role::admin, true}, {role::owner, true}}},
      {action::manage_workspace, {{role::viewer, false}, {role::member, false}, {role::admin, true}, {role::owner, true}}},
      {action::manage_billing, {{role::viewer, false}, {role::member, false}, {role::admin, false}, {role::owner, true}}},
      {action::transfer_ownership, {{role::viewer, false}, {role::member, false}, {role::admin, false}, {role::owner, true}}},
      {action::delete_workspace, {{role::viewer, false}, {role::member, false}, {role::admin, false}, {role::owner, true}}},
  };
  ASSERT_EQ(want.size(), std::size(k_actions));
  for (action a : k_actions)
    for (role r : k_roles) EXPECT_EQ(allows(r, a), want.at(a).at(r)) << to_string(r) << " " << to_string(a);
  EXPECT_EQ(least_role_for(action::start_runs), role::member);
  EXPECT_EQ(least_role_for(action::manage_billing), role::owner);
}

std::optional<refusal::kind> why(const member_change& c) {
  auto r = check_member_change(c);
  if (r) {
    EXPECT_FALSE(r->reason.empty());
  }
  return r ? std::optional(r->why) : std::nullopt;
}

TEST(roles, admins_manage_members_but_not_owners) {
  EXPECT_EQ(why({role::admin, role::member, role::viewer, false, 1}), std::nullopt);
  EXPECT_EQ(why({role::admin, role::viewer, role::admin, false, 1}), std::nullopt);
  EXPECT_EQ(why({role::admin, role::admin, role::member, false, 1}), std::nullopt) << "an admin may demote another admin";
  EXPECT_EQ(why({role::admin, role::member, std::nullopt, false, 1}), std::nullopt);
  EXPECT_EQ(why({role::admin, role::owner, role::admin, false, 1}), refusal::kind::forbidden);
  EXPECT_EQ(why({role::admin, role::owner, std::nullopt, false, 2}), refusal::kind::forbidden) << "not even one of two";
  EXPECT_EQ(why({role::admin, role::member, role::owner, false, 1}), refusal::kind::forbidden);
  EXPECT_EQ(why({role::admin, role::admin, role::owner, true, 1}), refusal::kind::forbidden) << "no self-promotion";
  EXPECT_EQ(why({role::admin, role::admin, role::viewer, true, 1}), std::nullopt) << "an admin may step down";
}

TEST(roles, members_and_viewers_manage_nobody_but_may_leave) {
  for (role actor : {role::viewer, role::member}) {
    EXPECT_EQ(why({actor, role::viewer, role::member, false, 1}), refusal::kind::forbidden);
    EXPECT_EQ(why({actor, role::viewer, std::nullopt, false, 1}), refusal::kind::forbidden);
    EXPECT_EQ(why({actor, actor, role::admin, true, 1}), refusal::kind::forbidden) << "no self-promotion";
    EXPECT_EQ(why({actor, actor, std::nullopt, true, 1}), std::nullopt) << "anyone may remove themself";
  }
}

TEST(roles, the_last_owner_stays_and_ownership_moves_only_by_transfer) {
  EXPECT_EQ(why({role::owner, role::owner, std::nullopt, true, 1}), refusal::kind::conflict);
  EXPECT_EQ(why({role::owner, role::owner, role::admin, true, 1}), refusal::kind::conflict);
  EXPECT_EQ(why({role::owner, role::owner, role::owner, true, 1}), std::nullopt) << "no change is no harm";
  EXPECT_EQ(why({role::owner, role::owner, std::nullopt, true, 2}), std::nullopt) << "one of two owners may leave";
  EXPECT_EQ(why({role::owner, role::owner, role::member, false, 2}), std::nullopt);
  EXPECT_EQ(why({role::owner, role::admin, role::owner, false, 1}), refusal::kind::invalid);
  EXPECT_EQ(why({role::owner, role::admin, role::viewer, false, 1}), std::nullopt);
  EXPECT_EQ(why({role::owner, role::member, std::nullopt, false, 1}), std::nullopt);
}

TEST(roles, invitations_and_transfers) {
  EXPECT_EQ(check_invite(role::admin, role::admin), std::nullopt);
  EXPECT_EQ(check_invite(role::owner, role::viewer), std::nullopt);
  EXPECT_EQ(check_invite(role::member, role::viewer)->why, refusal::kind::forbidden);
  EXPECT_EQ(check_invite(role::viewer, role::viewer)->why, refusal::kind::forbidden);
  EXPECT_EQ(check_invite(role::admin, role::owner)->why, refusal::kind::forbidden);
  EXPECT_EQ(check_invite(role::owner, role::owner)->why, refusal::kind::invalid);

  EXPECT_EQ(check_transfer(role::owner, false), std::nullopt);
  EXPECT_EQ(check_transfer(role::owner, true)->why, refusal::kind::invalid);
  for (role r : {role::viewer, role::member, role::admin}) EXPECT_EQ(check_transfer(r, false)->why, refusal::kind::forbidden);
  EXPECT_EQ(to_string(refusal::kind::conflict), "conflict");
}

}  // namespace
}  // namespace flowtrack::domain
