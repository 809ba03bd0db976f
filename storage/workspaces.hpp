// Workspaces with their owner and plan: creation (owner user, membership, subscription) and the
// look-ups the engine needs (time zone, plan quotas, billing period). Knows SQL, not actors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/tenant.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// Makes a new inbound-mail token for a workspace (slug or id; the old token stops working);
/// returns the token (`ftin_...`), which is stored only as its SHA-256.
result<std::string> rotate_inbound_token(pg::connection& c, std::string_view slug_or_id);

/// The intake_email_id of the active workspace whose inbound token this is; `not_found` else.
result<std::string> intake_of_inbound_token(pg::connection& c, std::string_view token);

/// What `flowtrackd workspace create` (and, with owner_user_id, the API) asks for.
struct new_workspace {
  std::string name;
  std::string slug;
  std::string owner_email;
  std::string plan_slug = "free";
  std::string timezone = "UTC";
  std::string owner_user_id;  ///< when set, this existing user owns it and owner_email is not read
};

/// Creates the workspace, its owner user (when no user has that email), the owner membership
/// (workspace_members role 'owner', joined now: the member row is what roles are read from) and
/// an active monthly subscription to the plan, in one transaction. A taken slug is `conflict`
/// (subject "slug"); an unknown plan `not_found`; a slug breaking domain::check_slug, a name
/// breaking domain::check_workspace_name, a time zone PostgreSQL does not know, or a bad email
/// `invalid` naming the field; an owner_user_id of no (or a soft-deleted) user `not_found`.
result<domain::workspace_info> create_workspace(pg::connection& c, const new_workspace& w);

/// `invalid` (subject "timezone") unless PostgreSQL knows `zone` as an IANA name (its
/// pg_timezone_names, the system's tzdata on Debian, as the node's zone loader reads).
result<void> check_timezone(pg::connection& c, std::string_view zone);

/// Looks a workspace up by slug or id (not soft-deleted).
result<domain::workspace_info> find_workspace(pg::connection& c, std::string_view slug_or_id);

/// A workspace or workflow row changed since the last poll.
struct tenant_change {
  enum class kind { workspace, workflow };
  kind what = kind::workspace;
  std::string id;            ///< the workspace's or the workflow's id
  std::string workspace_id;  ///< the workspace it belongs to (its own id for a workspace)
  std::string slug;          ///< a workspace's slug; empty for a workflow
  std::string intake_id;     ///< a workspace's intake_email_id; empty for a workflow
  std::string fingerprint;   ///< as domain::workspace_info::fingerprint / domain::workflow_record::fingerprint
  bool usable = false;       ///< workspace: active and not deleted; workflow: not deleted
};

/// One poll's answer: the changed rows and where the next poll starts.
struct tenant_changes {
  std::vector<tenant_change> changes;
  std::string next_since;  ///< pass to the next poll
};

/// Workspaces, workflows and form fields whose `changed_at` is after `since` (empty: the first
/// poll, a few seconds back). `next_since` lies a few seconds behind the database's clock, or at
/// the oldest open transaction's start (at most ten minutes back), so a row written by a
/// transaction that started before the previous poll and committed after it is still seen; a
/// row may thus be reported by several polls. Cheap: range scans of the
/// `changed_at` indexes.
result<tenant_changes> poll_tenant_changes(pg::connection& c, const std::string& since);

/// What one batched look-up found: slug -> (workspace id, active), workflow id -> workspace id.
/// Missing keys do not exist (or they or their workspace are deleted).
struct tenant_lookup {
  std::map<std::string, std::pair<std::string, bool>> slugs;
  std::map<std::string, std::string> workflows;
  std::map<std::string, std::pair<std::string, bool>> intakes;  ///< intake_email_id -> workspace id, usable
};

/// Looks many workspace slugs, workflow ids and intake address ids up in one statement (ids
/// must be canonical UUIDs; intake ids lower-case, as they are made).
result<tenant_lookup> find_tenants(pg::connection& c, const std::vector<std::string>& slugs,
                                   const std::vector<std::string>& workflow_ids,
                                   const std::vector<std::string>& intake_ids = {});

}  // namespace flowtrack::storage
