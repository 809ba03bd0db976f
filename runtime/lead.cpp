// Lead JSON mapping and patches.
#include "runtime/lead.hpp"

#include <algorithm>

#include "runtime/text.hpp"

namespace flowtrack::runtime {

namespace json = boost::json;

std::string_view lead::email_domain() const {
  const auto at = email.rfind('@');
  if (at == std::string::npos) return {};
  return std::string_view(email).substr(at + 1);
}

std::string lead::identity() const {
  if (!id.empty()) return id;
  std::string e = email;
  to_lower_ascii(e);
  return e;
}

result<lead> lead_from_json(const json::value& v) {
  const json::object* o = v.if_object();
  if (!o) return make_error(error_code::invalid, "a lead must be a JSON object");
  lead l;
  auto str = [&](const char* key, std::string& out) -> result<void> {
    const json::value* f = o->if_contains(key);
    if (!f || f->is_null()) return {};
    if (!f->is_string()) return make_error(error_code::invalid, std::string("lead.") + key + " must be a string", key);
    out = std::string(f->get_string());
    return {};
  };
  for (auto [key, out] : {std::pair{"id", &l.id}, {"email", &l.email}, {"name", &l.name},
                          {"company_name", &l.company_name}, {"phone", &l.phone}, {"status", &l.status},
                          {"source", &l.source}, {"assigned_to", &l.assigned_to}}) {
    if (auto r = str(key, *out); !r) return r.err();
  }
  if (l.email.empty()) return make_error(error_code::invalid, "lead.email is required", "email");
  if (l.status.empty()) l.status = "NEW";
  if (const json::value* s = o->if_contains("score"); s && !s->is_null()) {
    if (s->is_int64()) l.score = s->get_int64();
    else if (s->is_uint64() && s->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) l.score = static_cast<std::int64_t>(s->get_uint64());
    else if (s->is_double() && s->get_double() == static_cast<double>(static_cast<std::int64_t>(s->get_double()))) l.score = static_cast<std::int64_t>(s->get_double());
    else return make_error(error_code::invalid, "lead.score must be an integer", "score");
  }
  if (const json::value* t = o->if_contains("tags"); t && !t->is_null()) {
    if (!t->is_array()) return make_error(error_code::invalid, "lead.tags must be an array of strings", "tags");
    for (const auto& e : t->get_array()) {
      if (!e.is_string()) return make_error(error_code::invalid, "lead.tags must be an array of strings", "tags");
      l.tags.emplace_back(e.get_string());
    }
  }
  if (const json::value* f = o->if_contains("fields"); f && !f->is_null()) {
    if (!f->is_object()) return make_error(error_code::invalid, "lead.fields must be an object", "fields");
    l.fields = f->get_object();
  }
  if (const json::value* u = o->if_contains("unsubscribed"); u && !u->is_null()) {
    if (!u->is_bool()) return make_error(error_code::invalid, "lead.unsubscribed must be true or false", "unsubscribed");
    l.unsubscribed = u->get_bool();
  }
  return l;
}

json::object lead_to_json(const lead& l) {
  json::object o;
  if (!l.id.empty()) o["id"] = l.id;
  o["email"] = l.email;
  o["name"] = l.name;
  o["company_name"] = l.company_name;
  o["phone"] = l.phone;
  o["status"] = l.status;
  o["source"] = l.source;
  if (!l.assigned_to.empty()) o["assigned_to"] = l.assigned_to;
  o["score"] = l.score;
  json::array tags;
  for (const auto& t : l.tags) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  o["fields"] = l.fields;
  if (l.unsubscribed) o["unsubscribed"] = true;
  return o;
}

json::object lead_patch::to_json() const {
  static constexpr const char* k_names[] = {"set_status", "add_tag", "remove_tag", "set_field", "add_score", "assign"};
  json::object o;
  o["op"] = k_names[static_cast<int>(what)];
  if (what == kind::set_field) o["key"] = key;
  if (what == kind::add_score) o["delta"] = delta;
  else o["value"] = value;
  return o;
}

void apply(lead& l, const lead_patch& p) {
  switch (p.what) {
    case lead_patch::kind::set_status: l.status = p.value; break;
    case lead_patch::kind::add_tag:
      if (std::none_of(l.tags.begin(), l.tags.end(), [&](const std::string& t) { return iequals(t, p.value); })) {
        l.tags.push_back(p.value);
      }
      break;
    case lead_patch::kind::remove_tag:
      std::erase_if(l.tags, [&](const std::string& t) { return iequals(t, p.value); });
      break;
    case lead_patch::kind::add_score: l.score += p.delta; break;
    case lead_patch::kind::assign: l.assigned_to = p.value; break;
    case lead_patch::kind::set_field:
      if (p.key == "name") l.name = p.value;
      else if (p.key == "company_name") l.company_name = p.value;
      else if (p.key == "phone") l.phone = p.value;
      else if (p.key == "status") l.status = p.value;
      else if (p.key == "source") l.source = p.value;
      else if (p.key == "email") l.email = p.value;
      else l.fields[p.key] = p.value;
      break;
  }
}

}  // namespace flowtrack::runtime
