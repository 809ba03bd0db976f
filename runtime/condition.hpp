// Conditions: rules {field, operator, value} joined by all/any, compiled once and evaluated
// against a lead without allocating. Shared by LOGIC_CONDITION and conditional edges.
// Must not know about graphs, nodes or I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "runtime/error.hpp"
#include "runtime/lead.hpp"
#include "runtime/variables.hpp"

namespace flowtrack::runtime {

/// Comparison operators of a rule.
enum class condition_op : std::uint8_t {
  eq, ne, gt, ge, lt, le, contains, not_contains, starts_with, ends_with, in, not_in,
  is_empty, is_not_empty, matches,
};

/// Parses "==", "!=", ">", ">=", "<", "<=", "contains", ..., "matches" (and a few aliases such
/// as "equals", "gte").
std::optional<condition_op> parse_condition_op(std::string_view s);
/// The canonical spelling of an operator.
std::string_view to_string(condition_op op);

/// `matches` uses runtime/regex.hpp, whose limits keep a user's regex from stalling a step.
class compiled_regex;

/// A compiled condition: either one rule or a group of rules and groups joined by all/any.
///
/// JSON: a rule `{"field":"budget","operator":">=","value":5000,"caseSensitive":false}` or a
/// group `{"match":"all"|"any","rules":[rule or group, ...]}` ("combinator":"and"|"or" also
/// read). Fields: lead core fields (email, name, company_name, phone, status, source, score,
/// tags, email_domain, assigned_to, with or without "lead."), custom fields ("budget",
/// "fields.budget", "lead.fields.budget") and trigger data ("trigger.utm.source").
///
/// Semantics: numbers compare as numbers (numeric strings count), other values as strings,
/// ASCII case-insensitively unless caseSensitive; a list field (tags, arrays) matches when any
/// element does (its negations when none does); a missing field is empty and never an error.
class condition {
 public:
  /// Compiles the JSON form; on failure the error's subject names the offending key
  /// ("operator", "rules[1].value").
  static result<condition> compile(const boost::json::value& spec);

  /// Evaluates against a context. Never fails; a regex over its limits counts as no match.
  bool evaluate(const eval_context& ctx) const;

  /// Custom field keys and trigger paths read, for validation warnings.
  std::vector<const variable*> variables() const;

  condition() = default;

  struct operand {
    std::string text;    ///< as written (numbers in their text form)
    std::string folded;  ///< lower-cased text
    std::optional<double> number;
  };
  struct rule {
    variable field;
    condition_op op = condition_op::eq;
    bool case_sensitive = false;
    std::vector<operand> values;  ///< one, or the list for in / not_in
    std::shared_ptr<const compiled_regex> regex;
  };

 private:
  friend struct condition_builder;
  bool any_ = false;
  std::vector<rule> rules_;
  std::vector<condition> groups_;
};

}  // namespace flowtrack::runtime
