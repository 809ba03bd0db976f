// The SMTP server's handler for lead intake: a recipient is accepted only when it is a
// workspace's intake address (`intake@{intake_email_id}.{mail domain}`, or `intake+{tag}@...` for
// one workflow) that an active email workflow listens on; a message is parsed (GMime), its lead
// found (the original sender of a forward, else the From header's sender), and handed to each
// workflow the recipients reach as an EMAIL trigger. 250 only after every trigger committed.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>

#include "actors/reply.hpp"
#include "adapters/smtp/server.hpp"
#include "domain/intake.hpp"
#include "domain/mail/auth_results.hpp"
#include "domain/mail/lead.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::smtp {

/// An intake address split into its parts.
struct intake_address {
  std::string intake_id;  ///< lower-case
  std::string tag;        ///< empty without `+tag`
};

/// Reads `intake[+tag]@{intake_id}.{mail_domain}` case-insensitively; nullopt for any other
/// address.
std::optional<intake_address> parse_intake_address(const address& a, std::string_view mail_domain);

/// The EMAIL trigger a parsed message makes: the lead ({"email","name","company_name","phone"}),
/// trigger data (subject, text, sender, forwarder, attachments), source metadata (forwarder,
/// subject, Message-ID, what was detected, the client) and an idempotency key from the
/// Message-ID (else a digest of the message), so a message sent again starts nothing new.
/// `auth`: the trusted Authentication-Results, recorded as source_metadata.authentication.
domain::intake_request email_trigger(const domain::mail::message& m, const domain::mail::lead_extraction& lead,
                                     const envelope& env, std::string_view raw, std::string_view channel = "smtp",
                                     const std::optional<domain::mail::auth_results>& auth = std::nullopt);

class intake_handler final : public handler {
 public:
  /// `deadlines` bounds what the engine owes at once (shared with HTTP ingress).
  /// Authentication-Results from `trusted_authserv_ids` are recorded in source_metadata.
  intake_handler(caf::actor_system& system, std::shared_ptr<actors::reply_deadlines> deadlines, std::string mail_domain,
                 std::vector<std::string> trusted_authserv_ids = {});

  void check_sender(const envelope& so_far, reply_callback done) override;
  void check_recipient(const envelope& so_far, const address& rcpt, reply_callback done) override;
  void deliver(const envelope& env, std::string message, reply_callback done) override;

  /// A message for one workspace's intake address that came another way (POST /inbound/email):
  /// the same path as mail to that address.
  void deliver_to(const std::string& intake_id, const std::string& client_ip, std::string message, reply_callback done);

 private:
  static constexpr int k_parse_threads = 2;
  static constexpr std::size_t k_parse_queue = 256;  ///< messages waiting for a parser; more get 451

  void take(const envelope& env, std::string message, std::string_view channel, reply_callback done);
  void parse_and_hand_over(const envelope& env, std::string message, std::string_view channel, reply_callback done);
  void ask(actors::mail_request req, std::function<void(actors::mail_result)> then);

  caf::actor_system& system_;
  std::shared_ptr<actors::reply_deadlines> deadlines_;
  std::string mail_domain_;
  std::vector<std::string> trusted_authserv_ids_;
  storage::worker_pool<int> parsers_;  ///< last: its threads end before the rest goes
};

}  // namespace flowtrack::smtp
