// A dry run: a whole execution simulated in memory with every action "succeeding" and the clock
// jumping over delays and waits. No side effects. Used by `flowtrackd run-graph` and tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "runtime/compiled_graph.hpp"
#include "runtime/stepper.hpp"

namespace flowtrack::runtime {

/// One recorded step of a dry run.
struct dry_run_step {
  std::string node_id;
  node_type type = node_type::logic_end;
  std::string status;  ///< "completed" or "skipped"
  boost::json::object output;
  std::int64_t at_ms = 0;  ///< the simulated time the step ran
};

/// The outcome of a dry run.
struct dry_run_report {
  run_status status = run_status::completed;
  std::vector<std::string> path;  ///< node ids in the order they ran
  std::vector<dry_run_step> steps;
  std::optional<std::int64_t> parked_until;  ///< the last time the run would have been parked until
  std::string failure;

  /// {"status","path":[...],"steps":[{"nodeId","type","status","output"}],"parkedUntil"}.
  boost::json::object to_json() const;
};

/// Options of a dry run.
struct dry_run_options {
  std::optional<node_index> start;  ///< the trigger to start at; default: the first trigger
  std::int64_t now_ms = 0;          ///< the simulated start time
};

/// Runs `g` for `subject` in memory; actions succeed with their rendered config as output.
/// Invalid when the graph has no trigger to start at.
result<dry_run_report> dry_run(const compiled_graph& g, const run_env& env, lead subject,
                               boost::json::value trigger_data, const dry_run_options& opts);

}  // namespace flowtrack::runtime
