// `flowtrackd housekeeping run [JOB]`, and the housekeeping options the settings give (shared
// with serve, which schedules the same jobs).
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"
#include "storage/housekeeping.hpp"

namespace flowtrack::cli {

/// The retentions and partitions ahead of the settings.
storage::housekeeping::options housekeeping_options(const config::settings& s);

/// `housekeeping run [JOB]`: runs the job (every job without one) at once on this process,
/// whatever lease a node holds, printing one JSON line a job.
int housekeeping_command(std::vector<std::string> args, const config::settings& s);

}  // namespace flowtrack::cli
