// `POST /integrations/calendly/webhook/{workspace_id}`: Calendly's `invitee.created` events for
// one workspace. The raw body is checked against Calendly-Webhook-Signature under the node's
// `calendly_webhook_signing_key` (crypto/calendly_signature), read here, and applied on the
// PostgreSQL pool (storage/calendly: the workspace's lead with the invitee's email moves to
// BOOKED, once per invitee URI). Without the key the route does not exist (404).
//
// Routing: the workspace is named by its id in the URL (the owner pastes that URL into the
// Calendly webhook subscription); the one signing key is the node's, not the workspace's (a
// per-workspace key in oauth_credentials CALENDLY is the next step). A signed event names no
// workspace of ours, so the URL is what routes it; the signature proves it came from Calendly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "adapters/http/server.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::http {

/// The route's path prefix; the workspace id follows it.
inline constexpr std::string_view k_calendly_webhook_prefix = "/integrations/calendly/webhook/";

/// The largest event body taken (Calendly's events are a few KiB); larger gets 413.
inline constexpr std::size_t k_calendly_body_limit = 256 * 1024;

/// What the route needs.
struct calendly_targets {
  pg::pool* postgres = nullptr;  ///< where bookings are applied; null: valid events get 503
  std::string signing_key;       ///< calendly_webhook_signing_key; empty: the route answers 404
  /// Now, in unix seconds (the signature's tolerance is measured against it); unset: the system clock.
  std::function<std::int64_t()> now_s;
};

/// True for a path under k_calendly_webhook_prefix.
bool is_calendly_webhook_path(std::string_view path);

/// The admission step on the request head: 404 without a key, 405 for a method other than POST,
/// 413 for a Content-Length over k_calendly_body_limit, before a byte of the body is read.
admission admit_calendly_webhook(const calendly_targets& t, const request_head& head);

/// Answers an event for the workspace whose id ends `path`: 200
/// `{"received":true,"outcome":"booked"|"kept"|"duplicate"|"no_lead"|"ignored"}` after the
/// commit (`ignored`: any event but invitee.created, at once; `no_lead`: no live lead of the
/// workspace has the invitee's email, nothing recorded; a 2xx keeps Calendly from retrying);
/// 400 `invalid_signature` (missing, malformed, not matching, or more than 5 minutes from now)
/// or `invalid_event` naming the field; 404 for a workspace that does not exist; 503 with
/// Retry-After when PostgreSQL cannot take it.
void calendly_webhook(const calendly_targets& t, std::string_view path, request&& req, const request_info& info,
                      responder reply);

}  // namespace flowtrack::http
