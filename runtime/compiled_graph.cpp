// Validation and compilation of a workflow graph.
#include "runtime/compiled_graph.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

namespace flowtrack::runtime {

namespace json = boost::json;

bool has_errors(const std::vector<problem>& problems) {
  return std::any_of(problems.begin(), problems.end(),
                     [](const problem& p) { return p.level == problem::severity::error; });
}

json::array problems_to_json(const std::vector<problem>& problems) {
  json::array out;
  out.reserve(problems.size());
  for (const auto& p : problems) {
    json::object o;
    if (!p.node_id.empty()) o["nodeId"] = p.node_id;
    if (!p.edge_id.empty()) o["edgeId"] = p.edge_id;
    o["field"] = p.field;
    o["code"] = p.code;
    o["message"] = p.message;
    o["severity"] = p.level == problem::severity::error ? "error" : "warning";
    out.emplace_back(std::move(o));
  }
  return out;
}

std::string idempotency_key(std::string_view execution_id, std::string_view node_id) {
  std::string k;
  k.reserve(execution_id.size() + node_id.size() + 1);
  k += execution_id;
  k += ':';
  k += node_id;
  return k;
}

std::optional<node_index> compiled_graph::find(std::string_view id) const {
  const auto it = index_.find(std::string(id));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::optional<node_index> compiled_graph::find_trigger(std::optional<node_type> type) const {
  for (node_index t : triggers_) {
    if (!type || nodes_[t].type == *type) return t;
  }
  return std::nullopt;
}

inline constexpr std::size_t k_max_nodes = 2000;
inline constexpr std::size_t k_max_edges = 10000;

struct graph_compiler {
  const workflow_graph& g;
  const config_options& opts;
  std::vector<problem> problems;

  void node_error(const std::string& node, std::string field, std::string code, std::string message,
                  problem::severity level = problem::severity::error) {
    problems.push_back(problem{node, {}, std::move(field), std::move(code), std::move(message), level});
  }
  void edge_error(const graph_edge& e, std::string field, std::string code, std::string message,
                  std::string node = {}) {
    problems.push_back(problem{std::move(node), e.id, std::move(field), std::move(code), std::move(message),
                               problem::severity::error});
  }

  compile_result run() {
    compile_result out;
    if (g.nodes.size() > k_max_nodes || g.edges.size() > k_max_edges) {
      problems.push_back(problem{{}, {}, "nodes", "too_large",
                                 "a workflow may have at most " + std::to_string(k_max_nodes) + " nodes and " +
                                     std::to_string(k_max_edges) + " edges",
                                 problem::severity::error});
      out.problems = std::move(problems);
      return out;
    }
    auto cg = std::make_shared<compiled_graph>();
    const std::size_t n = g.nodes.size();
    cg->nodes_.resize(n);
    std::vector<bool> known(n, false);  // type is known

    // Nodes: ids, types, configs.
    for (std::size_t i = 0; i < n; ++i) {
      const graph_node& gn = g.nodes[i];
      auto& cn = cg->nodes_[i];
      cn.id = gn.id;
      cn.enabled = gn.enabled();
      if (gn.id.empty()) node_error(gn.id, "id", "missing_id", "node " + std::to_string(i) + " has an empty id");
      if (!cg->index_.emplace(gn.id, static_cast<node_index>(i)).second) {
        node_error(gn.id, "id", "duplicate_node_id", "node id '" + gn.id + "' is used by more than one node");
      }
      const auto type = parse_node_type(gn.type);
      if (!type) {
        node_error(gn.id, "type", "unknown_node_type",
                   gn.type.empty() ? std::string("the node has no type")
                                   : "unknown node type '" + gn.type + "'");
        continue;
      }
      known[i] = true;
      cn.type = *type;
      std::vector<problem> config_problems;
      cn.config = compile_config(*type, gn.data, gn.id, opts, config_problems);
      compile_retry(*type, gn.data, gn.id, cn.retry, cn.timeout_ms, config_problems);
      if (cn.enabled) problems.insert(problems.end(), config_problems.begin(), config_problems.end());
      cn.handles = output_handles(*type, cn.config);
      if (cn.enabled && is_trigger(*type)) cg->triggers_.push_back(static_cast<node_index>(i));
    }

    // Edges.
    struct pending_edge {
      node_index source;
      compiled_graph::edge e;
      std::size_t order;
    };
    std::vector<pending_edge> pending;
    std::unordered_set<std::string> edge_ids;
    std::set<std::tuple<std::string, std::string, std::string, std::string>> connections;
    std::vector<std::vector<node_index>> adjacency(n);
    std::vector<std::vector<std::size_t>> adjacency_edge(n);
    std::vector<std::set<std::uint16_t>> used_handles(n);
    for (std::size_t k = 0; k < g.edges.size(); ++k) {
      const graph_edge& ge = g.edges[k];
      if (ge.id.empty()) edge_error(ge, "id", "missing_id", "edge " + std::to_string(k) + " has an empty id");
      if (!edge_ids.insert(ge.id).second) {
        edge_error(ge, "id", "duplicate_edge_id", "edge id '" + ge.id + "' is used by more than one edge");
      }
      if (!ge.enabled()) continue;
      const auto s = cg->find(ge.source);
      const auto t = cg->find(ge.target);
      bool ok = true;
      if (!s) {
        edge_error(ge, "source", "missing_node", "edge '" + ge.id + "' starts at missing node '" + ge.source + "'");
        ok = false;
      }
      if (!t) {
        edge_error(ge, "target", "missing_node", "edge '" + ge.id + "' ends at missing node '" + ge.target + "'");
        ok = false;
      }
      if (ge.source == ge.target) {
        edge_error(ge, "target", "self_loop", "edge '" + ge.id + "' connects node '" + ge.source + "' to itself");
        ok = false;
      }
      if (!connections.emplace(ge.source, ge.target, ge.source_handle.value_or(""), ge.target_handle.value_or(""))
               .second) {
        edge_error(ge, "target", "duplicate_edge",
                   "edge '" + ge.id + "' repeats a connection from '" + ge.source + "' to '" + ge.target + "'");
      }
      compiled_graph::edge ce;
      ce.id = ge.id;
      if (const json::value* c = ge.condition()) {
        auto cond = condition::compile(*c);
        if (!cond) {
          const std::string& m = cond.err().message;
          const bool regex = m.starts_with("bad regular expression") || m.starts_with("regular expression");
          edge_error(ge, "data.condition" + (cond.err().subject.empty() ? "" : "." + cond.err().subject),
                     regex ? "bad_regex" : "bad_condition", m);
          ok = false;
        } else {
          ce.condition = std::move(*cond);
        }
      }
      if (!ok) continue;
      const auto& src = cg->nodes_[*s];
      const auto& dst = cg->nodes_[*t];
      if (known[*t] && is_trigger(dst.type)) {
        edge_error(ge, "target", "trigger_has_incoming",
                   "trigger '" + dst.id + "' cannot have incoming edges (edge '" + ge.id + "')", dst.id);
      }
      if (known[*s]) {
        if (src.handles.empty()) {
          edge_error(ge, "sourceHandle", "missing_handle",
                     "node '" + src.id + "' (" + std::string(to_string(src.type)) + ") has no outputs");
          continue;
        }
        if (src.handles.size() > 1 || !src.handles[0].empty()) {
          const std::string h = ge.source_handle.value_or("");
          const auto it = std::find(src.handles.begin(), src.handles.end(), h);
          if (it == src.handles.end()) {
            std::string list;
            for (const auto& x : src.handles) list += (list.empty() ? "" : ", ") + ("'" + x + "'");
            edge_error(ge, "sourceHandle", "missing_handle",
                       "edge '" + ge.id + "' leaves node '" + src.id + "' from handle '" + h +
                           "', which does not exist (handles: " + list + ")");
            continue;
          }
          ce.handle = static_cast<std::uint16_t>(it - src.handles.begin());
        }
      }
      used_handles[*s].insert(ce.handle);
      adjacency[*s].push_back(*t);
      adjacency_edge[*s].push_back(k);
      ce.target = *t;
      pending.push_back(pending_edge{*s, std::move(ce), k});
    }

    // Graph-level rules.
    if (cg->triggers_.empty()) {
      problems.push_back(problem{{}, {}, "nodes", "no_trigger",
                                 "the workflow needs an enabled trigger node (TRIGGER_FORM, TRIGGER_EMAIL, "
                                 "TRIGGER_WEBHOOK, TRIGGER_MANUAL or TRIGGER_SCHEDULE)",
                                 problem::severity::error});
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto& cn = cg->nodes_[i];
      if (!known[i] || !cn.enabled) continue;
      if (const auto* c = std::get_if<condition_config>(&cn.config)) {
        if (!used_handles[i].count(0)) {
          node_error(cn.id, "trueHandle", "missing_branch",
                     "condition '" + cn.id + "' has no edge from its true handle '" + c->true_handle + "'");
        }
        if (!used_handles[i].count(1)) {
          node_error(cn.id, "falseHandle", "missing_branch",
                     "condition '" + cn.id + "' has no edge from its false handle '" + c->false_handle + "'");
        }
      } else if (const auto* sp = std::get_if<split_config>(&cn.config)) {
        for (std::size_t h = 0; h < sp->handles.size(); ++h) {
          if (!used_handles[i].count(static_cast<std::uint16_t>(h))) {
            node_error(cn.id, "branches", "unconnected_branch",
                       "split branch '" + sp->handles[h] + "' has no edge; leads sent there end", problem::severity::warning);
          }
        }
      }
    }
    find_cycles(adjacency, adjacency_edge);
    find_unreachable(*cg, adjacency, known);
    warn_unknown_fields(*cg, known, pending);

    if (has_errors(problems)) {
      out.problems = std::move(problems);
      return out;
    }
    std::stable_sort(pending.begin(), pending.end(), [](const pending_edge& a, const pending_edge& b) {
      return std::tie(a.source, a.e.handle) < std::tie(b.source, b.e.handle);
    });
    std::size_t p = 0;
    for (std::size_t i = 0; i < n; ++i) {
      cg->nodes_[i].first_edge = static_cast<std::uint32_t>(cg->edges_.size());
      while (p < pending.size() && pending[p].source == i) cg->edges_.push_back(std::move(pending[p++].e));
      cg->nodes_[i].end_edge = static_cast<std::uint32_t>(cg->edges_.size());
    }
    cg->warnings_ = problems;
    out.problems = std::move(problems);
    out.graph = std::move(cg);
    return out;
  }

  void find_cycles(const std::vector<std::vector<node_index>>& adj, const std::vector<std::vector<std::size_t>>& adj_edge) {
    const std::size_t n = adj.size();
    std::vector<std::uint8_t> color(n, 0);  // 0 new, 1 on stack, 2 done
    std::vector<std::pair<node_index, std::size_t>> stack;
    for (std::size_t root = 0; root < n; ++root) {
      if (color[root]) continue;
      stack.emplace_back(static_cast<node_index>(root), 0);
      color[root] = 1;
      while (!stack.empty()) {
        auto& [v, next] = stack.back();
        if (next == adj[v].size()) {
          color[v] = 2;
          stack.pop_back();
          continue;
        }
        const std::size_t k = next++;
        const node_index w = adj[v][k];
        if (color[w] == 1) {
          std::string path;
          bool in = false;
          for (const auto& [u, unused] : stack) {
            (void)unused;
            if (u == w) in = true;
            if (in) path += g.nodes[u].id + " -> ";
          }
          path += g.nodes[w].id;
          const graph_edge& e = g.edges[adj_edge[v][k]];
          edge_error(e, "target", "cycle", "edge '" + e.id + "' closes a cycle: " + path);
        } else if (color[w] == 0) {
          color[w] = 1;
          stack.emplace_back(w, 0);
        }
      }
    }
  }

  void find_unreachable(const compiled_graph& cg, const std::vector<std::vector<node_index>>& adj,
                        const std::vector<bool>& known) {
    std::vector<bool> seen(adj.size(), false);
    std::vector<node_index> work(cg.triggers_.begin(), cg.triggers_.end());
    for (node_index t : work) seen[t] = true;
    while (!work.empty()) {
      const node_index v = work.back();
      work.pop_back();
      for (node_index w : adj[v]) {
        if (!seen[w]) {
          seen[w] = true;
          work.push_back(w);
        }
      }
    }
    for (std::size_t i = 0; i < adj.size(); ++i) {
      const auto& cn = cg.nodes_[i];
      if (!seen[i] && cn.enabled && known[i] && !is_trigger(cn.type)) {
        node_error(cn.id, "", "unreachable", "node '" + cn.id + "' cannot be reached from any trigger",
                   problem::severity::warning);
      }
    }
  }

  template <class Pending>
  void warn_unknown_fields(const compiled_graph& cg, const std::vector<bool>& known, const std::vector<Pending>& edges) {
    if (!g.has_form_fields) return;
    std::unordered_set<std::string> keys;
    for (const auto& f : g.form_fields) keys.insert(f.key);
    auto check = [&](const condition& c, const std::string& node, const std::string& edge) {
      for (const variable* v : c.variables()) {
        if (v->root == var_root::lead_field && !keys.count(v->key)) {
          problems.push_back(problem{node, edge, "field", "unknown_field",
                                     "'" + v->key + "' is not a field of this workflow's form; it reads as empty",
                                     problem::severity::warning});
        }
      }
    };
    for (std::size_t i = 0; i < cg.nodes_.size(); ++i) {
      if (!known[i] || !cg.nodes_[i].enabled) continue;
      if (const auto* c = std::get_if<condition_config>(&cg.nodes_[i].config)) check(c->test, cg.nodes_[i].id, {});
    }
    for (const auto& pe : edges) {
      if (pe.e.condition) check(*pe.e.condition, {}, pe.e.id);
    }
  }
};

compile_result compile(const workflow_graph& g, const config_options& opts) {
  graph_compiler c{g, opts, {}};
  return c.run();
}

std::vector<problem> validate(const workflow_graph& g, const config_options& opts) {
  return compile(g, opts).problems;
}

}  // namespace flowtrack::runtime
