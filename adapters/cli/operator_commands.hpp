// The operator CLI: workspace create, workflow import and run, execution show, webhook
// endpoints and secret rotation. Each talks to PostgreSQL through the storage layer (and wakes a
// running node through Redis where needed).
#pragma once

#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.hpp"
#include "runtime/error.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::cli {

// Shared by the subcommand files.

/// Parsed `--name value` options and positional arguments of a subcommand.
struct arguments {
  std::map<std::string, std::string> options;
  std::vector<std::string> positional;
};

/// Takes `--name value` / `--name=value` options (only `known` names) and positional arguments.
result<arguments> parse(const std::vector<std::string>& args, std::initializer_list<const char*> known);

/// Prints "flowtrackd COMMAND: message" and returns the exit code for the error (65 invalid,
/// 66 not found, 69 unavailable, 73 conflict, 75 quota, 77 unauthorized, 70 internal).
int fail(std::string_view command, const error& e);

/// A PostgreSQL connection for one CLI command.
result<std::unique_ptr<pg::connection>> connect(const config::settings& s);

using verb_fn = int (*)(const std::vector<std::string>&, const config::settings&);
/// Runs the verb `args[0]` names with the rest; a usage line listing the verbs otherwise.
int dispatch(std::string_view group, std::vector<std::string> args, const config::settings& s,
             std::initializer_list<std::pair<const char*, verb_fn>> verbs);

int workspace_command(std::vector<std::string> args, const config::settings& s);
int workflow_command(std::vector<std::string> args, const config::settings& s);
int execution_command(std::vector<std::string> args, const config::settings& s);
/// `webhook ...`: the endpoint operations (adapters/cli/webhook_commands.cpp).
int webhook_command(std::vector<std::string> args, const config::settings& s);
/// `secrets rotate` (adapters/cli/webhook_commands.cpp).
int secrets_command(std::vector<std::string> args, const config::settings& s);
/// `mail unparsed|raw` (adapters/cli/mail_commands.cpp).
int mail_command(std::vector<std::string> args, const config::settings& s);

}  // namespace flowtrack::cli
