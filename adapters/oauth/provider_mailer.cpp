// Sending through Gmail or Graph, or on to SMTP. Each step that touches PostgreSQL is a pool job;
// each HTTP request goes through the provider client; the steps hand on through callbacks.
#include "adapters/oauth/provider_mailer.hpp"

#include <spdlog/spdlog.h>

#include "adapters/mail/message.hpp"
#include "domain/tracking.hpp"

namespace flowtrack::oauth {
namespace {

std::string provider_label(provider p) { return std::string(label(p)); }

// An error about the account as the mailer reports it: not worth retrying.
error account_error(provider p, const error& e) {
  if (e.subject == "invalid_grant")
    return make_error(error_code::invalid,
                      "the workspace's " + provider_label(p) +
                          " account no longer grants access (revoked or expired): reconnect it, or choose smtp as the email sender",
                      "emailSender");
  if (e.subject == "inactive" || e.code == error_code::not_found)
    return make_error(error_code::invalid,
                      "the workspace sends email through its " + provider_label(p) + " account, which is not connected: " + e.message,
                      "emailSender");
  return e;
}

}  // namespace

void tell_owner_revoked(pg::connection& c, actors::mailer_port& mail, const std::string& workspace_id, provider p) {
  spdlog::warn("oauth: the {} account of workspace {} no longer grants access (invalid_grant); it is now inactive", provider_label(p),
               workspace_id);
  auto owner = storage::oauth::owner_of(c, workspace_id);
  if (!owner) {
    spdlog::warn("oauth: the owner of workspace {} could not be told: {}", workspace_id, owner.err().message);
    return;
  }
  actors::email_message m;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  m.idempotency_key = "oauth-revoked:" + workspace_id + ":" + std::string(api_name(p)) + ":" + std::to_string(now);
  m.workspace_id = workspace_id;
  m.from_name = "FlowTrack";
  m.to = owner->email;
  m.subject = "Your " + provider_label(p) + " account was disconnected from " + owner->workspace_name;
  if (sends_mail(p))
    m.text_body = "FlowTrack can no longer send email through the " + provider_label(p) + " account connected to the workspace \"" +
                  owner->workspace_name + "\": the provider says access was revoked or has expired.\r\n\r\n" +
                  "Workflow emails of this workspace are not sent until you connect the account again (Integrations) or choose SMTP "
                  "as the email sender.\r\n";
  else
    m.text_body = "FlowTrack can no longer reach the Calendly account connected to the workspace \"" + owner->workspace_name +
                  "\": Calendly says access was revoked or has expired.\r\n\r\n" +
                  "Its bookings may no longer move leads to BOOKED until you connect Calendly again (Integrations).\r\n";
  mail.send(std::move(m), [workspace_id](result<std::string> r) {
    if (!r) spdlog::warn("oauth: the owner of workspace {} could not be told: {}", workspace_id, r.err().message);
  });
}

struct provider_mailer::attempt {
  actors::email_message message;
  std::function<void(result<std::string>)> done;
  provider which = provider::google;
  storage::oauth::credential credential;
  bool retried = false;
  std::string message_id;
};

provider_mailer::provider_mailer(pg::pool& postgres, const crypto::keyring& keys, provider_client& client, actors::mailer_port& smtp,
                                 provider_mailer_options options)
    : postgres_(postgres), keys_(keys), client_(client), smtp_(smtp), opts_(std::move(options)) {}

void provider_mailer::send(actors::email_message message, std::function<void(result<std::string>)> done) {
  if (message.workspace_id.empty()) return smtp_.send(std::move(message), std::move(done));
  auto a = std::make_shared<attempt>();
  a->message = std::move(message);
  a->done = std::move(done);
  // The route: nullopt for SMTP, else the provider with a credential valid for refresh_margin.
  postgres_.submit(
      [this, a](pg::connection& c) -> result<std::optional<storage::oauth::credential>> {
        auto sender = storage::oauth::email_sender_of(c, a->message.workspace_id);
        if (!sender) {
          if (sender.err().code == error_code::not_found) return std::optional<storage::oauth::credential>{};
          return sender.err();
        }
        auto p = parse_provider(*sender);
        if (!p || !sends_mail(*p)) return std::optional<storage::oauth::credential>{};
        a->which = *p;
        // Most sends find a token valid for a while: read without the row lock. Only a token due
        // for a refresh (or an inactive account, to say why) goes through refresh_credential.
        auto current = storage::oauth::load_credential(c, keys_, a->message.workspace_id, provider_type(*p));
        if (!current) return current.err();
        auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        if (*current && (*current)->active &&
            (!(*current)->expires_at_ms || *(*current)->expires_at_ms >= now + opts_.refresh_margin.count()))
          return std::optional<storage::oauth::credential>(std::move(**current));
        storage::oauth::refresh_policy policy;
        policy.min_valid_ms = opts_.refresh_margin.count();
        auto r = storage::oauth::refresh_credential(c, keys_, a->message.workspace_id, provider_type(*p), policy,
                                                    [this, p](const std::string& rt) { return client_.refresh_blocking(*p, rt); });
        if (!r) {
          if (r.err().subject == "invalid_grant") tell_owner_revoked(c, smtp_, a->message.workspace_id, *p);
          return account_error(*p, r.err());
        }
        return std::optional<storage::oauth::credential>(std::move(r->current));
      },
      [this, a](result<std::optional<storage::oauth::credential>> r) {
        if (!r) return a->done(r.err());
        if (!*r) return smtp_.send(std::move(a->message), std::move(a->done));
        a->credential = std::move(**r);
        transmit(a);
      });
}

void provider_mailer::transmit(std::shared_ptr<attempt> a) {
  const auto& m = a->message;
  std::string body;
  if (a->which == provider::google) {
    // Gmail sends the RFC 5322 message as composed (From is the connected account), tracked as SMTP's.
    auto links = keys_.can_seal() ? mail::tracking_links_for(m, keys_, opts_.public_url) : std::nullopt;
    mail::sender_identity from{a->credential.email.value_or("me@" + opts_.mail_domain), opts_.mail_domain};
    auto composed = mail::compose(m, from, std::chrono::system_clock::now(), links ? &*links : nullptr);
    if (!composed) return a->done(composed.err());
    a->message_id = composed->message_id;
    body = gmail_send_body(composed->text);
  } else {
    a->message_id = mail::message_id_for(m.idempotency_key, opts_.mail_domain);
    auto json = graph_send_body(m, a->message_id);
    if (!json) return a->done(json.err());
    body = std::move(*json);
  }
  client_.send_mail(a->which, a->credential.access_token, std::move(body), [this, a](result<void> sent) { after_send(a, std::move(sent)); });
}

void provider_mailer::after_send(std::shared_ptr<attempt> a, result<void> sent) {
  if (sent) {
    postgres_.submit([id = a->credential.id](pg::connection& c) { return storage::oauth::mark_used(c, id); },
                     [a](result<void> r) {
                       if (!r) spdlog::warn("oauth: last_used_at of credential {} not updated: {}", a->credential.id, r.err().message);
                       a->done(a->message_id);
                     });
    return;
  }
  if (sent.err().code != error_code::unauthorized) return a->done(sent.err());
  if (a->retried)
    return a->done(make_error(error_code::invalid, sent.err().message + " (after a token refresh)", "emailSender"));
  // 401: the token was revoked or expired early. Refresh unless someone already did, then once more.
  a->retried = true;
  postgres_.submit(
      [this, a](pg::connection& c) -> result<storage::oauth::credential> {
        storage::oauth::refresh_policy policy;
        policy.stale = a->credential.sealed_access_token;
        auto r = storage::oauth::refresh_credential(c, keys_, a->message.workspace_id, provider_type(a->which), policy,
                                                    [this, a](const std::string& rt) { return client_.refresh_blocking(a->which, rt); });
        if (!r) {
          if (r.err().subject == "invalid_grant") tell_owner_revoked(c, smtp_, a->message.workspace_id, a->which);
          return account_error(a->which, r.err());
        }
        return std::move(r->current);
      },
      [this, a](result<storage::oauth::credential> r) {
        if (!r) return a->done(r.err());
        a->credential = std::move(*r);
        transmit(a);
      });
}

}  // namespace flowtrack::oauth
