#include "adapters/http/routes.hpp"

#include <boost/json.hpp>
#include <caf/send.hpp>

#include "actors/health.hpp"

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
    reply(json_error(bhttp::status::not_found, "not_found", "no route for " + std::string(path)));
  };
}

}  // namespace flowtrack::http
