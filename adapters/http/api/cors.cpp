// CORS answers from the allow-list.
#include "adapters/http/api/cors.hpp"

#include <algorithm>
#include <cctype>

#include "adapters/http/api/json_body.hpp"

namespace flowtrack::http::api {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
}

// How long a browser may cache a preflight answer.
constexpr const char* k_max_age = "600";

}  // namespace

bool cors_policy::allows(std::string_view origin) const {
  if (origin.empty()) return false;
  return std::any_of(allowed_.begin(), allowed_.end(), [&](const std::string& o) { return iequals(o, origin); });
}

response cors_policy::preflight(std::string_view origin, std::string_view allow) const {
  if (!allows(origin)) {
    auto res = error_response({bhttp::status::forbidden, "origin_not_allowed",
                               "this origin may not call the API; the node's cors_allowed_origins lists the ones that may", "Origin", 0});
    res.set(bhttp::field::vary, "Origin");
    return res;
  }
  response res{bhttp::status::no_content, 11};
  res.set(bhttp::field::access_control_allow_origin, origin);
  res.set(bhttp::field::access_control_allow_methods, std::string(allow) + (allow.empty() ? "" : ", ") + "OPTIONS");
  res.set(bhttp::field::access_control_allow_headers, "Authorization, Content-Type, If-Match, Idempotency-Key");
  res.set(bhttp::field::access_control_max_age, k_max_age);
  res.set(bhttp::field::vary, "Origin");
  return res;
}

void cors_policy::decorate(response& res, std::string_view origin) const {
  res.set(bhttp::field::vary, "Origin");
  if (!allows(origin)) return;
  res.set(bhttp::field::access_control_allow_origin, origin);
  res.set(bhttp::field::access_control_expose_headers, "Retry-After, ETag, X-Request-Id");
}

}  // namespace flowtrack::http::api
