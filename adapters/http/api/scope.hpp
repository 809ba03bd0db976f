// The workspace scope step of the management API: every `/workspaces/{id}/...` route runs through
// it. It resolves the caller's role in the workspace `{id}` names and answers 404 (never saying
// whether the workspace exists) to non-members and 403 (naming the action and the role it needs)
// to members whose role does not allow the route's action. Knows nothing of any one resource.
//
// `{id}` is the workspace's UUID only, never its slug: an id is stable and one index probe
// (storage::membership), and a slug may itself look like a UUID. Clients find the id of a slug
// in GET /workspaces.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "adapters/http/api/api.hpp"
#include "domain/roles.hpp"

namespace flowtrack::http::api {

/// A call inside one workspace whose membership was checked.
struct scoped_call {
  api_call call;             ///< the request (call.user is set)
  std::string workspace_id;  ///< `{id}` of the path: a workspace the caller is an active member of
  domain::role role = domain::role::viewer;  ///< the caller's role there

  const std::string& user_id() const { return call.user->user_id; }
  /// A path parameter other than `{id}` ("" when absent).
  std::string param(std::string_view name) const {
    auto it = call.params.find(name);
    return it == call.params.end() ? std::string() : it->second;
  }
};

/// A handler inside a workspace; it answers exactly once through the responder.
using scoped_handler = std::function<void(scoped_call&&, responder)>;

/// The 404 for a workspace the caller may not see (a non-member, a deleted workspace, an id that
/// is not one): the same answer whether or not the workspace exists.
api_error workspace_not_found();

/// The 403 for a member whose role lacks `needed`: code `forbidden`, the message naming the
/// action and the weakest role allowed to do it.
api_error forbidden_action(domain::action needed, domain::role have);

/// A refusal of domain/roles as the API says it: forbidden 403, conflict 409, invalid 422
/// (naming `field`).
api_error from_refusal(const domain::refusal& r, std::string field = {});

/// Checks the caller's membership of `call.params["id"]` on the PostgreSQL pool, then runs
/// `handler` (on the pool's thread) with the role when it allows `needed`; answers 404 / 403
/// otherwise (or 503 when the pool is full). The route must be signed in.
void in_workspace(api_service& api, api_call&& call, responder reply, domain::action needed, scoped_handler handler);

/// Adds a signed-in route (whatever `options.signed_in` says) whose pattern has `{id}`, guarded by
/// in_workspace. False when the method and pattern are taken or the pattern has no `{id}`.
bool add_workspace_route(api_service& api, verb method, std::string_view pattern, route_options options,
                         domain::action needed, scoped_handler handler);

namespace detail {
/// Fills sc.role from storage::membership; an api_error (404, 403) when the call may not go on.
result<std::optional<api_error>> check_scope(pg::connection& c, scoped_call& sc, domain::action needed);
scoped_call make_scoped(api_call&& call);
void answer_error(const responder& reply, const error& e);
}  // namespace detail

/// The common case in one PostgreSQL job: the membership check, then `work(pg::connection&,
/// const scoped_call&) -> result<T>` on the same connection, then `then(scoped_call&&, result<T>,
/// responder)` on the pool's thread. Errors of the check are answered here; errors of `work` go
/// to `then`. Saves a second trip through the pool queue on every workspace request.
template <class Work, class Then>
void in_workspace_db(api_service& api, api_call&& call, responder reply, domain::action needed, Work work, Then then) {
  using out = std::invoke_result_t<Work&, pg::connection&, const scoped_call&>;  // result<T>
  using step = std::variant<api_error, out>;
  auto sc = std::make_shared<scoped_call>(detail::make_scoped(std::move(call)));
  api.db(
      [sc, needed, work = std::move(work)](pg::connection& c) mutable -> result<step> {
        auto gate = detail::check_scope(c, *sc, needed);
        if (!gate) return gate.err();
        if (*gate) return step(std::in_place_index<0>, std::move(**gate));
        return step(std::in_place_index<1>, work(c, static_cast<const scoped_call&>(*sc)));
      },
      [sc, reply = std::move(reply), then = std::move(then)](result<step> r) mutable {
        if (!r) return detail::answer_error(reply, r.err());
        if (auto* e = std::get_if<0>(&*r)) return reply(error_response(*e));
        then(std::move(*sc), std::move(std::get<1>(*r)), std::move(reply));
      });
}

}  // namespace flowtrack::http::api
