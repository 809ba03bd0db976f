// Reads TZif files from the system zoneinfo directory for runtime's time_zone_db. This is the
// edge where zone data enters the program; runtime/ itself never reads files.
#pragma once

#include <string>

#include "runtime/tz.hpp"

namespace flowtrack::cli {

/// A tz_loader reading `<dir>/<zone name>` (names are checked by time_zone_db first).
runtime::tz_loader zoneinfo_loader(std::string dir = "/usr/share/zoneinfo");

}  // namespace flowtrack::cli
