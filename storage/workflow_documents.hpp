// The workflow import document (React Flow JSON plus name, status, settings, bookingUrl and
// formFields: what `flowtrackd workflow import` and POST /api/v1/workspaces/{id}/workflows take)
// read into a workflow to store, and a manual run of a stored workflow (`workflow run`, POST
// .../workflows/{wf}/run). Shared by the CLI and the management API; knows SQL and Redis, nothing
// of HTTP, actors or the command line.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "runtime/problem.hpp"
#include "storage/workflows.hpp"

namespace flowtrack::redis {
class connection;
}

namespace flowtrack::storage {

/// A document whose graph the engine refuses: its problems (errors and warnings).
struct invalid_graph {
  std::vector<runtime::problem> problems;
};

/// A document that can be stored (`workspace_id` still empty) with the engine's warnings.
struct workflow_document {
  new_workflow workflow;
  std::vector<runtime::problem> warnings;
};

/// Reads an import document: `invalid` naming the field (name, status, settings,
/// formFields[i].field_key ...) for a malformed document, invalid_graph for a graph that does not
/// compile. `nodes` and `edges` may be absent (an empty graph).
result<std::variant<workflow_document, invalid_graph>> read_workflow_document(const boost::json::object& doc);

/// The form fields of a document (`formFields`, snake_case or camelCase keys).
result<std::vector<domain::form_field_record>> read_form_fields(const boost::json::object& doc);

/// What a manual run made.
struct manual_run {
  std::string lead_id;
  /// The execution started; nullopt when the lead existed and the workflow does not rerun on
  /// resubmission (the lead was updated, nothing runs).
  std::optional<std::string> execution_id;
};

/// Starts a manual run of `workflow_id` on `lead` (a JSON object as `workflow run --lead` reads)
/// under the workspace actor's intake rule (an inactive workspace or a workflow that is not active
/// takes no run). With `workspace_id`, a workflow of another workspace is `not_found`. The
/// execution is queued; wake the nodes with wake_execution.
result<manual_run> start_manual_run(pg::connection& c, std::string_view workflow_id, const boost::json::value& lead,
                                    std::optional<std::string> idempotency_key,
                                    std::optional<std::string_view> workspace_id = std::nullopt);

/// Puts an execution on the shared Redis queue due at `now_ms` (Unix ms), so a running node claims
/// it, on a connection the caller holds (a node's Redis worker: no connection is opened here).
/// An error when Redis cannot be reached: the wake is best-effort, the run is durable in
/// PostgreSQL and starts when a node adopts queued executions.
result<void> wake_execution(redis::connection& c, std::string_view execution_id, std::int64_t now_ms);

/// The same on a connection of its own to `redis_url`, opened and closed here (the CLI's one-off
/// commands). False when Redis cannot be reached.
bool wake_execution(const std::string& redis_url, std::chrono::milliseconds timeout, const std::string& execution_id);

}  // namespace flowtrack::storage
