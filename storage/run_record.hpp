// What a run writes at one point (steps, lead changes, events, logs, its execution's state): the
// run writer applies it to a running execution (storage/runs), intake writes a settled run's
// record with its trigger (storage/ingest).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flowtrack::storage {

/// One custom form field's value for a lead.
struct field_value {
  std::string form_field_id;
  std::string value;
};

/// An execution_steps row to insert or update (by id).
struct step_write {
  std::string id;
  std::string workflow_node_id;
  int step_number = 0;
  std::string status;  ///< running, completed, failed, skipped
  std::optional<std::string> started_at, completed_at;  ///< 'YYYY-MM-DD HH:MM:SS.fff' UTC
  std::optional<int> duration_ms;
  std::optional<std::string> input_data, output_data, error_message, error_details;  ///< JSON except the message
  int retry_count = 0;
};

/// A lead_events row caused by the run.
struct lead_event_write {
  std::string event_type;  ///< STATUS_CHANGED, TAG_ADDED, EMAIL_SENT, ...
  std::string event_category = "automation";
  std::string description;
  std::optional<std::string> metadata;  ///< JSON
};

/// An execution_logs row.
struct log_write {
  std::string level = "INFO";  ///< DEBUG, INFO, WARN, ERROR
  std::string category;
  std::string message;
  std::optional<std::string> details;  ///< JSON
  std::optional<std::string> node_type;
  std::optional<std::string> step_id;
};

/// The lead changes a run made since its last write.
struct lead_change {
  std::optional<std::string> status;
  std::vector<std::string> add_tags, remove_tags;
  std::int64_t score_delta = 0;
  std::optional<std::string> assigned_to;  ///< user id
  std::optional<std::string> name, company_name, phone;
  std::vector<field_value> fields;  ///< custom fields by form field id
  bool email_sent = false;          ///< sets last_email_sent_at
  bool empty() const {
    return !status && add_tags.empty() && remove_tags.empty() && score_delta == 0 && !assigned_to && !name &&
           !company_name && !phone && fields.empty() && !email_sent;
  }
};

/// Everything one run writes at one point (before a side effect, when parking, at the end).
struct run_record {
  std::string execution_id, workspace_id, workflow_id;
  std::optional<std::string> lead_id;
  std::uint64_t lock_token = 0;
  int seq = 0;  ///< 1, 2, ... per lock token: (lock_token, seq) grows with every record of a run
  std::string status;  ///< running, paused, completed, failed
  std::optional<std::string> started_at, completed_at;
  std::optional<int> duration_ms;
  std::optional<std::string> output_data, error_message;
  std::optional<std::string> checkpoint;  ///< JSON
  std::optional<std::string> resume_at;
  std::optional<std::string> lock_acquired_at, lock_released_at;
  std::vector<step_write> steps;
  lead_change lead;
  std::vector<lead_event_write> events;
  std::vector<log_write> logs;
  int emails_sent = 0;  ///< for daily stats

  bool terminal() const { return status == "completed" || status == "failed"; }
};

}  // namespace flowtrack::storage
