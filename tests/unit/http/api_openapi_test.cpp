// The management API's OpenAPI document (adapters/http/api/openapi.json) against the router: the
// routes of every module, registered as serve.cpp's make_api registers them (no database: no
// route runs but GET /openapi.json), are each documented and nothing else is; operations have
// ids, summaries and responses; bodies, path parameters and sign-in agree with each route's
// options; every $ref resolves; the route serves the document.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "adapters/http/api/accounts.hpp"
#include "adapters/http/api/api.hpp"
#include "adapters/http/api/integrations.hpp"
#include "adapters/http/api/leads.hpp"
#include "adapters/http/api/openapi.hpp"
#include "adapters/http/api/resources.hpp"
#include "adapters/http/api/usage.hpp"
#include "adapters/http/api/workspaces.hpp"

namespace flowtrack::http::api {
namespace {
namespace json = boost::json;

constexpr std::string_view k_methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string name_of(verb m, std::string_view pattern) { return std::string(boost::beast::http::to_string(m)) + " " + std::string(pattern); }

// The `{name}` segments of a path pattern.
std::set<std::string> params_in(std::string_view pattern) {
  std::set<std::string> out;
  for (std::size_t open = pattern.find('{'); open != std::string_view::npos; open = pattern.find('{', open + 1)) {
    auto close = pattern.find('}', open);
    if (close == std::string_view::npos) break;
    out.emplace(pattern.substr(open + 1, close - open - 1));
  }
  return out;
}

// The value a local reference ("#/components/schemas/Lead") names, or null.
const json::value* resolve(const json::value& doc, std::string_view ref) {
  if (!ref.starts_with("#/")) return nullptr;
  const json::value* at = &doc;
  std::size_t i = 2;
  while (at != nullptr && i <= ref.size()) {
    auto slash = ref.find('/', i);
    std::string token(ref.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i));
    for (std::size_t p = token.find('~'); p != std::string::npos && p + 1 < token.size(); p = token.find('~', p + 1))
      token.replace(p, 2, token[p + 1] == '1' ? "/" : "~");
    if (const auto* o = at->if_object()) {
      at = o->if_contains(token);
    } else if (const auto* a = at->if_array()) {
      std::size_t n = 0;
      bool digits = !token.empty() && std::all_of(token.begin(), token.end(), [](unsigned char c) { return std::isdigit(c); });
      if (digits) n = std::stoul(token);
      at = digits && n < a->size() ? &(*a)[n] : nullptr;
    } else {
      at = nullptr;
    }
    if (slash == std::string_view::npos) break;
    i = slash + 1;
  }
  return at;
}

// The value itself, or what its $ref names (one level, as OpenAPI's reference objects).
const json::value& deref(const json::value& doc, const json::value& v) {
  if (const auto* o = v.if_object())
    if (const auto* r = o->if_contains("$ref"); r && r->is_string())
      if (const auto* target = resolve(doc, r->get_string())) return *target;
  return v;
}

// Every "$ref" string in the document.
void collect_refs(const json::value& v, std::vector<std::string>& out) {
  if (const auto* o = v.if_object()) {
    for (const auto& [k, x] : *o) {
      if (k == "$ref" && x.is_string()) out.emplace_back(x.get_string());
      else collect_refs(x, out);
    }
  } else if (const auto* a = v.if_array()) {
    for (const auto& x : *a) collect_refs(x, out);
  }
}

class api_openapi : public ::testing::Test {
 protected:
  api_openapi() : api(options()) {
    // As adapters/cli/serve.cpp's make_api, with settings that matter to no route's shape.
    add_account_routes(api);
    add_workspace_routes(api, "in.flowtrack.test");
    add_resource_routes(api, resource_options{});
    add_lead_routes(api);
    add_usage_routes(api);
    add_integration_routes(api, {});
    add_openapi_route(api);
    boost::system::error_code ec;
    doc = json::parse(openapi_document(), ec);
    parsed = !ec;
  }
  static api_options options() {
    api_options o;
    o.password_params = {256, 1, 1};  // the dummy hash add_account_routes makes
    o.password_threads = 1;
    return o;
  }

  const json::object& paths() const { return doc.at("paths").as_object(); }
  // The operation of a route, or null.
  const json::object* operation(verb m, std::string_view pattern) const {
    const auto* item = paths().if_contains(pattern);
    if (item == nullptr || !item->is_object()) return nullptr;
    const auto* op = item->as_object().if_contains(lower(boost::beast::http::to_string(m)));
    return op != nullptr && op->is_object() ? &op->as_object() : nullptr;
  }
  // Every documented operation: "GET /path" -> (path item, operation).
  std::map<std::string, std::pair<const json::object*, const json::object*>> operations() const {
    std::map<std::string, std::pair<const json::object*, const json::object*>> out;
    for (const auto& [path, item] : paths())
      for (auto m : k_methods)
        if (const auto* op = item.as_object().if_contains(m))
          out[upper(m) + " " + std::string(path)] = {&item.as_object(), &op->as_object()};
    return out;
  }

  api_service api;
  json::value doc;
  bool parsed = false;
};

TEST_F(api_openapi, is_an_openapi_3_1_document_with_bearer_security_below_the_prefix) {
  ASSERT_TRUE(parsed) << "adapters/http/api/openapi.json is not JSON";
  ASSERT_TRUE(doc.is_object());
  EXPECT_TRUE(doc.at("openapi").as_string().starts_with("3.1.")) << doc.at("openapi");
  EXPECT_FALSE(doc.at("info").at("title").as_string().empty());
  EXPECT_FALSE(doc.at("info").at("version").as_string().empty());
  EXPECT_EQ(doc.at("servers").as_array().at(0).at("url").as_string(), k_prefix);
  const auto& bearer = doc.at("components").at("securitySchemes").at("bearerAuth");
  EXPECT_EQ(bearer.at("type"), "http");
  EXPECT_EQ(bearer.at("scheme"), "bearer");
  EXPECT_EQ(bearer.at("bearerFormat"), "JWT");
  EXPECT_EQ(doc.at("security"), json::parse(R"([{"bearerAuth":[]}])")) << "signed in unless an operation says otherwise";
  for (const char* shape : {"Error", "Problem", "Lead", "LeadPage", "Workflow", "ExecutionDetail", "WebhookEndpoint", "Workspace",
                            "Member", "TokenPair"})
    EXPECT_TRUE(doc.at("components").at("schemas").as_object().contains(shape)) << shape;
}

TEST_F(api_openapi, documents_every_route_of_the_router_and_no_other) {
  ASSERT_TRUE(parsed);
  std::set<std::string> served, documented;
  for (const auto& [m, pattern] : api.routes()) served.insert(name_of(m, pattern));
  for (const auto& [name, op] : operations()) documented.insert(name);
  ASSERT_GT(served.size(), 60u) << "every module's routes are registered";
  std::string missing, extra;
  for (const auto& r : served)
    if (!documented.contains(r)) missing += "\n  " + r;
  for (const auto& d : documented)
    if (!served.contains(d)) extra += "\n  " + d;
  EXPECT_TRUE(missing.empty()) << "routes missing from openapi.json:" << missing;
  EXPECT_TRUE(extra.empty()) << "operations in openapi.json that no route serves:" << extra;
  EXPECT_TRUE(openapi_mismatches(api, doc).empty()) << "the start-up check agrees";
}

TEST_F(api_openapi, the_start_up_check_names_a_route_the_document_lacks_and_an_operation_no_route_serves) {
  ASSERT_TRUE(parsed);
  api.add(verb::get, "/undocumented/{x}", route_options{}, [](api_call&&, responder) {});
  auto trimmed = doc;
  trimmed.at("paths").as_object().at("/me").as_object().erase("patch");
  trimmed.at("paths").as_object()["/gone"] = json::object{{"delete", json::object{}}};
  auto found = openapi_mismatches(api, trimmed);
  std::set<std::string> got(found.begin(), found.end());
  EXPECT_EQ(got, (std::set<std::string>{"not documented: GET /undocumented/{x}", "not documented: PATCH /me",
                                        "documented but not served: DELETE /gone"}));
}

TEST_F(api_openapi, every_operation_has_a_unique_id_a_summary_and_responses_with_a_success) {
  ASSERT_TRUE(parsed);
  std::map<std::string, std::string> ids;
  for (const auto& [name, at] : operations()) {
    const auto& op = *at.second;
    SCOPED_TRACE(name);
    ASSERT_TRUE(op.contains("operationId"));
    std::string id(op.at("operationId").as_string());
    EXPECT_FALSE(id.empty());
    auto [it, fresh] = ids.emplace(id, name);
    EXPECT_TRUE(fresh) << "operationId " << id << " is also " << it->second << "'s";
    EXPECT_FALSE(op.at("summary").as_string().empty());
    ASSERT_TRUE(op.contains("responses"));
    const auto& responses = op.at("responses").as_object();
    EXPECT_FALSE(responses.empty());
    bool success = false;
    for (const auto& [status, r] : responses) {
      success = success || status.starts_with("2");
      const auto& answer = deref(doc, r);
      EXPECT_TRUE(answer.is_object() && answer.as_object().contains("description")) << status << " has no description";
      if (!status.starts_with("2")) {
        // Every error answer is the one error shape (or, for a workflow graph, the problems with it).
        const auto& media = answer.at("content").at("application/json").at("schema");
        std::vector<std::string> refs;
        collect_refs(media, refs);
        EXPECT_TRUE(std::find(refs.begin(), refs.end(), "#/components/schemas/Error") != refs.end()) << status;
      }
    }
    EXPECT_TRUE(success) << "no 2xx answer";
    EXPECT_TRUE(op.contains("tags"));
  }
  EXPECT_EQ(ids.size(), api.routes().size());
}

TEST_F(api_openapi, a_request_body_is_documented_exactly_where_the_route_takes_one) {
  ASSERT_TRUE(parsed);
  int json_bodies = 0, raw_bodies = 0;
  for (const auto& r : api.route_list()) {
    auto name = name_of(r.method, r.pattern);
    SCOPED_TRACE(name);
    const auto* op = operation(r.method, r.pattern);
    ASSERT_NE(op, nullptr);
    const auto* body = op->if_contains("requestBody");
    if (!r.options.body && r.options.raw_body_type.empty()) {
      EXPECT_EQ(body, nullptr) << "the route takes no body";
      continue;
    }
    ASSERT_NE(body, nullptr) << "the route takes a body";
    const auto& b = deref(doc, *body).as_object();
    EXPECT_EQ(b.at("required"), true);
    const auto& content = b.at("content").as_object();
    std::string media = r.options.body ? "application/json" : std::string(r.options.raw_body_type);
    EXPECT_TRUE(content.contains(media)) << "documents " << json::serialize(content) << ", takes " << media;
    EXPECT_EQ(content.size(), 1u);
    if (content.contains(media)) {
      EXPECT_TRUE(content.at(media).as_object().contains("schema"));
    }
    // What a body can be refused with.
    for (const char* status : {"413", "415", "422"}) EXPECT_TRUE(op->at("responses").as_object().contains(status)) << status;
    ++(r.options.body ? json_bodies : raw_bodies);
  }
  EXPECT_GT(json_bodies, 20);
  EXPECT_EQ(raw_bodies, 1) << "the lead CSV import";
}

TEST_F(api_openapi, every_path_parameter_is_declared_and_every_declared_one_is_in_the_path) {
  ASSERT_TRUE(parsed);
  for (const auto& [name, at] : operations()) {
    SCOPED_TRACE(name);
    auto pattern = name.substr(name.find(' ') + 1);
    std::set<std::string> declared;
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto* holder : {at.first, at.second}) {
      const auto* list = holder->if_contains("parameters");
      if (list == nullptr) continue;
      for (const auto& p : list->as_array()) {
        const auto& param = deref(doc, p);
        ASSERT_TRUE(param.is_object()) << json::serialize(p);
        std::string pname(param.at("name").as_string()), in(param.at("in").as_string());
        EXPECT_TRUE(param.as_object().contains("schema")) << pname;
        // An operation's parameter may override the path item's; not twice in one list.
        if (holder == at.second) {
          EXPECT_TRUE(seen.emplace(pname, in).second) << pname << " twice";
        }
        if (in != "path") continue;
        EXPECT_EQ(param.as_object().if_contains("required") ? param.at("required") : json::value(false), true) << pname;
        declared.insert(pname);
      }
    }
    EXPECT_EQ(declared, params_in(pattern));
  }
}

TEST_F(api_openapi, signed_in_routes_need_the_bearer_token_and_open_ones_say_they_need_none) {
  ASSERT_TRUE(parsed);
  int open = 0;
  for (const auto& r : api.route_list()) {
    auto name = name_of(r.method, r.pattern);
    SCOPED_TRACE(name);
    const auto* op = operation(r.method, r.pattern);
    ASSERT_NE(op, nullptr);
    const auto* own = op->if_contains("security");
    const json::value& effective = own != nullptr ? *own : doc.at("security");
    const auto& responses = op->at("responses").as_object();
    if (r.options.signed_in) {
      EXPECT_EQ(effective, json::parse(R"([{"bearerAuth":[]}])"));
      EXPECT_TRUE(responses.contains("401"));
    } else {
      ++open;
      ASSERT_NE(own, nullptr) << "an open route says security: []";
      EXPECT_TRUE(own->is_array() && own->as_array().empty());
    }
    if (r.options.needs_jwt_key) {
      EXPECT_TRUE(responses.contains("503")) << "503 naming jwt_key";
    }
    if (r.pattern.starts_with("/workspaces/{id}")) {
      EXPECT_TRUE(responses.contains("403"));
      EXPECT_TRUE(responses.contains("404"));
    }
  }
  EXPECT_EQ(open, 8) << "signup, verify-email, login, refresh, logout, forgot- and reset-password, openapi.json";
}

TEST_F(api_openapi, every_reference_resolves) {
  ASSERT_TRUE(parsed);
  std::vector<std::string> refs;
  collect_refs(doc, refs);
  ASSERT_GT(refs.size(), 100u);
  for (const auto& r : refs) EXPECT_NE(resolve(doc, r), nullptr) << r << " names nothing";
  EXPECT_EQ(resolve(doc, "#/components/schemas/NoSuchShape"), nullptr) << "the resolver itself can fail";
  // Every component is used (an unused one is usually a misspelt reference).
  std::set<std::string> used(refs.begin(), refs.end());
  for (const char* kind : {"schemas", "parameters", "responses", "headers"})
    for (const auto& [k, v] : doc.at("components").at(kind).as_object())
      EXPECT_TRUE(used.contains("#/components/" + std::string(kind) + "/" + std::string(k))) << kind << "/" << k << " is never used";
}

TEST_F(api_openapi, serves_the_document_compact_to_anyone_with_an_etag) {
  ASSERT_TRUE(parsed);
  request req{bhttp::verb::get, "/api/v1/openapi.json", 11};
  std::optional<response> out;
  api.handle(std::move(req), request_info{"203.0.113.9", "req-1", ""}, [&](response&& r) { out = std::move(r); });
  ASSERT_TRUE(out.has_value()) << "answered without a database";
  EXPECT_EQ(out->result(), bhttp::status::ok) << out->body();
  EXPECT_EQ((*out)[bhttp::field::content_type], "application/json");
  EXPECT_EQ(json::parse(out->body()), doc) << "the document as kept";
  EXPECT_LT(out->body().size(), openapi_document().size()) << "without the file's indentation";
  auto etag = std::string((*out)[bhttp::field::etag]);
  EXPECT_GT(etag.size(), 2u);
  EXPECT_EQ(etag.front(), '"');
  EXPECT_NE((*out)[bhttp::field::cache_control].find("max-age"), std::string::npos);
}

}  // namespace
}  // namespace flowtrack::http::api
