// What the management API reads and changes of a workspace's workflows, executions and webhook
// endpoints beyond what the engine and the CLI need: keyset pages, workspace-checked look-ups,
// versioned workflow edits, soft deletion, duplication. Every function takes the workspace id and
// treats another workspace's row as absent (`not_found`). Knows SQL, nothing of HTTP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/pg/connection.hpp"
#include "storage/workflows.hpp"

namespace flowtrack::storage {

/// A keyset position: the last row of a page, by (created_at, id).
struct page_key {
  std::int64_t created_us = 0;  ///< created_at in microseconds since the epoch (UTC)
  std::string id;
};

/// "<created_us>.<id>" (opaque to clients); parse_page_key reads it back, nullopt when malformed.
std::string to_cursor(const page_key& k);
std::optional<page_key> parse_page_key(std::string_view cursor);

/// A workflow as listed.
struct workflow_summary {
  std::string id, name, status;
  std::optional<std::string> description;
  int version = 1;
  std::int64_t total_executions = 0, successful_executions = 0, failed_executions = 0;
  std::string created_at, updated_at;  ///< ISO 8601 UTC
  page_key key;
};

/// The workspace's workflows (not deleted), oldest first, after `after`, at most `limit`;
/// `status` filters.
result<std::vector<workflow_summary>> list_workflow_page(pg::connection& c, std::string_view workspace_id,
                                                         const std::optional<page_key>& after, int limit,
                                                         const std::optional<std::string>& status);

/// A change to a workflow: each set member replaces what is stored. A graph (nodes, edges and
/// its React Flow text) makes a new version; `fields` replaces the form fields (kept ones updated
/// by key, new ones added, missing ones soft-deleted).
struct workflow_patch {
  std::optional<std::string> name, description, settings, booking_url;
  std::optional<std::string> template_id;  ///< the built-in template it was made from (template_version 1)
  bool clear_booking_url = false;
  std::optional<std::string> graph;  ///< React Flow JSON text; with nodes and edges
  std::vector<runtime::node_row> nodes;
  std::vector<runtime::edge_row> edges;
  std::optional<std::vector<domain::form_field_record>> fields;
};

/// Applies the patch under the row lock when the stored version is `expected_version`
/// (`conflict` naming "version" otherwise; `not_found` for a workflow not in the workspace or
/// deleted). Returns the version after the change (one more when the graph or settings changed).
result<int> update_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id,
                            int expected_version, const workflow_patch& p);

/// Soft-deletes a workflow (deleted_at set, status archived): it takes no trigger and is no longer
/// listed; its executions stay.
result<void> delete_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id);

/// Whether the workflow is one of the workspace's (not deleted).
result<bool> workflow_in_workspace(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id);

/// An execution as listed.
struct execution_summary {
  std::string id, workflow_id, status, trigger_type;
  std::optional<std::string> lead_id, error_message, started_at, completed_at;
  std::optional<std::int64_t> duration_ms;
  std::string created_at;
  page_key key;
};

/// Filters of an execution list.
struct execution_filter {
  std::optional<std::string> workflow_id, status, lead_id;
};

/// The workspace's executions, newest first, before `after`, at most `limit`.
result<std::vector<execution_summary>> list_execution_page(pg::connection& c, std::string_view workspace_id,
                                                           const execution_filter& f, const std::optional<page_key>& after,
                                                           int limit);

/// Whether the execution is one of the workspace's.
result<bool> execution_in_workspace(pg::connection& c, std::string_view workspace_id, std::string_view execution_id);

/// The workspace's execution with its steps and logs as one JSON document (text), every key
/// camelCase and every time ISO 8601 UTC ("...Z", as the lists): `execution` (id, workflowId,
/// workflowName, workflowVersion, leadId, executionNumber, idempotencyKey, triggerType,
/// triggerNodeId, triggerData, status, startedAt, completedAt, resumeAt, durationMs, errorMessage,
/// errorDetails, retryCount, maxRetries, outputData, createdAt, updatedAt), `steps` by number (id,
/// nodeId (React Flow), nodeType, workflowNodeId, stepNumber, status, startedAt, completedAt,
/// durationMs, inputData, outputData, errorMessage, errorDetails, retryCount, createdAt,
/// updatedAt) and `logs` oldest first (id, executionStepId, logLevel, logCategory, message,
/// details, nodeType, createdAt). JSON values the engine stored (triggerData, inputData, ...)
/// keep their own keys. The engine's bookkeeping (checkpoint, lock token and times, record
/// sequence) is left out. nullopt when the execution is not the workspace's (or the id no UUID).
result<std::optional<std::string>> execution_document(pg::connection& c, std::string_view workspace_id,
                                                      std::string_view execution_id);

/// Whether the endpoint is one of the workspace's (not deleted).
result<bool> webhook_endpoint_in_workspace(pg::connection& c, std::string_view workspace_id, std::string_view endpoint_id);

/// Whether the delivery (a webhook-id) is a message of the endpoint.
result<bool> delivery_of_endpoint(pg::connection& c, std::string_view endpoint_id, std::string_view delivery_id);

/// The keyset position of a delivery (for the next page of list_webhook_deliveries).
result<page_key> delivery_page_key(pg::connection& c, std::string_view delivery_id);

/// A change to an endpoint's settings (each set member replaces what is stored).
struct webhook_endpoint_patch {
  std::optional<std::string> url, description;
  std::optional<std::vector<std::string>> events;
  std::optional<int> max_retries, retry_delay_seconds;
};

/// Applies the patch to the workspace's endpoint; `not_found` when it is not one.
result<void> update_webhook_endpoint(pg::connection& c, std::string_view workspace_id, std::string_view endpoint_id,
                                     const webhook_endpoint_patch& p);

/// Soft-deletes the endpoint (deleted_at, is_active false): it receives nothing more; its
/// pending messages are cancelled.
result<void> delete_webhook_endpoint(pg::connection& c, std::string_view workspace_id, std::string_view endpoint_id);

}  // namespace flowtrack::storage
