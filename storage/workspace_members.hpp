// Workspaces as their users see them (issue #13): creating one as a signed-in user, the user's
// workspaces, the role a user holds in one, editing and soft-deleting it; members, invitations
// (migration 024), role changes, removal and ownership transfer. Knows SQL, nothing of HTTP.
//
// Every statement names its workspace: an id of another workspace (a member, an invitation)
// never matches. A soft-deleted workspace is not found by any of these. Roles are read from
// workspace_members only (migration 024 gave every owner_user_id its owner row; create_workspace
// writes it): an active member is a row with deleted_at NULL and is_active, and it has joined
// (rows are written on acceptance, never for a pending invitation).
//
// Changes of members take the actor and run domain::check_member_change / check_invite /
// check_transfer inside their transaction, under the workspace row's lock (FOR NO KEY UPDATE:
// inserts referencing the workspace are not blocked), so a check and its change see the same
// members. A refusal is a value (domain::refusal), not an error; errors are the database's, and
// `not_found` when the workspace (deleted, or the actor is no active member of it: routes answer
// 404 alike) or the target (subject "userId") is not there.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "domain/roles.hpp"
#include "domain/tenant.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// A value, or the refusal that stopped the change.
template <class T>
using or_refused = std::variant<T, domain::refusal>;

/// A workspace as its members see it. The intake address is intake@{intake_email_id}.{mail
/// domain}: the route adds the domain from its settings.
struct workspace_summary {
  std::string id, slug, name, intake_email_id, timezone;
  std::string settings = "{}";  ///< workspaces.settings (JSON object)
};

/// A workspace of a user, with the user's role in it.
struct user_workspace {
  workspace_summary workspace;
  domain::role role = domain::role::viewer;
};

/// Creates a workspace owned by `user_id` (an existing, not soft-deleted user): the workspaces
/// row with a new unique intake_email_id, the owner's workspace_members row (joined now) and an
/// active monthly subscription to the free plan (usage_quotas rows are made by the first use of
/// each quota, as for every workspace), in one transaction. `conflict` subject "slug" when the
/// slug is taken (by a soft-deleted workspace too: slugs are never reused); `invalid` naming
/// "name", "slug" or "timezone" (domain/workspace_rules, check_timezone); `not_found` subject
/// "user" for an unknown user.
result<workspace_summary> create_workspace_for_user(pg::connection& c, std::string_view user_id, std::string_view name,
                                                    std::string_view slug, std::string_view timezone = "UTC");

/// The workspaces `user_id` is an active member of (not soft-deleted), by name, with the role.
result<std::vector<user_workspace>> workspaces_of_user(pg::connection& c, std::string_view user_id);

/// One workspace (not soft-deleted); `not_found` else. Ask membership first: this reads any.
result<workspace_summary> workspace_summary_of(pg::connection& c, std::string_view workspace_id);

/// The role `user_id` holds in `workspace_id`, or nullopt: no active membership, a soft-deleted
/// workspace, or an id that is not a UUID. One statement: an index probe of workspace_members (the
/// unique (workspace_id, user_id) pair, or the per-user index: a handful of rows either way) and
/// one of the workspaces primary key. What every API
/// route runs first (nullopt: 404).
result<std::optional<domain::role>> membership(pg::connection& c, std::string_view workspace_id, std::string_view user_id);

/// Changes the fields given (nullopt keeps one): name (domain::check_workspace_name), timezone
/// (check_timezone), and a shallow merge of `settings_patch` into settings (a key set to null is
/// removed, as in RFC 7396 at the top level). Nodes see the change through the tenant poll.
/// `invalid` naming the field; `not_found` when the workspace is not there. Returns the result.
result<workspace_summary> update_workspace(pg::connection& c, std::string_view workspace_id, std::optional<std::string> name,
                                           std::optional<std::string> timezone,
                                           std::optional<boost::json::object> settings_patch);

/// Soft-deletes the workspace (deleted_at now): from then on its public form, intake address,
/// inbound token and webhook triggers stop resolving (find_tenants, intake_of_inbound_token;
/// nodes learn it from poll_tenant_changes as not usable), every function here says not_found,
/// and its open invitations can no longer be accepted. `not_found` if already deleted.
result<void> soft_delete_workspace(pg::connection& c, std::string_view workspace_id);

/// A member, or (with `pending`) an open invitation: the invitee's user exists from the
/// invitation on (a password-less user when the email was new).
struct member_row {
  std::string user_id, email, first_name, last_name;  ///< NULL names read as empty
  domain::role role = domain::role::viewer;
  bool pending = false;               ///< an open, unexpired invitation, not a member yet
  std::int64_t joined_at_ms = 0;      ///< 0 while pending
  std::int64_t invited_at_ms = 0;     ///< 0 for a member who was never invited (the creator)
  std::optional<std::string> invited_by;     ///< user id
  std::optional<std::string> invitation_id;  ///< pending only
  std::int64_t expires_at_ms = 0;            ///< pending only
};

/// The workspace's active members (by joined_at) followed by its open, unexpired invitations (by
/// invited_at). Empty when the workspace is not there (ask membership first).
result<std::vector<member_row>> list_members(pg::connection& c, std::string_view workspace_id);

/// An invitation as stored.
struct invitation {
  std::string id, workspace_id, email, invitee_user_id;
  domain::role role = domain::role::viewer;
  std::int64_t expires_at_ms = 0;
};

/// A step of invite_member inside its transaction (see `before_commit`).
using invitation_step = std::function<result<void>(pg::connection& tx, const invitation& made)>;

/// Invites `email` as `role` on behalf of `inviter` (domain::check_invite against the inviter's
/// role). When no user has the email, a password-less user is made (auth_provider 'local', no
/// hash: storage::sign_up later gives it a password). An open invitation to the same email in
/// this workspace is revoked (the newest link wins). Refusals: the inviter's role (forbidden,
/// invalid for owner). Errors: `conflict` subject "email" when the email is already an active
/// member's or belongs to a soft-deleted user; `invalid` subject "email" for an address the
/// users_email_valid rule refuses, subject "expires_at" for an expiry not in the future;
/// `conflict` when a concurrent invitation to the same email won.
/// `before_commit`, when given, runs inside the transaction once the invitation is written: an
/// error it returns rolls the invitation back and is returned (the route reserves the invitation
/// mail against the workspace's email caps there, so a refused mail leaves no invitation and a
/// refused invitation counts no mail).
result<or_refused<invitation>> invite_member(pg::connection& c, std::string_view workspace_id, std::string_view inviter,
                                             std::string_view email, domain::role role, std::string_view token_hash,
                                             std::int64_t expires_at_ms, const invitation_step& before_commit = {});

/// What accepting an invitation gave.
struct accepted_invitation {
  std::string workspace_id;
  domain::role role = domain::role::viewer;  ///< the membership's role afterwards
};

/// Accepts the invitation with that token hash for the signed-in `user_id`: only when it is open
/// (not accepted, not revoked), unexpired, its workspace not deleted, and the user's email is the
/// invitation's (case-insensitive). Writes (or revives a removed) workspace_members row with the
/// invitation's role, inviter and invited_at, joined now, and marks the invitation accepted by
/// the user: single use (of two concurrent acceptances one wins; the other finds it accepted).
/// A user who is already an active member keeps their role (the invitation is spent). Errors:
/// `not_found` subject "token" for an unknown, used, revoked or expired token, or a deleted
/// workspace. Refusal forbidden: the signed-in user is not the invitee (the invitation stays).
result<or_refused<accepted_invitation>> accept_invitation(pg::connection& c, std::string_view token_hash,
                                                          std::string_view user_id);

/// Sets `user_id`'s role, as `actor` asks (domain::check_member_change). Setting the role it
/// has is a no-op. Errors: not_found for the workspace/actor, subject "userId" for a user who is
/// no active member. Returns the refusal, or nullopt when done.
result<std::optional<domain::refusal>> change_member_role(pg::connection& c, std::string_view workspace_id,
                                                          std::string_view actor, std::string_view user_id,
                                                          domain::role role);

/// Removes `user_id` (soft: deleted_at), as `actor` asks (check_member_change: anyone may leave,
/// except the last owner). A user with an open invitation and no membership has the invitation
/// revoked instead (same checks, with the invitation's role). Returns the refusal, or nullopt.
result<std::optional<domain::refusal>> remove_member(pg::connection& c, std::string_view workspace_id,
                                                     std::string_view actor, std::string_view user_id);

/// Hands the workspace from `from_user` (who asks; domain::check_transfer: only the owner) to
/// `to_user`, who must be an active member (not_found subject "userId" else): the old owner
/// becomes admin, the new one owner, workspaces.owner_user_id follows; one transaction.
result<std::optional<domain::refusal>> transfer_ownership(pg::connection& c, std::string_view workspace_id,
                                                          std::string_view from_user, std::string_view to_user);

namespace detail {
/// The statement membership runs ($1 workspace, $2 user), for a test to EXPLAIN it.
const std::string& membership_sql();
}  // namespace detail

}  // namespace flowtrack::storage
