#include "adapters/smtp/intake.hpp"

#include <atomic>
#include <mutex>
#include <set>
#include <utility>

#include <boost/json.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/engine.hpp"
#include "metrics/metrics.hpp"
#include "domain/mail/message.hpp"
#include "runtime/text.hpp"
#include "storage/hash.hpp"

namespace flowtrack::smtp {
namespace json = boost::json;
namespace {

/// The text kept in a trigger's data; the whole message is not (attachments can be megabytes).
constexpr std::size_t k_max_trigger_text = 64 * 1024;
/// Attachments listed in a trigger's data, and the longest name kept.
constexpr std::size_t k_max_listed_attachments = 50;
constexpr std::size_t k_max_attachment_name = 200;

reply make_reply(int code, std::string enhanced, std::string text) { return reply{code, std::move(enhanced), std::move(text)}; }

// What the engine's answer means to the client.
reply reply_of(const error& e, std::string_view what) {
  switch (e.code) {
    case error_code::not_found: return make_reply(550, "5.1.1", std::string(what) + ": " + e.message);
    case error_code::invalid: return make_reply(554, "5.6.0", "message refused: " + e.message);
    case error_code::unauthorized: return make_reply(550, "5.7.1", e.message);
    default: return make_reply(451, "4.3.0", "temporary failure; try again later");
  }
}

// Cuts a UTF-8 text to at most `n` bytes without splitting a character.
std::string cut_utf8(std::string_view s, std::size_t n) {
  if (s.size() <= n) return std::string(s);
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

// The message as the client sent it: without the Received: field the SMTP server put above it,
// which differs on every delivery, so a resend's digest is the first one's.
std::string_view as_sent(std::string_view message, std::string_view channel) {
  if (channel != "smtp" || !message.starts_with("Received:")) return message;
  for (auto i = message.find("\r\n"); i != std::string_view::npos; i = message.find("\r\n", i + 2))
    if (i + 2 >= message.size() || (message[i + 2] != ' ' && message[i + 2] != '\t')) return message.substr(i + 2);
  return message;
}

json::object mailbox_json(const domain::mail::mailbox& m) { return json::object{{"name", m.name}, {"email", m.address}}; }

}  // namespace

std::optional<intake_address> parse_intake_address(const address& a, std::string_view mail_domain) {
  std::string local = a.local, domain = a.domain;
  runtime::to_lower_ascii(local);
  runtime::to_lower_ascii(domain);
  // {intake_id}.{mail_domain}: the domain ends with the mail domain, a dot before it.
  std::size_t n = mail_domain.size();
  if (domain.size() <= n + 1 || domain[domain.size() - n - 1] != '.' ||
      !runtime::iequals(std::string_view(domain).substr(domain.size() - n), mail_domain))
    return std::nullopt;
  intake_address out;
  out.intake_id = domain.substr(0, domain.size() - n - 1);
  if (out.intake_id.empty() || out.intake_id.find('.') != std::string::npos) return std::nullopt;
  if (local == "intake") return out;
  if (!local.starts_with("intake+") || local.size() == 7) return std::nullopt;
  out.tag = a.local.substr(7);  // as written: a form slug is compared case-insensitively, an id canonically
  return out;
}

domain::intake_request email_trigger(const domain::mail::message& m, const domain::mail::lead_extraction& lead,
                                     const envelope& env, std::string_view raw, std::string_view channel,
                                     const std::optional<domain::mail::auth_results>& auth) {
  domain::intake_request req;
  req.kind = domain::trigger_kind::email;
  json::object l{{"email", lead.email}};
  if (!lead.name.empty()) l["name"] = lead.name;
  if (!lead.company_name.empty()) l["company_name"] = lead.company_name;
  if (!lead.phone.empty()) l["phone"] = lead.phone;
  req.lead = std::move(l);

  json::array attachments;
  for (std::size_t i = 0; i < m.attachments.size() && i < k_max_listed_attachments; ++i) {
    const auto& a = m.attachments[i];
    attachments.push_back(json::object{{"name", cut_utf8(a.file_name, k_max_attachment_name)},
                                       {"type", cut_utf8(a.content_type, k_max_attachment_name)},
                                       {"size", a.size}});
  }
  json::object data{{"email", lead.email},
                    {"name", lead.name},
                    {"subject", lead.subject},
                    {"text", cut_utf8(lead.body, k_max_trigger_text)},
                    {"messageId", m.message_id},
                    {"format", domain::mail::to_string(lead.format)},
                    {"forwarded", lead.forwarded},
                    {"attachments", std::move(attachments)}};
  if (!m.from.empty()) data["from"] = mailbox_json(m.from.front());
  if (lead.forwarded) data["forwarder"] = mailbox_json(lead.forwarder);
  req.trigger_data = std::move(data);

  json::object meta{{"channel", channel},
                    {"clientIp", env.client_ip},
                    {"helo", env.helo},
                    {"envelopeFrom", env.mail_from.text},
                    {"subject", lead.subject},
                    {"messageId", m.message_id},
                    {"format", domain::mail::to_string(lead.format)},
                    {"forwarded", lead.forwarded},
                    {"fromHtml", lead.from_html},
                    {"tls", env.tls}};
  if (lead.forwarded) meta["forwarder"] = mailbox_json(lead.forwarder);
  if (!lead.language.empty()) meta["language"] = lead.language;
  if (!lead.notes.empty()) meta["notes"] = json::value_from(lead.notes);
  if (auth) {
    // The verdicts on the message as it reached us: the forwarder's (or a direct sender's).
    json::object a{{"authservId", auth->authserv_id}};
    for (const auto& v : auth->verdicts) {
      if (v.method != "spf" && v.method != "dkim" && v.method != "dmarc") continue;
      // Several of one method (a DKIM signature per signer): a pass counts, else the first.
      if (auto* seen = a.if_contains(v.method); seen && (*seen == "pass" || v.result != "pass")) continue;
      a[v.method] = v.result;
      if (v.domain.empty()) a.erase(v.method + "Domain");
      else a[v.method + "Domain"] = v.domain;
    }
    meta["authentication"] = std::move(a);
  }
  req.source_metadata = std::move(meta);

  // The same message sent again (a retry after 451, a second delivery) starts nothing new.
  req.idempotency_key = "mail:" + (m.message_id.empty() || m.message_id.size() > 200 ? "sha256:" + storage::sha256_hex(m.message_id.empty() ? raw : std::string_view(m.message_id))
                                                                                    : m.message_id);
  return req;
}

intake_handler::intake_handler(caf::actor_system& system, std::shared_ptr<actors::reply_deadlines> deadlines,
                               std::string mail_domain, std::vector<std::string> trusted_authserv_ids)
    : system_(system),
      deadlines_(std::move(deadlines)),
      mail_domain_(std::move(mail_domain)),
      trusted_authserv_ids_(std::move(trusted_authserv_ids)),
      parsers_(k_parse_threads, [] { return 0; }, k_parse_queue) {}

void intake_handler::ask(actors::mail_request req, std::function<void(actors::mail_result)> then) {
  auto slot = deadlines_->try_make<actors::mail_result>(then);
  if (!slot) return then(actors::mail_result(make_error(error_code::unavailable, "the node is busy")));
  auto registry = actors::engine_registry(system_);
  if (!registry) return slot->deliver(actors::mail_result(make_error(error_code::unavailable, "the engine is not running")));
  caf::anon_send(registry, actors::mail_atom::value, std::move(req), std::move(slot));
}

void intake_handler::check_sender(const envelope&, reply_callback done) { done(make_reply(250, "2.1.0", "sender ok")); }

void intake_handler::check_recipient(const envelope& so_far, const address& rcpt, reply_callback done) {
  auto to = parse_intake_address(rcpt, mail_domain_);
  if (!to) return done(make_reply(550, "5.1.1", "no such mailbox here"));
  actors::mail_request req{to->intake_id, to->tag, so_far.mail_from.text, std::nullopt, std::nullopt};
  ask(std::move(req), [done](actors::mail_result r) {
    if (!r.ok()) return done(reply_of(r.err(), "recipient refused"));
    done(make_reply(250, "2.1.5", "recipient ok"));
  });
}

void intake_handler::deliver_to(const std::string& intake_id, const std::string& client_ip, std::string message,
                                reply_callback done) {
  envelope env;
  env.client_ip = client_ip;
  env.helo = "http";
  env.recipients.push_back(address{"intake@" + intake_id + "." + mail_domain_, "intake", intake_id + "." + mail_domain_});
  take(env, std::move(message), "http", std::move(done));
}

void intake_handler::deliver(const envelope& env, std::string message, reply_callback done) {
  take(env, std::move(message), "smtp", std::move(done));
}

void intake_handler::take(const envelope& env, std::string message, std::string_view channel, reply_callback done) {
  // Parsing costs real CPU on a big message: never on the SMTP I/O thread (every session waits
  // on it) nor on a pool thread of the caller; a full parse queue defers the message.
  bool queued = parsers_.try_submit([this, env, message = std::move(message), channel, done](int&) mutable {
    parse_and_hand_over(env, std::move(message), channel, std::move(done));
  });
  if (!queued) {
    static auto& deferred = metrics::global().counters("flowtrack_mail_intake_deferred_total",
                                                       "Messages answered 451 because the parse queue was full.");
    deferred.at({}).add();
    done(make_reply(451, "4.3.2", "busy; try again later"));
  }
}

void intake_handler::parse_and_hand_over(const envelope& env, std::string message, std::string_view channel,
                                         reply_callback done) {
  // One delivery per distinct intake address; 250 once all are kept.
  std::set<std::pair<std::string, std::string>> targets;
  for (const auto& r : env.recipients)
    if (auto to = parse_intake_address(r, mail_domain_)) targets.emplace(to->intake_id, to->tag);
  if (targets.empty()) return done(make_reply(554, "5.5.1", "no valid recipients"));

  // What each workspace gets: the mail as a trigger, or, when no lead can be read from it, the
  // mail itself to keep for the owner (the sender has no use for a refusal: it may be a machine
  // forwarding whatever arrives, and the message would be lost).
  actors::mail_request base;
  base.sender = env.mail_from.text;
  std::string id;
  auto parsed = domain::mail::parse(message);
  auto lead = parsed ? domain::mail::extract_lead(*parsed) : domain::mail::lead_extraction{};
  if (!parsed || lead.email.empty()) {
    static auto& unreadable = metrics::global().counters("flowtrack_mail_intake_unreadable_total",
                                                         "Intake messages kept raw because no lead could be read from them.");
    unreadable.at({}).add();
    domain::unparsed_mail u;
    u.reason = parsed ? "no sender address could be read" : parsed.err().message;
    u.channel = std::string(channel);
    u.envelope_from = env.mail_from.text;
    u.client_ip = env.client_ip;
    u.digest = storage::sha256_hex(as_sent(message, channel));
    u.raw = std::move(message);
    id = "unreadable";
    base.unparsed = std::move(u);
  } else {
    base.intake = email_trigger(*parsed, lead, env, as_sent(message, channel), channel, domain::mail::trusted_auth_results(*parsed, trusted_authserv_ids_));
    id = base.intake->idempotency_key.value_or("");
    // Over HTTP there is no envelope: the allowed-forwarders rule reads the From header.
    if (channel == "http" && base.sender.empty() && !parsed->from.empty()) base.sender = parsed->from.front().address;
  }

  struct join {
    std::atomic<std::size_t> waiting{0};
    std::mutex mutex;
    std::optional<error> retry, refused;
    std::size_t kept = 0;
    reply_callback done;
  };
  auto j = std::make_shared<join>();
  j->waiting = targets.size();
  j->done = std::move(done);
  std::size_t left = targets.size();
  for (const auto& [intake_id, tag] : targets) {
    actors::mail_request req;
    if (--left == 0) req = std::move(base);  // the message is copied only for a second address
    else req = base;
    req.intake_id = intake_id;
    req.tag = tag;
    ask(std::move(req), [j, id](actors::mail_result r) {
      {
        std::lock_guard<std::mutex> lock(j->mutex);
        if (r.ok()) ++j->kept;
        else if (r.err().code == error_code::not_found || r.err().code == error_code::invalid ||
                 r.err().code == error_code::unauthorized)
          j->refused = r.err();
        else j->retry = r.err();
      }
      if (--j->waiting > 0) return;
      // A failure worth a retry wins: the workflows that took the message see the resend as a
      // duplicate of the same Message-ID.
      if (j->retry) {
        spdlog::warn("smtp intake: message {} deferred: {}", id, j->retry->message);
        return j->done(reply_of(*j->retry, ""));
      }
      if (j->kept == 0 && j->refused) return j->done(reply_of(*j->refused, "recipient refused"));
      j->done(make_reply(250, "2.0.0", "message accepted"));
    });
  }
}

}  // namespace flowtrack::smtp
