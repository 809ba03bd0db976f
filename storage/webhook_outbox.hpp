// The outgoing-webhook outbox as SQL: messages (webhook_deliveries rows, one per endpoint) written
// in the transaction of the change that caused them, claimed under a lease, their attempts
// recorded in batches (webhook_delivery_attempts), the endpoint's failure state kept. Knows SQL
// and the row shapes; nothing of HTTP, signing or actors (secrets stay sealed here).
//
// Counting: webhook_deliveries.attempt_number is the number of the latest attempt made, so the
// attempts made so far; every message written here starts at 0 (the column's default of 1 is
// never relied on), and record_webhook_attempts sets it to the recorded attempt's number.
// Payloads are the exact bodies sent: {"type","timestamp","data"} stored as JSONB and sent as its
// text form (PostgreSQL's key order and spacing), which is also what the 256 KiB limit measures.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/webhook_policy.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// The largest body a message may have (its payload's text), in bytes; larger is refused, never cut.
inline constexpr std::size_t k_webhook_payload_max = 256 * 1024;

/// Writes `type` with `data_json` (a JSON value) as one message to each active endpoint of the
/// workspace subscribed to `type` (or `*`), or, with `only_endpoint`, to that endpoint alone if
/// it is active, whatever it subscribes to (`webhook.test`). Returns the messages made (0: no
/// such subscriber). Runs in the caller's transaction if one is open. A body over
/// k_webhook_payload_max is `invalid` naming "payload"; data that is not JSON `invalid` naming "data".
result<std::size_t> emit_webhook_event(pg::connection& c, std::string_view workspace_id, std::string_view type,
                                       std::string_view data_json, std::optional<std::string_view> only_endpoint = {});

/// An ACTION_SEND_WEBHOOK message.
struct webhook_enqueue {
  std::string workspace_id;
  std::string endpoint_id;
  std::string idempotency_key;  ///< "<execution>:<node>": a retried step finds its first message
  std::string event_type;       ///< e.g. "workflow.webhook"
  std::string data_json;        ///< the payload's "data"
};

/// Writes one message to the endpoint whatever it subscribes to; returns its id (the
/// `webhook-id`). A key already used for that endpoint returns that message's id and writes
/// nothing. `not_found` (naming "endpoint_id") for an endpoint not in the workspace, deleted,
/// inactive or disabled; `invalid` naming "payload" when the body exceeds k_webhook_payload_max.
result<std::string> enqueue_webhook(pg::connection& c, const webhook_enqueue& m);

/// A message due for an attempt, leased to the caller.
struct due_delivery {
  std::string id;  ///< the `webhook-id`
  std::string endpoint_id;
  std::string workspace_id;
  std::string event_type;
  std::string payload;    ///< the body to send, byte for byte
  int attempts_made = 0;  ///< 0 for a new message; the next attempt is attempts_made + 1
  int max_attempts = 4;
  std::int64_t created_at_ms = 0;
};

/// Leases up to `limit` due messages for `lease`: pending ones, and failed ones whose
/// next_retry_at has passed; none leased by someone else; oldest due first (the due index's
/// order, which the result keeps). Concurrent claimers never get the same message (SKIP LOCKED).
/// Claims across workspaces: it is the node's scan, each row says its workspace. With `shards`
/// (a cluster node: the shards it holds), only the workspaces of those shards (ft_shard_of).
/// Messages of endpoints since made inactive are claimed too: the caller releases or cancels them.
result<std::vector<due_delivery>> claim_webhook_deliveries(pg::connection& c, std::size_t limit,
                                                           std::chrono::milliseconds lease,
                                                           const std::optional<std::vector<int>>& shards = {});

/// Frees the claims on the messages of the workspaces in `shards` (a new owner of the shards: the
/// old holder is fenced out, and its endpoint actors with it), so they are due again at once
/// rather than when the old claim runs out. How many were freed.
result<std::size_t> free_webhook_claims_of_shards(pg::connection& c, const std::vector<int>& shards);

/// Gives leased messages back (e.g. the endpoint's circuit is open): claimable again at once, or
/// from `not_before_ms` (epoch ms) on. Messages already recorded as ended are left alone.
result<void> release_webhook_claims(pg::connection& c, const std::vector<std::string>& delivery_ids,
                                    std::optional<std::int64_t> not_before_ms = {});

/// What a delivery needs of an endpoint; secrets sealed (open with
/// secret_context("secret_key" | "auth_header_value", id); the previous secret is sealed under
/// "secret_key" too unless its writer says otherwise).
struct webhook_endpoint_config {
  std::string id;  ///< canonical (lower case): the sealed values are bound to it
  std::string workspace_id;
  std::string url;
  std::optional<std::string> sealed_secret;
  std::optional<std::string> sealed_previous_secret;  ///< only while previous_secret_expires_at is ahead
  std::optional<std::string> auth_header_name;
  std::optional<std::string> sealed_auth_value;
  int max_retries = 3;
  int retry_delay_seconds = 60;
  int max_in_flight = 4;
  bool active = true;  ///< is_active, not deleted, not disabled
  std::optional<std::int64_t> failing_since_ms;
};

/// The endpoint of the workspace (a deleted one too, inactive); `not_found` when there is none.
result<webhook_endpoint_config> load_webhook_endpoint(pg::connection& c, std::string_view workspace_id,
                                                      std::string_view endpoint_id);

/// One ended attempt. Text must be valid UTF-8 (PostgreSQL refuses anything else and the whole
/// batch with it): the caller replaces bad bytes in response bodies and headers, cuts the body
/// (64 KiB) and redacts secrets from the request headers. JSON fields are JSON objects as text
/// (empty: NULL).
struct webhook_attempt_record {
  std::string delivery_id;
  std::string endpoint_id;
  std::string workspace_id;
  int attempt_number = 1;  ///< 1 for the first
  std::int64_t started_at_ms = 0;
  int duration_ms = 0;
  std::optional<int> http_status;
  std::string request_headers_json;
  std::string response_headers_json;
  std::optional<std::string> response_body;
  std::optional<std::string> error_message;
  domain::webhook::verdict outcome = domain::webhook::verdict::failed;
  std::optional<std::int64_t> next_retry_at_ms;  ///< required with retry
  std::optional<std::string> disable_reason;     ///< disable the endpoint, saying why
};

/// Records a batch in one statement (one transaction): each attempt's row (a repeated
/// (delivery, attempt number) is a no-op, changing nothing), the message's columns from its
/// latest new attempt (delivered | failed with next_retry_at for a retry | failed without it when
/// exhausted | cancelled; the lease dropped), each endpoint's last_triggered_at and failing_since
/// (NULL after a success, else the first failure since; a cancelled attempt leaves it), and, for a record with
/// disable_reason, the endpoint disabled (disabled_at/disabled_reason; is_active untouched) with
/// `endpoint.disabled` emitted to the workspace's other subscribers. Records whose delivery is
/// not that endpoint's in that workspace are ignored. `invalid` for a retry without its time.
result<void> record_webhook_attempts(pg::connection& c, const std::vector<webhook_attempt_record>& records);

namespace detail {
/// Data-modifying CTEs that write messages, to put into a writer's statement: text starting with
/// a comma that defines `wh_ep` (the active endpoints `endpoint_filter` selects; it may use the
/// alias `ep`) and `wh` (the inserted messages). `events` is a subquery yielding (workspace_id,
/// event_type, data jsonb); it may refer to wh_ep, and should keep only rows whose workspace is
/// in it (`workspace_id IN (SELECT workspace_id FROM wh_ep)`), so a workspace without endpoints
/// builds no JSON. Messages go to endpoints subscribed to the type or `*`.
std::string outbox_ctes(std::string_view endpoint_filter, std::string_view events);
/// SQL for the event time of a statement (its transaction's start) in ISO 8601 UTC, milliseconds.
inline constexpr std::string_view k_event_time_sql =
    "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
/// SQL turning a TIMESTAMP column `x` (session time, as now() writes) into ISO 8601 UTC.
std::string iso_sql(std::string_view column);
}  // namespace detail

}  // namespace flowtrack::storage
