// `flowtrackd serve`: runs a node until SIGTERM or SIGINT.
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"

namespace flowtrack::cli {

/// Runs the node; returns the exit code after a clean shutdown.
int serve_command(std::vector<std::string> args, const config::settings& s);

}  // namespace flowtrack::cli
