// Workspaces and their members over the management API (issue #13 item 3): creating and listing
// a user's workspaces, reading, editing and soft-deleting one, members and invitations by email,
// role changes, removal and ownership transfer. SQL lives in storage/workspace_members, the rules
// in domain/roles; this file checks bodies, applies the scope step (scope.hpp) and answers.
#pragma once

#include <string>

#include "adapters/http/api/api.hpp"

namespace flowtrack::http::api {

/// How long an invitation link stays valid.
inline constexpr std::int64_t k_invitation_ttl_ms = 7LL * 24 * 3600 * 1000;

/// Adds POST|GET /workspaces, GET|PATCH|DELETE /workspaces/{id}, GET|POST /workspaces/{id}/members,
/// PATCH|DELETE /workspaces/{id}/members/{userId}, POST /workspaces/{id}/transfer-ownership and
/// POST /invitations/accept. `mail_domain` makes a workspace's intake address
/// (intake@<intake id>.<mail_domain>, as `flowtrackd workspace create` prints it).
void add_workspace_routes(api_service& api, std::string mail_domain);

}  // namespace flowtrack::http::api
