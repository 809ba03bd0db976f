// The management API's JSON conventions: the one error shape {"error":{"code","message","field"}},
// JSON answers, and strict reading of request bodies (an object; each field of the type the route
// names; unknown fields refused). Pure: no I/O, nothing of routes or accounts.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include <boost/json.hpp>

#include "adapters/http/server.hpp"
#include "runtime/error.hpp"

namespace flowtrack::http::api {

/// The largest JSON body any /api/v1 route takes.
inline constexpr std::size_t k_body_limit = 1024 * 1024;

/// An answer that is not a success: status, machine code, message for a person, and the field
/// at fault (empty when none is).
struct api_error {
  bhttp::status status = bhttp::status::internal_server_error;
  std::string code;
  std::string message;
  std::string field;
  int retry_after_s = 0;  ///< > 0: sent as Retry-After

  static api_error invalid(std::string field, std::string message, std::string code = "invalid") {
    return {bhttp::status::unprocessable_entity, std::move(code), std::move(message), std::move(field), 0};
  }
  static api_error unavailable(std::string message, int retry_after_s = 1) {
    return {bhttp::status::service_unavailable, "unavailable", std::move(message), {}, retry_after_s};
  }
  static api_error unauthorized(std::string code, std::string message) {
    return {bhttp::status::unauthorized, std::move(code), std::move(message), {}, 0};
  }
};

/// `{"error":{"code":..,"message":..,"fields":[{"field","message"}][,"field":..]}}` (the server's
/// error shape, plus the one field named) with the error's status (and Retry-After;
/// WWW-Authenticate: Bearer on a 401). Never cached.
response error_response(const api_error& e);

/// A storage or runtime error as the API says it: unavailable/timeout 503 with Retry-After,
/// invalid 422 (naming e.subject), not_found 404, conflict 409, unauthorized 401, quota 429 (402
/// payment_required when the subscription is what refused it),
/// internal 500 (its message replaced: the log has it).
api_error from_error(const error& e);

/// A JSON answer (never cached).
response json_reply(bhttp::status status, const boost::json::value& body);

/// An empty 204 answer.
response no_content();

/// The body of a request: an object, parsed strictly (RFC 8259: no comments, no trailing commas,
/// valid UTF-8). 400 `invalid_json` naming `body` when it is not JSON, 422 naming `body` when it
/// is not an object. An empty body is an empty object.
std::variant<boost::json::object, api_error> parse_body(std::string_view text);

/// Reads fields of a body object by name and type; the first problem wins and names its field.
/// `finish()` refuses any field the route did not read (a misspelt field is an error, not a
/// silent no-op).
class body_reader {
 public:
  explicit body_reader(const boost::json::object& body) : body_(body) {}

  /// A string field; missing or null is a 422 "required" (when `required`) or nullopt.
  std::optional<std::string> string(std::string_view name, bool required, std::size_t max_bytes = 4096);
  /// A boolean field.
  std::optional<bool> boolean(std::string_view name, bool required);

  /// The first problem met, or one for a field never read; nullopt when the body is fine.
  std::optional<api_error> finish();
  /// The first problem met so far.
  const std::optional<api_error>& problem() const { return problem_; }

 private:
  const boost::json::value* take(std::string_view name, bool required, std::string_view type);
  const boost::json::object& body_;
  std::set<std::string, std::less<>> read_;
  std::optional<api_error> problem_;
};

}  // namespace flowtrack::http::api
