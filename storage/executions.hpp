// Batch writes of workflow executions and their steps: one round trip and one transaction per
// batch, each column of the batch travelling as one array parameter. Knows SQL, not actors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// A workflow_executions row as the engine writes it.
struct execution_record {
  std::string id;
  std::string workflow_id;
  std::string workspace_id;
  std::optional<std::string> lead_id;
  std::optional<std::string> idempotency_key;
  std::string trigger_type;
  std::optional<std::string> trigger_node_id;
  std::optional<std::string> trigger_data;  ///< JSON
  std::string status = "queued";
  std::optional<std::string> started_at;  ///< 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
};

/// An execution_steps row.
struct step_record {
  std::string id;
  std::string execution_id;
  std::string workflow_node_id;
  int step_number = 0;
  std::string status = "completed";
  std::optional<std::string> started_at;
  std::optional<std::string> completed_at;
  std::optional<int> duration_ms;
  std::optional<std::string> input_data;   ///< JSON
  std::optional<std::string> output_data;  ///< JSON
};

/// Inserts executions and steps together, atomically (a pipeline with one implicit transaction).
result<void> insert_execution_batch(pg::connection& c, const std::vector<execution_record>& executions,
                                    const std::vector<step_record>& steps);

}  // namespace flowtrack::storage

namespace flowtrack::storage {

/// The Redis delay queue every node's scheduler claims from: an entry is an execution id due at
/// a time (a parked run's resume time, or now for a run to start or adopt).
inline constexpr std::string_view k_execution_queue = "executions";

/// An execution with its steps and logs as one JSON document (`flowtrackd execution show`).
result<std::string> execution_json(pg::connection& c, std::string_view execution_id);

}  // namespace flowtrack::storage
