// Outgoing webhook tables as stored: webhook_endpoints (secrets sealed with the key ring),
// webhook_deliveries and their attempts, the re-encryption of secrets under a new key, and the
// operator's actions (secret rotation, disable/enable, listing and redelivering messages).
// Knows SQL and the crypto key ring; nothing of HTTP or actors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/secret_box.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// Longest secret_key plaintext: its sealed form must fit webhook_endpoints.secret_key
/// VARCHAR(255) (a whsec_ secret of 32 bytes is 50 characters, sealed 116).
constexpr std::size_t k_webhook_secret_max = 150;
static_assert(crypto::sealed_length(k_webhook_secret_max) <= 255);

/// The associated data a sealed column value is bound to: "<table>.<column>:<row id>".
std::string secret_context(std::string_view column, std::string_view endpoint_id);

/// A webhook endpoint to create; `secret` and `auth_header_value` are plaintext here and sealed
/// before they reach the database.
struct new_webhook_endpoint {
  std::string workspace_id;
  std::string url;
  std::optional<std::string> description;
  std::vector<std::string> events;
  std::optional<int> max_retries;          ///< NULL: the column default (3)
  std::optional<int> retry_delay_seconds;  ///< NULL: the column default (60)
  std::optional<std::string> secret;
  std::optional<std::string> auth_header_name;
  std::optional<std::string> auth_header_value;
};

/// Creates the endpoint with its secrets sealed under `keys`' current key (bound to the new
/// row's id); returns the id. No current key (and a secret to store) is `unavailable` naming
/// encryption_key; nothing is written in plaintext. A missing workspace is `not_found`.
result<std::string> create_webhook_endpoint(pg::connection& c, const new_webhook_endpoint& e, const crypto::keyring& keys);

/// An endpoint as listed: everything but the secrets (only whether there are any).
struct webhook_endpoint_summary {
  std::string id;
  std::string url;
  std::optional<std::string> description;
  std::vector<std::string> events;
  int max_retries = 3;
  int retry_delay_seconds = 60;
  bool is_active = true;
  bool has_secret = false;
  std::optional<std::string> auth_header_name;
  std::optional<std::string> last_triggered_at;  ///< ISO 8601, UTC
  std::string created_at;                        ///< ISO 8601, UTC
  int max_in_flight = 4;
  std::optional<std::string> disabled_at;        ///< ISO 8601, UTC
  std::optional<std::string> disabled_reason;
  std::optional<std::string> failing_since;      ///< ISO 8601, UTC
  std::int64_t created_us = 0;                   ///< created_at in microseconds since the epoch: the keyset position
};

/// The workspace's endpoints that are not deleted, oldest first.
result<std::vector<webhook_endpoint_summary>> list_webhook_endpoints(pg::connection& c, std::string_view workspace_id);

/// Which of a workspace's endpoints to list.
struct webhook_endpoint_page {
  /// Keyset: only endpoints after this one in the list's order (created_at in microseconds since
  /// the epoch, then id); both set or neither (else `invalid` naming cursor).
  std::optional<std::int64_t> after_us;
  std::optional<std::string> after_id;
  std::optional<int> limit;       ///< at most this many; nullopt: all
  std::optional<std::string> id;  ///< only this endpoint (none when it is not a UUID)
};

/// A page of the workspace's endpoints that are not deleted, oldest first (created_at, id):
/// endpoints created while a client pages come after every page it has seen.
result<std::vector<webhook_endpoint_summary>> list_webhook_endpoints(pg::connection& c, std::string_view workspace_id,
                                                                     const webhook_endpoint_page& page);

/// What a delivery needs of an endpoint; the secrets still sealed (open them with
/// secret_context("secret_key"|"auth_header_value", id)).
struct webhook_endpoint_target {
  std::string id;  ///< canonical (lower case), as the secrets are bound to it
  std::string url;
  std::optional<std::string> sealed_secret;
  std::optional<std::string> auth_header_name;
  std::optional<std::string> sealed_auth_value;
  bool is_active = true;
  int max_attempts = 3;
  int earlier_attempts = 0;  ///< delivery rows already made for the same webhook-id
};

/// The endpoint of a workspace (not deleted) with the attempts made so far for `webhook_id`;
/// `not_found` when there is none (both ids must be UUIDs).
result<webhook_endpoint_target> load_webhook_target(pg::connection& c, std::string_view endpoint_id,
                                                    std::string_view workspace_id, std::string_view webhook_id);

/// One attempt, as recorded in webhook_deliveries. JSON fields are serialized JSON text.
struct webhook_delivery_record {
  std::string id;  ///< made by the caller, so a retried insert is a no-op
  std::string endpoint_id;
  std::string workspace_id;
  std::string event_type;
  std::string payload;
  std::optional<int> http_status_code;
  std::optional<std::string> request_headers;  ///< secrets already redacted
  std::optional<std::string> response_body;
  std::optional<std::string> response_headers;
  std::string status;  ///< delivered or failed
  int attempt_number = 1;
  int max_attempts = 3;
  std::optional<int> duration_ms;
  std::optional<std::string> error_message;
};

/// Inserts the attempt (only for an endpoint of that workspace) and sets the endpoint's
/// last_triggered_at, in one statement; inserting the same id twice writes once.
result<void> record_webhook_delivery(pg::connection& c, const webhook_delivery_record& d);

/// How many stored secret values (webhook_endpoints.secret_key, auth_header_value and a
/// previous_secret_key still signing, of endpoints not deleted) are sealed under each key id;
/// values that are not sealed are counted under "".
result<std::vector<std::pair<std::string, std::int64_t>>> secret_key_ids_in_use(pg::connection& c);

/// What `secrets rotate` did.
struct rotation_report {
  std::int64_t rotated = 0;          ///< values re-encrypted under the current key
  std::int64_t already_current = 0;  ///< values already under it
  std::int64_t endpoints = 0;        ///< rows with at least one secret, looked at
};

/// Re-encrypts every stored secret (webhook_endpoints.secret_key, auth_header_value and a
/// previous_secret_key that has not expired, which stays bound as "secret_key") under
/// `keys`' current key, `batch` rows per transaction (rows locked, compared before update), so
/// it is safe to rerun or to run beside a node. A value that cannot be opened (unknown key id,
/// altered, not encrypted) is left as it is and the run ends `invalid`, naming the row ids and
/// key ids, never a value; the other rows are still rotated.
result<rotation_report> rotate_webhook_secrets(pg::connection& c, const crypto::keyring& keys, int batch = 100);

// Operator actions on an endpoint and its deliveries (`flowtrackd webhook ...`). An endpoint id
// that is not a UUID, unknown or deleted is `not_found` naming the id; so is a delivery id.

/// How long a replaced signing secret keeps signing beside the new one.
constexpr int k_previous_secret_hours = 24;

/// Replaces the endpoint's signing secret with `secret` (plaintext, sealed here under `keys`'
/// current key, bound to the row): in one transaction, the row locked, the old sealed value
/// becomes previous_secret_key until now + k_previous_secret_hours (an endpoint without a secret
/// gets none as previous). Without a current key: `unavailable` naming encryption_key.
result<void> rotate_webhook_endpoint_secret(pg::connection& c, std::string_view endpoint_id, std::string_view secret,
                                            const crypto::keyring& keys);

/// An endpoint's switchable state. Times ISO 8601 UTC ("...Z").
struct webhook_endpoint_state {
  std::string id;  ///< canonical (lower case)
  std::string workspace_id;
  bool is_active = true;
  std::optional<std::string> disabled_at;
  std::optional<std::string> disabled_reason;
  std::optional<std::string> failing_since;
};

/// The endpoint's state, or `not_found`.
result<webhook_endpoint_state> load_webhook_endpoint_state(pg::connection& c, std::string_view endpoint_id);

/// The reason an operator's disable records.
inline constexpr std::string_view k_operator_disable_reason = "disabled by an operator";

/// Disables the endpoint (disabled_at kept if already set, else now; disabled_reason `reason`;
/// is_active untouched, as when a node disables it) and returns the new state.
result<webhook_endpoint_state> disable_webhook_endpoint(pg::connection& c, std::string_view endpoint_id,
                                                        std::string_view reason = k_operator_disable_reason);
/// Enables the endpoint (is_active true; disabled_at, disabled_reason and failing_since cleared)
/// and returns the new state.
result<webhook_endpoint_state> enable_webhook_endpoint(pg::connection& c, std::string_view endpoint_id);

/// Queues a `webhook.test` message to the endpoint whatever it subscribes to (data
/// {"endpointId": id}) through the outbox; returns its id (the webhook-id). A disabled or
/// inactive endpoint is `invalid` (nothing would send it).
result<std::string> queue_webhook_test(pg::connection& c, std::string_view endpoint_id);

/// Which deliveries to list.
struct webhook_delivery_filter {
  std::optional<std::string> status;     ///< pending, delivered, failed or cancelled
  std::optional<std::int64_t> since_ms;  ///< created at or after (UTC milliseconds)
  int limit = 50;
  /// Keyset: only messages before this one in the list's order (created_at in microseconds
  /// since the epoch, then id); both set or neither.
  std::optional<std::int64_t> before_us;
  std::optional<std::string> before_id;
};

/// The endpoint's deliveries, newest first, each one JSON object (text): id (the webhook-id),
/// eventType, status, attemptNumber, maxAttempts, httpStatus, nextRetryAt, deliveredAt,
/// createdAt, errorMessage and attempts [{number, startedAt, durationMs, httpStatus,
/// errorMessage}] in attempt order. A status outside the four is `invalid` naming status.
result<std::vector<std::string>> list_webhook_deliveries(pg::connection& c, std::string_view endpoint_id,
                                                         const webhook_delivery_filter& f);

/// What a redelivery touched.
struct redelivery {
  std::string delivery_id;  ///< canonical; the unchanged webhook-id
  std::string endpoint_id;
};

/// Makes the message due again under the same webhook-id: status pending, next_retry_at and
/// claimed_until NULL, max_attempts raised so one more attempt is allowed (attempts are kept
/// and numbering continues). A message a node is attempting right now (pending or failed with
/// an unexpired claim) is `conflict`, and so is one whose body housekeeping trimmed.
result<redelivery> redeliver_webhook_delivery(pg::connection& c, std::string_view delivery_id);

/// Redelivers, as above, every `failed` message of the endpoint (retries exhausted or still
/// awaited) created at or after `since_ms`, except those being attempted right now. Cancelled
/// messages are left alone (a receiver or an operator stopped them), and so are messages whose
/// body housekeeping trimmed. Returns how many.
result<std::int64_t> recover_webhook_deliveries(pg::connection& c, std::string_view endpoint_id, std::int64_t since_ms);

}  // namespace flowtrack::storage
