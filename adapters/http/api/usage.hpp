// Read-only usage and billing routes of the management API (issue #13 item 4): a workspace's
// quotas with percentages, its daily stats, its subscription and plan, its connected integrations
// (tokens never returned), and the plans on offer. SQL lives in storage/usage_queries; this file
// reads queries, applies the workspace scope (any member reads) and answers.
#pragma once

#include "adapters/http/api/api.hpp"

namespace flowtrack::http::api {

/// The longest range GET .../stats answers, in days (from and to included).
inline constexpr int k_stats_max_days = 366;

/// Adds GET /workspaces/{id}/usage, /workspaces/{id}/stats?from=&to=, /workspaces/{id}/subscription,
/// /workspaces/{id}/integrations and GET /plans (signed in).
void add_usage_routes(api_service& api);

}  // namespace flowtrack::http::api
