// React Flow import/export round trips and the row mapping.
#include "runtime/graph.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace flowtrack::runtime {
namespace {

namespace json = boost::json;

constexpr const char* k_editor_json = R"({
  "nodes": [
    {"id": "t", "type": "TRIGGER_FORM", "position": {"x": 10, "y": 20.5}, "data": {"label": "Form", "formId": "f1"},
     "width": 180, "height": 40, "selected": true, "positionAbsolute": {"x": 10, "y": 20.5}},
    {"id": "c", "type": "LOGIC_CONDITION", "position": {"x": 0, "y": 100},
     "data": {"field": "budget", "operator": ">=", "value": 5000, "trueHandle": "qualified", "falseHandle": "rejected",
              "editorColour": "#ff0", "isEnabled": true}},
    {"id": "n", "type": "LOGIC_END", "position": {"x": 1e3, "y": -5}}
  ],
  "edges": [
    {"id": "e1", "source": "t", "target": "c", "sourceHandle": null, "targetHandle": null, "animated": true},
    {"id": "e2", "source": "c", "target": "n", "sourceHandle": "qualified", "label": "yes", "type": "smoothstep",
     "data": {"condition": {"field": "score", "operator": ">", "value": 1}, "note": "keep me"}},
    {"id": "e3", "source": "c", "target": "n", "sourceHandle": "rejected", "data": {"isEnabled": false}}
  ],
  "viewport": {"x": 0, "y": 0, "zoom": 1.5},
  "formFields": [{"fieldKey": "budget", "label": "Budget", "fieldType": "NUMBER", "isRequired": false}]
})";

TEST(react_flow, round_trips_losslessly_keeping_editor_keys) {
  const json::value in = json::parse(k_editor_json);
  auto g = import_react_flow(in);
  ASSERT_TRUE(g.ok()) << g.err().message;
  EXPECT_EQ(export_react_flow(*g), in);
  auto again = import_react_flow(export_react_flow(*g));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(export_react_flow(*again), in);
}

TEST(react_flow, reads_the_modelled_fields) {
  auto g = import_react_flow(std::string_view(k_editor_json));
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->nodes.size(), 3u);
  EXPECT_EQ(g->nodes[0].type, "TRIGGER_FORM");
  EXPECT_DOUBLE_EQ(g->nodes[0].y(), 20.5);
  EXPECT_DOUBLE_EQ(g->nodes[2].x(), 1000);
  EXPECT_TRUE(g->nodes[1].enabled());
  ASSERT_EQ(g->edges.size(), 3u);
  EXPECT_FALSE(g->edges[0].source_handle.has_value());
  EXPECT_EQ(g->edges[1].source_handle, "qualified");
  EXPECT_EQ(g->edges[1].label, "yes");
  EXPECT_EQ(g->edges[1].edge_type(), "smoothstep");
  ASSERT_NE(g->edges[1].condition(), nullptr);
  EXPECT_FALSE(g->edges[2].enabled());
  ASSERT_EQ(g->form_fields.size(), 1u);
  EXPECT_EQ(g->form_fields[0].type, form_field_type::number);
}

TEST(react_flow, rejects_unusable_shapes_naming_the_path) {
  const std::pair<const char*, const char*> cases[] = {
      {"[]", "$"},
      {R"({"nodes": {}})", "nodes"},
      {R"({"nodes": [{"type": "TRIGGER_FORM"}]})", "nodes[0].id"},
      {R"({"nodes": [], "edges": [{"id": "e", "target": "x"}]})", "edges[0].source"},
      {R"({"nodes": [], "edges": [{"id": "e", "source": "x", "target": 5}]})", "edges[0].target"},
      {R"({"nodes": [], "formFields": [{"fieldKey": "a", "fieldType": "BLOB"}]})", "formFields[0].fieldType"},
  };
  for (const auto& [text, path] : cases) {
    auto g = import_react_flow(json::parse(text));
    ASSERT_FALSE(g.ok()) << text;
    EXPECT_EQ(g.err().subject, path) << text;
  }
  EXPECT_FALSE(import_react_flow(std::string_view("{\"nodes\": [")).ok());
}

TEST(react_flow, keeps_odd_values_for_validation_instead_of_failing) {
  const json::value in = json::parse(R"({"nodes":[{"id":"a","type":7,"data":null,"position":"x"}],"edges":[]})");
  auto g = import_react_flow(in);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->nodes[0].type.empty());
  EXPECT_EQ(export_react_flow(*g), in);
}

TEST(rows, map_nodes_and_edges_to_table_columns_and_back) {
  auto g = import_react_flow(std::string_view(k_editor_json));
  ASSERT_TRUE(g.ok());
  const auto nodes = to_node_rows(*g);
  const auto edges = to_edge_rows(*g);
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].node_category, "trigger");
  EXPECT_EQ(nodes[1].node_category, "logic");
  EXPECT_DOUBLE_EQ(nodes[0].position_y, 20.5);
  EXPECT_EQ(edges[1].edge_type, "smoothstep");
  EXPECT_FALSE(edges[1].condition.is_null());
  EXPECT_FALSE(edges[2].is_enabled);
  const workflow_graph back = from_rows(nodes, edges);
  EXPECT_EQ(to_node_rows(back).size(), 3u);
  const auto edges2 = to_edge_rows(back);
  ASSERT_EQ(edges2.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(edges2[i].source_handle, edges[i].source_handle);
    EXPECT_EQ(edges2[i].condition, edges[i].condition);
    EXPECT_EQ(edges2[i].is_enabled, edges[i].is_enabled);
    EXPECT_EQ(edges2[i].edge_type, edges[i].edge_type);
  }
  EXPECT_EQ(back.nodes[1].data, g->nodes[1].data);
}

}  // namespace
}  // namespace flowtrack::runtime
