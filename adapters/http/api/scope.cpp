// The workspace scope step: membership on the PostgreSQL pool, the role matrix, 404/403.
#include "adapters/http/api/scope.hpp"

#include <spdlog/spdlog.h>

#include "storage/workspace_members.hpp"

namespace flowtrack::http::api {

api_error workspace_not_found() {
  return {bhttp::status::not_found, "not_found", "no workspace of yours has this id", {}, 0};
}

api_error forbidden_action(domain::action needed, domain::role have) {
  return {bhttp::status::forbidden, "forbidden",
          "this needs the " + std::string(domain::to_string(domain::least_role_for(needed))) + " role (" +
              std::string(domain::to_string(needed)) + "); you are " + std::string(domain::to_string(have)) +
              " in this workspace",
          {}, 0};
}

api_error from_refusal(const domain::refusal& r, std::string field) {
  switch (r.why) {
    case domain::refusal::kind::forbidden: return {bhttp::status::forbidden, "forbidden", r.reason, {}, 0};
    case domain::refusal::kind::conflict: return {bhttp::status::conflict, "conflict", r.reason, std::move(field), 0};
    case domain::refusal::kind::invalid: return api_error::invalid(std::move(field), r.reason);
  }
  return {bhttp::status::forbidden, "forbidden", r.reason, {}, 0};
}

namespace detail {

scoped_call make_scoped(api_call&& call) {
  scoped_call sc;
  auto it = call.params.find("id");
  if (it != call.params.end()) sc.workspace_id = it->second;
  sc.call = std::move(call);
  return sc;
}

result<std::optional<api_error>> check_scope(pg::connection& c, scoped_call& sc, domain::action needed) {
  if (!sc.call.user || sc.workspace_id.empty()) return std::optional<api_error>(workspace_not_found());
  auto role = storage::membership(c, sc.workspace_id, sc.call.user->user_id);
  if (!role) return role.err();
  if (!*role) return std::optional<api_error>(workspace_not_found());
  sc.role = **role;
  if (!domain::allows(sc.role, needed)) return std::optional<api_error>(forbidden_action(needed, sc.role));
  return std::optional<api_error>{};
}

void answer_error(const responder& reply, const error& e) {
  if (e.code == error_code::internal) spdlog::error("api: workspace scope: {}", e.message);
  reply(error_response(from_error(e)));
}

}  // namespace detail

void in_workspace(api_service& api, api_call&& call, responder reply, domain::action needed, scoped_handler handler) {
  auto sc = std::make_shared<scoped_call>(detail::make_scoped(std::move(call)));
  api.db([sc, needed](pg::connection& c) { return detail::check_scope(c, *sc, needed); },
         [sc, reply = std::move(reply), handler = std::move(handler)](result<std::optional<api_error>> gate) {
           if (!gate) return detail::answer_error(reply, gate.err());
           if (*gate) return reply(error_response(**gate));
           handler(std::move(*sc), reply);
         });
}

bool add_workspace_route(api_service& api, verb method, std::string_view pattern, route_options options,
                         domain::action needed, scoped_handler handler) {
  if (pattern.find("{id}") == std::string_view::npos) return false;
  options.signed_in = true;
  return api.add(method, pattern, options, [&api, needed, handler = std::move(handler)](api_call&& call, responder reply) {
    in_workspace(api, std::move(call), std::move(reply), needed, handler);
  });
}

}  // namespace flowtrack::http::api
