#include "storage/workspace_members.hpp"

#include <chrono>
#include <map>

#include <boost/json/serialize.hpp>

#include "domain/workspace_rules.hpp"
#include "runtime/text.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::storage {
namespace {

using domain::refusal;
using domain::role;

// Times cross as ms since the epoch, through the session's zone both ways (as storage/accounts).
std::string ts(std::string_view ms_param) {
  return "to_timestamp(" + std::string(ms_param) + "::bigint / 1000.0)::timestamp";
}
std::string ms(std::string_view column) {
  return "(extract(epoch FROM " + std::string(column) + "::timestamptz) * 1000)::bigint";
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

error no_workspace(std::string_view id) {
  return make_error(error_code::not_found, "no workspace '" + std::string(id) + "'", "workspace");
}
error no_member(std::string_view id) {
  return make_error(error_code::not_found, "user '" + std::string(id) + "' is not a member of this workspace", "userId");
}

// The database's CHECK allows only the four names.
role role_of(std::string_view text) { return domain::parse_role(text).value_or(role::viewer); }

const std::string k_summary_cols = "w.id, w.slug, w.name, w.intake_email_id, COALESCE(w.timezone, 'UTC'), "
                                   "COALESCE(w.settings, '{}'::jsonb)::text";

workspace_summary read_summary(const pg::rows& r, int i) {
  return workspace_summary{std::string(r.get(i, 0)), std::string(r.get(i, 1)), std::string(r.get(i, 2)),
                           std::string(r.get(i, 3)), std::string(r.get(i, 4)), std::string(r.get(i, 5))};
}

// Active membership: not removed, not suspended. Rows are only written on joining.
constexpr const char* k_active = "deleted_at IS NULL AND is_active";

const std::string k_membership_sql = std::string(R"sql(
SELECT m.role FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.workspace_id = $1::uuid AND m.user_id = $2::uuid AND m.deleted_at IS NULL AND m.is_active AND w.deleted_at IS NULL
)sql");
const pg::statement k_membership{"ft_wsm_membership", k_membership_sql};

const pg::statement k_workspaces_of_user{"ft_wsm_of_user", "SELECT " + k_summary_cols + R"sql(, m.role
FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.user_id = $1::uuid AND m.deleted_at IS NULL AND m.is_active AND w.deleted_at IS NULL
ORDER BY w.name, w.id
)sql"};

const pg::statement k_summary{"ft_wsm_summary",
                              "SELECT " + k_summary_cols + " FROM workspaces w WHERE w.id = $1::uuid AND w.deleted_at IS NULL"};

// $2 name, $3 time zone, $4 settings patch (NULL keeps each). The patch's top-level keys replace
// the stored ones; a key whose value is null is removed.
const pg::statement k_update{"ft_wsm_update", R"sql(
UPDATE workspaces w SET
  name = COALESCE($2, w.name),
  timezone = COALESCE($3, w.timezone),
  settings = CASE WHEN $4::jsonb IS NULL THEN w.settings
                  ELSE (COALESCE(w.settings, '{}'::jsonb) || $4::jsonb)
                       - ARRAY(SELECT key FROM jsonb_each($4::jsonb) WHERE value = 'null'::jsonb) END
WHERE w.id = $1::uuid AND w.deleted_at IS NULL
RETURNING )sql" + k_summary_cols};

const pg::statement k_soft_delete{"ft_wsm_soft_delete",
                                  "UPDATE workspaces SET deleted_at = now() WHERE id = $1::uuid AND deleted_at IS NULL"};

// The workspace's row lock for a change of members: every such change of one workspace takes it,
// so a check and its change see the same members. NO KEY UPDATE leaves foreign-key inserts
// (leads, executions, ...) unblocked.
const pg::statement k_lock_workspace{"ft_wsm_lock",
                                     "SELECT owner_user_id FROM workspaces WHERE id = $1::uuid AND deleted_at IS NULL "
                                     "FOR NO KEY UPDATE"};

// The roles of up to two users and the number of owners.
const pg::statement k_roles{"ft_wsm_roles", std::string(R"sql(
SELECT user_id::text, role,
       (SELECT count(*) FROM workspace_members o WHERE o.workspace_id = $1::uuid AND o.role = 'owner'
          AND o.deleted_at IS NULL AND o.is_active)
FROM workspace_members WHERE workspace_id = $1::uuid AND user_id IN ($2::uuid, $3::uuid) AND )sql") + k_active};

const pg::statement k_set_role{"ft_wsm_set_role", std::string("UPDATE workspace_members SET role = $3 "
                                                              "WHERE workspace_id = $1::uuid AND user_id = $2::uuid AND ") +
                                                      k_active};
const pg::statement k_remove{"ft_wsm_remove", std::string("UPDATE workspace_members SET deleted_at = now() "
                                                          "WHERE workspace_id = $1::uuid AND user_id = $2::uuid AND ") +
                                                  k_active};

// A user's open invitation in the workspace (expired or not: removal revokes either).
const pg::statement k_open_invitation_of_user{"ft_wsm_open_inv_user", R"sql(
SELECT i.id, i.role FROM workspace_invitations i JOIN users u ON u.email = i.email
WHERE i.workspace_id = $1::uuid AND u.id = $2::uuid AND i.accepted_at IS NULL AND i.revoked_at IS NULL
)sql"};
const pg::statement k_revoke_invitation{"ft_wsm_revoke_inv",
                                        "UPDATE workspace_invitations SET revoked_at = now() "
                                        "WHERE id = $1::uuid AND workspace_id = $2::uuid AND accepted_at IS NULL AND revoked_at IS NULL"};

const pg::statement k_list_members{"ft_wsm_list_members", R"sql(
SELECT m.user_id::text, u.email, COALESCE(u.first_name, ''), COALESCE(u.last_name, ''), m.role, false,
       COALESCE()sql" + ms("m.joined_at") + R"sql(, 0), COALESCE()sql" + ms("m.invited_at") + R"sql(, 0),
       m.invited_by_user_id::text, NULL::text, 0::bigint, 0 AS part, m.joined_at AS sort_at
FROM workspace_members m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = $1::uuid AND m.deleted_at IS NULL AND m.is_active
  AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = $1::uuid AND w.deleted_at IS NULL)
UNION ALL
SELECT u.id::text, i.email::text, COALESCE(u.first_name, ''), COALESCE(u.last_name, ''), i.role, true, 0,
       )sql" + ms("i.created_at") + R"sql(, i.invited_by::text, i.id::text, )sql" + ms("i.expires_at") + R"sql(, 1, i.created_at
FROM workspace_invitations i JOIN users u ON u.email = i.email AND u.deleted_at IS NULL
WHERE i.workspace_id = $1::uuid AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
  AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = $1::uuid AND w.deleted_at IS NULL)
ORDER BY part, sort_at, 1
)sql"};

// The invitee's user: the one with the email, or a new password-less one. ON CONFLICT DO NOTHING
// returns nothing for an existing email, and the statement's snapshot may not show a row a
// concurrent transaction just committed: the caller reads again then.
const pg::statement k_invitee{"ft_wsm_invitee", R"sql(
WITH made AS (
  INSERT INTO users (email, auth_provider) VALUES ($1::citext, 'local') ON CONFLICT (email) DO NOTHING RETURNING id
)
SELECT id::text, false FROM made
UNION ALL
SELECT id::text, deleted_at IS NOT NULL FROM users WHERE email = $1::citext AND NOT EXISTS (SELECT 1 FROM made)
)sql"};

const pg::statement k_is_member{"ft_wsm_is_member", std::string("SELECT 1 FROM workspace_members "
                                                                "WHERE workspace_id = $1::uuid AND user_id = $2::uuid AND ") +
                                                        k_active};

const pg::statement k_revoke_open_of_email{"ft_wsm_revoke_open_email", R"sql(
UPDATE workspace_invitations SET revoked_at = now()
WHERE workspace_id = $1::uuid AND email = $2::citext AND accepted_at IS NULL AND revoked_at IS NULL
)sql"};

const pg::statement k_insert_invitation{"ft_wsm_insert_inv", R"sql(
INSERT INTO workspace_invitations (workspace_id, email, role, token_hash, invited_by, expires_at)
VALUES ($1::uuid, $2::citext, $3, $4, $5::uuid, )sql" + ts("$6") + R"sql()
RETURNING id::text, email::text
)sql"};

const pg::statement k_invitation_workspace{"ft_wsm_inv_ws",
                                           "SELECT workspace_id::text FROM workspace_invitations WHERE token_hash = $1"};
// Under the workspace's lock: a second acceptance waits there and then reads the row accepted.
const pg::statement k_open_invitation{"ft_wsm_open_inv", R"sql(
SELECT i.id::text, i.email::text, i.role, i.invited_by::text, i.created_at,
       EXISTS (SELECT 1 FROM users u WHERE u.id = $2::uuid AND u.deleted_at IS NULL AND u.email = i.email)
FROM workspace_invitations i
WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
FOR UPDATE
)sql"};

// A removed (or suspended) member comes back with the invitation's role; an active one keeps theirs.
const pg::statement k_join{"ft_wsm_join", R"sql(
INSERT INTO workspace_members AS m (workspace_id, user_id, role, invited_by_user_id, invited_at, joined_at)
VALUES ($1::uuid, $2::uuid, $3, $4::uuid, $5::timestamp, now())
ON CONFLICT (workspace_id, user_id) DO UPDATE
  SET role = EXCLUDED.role, invited_by_user_id = EXCLUDED.invited_by_user_id, invited_at = EXCLUDED.invited_at,
      joined_at = now(), deleted_at = NULL, is_active = true
  WHERE m.deleted_at IS NOT NULL OR NOT m.is_active
)sql"};

const pg::statement k_mark_accepted{"ft_wsm_accepted",
                                    "UPDATE workspace_invitations SET accepted_at = now(), accepted_by = $2::uuid WHERE id = $1::uuid"};

const pg::statement k_set_owner{"ft_wsm_set_owner", "UPDATE workspaces SET owner_user_id = $2::uuid WHERE id = $1::uuid"};

// Locks the workspace; not_found when it is deleted or not there.
result<void> lock_workspace(pg::connection& tx, std::string_view ws) {
  auto r = tx.exec(k_lock_workspace, pg::params{}.add(ws));
  if (!r) return r.err();
  if (r->empty()) return no_workspace(ws);
  return {};
}

struct roles_read {
  std::map<std::string, role> roles;  // user id -> role, active members only
  int owners = 0;
};

result<roles_read> read_roles(pg::connection& tx, std::string_view ws, std::string_view a, std::string_view b) {
  auto r = tx.exec(k_roles, pg::params{}.add(ws).add(a).add(b));
  if (!r) return r.err();
  roles_read out;
  if (r->empty()) {
    // The owner count comes with the rows; without rows ask for it alone (not needed: no actor
    // means not_found before it is read).
    return out;
  }
  for (int i = 0; i < r->size(); ++i) out.roles[std::string(r->get(i, 0))] = role_of(r->get(i, 1));
  out.owners = static_cast<int>(r->get_int(0, 2));
  return out;
}

// Canonical lower-case UUID text, as the database prints ids (the map keys above).
std::string canonical(std::string_view id) {
  std::string s(id);
  runtime::to_lower_ascii(s);
  return s;
}

}  // namespace

namespace detail {
const std::string& membership_sql() { return k_membership_sql; }
}  // namespace detail

result<workspace_summary> create_workspace_for_user(pg::connection& c, std::string_view user_id, std::string_view name,
                                                    std::string_view slug, std::string_view timezone) {
  new_workspace w;
  w.name = std::string(name);
  w.slug = std::string(slug);
  w.timezone = timezone.empty() ? "UTC" : std::string(timezone);
  w.plan_slug = "free";
  w.owner_user_id = std::string(user_id);
  auto made = create_workspace(c, w);
  if (!made) return made.err();
  return workspace_summary{made->id, made->slug, made->name, made->intake_email_id, made->timezone, made->settings};
}

result<std::vector<user_workspace>> workspaces_of_user(pg::connection& c, std::string_view user_id) {
  std::vector<user_workspace> out;
  if (!runtime::is_uuid(user_id)) return out;
  auto r = c.exec(k_workspaces_of_user, pg::params{}.add(user_id));
  if (!r) return r.err();
  for (int i = 0; i < r->size(); ++i) out.push_back(user_workspace{read_summary(*r, i), role_of(r->get(i, 6))});
  return out;
}

result<workspace_summary> workspace_summary_of(pg::connection& c, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace(workspace_id);
  auto r = c.exec(k_summary, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  if (r->empty()) return no_workspace(workspace_id);
  return read_summary(*r, 0);
}

result<std::optional<role>> membership(pg::connection& c, std::string_view workspace_id, std::string_view user_id) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(user_id)) return std::optional<role>{};
  auto r = c.exec(k_membership, pg::params{}.add(workspace_id).add(user_id));
  if (!r) return r.err();
  if (r->empty()) return std::optional<role>{};
  return std::optional<role>{role_of(r->get(0, 0))};
}

result<workspace_summary> update_workspace(pg::connection& c, std::string_view workspace_id, std::optional<std::string> name,
                                           std::optional<std::string> timezone,
                                           std::optional<boost::json::object> settings_patch) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace(workspace_id);
  if (name)
    if (auto why = domain::check_workspace_name(*name)) return make_error(error_code::invalid, *why, "name");
  if (timezone)
    if (auto tz = check_timezone(c, *timezone); !tz) return tz.err();
  pg::params p;
  p.add(workspace_id).add(std::move(name)).add(std::move(timezone));
  if (settings_patch) p.add(boost::json::serialize(*settings_patch));
  else p.add_null();
  auto r = c.exec(k_update, p);
  if (!r) return r.err();
  if (r->empty()) return no_workspace(workspace_id);
  return read_summary(*r, 0);
}

result<void> soft_delete_workspace(pg::connection& c, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace(workspace_id);
  auto r = c.exec(k_soft_delete, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  if (r->affected() != 1) return no_workspace(workspace_id);
  return {};
}

result<std::vector<member_row>> list_members(pg::connection& c, std::string_view workspace_id) {
  std::vector<member_row> out;
  if (!runtime::is_uuid(workspace_id)) return out;
  auto r = c.exec(k_list_members, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  for (int i = 0; i < r->size(); ++i) {
    member_row m;
    m.user_id = r->get(i, 0);
    m.email = r->get(i, 1);
    m.first_name = r->get(i, 2);
    m.last_name = r->get(i, 3);
    m.role = role_of(r->get(i, 4));
    m.pending = r->get_bool(i, 5);
    m.joined_at_ms = r->get_int(i, 6);
    m.invited_at_ms = r->get_int(i, 7);
    m.invited_by = r->get_optional(i, 8);
    m.invitation_id = r->get_optional(i, 9);
    m.expires_at_ms = r->get_int(i, 10);
    out.push_back(std::move(m));
  }
  return out;
}

result<or_refused<invitation>> invite_member(pg::connection& c, std::string_view workspace_id, std::string_view inviter,
                                             std::string_view email, role invitee_role, std::string_view token_hash,
                                             std::int64_t expires_at_ms, const invitation_step& before_commit) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(inviter)) return no_workspace(workspace_id);
  if (expires_at_ms <= now_ms()) return make_error(error_code::invalid, "an invitation must expire in the future", "expires_at");
  if (token_hash.empty()) return make_error(error_code::invalid, "an invitation needs a token", "token_hash");
  return pg::transact(c, [&](pg::connection& tx) -> result<or_refused<invitation>> {
    if (auto l = lock_workspace(tx, workspace_id); !l) return l.err();
    auto roles = read_roles(tx, workspace_id, inviter, inviter);
    if (!roles) return roles.err();
    auto actor = roles->roles.find(canonical(inviter));
    if (actor == roles->roles.end()) return no_workspace(workspace_id);
    if (auto refused = domain::check_invite(actor->second, invitee_role)) return or_refused<invitation>{*refused};

    auto user = tx.exec(k_invitee, pg::params{}.add(email));
    if (user && user->empty()) user = tx.exec(k_invitee, pg::params{}.add(email));  // a concurrent insert won
    if (!user) {
      if (user.err().subject == "users_email_valid" || user.err().code == error_code::invalid)
        return make_error(error_code::invalid, "'" + std::string(email) + "' is not a valid email address", "email");
      return user.err();
    }
    if (user->empty()) return make_error(error_code::conflict, "the invitee's account is being created; try again", "email");
    if (user->get_bool(0, 1))
      return make_error(error_code::conflict, "'" + std::string(email) + "' belongs to a closed account", "email");
    std::string invitee = std::string(user->get(0, 0));
    auto member = tx.exec(k_is_member, pg::params{}.add(workspace_id).add(invitee));
    if (!member) return member.err();
    if (!member->empty())
      return make_error(error_code::conflict, "'" + std::string(email) + "' is already a member of this workspace", "email");

    if (auto r = tx.exec(k_revoke_open_of_email, pg::params{}.add(workspace_id).add(email)); !r) return r.err();
    auto made = tx.exec(k_insert_invitation, pg::params{}
                                                 .add(workspace_id)
                                                 .add(email)
                                                 .add(std::string(domain::to_string(invitee_role)))
                                                 .add(token_hash)
                                                 .add(inviter)
                                                 .add(expires_at_ms));
    if (!made) {
      auto e = made.err();
      if (e.subject == "workspace_invitations_token_hash_key")
        return make_error(error_code::conflict, "this invitation token is already in use", "token_hash");
      if (e.subject == "idx_workspace_invitations_open")
        return make_error(error_code::conflict, "another invitation to '" + std::string(email) + "' was just sent", "email");
      return e;
    }
    invitation out;
    out.id = made->get(0, 0);
    out.workspace_id = canonical(workspace_id);
    out.email = made->get(0, 1);
    out.invitee_user_id = invitee;
    out.role = invitee_role;
    out.expires_at_ms = expires_at_ms;
    if (before_commit)
      if (auto r = before_commit(tx, out); !r) return r.err();
    return or_refused<invitation>{std::move(out)};
  });
}

result<or_refused<accepted_invitation>> accept_invitation(pg::connection& c, std::string_view token_hash,
                                                          std::string_view user_id) {
  auto gone = [] {
    return make_error(error_code::not_found, "no such invitation, or it was used, revoked or has expired", "token");
  };
  if (!runtime::is_uuid(user_id) || token_hash.empty()) return gone();
  auto ws = c.exec(k_invitation_workspace, pg::params{}.add(token_hash));
  if (!ws) return ws.err();
  if (ws->empty()) return gone();
  const std::string workspace_id(ws->get(0, 0));
  return pg::transact(c, [&](pg::connection& tx) -> result<or_refused<accepted_invitation>> {
    if (auto l = lock_workspace(tx, workspace_id); !l) {
      if (l.err().code == error_code::not_found) return gone();
      return l.err();
    }
    auto inv = tx.exec(k_open_invitation, pg::params{}.add(token_hash).add(user_id));
    if (!inv) return inv.err();
    if (inv->empty()) return gone();
    if (!inv->get_bool(0, 5))
      return or_refused<accepted_invitation>{refusal{refusal::kind::forbidden,
                                                     "this invitation was sent to another email address; sign in with that address "
                                                     "to accept it"}};
    const std::string invitation_id(inv->get(0, 0));
    if (auto j = tx.exec(k_join, pg::params{}
                                     .add(workspace_id)
                                     .add(user_id)
                                     .add(inv->get(0, 2))
                                     .add(inv->get_optional(0, 3))
                                     .add(inv->get(0, 4)));
        !j)
      return j.err();
    if (auto a = tx.exec(k_mark_accepted, pg::params{}.add(invitation_id).add(user_id)); !a) return a.err();
    auto roles = read_roles(tx, workspace_id, user_id, user_id);
    if (!roles) return roles.err();
    auto it = roles->roles.find(canonical(user_id));
    if (it == roles->roles.end()) return make_error(error_code::internal, "the membership was not written", "workspace_members");
    return or_refused<accepted_invitation>{accepted_invitation{workspace_id, it->second}};
  });
}

result<std::optional<refusal>> change_member_role(pg::connection& c, std::string_view workspace_id, std::string_view actor,
                                                   std::string_view user_id, role new_role) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(actor)) return no_workspace(workspace_id);
  if (!runtime::is_uuid(user_id)) return no_member(user_id);
  return pg::transact(c, [&](pg::connection& tx) -> result<std::optional<refusal>> {
    if (auto l = lock_workspace(tx, workspace_id); !l) return l.err();
    auto roles = read_roles(tx, workspace_id, actor, user_id);
    if (!roles) return roles.err();
    auto a = roles->roles.find(canonical(actor));
    if (a == roles->roles.end()) return no_workspace(workspace_id);
    auto t = roles->roles.find(canonical(user_id));
    if (t == roles->roles.end()) return no_member(user_id);
    domain::member_change change{a->second, t->second, new_role, a == t, roles->owners};
    if (auto refused = domain::check_member_change(change)) return std::optional<refusal>{*refused};
    if (t->second == new_role) return std::optional<refusal>{};
    auto r = tx.exec(k_set_role, pg::params{}.add(workspace_id).add(user_id).add(std::string(domain::to_string(new_role))));
    if (!r) return r.err();
    return std::optional<refusal>{};
  });
}

result<std::optional<refusal>> remove_member(pg::connection& c, std::string_view workspace_id, std::string_view actor,
                                              std::string_view user_id) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(actor)) return no_workspace(workspace_id);
  if (!runtime::is_uuid(user_id)) return no_member(user_id);
  return pg::transact(c, [&](pg::connection& tx) -> result<std::optional<refusal>> {
    if (auto l = lock_workspace(tx, workspace_id); !l) return l.err();
    auto roles = read_roles(tx, workspace_id, actor, user_id);
    if (!roles) return roles.err();
    auto a = roles->roles.find(canonical(actor));
    if (a == roles->roles.end()) return no_workspace(workspace_id);
    auto t = roles->roles.find(canonical(user_id));
    if (t == roles->roles.end()) {
      // Not a member: perhaps invited. Removing an invitee revokes the invitation.
      auto inv = tx.exec(k_open_invitation_of_user, pg::params{}.add(workspace_id).add(user_id));
      if (!inv) return inv.err();
      if (inv->empty()) return no_member(user_id);
      domain::member_change change{a->second, role_of(inv->get(0, 1)), std::nullopt, false, roles->owners};
      if (auto refused = domain::check_member_change(change)) return std::optional<refusal>{*refused};
      auto r = tx.exec(k_revoke_invitation, pg::params{}.add(inv->get(0, 0)).add(workspace_id));
      if (!r) return r.err();
      return std::optional<refusal>{};
    }
    domain::member_change change{a->second, t->second, std::nullopt, a == t, roles->owners};
    if (auto refused = domain::check_member_change(change)) return std::optional<refusal>{*refused};
    auto r = tx.exec(k_remove, pg::params{}.add(workspace_id).add(user_id));
    if (!r) return r.err();
    return std::optional<refusal>{};
  });
}

result<std::optional<refusal>> transfer_ownership(pg::connection& c, std::string_view workspace_id, std::string_view from_user,
                                                   std::string_view to_user) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(from_user)) return no_workspace(workspace_id);
  if (!runtime::is_uuid(to_user)) return no_member(to_user);
  return pg::transact(c, [&](pg::connection& tx) -> result<std::optional<refusal>> {
    if (auto l = lock_workspace(tx, workspace_id); !l) return l.err();
    auto roles = read_roles(tx, workspace_id, from_user, to_user);
    if (!roles) return roles.err();
    auto from = roles->roles.find(canonical(from_user));
    if (from == roles->roles.end()) return no_workspace(workspace_id);
    auto to = roles->roles.find(canonical(to_user));
    if (auto refused = domain::check_transfer(from->second, to == from)) return std::optional<refusal>{*refused};
    if (to == roles->roles.end()) return no_member(to_user);
    // The old owner first: idx_workspace_members_one_owner allows one owner row at a time.
    if (auto r = tx.exec(k_set_role, pg::params{}.add(workspace_id).add(from_user).add("admin")); !r) return r.err();
    if (auto r = tx.exec(k_set_role, pg::params{}.add(workspace_id).add(to_user).add("owner")); !r) return r.err();
    if (auto r = tx.exec(k_set_owner, pg::params{}.add(workspace_id).add(to_user)); !r) return r.err();
    return std::optional<refusal>{};
  });
}

}  // namespace flowtrack::storage
