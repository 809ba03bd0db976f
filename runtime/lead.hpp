// The lead as a workflow sees it (the `leads` row plus its custom field values), pure patches
// to it, and the per-execution context that templates and conditions read. No I/O, no SQL.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "runtime/error.hpp"
#include "runtime/tz.hpp"

namespace flowtrack::runtime {

/// A lead: the core columns of `leads` and custom form-field values by `form_fields.field_key`.
struct lead {
  std::string id;  ///< may be empty in a dry run
  std::string email;
  std::string name;
  std::string company_name;
  std::string phone;
  std::string status = "NEW";
  std::string source;
  std::string assigned_to;  ///< user id, empty when unassigned
  std::int64_t score = 0;
  std::vector<std::string> tags;
  boost::json::object fields;  ///< field_key -> value (string, number, bool, array)
  bool unsubscribed = false;   ///< from emails of this workspace (an unsubscribe link)

  /// The part of the email after '@', lower-cased on comparison; empty when there is none.
  std::string_view email_domain() const;
  /// A stable key for per-lead decisions (A/B split): the id, else the lower-cased email.
  std::string identity() const;
};

/// Reads `{"email","name","company_name","phone","status","source","score","tags":[...],
/// "fields":{...}}` (all but email optional; "id", "assigned_to" and "unsubscribed" also read).
result<lead> lead_from_json(const boost::json::value& v);
/// The inverse of lead_from_json.
boost::json::object lead_to_json(const lead& l);

/// A pure change to a lead, produced by a lead-mutating action. The caller persists it; the
/// runtime applies it to its in-memory lead so later conditions see the change.
struct lead_patch {
  enum class kind { set_status, add_tag, remove_tag, set_field, add_score, assign };
  kind what = kind::set_status;
  std::string key;    ///< field key for set_field
  std::string value;  ///< status, tag, field value or user id
  std::int64_t delta = 0;  ///< for add_score

  /// {"op":"set_status","value":...} and so on.
  boost::json::object to_json() const;
  friend bool operator==(const lead_patch&, const lead_patch&) = default;
};

/// Applies a patch. Tags are case-insensitively unique; set_field on a core column name
/// (name, company_name, phone, status, source, email) sets the column.
void apply(lead& l, const lead_patch& p);

/// Facts about the execution that do not change while it runs and need not be checkpointed.
struct run_env {
  std::string execution_id;
  std::string workflow_id;
  std::string workflow_name;
  std::string workspace_id;
  std::string workspace_name;
  std::string owner_email;  ///< the workspace owner's address (ACTION_NOTIFY_OWNER)
  std::shared_ptr<const time_zone> zone = time_zone::utc();  ///< the workspace time zone
};

/// What templates and conditions read while one step runs.
struct eval_context {
  const lead& subject;
  const boost::json::value& trigger;
  const run_env& env;
  std::int64_t now_ms = 0;
};

}  // namespace flowtrack::runtime
