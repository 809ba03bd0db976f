// `POST /billing/stripe/webhook`: Stripe's events about the workspaces' subscriptions. The raw
// body is checked against Stripe-Signature under `stripe_webhook_secret` (crypto/
// stripe_signature), parsed (domain/stripe_event) and applied on the PostgreSQL pool
// (storage/subscriptions: once per event id, in Stripe's order). Without the secret the route
// does not exist (404). No engine state: the nodes pick the plan change up through the tenant poll.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "adapters/http/server.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::http {

/// The route's path.
inline constexpr std::string_view k_stripe_webhook_path = "/billing/stripe/webhook";

/// The largest event body taken (Stripe's events are a few KiB); larger gets 413.
inline constexpr std::size_t k_stripe_body_limit = 256 * 1024;

/// What the route needs.
struct stripe_targets {
  pg::pool* postgres = nullptr;  ///< where events are applied; null: valid events get 503
  std::string secret;            ///< stripe_webhook_secret; empty: the route answers 404
  int grace_days = 7;            ///< billing_grace_days
  /// Now, in unix seconds (the signature's tolerance is measured against it); unset: the system clock.
  std::function<std::int64_t()> now_s;
};

/// The admission step on the request head: 404 without a secret, 405 for a method other than
/// POST, 413 for a Content-Length over k_stripe_body_limit, before a byte of the body is read.
admission admit_stripe_webhook(const stripe_targets& t, const request_head& head);

/// Answers an event: 200 `{"received":true,"outcome":"applied"|"stale"|"duplicate"|"ignored"}`
/// for a handled or an ignored type (after the commit); 400 `invalid_signature` (missing,
/// malformed, not matching, or more than 5 minutes from now) or `invalid_event` (not JSON, or a
/// handled event without what it needs, naming the field); 422 `unknown_reference` when the
/// event names a workspace or a plan (lookup_key) that does not exist (nothing recorded: Stripe's
/// retry applies it once it does); 503 with Retry-After when PostgreSQL cannot take it.
void stripe_webhook(const stripe_targets& t, request&& req, const request_info& info, responder reply);

}  // namespace flowtrack::http
