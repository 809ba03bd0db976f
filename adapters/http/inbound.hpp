// `POST /inbound/email`: a raw MIME message (`Content-Type: message/rfc822`) delivered over HTTP
// the way hosted inbound providers deliver mail, authenticated by the workspace's inbound token
// (`X-FlowTrack-Token` or `Authorization: Bearer`). It goes the same path as mail to the SMTP
// intake address: 202 once kept, 503 with Retry-After when it should be sent again.
#pragma once

#include <functional>
#include <string>

#include "adapters/http/server.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::http {

/// Hands a raw message for a workspace's intake address to the mail intake; answers with the
/// SMTP reply it would give (code, enhanced code, text), from any thread.
using inbound_mail_fn = std::function<void(std::string intake_id, std::string client_ip, std::string raw,
                                           std::function<void(int code, std::string enhanced, std::string text)> done)>;

struct inbound_targets {
  pg::pool* postgres = nullptr;  ///< where the token is looked up
  inbound_mail_fn deliver;
};

/// The body limit of the route (raw mail with attachments): 25 MiB.
inline constexpr std::size_t k_inbound_body_limit = 25 * 1024 * 1024;

void inbound_email(const inbound_targets& t, request&& req, const request_info& info, responder reply);

}  // namespace flowtrack::http
