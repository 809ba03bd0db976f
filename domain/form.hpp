// Public forms as the engine serves them: a form workflow's fields with their parsed validation
// rules, the check of one value against its field, and the check of a whole submission (every
// error at once) that turns it into a lead. Pure: no I/O, no actors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "runtime/error.hpp"
#include "runtime/regex.hpp"
#include "domain/tenant.hpp"

namespace flowtrack::domain {

/// A field's `is_required` and `validation_rules` ({"required","minLength","maxLength","min",
/// "max","pattern","options"}), parsed once per workflow version. NUMBER reads min/max as
/// numbers, DATE as 'YYYY-MM-DD'; lengths count characters, not bytes.
struct field_rules {
  bool required = false;
  std::optional<std::size_t> min_length, max_length;
  std::optional<double> min, max;
  std::optional<std::string> min_date, max_date;
  std::string pattern;  ///< as written; the whole value must match
  std::shared_ptr<const runtime::compiled_regex> regex;
  std::vector<std::pair<std::string, std::string>> options;  ///< DROPDOWN: value, label
};

struct form_field_spec {
  domain::form_field_record field;
  field_rules rules;
};

/// A workflow's public form. Presentation comes from the workflow's settings:
/// {"form":{"slug","title","description","submitLabel","thankYou"}}.
struct form_spec {
  std::vector<form_field_spec> fields;  ///< by display order
  std::string slug;                     ///< `/p/{workspace}/{slug}`; the workflow id when not set
  std::string title;                    ///< the workflow's name when not set
  std::string description;
  std::string submit_label = "Send";
  std::string thank_you = "Thank you! We received your details and will be in touch soon.";
  std::vector<std::string> problems;    ///< rules that could not be read (ignored), for the log
};

/// Parses the fields' rules and the form settings of a stored workflow.
std::shared_ptr<const form_spec> make_form_spec(const domain::workflow_record& wf);

/// The stored text of one value (a JSON string, number or bool) for its field, checked by type
/// and rules; an empty value of an optional field is nullopt. The error's subject is the field
/// key and its message reads well beside the field.
result<std::optional<std::string>> check_field(const form_field_spec& f, const boost::json::value& v);

struct field_error {
  std::string field;
  std::string message;
};

/// A checked submission: the lead ({"email","name","company_name","phone","fields":{key:text}})
/// or every field's error.
struct form_check {
  boost::json::value lead;
  std::vector<field_error> errors;
};

/// Checks a submission of {field key: value}; keys that are not fields of the form are ignored.
/// The lead's email is the field keyed "email" (else the first EMAIL field); name, company_name
/// and phone come from fields with those keys (or common spellings such as "company").
form_check check_submission(const form_spec& form, const boost::json::object& values);

/// Whether an email address is plausible (the users/leads CHECK's shape).
bool valid_email(std::string_view email);

/// The client part of a form rate-limit key: an IPv4 address as it is; an IPv6 address cut to its
/// first `ipv6_prefix` bits (0..128; 64 counts a whole /64, which one client usually holds) and
/// written as `<network>/<prefix>`; an IPv4-mapped IPv6 address as its IPv4 address. Text that is
/// no address is kept as it is.
std::string rate_limit_client(std::string_view ip, int ipv6_prefix);

/// Whether a text is valid UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view s);

/// The JSON path of the first string holding a NUL character (PostgreSQL can store none), or
/// nullopt.
std::optional<std::string> find_nul(const boost::json::value& v, const std::string& path = "");

}  // namespace flowtrack::domain
