// CORS for the management API from an allow-list of origins (cors_allowed_origins): preflight
// answers and the headers of actual responses. No wildcard is ever sent: credentials are Bearer
// tokens, which a browser sends only when the script adds them. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/server.hpp"

namespace flowtrack::http::api {

class cors_policy {
 public:
  /// Origins as scheme://host[:port], lower case (the settings loader checks them).
  explicit cors_policy(std::vector<std::string> allowed_origins) : allowed_(std::move(allowed_origins)) {}

  /// Whether a request's Origin value may read the answers (compared case-insensitively).
  bool allows(std::string_view origin) const;

  /// A preflight (OPTIONS with Access-Control-Request-Method): 204 with the allowed methods and
  /// headers for an allowed origin, 403 `origin_not_allowed` otherwise. `allow` are the path's
  /// methods (from the router).
  response preflight(std::string_view origin, std::string_view allow) const;

  /// Adds Vary: Origin, and for an allowed origin Access-Control-Allow-Origin (that origin) and
  /// the exposed headers.
  void decorate(response& res, std::string_view origin) const;

 private:
  std::vector<std::string> allowed_;
};

}  // namespace flowtrack::http::api
