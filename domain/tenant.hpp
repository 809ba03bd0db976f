// Workspaces and workflows as the rules see them: the records storage loads and the actors,
// intake and the CLI read. Pure data.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowtrack::domain {

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
  std::string fingerprint;  ///< digest of the cached columns; the tenant poll reports the same digest
  std::string settings = "{}";  ///< workspaces.settings (JSON), e.g. {"allowedForwarders":["a@b.example","@c.example"]}
};

/// Whether mail from `sender` (an address) may be forwarded to the workspace's intake: any sender
/// unless the settings list `allowedForwarders` (addresses, or "@domain" for a whole domain),
/// compared case-insensitively.
bool forwarder_allowed(const workspace_info& ws, std::string_view sender);

}  // namespace flowtrack::domain
