// What a webhook endpoint may be: the event names it may subscribe to, its URL (SSRF guard),
// retry numbers and auth header; and new Standard Webhooks secrets. No I/O but DNS.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "adapters/webhook/address_guard.hpp"
#include "runtime/error.hpp"
#include "storage/webhooks.hpp"

namespace flowtrack::webhook {

/// The events an endpoint may subscribe to: lead.created, lead.updated, lead.status_changed,
/// execution.completed, execution.failed, email.sent, email.opened, email.clicked, and "*".
const std::vector<std::string_view>& webhook_event_names();

/// Whether FlowTrack lets an endpoint set a header of this name (a token, not one FlowTrack
/// sets itself such as webhook-signature, content-type or host).
bool may_set_auth_header(std::string_view name);

/// Checks a new endpoint: an http(s) URL the policy lets webhooks reach (resolving its host:
/// blocking), 1+ known events without repeats, description up to 255 characters, max_retries
/// 0-50, retry_delay_seconds 1-86400, an auth header name FlowTrack may set (up to 100
/// characters) with a value of 1-8192 bytes without control characters. Errors name the field
/// (`invalid`), or `unavailable` when the URL's host does not resolve.
result<void> check_new_endpoint(const storage::new_webhook_endpoint& e, const address_policy& policy);

/// A new signing secret: "whsec_" + base64 of 32 random bytes (Standard Webhooks).
result<std::string> new_webhook_secret();

}  // namespace flowtrack::webhook
