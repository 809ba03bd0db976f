// The outbox's SQL: single events and ACTION_SEND_WEBHOOK messages written, due messages claimed
// and released, endpoints read for delivery, attempts recorded in batches. The CTEs the intake,
// run and tracking writers embed come from outbox_ctes, so every message is made the same way.
#include "storage/webhook_outbox.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "runtime/text.hpp"
#include "storage/pg/array.hpp"

namespace flowtrack::storage {

namespace detail {

std::string iso_sql(std::string_view column) {
  std::string c(column);
  return "to_char(" + c + "::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}

std::string outbox_ctes(std::string_view endpoint_filter, std::string_view events) {
  std::string sql = ",\nwh_ep AS (\n  SELECT ep.id, ep.workspace_id, ep.subscribed_events, ep.max_retries FROM webhook_endpoints ep\n"
                    "  WHERE ep.deleted_at IS NULL AND ep.is_active AND ep.disabled_at IS NULL AND (";
  sql += endpoint_filter;
  sql += ")\n),\nwh AS (\n"
         "  INSERT INTO webhook_deliveries (webhook_endpoint_id, workspace_id, event_type, payload, status, attempt_number,\n"
         "                                  max_attempts)\n"
         "  SELECT ep.id, ev.workspace_id, ev.event_type,\n"
         "         jsonb_build_object('type', ev.event_type, 'timestamp', ";
  sql += k_event_time_sql;
  sql += ", 'data', ev.data),\n"
         "         'pending', 0, COALESCE(ep.max_retries, 3) + 1\n  FROM (";
  sql += events;
  sql += ") ev (workspace_id, event_type, data)\n"
         "  JOIN wh_ep ep ON ep.workspace_id = ev.workspace_id\n"
         "   AND (ev.event_type = ANY(ep.subscribed_events) OR '*' = ANY(ep.subscribed_events))\n"
         "  RETURNING id\n)";
  return sql;
}

}  // namespace detail

namespace {

using domain::webhook::verdict;

// $1 workspace, $2 type, $3 data, $4 the one endpoint (or NULL: the type's subscribers).
const pg::statement k_emit{"ft_webhook_emit", R"sql(
WITH ev AS (
  SELECT $1::uuid AS workspace_id, $2::text AS event_type, $3::jsonb AS data
), body AS (
  SELECT jsonb_build_object('type', event_type, 'timestamp', )sql" + std::string(detail::k_event_time_sql) + R"sql(, 'data', data) AS payload
  FROM ev
), ok AS (
  SELECT payload FROM body WHERE octet_length(payload::text) <= $5
), wh AS (
  INSERT INTO webhook_deliveries (webhook_endpoint_id, workspace_id, event_type, payload, status, attempt_number, max_attempts)
  SELECT ep.id, ep.workspace_id, $2::text, ok.payload, 'pending', 0, COALESCE(ep.max_retries, 3) + 1
  FROM webhook_endpoints ep, ok
  WHERE ep.workspace_id = $1::uuid AND ep.deleted_at IS NULL AND ep.is_active AND ep.disabled_at IS NULL
    AND (CASE WHEN $4::uuid IS NULL THEN ($2::text = ANY(ep.subscribed_events) OR '*' = ANY(ep.subscribed_events))
              ELSE ep.id = $4::uuid END)
  RETURNING id
)
SELECT (SELECT count(*) FROM wh), (SELECT octet_length(payload::text) FROM body)
)sql"};

// $1 workspace, $2 endpoint, $3 key, $4 type, $5 data, $6 size limit. An earlier message under
// the key is returned as it is; a concurrent twin loses at the unique index (DO NOTHING) and the
// caller reads the winner's id.
const pg::statement k_enqueue{"ft_webhook_enqueue", R"sql(
WITH ep AS (
  SELECT id, workspace_id, max_retries FROM webhook_endpoints
  WHERE id = $2::uuid AND workspace_id = $1::uuid AND deleted_at IS NULL AND is_active AND disabled_at IS NULL
), prior AS (
  SELECT id FROM webhook_deliveries WHERE webhook_endpoint_id = $2::uuid AND idempotency_key = $3 AND workspace_id = $1::uuid
), body AS (
  SELECT jsonb_build_object('type', $4::text, 'timestamp', )sql" + std::string(detail::k_event_time_sql) + R"sql(, 'data', $5::jsonb) AS payload
), ins AS (
  INSERT INTO webhook_deliveries (webhook_endpoint_id, workspace_id, event_type, payload, status, attempt_number,
                                  max_attempts, idempotency_key)
  SELECT ep.id, ep.workspace_id, $4::text, body.payload, 'pending', 0, COALESCE(ep.max_retries, 3) + 1, $3
  FROM ep, body
  WHERE NOT EXISTS (SELECT 1 FROM prior) AND octet_length(body.payload::text) <= $6
  ON CONFLICT (webhook_endpoint_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id
)
SELECT (SELECT id FROM ins), (SELECT id FROM prior), EXISTS (SELECT 1 FROM ep), (SELECT octet_length(payload::text) FROM body)
)sql"};

const pg::statement k_enqueued{"ft_webhook_enqueued",
                               "SELECT id FROM webhook_deliveries WHERE webhook_endpoint_id = $2::uuid AND idempotency_key = $3"
                               " AND workspace_id = $1::uuid"};

// The claim lives in migration 023 (ft_claim_webhook_deliveries): a walk of the due index in
// order, leasing up to $1 messages for $2 ms, with its plan pinned there.
const pg::statement k_claim{"ft_webhook_claim", "SELECT * FROM ft_claim_webhook_deliveries($1, $2, $3::int[])"};

const pg::statement k_release{"ft_webhook_release",
                              "UPDATE webhook_deliveries SET claimed_until = to_timestamp($2::double precision / 1000)::timestamp"
                              " WHERE id = ANY($1::uuid[]) AND claimed_until IS NOT NULL"
                              " AND (status = 'pending' OR (status = 'failed' AND next_retry_at IS NOT NULL))"};

const pg::statement k_load_endpoint{"ft_webhook_load_endpoint", R"sql(
SELECT id, workspace_id, url, secret_key,
       CASE WHEN previous_secret_expires_at > now() THEN previous_secret_key END,
       auth_header_name, auth_header_value, COALESCE(max_retries, 3), COALESCE(retry_delay_seconds, 60), max_in_flight,
       is_active AND deleted_at IS NULL AND disabled_at IS NULL,
       (extract(epoch FROM failing_since::timestamptz) * 1000)::bigint
FROM webhook_endpoints WHERE id = $2::uuid AND workspace_id = $1::uuid
)sql"};

// One statement per batch. `fresh` holds the attempts not yet recorded (a repeat is not in it, so
// it changes nothing; it is an anti-join on the attempts' (delivery_id, attempt_number) key: joining the insert's
// RETURNING back to the batch was planned as a nested loop over two CTEs, quadratic in the
// batch: 205 ms of a 216 ms statement for 282 attempts); each message takes its latest fresh
// attempt; each endpoint its last success and the first failure after it. Endpoints disabled
// here tell the workspace's other subscribers. Two batches recording the same attempt at once
// (a lease that ran out mid-attempt) both pass the anti-join: the insert keeps one row and the
// message gets the same values twice.
const pg::statement k_record{"ft_webhook_record_attempts", R"sql(
WITH r AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::bigint[], $6::int[], $7::int[], $8::jsonb[],
                       $9::jsonb[], $10::text[], $11::text[], $12::text[], $13::bigint[], $14::text[])
    AS t(delivery_id, endpoint_id, workspace_id, attempt_number, started_ms, duration_ms, http_status, request_headers,
         response_headers, response_body, error_message, outcome, next_retry_ms, disable_reason)
),
rs AS (
  SELECT r.*, to_timestamp(r.started_ms / 1000.0)::timestamp AS started_at,
         to_timestamp((r.started_ms + r.duration_ms) / 1000.0)::timestamp AS ended_at,
         CASE r.outcome WHEN 'delivered' THEN 'delivered' WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END AS status,
         CASE WHEN r.outcome = 'retry' THEN to_timestamp(r.next_retry_ms / 1000.0)::timestamp END AS next_retry_at
  FROM r JOIN webhook_deliveries d
    ON d.id = r.delivery_id AND d.workspace_id = r.workspace_id AND d.webhook_endpoint_id = r.endpoint_id
),
fresh AS (
  SELECT rs.* FROM rs
  WHERE NOT EXISTS (SELECT 1 FROM webhook_delivery_attempts a
                    WHERE a.delivery_id = rs.delivery_id AND a.attempt_number = rs.attempt_number)
),
att AS (
  INSERT INTO webhook_delivery_attempts (delivery_id, attempt_number, started_at, duration_ms, http_status_code,
                                         request_headers, response_headers, response_body, error_message)
  SELECT delivery_id, attempt_number, started_at, duration_ms, http_status, request_headers, response_headers,
         response_body, error_message FROM fresh
  ON CONFLICT (delivery_id, attempt_number) DO NOTHING
),
latest AS (SELECT DISTINCT ON (delivery_id) * FROM fresh ORDER BY delivery_id, attempt_number DESC),
msg AS (
  UPDATE webhook_deliveries d SET
    http_status_code = x.http_status, request_headers = x.request_headers, response_headers = x.response_headers,
    response_body = x.response_body, duration_ms = x.duration_ms, error_message = x.error_message,
    attempt_number = x.attempt_number, status = x.status, next_retry_at = x.next_retry_at,
    delivered_at = CASE WHEN x.status = 'delivered' THEN x.ended_at ELSE d.delivered_at END,
    last_attempt_at = x.started_at, claimed_until = NULL
  FROM latest x WHERE d.id = x.delivery_id AND COALESCE(d.attempt_number, 0) <= x.attempt_number
),
ep_agg AS (
  SELECT endpoint_id, workspace_id, max(ended_at) AS last_at,
         max(started_at) FILTER (WHERE outcome = 'delivered') AS last_ok,
         (array_agg(disable_reason ORDER BY started_at) FILTER (WHERE disable_reason IS NOT NULL))[1] AS disable_reason
  FROM fresh GROUP BY endpoint_id, workspace_id
),
ep_fail AS (
  SELECT f.endpoint_id, min(f.started_at) AS first_fail
  FROM fresh f JOIN ep_agg a ON a.endpoint_id = f.endpoint_id
  WHERE f.outcome IN ('retry', 'failed') AND (a.last_ok IS NULL OR f.started_at > a.last_ok)
  GROUP BY f.endpoint_id
),
epu AS (
  UPDATE webhook_endpoints e SET
    last_triggered_at = GREATEST(e.last_triggered_at, a.last_at),
    failing_since = CASE WHEN ff.first_fail IS NOT NULL AND a.last_ok IS NULL THEN COALESCE(e.failing_since, ff.first_fail)
                         WHEN ff.first_fail IS NOT NULL THEN ff.first_fail
                         WHEN a.last_ok IS NOT NULL THEN NULL
                         ELSE e.failing_since END,
    disabled_at = CASE WHEN a.disable_reason IS NOT NULL AND e.disabled_at IS NULL THEN now() ELSE e.disabled_at END,
    disabled_reason = CASE WHEN a.disable_reason IS NOT NULL AND e.disabled_at IS NULL THEN a.disable_reason
                           ELSE e.disabled_reason END
  FROM ep_agg a LEFT JOIN ep_fail ff ON ff.endpoint_id = a.endpoint_id
  WHERE e.id = a.endpoint_id AND e.workspace_id = a.workspace_id
  -- disabled_at = now() only for the rows this statement disabled (now() is the transaction's start).
  RETURNING e.id, e.workspace_id, e.url, e.disabled_reason, (a.disable_reason IS NOT NULL AND e.disabled_at = now()) AS newly
),
dis AS (SELECT id, workspace_id, url, disabled_reason FROM epu WHERE newly)
)sql" + detail::outbox_ctes("ep.workspace_id IN (SELECT workspace_id FROM dis) AND ep.id NOT IN (SELECT id FROM dis)",
                            "SELECT workspace_id, 'endpoint.disabled', jsonb_build_object('endpoint_id', id, 'url', url, "
                            "'reason', disabled_reason) FROM dis") + R"sql(
SELECT (SELECT count(*) FROM fresh), (SELECT count(*) FROM wh)
)sql"};

error not_uuid(std::string_view what, std::string_view value) {
  return make_error(error_code::not_found, std::string(what) + " must be a UUID, not '" + std::string(value) + "'",
                    std::string(what));
}

error too_large(std::int64_t size) {
  return make_error(error_code::invalid,
                    "the webhook payload would be " + std::to_string(size) + " bytes; at most " +
                        std::to_string(k_webhook_payload_max) + " are sent (nothing is cut): send less data",
                    "payload");
}

bool is_json(std::string_view s) {
  boost::system::error_code ec;
  boost::json::parse(s, ec);
  return !ec;
}

result<void> check_type(std::string_view type) {
  if (type.empty() || type.size() > 50)
    return make_error(error_code::invalid, "a webhook event type must have 1 to 50 characters", "event_type");
  return {};
}

}  // namespace

result<std::size_t> emit_webhook_event(pg::connection& c, std::string_view workspace_id, std::string_view type,
                                       std::string_view data_json, std::optional<std::string_view> only_endpoint) {
  if (!runtime::is_uuid(workspace_id)) return not_uuid("workspace_id", workspace_id);
  if (only_endpoint && !runtime::is_uuid(*only_endpoint)) return not_uuid("endpoint_id", *only_endpoint);
  if (auto t = check_type(type); !t) return t.err();
  if (!is_json(data_json)) return make_error(error_code::invalid, "the event's data is not JSON", "data");
  pg::params p;
  p.add(workspace_id).add(type).add(data_json);
  if (only_endpoint) p.add(*only_endpoint);
  else p.add_null();
  p.add(static_cast<std::int64_t>(k_webhook_payload_max));
  auto r = c.exec(k_emit, p);
  if (!r) return r.err();
  if (r->get_int(0, 1) > static_cast<std::int64_t>(k_webhook_payload_max)) return too_large(r->get_int(0, 1));
  return static_cast<std::size_t>(r->get_int(0, 0));
}

result<std::string> enqueue_webhook(pg::connection& c, const webhook_enqueue& m) {
  if (!runtime::is_uuid(m.workspace_id)) return not_uuid("workspace_id", m.workspace_id);
  if (!runtime::is_uuid(m.endpoint_id))
    return make_error(error_code::not_found, "webhook endpoint " + m.endpoint_id + " does not exist: it must be a UUID",
                      "endpoint_id");
  if (m.idempotency_key.empty()) return make_error(error_code::invalid, "a webhook message needs an idempotency key", "idempotency_key");
  if (auto t = check_type(m.event_type); !t) return t.err();
  if (!is_json(m.data_json)) return make_error(error_code::invalid, "the webhook's data is not JSON", "data");
  pg::params p;
  p.add(m.workspace_id).add(m.endpoint_id).add(m.idempotency_key).add(m.event_type).add(m.data_json)
      .add(static_cast<std::int64_t>(k_webhook_payload_max));
  auto r = c.exec(k_enqueue, p);
  if (!r) return r.err();
  if (!r->is_null(0, 0)) return std::string(r->get(0, 0));
  if (!r->is_null(0, 1)) return std::string(r->get(0, 1));
  if (!r->get_bool(0, 2))
    return make_error(error_code::not_found,
                      "webhook endpoint " + m.endpoint_id + " is not an active endpoint of workspace " + m.workspace_id +
                          " (deleted, deactivated or disabled)",
                      "endpoint_id");
  if (r->get_int(0, 3) > static_cast<std::int64_t>(k_webhook_payload_max)) return too_large(r->get_int(0, 3));
  // A concurrent enqueue under the same key won: its row is committed now (DO NOTHING waited).
  auto again = c.exec(k_enqueued, pg::params{}.add(m.workspace_id).add(m.endpoint_id).add(m.idempotency_key));
  if (!again) return again.err();
  if (again->empty()) return make_error(error_code::conflict, "a concurrent webhook message under the same key was not kept; retry", "idempotency_key");
  return std::string(again->get(0, 0));
}

result<std::vector<due_delivery>> claim_webhook_deliveries(pg::connection& c, std::size_t limit,
                                                           std::chrono::milliseconds lease,
                                                           const std::optional<std::vector<int>>& shards) {
  std::vector<due_delivery> out;
  if (limit == 0 || (shards && shards->empty())) return out;
  pg::params p;
  p.add(static_cast<std::int64_t>(limit)).add(static_cast<std::int64_t>(lease.count()));
  if (shards) p.add(pg::int_array(*shards));
  else p.add_null();
  auto r = c.exec(k_claim, p);
  if (!r) return r.err();
  std::vector<std::pair<std::int64_t, int>> order;
  order.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) order.emplace_back(r->get_int(i, 8), i);
  std::sort(order.begin(), order.end());  // RETURNING keeps no order: oldest due first again
  out.reserve(order.size());
  for (auto [due, i] : order) {
    due_delivery d;
    d.id = std::string(r->get(i, 0));
    d.endpoint_id = std::string(r->get(i, 1));
    d.workspace_id = r->is_null(i, 2) ? std::string() : std::string(r->get(i, 2));
    d.event_type = std::string(r->get(i, 3));
    d.payload = std::string(r->get(i, 4));
    d.attempts_made = static_cast<int>(r->get_int(i, 5));
    d.max_attempts = static_cast<int>(r->get_int(i, 6));
    d.created_at_ms = r->get_int(i, 7);
    out.push_back(std::move(d));
  }
  return out;
}

result<std::size_t> free_webhook_claims_of_shards(pg::connection& c, const std::vector<int>& shards) {
  if (shards.empty()) return std::size_t{0};
  // The due index's predicate and range (a claimed message is due when its claim ends, in the
  // future), so only the claimed messages are read.
  auto r = c.exec(
      "UPDATE webhook_deliveries SET claimed_until = NULL"
      " WHERE (status = 'pending' OR (status = 'failed' AND next_retry_at IS NOT NULL))"
      "   AND COALESCE(claimed_until, next_retry_at, created_at) > now() AND claimed_until IS NOT NULL"
      "   AND ft_shard_of(workspace_id) = ANY ($1::int[])",
      pg::params{}.add(pg::int_array(shards)));
  if (!r) return r.err();
  return static_cast<std::size_t>(r->affected());
}

result<void> release_webhook_claims(pg::connection& c, const std::vector<std::string>& delivery_ids,
                                    std::optional<std::int64_t> not_before_ms) {
  if (delivery_ids.empty()) return {};
  pg::array_builder ids;
  for (const auto& id : delivery_ids) {
    if (!runtime::is_uuid(id)) return not_uuid("delivery_id", id);
    ids.add(id);
  }
  pg::params p;
  p.add(ids.finish());
  if (not_before_ms) p.add(*not_before_ms);
  else p.add_null();
  auto r = c.exec(k_release, p);
  if (!r) return r.err();
  return {};
}

result<webhook_endpoint_config> load_webhook_endpoint(pg::connection& c, std::string_view workspace_id,
                                                      std::string_view endpoint_id) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(endpoint_id))
    return make_error(error_code::not_found, "webhook endpoint not found: workspace_id and endpoint_id must be UUIDs",
                      "endpoint_id");
  auto r = c.exec(k_load_endpoint, pg::params{}.add(workspace_id).add(endpoint_id));
  if (!r) return r.err();
  if (r->empty())
    return make_error(error_code::not_found,
                      "webhook endpoint " + std::string(endpoint_id) + " does not exist in workspace " + std::string(workspace_id),
                      "endpoint_id");
  webhook_endpoint_config e;
  e.id = std::string(r->get(0, 0));
  e.workspace_id = std::string(r->get(0, 1));
  e.url = std::string(r->get(0, 2));
  e.sealed_secret = r->get_optional(0, 3);
  e.sealed_previous_secret = r->get_optional(0, 4);
  e.auth_header_name = r->get_optional(0, 5);
  e.sealed_auth_value = r->get_optional(0, 6);
  e.max_retries = static_cast<int>(r->get_int(0, 7));
  e.retry_delay_seconds = static_cast<int>(r->get_int(0, 8));
  e.max_in_flight = static_cast<int>(r->get_int(0, 9));
  e.active = r->get_bool(0, 10);
  if (!r->is_null(0, 11)) e.failing_since_ms = r->get_int(0, 11);
  return e;
}

result<void> record_webhook_attempts(pg::connection& c, const std::vector<webhook_attempt_record>& records) {
  if (records.empty()) return {};
  pg::array_builder delivery, endpoint, workspace, number, started, duration, status, req, resp, body, err, outcome,
      next_retry, disable;
  for (const auto& a : records) {
    if (!runtime::is_uuid(a.delivery_id)) return not_uuid("delivery_id", a.delivery_id);
    if (!runtime::is_uuid(a.endpoint_id)) return not_uuid("endpoint_id", a.endpoint_id);
    if (!runtime::is_uuid(a.workspace_id)) return not_uuid("workspace_id", a.workspace_id);
    if (a.outcome == verdict::retry && !a.next_retry_at_ms)
      return make_error(error_code::invalid, "attempt " + std::to_string(a.attempt_number) + " of " + a.delivery_id +
                                                 " is to be retried but has no next_retry_at_ms", "next_retry_at_ms");
    delivery.add(a.delivery_id);
    endpoint.add(a.endpoint_id);
    workspace.add(a.workspace_id);
    number.add(static_cast<std::int64_t>(a.attempt_number));
    started.add(a.started_at_ms);
    duration.add(static_cast<std::int64_t>(a.duration_ms));
    a.http_status ? status.add(static_cast<std::int64_t>(*a.http_status)) : status.add_null();
    a.request_headers_json.empty() ? req.add_null() : req.add(a.request_headers_json);
    a.response_headers_json.empty() ? resp.add_null() : resp.add(a.response_headers_json);
    body.add_optional(a.response_body);
    err.add_optional(a.error_message);
    outcome.add(domain::webhook::to_string(a.outcome));
    a.outcome == verdict::retry ? next_retry.add(*a.next_retry_at_ms) : next_retry.add_null();
    disable.add_optional(a.disable_reason);
  }
  pg::params p{delivery.finish(), endpoint.finish(), workspace.finish(), number.finish(), started.finish(),
               duration.finish(), status.finish(),   req.finish(),       resp.finish(),   body.finish(),
               err.finish(),      outcome.finish(),  next_retry.finish(), disable.finish()};
  auto r = c.exec(k_record, p);
  if (!r) return r.err();
  return {};
}

}  // namespace flowtrack::storage
