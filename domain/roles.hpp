// Who may do what in a workspace: the four roles, the actions routes guard, the role matrix as
// data, and the rules for changing members (owners, the last owner, leaving). Pure: no I/O; the
// storage functions run these checks inside their transactions, routes before them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::domain {

/// `workspace_members.role`, weakest first: each role may do everything the one before it may.
enum class role { viewer, member, admin, owner };

/// "viewer", "member", "admin", "owner".
std::string_view to_string(role r);
/// The role a text names (exactly, lower case), or nullopt.
std::optional<role> parse_role(std::string_view s);

/// What a route does, as the role matrix knows it.
enum class action {
  read,                ///< read anything of the workspace
  work_leads,          ///< create, move, tag, assign, edit, import, delete leads
  start_runs,          ///< start, cancel, retry executions
  manage_workflows,    ///< create, edit, activate, pause, archive workflows
  manage_forms,        ///< form fields and form settings
  manage_webhooks,     ///< webhook endpoints, secrets, redeliveries
  manage_members,      ///< invite, change roles, remove members
  manage_workspace,    ///< the workspace's name, time zone and settings (PATCH /workspaces/{id})
  manage_billing,      ///< the subscription and plan
  transfer_ownership,  ///< hand the workspace to another member
  delete_workspace,    ///< soft-delete the workspace
};

/// "read", "work_leads", ... (the enumerator's name).
std::string_view to_string(action a);

/// The weakest role allowed to do `a`: viewer reads; member works leads and starts runs; admin
/// manages workflows, forms, webhooks, members and the workspace's settings; owner billing,
/// transfer and deletion.
role least_role_for(action a);

/// Whether `r` may do `a` (r is at least least_role_for(a)).
bool allows(role r, action a);

/// Why a change of members was refused.
struct refusal {
  enum class kind {
    forbidden,  ///< the actor's role does not allow it (HTTP 403)
    conflict,   ///< it would break an invariant of the workspace, e.g. leave it without owner (409)
    invalid,    ///< not a change this API makes, e.g. making an owner other than by transfer (422)
  };
  kind why = kind::forbidden;
  std::string reason;  ///< for people: what was wrong and what to do
  friend bool operator==(const refusal&, const refusal&) = default;
};

/// "forbidden", "conflict", "invalid".
std::string_view to_string(refusal::kind k);

/// A change to one member: `target_new` a new role, or nullopt for removal.
struct member_change {
  role actor;                    ///< the role of who asks
  role target_current;           ///< the member's role now
  std::optional<role> target_new;  ///< nullopt: remove the member
  bool self = false;             ///< the actor is the member
  int owners = 1;                ///< active owners of the workspace, the target included if owner
};

/// Whether the change may be made; the refusal otherwise. Rules, in order:
/// - anyone may remove themself, except the last owner (conflict: transfer ownership first);
/// - otherwise the actor needs manage_members (admin or owner), else forbidden;
/// - an admin may not change or remove an owner, nor make anyone owner (forbidden);
/// - ownership moves only by transfer_ownership: an owner making someone owner is invalid
///   (one owner per workspace, as the table specification says for v1);
/// - nobody demotes or removes the last owner (conflict).
/// Setting the role a member already has is allowed (a no-op).
std::optional<refusal> check_member_change(const member_change& c);

/// Whether `actor` may invite someone as `invitee`: manage_members, and never as owner (an admin:
/// forbidden; an owner: invalid, invite as admin and transfer ownership).
std::optional<refusal> check_invite(role actor, role invitee);

/// Whether `actor` may hand the workspace over: only an owner (forbidden else), and not to
/// themself (invalid). That the new owner is an active member is storage's to check.
std::optional<refusal> check_transfer(role actor, bool self);

}  // namespace flowtrack::domain
