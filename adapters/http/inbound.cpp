#include "adapters/http/inbound.hpp"

#include <boost/json.hpp>

#include "storage/workspaces.hpp"

namespace flowtrack::http {
namespace bhttp = boost::beast::http;

namespace {

std::string bearer_token(const request& req) {
  if (auto t = req.find("X-FlowTrack-Token"); t != req.end()) return std::string(t->value());
  if (auto a = req.find(bhttp::field::authorization); a != req.end()) {
    std::string_view v = a->value();
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) return std::string(v.substr(7));
  }
  return {};
}

}  // namespace

void inbound_email(const inbound_targets& t, request&& req, const request_info& info, responder reply) {
  if (req.method() != bhttp::verb::post) {
    auto res = json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use POST");
    res.set(bhttp::field::allow, "POST");
    return reply(std::move(res));
  }
  // The token before the body is looked at.
  std::string token = bearer_token(req);
  if (token.empty() || t.postgres == nullptr || !t.deliver) {
    auto res = json_error(bhttp::status::unauthorized, "unauthorized", "missing inbound token", {{"X-FlowTrack-Token", "missing"}});
    res.set(bhttp::field::www_authenticate, "Bearer");
    return reply(std::move(res));
  }
  auto type = req.find(bhttp::field::content_type);
  if (type == req.end() || !media_type_is(type->value(), "message/rfc822"))
    return reply(json_error(bhttp::status::unsupported_media_type, "unsupported_media_type",
                            "send the raw message as message/rfc822", {{"Content-Type", "unsupported"}}));
  auto deliver = t.deliver;
  std::string client = info.client_ip;
  t.postgres->try_submit(
      [token](pg::connection& c) { return storage::intake_of_inbound_token(c, token); },
      [deliver, client, reply, body = std::move(req.body())](result<std::string> intake) mutable {
        if (!intake.ok()) {
          if (intake.err().code == error_code::unauthorized) {
            auto res = json_error(bhttp::status::unauthorized, "unauthorized", "unknown inbound token", {{"X-FlowTrack-Token", "unknown"}});
            res.set(bhttp::field::www_authenticate, "Bearer");
            return reply(std::move(res));
          }
          auto res = json_error(bhttp::status::service_unavailable, "unavailable", "try again shortly");
          res.set(bhttp::field::retry_after, "1");
          return reply(std::move(res));
        }
        deliver(std::move(*intake), client, std::move(body), [reply](int code, std::string enhanced, std::string text) {
          if (code >= 200 && code < 300)
            return reply(json_response(bhttp::status::accepted, R"({"status":"accepted"})"));
          if (code >= 400 && code < 500) {
            auto res = json_error(bhttp::status::service_unavailable, "unavailable", "the message was not kept; send it again shortly");
            res.set(bhttp::field::retry_after, "5");
            return reply(std::move(res));
          }
          if (code == 550 && enhanced == "5.7.1") return reply(json_error(bhttp::status::forbidden, "forbidden", text, {{"from", text}}));
          if (code == 550) return reply(json_error(bhttp::status::not_found, "not_found", text));
          reply(json_error(bhttp::status::unprocessable_entity, "invalid", text, {{"body", text}}));
        });
      });
}

}  // namespace flowtrack::http
