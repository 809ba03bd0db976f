// The Stripe webhook route. Logs what it refused and why, never the secret, the signature or the body.
#include "adapters/http/stripe_webhook.hpp"

#include <chrono>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "crypto/stripe_signature.hpp"
#include "domain/stripe_event.hpp"
#include "storage/subscriptions.hpp"

namespace flowtrack::http {
namespace {

response not_found() { return json_error(bhttp::status::not_found, "not_found", "no route for this path"); }

response method_not_allowed() {
  auto res = json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use POST");
  res.set(bhttp::field::allow, "POST");
  return res;
}

response too_large() {
  return json_error(bhttp::status::payload_too_large, "payload_too_large",
                    "a Stripe event body is at most " + std::to_string(k_stripe_body_limit / 1024) + " KiB");
}

std::int64_t now_of(const stripe_targets& t) {
  if (t.now_s) return t.now_s();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string_view refusal_text(crypto::stripe_signature_check c) {
  switch (c) {
    case crypto::stripe_signature_check::malformed: return "the Stripe-Signature header is missing or malformed (t=...,v1=...)";
    case crypto::stripe_signature_check::no_signature: return "the Stripe-Signature header carries no v1 signature";
    case crypto::stripe_signature_check::mismatch: return "no v1 signature matches this body under the webhook secret";
    case crypto::stripe_signature_check::stale: return "the signature's timestamp is more than 5 minutes from now";
    case crypto::stripe_signature_check::ok: break;
  }
  return "the signature was refused";
}

response accepted(std::string_view outcome) {
  return json_response(bhttp::status::ok,
                       boost::json::serialize(boost::json::object{{"received", true}, {"outcome", outcome}}));
}

}  // namespace

admission admit_stripe_webhook(const stripe_targets& t, const request_head& head) {
  if (t.secret.empty()) return admission::refuse(not_found());
  if (head.method() != bhttp::verb::post) return admission::refuse(method_not_allowed());
  if (declares_more_than(head, k_stripe_body_limit)) return admission::refuse(too_large());
  return admission::admit();
}

void stripe_webhook(const stripe_targets& t, request&& req, const request_info& info, responder reply) {
  if (t.secret.empty()) return reply(not_found());
  if (req.method() != bhttp::verb::post) return reply(method_not_allowed());
  const std::string& body = req.body();
  if (body.size() > k_stripe_body_limit) return reply(too_large());

  auto check = crypto::verify_stripe_signature(req["Stripe-Signature"], body, t.secret, now_of(t));
  if (check != crypto::stripe_signature_check::ok) {
    spdlog::warn("stripe webhook: refused a request from {} ({}), request {}", info.client_ip, crypto::to_string(check),
                 info.request_id);
    return reply(json_error(bhttp::status::bad_request, "invalid_signature", refusal_text(check), {{"Stripe-Signature", std::string(crypto::to_string(check))}}));
  }
  auto event = domain::stripe::parse_event(body);
  if (!event) {
    spdlog::warn("stripe webhook: a signed event was unreadable ({}), request {}", event.err().message, info.request_id);
    return reply(json_error(bhttp::status::bad_request, "invalid_event", event.err().message, {{event.err().subject, event.err().message}}));
  }
  if (event->kind == domain::stripe::event_kind::other) return reply(accepted("ignored"));
  if (t.postgres == nullptr) {
    auto res = json_error(bhttp::status::service_unavailable, "unavailable", "no database; Stripe will send the event again");
    res.set(bhttp::field::retry_after, "5");
    return reply(std::move(res));
  }
  auto ev = std::make_shared<domain::stripe::event>(std::move(*event));
  int grace = t.grace_days;
  std::string request_id = info.request_id;
  t.postgres->try_submit(
      [ev, grace](pg::connection& c) { return storage::apply_stripe_event(c, *ev, grace); },
      [ev, reply, request_id](result<storage::stripe_applied> r) {
        if (r) {
          spdlog::info("stripe webhook: {} {} {} (workspace {}, status {})", ev->id, ev->type, storage::to_string(r->outcome),
                       r->workspace_id.empty() ? "-" : r->workspace_id, r->status.empty() ? "-" : r->status);
          return reply(accepted(storage::to_string(r->outcome)));
        }
        const error& e = r.err();
        if (e.code == error_code::invalid) {
          spdlog::warn("stripe webhook: {} {} not applied: {}", ev->id, ev->type, e.message);
          return reply(json_error(bhttp::status::unprocessable_entity, "unknown_reference", e.message, {{e.subject, e.message}}));
        }
        spdlog::error("stripe webhook: {} {} not applied ({}), request {}: {}", ev->id, ev->type, to_string(e.code), request_id,
                      e.message);
        auto res = json_error(bhttp::status::service_unavailable, "unavailable",
                              "the event could not be stored now; Stripe will send it again");
        res.set(bhttp::field::retry_after, "5");
        reply(std::move(res));
      });
}

}  // namespace flowtrack::http
