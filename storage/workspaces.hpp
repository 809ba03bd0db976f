// Workspaces with their owner and plan: creation (owner user, membership, subscription) and the
// look-ups the engine needs (time zone, plan quotas, billing period). Knows SQL, not actors.
#pragma once

#include <optional>
#include <string>

#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// A workspace as the engine sees it.
struct workspace_info {
  std::string id;
  std::string name;
  std::string slug;
  std::string intake_email_id;
  std::string owner_user_id;
  std::string owner_email;
  std::string timezone = "UTC";
  bool is_active = true;
  std::string plan_slug;
  std::string plan_quotas = "{}";  ///< subscription_plans.quotas (JSON); a missing key is unlimited
  std::string period_start;        ///< current billing period, 'YYYY-MM-DD'
  std::string period_end;
};

/// What `flowtrackd workspace create` asks for.
struct new_workspace {
  std::string name;
  std::string slug;
  std::string owner_email;
  std::string plan_slug = "free";
  std::string timezone = "UTC";
};

/// Creates the workspace, its owner user (when no user has that email), the owner membership
/// and an active monthly subscription to the plan, in one transaction. A taken slug is
/// `conflict`; an unknown plan `not_found`; a bad slug or email `invalid`.
result<workspace_info> create_workspace(pg::connection& c, const new_workspace& w);

/// Looks a workspace up by slug or id (not soft-deleted).
result<workspace_info> find_workspace(pg::connection& c, std::string_view slug_or_id);

}  // namespace flowtrack::storage
