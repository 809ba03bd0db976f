// The management API's OpenAPI 3.1 document (adapters/http/api/openapi.json, compiled in) and the
// route serving it, GET /api/v1/openapi.json. Knows no other route: the document is checked
// against the router by tests/unit/http/api_openapi_test.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "adapters/http/api/api.hpp"

namespace flowtrack::http::api {

/// The document as kept in the repository (JSON text).
std::string_view openapi_document();

/// The routes of `api` the document lacks and the operations it has that `api` lacks, each as
/// "GET /workspaces/{id}" (empty when they agree). `document` is the parsed document.
std::vector<std::string> openapi_mismatches(const api_service& api, const boost::json::value& document);

/// Adds GET /openapi.json (not signed in): the document, compact, with a strong ETag, cacheable
/// for five minutes. Add it last: it logs a warning naming every route the document does not
/// match (tests/unit/http/api_openapi_test.cpp fails on them).
void add_openapi_route(api_service& api);

}  // namespace flowtrack::http::api
