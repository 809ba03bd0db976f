#include "domain/roles.hpp"

#include <array>
#include <utility>

namespace flowtrack::domain {
namespace {

// The role matrix as data: each action with the weakest role allowed to do it.
constexpr std::array<std::pair<action, role>, 11> k_matrix{{
    {action::read, role::viewer},
    {action::work_leads, role::member},
    {action::start_runs, role::member},
    {action::manage_workflows, role::admin},
    {action::manage_forms, role::admin},
    {action::manage_webhooks, role::admin},
    {action::manage_members, role::admin},
    {action::manage_workspace, role::admin},
    {action::manage_billing, role::owner},
    {action::transfer_ownership, role::owner},
    {action::delete_workspace, role::owner},
}};

refusal refuse(refusal::kind k, std::string reason) { return refusal{k, std::move(reason)}; }

}  // namespace

std::string_view to_string(role r) {
  switch (r) {
    case role::viewer: return "viewer";
    case role::member: return "member";
    case role::admin: return "admin";
    case role::owner: return "owner";
  }
  return "viewer";
}

std::optional<role> parse_role(std::string_view s) {
  for (role r : {role::viewer, role::member, role::admin, role::owner})
    if (s == to_string(r)) return r;
  return std::nullopt;
}

std::string_view to_string(action a) {
  switch (a) {
    case action::read: return "read";
    case action::work_leads: return "work_leads";
    case action::start_runs: return "start_runs";
    case action::manage_workflows: return "manage_workflows";
    case action::manage_forms: return "manage_forms";
    case action::manage_webhooks: return "manage_webhooks";
    case action::manage_members: return "manage_members";
    case action::manage_workspace: return "manage_workspace";
    case action::manage_billing: return "manage_billing";
    case action::transfer_ownership: return "transfer_ownership";
    case action::delete_workspace: return "delete_workspace";
  }
  return "read";
}

role least_role_for(action a) {
  for (const auto& [act, r] : k_matrix)
    if (act == a) return r;
  return role::owner;  // an action missing from the matrix is the owner's alone
}

bool allows(role r, action a) { return static_cast<int>(r) >= static_cast<int>(least_role_for(a)); }

std::string_view to_string(refusal::kind k) {
  switch (k) {
    case refusal::kind::forbidden: return "forbidden";
    case refusal::kind::conflict: return "conflict";
    case refusal::kind::invalid: return "invalid";
  }
  return "forbidden";
}

std::optional<refusal> check_member_change(const member_change& c) {
  const bool removal = !c.target_new.has_value();
  const bool target_owner = c.target_current == role::owner;
  const bool last_owner = target_owner && c.owners <= 1;
  if (removal && c.self) {
    if (last_owner)
      return refuse(refusal::kind::conflict, "the last owner cannot leave the workspace; transfer ownership first");
    return std::nullopt;
  }
  if (!allows(c.actor, action::manage_members))
    return refuse(refusal::kind::forbidden, "managing members needs the admin or owner role");
  if (c.actor != role::owner) {
    if (target_owner)
      return refuse(refusal::kind::forbidden, std::string("an admin may not ") + (removal ? "remove" : "change the role of") +
                                                  " an owner");
    if (c.target_new == role::owner) return refuse(refusal::kind::forbidden, "an admin may not make anyone owner");
  }
  if (c.target_new == role::owner && !target_owner)
    return refuse(refusal::kind::invalid, "a workspace has one owner: use transfer-ownership to hand it over");
  if (last_owner && c.target_new != role::owner)
    return refuse(refusal::kind::conflict, std::string("the last owner cannot be ") + (removal ? "removed" : "demoted") +
                                               "; transfer ownership first");
  return std::nullopt;
}

std::optional<refusal> check_invite(role actor, role invitee) {
  if (!allows(actor, action::manage_members))
    return refuse(refusal::kind::forbidden, "inviting members needs the admin or owner role");
  if (invitee == role::owner) {
    if (actor != role::owner) return refuse(refusal::kind::forbidden, "an admin may not make anyone owner");
    return refuse(refusal::kind::invalid, "invite as admin, then use transfer-ownership to hand the workspace over");
  }
  return std::nullopt;
}

std::optional<refusal> check_transfer(role actor, bool self) {
  if (!allows(actor, action::transfer_ownership))
    return refuse(refusal::kind::forbidden, "only the owner may transfer ownership");
  if (self) return refuse(refusal::kind::invalid, "the workspace already belongs to you");
  return std::nullopt;
}

}  // namespace flowtrack::domain
