// The Calendly webhook route. Logs what it refused and why, never the key, the signature or the
// body (an invitee's email is personal data: logged as the lead id only).
#include "adapters/http/calendly_webhook.hpp"

#include <chrono>
#include <memory>
#include <optional>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "crypto/calendly_signature.hpp"
#include "runtime/text.hpp"
#include "storage/calendly.hpp"
#include "storage/oauth.hpp"

namespace flowtrack::http {
namespace {
namespace json = boost::json;

response not_found() { return json_error(bhttp::status::not_found, "not_found", "no route for this path"); }

response no_workspace() {
  return json_error(bhttp::status::not_found, "not_found", "no workspace has this id; copy the webhook URL from the workspace again",
                    {{"workspace_id", "no such workspace"}});
}

response method_not_allowed() {
  auto res = json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use POST");
  res.set(bhttp::field::allow, "POST");
  return res;
}

response too_large() {
  return json_error(bhttp::status::payload_too_large, "payload_too_large",
                    "a Calendly event body is at most " + std::to_string(k_calendly_body_limit / 1024) + " KiB");
}

response unavailable(std::string_view message) {
  auto res = json_error(bhttp::status::service_unavailable, "unavailable", message);
  res.set(bhttp::field::retry_after, "5");
  return res;
}

response invalid_event(const std::string& field, const std::string& message) {
  return json_error(bhttp::status::bad_request, "invalid_event", message, {{field, message}});
}

std::int64_t now_of(const calendly_targets& t) {
  if (t.now_s) return t.now_s();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string_view refusal_text(crypto::calendly_signature_check c) {
  switch (c) {
    case crypto::calendly_signature_check::malformed:
      return "the Calendly-Webhook-Signature header is missing or malformed (t=...,v1=...)";
    case crypto::calendly_signature_check::no_signature: return "the Calendly-Webhook-Signature header carries no v1 signature";
    case crypto::calendly_signature_check::mismatch: return "no v1 signature matches this body under the signing key";
    case crypto::calendly_signature_check::stale: return "the signature's timestamp is more than 5 minutes from now";
    case crypto::calendly_signature_check::ok: break;
  }
  return "the signature was refused";
}

response accepted(std::string_view outcome) {
  return json_response(bhttp::status::ok, json::serialize(json::object{{"received", true}, {"outcome", outcome}}));
}

// A string member of `o`, or empty.
std::string string_at(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}

// What a delivery's body says, read before (and answered only after) its signature is checked.
struct parsed_event {
  std::optional<response> answer;                     ///< an event not to apply: its answer (invalid or ignored)
  std::shared_ptr<storage::calendly_booking> booking;  ///< else the booking to apply
};

parsed_event parse_event(std::string_view workspace_id, const std::string& body) {
  auto refuse = [](response r) { return parsed_event{std::move(r), nullptr}; };
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return refuse(invalid_event("body", "the body is not a JSON object"));
  const auto& root = doc.as_object();
  std::string event = string_at(root, "event");
  if (event.empty()) return refuse(invalid_event("event", "the event has no type"));
  if (event != "invitee.created") return refuse(accepted("ignored"));
  auto p = root.find("payload");
  if (p == root.end() || !p->value().is_object()) return refuse(invalid_event("payload", "invitee.created carries no payload object"));
  const auto& payload = p->value().as_object();

  auto booking = std::make_shared<storage::calendly_booking>();
  booking->workspace_id = std::string(workspace_id);
  booking->invitee_uri = string_at(payload, "uri");
  booking->email = string_at(payload, "email");
  booking->name = string_at(payload, "name");
  if (auto se = payload.find("scheduled_event"); se != payload.end() && se->value().is_object()) {
    booking->scheduled_event_uri = string_at(se->value().as_object(), "uri");
    booking->start_time = string_at(se->value().as_object(), "start_time");
  }
  if (booking->invitee_uri.empty()) return refuse(invalid_event("payload.uri", "the invitee has no uri"));
  if (booking->email.empty()) return refuse(invalid_event("payload.email", "the invitee has no email"));
  if (booking->invitee_uri.size() > 2048) return refuse(invalid_event("payload.uri", "the invitee uri is over 2048 characters"));
  if (booking->email.size() > 320) return refuse(invalid_event("payload.email", "the invitee email is over 320 characters"));
  return parsed_event{std::nullopt, std::move(booking)};
}

response refused_signature(crypto::calendly_signature_check check, const request_info& info, bool own_key) {
  spdlog::warn("calendly webhook: refused a request from {} ({}, {} key), request {}", info.client_ip, crypto::to_string(check),
               own_key ? "the workspace's" : "the node's", info.request_id);
  return json_error(bhttp::status::bad_request, "invalid_signature", refusal_text(check),
                    {{std::string(crypto::k_calendly_signature_header), std::string(crypto::to_string(check))}});
}

response no_key() {
  return json_error(bhttp::status::not_found, "not_found",
                    "this workspace has no Calendly account connected and the node has no Calendly signing key",
                    {{"workspace_id", "no Calendly connection"}});
}

// The answer to an applied booking (or its failure).
response applied_answer(const storage::calendly_booking& booking, const std::string& request_id,
                        const result<storage::calendly_applied>& r) {
  if (r) {
    if (r->outcome == storage::calendly_outcome::no_workspace) {
      spdlog::warn("calendly webhook: no workspace {}, request {}", booking.workspace_id, request_id);
      return no_workspace();
    }
    spdlog::info("calendly webhook: workspace {} invitee.created {} (lead {}, was {})", booking.workspace_id,
                 storage::to_string(r->outcome), r->lead_id.empty() ? "-" : r->lead_id,
                 r->previous_status.empty() ? "-" : r->previous_status);
    return accepted(storage::to_string(r->outcome));
  }
  const error& e = r.err();
  if (e.code == error_code::invalid) return invalid_event(e.subject, e.message);
  spdlog::error("calendly webhook: workspace {} not applied ({}), request {}: {}", booking.workspace_id, to_string(e.code), request_id,
                e.message);
  return unavailable("the event could not be stored now; Calendly will send it again");
}

// What the pool job of a workspace-keyed delivery found.
struct keyed_verdict {
  bool any_key = false;  ///< false: neither the workspace nor the node has a key
  bool own_key = false;  ///< checked under the workspace's own key
  crypto::calendly_signature_check check = crypto::calendly_signature_check::malformed;
  std::optional<result<storage::calendly_applied>> applied;  ///< set when a verified booking was applied
};

// With per-workspace keys: the workspace's key looked up, the signature checked under it (or the
// node's key when the workspace has no active Calendly credential) and a verified booking applied,
// in one pool job.
void keyed_delivery(const calendly_targets& t, std::string workspace_id, request&& req, const request_info& info, responder reply) {
  auto parsed = std::make_shared<parsed_event>(parse_event(workspace_id, req.body()));
  auto header = std::string(req[crypto::k_calendly_signature_header]);
  auto body = std::make_shared<std::string>(std::move(req.body()));
  const crypto::keyring* keys = t.keys;
  std::string node_key = t.signing_key;
  std::int64_t now = now_of(t);
  t.postgres->try_submit(
      [workspace_id, parsed, header = std::move(header), body, keys, node_key = std::move(node_key), now](
          pg::connection& c) -> result<keyed_verdict> {
        keyed_verdict v;
        auto own = storage::oauth::calendly_signing_key(c, *keys, workspace_id);
        if (!own) return own.err();
        v.own_key = own->has_value();
        const std::string& key = v.own_key ? **own : node_key;
        v.any_key = !key.empty();
        if (!v.any_key) return v;
        v.check = crypto::verify_calendly_signature(header, *body, key, now);
        if (v.check != crypto::calendly_signature_check::ok || !parsed->booking) return v;
        v.applied = storage::apply_calendly_booking(c, *parsed->booking);
        return v;
      },
      [parsed, info, reply](result<keyed_verdict> r) {
        if (!r) {
          spdlog::error("calendly webhook: the workspace's signing key could not be read, request {}: {}", info.request_id,
                        r.err().message);
          return reply(unavailable("the event could not be checked now; Calendly will send it again"));
        }
        if (!r->any_key) return reply(no_key());
        if (r->check != crypto::calendly_signature_check::ok) return reply(refused_signature(r->check, info, r->own_key));
        if (parsed->answer) return reply(std::move(*parsed->answer));
        reply(applied_answer(*parsed->booking, info.request_id, *r->applied));
      });
}

}  // namespace

bool is_calendly_webhook_path(std::string_view path) { return path.starts_with(k_calendly_webhook_prefix); }

admission admit_calendly_webhook(const calendly_targets& t, const request_head& head) {
  if (t.signing_key.empty() && !t.keys) return admission::refuse(not_found());
  if (head.method() != bhttp::verb::post) return admission::refuse(method_not_allowed());
  if (declares_more_than(head, k_calendly_body_limit)) return admission::refuse(too_large());
  return admission::admit();
}

void calendly_webhook(const calendly_targets& t, std::string_view path, request&& req, const request_info& info,
                      responder reply) {
  if (t.signing_key.empty() && !t.keys) return reply(not_found());
  if (req.method() != bhttp::verb::post) return reply(method_not_allowed());
  std::string_view workspace_id = path.substr(std::min(path.size(), k_calendly_webhook_prefix.size()));
  if (!runtime::is_uuid(workspace_id)) return reply(no_workspace());
  const std::string& body = req.body();
  if (body.size() > k_calendly_body_limit) return reply(too_large());

  if (t.keys) {
    if (t.postgres == nullptr) return reply(unavailable("no database; Calendly will send the event again"));
    return keyed_delivery(t, std::string(workspace_id), std::move(req), info, std::move(reply));
  }

  // The node's key only: checked here, before the pool is asked anything.
  auto check = crypto::verify_calendly_signature(req[crypto::k_calendly_signature_header], body, t.signing_key, now_of(t));
  if (check != crypto::calendly_signature_check::ok) return reply(refused_signature(check, info, false));
  auto parsed = parse_event(workspace_id, body);
  if (parsed.answer) return reply(std::move(*parsed.answer));

  if (t.postgres == nullptr) return reply(unavailable("no database; Calendly will send the event again"));
  std::string request_id = info.request_id;
  auto booking = parsed.booking;
  t.postgres->try_submit([booking](pg::connection& c) { return storage::apply_calendly_booking(c, *booking); },
                         [booking, reply, request_id](result<storage::calendly_applied> r) {
                           reply(applied_answer(*booking, request_id, r));
                         });
}

}  // namespace flowtrack::http
