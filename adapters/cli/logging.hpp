// spdlog set-up for flowtrackd: level and text/JSON format from the settings.
#pragma once

#include "config/settings.hpp"

namespace flowtrack::cli {

/// Configures the default logger (stderr) from `log_level` and `log_format`.
void setup_logging(const config::settings& s);

}  // namespace flowtrack::cli
