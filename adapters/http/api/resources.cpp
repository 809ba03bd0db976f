// The shared step of the resource routes: the scope check and the work in one PostgreSQL job,
// storage errors said the API's way, lists as keyset pages.
#include "adapters/http/api/resources.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

namespace flowtrack::http::api {
namespace json = boost::json;

namespace detail {

api_error not_found_in_workspace(std::string_view what) {
  return api_error{bhttp::status::not_found, "not_found", "no such " + std::string(what) + " in this workspace", std::string(what), 0};
}

void add_resource_route(api_service& api, verb method, std::string_view pattern, bool body, domain::action needed,
                        std::function<result<outcome>(pg::connection&, const scoped_call&)> work) {
  api.add(method, pattern, route_options{body, true, false}, [&api, needed, work = std::move(work)](api_call&& call, responder reply) {
    in_workspace_db(
        api, std::move(call), std::move(reply), needed, [work](pg::connection& c, const scoped_call& sc) { return work(c, sc); },
        [](scoped_call&&, result<outcome> r, responder reply) {
          if (!r) {
            if (r.err().code == error_code::internal) spdlog::error("api resources: {}", r.err().message);
            return reply(error_response(from_error(r.err())));
          }
          if (auto* e = std::get_if<api_error>(&*r)) return reply(error_response(*e));
          auto& a = std::get<answer>(*r);
          if (a.status == bhttp::status::no_content) return reply(no_content());
          auto res = json_reply(a.status, a.body);
          if (!a.etag.empty()) res.set(bhttp::field::etag, a.etag);
          reply(std::move(res));
        });
  });
}

std::variant<std::pair<int, std::optional<std::string>>, api_error> page_params(const api_call& call) {
  int limit = 50;
  if (auto l = call.query_value("limit")) {
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (ec != std::errc{} || p != l->data() + l->size() || limit < 1 || limit > 100)
      return api_error::invalid("limit", "limit must be a whole number from 1 to 100");
  }
  return std::pair<int, std::optional<std::string>>(limit, call.query_value("cursor"));
}

json::object page(json::array data, std::optional<std::string> next) {
  return json::object{{"data", std::move(data)}, {"nextCursor", next ? json::value(*next) : json::value(nullptr)}};
}

}  // namespace detail

void add_resource_routes(api_service& api, resource_options o) {
  add_workflow_routes(api, o);
  add_execution_routes(api, o);
  add_webhook_endpoint_routes(api, o);
}

}  // namespace flowtrack::http::api
