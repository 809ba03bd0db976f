// Turning triggers into durable state: lead upsert (an existing lead's values are kept; only its
// empty fields are filled), field data, the intake lead event, the
// execution (queued, or finished when its run was settled before the commit, with that run's
// rows), usage events and quota counters — for a whole batch of triggers in one transaction
// (group commit). Knows SQL, nothing of actors or HTTP.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/pg/connection.hpp"
#include "storage/run_record.hpp"

namespace flowtrack::storage {

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

/// What became of one trigger.
struct ingest_outcome {
  std::string lead_id;
  std::optional<std::string> execution_id;  ///< empty: the lead was updated, no run started
  bool lead_created = false;
  bool duplicate = false;  ///< the idempotency key was seen before: the first execution, nothing written
  bool settled = false;    ///< the execution was written finished, from trigger_record::settled
  std::string event_id;    ///< the intake lead event (FORM_SUBMITTED, FORM_RESUBMITTED, ...); empty for a duplicate
};

/// Writes a batch in one transaction. When the batch as a whole fails, each trigger is tried in
/// its own transaction, so one bad trigger (quota exceeded, unknown workflow) cannot reject the
/// others. Returns one result per trigger, in order. The caller must not send two triggers with
/// the same (workflow_id, idempotency_key) in one batch.
std::vector<result<ingest_outcome>> ingest_batch(pg::connection& c, const std::vector<trigger_record>& batch);

namespace detail {
/// The statement `ingest` sends per round and its binder, for the test that holds each `$n`
/// of the statement against the parameters the binder produces.
const pg::statement& ingest_statement();
pg::params ingest_statement_params(const std::vector<trigger_record>& records, const std::vector<std::size_t>& members);
}  // namespace detail

}  // namespace flowtrack::storage
