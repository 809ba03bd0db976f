// The tracking links of sent emails: the open pixel `GET /t/o/{token}.gif`, the click redirect
// `GET /t/c/{token}` and unsubscribe (`GET /t/u/{token}`, a page with one button, and
// `POST /t/u/{token}`, also RFC 8058 one-click). Tokens are signed by the node's key ring
// (purpose "tracking"), so a redirect only goes to a URL that was in the email. What they record
// goes through storage/tracking on the PostgreSQL pool: single-row updates, no engine state.
#pragma once

#include <string>
#include <string_view>

#include "adapters/http/server.hpp"
#include "crypto/secret_box.hpp"
#include "domain/tracking.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::http {

/// What the tracking routes need.
struct tracking_targets {
  pg::pool* postgres = nullptr;
  const crypto::keyring* keys = nullptr;
};

/// Serves `/t/...` (`rest` is the path after "/t/").
void tracking_route(const tracking_targets& t, std::string_view rest, request&& req, responder reply);

}  // namespace flowtrack::http
