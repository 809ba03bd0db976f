// Turning an incoming lead (JSON from a form, webhook, email or operator) into a trigger record
// for a workflow: core fields, custom fields typed by their form field, trigger data, quotas.
// Pure: no I/O, no actors; shared by the workspace actor and the operator CLI.
#pragma once

#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "domain/form.hpp"
#include "runtime/compiled_graph.hpp"
#include "domain/records.hpp"
#include "domain/tenant.hpp"

namespace flowtrack::domain {

/// How a trigger arrived.
enum class trigger_kind { form, email, webhook, manual, schedule };

/// What arrived.
struct intake_request {
  trigger_kind kind = trigger_kind::manual;
  boost::json::value lead;  ///< {"email","name","company_name","phone","fields":{key: value}, ...}
  boost::json::value trigger_data;  ///< kept verbatim on the execution (null: the lead JSON)
  boost::json::value source_metadata;  ///< e.g. {"ip": ...}; may be null
  std::optional<std::string> idempotency_key;
  bool fields_checked = false;  ///< `lead.fields` already passed check_submission (texts as stored)
  /// The lead as JSON text, parsed into `lead` only after the webhook token was checked (so an
  /// unauthenticated caller costs no parse); unset when `lead` is already a value.
  std::optional<std::string> raw_lead;
};

/// Parses `raw_lead` into `lead`: an `invalid` error naming `body` when it is not JSON (message
/// starts "the body is not valid JSON") or not an object.
result<void> parse_raw_lead(intake_request& req);

/// Builds the record, or an `invalid` error naming the field (`email`, `fields.budget`, ...).
/// Custom fields are matched to the workflow's form fields by key and checked by `check_field`
/// (type and validation rules; NUMBER, DATE as YYYY-MM-DD, CHECKBOX as true/false, DROPDOWN
/// one of its options, EMAIL); keys without a form field stay in the trigger data only. A NUL
/// character anywhere is refused.
result<domain::trigger_record> make_trigger(const domain::workspace_info& ws, const domain::workflow_record& wf,
                                             const form_spec& form, const intake_request& req,
                                             std::optional<std::string> trigger_node_id = std::nullopt);

/// A message to an intake address that cannot become a lead (unreadable, or no sender address
/// in it): kept raw for a while and shown to the owner instead of being refused, since the
/// sender may never see a bounce.
struct unparsed_mail {
  std::string raw;            ///< the message as received
  std::string digest;         ///< SHA-256 (hex) of the message as sent (without our trace field): a resend matches
  std::string reason;         ///< why it could not be read
  std::string channel;        ///< "smtp" or "http"
  std::string envelope_from;  ///< MAIL FROM; may be empty
  std::string client_ip;
};

/// A trigger admitted to its workflow: the record to make durable and where its run starts.
struct admitted_trigger {
  domain::trigger_record record;
  std::string trigger_node;  ///< the React Flow id of the trigger node the run starts at
};

/// The one intake rule, shared by the workspace actor and the CLI's `workflow run`: the workspace
/// must be active (else `not_found`), the workflow `active` (else `invalid` naming `status`) with
/// a trigger node for the kind (a manual start falls back to the first trigger; else `invalid`
/// naming `trigger`); then the record as make_trigger builds it.
result<admitted_trigger> admit_trigger(const domain::workspace_info& ws, const domain::workflow_record& wf,
                                       const runtime::compiled_graph& graph, const form_spec& form,
                                       const intake_request& req);

/// "form", "email", "webhook", "manual", "schedule".
std::string_view to_string(trigger_kind k);

/// The `workflow_executions.trigger_type` / `lead_events.event_type` / `leads.source` of a kind.
std::string_view trigger_type_of(trigger_kind k);
std::string_view event_type_of(trigger_kind k);
std::string_view source_of(trigger_kind k);

}  // namespace flowtrack::domain
