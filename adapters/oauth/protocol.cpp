// The providers' protocols as values. Token values pass through here but never into an error
// message: errors quote only the provider's `error` and `error_description`.
#include "adapters/oauth/protocol.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>

#include "adapters/mail/message.hpp"
#include "crypto/base64url.hpp"
#include "runtime/text.hpp"

namespace flowtrack::oauth {
namespace json = boost::json;
namespace {

// The provider's text cut to `n` bytes at a UTF-8 boundary, control characters blanked.
std::string quote(std::string_view s, std::size_t n = 300) {
  std::string out;
  for (unsigned char c : s.substr(0, n)) out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80)) out.pop_back();
  return out;
}

std::optional<json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::optional<std::string> string_of(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string() || v->as_string().empty()) return std::nullopt;
  return std::string(v->as_string());
}

}  // namespace

std::string_view api_name(provider p) {
  switch (p) {
    case provider::google: return "google";
    case provider::outlook: return "outlook";
    case provider::calendly: return "calendly";
  }
  return "";
}

std::string_view label(provider p) {
  switch (p) {
    case provider::google: return "Google";
    case provider::outlook: return "Outlook";
    case provider::calendly: return "Calendly";
  }
  return "";
}

std::string_view provider_type(provider p) {
  switch (p) {
    case provider::google: return storage::oauth::k_google;
    case provider::outlook: return storage::oauth::k_outlook;
    case provider::calendly: return storage::oauth::k_calendly;
  }
  return "";
}

std::optional<provider> parse_provider(std::string_view name) {
  if (name == "google") return provider::google;
  if (name == "outlook") return provider::outlook;
  if (name == "calendly") return provider::calendly;
  return std::nullopt;
}

std::optional<provider> from_provider_type(std::string_view type) {
  if (type == storage::oauth::k_google) return provider::google;
  if (type == storage::oauth::k_outlook) return provider::outlook;
  if (type == storage::oauth::k_calendly) return provider::calendly;
  return std::nullopt;
}

provider_config config_for(provider p, const config::settings& s) {
  provider_config c;
  if (p == provider::google) {
    c = {s.google_oauth_client_id,   s.google_oauth_client_secret, s.google_oauth_authorize_url,
         s.google_oauth_token_url,   s.google_userinfo_url,        s.google_oauth_revoke_url,
         s.gmail_api_url,            "openid email https://www.googleapis.com/auth/gmail.send"};
  } else if (p == provider::calendly) {
    c = {s.calendly_oauth_client_id, s.calendly_oauth_client_secret, s.calendly_oauth_authorize_url, s.calendly_oauth_token_url,
         "",                         "",                             s.calendly_api_url,             ""};
  } else {
    c = {s.microsoft_oauth_client_id,  s.microsoft_oauth_client_secret, s.microsoft_oauth_authorize_url,
         s.microsoft_oauth_token_url,  s.microsoft_userinfo_url,        s.microsoft_oauth_revoke_url,
         s.microsoft_graph_url,        "openid email offline_access https://graph.microsoft.com/Mail.Send"};
  }
  return c;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out += '&';
    out += runtime::percent_encode(k) + "=" + runtime::percent_encode(v);
  }
  return out;
}

std::string authorization_url(provider p, const provider_config& c, std::string_view redirect_uri, std::string_view state,
                              std::string_view code_challenge) {
  std::vector<std::pair<std::string, std::string>> q{{"response_type", "code"},
                                                     {"client_id", c.client_id},
                                                     {"redirect_uri", std::string(redirect_uri)}};
  if (!c.scopes.empty()) q.emplace_back("scope", c.scopes);
  q.emplace_back("state", std::string(state));
  q.emplace_back("code_challenge", std::string(code_challenge));
  q.emplace_back("code_challenge_method", "S256");
  if (p == provider::google) {
    q.emplace_back("access_type", "offline");
    q.emplace_back("prompt", "consent");
  }
  return c.authorize_url + (c.authorize_url.find('?') == std::string::npos ? "?" : "&") + form_encode(q);
}

std::string code_exchange_body(const provider_config& c, std::string_view code, std::string_view redirect_uri,
                               std::string_view code_verifier) {
  return form_encode({{"grant_type", "authorization_code"},
                      {"code", std::string(code)},
                      {"redirect_uri", std::string(redirect_uri)},
                      {"client_id", c.client_id},
                      {"client_secret", c.client_secret},
                      {"code_verifier", std::string(code_verifier)}});
}

std::string refresh_body(const provider_config& c, std::string_view refresh_token) {
  return form_encode({{"grant_type", "refresh_token"},
                      {"refresh_token", std::string(refresh_token)},
                      {"client_id", c.client_id},
                      {"client_secret", c.client_secret}});
}

result<storage::oauth::token_set> parse_token_response(int status, std::string_view body, std::int64_t now_ms) {
  auto o = parse_object(body);
  if (status == 429 || status >= 500)
    return make_error(error_code::unavailable, "the provider's token endpoint answered " + std::to_string(status) + "; try again later");
  if (status == 400 || status == 401) {
    std::string code = o ? string_of(*o, "error").value_or("invalid_request") : "invalid_request";
    std::string message = "the provider refused the token request: " + quote(code);
    if (o)
      if (auto d = string_of(*o, "error_description")) message += " (" + quote(*d) + ")";
    return make_error(code == "invalid_grant" ? error_code::unauthorized : error_code::invalid, std::move(message), quote(code, 64));
  }
  if (status != 200 || !o)
    return make_error(error_code::internal, "the provider's token endpoint answered " + std::to_string(status) + " without a token");
  storage::oauth::token_set t;
  auto access = string_of(*o, "access_token");
  if (!access) return make_error(error_code::internal, "the provider's token answer has no access_token");
  t.access_token = std::move(*access);
  t.refresh_token = string_of(*o, "refresh_token");
  t.scope = string_of(*o, "scope");
  t.owner = string_of(*o, "owner");
  t.organization = string_of(*o, "organization");
  if (auto type = string_of(*o, "token_type")) {
    if (*type != "Bearer" && *type != "bearer")
      return make_error(error_code::internal, "the provider's token answer has token_type " + quote(*type, 20) + ", not Bearer");
    t.token_type = "Bearer";
  }
  if (auto* e = o->if_contains("expires_in")) {
    std::int64_t s = -1;
    if (e->is_int64()) s = e->as_int64();
    else if (e->is_uint64()) s = static_cast<std::int64_t>(e->as_uint64());
    else if (e->is_string()) {  // some providers send it as a string
      try {
        s = std::stoll(std::string(e->as_string()));
      } catch (...) {
        s = -1;
      }
    }
    if (s < 0 || s > 10LL * 365 * 86400) return make_error(error_code::internal, "the provider's token answer has an unusable expires_in");
    t.expires_at_ms = now_ms + s * 1000;
  }
  return t;
}

result<storage::oauth::account> calendly_account(const storage::oauth::token_set& t) {
  if (!t.owner || !t.organization)
    return make_error(error_code::internal, "Calendly's token answer names no owner or organization");
  storage::oauth::account a;
  a.provider_user_id = t.owner->substr(0, 255);
  return a;
}

std::string calendly_subscription_body(const calendly_subscription_request& r) {
  return json::serialize(json::object{{"url", r.callback_url},
                                      {"events", json::array{"invitee.created"}},
                                      {"organization", r.organization},
                                      {"user", r.user},
                                      {"scope", "user"},
                                      {"signing_key", r.signing_key}});
}

result<std::string> parse_calendly_subscription(int status, std::string_view body) {
  auto o = parse_object(body);
  std::string said;
  if (o)
    if (auto m = string_of(*o, "message")) said = ": " + quote(*m);
  if (status == 409)
    return make_error(error_code::conflict,
                      "Calendly already has a webhook subscription for this workspace's URL (made by an earlier connect and not deleted)" + said +
                          "; delete it in Calendly (webhook subscriptions of the account) and connect again",
                      "webhook_exists");
  if (status == 429 || status >= 500)
    return make_error(error_code::unavailable, "Calendly's webhook_subscriptions answered " + std::to_string(status) + "; try again later");
  if (status == 401 || status == 403)
    return make_error(error_code::invalid, "Calendly refused to make the webhook subscription (" + std::to_string(status) + ")" + said,
                      "provider_refused");
  if (status != 201 && status != 200)
    return make_error(error_code::internal, "Calendly's webhook_subscriptions answered " + std::to_string(status) + said);
  const json::object* resource = nullptr;
  if (o)
    if (auto* r = o->if_contains("resource"); r && r->is_object()) resource = &r->as_object();
  auto uri = resource ? string_of(*resource, "uri") : std::nullopt;
  if (!uri) return make_error(error_code::internal, "Calendly's webhook subscription answer has no resource.uri");
  return *uri;
}

result<std::string> calendly_unsubscribe_url(std::string_view api_url, std::string_view subscription_uri) {
  auto uri = subscription_uri.substr(0, subscription_uri.find_first_of("?#"));
  while (!uri.empty() && uri.back() == '/') uri.remove_suffix(1);
  auto slash = uri.rfind('/');
  auto uuid = slash == std::string_view::npos ? std::string_view{} : uri.substr(slash + 1);
  bool plain = !uuid.empty() && std::all_of(uuid.begin(), uuid.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
  if (!plain || !uri.substr(0, slash).ends_with("/webhook_subscriptions"))
    return make_error(error_code::invalid, "the stored Calendly webhook subscription is not a webhook_subscriptions URI", "subscription");
  while (!api_url.empty() && api_url.back() == '/') api_url.remove_suffix(1);
  return std::string(api_url) + "/webhook_subscriptions/" + std::string(uuid);
}

result<void> parse_calendly_unsubscribe(int status, std::string_view body) {
  if ((status >= 200 && status < 300) || status == 404) return {};
  std::string said;
  if (auto o = parse_object(body))
    if (auto m = string_of(*o, "message")) said = ": " + quote(*m);
  if (status == 429 || status >= 500)
    return make_error(error_code::unavailable, "Calendly's webhook_subscriptions answered " + std::to_string(status) + "; try again later");
  if (status == 401 || status == 403)
    return make_error(error_code::invalid, "Calendly refused to delete the webhook subscription (" + std::to_string(status) + ")" + said,
                      "provider_refused");
  return make_error(error_code::internal, "Calendly's webhook_subscriptions answered " + std::to_string(status) + said);
}

result<storage::oauth::account> parse_userinfo(int status, std::string_view body) {
  if (status == 429 || status >= 500)
    return make_error(error_code::unavailable, "the provider's userinfo endpoint answered " + std::to_string(status) + "; try again later");
  if (status != 200) return make_error(error_code::invalid, "the provider's userinfo endpoint answered " + std::to_string(status), "code");
  auto o = parse_object(body);
  if (!o) return make_error(error_code::internal, "the provider's userinfo answer is not a JSON object");
  storage::oauth::account a;
  a.provider_user_id = string_of(*o, "sub");
  if (!a.provider_user_id) a.provider_user_id = string_of(*o, "id");
  a.email = string_of(*o, "email");
  if (!a.email) a.email = string_of(*o, "mail");
  if (!a.email) a.email = string_of(*o, "userPrincipalName");
  if (!a.email) return make_error(error_code::invalid, "the provider names no email address for this account (grant the email scope)", "code");
  if (a.provider_user_id && a.provider_user_id->size() > 255) a.provider_user_id->resize(255);
  return a;
}

std::string gmail_send_body(std::string_view rfc5322_message) {
  return json::serialize(json::object{{"raw", crypto::base64url_encode(rfc5322_message)}});
}

result<std::string> graph_send_body(const actors::email_message& m, std::string_view message_id) {
  auto to = mail::check_address(m.to, "to");
  if (!to) return to.err();
  for (auto [field, value] : {std::pair<const char*, const std::string*>{"subject", &m.subject}, {"text_body", &m.text_body},
                              {"html_body", &m.html_body}, {"from_name", &m.from_name}})
    if (!mail::valid_utf8(*value)) return make_error(error_code::invalid, std::string(field) + " is not UTF-8 text", field);
  for (char c : m.subject)
    if (c == '\r' || c == '\n') return make_error(error_code::invalid, "subject holds a line break", "subject");
  if (m.text_body.empty() && m.html_body.empty()) return make_error(error_code::invalid, "the email has no body", "text_body");
  bool html = !m.html_body.empty();
  json::object message{{"subject", m.subject},
                       {"body", json::object{{"contentType", html ? "HTML" : "Text"}, {"content", html ? m.html_body : m.text_body}}},
                       {"toRecipients", json::array{json::object{{"emailAddress", json::object{{"address", *to}}}}}},
                       {"internetMessageHeaders",
                        json::array{json::object{{"name", "X-FlowTrack-Message-Id"}, {"value", std::string(message_id)}}}}};
  if (!m.reply_to.empty()) {
    auto reply = mail::check_address(m.reply_to, "reply_to");
    if (!reply) return reply.err();
    message["replyTo"] = json::array{json::object{{"emailAddress", json::object{{"address", *reply}}}}};
  }
  return json::serialize(json::object{{"message", std::move(message)}, {"saveToSentItems", true}});
}

result<void> send_status(int status, std::string_view body, std::string_view api) {
  if (status >= 200 && status < 300) return {};
  std::string what = std::string(api) + " answered " + std::to_string(status);
  if (!body.empty()) what += ": " + quote(body);
  if (status == 401) return make_error(error_code::unauthorized, what, "access_token");
  if (status == 408) return make_error(error_code::timeout, what);
  if (status == 429 || status >= 500) return make_error(error_code::unavailable, what);
  return make_error(error_code::invalid, what, "provider");
}

}  // namespace flowtrack::oauth
