// `POST /inbound/email`: a raw MIME message (`Content-Type: message/rfc822`) delivered over HTTP
// the way hosted inbound providers deliver mail, authenticated by the workspace's inbound token
// (`X-FlowTrack-Token` or `Authorization: Bearer`). It goes the same path as mail to the SMTP
// intake address: 202 once kept, 503 with Retry-After when it should be sent again. The token is
// checked on the request head, before the body is read (admit_inbound_email).
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

/// The admission step of the route, on the request head before its body is read: the method
/// (405), the token (missing or not shaped like `ftin_` + 64 hex: 401 at once), the content type
/// (415), then the token's look-up in PostgreSQL (unknown: 401; PostgreSQL unavailable: 503 with
/// Retry-After). A known token admits the request with the intake id it names. Answers from the
/// pool's thread; never blocks the caller.
void admit_inbound_email(const inbound_targets& t, const request_head& head, const request_info& info, admission_callback done);

/// Hands an admitted message (`info.admitted`, the intake id) to the mail intake and answers.
/// A request that did not pass admit_inbound_email (a server without the admission step) goes
/// through it here first, its body already read.
void inbound_email(const inbound_targets& t, request&& req, const request_info& info, responder reply);

}  // namespace flowtrack::http
