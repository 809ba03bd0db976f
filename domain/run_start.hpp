// What a run starts from: the workflow version and workspace facts it runs against (immutable,
// shared between runs), the lead, the trigger and, when resuming, its checkpoint.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "domain/form.hpp"
#include "domain/records.hpp"
#include "domain/tenant.hpp"
#include "runtime/compiled_graph.hpp"
#include "runtime/lead.hpp"
#include "runtime/tz.hpp"

namespace flowtrack::domain {

/// A workflow version as runs need it; immutable and shared.
struct workflow_snapshot {
  std::string id;
  std::string name;
  int version = 1;
  std::string settings;
  std::shared_ptr<const runtime::compiled_graph> graph;
  std::map<std::string, std::string> node_ids;   ///< React Flow node id -> workflow_nodes.id
  std::map<std::string, std::string> field_ids;  ///< form field key -> form_fields.id
  workflow_record record;                        ///< as loaded (fields, booking url)
  std::shared_ptr<const form_spec> form;         ///< its public form (fields with parsed rules)
};

/// The workspace facts runs need; immutable and shared.
struct workspace_snapshot {
  workspace_info info;
  std::shared_ptr<const runtime::time_zone> zone;
};

/// Everything a run actor starts from.
struct run_start {
  std::string execution_id;
  std::shared_ptr<const workflow_snapshot> workflow;
  std::shared_ptr<const workspace_snapshot> workspace;
  std::optional<std::string> lead_id;
  runtime::lead lead;
  boost::json::value trigger_data;
  std::optional<std::string> checkpoint;  ///< JSON when resuming
  execution_status status = execution_status::queued;  ///< as loaded
  std::optional<std::string> failed_node; ///< retry: the node to run again
  std::optional<std::string> trigger_node;  ///< React Flow id of the trigger (fresh runs)
  std::int64_t created_at_ms = 0;
};

}  // namespace flowtrack::domain
