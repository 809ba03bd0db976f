#include "adapters/http/routes.hpp"

#include <boost/json.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/counters.hpp"
#include "actors/engine.hpp"
#include "actors/health.hpp"
#include "actors/messages.hpp"
#include "actors/reply.hpp"
#include "actors/run.hpp"
#include "adapters/http/form_page.hpp"
#include "adapters/http/urlencoded.hpp"
#include "metrics/metrics.hpp"
#include "runtime/text.hpp"

namespace flowtrack::http {
namespace {
namespace json = boost::json;

std::string_view path_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

response method_not_allowed(std::string_view allow) {
  auto res = json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use " + std::string(allow));
  res.set(bhttp::field::allow, allow);
  return res;
}

// Readiness: 200 {"status":"ready"} or 503 {"status":"unavailable"}; with `detailed` (the admin
// listener) also which dependency is down and which core actors gave up. Never an error text:
// those name hosts and users, and the log has them.
void readyz(const route_targets& t, bool detailed, responder reply) {
  caf::anon_send(t.health, actors::check_atom::value, actors::health_callback([reply, detailed](actors::health_report r) {
    bool ready = r.ready() && r.failed.empty();
    json::object body{{"status", ready ? "ready" : "unavailable"}};
    if (detailed) {
      body["checks"] = json::object{{"postgres", r.postgres_error.empty() ? "up" : "down"},
                                    {"redis", r.redis_error.empty() ? "up" : "down"}};
      json::array failed;
      for (const auto& name : r.failed) failed.emplace_back(name);
      body["failed"] = std::move(failed);
    }
    reply(json_response(ready ? bhttp::status::ok : bhttp::status::service_unavailable, json::serialize(body)));
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

// A trigger refused because the workspace's subscription is past due beyond its grace period
// (storage/ingest): a quota_exceeded about the subscription, answered 402.
bool payment_required(const error& e) { return e.code == error_code::quota_exceeded && e.subject == "subscription"; }

response error_response(const error& e) {
  if (payment_required(e))
    return json_error(bhttp::status::payment_required, "payment_required", e.message, {{"subscription", e.message}});
  std::vector<std::pair<std::string, std::string>> fields;
  if (e.code == error_code::invalid && !e.subject.empty()) fields.emplace_back(e.subject, e.message);
  auto res = json_error(status_of(e.code), to_string(e.code), e.message, fields);
  // A body that is not JSON at all is a malformed request (parsed only after the token check).
  if (e.code == error_code::invalid && e.subject == "body" && e.message.starts_with("the body is not valid JSON"))
    res.result(bhttp::status::bad_request);
  if (e.code == error_code::unauthorized) res.set(bhttp::field::www_authenticate, "X-FlowTrack-Token");
  // Overloaded or a dependency down: nothing was accepted, the client may send it again.
  if (res.result() == bhttp::status::service_unavailable) res.set(bhttp::field::retry_after, "1");
  return res;
}

// Hands a request to the workspace registry with a reply slot and returns: the actor that has
// the answer calls `then` on its own thread. No actor waits per request; a slot nobody answers
// within the deadline, or one dropped with a crashed actor, answers `unavailable`.
template <class Reply, class Atom, class Message>
void ask(const route_targets& t, Atom atom, Message msg, std::function<void(Reply)> then) {
  // Admission: beyond the requests the engine may owe at once, refused before any actor works.
  auto slot = t.deadlines->try_make<Reply>(then);
  if (!slot) return then(Reply(make_error(error_code::unavailable, "the node is busy; try again shortly")));
  auto registry = actors::engine_registry(*t.system);
  if (!registry) return slot->deliver(Reply(make_error(error_code::unavailable, "the engine is not running; try again shortly")));
  caf::anon_send(registry, atom, std::move(msg), std::move(slot));
}

json::object accepted_body(const storage::ingest_outcome& r) {
  return json::object{{"executionId", r.execution_id ? json::value(*r.execution_id) : nullptr},
                      {"leadId", r.lead_id},
                      {"duplicate", r.duplicate}};
}

// Hands a trigger to the engine and answers after its commit.
void trigger(const route_targets& t, actors::trigger_request req, responder reply) {
  ask<actors::ingest_reply>(t, actors::trigger_atom::value, std::move(req), [reply](actors::ingest_reply r) {
    if (!r.ok()) return reply(error_response(r.err()));
    reply(json_response(bhttp::status::accepted, json::serialize(accepted_body(*r))));
  });
}

// POST /hooks/{workflow_id}: a partner system's trigger. The JSON body is the lead (email
// required) and the trigger data; X-FlowTrack-Token authenticates; Idempotency-Key is honoured.
void webhook_trigger(const route_targets& t, std::string_view workflow_id, request&& req, responder reply) {
  if (req.method() != bhttp::verb::post) return reply(method_not_allowed("POST"));
  if (!runtime::is_uuid(workflow_id)) return reply(json_error(bhttp::status::not_found, "not_found", "no workflow with this id"));
  if (!media_type_is(req[bhttp::field::content_type], "application/json"))
    return reply(json_error(bhttp::status::unsupported_media_type, "unsupported_media_type", "send the lead as application/json"));
  actors::trigger_request tr;
  tr.workflow_id = std::string(workflow_id);
  tr.intake.kind = domain::trigger_kind::webhook;
  tr.intake.raw_lead = std::move(req.body());  // parsed by the workspace actor once the token checks out
  if (auto token = req["X-FlowTrack-Token"]; !token.empty()) tr.token = std::string(token);
  if (auto key = req["Idempotency-Key"]; !key.empty()) tr.intake.idempotency_key = std::string(key);
  trigger(t, std::move(tr), std::move(reply));
}


// ---- Public forms: /p/{slug} and /p/{slug}/{form} ----

// A public form may post to its own page only; its thank-you may redirect to a booking link.
response html_response(bhttp::status status, std::string body) {
  return html_page(status, std::move(body), "form-action 'self' https: http:", "same-origin");
}

bool slug_like(std::string_view s, std::size_t max, bool upper) {
  if (s.empty() || s.size() > max) return false;
  for (unsigned char c : s)
    if (!(std::islower(c) || std::isdigit(c) || c == '-' || (upper && (std::isupper(c) || c == '_')))) return false;
  return true;
}

response not_found_page() {
  return html_response(bhttp::status::not_found,
                       render_message("Form not found", "There is no form at this address. Please check the link you followed."));
}

response rate_limited(std::chrono::milliseconds wait, bool as_json) {
  auto seconds = std::max<long long>(1, (wait.count() + 999) / 1000);
  auto res = as_json ? json_error(bhttp::status::too_many_requests, "rate_limited",
                                  "too many submissions; retry in " + std::to_string(seconds) + " s")
                     : html_response(bhttp::status::too_many_requests,
                                     render_message("Too many submissions",
                                                    "Please wait " + std::to_string(seconds) + " seconds and send the form again."));
  res.set(bhttp::field::retry_after, std::to_string(seconds));
  return res;
}

response form_failure(const error& e, bool as_json) {
  if (e.code == error_code::not_found) {
    return as_json ? json_error(bhttp::status::not_found, "not_found", e.message) : not_found_page();
  }
  if (as_json) return error_response(e);
  if (payment_required(e))
    return html_response(bhttp::status::payment_required,
                         render_message("This form is paused", "This form is not taking submissions right now. Please try again later."));
  auto status = status_of(e.code);
  auto res = html_response(status, render_message("Sorry, something went wrong",
                                                  "Your details were not saved. Please try again in a moment."));
  if (status == bhttp::status::service_unavailable) res.set(bhttp::field::retry_after, "1");
  return res;
}

std::string form_action(const actors::form_request& fr) {
  return "/p/" + fr.slug + (fr.form.empty() ? "" : "/" + fr.form);
}

void show_form(const route_targets& t, actors::form_request fr, responder reply) {
  std::string action = form_action(fr);
  ask<actors::form_result>(t, actors::form_atom::value, std::move(fr), [reply, action](actors::form_result r) {
    if (!r.ok()) return reply(form_failure(r.err(), false));
    const auto& ws = r->forms.front().workspace->info;
    if (r->forms.size() > 1) {
      std::vector<std::pair<std::string, std::string>> links;
      for (const auto& f : r->forms) links.emplace_back(f.workflow->form->title, action + "/" + url_encode(f.workflow->form->slug));
      return reply(html_response(bhttp::status::ok, render_index(ws.name, links)));
    }
    form_page page;
    page.workspace_name = ws.name;
    page.action = action;
    page.form = r->forms.front().workflow->form.get();
    reply(html_response(bhttp::status::ok, render_form(page)));
  });
}

bool safe_redirect(std::string_view url) {
  if (!(url.starts_with("https://") || url.starts_with("http://"))) return false;
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7F) return false;  // no header splitting, no spaces
  return true;
}

void submit_form(const route_targets& t, actors::form_request fr, request&& req, responder reply) {
  auto type = req[bhttp::field::content_type];
  const bool as_json = media_type_is(type, "application/json");
  std::map<std::string, std::string> typed;  // what the browser sent, to show again
  json::object values;
  if (as_json) {
    boost::system::error_code ec;
    auto body = json::parse(req.body(), ec);
    if (ec) return reply(json_error(bhttp::status::bad_request, "invalid", "the body is not valid JSON: " + ec.message(), {{"body", ec.message()}}));
    if (!body.is_object()) return reply(json_error(bhttp::status::unprocessable_entity, "invalid", "the body must be a JSON object of field key to value", {{"body", "must be an object"}}));
    values = std::move(body.as_object());
    if (auto* hp = values.if_contains(k_honeypot_field); hp && !(hp->is_string() && hp->as_string().empty()) && !hp->is_null()) {
      actors::count_trigger_rejected(domain::trigger_kind::form, "honeypot");
      // Generic on purpose: naming the hidden field would teach a bot to leave it empty.
      return reply(json_error(bhttp::status::unprocessable_entity, "invalid", "the submission was refused"));
    }
    values.erase(k_honeypot_field);
  } else if (media_type_is(type, "application/x-www-form-urlencoded")) {
    auto pairs = parse_urlencoded(req.body());
    if (!pairs) return reply(html_response(bhttp::status::bad_request, render_message("The form could not be read", pairs.err().message)));
    for (auto& [k, v] : *pairs) {
      if (k == k_honeypot_field) {
        if (v.empty()) continue;
        // A bot filled the hidden field: it sees a success, nothing is stored.
        actors::count_trigger_rejected(domain::trigger_kind::form, "honeypot");
        return reply(html_response(bhttp::status::ok, render_thank_you("", "", "Your details were received.")));
      }
      values[k] = v;
      typed[k] = std::move(v);
    }
  } else {
    return reply(json_error(bhttp::status::unsupported_media_type, "unsupported_media_type",
                            "send the form as application/x-www-form-urlencoded or application/json", {{"Content-Type", "unsupported"}}));
  }
  fr.submission = std::move(values);
  std::string action = form_action(fr);
  ask<actors::form_result>(t, actors::form_atom::value, std::move(fr), [reply, as_json, action, typed = std::move(typed)](actors::form_result r) {
    if (!r.ok()) return reply(form_failure(r.err(), as_json));
    const auto& form = r->forms.front();
    if (r->retry_after) return reply(rate_limited(*r->retry_after, as_json));
    if (!r->errors.empty()) {
      if (as_json) {
        std::vector<std::pair<std::string, std::string>> fields;
        for (const auto& e : r->errors) fields.emplace_back(e.field, e.message);
        return reply(json_error(bhttp::status::unprocessable_entity, "invalid",
                                std::to_string(fields.size()) + (fields.size() == 1 ? " field needs" : " fields need") + " attention", fields));
      }
      form_page page;
      page.workspace_name = form.workspace->info.name;
      page.action = action;
      page.form = form.workflow->form.get();
      page.values = typed;
      page.errors = r->errors;
      return reply(html_response(bhttp::status::unprocessable_entity, render_form(page)));
    }
    // The same answer whether or not the email was already a lead: the id of this submission's
    // lead event, nothing about the lead or its run.
    if (as_json)
      return reply(json_response(bhttp::status::accepted,
                                 json::serialize(json::object{{"status", "accepted"}, {"submissionId", r->accepted->event_id}})));
    const auto& booking = form.workflow->record.booking_url;
    if (booking && safe_redirect(*booking)) {
      response res{bhttp::status::see_other, 11};
      res.set(bhttp::field::location, *booking);
      res.set(bhttp::field::cache_control, "no-store");
      return reply(std::move(res));
    }
    reply(html_response(bhttp::status::ok, render_thank_you(form.workspace->info.name, form.workflow->form->title,
                                                            form.workflow->form->thank_you)));
  });
}

void public_form(const route_targets& t, std::string_view rest, request&& req, const request_info& info, responder reply) {
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  auto slash = rest.find('/');
  actors::form_request fr;
  fr.slug = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) fr.form = std::string(rest.substr(slash + 1));
  if (!slug_like(fr.slug, 50, false) || (slash != std::string_view::npos && !slug_like(fr.form, 100, true)))
    return reply(not_found_page());
  fr.client_ip = info.client_ip;
  if (auto ua = req[bhttp::field::user_agent]; !ua.empty()) fr.user_agent = std::string(ua.substr(0, 512));
  if (req.method() == bhttp::verb::get || req.method() == bhttp::verb::head) return show_form(t, std::move(fr), std::move(reply));
  if (req.method() == bhttp::verb::post) return submit_form(t, std::move(fr), std::move(req), std::move(reply));
  reply(method_not_allowed("GET, HEAD, POST"));
}

}  // namespace

static bool api_path(std::string_view path) { return path == api::k_prefix || path.starts_with(std::string(api::k_prefix) + "/"); }

std::string route_of(std::string_view path) {
  if (api_path(path)) return api::route_label(path);
  if (path == "/healthz" || path == "/readyz") return std::string(path.substr(1));
  if (path.starts_with("/p/")) return "form";
  if (path.starts_with("/hooks/")) return "hooks";
  if (path.starts_with("/t/")) return "tracking";
  if (path == "/inbound/email") return "inbound_email";
  if (path == k_stripe_webhook_path) return "stripe_webhook";
  if (is_calendly_webhook_path(path)) return "calendly_webhook";
  return "other";
}

handler make_routes(route_targets targets) {
  if (!targets.deadlines) targets.deadlines = std::make_shared<actors::reply_deadlines>(std::chrono::seconds(30), 1024);
  return [targets](request&& req, const request_info& info, responder reply) {
    std::string_view path = path_of(req.target());
    bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
    if (path == "/healthz") {
      if (!get) return reply(method_not_allowed("GET"));
      return reply(json_response(bhttp::status::ok, R"({"status":"ok"})"));
    }
    if (path == "/readyz") {
      if (!get) return reply(method_not_allowed("GET"));
      return readyz(targets, /*detailed=*/false, std::move(reply));
    }
    if (path.substr(0, 3) == "/p/") return public_form(targets, path.substr(3), std::move(req), info, std::move(reply));
    if (path.substr(0, 7) == "/hooks/") return webhook_trigger(targets, path.substr(7), std::move(req), std::move(reply));
    if (path.substr(0, 3) == "/t/") return tracking_route(targets.tracking, path.substr(3), std::move(req), std::move(reply));
    if (path == "/inbound/email") return inbound_email(targets.inbound, std::move(req), info, std::move(reply));
    if (path == k_stripe_webhook_path) return stripe_webhook(targets.billing, std::move(req), info, std::move(reply));
    if (is_calendly_webhook_path(path)) return calendly_webhook(targets.calendly, path, std::move(req), info, std::move(reply));
    if (targets.api && api_path(path)) return targets.api->handle(std::move(req), info, std::move(reply));
    reply(json_error(bhttp::status::not_found, "not_found", "no route for this path"));
  };
}

admitter make_admission(route_targets targets) {
  return [inbound = std::move(targets.inbound), api = targets.api, billing = targets.billing,
          calendly = targets.calendly](
             const request_head& head, const request_info& info, admission_callback done) {
    auto path = path_of(head.target());
    if (path == "/inbound/email") return admit_inbound_email(inbound, head, info, std::move(done));
    if (path == k_stripe_webhook_path) return done(admit_stripe_webhook(billing, head));
    if (is_calendly_webhook_path(path)) return done(admit_calendly_webhook(calendly, head));
    if (api && api_path(path)) return api->admit(head, info, std::move(done));
    done(admission::admit());
  };
}

std::string admin_route_of(std::string_view path) {
  if (path == "/metrics" || path == "/readyz") return "admin_" + std::string(path.substr(1));
  return "admin_other";
}

handler make_admin_routes(route_targets targets) {
  return [targets](request&& req, const request_info&, responder reply) {
    std::string_view path = path_of(req.target());
    bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
    if (path == "/readyz") {
      if (!get) return reply(method_not_allowed("GET"));
      return readyz(targets, /*detailed=*/true, std::move(reply));
    }
    if (path == "/metrics") {
      if (!get) return reply(method_not_allowed("GET"));
      response res{bhttp::status::ok, 11};
      res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = metrics::global().render();
      return reply(std::move(res));
    }
    reply(json_error(bhttp::status::not_found, "not_found", "no route for this path; the admin listener serves /metrics and /readyz"));
  };
}

}  // namespace flowtrack::http
