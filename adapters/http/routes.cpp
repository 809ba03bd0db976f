#include "adapters/http/routes.hpp"

#include <boost/json.hpp>
#include <caf/send.hpp>

#include <caf/event_based_actor.hpp>

#include "actors/engine.hpp"
#include "actors/health.hpp"
#include "actors/messages.hpp"

namespace flowtrack::http {
namespace {

std::string_view path_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

response method_not_allowed(std::string_view allow) {
  auto res = json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use " + std::string(allow));
  res.set(bhttp::field::allow, allow);
  return res;
}

void readyz(const route_targets& t, responder reply) {
  caf::anon_send(t.health, actors::check_atom::value, actors::health_callback([reply](actors::health_report r) {
    boost::json::object checks{
        {"postgres", r.postgres_error.empty() ? boost::json::value("ok") : boost::json::value(r.postgres_error)},
        {"redis", r.redis_error.empty() ? boost::json::value("ok") : boost::json::value(r.redis_error)}};
    if (r.ready()) {
      reply(json_response(bhttp::status::ok, boost::json::serialize(boost::json::object{{"status", "ready"}, {"checks", checks}})));
      return;
    }
    boost::json::array down;
    if (!r.postgres_error.empty()) down.push_back("postgres");
    if (!r.redis_error.empty()) down.push_back("redis");
    reply(json_response(bhttp::status::service_unavailable,
                        boost::json::serialize(boost::json::object{{"status", "unavailable"}, {"down", down}, {"checks", checks}})));
  }));
}

bhttp::status status_of(error_code c) {
  switch (c) {
    case error_code::invalid: return bhttp::status::unprocessable_entity;
    case error_code::not_found: return bhttp::status::not_found;
    case error_code::conflict: return bhttp::status::conflict;
    case error_code::quota_exceeded: return bhttp::status::too_many_requests;
    case error_code::unauthorized: return bhttp::status::unauthorized;
    case error_code::unavailable:
    case error_code::timeout: return bhttp::status::service_unavailable;
    case error_code::internal: break;
  }
  return bhttp::status::internal_server_error;
}

response error_response(const error& e) {
  std::vector<std::pair<std::string, std::string>> fields;
  if (e.code == error_code::invalid && !e.subject.empty()) fields.emplace_back(e.subject, e.message);
  auto res = json_error(status_of(e.code), to_string(e.code), e.message, fields);
  if (e.code == error_code::unauthorized) res.set(bhttp::field::www_authenticate, "X-FlowTrack-Token");
  return res;
}

// Hands a trigger to the engine and answers after its commit. A short-lived actor waits for the
// answer so that no I/O thread ever blocks.
void trigger(const route_targets& t, actors::trigger_request req, responder reply) {
  t.system->spawn(
      [](caf::event_based_actor* self, caf::actor registry, actors::trigger_request req, responder reply) {
        self->request(registry, std::chrono::seconds(30), actors::trigger_atom::value, std::move(req))
            .then(
                [=](actors::ingest_reply& r) {
                  if (!r.ok()) return reply(error_response(r.err()));
                  boost::json::object body{{"executionId", r->execution_id ? boost::json::value(*r->execution_id) : nullptr},
                                           {"leadId", r->lead_id},
                                           {"duplicate", r->duplicate}};
                  reply(json_response(bhttp::status::accepted, boost::json::serialize(body)));
                },
                [=](caf::error& e) {
                  reply(json_error(bhttp::status::service_unavailable, "unavailable", "the engine did not answer: " + to_string(e)));
                });
      },
      actors::engine_registry(*t.system), std::move(req), std::move(reply));
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-') || (!dash && !std::isxdigit(static_cast<unsigned char>(s[i])))) return false;
  }
  return true;
}

// POST /hooks/{workflow_id}: a partner system's trigger. The JSON body is the lead (email
// required) and the trigger data; X-FlowTrack-Token authenticates; Idempotency-Key is honoured.
void webhook_trigger(const route_targets& t, std::string_view workflow_id, request&& req, responder reply) {
  if (req.method() != bhttp::verb::post) return reply(method_not_allowed("POST"));
  if (!is_uuid(workflow_id)) return reply(json_error(bhttp::status::not_found, "not_found", "no workflow " + std::string(workflow_id)));
  auto type = req[bhttp::field::content_type];
  if (type.substr(0, type.find(';')) != "application/json")
    return reply(json_error(bhttp::status::unsupported_media_type, "unsupported_media_type", "send the lead as application/json"));
  boost::system::error_code ec;
  auto body = boost::json::parse(req.body(), ec);
  if (ec) return reply(json_error(bhttp::status::bad_request, "invalid", "the body is not valid JSON: " + ec.message(), {{"body", ec.message()}}));
  if (!body.is_object()) return reply(json_error(bhttp::status::unprocessable_entity, "invalid", "the body must be a JSON object", {{"body", "must be an object"}}));
  actors::trigger_request tr;
  tr.workflow_id = std::string(workflow_id);
  tr.intake.kind = actors::trigger_kind::webhook;
  tr.intake.lead = std::move(body);
  if (auto token = req["X-FlowTrack-Token"]; !token.empty()) tr.token = std::string(token);
  if (auto key = req["Idempotency-Key"]; !key.empty()) tr.intake.idempotency_key = std::string(key);
  trigger(t, std::move(tr), std::move(reply));
}

}  // namespace

handler make_routes(route_targets targets) {
  return [targets](request&& req, responder reply) {
    std::string_view path = path_of(req.target());
    bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
    if (path == "/healthz") {
      if (!get) return reply(method_not_allowed("GET"));
      return reply(json_response(bhttp::status::ok, R"({"status":"ok"})"));
    }
    if (path == "/readyz") {
      if (!get) return reply(method_not_allowed("GET"));
      return readyz(targets, std::move(reply));
    }
    if (path.substr(0, 7) == "/hooks/") return webhook_trigger(targets, path.substr(7), std::move(req), std::move(reply));
    reply(json_error(bhttp::status::not_found, "not_found", "no route for " + std::string(path)));
  };
}

}  // namespace flowtrack::http
