// React Flow import/export and the row mapping of workflow_nodes / workflow_edges.
#include "runtime/graph.hpp"

#include <boost/json/parse.hpp>

namespace flowtrack::runtime {

namespace json = boost::json;

namespace {

bool flag_disabled(const json::object& data) {
  if (const json::value* e = data.if_contains("isEnabled"); e && e->is_bool() && !e->get_bool()) return true;
  if (const json::value* d = data.if_contains("disabled"); d && d->is_bool() && d->get_bool()) return true;
  return false;
}

double number_of(const json::value* v) {
  if (!v) return 0;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return 0;
}

error shape_error(std::string what, std::string path) {
  return make_error(error_code::invalid, path + ": " + what, std::move(path));
}

}  // namespace

bool graph_node::enabled() const { return !flag_disabled(data); }
double graph_node::x() const { return number_of(position.if_contains("x")); }
double graph_node::y() const { return number_of(position.if_contains("y")); }

bool graph_edge::enabled() const { return !flag_disabled(data); }
const json::value* graph_edge::condition() const {
  const json::value* c = data.if_contains("condition");
  return c && !c->is_null() ? c : nullptr;
}
std::string_view graph_edge::edge_type() const {
  const json::value* t = extra.if_contains("type");
  return t && t->is_string() ? std::string_view(t->get_string()) : std::string_view("default");
}

std::optional<form_field_type> parse_form_field_type(std::string_view s) {
  static constexpr std::pair<std::string_view, form_field_type> k_types[] = {
      {"TEXT", form_field_type::text},         {"EMAIL", form_field_type::email},
      {"TEXTAREA", form_field_type::textarea}, {"DROPDOWN", form_field_type::dropdown},
      {"NUMBER", form_field_type::number},     {"DATE", form_field_type::date},
      {"CHECKBOX", form_field_type::checkbox}};
  for (const auto& [n, t] : k_types) {
    if (n == s) return t;
  }
  return std::nullopt;
}

result<workflow_graph> import_react_flow(const json::value& v) {
  const json::object* root = v.if_object();
  if (!root) return shape_error("a workflow must be a JSON object with \"nodes\" and \"edges\"", "$");
  workflow_graph g;
  for (const auto& [key, val] : *root) {
    if (key == "nodes") {
      if (!val.is_array()) return shape_error("must be an array", "nodes");
      std::size_t i = 0;
      for (const auto& n : val.get_array()) {
        const std::string path = "nodes[" + std::to_string(i++) + "]";
        const json::object* o = n.if_object();
        if (!o) return shape_error("a node must be an object", path);
        graph_node node;
        bool has_id = false;
        for (const auto& [k, f] : *o) {
          if (k == "id" && f.is_string()) {
            node.id = std::string(f.get_string());
            has_id = true;
          } else if (k == "type" && f.is_string()) {
            node.type = std::string(f.get_string());
            node.has_type = true;
          } else if (k == "position" && f.is_object()) {
            node.position = f.get_object();
            node.has_position = true;
          } else if (k == "data" && f.is_object()) {
            node.data = f.get_object();
            node.has_data = true;
          } else {
            node.extra.emplace(k, f);
          }
        }
        if (!has_id) return shape_error("a node needs a string \"id\"", path + ".id");
        g.nodes.push_back(std::move(node));
      }
    } else if (key == "edges") {
      if (!val.is_array()) return shape_error("must be an array", "edges");
      std::size_t i = 0;
      for (const auto& e : val.get_array()) {
        const std::string path = "edges[" + std::to_string(i++) + "]";
        const json::object* o = e.if_object();
        if (!o) return shape_error("an edge must be an object", path);
        graph_edge edge;
        bool id = false, src = false, dst = false;
        for (const auto& [k, f] : *o) {
          if (k == "id" && f.is_string()) {
            edge.id = std::string(f.get_string());
            id = true;
          } else if (k == "source" && f.is_string()) {
            edge.source = std::string(f.get_string());
            src = true;
          } else if (k == "target" && f.is_string()) {
            edge.target = std::string(f.get_string());
            dst = true;
          } else if (k == "sourceHandle" && f.is_string()) {
            edge.source_handle = std::string(f.get_string());
          } else if (k == "targetHandle" && f.is_string()) {
            edge.target_handle = std::string(f.get_string());
          } else if (k == "label" && f.is_string()) {
            edge.label = std::string(f.get_string());
          } else if (k == "data" && f.is_object()) {
            edge.data = f.get_object();
            edge.has_data = true;
          } else {
            edge.extra.emplace(k, f);
          }
        }
        if (!id) return shape_error("an edge needs a string \"id\"", path + ".id");
        if (!src) return shape_error("an edge needs a string \"source\"", path + ".source");
        if (!dst) return shape_error("an edge needs a string \"target\"", path + ".target");
        g.edges.push_back(std::move(edge));
      }
    } else if (key == "formFields") {
      if (!val.is_array()) return shape_error("must be an array", "formFields");
      g.has_form_fields = true;
      std::size_t i = 0;
      for (const auto& f : val.get_array()) {
        const std::string path = "formFields[" + std::to_string(i++) + "]";
        const json::object* o = f.if_object();
        if (!o) return shape_error("a form field must be an object", path);
        form_field ff;
        ff.raw = *o;
        const json::value* k = o->if_contains("fieldKey");
        if (!k || !k->is_string()) return shape_error("a form field needs a string \"fieldKey\"", path + ".fieldKey");
        ff.key = std::string(k->get_string());
        if (const json::value* l = o->if_contains("label"); l && l->is_string()) ff.label = std::string(l->get_string());
        if (const json::value* t = o->if_contains("fieldType"); t && t->is_string()) {
          const auto type = parse_form_field_type(t->get_string());
          if (!type) return shape_error("unknown field type '" + std::string(t->get_string()) + "'", path + ".fieldType");
          ff.type = *type;
        }
        g.form_fields.push_back(std::move(ff));
      }
    } else {
      g.extra.emplace(key, val);
    }
  }
  return g;
}

result<workflow_graph> import_react_flow(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return make_error(error_code::invalid, "not valid JSON: " + ec.message(), "$");
  return import_react_flow(v);
}

json::value export_react_flow(const workflow_graph& g) {
  json::object root = g.extra;
  json::array nodes;
  nodes.reserve(g.nodes.size());
  for (const auto& n : g.nodes) {
    json::object o = n.extra;
    o["id"] = n.id;
    if (n.has_type || !n.type.empty()) o["type"] = n.type;
    if (n.has_position || !n.position.empty()) o["position"] = n.position;
    if (n.has_data || !n.data.empty()) o["data"] = n.data;
    nodes.emplace_back(std::move(o));
  }
  json::array edges;
  edges.reserve(g.edges.size());
  for (const auto& e : g.edges) {
    json::object o = e.extra;
    o["id"] = e.id;
    o["source"] = e.source;
    o["target"] = e.target;
    if (e.source_handle) o["sourceHandle"] = *e.source_handle;
    if (e.target_handle) o["targetHandle"] = *e.target_handle;
    if (e.label) o["label"] = *e.label;
    if (e.has_data || !e.data.empty()) o["data"] = e.data;
    edges.emplace_back(std::move(o));
  }
  root["nodes"] = std::move(nodes);
  root["edges"] = std::move(edges);
  if (g.has_form_fields || !g.form_fields.empty()) {
    json::array fields;
    for (const auto& f : g.form_fields) {
      json::object o = f.raw;
      o["fieldKey"] = f.key;
      fields.emplace_back(std::move(o));
    }
    root["formFields"] = std::move(fields);
  }
  return root;
}

std::vector<node_row> to_node_rows(const workflow_graph& g) {
  std::vector<node_row> rows;
  for (const auto& n : g.nodes) {
    node_row r;
    r.react_flow_node_id = n.id;
    r.node_type = n.type;
    const std::string_view t = n.type;
    r.node_category = t.starts_with("TRIGGER_") ? "trigger" : t.starts_with("ACTION_") ? "action"
                      : t.starts_with("LOGIC_")  ? "logic"
                                                 : "utility";
    r.position_x = n.x();
    r.position_y = n.y();
    r.config = n.data;
    r.is_enabled = n.enabled();
    if (const json::value* o = n.data.if_contains("executionOrder"); o && o->is_int64()) {
      r.execution_order = static_cast<int>(o->get_int64());
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<edge_row> to_edge_rows(const workflow_graph& g) {
  std::vector<edge_row> rows;
  for (const auto& e : g.edges) {
    edge_row r;
    r.react_flow_edge_id = e.id;
    r.source_node_id = e.source;
    r.target_node_id = e.target;
    r.source_handle = e.source_handle;
    r.target_handle = e.target_handle;
    r.edge_type = std::string(e.edge_type());
    r.label = e.label;
    if (const json::value* c = e.condition()) r.condition = *c;
    r.is_enabled = e.enabled();
    rows.push_back(std::move(r));
  }
  return rows;
}

workflow_graph from_rows(const std::vector<node_row>& nodes, const std::vector<edge_row>& edges) {
  workflow_graph g;
  for (const auto& r : nodes) {
    graph_node n;
    n.id = r.react_flow_node_id;
    n.type = r.node_type;
    n.has_type = true;
    n.position["x"] = r.position_x;
    n.position["y"] = r.position_y;
    n.has_position = true;
    n.data = r.config;
    n.has_data = true;
    if (!r.is_enabled && n.enabled()) n.data["isEnabled"] = false;
    g.nodes.push_back(std::move(n));
  }
  for (const auto& r : edges) {
    graph_edge e;
    e.id = r.react_flow_edge_id;
    e.source = r.source_node_id;
    e.target = r.target_node_id;
    e.source_handle = r.source_handle;
    e.target_handle = r.target_handle;
    e.label = r.label;
    if (r.edge_type != "default") e.extra["type"] = r.edge_type;
    if (!r.condition.is_null()) {
      e.data["condition"] = r.condition;
      e.has_data = true;
    }
    if (!r.is_enabled) {
      e.data["isEnabled"] = false;
      e.has_data = true;
    }
    g.edges.push_back(std::move(e));
  }
  return g;
}

}  // namespace flowtrack::runtime
