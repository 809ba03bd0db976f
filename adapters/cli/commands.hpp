// flowtrackd's subcommands: parse their arguments, load settings, call the layers below.
#pragma once

#include <string>
#include <vector>

namespace flowtrack::cli {

/// Runs `flowtrackd ARGS...` (args exclude the program name); returns the exit code.
int run(std::vector<std::string> args, char** envp);

}  // namespace flowtrack::cli
