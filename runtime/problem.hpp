// A validation problem as the editor shows it: {"nodeId"|"edgeId","field","code","message"}.
// Knows nothing else.
#pragma once

#include <string>
#include <vector>

#include <boost/json/array.hpp>

namespace flowtrack::runtime {

/// One thing wrong (or doubtful) with a graph.
struct problem {
  enum class severity { error, warning };
  std::string node_id;  ///< the node it is about, or empty
  std::string edge_id;  ///< the edge it is about, or empty
  std::string field;    ///< the config key or JSON path, or empty
  std::string code;     ///< stable machine code, e.g. "missing_subject", "cycle"
  std::string message;  ///< what is wrong and what to do, for people
  severity level = severity::error;
};

/// Whether any problem is an error (warnings alone leave a graph runnable).
bool has_errors(const std::vector<problem>& problems);
/// `[{"nodeId"|"edgeId","field","code","message","severity"}]`.
boost::json::array problems_to_json(const std::vector<problem>& problems);

}  // namespace flowtrack::runtime
