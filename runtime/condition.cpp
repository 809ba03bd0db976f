// Condition compilation and evaluation; `matches` uses PCRE2 with match and heap limits.
#include "runtime/condition.hpp"

#include <boost/json/serialize.hpp>

#include "runtime/regex.hpp"
#include "runtime/text.hpp"

namespace flowtrack::runtime {

namespace json = boost::json;

std::optional<condition_op> parse_condition_op(std::string_view s) {
  static constexpr std::pair<std::string_view, condition_op> k_ops[] = {
      {"==", condition_op::eq}, {"=", condition_op::eq}, {"equals", condition_op::eq}, {"eq", condition_op::eq},
      {"!=", condition_op::ne}, {"not_equals", condition_op::ne}, {"ne", condition_op::ne},
      {">", condition_op::gt}, {"gt", condition_op::gt}, {">=", condition_op::ge}, {"gte", condition_op::ge},
      {"<", condition_op::lt}, {"lt", condition_op::lt}, {"<=", condition_op::le}, {"lte", condition_op::le},
      {"contains", condition_op::contains}, {"not_contains", condition_op::not_contains},
      {"starts_with", condition_op::starts_with}, {"ends_with", condition_op::ends_with},
      {"in", condition_op::in}, {"not_in", condition_op::not_in},
      {"is_empty", condition_op::is_empty}, {"is_not_empty", condition_op::is_not_empty},
      {"matches", condition_op::matches},
  };
  for (const auto& [n, op] : k_ops) {
    if (n == s) return op;
  }
  return std::nullopt;
}

std::string_view to_string(condition_op op) {
  static constexpr std::string_view k_names[] = {"==", "!=", ">", ">=", "<", "<=", "contains", "not_contains",
                                                 "starts_with", "ends_with", "in", "not_in", "is_empty",
                                                 "is_not_empty", "matches"};
  return k_names[static_cast<int>(op)];
}

namespace {

result<condition::operand> make_operand(const json::value& v, const std::string& where) {
  condition::operand o;
  switch (v.kind()) {
    case json::kind::string: o.text = std::string(v.get_string()); o.number = parse_number(o.text); break;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: {
      const double d = v.is_double() ? v.get_double() : v.is_int64() ? static_cast<double>(v.get_int64())
                                                                      : static_cast<double>(v.get_uint64());
      append_number(o.text, d);
      o.number = d;
      break;
    }
    case json::kind::bool_: o.text = v.get_bool() ? "true" : "false"; break;
    case json::kind::null: break;
    default:
      return make_error(error_code::invalid, "a condition value must be a string, number, boolean or null", where);
  }
  o.folded = o.text;
  to_lower_ascii(o.folded);
  return o;
}

result<condition::rule> compile_rule(const json::object& o, const std::string& prefix) {
  condition::rule r;
  const json::value* field = o.if_contains("field");
  if (!field || !field->is_string() || trim(field->get_string()).empty()) {
    return make_error(error_code::invalid, "a condition rule needs a field name", prefix + "field");
  }
  r.field = parse_variable(field->get_string(), bare_names::custom_fields);
  if (r.field.root == var_root::unknown) {
    return make_error(error_code::invalid, "unknown condition field '" + std::string(field->get_string()) + "'",
                      prefix + "field");
  }
  const json::value* op = o.if_contains("operator");
  if (!op) op = o.if_contains("op");
  if (!op || !op->is_string()) return make_error(error_code::invalid, "a condition rule needs an operator", prefix + "operator");
  const auto parsed = parse_condition_op(op->get_string());
  if (!parsed) {
    return make_error(error_code::invalid, "unknown operator '" + std::string(op->get_string()) + "'", prefix + "operator");
  }
  r.op = *parsed;
  if (const json::value* cs = o.if_contains("caseSensitive"); cs && cs->is_bool()) r.case_sensitive = cs->get_bool();
  const json::value* value = o.if_contains("value");
  static const json::value k_null;
  const json::value& v = value ? *value : k_null;
  switch (r.op) {
    case condition_op::is_empty:
    case condition_op::is_not_empty: break;
    case condition_op::in:
    case condition_op::not_in: {
      if (v.is_array()) {
        for (const auto& e : v.get_array()) {
          auto o2 = make_operand(e, prefix + "value");
          if (!o2) return o2.err();
          r.values.push_back(std::move(*o2));
        }
      } else if (v.is_string()) {  // "a, b, c"
        std::string_view s = v.get_string();
        std::size_t b = 0;
        while (b <= s.size()) {
          const auto e = std::min(s.find(',', b), s.size());
          auto o2 = make_operand(json::value(trim(s.substr(b, e - b))), prefix + "value");
          r.values.push_back(std::move(*o2));
          b = e + 1;
        }
      } else {
        return make_error(error_code::invalid, "'in' needs a list of values", prefix + "value");
      }
      break;
    }
    case condition_op::matches: {
      if (!v.is_string()) return make_error(error_code::invalid, "'matches' needs a regular expression string", prefix + "value");
      auto re = compiled_regex::compile(v.get_string(), r.case_sensitive);
      if (!re) return make_error(error_code::invalid, re.err().message, prefix + "value");
      r.regex = *re;
      auto o2 = make_operand(v, prefix + "value");
      r.values.push_back(std::move(*o2));
      break;
    }
    default: {
      if (!value) return make_error(error_code::invalid, "operator '" + std::string(to_string(r.op)) + "' needs a value", prefix + "value");
      auto o2 = make_operand(v, prefix + "value");
      if (!o2) return o2.err();
      r.values.push_back(std::move(*o2));
    }
  }
  return r;
}

constexpr int k_max_depth = 8;

result<condition> compile_group(const json::value& spec, const std::string& prefix, int depth);

}  // namespace

// Access to private members from the compile helpers without widening the public API.
struct condition_builder {
  static condition make(bool any, std::vector<condition::rule> rules, std::vector<condition> groups) {
    condition c;
    c.any_ = any;
    c.rules_ = std::move(rules);
    c.groups_ = std::move(groups);
    return c;
  }
};

namespace {

result<condition> compile_group(const json::value& spec, const std::string& prefix, int depth) {
  const json::object* o = spec.if_object();
  if (!o) return make_error(error_code::invalid, "a condition must be an object", prefix.empty() ? "condition" : prefix);
  if (depth > k_max_depth) return make_error(error_code::invalid, "conditions nest too deeply", prefix);
  const json::value* rules = o->if_contains("rules");
  if (!rules) rules = o->if_contains("conditions");
  if (!rules) {
    auto r = compile_rule(*o, prefix);
    if (!r) return r.err();
    std::vector<condition::rule> one;
    one.push_back(std::move(*r));
    return condition_builder::make(false, std::move(one), {});
  }
  bool any = false;
  const json::value* match = o->if_contains("match");
  if (!match) match = o->if_contains("combinator");
  if (!match) match = o->if_contains("logic");
  if (match) {
    const std::string_view m = match->is_string() ? std::string_view(match->get_string()) : std::string_view();
    if (iequals(m, "any") || iequals(m, "or")) any = true;
    else if (!(iequals(m, "all") || iequals(m, "and"))) {
      return make_error(error_code::invalid, "match must be \"all\" or \"any\"", prefix + "match");
    }
  }
  if (!rules->is_array() || rules->get_array().empty()) {
    return make_error(error_code::invalid, "a condition group needs at least one rule", prefix + "rules");
  }
  std::vector<condition::rule> list;
  std::vector<condition> groups;
  std::size_t i = 0;
  for (const auto& e : rules->get_array()) {
    const std::string p = prefix + "rules[" + std::to_string(i++) + "].";
    const json::object* eo = e.if_object();
    if (eo && (eo->contains("rules") || eo->contains("conditions"))) {
      auto g = compile_group(e, p, depth + 1);
      if (!g) return g.err();
      groups.push_back(std::move(*g));
    } else if (eo) {
      auto r = compile_rule(*eo, p);
      if (!r) return r.err();
      list.push_back(std::move(*r));
    } else {
      return make_error(error_code::invalid, "a rule must be an object", p.substr(0, p.size() - 1));
    }
  }
  return condition_builder::make(any, std::move(list), std::move(groups));
}

// One scalar compared for equality with an operand.
bool scalar_equals(const value_view& v, const condition::operand& o, bool cs) {
  switch (v.what) {
    case value_view::kind::missing: return o.text.empty();
    case value_view::kind::number: return o.number ? v.number == *o.number : false;
    case value_view::kind::boolean: return o.folded == (v.boolean ? "true" : "false");
    case value_view::kind::string: {
      if (o.number) {
        if (const auto n = parse_number(v.text)) return *n == *o.number;
      }
      return cs ? v.text == o.text : equals_folded(v.text, o.folded);
    }
    default: return false;
  }
}

// -1, 0, 1, or nothing when the two are not comparable.
std::optional<int> scalar_compare(const value_view& v, const condition::operand& o, bool cs) {
  auto sign = [](auto d) { return d < 0 ? -1 : d > 0 ? 1 : 0; };
  std::optional<double> n;
  if (v.what == value_view::kind::number) n = v.number;
  else if (v.what == value_view::kind::string) n = parse_number(v.text);
  if (n && o.number) return *n < *o.number ? -1 : *n > *o.number ? 1 : 0;
  if (v.what != value_view::kind::string || v.text.empty() || o.text.empty()) return std::nullopt;
  if (cs) return sign(v.text.compare(o.text));
  const std::size_t len = std::min(v.text.size(), o.folded.size());
  for (std::size_t i = 0; i < len; ++i) {
    const char a = lower_ascii(v.text[i]), b = o.folded[i];
    if (a != b) return a < b ? -1 : 1;
  }
  return sign(static_cast<long long>(v.text.size()) - static_cast<long long>(o.folded.size()));
}

// The text of a scalar for string operators; numbers are formatted into `scratch`.
std::string_view scalar_text(const value_view& v, std::string& scratch) {
  switch (v.what) {
    case value_view::kind::string: return v.text;
    case value_view::kind::number: scratch.clear(); append_number(scratch, v.number); return scratch;
    case value_view::kind::boolean: return v.boolean ? "true" : "false";
    default: return {};
  }
}

bool starts_with_text(std::string_view s, const condition::operand& o, bool cs) {
  if (s.size() < o.text.size()) return false;
  return cs ? s.substr(0, o.text.size()) == o.text : equals_folded(s.substr(0, o.folded.size()), o.folded);
}

bool ends_with_text(std::string_view s, const condition::operand& o, bool cs) {
  if (s.size() < o.text.size()) return false;
  const auto tail = s.substr(s.size() - o.text.size());
  return cs ? tail == o.text : equals_folded(tail, o.folded);
}

// A positive test of one scalar.
bool scalar_test(const condition::rule& r, const value_view& v) {
  std::string scratch;
  const bool cs = r.case_sensitive;
  switch (r.op) {
    case condition_op::eq:
    case condition_op::ne: return scalar_equals(v, r.values[0], cs);
    case condition_op::gt: { auto c = scalar_compare(v, r.values[0], cs); return c && *c > 0; }
    case condition_op::ge: { auto c = scalar_compare(v, r.values[0], cs); return c && *c >= 0; }
    case condition_op::lt: { auto c = scalar_compare(v, r.values[0], cs); return c && *c < 0; }
    case condition_op::le: { auto c = scalar_compare(v, r.values[0], cs); return c && *c <= 0; }
    case condition_op::contains:
    case condition_op::not_contains: {
      const auto s = scalar_text(v, scratch);
      return contains_text(s, cs ? std::string_view(r.values[0].text) : std::string_view(r.values[0].folded), cs);
    }
    case condition_op::starts_with: return starts_with_text(scalar_text(v, scratch), r.values[0], cs);
    case condition_op::ends_with: return ends_with_text(scalar_text(v, scratch), r.values[0], cs);
    case condition_op::in:
    case condition_op::not_in:
      for (const auto& o : r.values) {
        if (scalar_equals(v, o, cs)) return true;
      }
      return false;
    case condition_op::matches: return r.regex && r.regex->matches(scalar_text(v, scratch));
    default: return false;
  }
}

bool is_negation(condition_op op) {
  return op == condition_op::ne || op == condition_op::not_contains || op == condition_op::not_in;
}

bool evaluate_rule(const condition::rule& r, const eval_context& ctx) {
  const value_view v = resolve(r.field, ctx);
  if (r.op == condition_op::is_empty) return is_empty(v);
  if (r.op == condition_op::is_not_empty) return !is_empty(v);
  bool hit = false;
  if (v.what == value_view::kind::tags) {
    for (const auto& t : *v.tags) {
      value_view e;
      e.what = value_view::kind::string;
      e.text = t;
      // For lists, `contains` means "has this element".
      const bool h = (r.op == condition_op::contains || r.op == condition_op::not_contains)
                         ? scalar_equals(e, r.values[0], r.case_sensitive)
                         : scalar_test(r, e);
      if (h) {
        hit = true;
        break;
      }
    }
  } else if (v.what == value_view::kind::array) {
    for (const auto& j : *v.array) {
      const value_view e = view_of(j);
      const bool h = (r.op == condition_op::contains || r.op == condition_op::not_contains)
                         ? scalar_equals(e, r.values[0], r.case_sensitive)
                         : scalar_test(r, e);
      if (h) {
        hit = true;
        break;
      }
    }
  } else if (v.what == value_view::kind::object) {
    hit = false;
  } else {
    hit = scalar_test(r, v);
  }
  return is_negation(r.op) ? !hit : hit;
}

}  // namespace

result<condition> condition::compile(const json::value& spec) { return compile_group(spec, "", 0); }

bool condition::evaluate(const eval_context& ctx) const {
  if (any_) {
    for (const auto& r : rules_) {
      if (evaluate_rule(r, ctx)) return true;
    }
    for (const auto& g : groups_) {
      if (g.evaluate(ctx)) return true;
    }
    return false;
  }
  for (const auto& r : rules_) {
    if (!evaluate_rule(r, ctx)) return false;
  }
  for (const auto& g : groups_) {
    if (!g.evaluate(ctx)) return false;
  }
  return true;
}

std::vector<const variable*> condition::variables() const {
  std::vector<const variable*> out;
  for (const auto& r : rules_) out.push_back(&r.field);
  for (const auto& g : groups_) {
    auto more = g.variables();
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

}  // namespace flowtrack::runtime
