// Provider calls over the post_port.
#include "adapters/oauth/provider_client.hpp"

#include <future>
#include <memory>

namespace flowtrack::oauth {
namespace {

const std::pair<std::string, std::string> k_form{"Content-Type", "application/x-www-form-urlencoded"};
const std::pair<std::string, std::string> k_accept{"Accept", "application/json"};

}  // namespace

error transport_error(const actors::post_answer& a, std::string_view what) {
  auto code = a.failure ? a.failure->code : error_code::unavailable;
  if (code != error_code::timeout) code = error_code::unavailable;
  return make_error(code, std::string(what) + " could not be reached: " + (a.failure ? a.failure->message : "no answer"), "provider");
}

provider_client::provider_client(actors::post_port& http, const config::settings& s, std::function<std::int64_t()> now_ms)
    : http_(http), google_(config_for(provider::google, s)), outlook_(config_for(provider::outlook, s)),
      calendly_(config_for(provider::calendly, s)), public_base_url_(s.public_base_url()), now_ms_(std::move(now_ms)) {
  while (!public_base_url_.empty() && public_base_url_.back() == '/') public_base_url_.pop_back();
}

std::int64_t provider_client::now_ms() const {
  if (now_ms_) return now_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void provider_client::post(const std::string& url, std::vector<std::pair<std::string, std::string>> headers, std::string body,
                           std::function<void(actors::post_answer)> done, std::string method) {
  actors::outgoing_post request{url, std::move(headers), std::move(body)};
  request.method = std::move(method);
  http_.post(std::move(request), std::move(done));
}

void provider_client::exchange_code(provider p, const std::string& code, const std::string& redirect_uri, const std::string& verifier,
                                    std::function<void(result<storage::oauth::token_set>)> done) {
  const auto& c = config(p);
  post(c.token_url, {k_form, k_accept}, code_exchange_body(c, code, redirect_uri, verifier),
       [this, done = std::move(done)](actors::post_answer a) {
         if (a.status == 0) return done(transport_error(a, "the provider's token endpoint"));
         done(parse_token_response(a.status, a.body, now_ms()));
       });
}

void provider_client::refresh(provider p, const std::string& refresh_token, std::function<void(result<storage::oauth::token_set>)> done) {
  const auto& c = config(p);
  post(c.token_url, {k_form, k_accept}, refresh_body(c, refresh_token), [this, done = std::move(done)](actors::post_answer a) {
    if (a.status == 0) return done(transport_error(a, "the provider's token endpoint"));
    done(parse_token_response(a.status, a.body, now_ms()));
  });
}

result<storage::oauth::token_set> provider_client::refresh_blocking(provider p, const std::string& refresh_token,
                                                                    std::chrono::milliseconds limit) {
  auto promise = std::make_shared<std::promise<result<storage::oauth::token_set>>>();
  auto answer = promise->get_future();
  refresh(p, refresh_token, [promise](result<storage::oauth::token_set> r) { promise->set_value(std::move(r)); });
  if (answer.wait_for(limit) != std::future_status::ready)
    return make_error(error_code::timeout, "the provider's token endpoint did not answer in time", "provider");
  return answer.get();
}

void provider_client::userinfo(provider p, const std::string& access_token, std::function<void(result<storage::oauth::account>)> done) {
  post(config(p).userinfo_url, {{"Authorization", "Bearer " + access_token}, k_form, k_accept}, "",
       [done = std::move(done)](actors::post_answer a) {
         if (a.status == 0) return done(transport_error(a, "the provider's userinfo endpoint"));
         done(parse_userinfo(a.status, a.body));
       });
}

void provider_client::revoke(provider p, const std::string& token, std::function<void(result<void>)> done) {
  const auto& c = config(p);
  if (c.revoke_url.empty()) return done(result<void>{});
  post(c.revoke_url, {k_form, k_accept}, form_encode({{"token", token}}), [done = std::move(done)](actors::post_answer a) {
    if (a.status == 0) return done(transport_error(a, "the provider's revoke endpoint"));
    // 400 invalid_token: already revoked or expired, which is what a revoke wants.
    if ((a.status >= 200 && a.status < 300) || a.status == 400) return done(result<void>{});
    done(make_error(a.status >= 500 || a.status == 429 ? error_code::unavailable : error_code::invalid,
                    "the provider's revoke endpoint answered " + std::to_string(a.status), "provider"));
  });
}

std::string provider_client::calendly_callback_url(std::string_view workspace_id) const {
  return public_base_url_ + "/integrations/calendly/webhook/" + std::string(workspace_id);
}

void provider_client::create_calendly_subscription(const std::string& access_token, const calendly_subscription_request& r,
                                                   std::function<void(result<std::string>)> done) {
  post(calendly_.api_url + "/webhook_subscriptions",
       {{"Authorization", "Bearer " + access_token}, {"Content-Type", "application/json"}, k_accept}, calendly_subscription_body(r),
       [done = std::move(done)](actors::post_answer a) {
         if (a.status == 0) return done(transport_error(a, "Calendly's webhook_subscriptions endpoint"));
         done(parse_calendly_subscription(a.status, a.body));
       });
}

void provider_client::delete_calendly_subscription(const std::string& access_token, const std::string& subscription_uri,
                                                   std::function<void(result<void>)> done) {
  auto url = calendly_unsubscribe_url(calendly_.api_url, subscription_uri);
  if (!url) return done(url.err());
  post(*url, {{"Authorization", "Bearer " + access_token}, k_accept}, "",
       [done = std::move(done)](actors::post_answer a) {
         if (a.status == 0) return done(transport_error(a, "Calendly's webhook_subscriptions endpoint"));
         done(parse_calendly_unsubscribe(a.status, a.body));
       },
       "DELETE");
}

void provider_client::send_mail(provider p, const std::string& access_token, std::string body, std::function<void(result<void>)> done) {
  const auto& c = config(p);
  std::string url = p == provider::google ? c.api_url + "/gmail/v1/users/me/messages/send" : c.api_url + "/me/sendMail";
  std::string_view api = p == provider::google ? "Gmail" : "Microsoft Graph";
  post(url, {{"Authorization", "Bearer " + access_token}, {"Content-Type", "application/json"}, k_accept}, std::move(body),
       [api, done = std::move(done)](actors::post_answer a) {
         if (a.status == 0) return done(transport_error(a, api));
         done(send_status(a.status, a.body, api));
       });
}

}  // namespace flowtrack::oauth
