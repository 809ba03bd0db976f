// Outgoing webhook endpoint routes: the operations of `flowtrackd webhook ...` over HTTP, each
// on an endpoint checked to be the workspace's first. Secrets appear only in the answers of
// creation and rotation; the URL rules (SSRF guard, webhook_allow) are the CLI's
// (webhook::check_new_endpoint).
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "adapters/http/api/resources.hpp"
#include "adapters/webhook/address_guard.hpp"
#include "adapters/webhook/endpoint_rules.hpp"
#include "runtime/text.hpp"
#include "runtime/tz.hpp"
#include "storage/webhooks.hpp"
#include "storage/workspace_resources.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

using detail::answer;
using detail::outcome;
using detail::refuse;
using domain::action;

struct context {
  const crypto::keyring* keys = nullptr;
  webhook::address_policy policy;
};
using ctx_ptr = std::shared_ptr<const context>;

json::value or_null(const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); }

json::object endpoint_json(const storage::webhook_endpoint_summary& e) {
  json::array events;
  for (const auto& ev : e.events) events.emplace_back(ev);
  return json::object{{"id", e.id},
                      {"url", e.url},
                      {"description", or_null(e.description)},
                      {"events", std::move(events)},
                      {"maxRetries", e.max_retries},
                      {"retryDelaySeconds", e.retry_delay_seconds},
                      {"isActive", e.is_active},
                      {"hasSecret", e.has_secret},
                      {"authHeaderName", or_null(e.auth_header_name)},
                      {"lastTriggeredAt", or_null(e.last_triggered_at)},
                      {"createdAt", e.created_at},
                      {"maxInFlight", e.max_in_flight},
                      {"disabledAt", or_null(e.disabled_at)},
                      {"disabledReason", or_null(e.disabled_reason)},
                      {"failingSince", or_null(e.failing_since)}};
}

// A rule of webhook::check_new_endpoint as the API names it (the CLI's option names in camelCase).
api_error endpoint_error(const error& e) {
  auto out = from_error(e);
  static const std::pair<std::string_view, std::string_view> names[] = {
      {"max-retries", "maxRetries"}, {"retry-delay", "retryDelaySeconds"}, {"auth-header", "authHeaderName"}};
  for (auto [cli, api] : names) {
    if (out.field == cli) out.field = api;
    for (auto at = out.message.find(cli); at != std::string::npos; at = out.message.find(cli)) out.message.replace(at, cli.size(), api);
  }
  if (out.field == "authHeaderName" && out.message.find("value") != std::string::npos) out.field = "authHeaderValue";
  return out;
}

// Reads the settable fields of an endpoint body into `e` (those present); an api_error naming the field.
std::optional<api_error> read_endpoint_fields(const json::object& body, storage::new_webhook_endpoint& e, bool creating) {
  for (const auto& kv : body) {
    auto k = kv.key();
    const auto& v = kv.value();
    if (k == "url") {
      if (!v.is_string()) return api_error::invalid("url", "url must be an http(s) URL");
      e.url = std::string(v.as_string());
    } else if (k == "description") {
      if (!v.is_string() && !v.is_null()) return api_error::invalid("description", "description must be a string");
      if (v.is_string()) e.description = std::string(v.as_string());
    } else if (k == "events") {
      if (!v.is_array()) return api_error::invalid("events", "events must be a list of event names");
      e.events.clear();
      for (const auto& ev : v.as_array()) {
        if (!ev.is_string()) return api_error::invalid("events", "events must be a list of event names");
        e.events.emplace_back(ev.as_string());
      }
    } else if (k == "maxRetries" || k == "retryDelaySeconds") {
      if (!v.is_int64() && !v.is_uint64()) return api_error::invalid(std::string(k), std::string(k) + " must be a whole number");
      auto n = v.to_number<std::int64_t>();
      if (n < 0 || n > 1000000) return api_error::invalid(std::string(k), std::string(k) + " is out of range");
      (k == "maxRetries" ? e.max_retries : e.retry_delay_seconds) = static_cast<int>(n);
    } else if (creating && (k == "authHeaderName" || k == "authHeaderValue")) {
      if (!v.is_string()) return api_error::invalid(std::string(k), std::string(k) + " must be a string");
      (k == "authHeaderName" ? e.auth_header_name : e.auth_header_value) = std::string(v.as_string());
    } else {
      return api_error::invalid(std::string(k), "unknown field '" + std::string(k) + "'", "unknown_field");
    }
  }
  if (creating) {
    if (!body.contains("url")) return api_error::invalid("url", "url is required", "required");
    if (!body.contains("events")) return api_error::invalid("events", "events is required", "required");
    if (e.auth_header_name.has_value() != e.auth_header_value.has_value())
      return api_error::invalid(e.auth_header_name ? "authHeaderValue" : "authHeaderName", "authHeaderName and authHeaderValue go together");
  }
  return std::nullopt;
}

// The workspace's endpoint `id` (not deleted), or nullopt.
result<std::optional<storage::webhook_endpoint_summary>> endpoint_of(pg::connection& c, const std::string& workspace_id,
                                                                     const std::string& id) {
  storage::webhook_endpoint_page one;
  one.id = id;
  auto found = storage::list_webhook_endpoints(c, workspace_id, one);
  if (!found) return found.err();
  if (found->empty()) return std::optional<storage::webhook_endpoint_summary>{};
  return std::optional<storage::webhook_endpoint_summary>(std::move(found->front()));
}

result<std::optional<storage::webhook_endpoint_summary>> find_endpoint(pg::connection& c, const scoped_call& sc) {
  return endpoint_of(c, sc.workspace_id, sc.param("ep"));
}

// Runs `then` when the path's endpoint is the workspace's; the 404 otherwise.
template <class F>
result<outcome> with_endpoint(pg::connection& c, const scoped_call& sc, F then) {
  auto mine = storage::webhook_endpoint_in_workspace(c, sc.workspace_id, sc.param("ep"));
  if (!mine) return mine.err();
  if (!*mine) return refuse(detail::not_found_in_workspace("endpoint"));
  auto id = sc.param("ep");
  runtime::to_lower_ascii(id);
  return then(id);
}

result<outcome> endpoint_answer(pg::connection& c, const scoped_call& sc, bhttp::status status) {
  auto e = find_endpoint(c, sc);
  if (!e) return e.err();
  if (!*e) return refuse(detail::not_found_in_workspace("endpoint"));
  return outcome(answer{status, endpoint_json(**e), {}});
}

// Keyset pages, oldest first, as the workflow list: endpoints made while a client pages come
// after the pages it has seen, so none repeats or is skipped.
result<outcome> list_endpoints(pg::connection& c, const scoped_call& sc) {
  auto pp = detail::page_params(sc.call);
  if (auto* e = std::get_if<api_error>(&pp)) return refuse(*e);
  auto [limit, cursor] = std::get<0>(pp);
  storage::webhook_endpoint_page page;
  page.limit = limit + 1;
  if (cursor) {
    auto key = storage::parse_page_key(*cursor);
    if (!key) return refuse(api_error::invalid("cursor", "cursor is not one this list gave"));
    page.after_us = key->created_us;
    page.after_id = key->id;
  }
  auto rows = storage::list_webhook_endpoints(c, sc.workspace_id, page);
  if (!rows) return rows.err();
  std::optional<std::string> next;
  if (static_cast<int>(rows->size()) > limit) {
    rows->resize(static_cast<std::size_t>(limit));
    next = storage::to_cursor({rows->back().created_us, rows->back().id});
  }
  json::array data;
  for (const auto& e : *rows) data.emplace_back(endpoint_json(e));
  return outcome(answer{bhttp::status::ok, detail::page(std::move(data), next), {}});
}

std::function<result<outcome>(pg::connection&, const scoped_call&)> create(ctx_ptr ctx) {
  return [ctx](pg::connection& c, const scoped_call& sc) -> result<outcome> {
    storage::new_webhook_endpoint e;
    if (auto bad = read_endpoint_fields(sc.call.body, e, true)) return refuse(*bad);
    if (!ctx->keys || !ctx->keys->can_seal())
      return refuse(api_error{bhttp::status::service_unavailable, "not_configured",
                              "webhook secrets are stored only encrypted: set encryption_key on this node", "encryption_key", 60});
    if (auto ok = webhook::check_new_endpoint(e, ctx->policy); !ok) return refuse(endpoint_error(ok.err()));
    e.workspace_id = sc.workspace_id;
    auto secret = webhook::new_webhook_secret();
    if (!secret) return secret.err();
    e.secret = *secret;
    auto id = storage::create_webhook_endpoint(c, e, *ctx->keys);
    if (!id) return id.err();
    auto made = endpoint_of(c, sc.workspace_id, *id);
    if (!made) return made.err();
    if (!*made) return make_error(error_code::internal, "the new endpoint is not listed");
    auto o = endpoint_json(**made);
    o["secret"] = *secret;  // the one time it is shown (and at rotation)
    return outcome(answer{bhttp::status::created, std::move(o), {}});
  };
}

std::function<result<outcome>(pg::connection&, const scoped_call&)> patch(ctx_ptr ctx) {
  return [ctx](pg::connection& c, const scoped_call& sc) -> result<outcome> {
    auto current = find_endpoint(c, sc);
    if (!current) return current.err();
    if (!*current) return refuse(detail::not_found_in_workspace("endpoint"));
    // The endpoint as it would be, checked by the rules of a new one.
    storage::new_webhook_endpoint e;
    e.url = (*current)->url;
    e.description = (*current)->description;
    e.events = (*current)->events;
    e.max_retries = (*current)->max_retries;
    e.retry_delay_seconds = (*current)->retry_delay_seconds;
    if (auto bad = read_endpoint_fields(sc.call.body, e, false)) return refuse(*bad);
    if (auto ok = webhook::check_new_endpoint(e, ctx->policy); !ok) return refuse(endpoint_error(ok.err()));
    storage::webhook_endpoint_patch p;
    const auto& b = sc.call.body;
    if (b.contains("url")) p.url = e.url;
    if (b.contains("description")) p.description = e.description.value_or("");
    if (b.contains("events")) p.events = e.events;
    if (b.contains("maxRetries")) p.max_retries = e.max_retries;
    if (b.contains("retryDelaySeconds")) p.retry_delay_seconds = e.retry_delay_seconds;
    if (auto r = storage::update_webhook_endpoint(c, sc.workspace_id, sc.param("ep"), p); !r) return r.err();
    return endpoint_answer(c, sc, bhttp::status::ok);
  };
}

result<outcome> remove(pg::connection& c, const scoped_call& sc) {
  auto r = storage::delete_webhook_endpoint(c, sc.workspace_id, sc.param("ep"));
  if (!r) {
    if (r.err().code == error_code::not_found) return refuse(detail::not_found_in_workspace("endpoint"));
    return r.err();
  }
  return outcome(answer{bhttp::status::no_content, {}, {}});
}

std::function<result<outcome>(pg::connection&, const scoped_call&)> rotate(ctx_ptr ctx) {
  return [ctx](pg::connection& c, const scoped_call& sc) -> result<outcome> {
    return with_endpoint(c, sc, [&](const std::string& id) -> result<outcome> {
      if (!ctx->keys || !ctx->keys->can_seal())
        return refuse(api_error{bhttp::status::service_unavailable, "not_configured",
                                "webhook secrets are stored only encrypted: set encryption_key on this node", "encryption_key", 60});
      auto secret = webhook::new_webhook_secret();
      if (!secret) return secret.err();
      if (auto r = storage::rotate_webhook_endpoint_secret(c, id, *secret, *ctx->keys); !r) return r.err();
      return outcome(answer{bhttp::status::ok,
                            json::object{{"id", id}, {"secret", *secret}, {"previousSecretValidHours", storage::k_previous_secret_hours}},
                            {}});
    });
  };
}

result<outcome> test_event(pg::connection& c, const scoped_call& sc) {
  return with_endpoint(c, sc, [&](const std::string& id) -> result<outcome> {
    auto d = storage::queue_webhook_test(c, id);
    if (!d) {
      if (d.err().code == error_code::invalid)
        return refuse(api_error{bhttp::status::conflict, "endpoint_disabled", d.err().message, "endpoint", 0});
      return d.err();
    }
    return outcome(answer{bhttp::status::accepted, json::object{{"deliveryId", *d}}, {}});
  });
}

result<outcome> deliveries(pg::connection& c, const scoped_call& sc) {
  return with_endpoint(c, sc, [&](const std::string& id) -> result<outcome> {
    storage::webhook_delivery_filter f;
    auto pp = detail::page_params(sc.call);
    if (auto* e = std::get_if<api_error>(&pp)) return refuse(*e);
    auto [limit, cursor] = std::get<0>(pp);
    f.limit = limit + 1;
    if (cursor) {
      auto key = storage::parse_page_key(*cursor);
      if (!key) return refuse(api_error::invalid("cursor", "cursor is not one this list gave"));
      f.before_us = key->created_us;
      f.before_id = key->id;
    }
    if (auto st = sc.call.query_value("status")) {
      if (*st != "pending" && *st != "delivered" && *st != "failed" && *st != "cancelled")
        return refuse(api_error::invalid("status", "status must be pending, delivered, failed or cancelled"));
      f.status = *st;
    }
    if (auto since = sc.call.query_value("since")) {
      auto t = runtime::parse_iso8601(*since);
      if (!t) return refuse(api_error::invalid("since", "since must be an ISO 8601 time such as 2026-01-31T12:00:00Z"));
      f.since_ms = *t;
    }
    auto lines = storage::list_webhook_deliveries(c, id, f);
    if (!lines) return lines.err();
    json::array data;
    for (const auto& line : *lines) {
      boost::system::error_code ec;
      auto v = json::parse(line, ec);
      if (!ec) data.emplace_back(std::move(v));
    }
    std::optional<std::string> next;
    if (static_cast<int>(data.size()) > limit) {
      data.resize(static_cast<std::size_t>(limit));
      auto key = storage::delivery_page_key(c, std::string(data.back().at("id").as_string()));
      if (!key) return key.err();
      next = storage::to_cursor(*key);
    }
    return outcome(answer{bhttp::status::ok, detail::page(std::move(data), next), {}});
  });
}

result<outcome> redeliver(pg::connection& c, const scoped_call& sc) {
  return with_endpoint(c, sc, [&](const std::string& id) -> result<outcome> {
    auto d = sc.param("d");
    auto mine = storage::delivery_of_endpoint(c, id, d);
    if (!mine) return mine.err();
    if (!*mine) return refuse(detail::not_found_in_workspace("delivery"));
    auto r = storage::redeliver_webhook_delivery(c, d);
    if (!r) return r.err();
    return outcome(answer{bhttp::status::accepted, json::object{{"deliveryId", r->delivery_id}, {"endpointId", r->endpoint_id}}, {}});
  });
}

result<outcome> recover(pg::connection& c, const scoped_call& sc) {
  body_reader b(sc.call.body);
  auto since = b.string("since", true, 64);
  if (auto e = b.finish()) return refuse(*e);
  auto t = runtime::parse_iso8601(*since);
  if (!t) return refuse(api_error::invalid("since", "since must be an ISO 8601 time such as 2026-01-31T12:00:00Z"));
  return with_endpoint(c, sc, [&](const std::string& id) -> result<outcome> {
    auto n = storage::recover_webhook_deliveries(c, id, *t);
    if (!n) return n.err();
    return outcome(answer{bhttp::status::accepted, json::object{{"recovered", *n}}, {}});
  });
}

result<outcome> disable(pg::connection& c, const scoped_call& sc) {
  return with_endpoint(c, sc, [&](const std::string& id) -> result<outcome> {
    if (auto r = storage::disable_webhook_endpoint(c, id); !r) return r.err();
    return endpoint_answer(c, sc, bhttp::status::ok);
  });
}

result<outcome> enable(pg::connection& c, const scoped_call& sc) {
  return with_endpoint(c, sc, [&](const std::string& id) -> result<outcome> {
    if (auto r = storage::enable_webhook_endpoint(c, id); !r) return r.err();
    return endpoint_answer(c, sc, bhttp::status::ok);
  });
}

}  // namespace

void add_webhook_endpoint_routes(api_service& api, const resource_options& o) {
  auto policy = webhook::address_policy::from_strings(o.webhook_allow);
  if (!policy) {
    spdlog::error("api: webhook_allow: {}; the webhook endpoint routes are not served", policy.err().message);
    return;
  }
  auto ctx = std::make_shared<const context>(context{o.keys, std::move(*policy)});
  using detail::add_resource_route;
  const std::string base = "/workspaces/{id}/webhook-endpoints";
  add_resource_route(api, verb::get, base, false, action::read, list_endpoints);
  add_resource_route(api, verb::post, base, true, action::manage_webhooks, create(ctx));
  add_resource_route(api, verb::get, base + "/{ep}", false, action::read,
                     [](pg::connection& c, const scoped_call& sc) { return endpoint_answer(c, sc, bhttp::status::ok); });
  add_resource_route(api, verb::patch, base + "/{ep}", true, action::manage_webhooks, patch(ctx));
  add_resource_route(api, verb::delete_, base + "/{ep}", false, action::manage_webhooks, remove);
  add_resource_route(api, verb::post, base + "/{ep}/rotate-secret", false, action::manage_webhooks, rotate(ctx));
  add_resource_route(api, verb::post, base + "/{ep}/test", false, action::manage_webhooks, test_event);
  add_resource_route(api, verb::get, base + "/{ep}/deliveries", false, action::read, deliveries);
  add_resource_route(api, verb::post, base + "/{ep}/deliveries/{d}/redeliver", false, action::manage_webhooks, redeliver);
  add_resource_route(api, verb::post, base + "/{ep}/recover", true, action::manage_webhooks, recover);
  add_resource_route(api, verb::post, base + "/{ep}/disable", false, action::manage_webhooks, disable);
  add_resource_route(api, verb::post, base + "/{ep}/enable", false, action::manage_webhooks, enable);
}

}  // namespace flowtrack::http::api
