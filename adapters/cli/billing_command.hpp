// `flowtrackd billing ...`: quota periods rolled over and billable usage exported, by hand
// (storage/usage_billing).
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"

namespace flowtrack::cli {

/// `billing rollover`: rolls over every ended quota period now; prints one JSON line.
/// `billing export --period YYYY-MM [--out FILE]`: marks the month's billable usage billed and
/// prints it (or writes it to FILE) as CSV; a month exported before gives only what came since.
int billing_command(std::vector<std::string> args, const config::settings& s);

}  // namespace flowtrack::cli
