// A workspace's resources over the management API (issue #13 item 4): workflows (with their
// executions) and outgoing webhook endpoints, every route under /workspaces/{id}/... through the
// scope step (scope.hpp). SQL lives in storage/ (workflow_documents, workspace_resources,
// webhooks, runs); the rules of the import format and of endpoints are the CLI's, shared.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "adapters/http/api/api.hpp"
#include "adapters/http/api/scope.hpp"
#include "crypto/secret_box.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::redis {
class connection;
}

namespace flowtrack::http::api {

/// What the resource routes need beyond the API service. Pointers are borrowed.
struct resource_options {
  /// The node's Redis workers: a started or retried execution is put on the shared queue there
  /// (one job on a connection the workers hold, never a new connection per request; the answer
  /// does not wait for it). Null, a full worker queue or Redis down: the execution, committed in
  /// PostgreSQL, starts when a node adopts queued executions.
  storage::worker_pool<redis::connection>* redis = nullptr;
  const crypto::keyring* keys = nullptr;  ///< seals webhook secrets; null or keyless: creation answers 503
  std::vector<std::string> webhook_allow;  ///< CIDRs exempt from the SSRF guard (setting webhook_allow)
};

/// GET|POST /workspaces/{id}/workflows, GET|PUT|PATCH|DELETE .../workflows/{wf},
/// POST .../workflows/{wf}/activate|pause|archive|duplicate|run.
void add_workflow_routes(api_service& api, const resource_options& o);
/// GET .../executions, GET .../executions/{ex}, POST .../executions/{ex}/cancel|retry.
void add_execution_routes(api_service& api, const resource_options& o);
/// GET|POST .../webhook-endpoints, GET|PATCH|DELETE .../webhook-endpoints/{ep},
/// POST .../{ep}/rotate-secret|test|recover|disable|enable, GET .../{ep}/deliveries,
/// POST .../{ep}/deliveries/{d}/redeliver.
void add_webhook_endpoint_routes(api_service& api, const resource_options& o);

/// All of the above (serve.cpp's one line).
void add_resource_routes(api_service& api, resource_options o);

namespace detail {
/// A resource route's answer: a status and body (and an ETag), or an api_error.
struct answer {
  bhttp::status status = bhttp::status::ok;
  boost::json::value body;
  std::string etag;  ///< empty: none
};
using outcome = std::variant<answer, api_error>;

/// Adds a workspace route whose work (on the PostgreSQL pool, after the scope check, same
/// connection) gives an outcome; storage errors become API errors (not_found 404 naming the
/// resource).
void add_resource_route(api_service& api, verb method, std::string_view pattern, bool body, domain::action needed,
                        std::function<result<outcome>(pg::connection&, const scoped_call&)> work);
/// The limit (1-100, default 50) and cursor of a list; an api_error naming the parameter.
std::variant<std::pair<int, std::optional<std::string>>, api_error> page_params(const api_call& call);
/// `{"data":[...],"nextCursor":...}`.
boost::json::object page(boost::json::array data, std::optional<std::string> next);
/// An api_error as an outcome.
inline result<outcome> refuse(api_error e) { return outcome(std::move(e)); }
/// A 404 naming the resource (workflow, execution, endpoint, delivery).
api_error not_found_in_workspace(std::string_view what);
}  // namespace detail

}  // namespace flowtrack::http::api
