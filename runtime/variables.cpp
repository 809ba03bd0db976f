// Variable parsing and resolution.
#include "runtime/variables.hpp"

#include <boost/json/serialize.hpp>

#include "runtime/text.hpp"

namespace flowtrack::runtime {

namespace json = boost::json;

namespace {

bool lead_core(std::string_view name, var_root& out) {
  static constexpr std::pair<std::string_view, var_root> k_core[] = {
      {"id", var_root::lead_id},
      {"email", var_root::lead_email},
      {"name", var_root::lead_name},
      {"first_name", var_root::lead_first_name},
      {"company_name", var_root::lead_company_name},
      {"company", var_root::lead_company_name},
      {"phone", var_root::lead_phone},
      {"status", var_root::lead_status},
      {"source", var_root::lead_source},
      {"score", var_root::lead_score},
      {"tags", var_root::lead_tags},
      {"email_domain", var_root::lead_email_domain},
      {"assigned_to", var_root::lead_assigned_to},
  };
  for (const auto& [n, r] : k_core) {
    if (n == name) {
      out = r;
      return true;
    }
  }
  return false;
}

std::vector<std::string> split_path(std::string_view s) {
  std::vector<std::string> parts;
  std::size_t b = 0;
  while (b <= s.size()) {
    const auto e = std::min(s.find('.', b), s.size());
    parts.emplace_back(s.substr(b, e - b));
    b = e + 1;
  }
  return parts;
}

}  // namespace

variable parse_variable(std::string_view text, bare_names bare) {
  variable v;
  text = trim(text);
  v.text = std::string(text);
  auto starts = [&](std::string_view p) { return text.substr(0, p.size()) == p; };
  auto custom = [&](std::string_view key) {
    if (!key.empty()) {
      v.root = var_root::lead_field;
      v.key = std::string(key);
    }
  };
  if (starts("lead.fields.")) {
    custom(text.substr(12));
  } else if (starts("fields.")) {
    custom(text.substr(7));
  } else if (starts("lead.")) {
    lead_core(text.substr(5), v.root);
  } else if (starts("trigger.") || text == "trigger") {
    v.root = var_root::trigger;
    if (text.size() > 8) v.path = split_path(text.substr(8));
  } else if (text == "workspace.id") {
    v.root = var_root::workspace_id;
  } else if (text == "workspace.name") {
    v.root = var_root::workspace_name;
  } else if (text == "workspace.owner_email") {
    v.root = var_root::workspace_owner_email;
  } else if (text == "workflow.id") {
    v.root = var_root::workflow_id;
  } else if (text == "workflow.name") {
    v.root = var_root::workflow_name;
  } else if (text == "execution.id") {
    v.root = var_root::execution_id;
  } else if (text == "now") {
    v.root = var_root::now;
  } else if (bare == bare_names::custom_fields && text.find('.') == std::string_view::npos) {
    if (!lead_core(text, v.root)) custom(text);
  }
  return v;
}

value_view view_of(const json::value& j) {
  value_view v;
  switch (j.kind()) {
    case json::kind::string: v.what = value_view::kind::string; v.text = j.get_string(); break;
    case json::kind::int64: v.what = value_view::kind::number; v.number = static_cast<double>(j.get_int64()); break;
    case json::kind::uint64: v.what = value_view::kind::number; v.number = static_cast<double>(j.get_uint64()); break;
    case json::kind::double_: v.what = value_view::kind::number; v.number = j.get_double(); break;
    case json::kind::bool_: v.what = value_view::kind::boolean; v.boolean = j.get_bool(); break;
    case json::kind::array: v.what = value_view::kind::array; v.array = &j.get_array(); break;
    case json::kind::object: v.what = value_view::kind::object; v.object = &j.get_object(); break;
    case json::kind::null: break;
  }
  return v;
}

value_view resolve(const variable& var, const eval_context& ctx) {
  const lead& l = ctx.subject;
  auto str = [](std::string_view s) {
    value_view v;
    v.what = value_view::kind::string;
    v.text = s;
    return v;
  };
  auto num = [](double n) {
    value_view v;
    v.what = value_view::kind::number;
    v.number = n;
    return v;
  };
  switch (var.root) {
    case var_root::lead_id: return str(l.id);
    case var_root::lead_email: return str(l.email);
    case var_root::lead_name: return str(l.name);
    case var_root::lead_first_name: {
      std::string_view n = trim(l.name);
      return str(n.substr(0, n.find(' ')));
    }
    case var_root::lead_company_name: return str(l.company_name);
    case var_root::lead_phone: return str(l.phone);
    case var_root::lead_status: return str(l.status);
    case var_root::lead_source: return str(l.source);
    case var_root::lead_score: return num(static_cast<double>(l.score));
    case var_root::lead_tags: {
      value_view v;
      v.what = value_view::kind::tags;
      v.tags = &l.tags;
      return v;
    }
    case var_root::lead_email_domain: return str(l.email_domain());
    case var_root::lead_assigned_to: return str(l.assigned_to);
    case var_root::lead_field: {
      const json::value* f = l.fields.if_contains(var.key);
      return f ? view_of(*f) : value_view{};
    }
    case var_root::trigger: {
      const json::value* cur = &ctx.trigger;
      for (const auto& seg : var.path) {
        if (const json::object* o = cur->if_object()) {
          cur = o->if_contains(seg);
        } else if (const json::array* a = cur->if_array()) {
          const auto idx = parse_number(seg);
          cur = idx && *idx >= 0 && *idx < static_cast<double>(a->size()) ? &(*a)[static_cast<std::size_t>(*idx)] : nullptr;
        } else {
          cur = nullptr;
        }
        if (!cur) return {};
      }
      return view_of(*cur);
    }
    case var_root::workspace_id: return str(ctx.env.workspace_id);
    case var_root::workspace_name: return str(ctx.env.workspace_name);
    case var_root::workspace_owner_email: return str(ctx.env.owner_email);
    case var_root::workflow_id: return str(ctx.env.workflow_id);
    case var_root::workflow_name: return str(ctx.env.workflow_name);
    case var_root::execution_id: return str(ctx.env.execution_id);
    case var_root::now: return num(static_cast<double>(ctx.now_ms));
    case var_root::unknown: return {};
  }
  return {};
}

bool is_empty(const value_view& v) {
  switch (v.what) {
    case value_view::kind::missing: return true;
    case value_view::kind::string: return trim(v.text).empty();
    case value_view::kind::tags: return v.tags->empty();
    case value_view::kind::array: return v.array->empty();
    case value_view::kind::object: return v.object->empty();
    default: return false;
  }
}

void append_text(std::string& out, const value_view& v) {
  switch (v.what) {
    case value_view::kind::missing: break;
    case value_view::kind::string: out += v.text; break;
    case value_view::kind::number: append_number(out, v.number); break;
    case value_view::kind::boolean: out += v.boolean ? "true" : "false"; break;
    case value_view::kind::tags:
      for (std::size_t i = 0; i < v.tags->size(); ++i) {
        if (i) out += ", ";
        out += (*v.tags)[i];
      }
      break;
    case value_view::kind::array:
      for (std::size_t i = 0; i < v.array->size(); ++i) {
        if (i) out += ", ";
        const auto& e = (*v.array)[i];
        if (e.is_string()) out += e.get_string();
        else append_text(out, view_of(e));
      }
      break;
    case value_view::kind::object: out += json::serialize(*v.object); break;
  }
}

}  // namespace flowtrack::runtime
