// The compiled graph: a validated workflow turned into index-addressed nodes and edges with
// compiled configs, immutable and shared between actors as std::shared_ptr<const compiled_graph>.
// Also validation, which is compilation that keeps the problems. Must not know stepping or I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/catalog.hpp"
#include "runtime/graph.hpp"
#include "runtime/problem.hpp"

namespace flowtrack::runtime {

/// Index of a node in a compiled graph.
using node_index = std::uint32_t;
inline constexpr node_index k_no_node = 0xffffffffu;

/// A workflow ready to run. Thread-safe to share; never changes after compile().
class compiled_graph {
 public:
  /// An outgoing edge: its target, the source handle it leaves from, and an optional condition.
  struct edge {
    node_index target = k_no_node;
    std::uint16_t handle = 0;  ///< index into the source node's handles
    std::optional<runtime::condition> condition;
    std::string id;
  };
  /// A node with everything a step needs.
  struct node {
    std::string id;
    node_type type = node_type::logic_end;
    bool enabled = true;
    std::uint32_t first_edge = 0, end_edge = 0;  ///< its outgoing edges in edges_
    node_config config;
    retry_policy retry;
    std::int64_t timeout_ms = 0;  ///< 0: no timeout (non-actions)
    std::vector<std::string> handles;
  };

  /// Number of nodes.
  std::uint32_t size() const { return static_cast<std::uint32_t>(nodes_.size()); }
  /// A node by index (< size()).
  const node& at(node_index i) const { return nodes_[i]; }
  /// The enabled outgoing edges of a node, grouped by handle in handle order.
  std::span<const edge> out_edges(node_index i) const {
    return {edges_.data() + nodes_[i].first_edge, edges_.data() + nodes_[i].end_edge};
  }
  /// The index of a React Flow node id.
  std::optional<node_index> find(std::string_view id) const;
  /// Enabled trigger nodes, in graph order.
  std::span<const node_index> triggers() const { return triggers_; }
  /// The first enabled trigger of a type, or the first trigger when `type` is empty.
  std::optional<node_index> find_trigger(std::optional<node_type> type = std::nullopt) const;
  /// Warnings found while compiling (errors prevent compilation).
  const std::vector<problem>& warnings() const { return warnings_; }

 private:
  friend struct graph_compiler;
  std::vector<node> nodes_;
  std::vector<edge> edges_;
  std::vector<node_index> triggers_;
  std::unordered_map<std::string, node_index> index_;
  std::vector<problem> warnings_;
};

/// The outcome of compile(): a graph when there are no errors, and every problem found.
struct compile_result {
  std::shared_ptr<const compiled_graph> graph;  ///< null when problems hold an error
  std::vector<problem> problems;
  bool ok() const { return graph != nullptr; }
};

/// Validates and compiles a graph, reporting every problem at once: unknown node types, invalid
/// configs, duplicate ids, edges to missing nodes or handles, duplicate edges, self-loops,
/// cycles, no trigger, triggers with incoming edges, conditions without both branches;
/// unreachable nodes are warnings. Disabled nodes are not config-checked and pass a run through
/// (see stepper.hpp); disabled edges are ignored.
compile_result compile(const workflow_graph& g, const config_options& opts = {});

/// Only the problems (compile() without keeping the graph).
std::vector<problem> validate(const workflow_graph& g, const config_options& opts = {});

/// The idempotency key of a node's side effect in an execution: "<execution id>:<node id>".
/// Stable across retries and recovery, so receivers can drop duplicates.
std::string idempotency_key(std::string_view execution_id, std::string_view node_id);

}  // namespace flowtrack::runtime
