// Workflows as stored: the workflow row, its nodes, edges and form fields, and an immutable
// snapshot per version that executions run. Knows SQL, not actors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/graph.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// `workflows.status`: only an active workflow takes new triggers.
enum class workflow_status { draft, active, paused, archived };
/// "draft", "active", "paused", "archived".
std::string_view to_string(workflow_status s);
/// The status a text names, or nullopt.
std::optional<workflow_status> parse_workflow_status(std::string_view s);

/// A `form_fields` row.
struct form_field_record {
  std::string id;
  std::string field_key;
  std::string label;
  std::string field_type;  ///< TEXT, EMAIL, TEXTAREA, DROPDOWN, NUMBER, DATE, CHECKBOX
  std::optional<std::string> options;  ///< JSON
  std::optional<std::string> placeholder;
  std::optional<std::string> help_text;
  bool is_required = true;
  std::optional<std::string> validation_rules;  ///< JSON
  int display_order = 0;
};

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
  std::vector<form_field_record> fields;
};

/// A workflow as the engine runs it.
struct workflow_record {
  std::string id;
  std::string workspace_id;
  std::string name;
  workflow_status status = workflow_status::draft;
  int version = 1;
  std::string settings = "{}";
  std::optional<std::string> booking_url;
  std::optional<std::string> webhook_token_hash;  ///< hex SHA-256 of the webhook trigger's token
  std::string graph;  ///< the current version's React Flow JSON
  std::map<std::string, std::string> node_ids;  ///< react_flow_node_id -> workflow_nodes.id
  std::vector<form_field_record> fields;        ///< active fields by display order
  std::string fingerprint;  ///< digest of what the engine caches (k_workflow_fingerprint_sql)
};

/// SQL of a workflow row's digest (alias `f`): status, version, deletion, token, settings, name,
/// booking link and its form fields' latest change. The tenant poll reports the same digest, so
/// a changed counter (which also moves updated_at) does not make a node reload the workflow.
inline constexpr std::string_view k_workflow_fingerprint_sql =
    "md5(row(f.status, f.version, f.deleted_at, f.webhook_token_hash, f.settings, f.name, f.booking_url,"
    " (SELECT row(max(ff.updated_at), count(*)) FROM form_fields ff WHERE ff.workflow_id = f.id))::text)";

/// Creates the workflow with its rows and version 1, in one transaction; returns its id.
result<std::string> create_workflow(pg::connection& c, const new_workflow& w);

/// The workspace's workflows (not deleted), current versions, with node ids and form fields.
result<std::vector<workflow_record>> load_workflows(pg::connection& c, std::string_view workspace_id);

/// One workflow of a workspace; `version` picks a stored version's graph (default: current).
result<workflow_record> load_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id,
                                      std::optional<int> version = std::nullopt);

/// Makes a new webhook token for a workflow (the old one stops working); returns the token,
/// which is stored only as its SHA-256.
result<std::string> rotate_webhook_token(pg::connection& c, std::string_view workflow_id);

/// Sets a workflow's status (`active`, `paused`, ...); an archived or missing workflow is
/// `not_found`.
result<void> set_workflow_status(pg::connection& c, std::string_view workflow_id, workflow_status status);

/// Hex SHA-256 of a token, as stored.
std::string token_hash(std::string_view token);

/// Which workspace a workflow belongs to (for callers that only know the workflow id).
result<std::string> workspace_of_workflow(pg::connection& c, std::string_view workflow_id);

}  // namespace flowtrack::storage
