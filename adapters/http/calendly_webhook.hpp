// `POST /integrations/calendly/webhook/{workspace_id}`: Calendly's `invitee.created` events for
// one workspace. The raw body is checked against Calendly-Webhook-Signature
// (crypto/calendly_signature) under the workspace's own signing key when the workspace has an
// active Calendly credential (the key its connect gave Calendly, sealed in the credential's
// metadata: storage/oauth), else under the node's `calendly_webhook_signing_key`; then applied on
// the PostgreSQL pool (storage/calendly: the workspace's lead with the invitee's email moves to
// BOOKED, once per invitee URI). Without either kind of key the route does not exist (404).
//
// Routing: the workspace is named by its id in the URL (the URL the connect subscribed, or the
// one the owner pasted into a subscription signed with the node's key). A signed event names no
// workspace of ours, so the URL is what routes it; the signature proves it came from Calendly,
// and under a workspace's own key it proves it came from that workspace's subscription: an event
// signed with another workspace's key, or the node's, is refused there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "adapters/http/server.hpp"
#include "crypto/secret_box.hpp"
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
  /// Opens the workspaces' own signing keys (Calendly connected by OAuth); null: the node's key
  /// only, checked before the database is asked. Set (and a database): the route exists even
  /// without a node key, and each delivery looks its workspace's key up first.
  const crypto::keyring* keys = nullptr;
};

/// True for a path under k_calendly_webhook_prefix.
bool is_calendly_webhook_path(std::string_view path);

/// The admission step on the request head: 404 without a node key or keyring, 405 for a method other than POST,
/// 413 for a Content-Length over k_calendly_body_limit, before a byte of the body is read.
admission admit_calendly_webhook(const calendly_targets& t, const request_head& head);

/// Answers an event for the workspace whose id ends `path`: 200
/// `{"received":true,"outcome":"booked"|"kept"|"duplicate"|"no_lead"|"ignored"}` after the
/// commit (`ignored`: any event but invitee.created, at once; `no_lead`: no live lead of the
/// workspace has the invitee's email, nothing recorded; a 2xx keeps Calendly from retrying);
/// 400 `invalid_signature` (missing, malformed, not matching the key that applies, or more than 5
/// minutes from now) or `invalid_event` naming the field (read only after the signature passed);
/// 404 for a workspace that does not exist, or (with a keyring) one with no Calendly credential
/// on a node without a key; 503 with Retry-After when PostgreSQL cannot take it.
void calendly_webhook(const calendly_targets& t, std::string_view path, request&& req, const request_info& info,
                      responder reply);

}  // namespace flowtrack::http
