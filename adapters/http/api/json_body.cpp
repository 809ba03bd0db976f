// The management API's error shape and strict body reading.
#include "adapters/http/api/json_body.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;

response json_reply(bhttp::status status, const json::value& body) {
  auto res = json_response(status, json::serialize(body));
  res.set(bhttp::field::cache_control, "no-store");
  return res;
}

response no_content() {
  response res{bhttp::status::no_content, 11};
  res.set(bhttp::field::cache_control, "no-store");
  return res;
}

response error_response(const api_error& e) {
  // The server's one error shape (http::json_error: code, message, fields[]) plus `field`, the
  // one field an API error names, so a client reads every error, the server's own included, alike.
  json::array fields;
  if (!e.field.empty()) fields.push_back(json::object{{"field", e.field}, {"message", e.message}});
  json::object err{{"code", e.code}, {"message", e.message}, {"fields", std::move(fields)}};
  if (!e.field.empty()) err["field"] = e.field;
  auto res = json_reply(e.status, json::object{{"error", std::move(err)}});
  if (e.retry_after_s > 0) res.set(bhttp::field::retry_after, std::to_string(e.retry_after_s));
  if (e.status == bhttp::status::unauthorized) res.set(bhttp::field::www_authenticate, "Bearer");
  return res;
}

api_error from_error(const error& e) {
  switch (e.code) {
    case error_code::unavailable:
    case error_code::timeout: return api_error::unavailable("the service is busy or a dependency is down; try again shortly");
    case error_code::invalid: return api_error::invalid(e.subject, e.message);
    case error_code::not_found: return {bhttp::status::not_found, "not_found", e.message, e.subject, 0};
    case error_code::conflict: return {bhttp::status::conflict, "conflict", e.message, e.subject, 0};
    case error_code::unauthorized: return api_error::unauthorized("unauthorized", e.message);
    case error_code::quota_exceeded:
      // A subscription past due beyond its grace (storage/ingest), as the public routes say it.
      if (e.subject == "subscription") return {bhttp::status::payment_required, "payment_required", e.message, e.subject, 0};
      return {bhttp::status::too_many_requests, "quota_exceeded", e.message, {}, 60};
    case error_code::internal: break;
  }
  return {bhttp::status::internal_server_error, "internal", "internal error; it was logged", {}, 0};
}

std::variant<json::object, api_error> parse_body(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object{};
  json::parse_options opts;  // strict RFC 8259: no comments, no trailing commas, UTF-8 checked
  opts.max_depth = 32;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec)
    return api_error{bhttp::status::bad_request, "invalid_json", "the body is not valid JSON: " + ec.message(), "body", 0};
  if (!v.is_object()) return api_error::invalid("body", "the body must be a JSON object");
  return std::move(v.as_object());
}

const json::value* body_reader::take(std::string_view name, bool required, std::string_view type) {
  read_.emplace(name);
  if (problem_) return nullptr;
  const json::value* v = body_.if_contains(name);
  if (v == nullptr || v->is_null()) {
    if (required) problem_ = api_error::invalid(std::string(name), std::string(name) + " is required (" + std::string(type) + ")", "required");
    return nullptr;
  }
  return v;
}

std::optional<std::string> body_reader::string(std::string_view name, bool required, std::size_t max_bytes) {
  const json::value* v = take(name, required, "a string");
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    problem_ = api_error::invalid(std::string(name), std::string(name) + " must be a string", "wrong_type");
    return std::nullopt;
  }
  const auto& s = v->get_string();
  if (s.size() > max_bytes) {
    problem_ = api_error::invalid(std::string(name), std::string(name) + " is longer than " + std::to_string(max_bytes) + " bytes", "too_long");
    return std::nullopt;
  }
  return std::string(s);
}

std::optional<bool> body_reader::boolean(std::string_view name, bool required) {
  const json::value* v = take(name, required, "true or false");
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    problem_ = api_error::invalid(std::string(name), std::string(name) + " must be true or false", "wrong_type");
    return std::nullopt;
  }
  return v->get_bool();
}

std::optional<api_error> body_reader::finish() {
  if (problem_) return problem_;
  for (const auto& [key, value] : body_)
    if (!read_.contains(std::string_view(key)))
      return api_error::invalid(std::string(key), "unknown field " + std::string(key) + "; this route does not take it", "unknown_field");
  return std::nullopt;
}

}  // namespace flowtrack::http::api
