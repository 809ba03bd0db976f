// Names a template or condition can read ("lead.fields.budget", "trigger.utm.source") and their
// resolution against an eval_context into a borrowed value. Knows the lead and run context only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "runtime/lead.hpp"

namespace flowtrack::runtime {

/// What a variable reads, resolved once at compile time so a step never compares strings.
enum class var_root : std::uint8_t {
  lead_id, lead_email, lead_name, lead_first_name, lead_company_name, lead_phone, lead_status,
  lead_source, lead_score, lead_tags, lead_email_domain, lead_assigned_to,
  lead_field,  ///< a custom form field by key
  trigger,     ///< a path into the trigger data
  workspace_id, workspace_name, workspace_owner_email, workflow_id, workflow_name, execution_id,
  now,         ///< the step's time (UTC milliseconds)
  unknown,     ///< not a known name: renders empty and is reported
};

/// A compiled variable reference.
struct variable {
  var_root root = var_root::unknown;
  std::string key;                ///< custom field key
  std::vector<std::string> path;  ///< trigger path segments
  std::string text;               ///< as written, for reports
};

/// How a bare name like "budget" is read: conditions treat it as a custom field key (the spec's
/// example), templates as unknown (they always say "lead.fields.budget").
enum class bare_names { custom_fields, unknown };

/// Parses a dotted name. Never fails: unknown names become var_root::unknown.
variable parse_variable(std::string_view text, bare_names bare);

/// A value borrowed from the context (valid while the context and `scratch` live).
struct value_view {
  enum class kind : std::uint8_t { missing, string, number, boolean, tags, array, object };
  kind what = kind::missing;
  std::string_view text;
  double number = 0;
  bool boolean = false;
  const std::vector<std::string>* tags = nullptr;
  const boost::json::array* array = nullptr;
  const boost::json::object* object = nullptr;
};

/// Resolves a variable; a missing field is kind::missing, never an error.
value_view resolve(const variable& v, const eval_context& ctx);
/// Reads a JSON value as a view.
value_view view_of(const boost::json::value& v);
/// Whether a view is empty: missing, null, "", or an empty list.
bool is_empty(const value_view& v);
/// Appends the text form of a view: numbers without ".0", lists joined by ", ", objects as JSON.
void append_text(std::string& out, const value_view& v);

}  // namespace flowtrack::runtime
