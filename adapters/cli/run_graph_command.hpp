// `flowtrackd run-graph`: dry-runs a React Flow workflow on a sample lead and prints the path and
// every step as JSON. Reads files and the clock; everything else is runtime's dry_run.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace flowtrack::cli {

/// Runs `run-graph WORKFLOW.json --lead LEAD.json [--trigger TRIGGER.json] [--now ISO8601]
/// [--tz ZONE] [--start NODE_ID] [--workspace NAME] [--owner EMAIL] [--zoneinfo DIR]`.
/// `args` exclude the program name and "run-graph". Prints
/// {"status","path","steps","parkedUntil","warnings"} on `out` and returns 0; prints
/// {"status":"invalid","problems":[...]} on `out` and returns 2 for an invalid graph; returns 1
/// with a message on `err` for anything else (unreadable file, bad JSON, bad option).
int run_graph_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace flowtrack::cli
