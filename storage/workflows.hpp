// Workflows as stored: the workflow row, its nodes, edges and form fields, and an immutable
// snapshot per version that executions run. Knows SQL, not actors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/graph.hpp"
#include "domain/tenant.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// A workflow to create.
struct new_workflow {
  std::string workspace_id;
  std::string name;
  std::string status = "draft";        ///< draft, active, paused, archived
  std::string settings = "{}";         ///< JSON, e.g. {"rerunOnResubmit":true}
  std::optional<std::string> booking_url;
  std::string graph;                   ///< React Flow JSON {"nodes","edges"} as exported by the runtime
  std::vector<runtime::node_row> nodes;
  std::vector<runtime::edge_row> edges;
  std::vector<domain::form_field_record> fields;
};

/// SQL of a workflow row's digest (alias `f`): status, version, deletion, token, settings, name,
/// booking link and its form fields' latest change. The tenant poll reports the same digest, so
/// a changed counter (which also moves updated_at) does not make a node reload the workflow.
inline constexpr std::string_view k_workflow_fingerprint_sql =
    "md5(row(f.status, f.version, f.deleted_at, f.webhook_token_hash, f.settings, f.name, f.booking_url,"
    " (SELECT row(max(ff.updated_at), count(*)) FROM form_fields ff WHERE ff.workflow_id = f.id))::text)";

/// Creates the workflow with its rows and version 1, in one transaction; returns its id.
result<std::string> create_workflow(pg::connection& c, const new_workflow& w);

/// Inserts a workflow's edges (inside the caller's transaction); nothing for none.
result<void> insert_workflow_edges(pg::connection& tx, const std::string& workflow_id, const std::vector<runtime::edge_row>& edges);

/// The workspace's workflows (not deleted), current versions, with node ids and form fields.
result<std::vector<domain::workflow_record>> load_workflows(pg::connection& c, std::string_view workspace_id);

/// One workflow of a workspace; `version` picks a stored version's graph (default: current).
result<domain::workflow_record> load_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id,
                                      std::optional<int> version = std::nullopt);

/// Makes a new webhook token for a workflow (the old one stops working); returns the token,
/// which is stored only as its SHA-256.
result<std::string> rotate_webhook_token(pg::connection& c, std::string_view workflow_id);

/// Sets a workflow's status (`active`, `paused`, ...); an archived or missing workflow is
/// `not_found`.
result<void> set_workflow_status(pg::connection& c, std::string_view workflow_id, domain::workflow_status status);

/// Hex SHA-256 of a token, as stored.
std::string token_hash(std::string_view token);

/// A new random token: `prefix` and 64 hex characters (256 bits).
result<std::string> new_token(std::string_view prefix);

/// Which workspace a workflow belongs to (for callers that only know the workflow id).
result<std::string> workspace_of_workflow(pg::connection& c, std::string_view workflow_id);

}  // namespace flowtrack::storage
