// The management API's router: `/api/v1/...` path patterns with `{name}` parameters, method
// dispatch (405 with Allow for a known path, 404 otherwise). Pure: no I/O, nothing of accounts.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>

namespace flowtrack::http::api {

using verb = boost::beast::http::verb;

/// Path parameters by name, as matched ("id" -> "8f1c...").
using path_params = std::map<std::string, std::string, std::less<>>;

/// A table of routes. Patterns are paths below the API prefix ("/auth/login",
/// "/workspaces/{id}/members/{userId}"); a `{name}` segment matches one non-empty segment. A
/// literal segment wins over a parameter at the same place ("/workspaces/templates" before
/// "/workspaces/{id}"). Trailing slashes are not stripped: "/me/" is not "/me".
template <class Target>
class router {
 public:
  /// What a look-up found.
  struct match {
    const Target* target = nullptr;  ///< the route; null when none has this path and method
    path_params params;
    /// Set when the path is known but not with this method: the methods it takes, e.g. "GET, PATCH".
    std::string allow;
  };

  /// Adds a route; a second route with the same method and pattern replaces nothing and is
  /// refused (false), as is a pattern that does not start with '/' or has an empty `{}`.
  bool add(verb method, std::string_view pattern, Target target) {
    auto segs = split(pattern);
    if (pattern.empty() || pattern.front() != '/') return false;
    for (const auto& s : segs)
      if (s == "{}" || s.empty()) return false;
    for (const auto& r : routes_)
      if (r.method == method && r.pattern == pattern) return false;
    routes_.push_back(entry{method, std::string(pattern), std::move(segs), std::move(target)});
    return true;
  }

  /// The route for `method` and `path` (HEAD is served by a GET route).
  match find(verb method, std::string_view path) const {
    match out;
    auto segs = split(path);
    const entry* best = nullptr;
    int best_literals = -1;
    std::vector<std::string> allowed;
    path_params best_params;
    for (const auto& r : routes_) {
      path_params params;
      int literals = 0;
      if (!matches(r.segments, segs, params, literals)) continue;
      std::string name(boost::beast::http::to_string(r.method));
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) allowed.push_back(name);
      bool method_ok = r.method == method || (method == verb::head && r.method == verb::get);
      if (method_ok && literals > best_literals) {
        best = &r;
        best_literals = literals;
        best_params = std::move(params);
      }
    }
    if (best) {
      out.target = &best->target;
      out.params = std::move(best_params);
      return out;
    }
    for (const auto& a : allowed) out.allow += (out.allow.empty() ? "" : ", ") + a;
    return out;
  }

  /// Every route's method and pattern, in the order added.
  std::vector<std::pair<verb, std::string>> routes() const {
    std::vector<std::pair<verb, std::string>> out;
    for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
    return out;
  }

 private:
  struct entry {
    verb method;
    std::string pattern;
    std::vector<std::string> segments;
    Target target;
  };

  static std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> out;
    if (path.empty()) return out;
    std::size_t i = path.front() == '/' ? 1 : 0;
    for (;;) {
      auto slash = path.find('/', i);
      out.emplace_back(path.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i));
      if (slash == std::string_view::npos) break;
      i = slash + 1;
    }
    return out;
  }

  static bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& path, path_params& params,
                      int& literals) {
    if (pattern.size() != path.size()) return false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      const auto& p = pattern[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        if (path[i].empty()) return false;
        params[p.substr(1, p.size() - 2)] = path[i];
      } else if (p == path[i]) {
        ++literals;
      } else {
        return false;
      }
    }
    return true;
  }

  std::vector<entry> routes_;
};

}  // namespace flowtrack::http::api
