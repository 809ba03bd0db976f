// Property tests on random graphs: every run ends, no node runs twice, runs are deterministic,
// round trips are lossless, and graphs with cycles are rejected. Seeds are fixed (hermetic).
#include <random>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "runtime/dry_run.hpp"
#include "tests/unit/runtime/test_helpers.hpp"

namespace flowtrack::runtime {
namespace {

namespace json = boost::json;

// A random graph: nodes in a random order; edges go only forward unless `allow_back`.
json::object random_graph(std::mt19937_64& rng, bool allow_back) {
  std::uniform_int_distribution<int> count(2, 14);
  const int n = count(rng);
  json::array nodes, edges;
  nodes.push_back(json::object{{"id", "n0"}, {"type", "TRIGGER_FORM"}, {"position", {{"x", 0}, {"y", 0}}}});
  const char* kinds[] = {"ACTION_ADD_TAG", "ACTION_UPDATE_SCORE", "LOGIC_CONDITION", "LOGIC_DELAY", "LOGIC_SPLIT",
                         "ACTION_SEND_EMAIL", "LOGIC_END", "ACTION_UPDATE_STATUS", "LOGIC_WAIT_UNTIL"};
  std::vector<std::vector<std::string>> handles(static_cast<std::size_t>(n));
  handles[0] = {""};
  for (int i = 1; i < n; ++i) {
    const std::string kind = kinds[rng() % std::size(kinds)];
    json::object data;
    if (kind == "ACTION_ADD_TAG") data = {{"tag", "t" + std::to_string(rng() % 3)}};
    if (kind == "ACTION_UPDATE_SCORE") data = {{"delta", static_cast<int>(rng() % 21) - 10}};
    if (kind == "ACTION_UPDATE_SCORE" && data["delta"] == 0) data["delta"] = 1;
    if (kind == "ACTION_SEND_EMAIL") data = {{"emailSubject", "Hi {{lead.name}}"}, {"emailBody", "{{lead.tags}}"}};
    if (kind == "ACTION_UPDATE_STATUS") data = {{"status", rng() % 2 ? "HOT" : "COLD"}};
    if (kind == "LOGIC_DELAY") data = {{"delayHours", 1 + static_cast<int>(rng() % 48)}};
    if (kind == "LOGIC_WAIT_UNTIL") data = {{"weekdays", {"MON", "WED"}}, {"startHour", 9}, {"endHour", 11}};
    if (kind == "LOGIC_CONDITION") {
      data = {{"field", "score"}, {"operator", ">"}, {"value", static_cast<int>(rng() % 20)}};
      handles[static_cast<std::size_t>(i)] = {"true", "false"};
    } else if (kind == "LOGIC_SPLIT") {
      data = {{"percentA", static_cast<int>(rng() % 101)}};
      handles[static_cast<std::size_t>(i)] = {"a", "b"};
    } else if (kind == "LOGIC_END") {
      handles[static_cast<std::size_t>(i)] = {};
    } else {
      handles[static_cast<std::size_t>(i)] = {""};
    }
    if (rng() % 10 == 0) data["isEnabled"] = false;
    nodes.push_back(json::object{{"id", "n" + std::to_string(i)}, {"type", kind}, {"data", data}});
  }
  int e = 0;
  std::set<std::tuple<int, int, std::string>> seen;
  auto add_edge = [&](int s, int t, const std::string& h, bool conditional) {
    if (s == t || !seen.emplace(s, t, h).second) return;
    json::object edge{{"id", "e" + std::to_string(e++)}, {"source", "n" + std::to_string(s)}, {"target", "n" + std::to_string(t)}};
    if (!h.empty()) edge["sourceHandle"] = h;
    if (conditional) edge["data"] = {{"condition", {{"field", "tags"}, {"operator", "contains"}, {"value", "t1"}}}};
    edges.push_back(std::move(edge));
  };
  for (int s = 0; s < n; ++s) {
    for (const auto& h : handles[static_cast<std::size_t>(s)]) {
      const int outs = 1 + static_cast<int>(rng() % 2);
      for (int k = 0; k < outs; ++k) {
        const int lo = allow_back ? 1 : s + 1;
        if (lo >= n) break;
        const int t = lo + static_cast<int>(rng() % static_cast<unsigned>(n - lo));
        add_edge(s, t, h, rng() % 5 == 0);
      }
    }
  }
  return json::object{{"nodes", nodes}, {"edges", edges}};
}

lead random_lead(std::mt19937_64& rng) {
  lead l;
  l.email = "l" + std::to_string(rng() % 1000) + "@example.com";
  l.name = "Lead";
  l.score = static_cast<std::int64_t>(rng() % 30);
  if (rng() % 2) l.tags.push_back("t1");
  return l;
}

TEST(random_graphs, every_run_ends_visits_each_node_once_and_is_deterministic) {
  std::mt19937_64 rng(20250101);
  run_env env;
  env.execution_id = "exec";
  env.zone = test::zone("Europe/Berlin");
  int compiled = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const json::object spec = random_graph(rng, false);
    auto g = import_react_flow(spec);
    ASSERT_TRUE(g.ok());
    ASSERT_EQ(export_react_flow(*g), json::value(spec));
    auto c = compile(*g, config_options{&test::zones()});
    if (!c.ok()) {
      // Forward-only graphs fail only for missing condition branches or unwired splits.
      for (const auto& p : c.problems) {
        if (p.level == problem::severity::error) {
          ASSERT_EQ(p.code, "missing_branch") << json::serialize(spec);
        }
      }
      continue;
    }
    ++compiled;
    const lead l = random_lead(rng);
    const std::int64_t now = 1735689600000 + static_cast<std::int64_t>(rng() % 1000000000);
    auto r1 = dry_run(*c.graph, env, l, json::object{}, dry_run_options{std::nullopt, now});
    auto r2 = dry_run(*c.graph, env, l, json::object{}, dry_run_options{std::nullopt, now});
    ASSERT_TRUE(r1.ok() && r2.ok());
    EXPECT_EQ(r1->status, run_status::completed);
    EXPECT_EQ(r1->to_json(), r2->to_json()) << json::serialize(spec);
    std::set<std::string> ids(r1->path.begin(), r1->path.end());
    EXPECT_EQ(ids.size(), r1->path.size()) << "a node ran twice: " << json::serialize(spec);
    EXPECT_LE(r1->path.size(), g->nodes.size());
    std::int64_t last = now;
    for (const auto& s : r1->steps) {
      EXPECT_GE(s.at_ms, last) << "time went backwards";
      last = s.at_ms;
    }
  }
  EXPECT_GT(compiled, 100);
}

TEST(random_graphs, graphs_with_back_edges_are_rejected_or_acyclic) {
  std::mt19937_64 rng(7);
  int cycles = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const json::object spec = random_graph(rng, true);
    auto g = import_react_flow(spec);
    ASSERT_TRUE(g.ok());
    auto c = compile(*g, {});
    if (test::has_code(c.problems, "cycle")) {
      ++cycles;
      EXPECT_FALSE(c.ok());
      continue;
    }
    if (!c.ok()) continue;
    run_env env;
    auto r = dry_run(*c.graph, env, random_lead(rng), json::object{}, {});
    ASSERT_TRUE(r.ok());
    std::set<std::string> ids(r->path.begin(), r->path.end());
    EXPECT_EQ(ids.size(), r->path.size());
  }
  EXPECT_GT(cycles, 10);
}

}  // namespace
}  // namespace flowtrack::runtime
