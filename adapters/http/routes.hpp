// FlowTrack's HTTP routes: turns requests into messages to actors and their answers into
// responses. Never touches SQL or Redis.
#pragma once

#include <caf/actor.hpp>

#include "adapters/http/server.hpp"

namespace flowtrack::http {

/// The actors the routes ask.
struct route_targets {
  caf::actor health;
};

/// The request handler for the server.
handler make_routes(route_targets targets);

}  // namespace flowtrack::http
