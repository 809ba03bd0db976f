// The Google and Outlook mail integrations and Calendly over the management API (issue #16 item
// 4): connect (authorization code with PKCE), the callback that exchanges the code and stores the
// sealed tokens (Calendly: and makes the workspace's webhook subscription with a signing key of
// its own, kept sealed), disconnect, and the workspace's choice of email sender. Owners and admins only
// (manage_workspace); every statement scoped by the workspace. SQL is storage/oauth's, the
// providers' protocol adapters/oauth's; tokens never appear in an answer.
#pragma once

#include "adapters/http/api/api.hpp"
#include "adapters/oauth/provider_client.hpp"
#include "crypto/secret_box.hpp"

namespace flowtrack::http::api {

/// What the integration routes need. Pointers are borrowed and outlive the API.
struct integration_options {
  oauth::provider_client* client = nullptr;  ///< null: connect, callback and disconnect answer 503
  const crypto::keyring* keys = nullptr;     ///< null or keyless: connect answers 503 naming encryption_key
};

/// POST /workspaces/{id}/integrations/{provider}/connect, POST .../{provider}/callback,
/// DELETE .../integrations/{provider} ({provider}: google, outlook or calendly), and
/// GET|PUT /workspaces/{id}/integrations/email-sender.
void add_integration_routes(api_service& api, integration_options o);

}  // namespace flowtrack::http::api
