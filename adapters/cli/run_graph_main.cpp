// A development driver for run-graph; flowtrackd's main calls run_graph_command the same way.
#include <iostream>

#include "adapters/cli/run_graph_command.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "run-graph") args.erase(args.begin());
  return flowtrack::cli::run_graph_command(args, std::cout, std::cerr);
}
