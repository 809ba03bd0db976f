// Integration routes (Google, Outlook, Calendly): each step on the PostgreSQL pool (storage::oauth) or at the provider
// (oauth::provider_client), handing on through callbacks; the HTTP threads only parse and answer.
#include "adapters/http/api/integrations.hpp"

#include <memory>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "adapters/http/api/scope.hpp"
#include "crypto/pkce.hpp"
#include "storage/oauth.hpp"
#include "storage/usage_queries.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

using domain::action;

/// How long a connect may take from its start to its callback.
constexpr std::int64_t k_authorization_ttl_s = 600;

json::value opt(const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }
json::value opt(const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); }

// As GET /workspaces/{id}/integrations shows it.
// The workspace's integration `id` as the list shows it (none when it is not listed).
result<std::optional<storage::integration_row>> listed_integration(pg::connection& c, const std::string& workspace_id,
                                                                  const std::string& id) {
  auto rows = storage::integrations_of(c, workspace_id);
  if (!rows) return rows.err();
  for (auto& g : *rows)
    if (g.id == id) return std::optional<storage::integration_row>(std::move(g));
  return std::optional<storage::integration_row>{};
}

json::object integration_json(const storage::integration_row& g) {
  return json::object{{"id", g.id},         {"provider", g.provider}, {"email", opt(g.email)},
                      {"scope", opt(g.scope)}, {"connected", g.connected}, {"active", g.active},
                      {"expiresAt", opt(g.expires_at_ms)}, {"lastUsedAt", opt(g.last_used_at_ms)}, {"connectedAt", g.created_at_ms}};
}

api_error unknown_provider(const std::string& name) {
  return {bhttp::status::not_found, "not_found", "no integration '" + name + "': the providers are google, outlook and calendly", "provider",
          0};
}

api_error not_offered(oauth::provider p) {
  std::string key = p == oauth::provider::google    ? "google_oauth_client_id"
                    : p == oauth::provider::outlook ? "microsoft_oauth_client_id"
                                                    : "calendly_oauth_client_id";
  return {bhttp::status::not_found, "not_configured",
          std::string(oauth::api_name(p)) + " is not offered on this node: its operator has not set " + key, "provider", 0};
}

api_error no_client() {
  return api_error::unavailable("integrations are not available on this node", 60);
}

api_error provider_failed(const error& e) {
  if (e.code == error_code::conflict && e.subject == "webhook_exists")
    return {bhttp::status::conflict, "webhook_exists", e.message, "provider", 0};
  if (e.transient()) return {bhttp::status::bad_gateway, "provider_unavailable", e.message, "provider", 0};
  if (e.code == error_code::unauthorized || e.code == error_code::invalid)
    return {bhttp::status::unprocessable_entity, e.subject == "invalid_grant" ? "invalid_grant" : "provider_refused", e.message, "code", 0};
  spdlog::error("api: integrations: {}", e.message);
  return {bhttp::status::bad_gateway, "provider_error", "the provider's answer could not be used", "provider", 0};
}

void fail(const responder& reply, const error& e) {
  if (e.code == error_code::internal) spdlog::error("api: integrations: {}", e.message);
  if (e.code == error_code::not_found && e.subject == "workspace") return reply(error_response(workspace_not_found()));
  reply(error_response(from_error(e)));
}

// The path's provider, checked to be offered; the api_error to answer otherwise.
std::variant<oauth::provider, api_error> path_provider(const scoped_call& sc, const integration_options& o) {
  auto name = sc.param("provider");
  auto p = oauth::parse_provider(name);
  if (!p) return unknown_provider(name);
  if (!o.client) return no_client();
  if (!o.client->config(*p).offered()) return not_offered(*p);
  return *p;
}

bool acceptable_redirect(std::string_view uri) {
  if (!(uri.starts_with("https://") || uri.starts_with("http://"))) return false;
  auto rest = uri.substr(uri.find("://") + 3);
  if (rest.empty() || rest.front() == '/') return false;
  for (unsigned char c : uri)
    if (c <= 0x20 || c == 0x7f || c == '#' || c == '"' || c == '<' || c == '>' || c == '\\') return false;
  return true;
}

void connect(api_service& api, const integration_options& o, scoped_call&& sc, responder reply) {
  auto pv = path_provider(sc, o);
  if (auto* e = std::get_if<api_error>(&pv)) return reply(error_response(*e));
  auto p = std::get<oauth::provider>(pv);
  body_reader b(sc.call.body);
  auto redirect = b.string("redirectUri", true, 2048);
  if (auto e = b.finish()) return reply(error_response(*e));
  if (!acceptable_redirect(*redirect))
    return reply(error_response(api_error::invalid("redirectUri", "redirectUri must be an absolute http(s) URL without a fragment")));
  if (!o.keys || !o.keys->can_seal())
    return reply(error_response({bhttp::status::service_unavailable, "not_configured",
                                 "integration tokens are stored only encrypted: set encryption_key on this node", "encryption_key", 60}));
  auto state = crypto::random_url_token(32);
  auto verifier = crypto::random_url_token(48);
  if (!state || !verifier) return reply(error_response(api_error::unavailable("no randomness available; try again")));
  storage::oauth::new_authorization a{sc.workspace_id, sc.user_id(), std::string(oauth::provider_type(p)), *state, *verifier,
                                      *redirect, k_authorization_ttl_s};
  auto url = oauth::authorization_url(p, o.client->config(p), *redirect, *state, crypto::pkce_s256_challenge(*verifier));
  api.db([a = std::move(a), keys = o.keys](pg::connection& c) { return storage::oauth::create_authorization(c, *keys, a); },
         [reply, url, state = *state](result<std::int64_t> r) {
           if (!r) return fail(reply, r.err());
           reply(json_reply(bhttp::status::created, json::object{{"authorizationUrl", url}, {"state", state}, {"expiresAt", *r}}));
         });
}

// The callback's steps after the code was exchanged: the account read, the tokens stored, the
// integration answered.
// Calendly's callback after the code was exchanged: the account read from the token answer (no
// GET /users/me needed), the workspace's webhook subscription made with a fresh signing key
// of ours, then the tokens and the sealed key stored in one transaction. A subscription made but
// not stored is left at Calendly (logged); a reconnect then meets 409 webhook_exists. A disconnect
// deletes the stored one first.
void store_calendly(api_service& api, const integration_options& o, std::shared_ptr<scoped_call> sc, storage::oauth::token_set tokens,
                    responder reply) {
  auto who = oauth::calendly_account(tokens);
  if (!who) return reply(error_response(provider_failed(who.err())));
  auto key = crypto::random_url_token(32);
  if (!key) return reply(error_response(api_error::unavailable("no randomness available; try again")));
  oauth::calendly_subscription_request req{o.client->calendly_callback_url(sc->workspace_id), *tokens.organization, *tokens.owner,
                                           *key};
  auto hook = std::make_shared<storage::oauth::calendly_webhook>();
  hook->signing_key = *key;
  hook->organization_uri = *tokens.organization;
  auto access = tokens.access_token;
  o.client->create_calendly_subscription(
      access, req,
      [&api, o, sc, hook, url = req.callback_url, tokens = std::move(tokens), who = std::move(*who), reply](result<std::string> made) mutable {
        if (!made) return reply(error_response(provider_failed(made.err())));
        hook->subscription_uri = *made;
        api.db(
            [o, sc, hook, tokens = std::move(tokens), who = std::move(who)](pg::connection& c) -> result<std::optional<storage::integration_row>> {
              auto id = storage::oauth::save_credential(c, *o.keys, sc->workspace_id, storage::oauth::k_calendly, tokens, who, hook.get());
              if (!id) return id.err();
              return listed_integration(c, sc->workspace_id, *id);
            },
            [reply, sc, hook, url](result<std::optional<storage::integration_row>> r) {
              if (!r || !*r)
                spdlog::warn("api: workspace {}: Calendly webhook subscription {} was made but not stored; delete it in Calendly",
                             sc->workspace_id, hook->subscription_uri);
              if (!r) return fail(reply, r.err());
              if (!*r) return fail(reply, make_error(error_code::internal, "the stored integration is not listed"));
              spdlog::info("api: workspace {} connected its calendly account (webhook subscription {})", sc->workspace_id,
                           hook->subscription_uri);
              auto body = integration_json(**r);
              body["webhookUrl"] = url;
              reply(json_reply(bhttp::status::ok, std::move(body)));
            });
      });
}

void store_account(api_service& api, const integration_options& o, std::shared_ptr<scoped_call> sc, oauth::provider p,
                   storage::oauth::token_set tokens, responder reply) {
  if (p == oauth::provider::calendly) return store_calendly(api, o, std::move(sc), std::move(tokens), std::move(reply));
  auto access = tokens.access_token;
  o.client->userinfo(p, access, [&api, o, sc, p, tokens = std::move(tokens), reply](result<storage::oauth::account> who) mutable {
    if (!who) return reply(error_response(provider_failed(who.err())));
    api.db(
        [o, sc, p, tokens = std::move(tokens), who = std::move(*who)](pg::connection& c) -> result<std::optional<storage::integration_row>> {
          auto id = storage::oauth::save_credential(c, *o.keys, sc->workspace_id, oauth::provider_type(p), tokens, who);
          if (!id) return id.err();
          return listed_integration(c, sc->workspace_id, *id);
        },
        [reply, sc, p](result<std::optional<storage::integration_row>> r) {
          if (!r) return fail(reply, r.err());
          if (!*r) return fail(reply, make_error(error_code::internal, "the stored integration is not listed"));
          spdlog::info("api: workspace {} connected its {} account", sc->workspace_id, oauth::api_name(p));
          reply(json_reply(bhttp::status::ok, integration_json(**r)));
        });
  });
}

void callback(api_service& api, const integration_options& o, scoped_call&& call, responder reply) {
  auto sc = std::make_shared<scoped_call>(std::move(call));
  auto pv = path_provider(*sc, o);
  if (auto* e = std::get_if<api_error>(&pv)) return reply(error_response(*e));
  auto p = std::get<oauth::provider>(pv);
  body_reader b(sc->call.body);
  auto code = b.string("code", true, 4096);
  auto state = b.string("state", true, 512);
  if (auto e = b.finish()) return reply(error_response(*e));
  if (!o.keys || !o.keys->can_seal())
    return reply(error_response({bhttp::status::service_unavailable, "not_configured",
                                 "integration tokens are stored only encrypted: set encryption_key on this node", "encryption_key", 60}));
  api.db(
      [o, sc, p, state = *state](pg::connection& c) {
        return storage::oauth::take_authorization(c, *o.keys, sc->workspace_id, oauth::provider_type(p), state, sc->user_id());
      },
      [&api, o, sc, p, code = *code, reply](result<storage::oauth::taken_authorization> taken) {
        if (!taken) return fail(reply, taken.err());
        o.client->exchange_code(p, code, taken->redirect_uri, taken->code_verifier,
                                [&api, o, sc, p, reply](result<storage::oauth::token_set> tokens) {
                                  if (!tokens) return reply(error_response(provider_failed(tokens.err())));
                                  store_account(api, o, sc, p, std::move(*tokens), reply);
                                });
      });
}

void disconnect(api_service& api, const integration_options& o, scoped_call&& call, responder reply) {
  auto sc = std::make_shared<scoped_call>(std::move(call));
  auto name = sc->param("provider");
  auto p = oauth::parse_provider(name);
  if (!p) return reply(error_response(unknown_provider(name)));
  if (!o.keys) return reply(error_response(no_client()));
  // The last step: the credential soft-deleted, its tokens and metadata (a Calendly signing key)
  // wiped. `deleted`: the Calendly subscription deleted at Calendly before; a stored one that was
  // not is named in the log (its events meet no key of the workspace and are refused, and a
  // reconnect meets 409 webhook_exists until it is deleted in Calendly).
  auto forget = [&api, sc, p = *p, reply](std::optional<std::string> deleted) {
    api.db(
        [sc, p](pg::connection& c) -> result<std::pair<bool, std::optional<std::string>>> {
          std::optional<std::string> subscription;
          if (p == oauth::provider::calendly) {
            auto s = storage::oauth::calendly_subscription_of(c, sc->workspace_id);
            if (!s) return s.err();
            subscription = std::move(*s);
          }
          auto gone = storage::oauth::disconnect(c, sc->workspace_id, oauth::provider_type(p));
          if (!gone) return gone.err();
          return std::pair{*gone, std::move(subscription)};
        },
        [reply, sc, p, deleted](result<std::pair<bool, std::optional<std::string>>> r) {
          if (!r) return fail(reply, r.err());
          spdlog::info("api: workspace {} disconnected its {} account", sc->workspace_id, oauth::api_name(p));
          if (r->second && r->second != deleted)
            spdlog::warn("api: workspace {}: Calendly webhook subscription {} is left at Calendly (it could not be deleted); its "
                         "signing key is forgotten, so its events are refused: delete it in Calendly before connecting again",
                         sc->workspace_id, *r->second);
          reply(no_content());
        });
  };
  // Revoking the refresh token ends the whole grant at Google (Calendly: no revoke URL, a no-op).
  auto revoke = [o, sc, p = *p, forget](const storage::oauth::credential& cr, std::optional<std::string> deleted) {
    o.client->revoke(p, cr.refresh_token.value_or(cr.access_token), [sc, p, forget, deleted](result<void> revoked) {
      if (!revoked)
        spdlog::warn("api: workspace {}: the {} grant could not be revoked at the provider ({}); the tokens are forgotten anyway",
                     sc->workspace_id, oauth::api_name(p), revoked.err().message);
      forget(deleted);
    });
  };
  // Calendly: the workspace's webhook subscription is deleted while the token still works, so a
  // reconnect can make a new one. A failure is logged and the disconnect goes on.
  auto unsubscribe = [&api, o, sc, revoke](storage::oauth::credential cr) {
    api.db([sc](pg::connection& c) { return storage::oauth::calendly_subscription_of(c, sc->workspace_id); },
           [o, sc, revoke, cr = std::move(cr)](result<std::optional<std::string>> uri) {
             if (!uri || !*uri) return revoke(cr, std::nullopt);
             o.client->delete_calendly_subscription(
                 cr.access_token, **uri, [sc, revoke, cr, uri = **uri](result<void> removed) {
                   if (!removed) {
                     spdlog::warn("api: workspace {}: Calendly webhook subscription {} could not be deleted ({}); disconnecting anyway",
                                  sc->workspace_id, uri, removed.err().message);
                     return revoke(cr, std::nullopt);
                   }
                   spdlog::info("api: workspace {}: Calendly webhook subscription {} deleted", sc->workspace_id, uri);
                   revoke(cr, uri);
                 });
           });
  };
  api.db(
      [o, sc, p = *p](pg::connection& c) { return storage::oauth::load_credential(c, *o.keys, sc->workspace_id, oauth::provider_type(p)); },
      [o, sc, p = *p, reply, forget, revoke, unsubscribe](result<std::optional<storage::oauth::credential>> r) {
        if (!r) {
          // A token that no longer opens (a key gone) is no reason to keep the account connected.
          if (r.err().code != error_code::internal) return fail(reply, r.err());
          spdlog::warn("api: workspace {}: the {} tokens could not be opened to revoke them; disconnecting anyway", sc->workspace_id,
                       oauth::api_name(p));
          return forget(std::nullopt);
        }
        if (!*r)
          return reply(error_response({bhttp::status::not_found, "not_found",
                                       "the workspace has no connected " + std::string(oauth::api_name(p)) + " account", "provider", 0}));
        if (!(*r)->active || !o.client) return forget(std::nullopt);
        if (p == oauth::provider::calendly) return unsubscribe(std::move(**r));
        revoke(**r, std::nullopt);
      });
}

void get_sender(api_service& api, scoped_call&& call, responder reply) {
  auto ws = call.workspace_id;
  api.db([ws](pg::connection& c) { return storage::oauth::email_sender_of(c, ws); },
         [reply](result<std::string> r) {
           if (!r) return fail(reply, r.err());
           reply(json_reply(bhttp::status::ok, json::object{{"provider", *r}}));
         });
}

void put_sender(api_service& api, scoped_call&& call, responder reply) {
  body_reader b(call.call.body);
  auto provider = b.string("provider", true, 32);
  if (auto e = b.finish()) return reply(error_response(*e));
  if (*provider != "smtp" && *provider != "google" && *provider != "outlook")
    return reply(error_response(api_error::invalid("provider", "provider must be smtp, google or outlook")));
  auto ws = call.workspace_id;
  api.db([ws, provider = *provider](pg::connection& c) { return storage::oauth::set_email_sender(c, ws, provider); },
         [reply, provider = *provider](result<void> r) {
           if (!r) return fail(reply, r.err());
           reply(json_reply(bhttp::status::ok, json::object{{"provider", provider}}));
         });
}

}  // namespace

void add_integration_routes(api_service& api, integration_options o) {
  const std::string base = "/workspaces/{id}/integrations";
  route_options with_body;
  with_body.body = true;
  add_workspace_route(api, verb::get, base + "/email-sender", {}, action::read,
                      [&api](scoped_call&& sc, responder reply) { get_sender(api, std::move(sc), std::move(reply)); });
  add_workspace_route(api, verb::put, base + "/email-sender", with_body, action::manage_workspace,
                      [&api](scoped_call&& sc, responder reply) { put_sender(api, std::move(sc), std::move(reply)); });
  add_workspace_route(api, verb::post, base + "/{provider}/connect", with_body, action::manage_workspace,
                      [&api, o](scoped_call&& sc, responder reply) { connect(api, o, std::move(sc), std::move(reply)); });
  add_workspace_route(api, verb::post, base + "/{provider}/callback", with_body, action::manage_workspace,
                      [&api, o](scoped_call&& sc, responder reply) { callback(api, o, std::move(sc), std::move(reply)); });
  add_workspace_route(api, verb::delete_, base + "/{provider}", {}, action::manage_workspace,
                      [&api, o](scoped_call&& sc, responder reply) { disconnect(api, o, std::move(sc), std::move(reply)); });
}

}  // namespace flowtrack::http::api
