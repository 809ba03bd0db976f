// The ports through which runs cause side effects outside FlowTrack: outbound email and
// outbound webhooks. Actors call them; adapters (adapters/mail, adapters/webhook) implement
// them. Knows no transport.
#pragma once

#include <functional>
#include <string>

#include "runtime/error.hpp"

namespace flowtrack::actors {

/// An email to send on behalf of a workspace.
struct email_message {
  std::string idempotency_key;  ///< "<execution id>:<node id>"; becomes the Message-ID, so a resend is recognisable
  std::string workspace_id;
  std::string execution_id;
  std::string from_name;        ///< display name; the address is the node's configured sender
  std::string to;
  std::string reply_to;         ///< may be empty
  std::string subject;
  std::string text_body;        ///< at least one of text_body and html_body is set
  std::string html_body;
};

/// Sends email. Implementations never block the caller and call `done` exactly once, from any
/// thread, with the Message-ID used or an error (`unavailable`/`timeout` are worth retrying).
class mailer_port {
 public:
  virtual ~mailer_port() = default;
  virtual void send(email_message message, std::function<void(result<std::string>)> done) = 0;
};

/// A webhook to deliver to one of the workspace's endpoints.
struct webhook_message {
  std::string idempotency_key;  ///< "<execution id>:<node id>"; sent as `webhook-id`
  std::string workspace_id;
  std::string execution_id;
  std::string endpoint_id;      ///< webhook_endpoints.id, scoped by workspace_id
  std::string event_type;       ///< e.g. "lead.workflow_action"
  std::string payload;          ///< JSON text
};

/// What the receiver answered.
struct webhook_outcome {
  int http_status = 0;
  std::string delivery_id;      ///< webhook_deliveries.id recorded for this attempt
};

/// Delivers webhooks (Standard Webhooks headers and signature). Never blocks the caller; calls
/// `done` exactly once, from any thread. A non-2xx answer is an error (`unavailable` for 5xx and
/// network failures, `invalid` for 4xx, `not_found` for an unknown or inactive endpoint).
class webhook_port {
 public:
  virtual ~webhook_port() = default;
  virtual void deliver(webhook_message message, std::function<void(result<webhook_outcome>)> done) = 0;
};

}  // namespace flowtrack::actors
