// FlowTrack's HTTP routes: turns requests into messages to actors and their answers into
// responses. Never touches SQL or Redis.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "adapters/http/server.hpp"

namespace flowtrack::http {

/// The actors the routes ask.
struct route_targets {
  caf::actor health;
  caf::actor_system* system = nullptr;  ///< for the short-lived actors that wait on answers
};

/// The request handler for the server: /healthz, /readyz, /metrics, the public forms
/// (GET|POST /p/{slug}[/{form}]) and webhook triggers (POST /hooks/{workflow_id}).
handler make_routes(route_targets targets);

/// The route label of a path, for server_options::route_of.
std::string route_of(std::string_view path);

}  // namespace flowtrack::http
