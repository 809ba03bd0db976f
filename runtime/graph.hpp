// The workflow graph as drawn: nodes, edges and form fields, matching `workflow_nodes`,
// `workflow_edges` and `form_fields`, and lossless import/export of the editor's React Flow
// JSON. Knows JSON only; must not know node semantics (catalog.hpp) or storage.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "runtime/error.hpp"

namespace flowtrack::runtime {

/// A React Flow node: `{"id","type","position":{"x","y"},"data":{...config}}`.
/// `data` is the node's config (`workflow_nodes.config`); keys the editor adds are kept.
struct graph_node {
  std::string id;              ///< react_flow_node_id
  std::string type;            ///< node_type, e.g. "ACTION_SEND_EMAIL"
  boost::json::object position;  ///< {"x","y"} as sent (numbers kept exactly)
  boost::json::object data;      ///< config
  boost::json::object extra;     ///< other top-level keys (width, selected, ...), kept verbatim
  bool has_type = false;         ///< whether "type" was sent as a string
  bool has_position = false;     ///< whether "position" was sent (exported when set or non-empty)
  bool has_data = false;         ///< whether "data" was sent (exported when set or non-empty)

  /// `is_enabled`: false when data.isEnabled is false or data.disabled is true.
  bool enabled() const;
  /// Canvas coordinates (0 when absent).
  double x() const;
  double y() const;
};

/// A React Flow edge: `{"id","source","target","sourceHandle","targetHandle","label",
/// "data":{"condition"}}`.
struct graph_edge {
  std::string id;  ///< react_flow_edge_id
  std::string source;
  std::string target;
  std::optional<std::string> source_handle;
  std::optional<std::string> target_handle;
  std::optional<std::string> label;
  boost::json::object data;
  boost::json::object extra;  ///< other top-level keys (type, animated, null handles, ...)
  bool has_data = false;      ///< whether "data" was sent (exported when set or non-empty)

  /// `is_enabled`: false when data.isEnabled is false or data.disabled is true.
  bool enabled() const;
  /// `workflow_edges.condition`: data.condition when present and not null.
  const boost::json::value* condition() const;
  /// `edge_type`: the top-level "type" or "default".
  std::string_view edge_type() const;
};

/// Form field types of `form_fields.field_type`.
enum class form_field_type { text, email, textarea, dropdown, number, date, checkbox };

/// A `form_fields` row as the editor sends it: `{"fieldKey","label","fieldType","options",
/// "placeholder","helpText","isRequired","validationRules","displayOrder","isActive"}`.
struct form_field {
  std::string key;
  std::string label;
  form_field_type type = form_field_type::text;
  boost::json::object raw;  ///< the whole object as sent, for lossless export
};

/// A whole workflow graph. Unknown top-level keys (e.g. "viewport") are kept in `extra`.
struct workflow_graph {
  std::vector<graph_node> nodes;
  std::vector<graph_edge> edges;
  std::vector<form_field> form_fields;  ///< from an optional top-level "formFields"
  bool has_form_fields = false;
  boost::json::object extra;
};

/// Imports React Flow JSON. Fails (invalid, subject = JSON path such as "nodes[2].id") only when
/// the shape is unusable: not an object, a node or edge without a string id, type, source or
/// target. Everything else, even nonsense, is kept for validate() to report.
result<workflow_graph> import_react_flow(const boost::json::value& v);
/// Parses text first; a JSON syntax error is invalid with the offset in the message.
result<workflow_graph> import_react_flow(std::string_view json_text);
/// Exports React Flow JSON; import(export(g)) == g and export(import(j)) == j for any j that
/// imports.
boost::json::value export_react_flow(const workflow_graph& g);

/// Parses `form_fields.field_type` ("TEXT", ...).
std::optional<form_field_type> parse_form_field_type(std::string_view s);

/// A `workflow_nodes` row (without workflow_id and timestamps).
struct node_row {
  std::string react_flow_node_id;
  std::string node_type;
  std::string node_category;  ///< trigger / action / logic; "utility" for unknown types
  double position_x = 0;
  double position_y = 0;
  boost::json::object config;
  bool is_enabled = true;
  std::optional<int> execution_order;  ///< data.executionOrder
};

/// A `workflow_edges` row (without workflow_id and timestamps).
struct edge_row {
  std::string react_flow_edge_id;
  std::string source_node_id;
  std::string target_node_id;
  std::optional<std::string> source_handle;
  std::optional<std::string> target_handle;
  std::string edge_type = "default";
  std::optional<std::string> label;
  boost::json::value condition;  ///< null when none
  bool is_enabled = true;
};

/// The rows a graph is stored as. UI-only keys outside `data` (width, selected) are not part of
/// the schema and are dropped.
std::vector<node_row> to_node_rows(const workflow_graph& g);
std::vector<edge_row> to_edge_rows(const workflow_graph& g);
/// Rebuilds a graph from rows (the inverse of to_*_rows for what the rows hold).
workflow_graph from_rows(const std::vector<node_row>& nodes, const std::vector<edge_row>& edges);

}  // namespace flowtrack::runtime
