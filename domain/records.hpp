// The records the rules produce and storage writes: a trigger (the lead, its intake event and the
// execution to start) and what a run writes at one point (steps, lead changes, events, logs, its
// execution's state). The run writer applies a run record to a running execution (storage/runs);
// intake writes a trigger, with its settled run if any, in one transaction (storage/ingest).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowtrack::domain {

/// `workflow_executions.status`.
enum class execution_status : std::uint8_t { queued, running, paused, completed, failed, cancelled };
std::string_view to_string(execution_status s);
std::optional<execution_status> parse_execution_status(std::string_view s);

/// 'YYYY-MM-DD HH:MM:SS.fff' (UTC) for TIMESTAMP columns.
std::string sql_timestamp(std::int64_t utc_ms);

/// `execution_steps.status`.
enum class step_status : std::uint8_t { pending, running, completed, failed, skipped };
std::string_view to_string(step_status s);

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
  step_status status = step_status::running;
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
  execution_status status = execution_status::running;  ///< running, paused, completed or failed
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

  bool terminal() const { return status == execution_status::completed || status == execution_status::failed; }
};

/// A workspace's quota limits for the current billing period; an empty limit is unlimited.
struct quota_limits {
  std::optional<int> executions;  ///< usage_quotas key "executions" (plan: executions_per_month)
  std::optional<int> leads;       ///< usage_quotas key "leads"
  std::string period_start;       ///< 'YYYY-MM-DD'
  std::string period_end;         ///< 'YYYY-MM-DD'
};

/// Limits from a plan's `quotas` JSON (`executions_per_month`, `leads`); a missing key is
/// unlimited.
quota_limits quota_limits_from_plan(std::string_view plan_quotas_json, std::string period_start, std::string period_end);


/// A trigger to make durable.
struct trigger_record {
  std::string workspace_id;
  std::string workflow_id;
  std::optional<int> workflow_version;  ///< the version the execution will run
  std::string trigger_type;  ///< workflow_executions.trigger_type: FORM_SUBMIT, EMAIL, WEBHOOK, MANUAL, SCHEDULED
  std::optional<std::string> trigger_node_id;
  std::string event_type;    ///< lead_events.event_type: FORM_SUBMITTED, EMAIL_RECEIVED, WEBHOOK_RECEIVED, MANUAL_STARTED
  std::string source;        ///< leads.source: FORM, EMAIL_FORWARD, API, MANUAL
  std::string email;
  std::optional<std::string> name, company_name, phone;
  std::optional<std::string> source_metadata;  ///< JSON
  std::optional<std::string> trigger_data;     ///< JSON
  std::optional<std::string> idempotency_key;
  std::vector<field_value> fields;
  bool rerun_on_resubmit = false;  ///< start a run for a lead that already existed
  quota_limits quotas;
  std::string execution_id;  ///< chosen by the caller (new_uuid()), used when a run starts
  std::string lead_id;       ///< the id a new lead gets (new_uuid()); empty: the database picks one
  std::string event_id;      ///< the id of the intake lead event (the public submission id); empty: one is made
  /// The run already taken to its end without I/O (its steps, events, logs, status and the
  /// lead's status, tags and score). Written with the trigger when the lead is new; otherwise
  /// the execution is queued as usual, since the run must see the stored lead.
  std::optional<run_record> settled;
};

}  // namespace flowtrack::domain
