// The run-graph command: argument parsing, file reading, and printing of a dry run.
#include "adapters/cli/run_graph_command.hpp"

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "adapters/cli/zoneinfo.hpp"
#include "runtime/compiled_graph.hpp"
#include "runtime/dry_run.hpp"
#include "runtime/graph.hpp"

namespace flowtrack::cli {

namespace json = boost::json;
namespace rt = flowtrack::runtime;

namespace {

constexpr const char* k_usage =
    "usage: flowtrackd run-graph WORKFLOW.json --lead LEAD.json [--trigger TRIGGER.json] [--now ISO8601]\n"
    "                            [--tz ZONE] [--start NODE_ID] [--workspace NAME] [--owner EMAIL]\n";

std::optional<std::string> read_file(const std::string& path, std::ostream& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err << "run-graph: cannot read " << path << ": no such file or not readable\n";
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<json::value> read_json(const std::string& path, const char* what, std::ostream& err) {
  auto text = read_file(path, err);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value v = json::parse(*text, ec, {}, opts);
  if (ec) {
    err << "run-graph: " << path << " (" << what << ") is not valid JSON: " << ec.message() << "\n";
    return std::nullopt;
  }
  return v;
}

}  // namespace

int run_graph_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::optional<std::string> workflow_path, lead_path, trigger_path, now_text, start_id;
  std::string zone_name = "UTC", workspace = "My workspace", owner = "owner@example.com",
              zoneinfo_dir = "/usr/share/zoneinfo";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::optional<std::string>& slot) {
      if (i + 1 >= args.size()) {
        err << "run-graph: " << a << " needs a value\n" << k_usage;
        return false;
      }
      slot = args[++i];
      return true;
    };
    std::optional<std::string> v;
    if (a == "--help" || a == "-h") {
      out << k_usage;
      return 0;
    } else if (a == "--lead") {
      if (!value(lead_path)) return 1;
    } else if (a == "--trigger") {
      if (!value(trigger_path)) return 1;
    } else if (a == "--now") {
      if (!value(now_text)) return 1;
    } else if (a == "--start") {
      if (!value(start_id)) return 1;
    } else if (a == "--tz" || a == "--workspace" || a == "--owner" || a == "--zoneinfo") {
      if (!value(v)) return 1;
      (a == "--tz" ? zone_name : a == "--workspace" ? workspace : a == "--owner" ? owner : zoneinfo_dir) = *v;
    } else if (!a.empty() && a[0] == '-') {
      err << "run-graph: unknown option " << a << "\n" << k_usage;
      return 1;
    } else if (!workflow_path) {
      workflow_path = a;
    } else {
      err << "run-graph: unexpected argument " << a << "\n" << k_usage;
      return 1;
    }
  }
  if (!workflow_path || !lead_path) {
    err << "run-graph: " << (!workflow_path ? "WORKFLOW.json" : "--lead LEAD.json") << " is required\n" << k_usage;
    return 1;
  }

  const rt::time_zone_db zones(zoneinfo_loader(zoneinfo_dir));
  auto zone = zones.get(zone_name);
  if (!zone) {
    err << "run-graph: --tz " << zone_name << ": " << zone.err().message << "\n";
    return 1;
  }
  std::int64_t now_ms = 0;
  if (now_text) {
    auto parsed = rt::parse_iso8601(*now_text, zone->get());
    if (!parsed) {
      err << "run-graph: --now: " << parsed.err().message << "\n";
      return 1;
    }
    now_ms = *parsed;
  } else {
    now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  auto workflow_json = read_json(*workflow_path, "workflow", err);
  if (!workflow_json) return 1;
  auto lead_json = read_json(*lead_path, "lead", err);
  if (!lead_json) return 1;
  json::value trigger_data = json::object{};
  if (trigger_path) {
    auto t = read_json(*trigger_path, "trigger", err);
    if (!t) return 1;
    trigger_data = std::move(*t);
  }
  auto lead = rt::lead_from_json(*lead_json);
  if (!lead) {
    err << "run-graph: " << *lead_path << " (lead): " << lead.err().message << "\n";
    return 1;
  }

  auto graph = rt::import_react_flow(*workflow_json);
  std::vector<rt::problem> problems;
  rt::compile_result compiled;
  if (!graph) {
    problems.push_back(rt::problem{{}, {}, graph.err().subject, "invalid_graph_json", graph.err().message,
                                   rt::problem::severity::error});
  } else {
    compiled = rt::compile(*graph, rt::config_options{&zones});
    problems = compiled.problems;
  }
  if (!compiled.ok()) {
    out << json::serialize(json::object{{"status", "invalid"}, {"problems", rt::problems_to_json(problems)}}) << "\n";
    return 2;
  }
  const rt::compiled_graph& g = *compiled.graph;

  rt::run_env env;
  env.execution_id = "dry-run";
  env.workflow_id = "dry-run";
  env.workspace_name = workspace;
  env.owner_email = owner;
  env.zone = *zone;
  rt::dry_run_options opts;
  opts.now_ms = now_ms;
  if (start_id) {
    opts.start = g.find(*start_id);
    if (!opts.start || !rt::is_trigger(g.at(*opts.start).type)) {
      err << "run-graph: --start " << *start_id << " is not a trigger node of " << *workflow_path << "\n";
      return 1;
    }
  }
  auto report = rt::dry_run(g, env, std::move(*lead), std::move(trigger_data), opts);
  if (!report) {
    err << "run-graph: " << report.err().message << "\n";
    return 1;
  }
  json::object o = report->to_json();
  o["warnings"] = rt::problems_to_json(g.warnings());
  out << json::serialize(o) << "\n";
  return 0;
}

}  // namespace flowtrack::cli
