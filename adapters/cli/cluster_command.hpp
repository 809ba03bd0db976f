// `flowtrackd cluster status|owner|drain --join HOST:PORT`: the operators' questions to a running
// cluster, asked of any member through the cluster tunnel (FLOWTRACK_CLUSTER_SECRET needed).
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"

namespace flowtrack::cli {

/// status [--json]: the members (`{"members":[{"name","address","state","shards","load"}]}`);
/// owner --workspace SLUG [--json]: `{"workspace","shard","owner","epoch"}`;
/// drain NODE: the node hands its shards to the others and takes none.
int cluster_command(std::vector<std::string> args, const config::settings& s);

}  // namespace flowtrack::cli
