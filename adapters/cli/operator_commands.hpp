// The operator CLI: workspace create, workflow import and run, execution show. Each talks to
// PostgreSQL through the storage layer (and wakes a running node through Redis where needed).
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"

namespace flowtrack::cli {

int workspace_command(std::vector<std::string> args, const config::settings& s);
int workflow_command(std::vector<std::string> args, const config::settings& s);
int execution_command(std::vector<std::string> args, const config::settings& s);

}  // namespace flowtrack::cli
