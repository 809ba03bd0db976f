#include "adapters/http/inbound.hpp"

#include <boost/json.hpp>

#include "storage/workspaces.hpp"

namespace flowtrack::http {
namespace bhttp = boost::beast::http;

namespace {

std::string bearer_token(const request_head& head) {
  if (auto t = head.find("X-FlowTrack-Token"); t != head.end()) return std::string(t->value());
  if (auto a = head.find(bhttp::field::authorization); a != head.end()) {
    std::string_view v = a->value();
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) return std::string(v.substr(7));
  }
  return {};
}

// What storage::rotate_inbound_token makes: "ftin_" and 64 lower-case hex digits. Anything else
// cannot be a token, and is refused without asking PostgreSQL.
bool token_shaped(std::string_view token) {
  constexpr std::string_view prefix = "ftin_";
  if (token.size() != prefix.size() + 64 || !token.starts_with(prefix)) return false;
  for (char c : token.substr(prefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

response unauthorized(std::string_view message, std::string_view why) {
  auto res = json_error(bhttp::status::unauthorized, "unauthorized", message, {{"X-FlowTrack-Token", std::string(why)}});
  res.set(bhttp::field::www_authenticate, "Bearer");
  return res;
}

}  // namespace

void admit_inbound_email(const inbound_targets& t, const request_head& head, const request_info&, admission_callback done) {
  if (head.method() != bhttp::verb::post) {
    auto res = json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use POST");
    res.set(bhttp::field::allow, "POST");
    return done(admission::refuse(std::move(res)));
  }
  std::string token = bearer_token(head);
  if (token.empty() || t.postgres == nullptr || !t.deliver) return done(admission::refuse(unauthorized("missing inbound token", "missing")));
  if (!token_shaped(token)) return done(admission::refuse(unauthorized("unknown inbound token", "unknown")));
  auto type = head.find(bhttp::field::content_type);
  if (type == head.end() || !media_type_is(type->value(), "message/rfc822"))
    return done(admission::refuse(json_error(bhttp::status::unsupported_media_type, "unsupported_media_type",
                                             "send the raw message as message/rfc822", {{"Content-Type", "unsupported"}})));
  t.postgres->try_submit(
      [token](pg::connection& c) { return storage::intake_of_inbound_token(c, token); },
      [done](result<std::string> intake) {
        if (intake.ok()) return done(admission::admit(std::move(*intake)));
        if (intake.err().code == error_code::unauthorized) return done(admission::refuse(unauthorized("unknown inbound token", "unknown")));
        auto res = json_error(bhttp::status::service_unavailable, "unavailable", "try again shortly");
        res.set(bhttp::field::retry_after, "1");
        done(admission::refuse(std::move(res)));
      });
}

void inbound_email(const inbound_targets& t, request&& req, const request_info& info, responder reply) {
  if (info.admitted.empty()) {
    // Not admitted by the server (no admission step configured): check the head now.
    auto body = std::make_shared<std::string>(std::move(req.body()));
    request_info with = info;
    return admit_inbound_email(t, req.base(), info, [t, body, with, reply](admission a) mutable {
      if (a.refusal) return reply(std::move(*a.refusal));
      if (a.admitted.empty()) return reply(unauthorized("unknown inbound token", "unknown"));
      with.admitted = std::move(a.admitted);
      request admitted;
      admitted.body() = std::move(*body);
      inbound_email(t, std::move(admitted), with, std::move(reply));
    });
  }
  t.deliver(info.admitted, info.client_ip, std::move(req.body()), [reply](int code, std::string enhanced, std::string text) {
    if (code >= 200 && code < 300) return reply(json_response(bhttp::status::accepted, R"({"status":"accepted"})"));
    if (code >= 400 && code < 500) {
      auto res = json_error(bhttp::status::service_unavailable, "unavailable", "the message was not kept; send it again shortly");
      res.set(bhttp::field::retry_after, "5");
      return reply(std::move(res));
    }
    if (code == 550 && enhanced == "5.7.1") return reply(json_error(bhttp::status::forbidden, "forbidden", text, {{"from", text}}));
    if (code == 550) return reply(json_error(bhttp::status::not_found, "not_found", text));
    reply(json_error(bhttp::status::unprocessable_entity, "invalid", text, {{"body", text}}));
  });
}

}  // namespace flowtrack::http
