// FlowTrack's HTTP routes: turns requests into messages to actors and their answers into
// responses; the email tracking links (adapters/http/tracking) record through storage/.
#pragma once

#include <memory>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "adapters/http/api/api.hpp"
#include "adapters/http/inbound.hpp"
#include "adapters/http/server.hpp"
#include "adapters/http/calendly_webhook.hpp"
#include "adapters/http/stripe_webhook.hpp"
#include "adapters/http/tracking.hpp"

namespace flowtrack::actors {
class reply_deadlines;
}

namespace flowtrack::http {

/// The actors the routes ask.
struct route_targets {
  caf::actor health;
  caf::actor_system* system = nullptr;  ///< where the workspace registry is found
  /// Expires answers the engine owes (30 s); make_routes makes one when unset.
  std::shared_ptr<actors::reply_deadlines> deadlines;
  tracking_targets tracking;  ///< the email tracking links (/t/...)
  inbound_targets inbound;    ///< raw mail over HTTP (/inbound/email)
  /// The management API (/api/v1/...); unset: those paths answer 404.
  std::shared_ptr<api::api_service> api;
  /// Stripe's events (POST /billing/stripe/webhook); without a secret the path answers 404.
  stripe_targets billing;
  /// Calendly's events (POST /integrations/calendly/webhook/{workspace_id}); without a signing key
  /// the path answers 404.
  calendly_targets calendly;
};

/// The request handler for the public server: /healthz, /readyz (status only), the public forms
/// (GET|POST /p/{slug}[/{form}]), webhook triggers (POST /hooks/{workflow_id}), raw mail
/// (POST /inbound/email), the email tracking links (/t/o/{token}.gif, /t/c/{token},
/// /t/u/{token}), Stripe's webhook (POST /billing/stripe/webhook) and the management API
/// (/api/v1/..., adapters/http/api). A trigger refused for an overdue payment answers 402
/// `payment_required`.
handler make_routes(route_targets targets);

/// The admission step for the public server (server_options::admit): POST /inbound/email has its
/// token checked on the request head, before the body is read (admit_inbound_email); Stripe's
/// webhook its method and size (admit_stripe_webhook); every other request is admitted at once.
admitter make_admission(route_targets targets);

/// The route label of a path, for server_options::route_of.
std::string route_of(std::string_view path);

/// The request handler for the admin listener: /metrics (Prometheus text) and /readyz with
/// each dependency's state and the core actors that gave up.
handler make_admin_routes(route_targets targets);

/// The route label of an admin path ("admin_metrics", "admin_readyz", "admin_other").
std::string admin_route_of(std::string_view path);

}  // namespace flowtrack::http
