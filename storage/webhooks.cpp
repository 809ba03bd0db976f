// The webhook tables' SQL: endpoints created and listed, read for a delivery, attempts
// recorded, and secrets re-encrypted under the current key in batches.
#include "storage/webhooks.hpp"

#include <boost/json.hpp>

#include "storage/webhook_outbox.hpp"

#include "runtime/text.hpp"
#include "domain/ids.hpp"

namespace flowtrack::storage {
namespace {

const pg::statement k_load_target{
    "ft_webhook_load_target",
    "SELECT e.url, e.secret_key, e.auth_header_name, e.auth_header_value, e.is_active, COALESCE(e.max_retries, 3),"
    " (SELECT count(*) FROM webhook_deliveries d"
    "   WHERE d.webhook_endpoint_id = e.id AND d.request_headers->>'webhook-id' = $3), e.id"
    " FROM webhook_endpoints e WHERE e.id = $1::uuid AND e.workspace_id = $2::uuid AND e.deleted_at IS NULL"};

// One statement: the attempt's row (only for an endpoint of this workspace) and the endpoint's
// last_triggered_at. The id is the caller's, so a retried insert is a no-op, not a second row.
const pg::statement k_record_delivery{
    "ft_webhook_record_delivery",
    "WITH inserted AS ("
    " INSERT INTO webhook_deliveries (id, webhook_endpoint_id, event_type, payload, http_status_code,"
    "  request_headers, response_body, response_headers, status, attempt_number, max_attempts, delivered_at,"
    "  duration_ms, error_message)"
    " SELECT $1::uuid, e.id, $4::varchar, $5::jsonb, $6::int, $7::jsonb, $8::text, $9::jsonb, $10::varchar,"
    "  $11::int, $12::int, CASE WHEN $10::varchar = 'delivered' THEN NOW() END, $13::int, $14::text"
    " FROM webhook_endpoints e WHERE e.id = $2::uuid AND e.workspace_id = $3::uuid"
    " ON CONFLICT (id) DO NOTHING RETURNING id)"
    " UPDATE webhook_endpoints SET last_triggered_at = NOW()"
    " WHERE id = $2::uuid AND workspace_id = $3::uuid AND EXISTS (SELECT 1 FROM inserted)"};
constexpr int k_record_delivery_params = 14;

const pg::statement k_insert_endpoint{
    "ft_webhook_insert_endpoint",
    "INSERT INTO webhook_endpoints (id, workspace_id, url, description, secret_key, auth_header_name,"
    " auth_header_value, subscribed_events, max_retries, retry_delay_seconds)"
    " SELECT $1::uuid, w.id, $3, $4, $5, $6, $7, ARRAY(SELECT jsonb_array_elements_text($8::jsonb)),"
    "  COALESCE($9::int, 3), COALESCE($10::int, 60)"
    " FROM workspaces w WHERE w.id = $2::uuid AND w.deleted_at IS NULL RETURNING id"};

const pg::statement k_list_endpoints{
    "ft_webhook_list_endpoints",
    "SELECT id, url, description, array_to_json(subscribed_events)::text, COALESCE(max_retries, 3),"
    " COALESCE(retry_delay_seconds, 60), is_active, secret_key IS NOT NULL, auth_header_name,"
    " to_char(last_triggered_at, 'YYYY-MM-DD\"T\"HH24:MI:SS'), to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
    " max_in_flight, to_char(disabled_at, 'YYYY-MM-DD\"T\"HH24:MI:SS'), disabled_reason,"
    " to_char(failing_since, 'YYYY-MM-DD\"T\"HH24:MI:SS'), (extract(epoch FROM created_at) * 1000000)::bigint"
    " FROM webhook_endpoints WHERE workspace_id = $1::uuid AND deleted_at IS NULL AND ($4::uuid IS NULL OR id = $4::uuid)"
    " AND ($2::bigint IS NULL OR (created_at, id) > ('epoch'::timestamp + $2::bigint * interval '1 microsecond', $3::uuid))"
    " ORDER BY created_at, id LIMIT $5::int"};

// Keyset pagination by id; rows locked for the batch's transaction so a concurrent rotation or
// update waits instead of being overwritten.
// A previous secret counts only while it still signs; an expired one is never opened again.
const pg::statement k_rotation_batch{
    "ft_webhook_rotation_batch",
    "SELECT id, secret_key, auth_header_value,"
    " CASE WHEN previous_secret_expires_at > NOW() THEN previous_secret_key END FROM webhook_endpoints"
    " WHERE ($1::uuid IS NULL OR id > $1::uuid) AND (secret_key IS NOT NULL OR auth_header_value IS NOT NULL"
    "  OR (previous_secret_key IS NOT NULL AND previous_secret_expires_at > NOW()))"
    " ORDER BY id LIMIT $2 FOR UPDATE"};

const pg::statement k_rotate_row{
    "ft_webhook_rotate_row",
    "UPDATE webhook_endpoints SET secret_key = $2, auth_header_value = $3,"
    " previous_secret_key = COALESCE($6, previous_secret_key)"
    " WHERE id = $1::uuid AND secret_key IS NOT DISTINCT FROM $4 AND auth_header_value IS NOT DISTINCT FROM $5"
    " AND ($7::text IS NULL OR previous_secret_key = $7)"};

std::optional<std::string> opt(std::optional<int> v) {
  return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
}

error seal_error(const crypto::box_error& e, std::string_view column) {
  auto code = e.code == crypto::box_errc::no_key ? error_code::unavailable : error_code::internal;
  return make_error(code, "cannot store " + std::string(column) + ": " + e.message, "encryption_key");
}

}  // namespace

std::string secret_context(std::string_view column, std::string_view endpoint_id) {
  std::string out = "webhook_endpoints.";
  out.append(column).append(":").append(endpoint_id);
  return out;
}

result<std::string> create_webhook_endpoint(pg::connection& c, const new_webhook_endpoint& e, const crypto::keyring& keys) {
  if (!runtime::is_uuid(e.workspace_id)) return make_error(error_code::not_found, "no workspace " + e.workspace_id, "workspace");
  if (e.secret && e.secret->size() > k_webhook_secret_max)
    return make_error(error_code::invalid, "secret must be at most " + std::to_string(k_webhook_secret_max) + " bytes",
                      "secret");
  std::string id = domain::new_uuid();
  std::optional<std::string> sealed_secret, sealed_auth;
  if (e.secret) {
    auto s = keys.seal(*e.secret, secret_context("secret_key", id));
    if (!s) return seal_error(s.err(), "the endpoint's secret");
    sealed_secret = std::move(*s);
  }
  if (e.auth_header_value) {
    auto s = keys.seal(*e.auth_header_value, secret_context("auth_header_value", id));
    if (!s) return seal_error(s.err(), "the auth header value");
    sealed_auth = std::move(*s);
  }
  boost::json::array events;
  for (const auto& ev : e.events) events.emplace_back(ev);
  pg::params p;
  p.add(id)
      .add(e.workspace_id)
      .add(e.url)
      .add(e.description)
      .add(sealed_secret)
      .add(e.auth_header_name)
      .add(sealed_auth)
      .add(boost::json::serialize(events))
      .add(opt(e.max_retries))
      .add(opt(e.retry_delay_seconds));
  auto r = c.exec(k_insert_endpoint, p);
  if (!r) return r.err();
  if (r->empty()) return make_error(error_code::not_found, "no workspace " + e.workspace_id, "workspace");
  return std::string(r->get(0, 0));
}

result<std::vector<webhook_endpoint_summary>> list_webhook_endpoints(pg::connection& c, std::string_view workspace_id) {
  return list_webhook_endpoints(c, workspace_id, webhook_endpoint_page{});
}

result<std::vector<webhook_endpoint_summary>> list_webhook_endpoints(pg::connection& c, std::string_view workspace_id,
                                                                     const webhook_endpoint_page& page) {
  if (!runtime::is_uuid(workspace_id)) return make_error(error_code::not_found, "no workspace " + std::string(workspace_id), "workspace");
  if (page.after_us.has_value() != page.after_id.has_value() || (page.after_id && !runtime::is_uuid(*page.after_id)))
    return make_error(error_code::invalid, "a page of endpoints starts after both a creation time and an endpoint id", "cursor");
  if (page.id && !runtime::is_uuid(*page.id)) return std::vector<webhook_endpoint_summary>{};
  auto r = c.exec(k_list_endpoints, pg::params{}
                                        .add(workspace_id)
                                        .add(page.after_us ? std::optional<std::string>(std::to_string(*page.after_us)) : std::nullopt)
                                        .add(page.after_id)
                                        .add(page.id)
                                        .add(page.limit ? std::optional<std::string>(std::to_string(*page.limit)) : std::nullopt));
  if (!r) return r.err();
  std::vector<webhook_endpoint_summary> out;
  for (int i = 0; i < r->size(); ++i) {
    webhook_endpoint_summary e;
    e.id = std::string(r->get(i, 0));
    e.url = std::string(r->get(i, 1));
    e.description = r->get_optional(i, 2);
    boost::system::error_code ec;
    auto events = boost::json::parse(r->get(i, 3), ec);
    if (!ec && events.is_array())
      for (const auto& v : events.as_array())
        if (v.is_string()) e.events.emplace_back(v.as_string());
    e.max_retries = static_cast<int>(r->get_int(i, 4));
    e.retry_delay_seconds = static_cast<int>(r->get_int(i, 5));
    e.is_active = r->get_bool(i, 6);
    e.has_secret = r->get_bool(i, 7);
    e.auth_header_name = r->get_optional(i, 8);
    e.last_triggered_at = r->get_optional(i, 9);
    e.created_at = std::string(r->get(i, 10));
    e.max_in_flight = static_cast<int>(r->get_int(i, 11));
    e.disabled_at = r->get_optional(i, 12);
    e.disabled_reason = r->get_optional(i, 13);
    e.failing_since = r->get_optional(i, 14);
    e.created_us = r->get_int(i, 15);
    out.push_back(std::move(e));
  }
  return out;
}

result<webhook_endpoint_target> load_webhook_target(pg::connection& c, std::string_view endpoint_id,
                                                    std::string_view workspace_id, std::string_view webhook_id) {
  if (!runtime::is_uuid(endpoint_id) || !runtime::is_uuid(workspace_id))
    return make_error(error_code::not_found, "webhook endpoint not found: endpoint_id and workspace_id must be UUIDs",
                      "endpoint_id");
  auto r = c.exec(k_load_target, pg::params{}.add(endpoint_id).add(workspace_id).add(webhook_id));
  if (!r) return r.err();
  if (r->empty())
    return make_error(error_code::not_found,
                      "webhook endpoint " + std::string(endpoint_id) + " does not exist in workspace " + std::string(workspace_id),
                      "endpoint_id");
  webhook_endpoint_target t;
  t.url = std::string(r->get(0, 0));
  t.sealed_secret = r->get_optional(0, 1);
  t.auth_header_name = r->get_optional(0, 2);
  t.sealed_auth_value = r->get_optional(0, 3);
  t.is_active = r->get_bool(0, 4);
  t.max_attempts = static_cast<int>(r->get_int(0, 5));
  t.earlier_attempts = static_cast<int>(r->get_int(0, 6));
  t.id = std::string(r->get(0, 7));
  return t;
}

result<void> record_webhook_delivery(pg::connection& c, const webhook_delivery_record& d) {
  pg::params p;
  p.add(d.id)
      .add(d.endpoint_id)
      .add(d.workspace_id)
      .add(d.event_type)
      .add(d.payload)
      .add(opt(d.http_status_code))
      .add(d.request_headers)
      .add(d.response_body)
      .add(d.response_headers)
      .add(d.status)
      .add(d.attempt_number)
      .add(d.max_attempts)
      .add(opt(d.duration_ms))
      .add(d.error_message);
  if (p.size() != k_record_delivery_params)
    return make_error(error_code::internal, "record_webhook_delivery binds the wrong number of parameters");
  auto r = c.exec(k_record_delivery, p);
  if (!r) return r.err();
  return {};
}

result<std::vector<std::pair<std::string, std::int64_t>>> secret_key_ids_in_use(pg::connection& c) {
  auto r = c.exec(
      "SELECT CASE WHEN v ~ '^v1\\.[0-9a-f]{8}\\.' THEN substr(v, 4, 8) ELSE '' END AS key_id, count(*) FROM ("
      " SELECT secret_key AS v FROM webhook_endpoints WHERE secret_key IS NOT NULL AND deleted_at IS NULL"
      " UNION ALL SELECT auth_header_value FROM webhook_endpoints WHERE auth_header_value IS NOT NULL AND deleted_at IS NULL"
      " UNION ALL SELECT previous_secret_key FROM webhook_endpoints WHERE previous_secret_key IS NOT NULL"
      "  AND previous_secret_expires_at > NOW() AND deleted_at IS NULL) s"
      " GROUP BY 1 ORDER BY 1");
  if (!r) return r.err();
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (int i = 0; i < r->size(); ++i) out.emplace_back(std::string(r->get(i, 0)), r->get_int(i, 1));
  return out;
}

result<rotation_report> rotate_webhook_secrets(pg::connection& c, const crypto::keyring& keys, int batch) {
  if (!keys.can_seal())
    return make_error(error_code::invalid, "no encryption_key is set: secrets rotate re-encrypts under encryption_key "
                                           "(FLOWTRACK_ENCRYPTION_KEY), with the earlier keys in encryption_old_keys",
                      "encryption_key");
  rotation_report report;
  std::vector<std::string> problems;
  std::optional<std::string> after;  // the last id of the previous batch; none before the first
  for (;;) {
    int seen = 0;
    auto done = pg::transact(c, [&](pg::connection& tx) -> result<void> {
      auto rows = tx.exec(k_rotation_batch, pg::params{}.add(after).add(batch));
      if (!rows) return rows.err();
      seen = rows->size();
      for (int i = 0; i < rows->size(); ++i) {
        std::string id(rows->get(i, 0));
        after = id;
        ++report.endpoints;
        constexpr int n = 3;
        std::optional<std::string> old_values[n] = {rows->get_optional(i, 1), rows->get_optional(i, 2), rows->get_optional(i, 3)};
        std::optional<std::string> new_values[n] = {old_values[0], old_values[1], old_values[2]};
        const char* columns[n] = {"secret_key", "auth_header_value", "previous_secret_key"};
        // The previous secret is sealed as the secret it was (webhook rotate-secret moves it as is).
        const char* contexts[n] = {"secret_key", "auth_header_value", "secret_key"};
        bool changed = false, broken = false;
        for (int k = 0; k < n; ++k) {
          if (!old_values[k]) continue;
          if (keys.sealed_with_current(*old_values[k])) {
            // Well-formed and under the current key; still check it opens, so a damaged value is reported.
            if (auto o = keys.open(*old_values[k], secret_context(contexts[k], id)); !o) {
              problems.push_back("row " + id + " " + columns[k] + ": " + o.err().message);
              broken = true;
            } else {
              ++report.already_current;
            }
            continue;
          }
          auto plain = keys.open(*old_values[k], secret_context(contexts[k], id));
          if (!plain) {
            problems.push_back("row " + id + " " + columns[k] + ": " + plain.err().message);
            broken = true;
            continue;
          }
          auto sealed = keys.seal(*plain, secret_context(contexts[k], id));
          if (!sealed) return make_error(error_code::internal, "row " + id + " " + columns[k] + ": " + sealed.err().message);
          new_values[k] = std::move(*sealed);
          changed = true;
        }
        if (broken || !changed) continue;
        auto u = tx.exec(k_rotate_row, pg::params{}
                                           .add(id)
                                           .add(new_values[0])
                                           .add(new_values[1])
                                           .add(old_values[0])
                                           .add(old_values[1])
                                           .add(new_values[2])
                                           .add(old_values[2]));
        if (!u) return u.err();
        for (int k = 0; k < n; ++k)
          if (new_values[k] != old_values[k]) ++report.rotated;
      }
      return {};
    });
    if (!done) return done.err();
    if (seen < batch) break;
  }
  if (!problems.empty()) {
    std::string message = std::to_string(problems.size()) + " secret(s) could not be re-encrypted (" +
                          std::to_string(report.rotated) + " others were); add the key they were written with to "
                          "encryption_old_keys and run again:";
    for (std::size_t i = 0; i < problems.size() && i < 20; ++i) message += "\n  " + problems[i];
    if (problems.size() > 20) message += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
    return make_error(error_code::invalid, message, "encryption_old_keys");
  }
  return report;
}

namespace {

// A TIMESTAMP column (written with NOW(), i.e. in the session's zone) as ISO 8601 UTC.
std::string iso(std::string_view column) {
  return "to_char(" + std::string(column) + "::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}

const std::string k_state_columns = "id::text, workspace_id::text, is_active, " + iso("disabled_at") + ", disabled_reason, " +
                                    iso("failing_since");

const pg::statement k_endpoint_state{
    "ft_webhook_endpoint_state",
    "SELECT " + k_state_columns + " FROM webhook_endpoints WHERE id = $1::uuid AND deleted_at IS NULL"};

const pg::statement k_disable_endpoint{
    "ft_webhook_disable_endpoint",
    "UPDATE webhook_endpoints SET disabled_at = COALESCE(disabled_at, NOW()), disabled_reason = $2"
    " WHERE id = $1::uuid AND deleted_at IS NULL RETURNING " + k_state_columns};

const pg::statement k_enable_endpoint{
    "ft_webhook_enable_endpoint",
    "UPDATE webhook_endpoints SET is_active = true, disabled_at = NULL, disabled_reason = NULL, failing_since = NULL"
    " WHERE id = $1::uuid AND deleted_at IS NULL RETURNING " + k_state_columns};

const pg::statement k_lock_endpoint{
    "ft_webhook_lock_endpoint",
    "SELECT id::text FROM webhook_endpoints WHERE id = $1::uuid AND deleted_at IS NULL FOR UPDATE"};

// secret_key on the right is the row's value before this update: the old secret moves over
// still sealed (it stays bound to "secret_key:<id>", which is how a sender opens it).
const pg::statement k_replace_secret{
    "ft_webhook_replace_secret",
    "UPDATE webhook_endpoints SET previous_secret_key = secret_key,"
    " previous_secret_expires_at = CASE WHEN secret_key IS NULL THEN NULL ELSE NOW() + make_interval(hours => $3::int) END,"
    " secret_key = $2 WHERE id = $1::uuid"};

const pg::statement k_list_deliveries{
    "ft_webhook_list_deliveries",
    "SELECT json_build_object('id', d.id, 'eventType', d.event_type, 'status', d.status,"
    " 'attemptNumber', d.attempt_number, 'maxAttempts', d.max_attempts, 'httpStatus', d.http_status_code,"
    " 'nextRetryAt', " + iso("d.next_retry_at") + ", 'deliveredAt', " + iso("d.delivered_at") +
    ", 'createdAt', " + iso("d.created_at") + ", 'errorMessage', d.error_message,"
    " 'attempts', COALESCE((SELECT json_agg(json_build_object('number', a.attempt_number, 'startedAt', " +
    iso("a.started_at") + ", 'durationMs', a.duration_ms, 'httpStatus', a.http_status_code,"
    " 'errorMessage', a.error_message) ORDER BY a.attempt_number)"
    "  FROM webhook_delivery_attempts a WHERE a.delivery_id = d.id), '[]'::json))::text"
    " FROM webhook_deliveries d WHERE d.webhook_endpoint_id = $1::uuid AND ($2::text IS NULL OR d.status = $2::text)"
    " AND ($3::float8 IS NULL OR d.created_at >= to_timestamp($3::float8 / 1000)::timestamp)"
    " AND ($5::bigint IS NULL OR (d.created_at, d.id) < ('epoch'::timestamp + $5::bigint * interval '1 microsecond', $6::uuid))"
    " ORDER BY d.created_at DESC, d.id DESC LIMIT $4::int"};

// Being attempted right now: a node holds an unexpired claim on a message still to send.
constexpr const char* k_in_flight =
    "(d.status IN ('pending', 'failed') AND d.claimed_until IS NOT NULL AND d.claimed_until > NOW())";

// Due now under the same id; attempts kept, one more allowed whatever numbering a node uses
// (the row's attempt_number or the attempts recorded).
constexpr const char* k_make_due =
    "status = 'pending', next_retry_at = NULL, claimed_until = NULL,"
    " max_attempts = GREATEST(COALESCE(d.max_attempts, 0), COALESCE(d.attempt_number, 0) + 1,"
    "  COALESCE((SELECT max(a.attempt_number) FROM webhook_delivery_attempts a WHERE a.delivery_id = d.id), 0) + 1)";

const pg::statement k_lock_delivery{
    "ft_webhook_lock_delivery",
    std::string("SELECT d.id::text, d.webhook_endpoint_id::text, ") + k_in_flight + ", d.body_trimmed_at IS NOT NULL" +
        " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.webhook_endpoint_id AND e.deleted_at IS NULL"
        " WHERE d.id = $1::uuid FOR UPDATE OF d"};

const pg::statement k_redeliver{"ft_webhook_redeliver",
                                std::string("UPDATE webhook_deliveries d SET ") + k_make_due + " WHERE d.id = $1::uuid"};

const pg::statement k_recover{
    "ft_webhook_recover",
    std::string("UPDATE webhook_deliveries d SET ") + k_make_due +
        " WHERE d.webhook_endpoint_id = $1::uuid AND d.status = 'failed'"
        " AND d.created_at >= to_timestamp($2::float8 / 1000)::timestamp AND d.body_trimmed_at IS NULL AND NOT " + k_in_flight};

const pg::statement k_test_message{
    "ft_webhook_test_message",
    "SELECT id::text FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid AND event_type = 'webhook.test'"
    " AND xmin::text = (pg_current_xact_id()::text::bigint % 4294967296)::text ORDER BY created_at DESC LIMIT 1"};

error no_endpoint(std::string_view id) {
  return make_error(error_code::not_found, "no webhook endpoint " + std::string(id), "endpoint_id");
}

result<webhook_endpoint_state> endpoint_state(result<pg::rows> r, std::string_view id) {
  if (!r) return r.err();
  if (r->empty()) return no_endpoint(id);
  webhook_endpoint_state s;
  s.id = std::string(r->get(0, 0));
  s.workspace_id = std::string(r->get(0, 1));
  s.is_active = r->get_bool(0, 2);
  s.disabled_at = r->get_optional(0, 3);
  s.disabled_reason = r->get_optional(0, 4);
  s.failing_since = r->get_optional(0, 5);
  return s;
}

bool is_delivery_status(std::string_view s) {
  return s == "pending" || s == "delivered" || s == "failed" || s == "cancelled";
}

}  // namespace

result<void> rotate_webhook_endpoint_secret(pg::connection& c, std::string_view endpoint_id, std::string_view secret,
                                            const crypto::keyring& keys) {
  if (!runtime::is_uuid(endpoint_id)) return no_endpoint(endpoint_id);
  if (secret.size() > k_webhook_secret_max)
    return make_error(error_code::invalid, "secret must be at most " + std::to_string(k_webhook_secret_max) + " bytes",
                      "secret");
  if (!keys.can_seal())
    return make_error(error_code::unavailable, "no encryption_key is set, and webhook secrets are stored only encrypted",
                      "encryption_key");
  return pg::transact(c, [&](pg::connection& tx) -> result<void> {
    auto row = tx.exec(k_lock_endpoint, pg::params{}.add(endpoint_id));
    if (!row) return row.err();
    if (row->empty()) return no_endpoint(endpoint_id);
    std::string id(row->get(0, 0));
    auto sealed = keys.seal(secret, secret_context("secret_key", id));
    if (!sealed) return seal_error(sealed.err(), "the endpoint's secret");
    auto u = tx.exec(k_replace_secret, pg::params{}.add(id).add(std::move(*sealed)).add(k_previous_secret_hours));
    if (!u) return u.err();
    return {};
  });
}

result<webhook_endpoint_state> load_webhook_endpoint_state(pg::connection& c, std::string_view endpoint_id) {
  if (!runtime::is_uuid(endpoint_id)) return no_endpoint(endpoint_id);
  return endpoint_state(c.exec(k_endpoint_state, pg::params{}.add(endpoint_id)), endpoint_id);
}

result<webhook_endpoint_state> disable_webhook_endpoint(pg::connection& c, std::string_view endpoint_id, std::string_view reason) {
  if (!runtime::is_uuid(endpoint_id)) return no_endpoint(endpoint_id);
  return endpoint_state(c.exec(k_disable_endpoint, pg::params{}.add(endpoint_id).add(reason)), endpoint_id);
}

result<webhook_endpoint_state> enable_webhook_endpoint(pg::connection& c, std::string_view endpoint_id) {
  if (!runtime::is_uuid(endpoint_id)) return no_endpoint(endpoint_id);
  return endpoint_state(c.exec(k_enable_endpoint, pg::params{}.add(endpoint_id)), endpoint_id);
}

result<std::vector<std::string>> list_webhook_deliveries(pg::connection& c, std::string_view endpoint_id,
                                                         const webhook_delivery_filter& f) {
  if (f.status && !is_delivery_status(*f.status))
    return make_error(error_code::invalid, "status must be pending, delivered, failed or cancelled", "status");
  auto endpoint = load_webhook_endpoint_state(c, endpoint_id);
  if (!endpoint) return endpoint.err();
  auto r = c.exec(k_list_deliveries, pg::params{}
                                         .add(endpoint->id)
                                         .add(f.status)
                                         .add(f.since_ms ? std::optional<std::string>(std::to_string(*f.since_ms)) : std::nullopt)
                                         .add(f.limit)
                                         .add(f.before_us ? std::optional<std::string>(std::to_string(*f.before_us)) : std::nullopt)
                                         .add(f.before_id));
  if (!r) return r.err();
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) out.emplace_back(r->get(i, 0));
  return out;
}

result<redelivery> redeliver_webhook_delivery(pg::connection& c, std::string_view delivery_id) {
  auto missing = [&] { return make_error(error_code::not_found, "no webhook delivery " + std::string(delivery_id), "delivery_id"); };
  if (!runtime::is_uuid(delivery_id)) return missing();
  return pg::transact(c, [&](pg::connection& tx) -> result<redelivery> {
    auto row = tx.exec(k_lock_delivery, pg::params{}.add(delivery_id));
    if (!row) return row.err();
    if (row->empty()) return missing();
    redelivery out{std::string(row->get(0, 0)), std::string(row->get(0, 1))};
    if (row->get_bool(0, 2))
      return make_error(error_code::conflict,
                        "webhook delivery " + out.delivery_id + " is being attempted right now; redeliver it once that attempt ends",
                        "delivery_id");
    if (row->get_bool(0, 3))
      return make_error(error_code::conflict,
                        "webhook delivery " + out.delivery_id +
                            " cannot be sent again: housekeeping trimmed its body (webhook_body_retention_days)",
                        "delivery_id");
    auto u = tx.exec(k_redeliver, pg::params{}.add(out.delivery_id));
    if (!u) return u.err();
    return out;
  });
}

result<std::string> queue_webhook_test(pg::connection& c, std::string_view endpoint_id) {
  auto endpoint = load_webhook_endpoint_state(c, endpoint_id);
  if (!endpoint) return endpoint.err();
  if (endpoint->disabled_at || !endpoint->is_active)
    return make_error(error_code::invalid,
                      "webhook endpoint " + endpoint->id + " is disabled; `flowtrackd webhook enable " + endpoint->id + "` first",
                      "endpoint_id");
  std::string data = boost::json::serialize(boost::json::object{{"endpointId", endpoint->id}});
  return pg::transact(c, [&](pg::connection& tx) -> result<std::string> {
    auto made = emit_webhook_event(tx, endpoint->workspace_id, "webhook.test", data, endpoint->id);
    if (!made) return made.err();
    // The outbox counts what it wrote; the message is the row this transaction wrote (xmin).
    auto r = tx.exec(k_test_message, pg::params{}.add(endpoint->id));
    if (!r) return r.err();
    if (*made == 0 || r->empty())
      return make_error(error_code::invalid, "webhook endpoint " + endpoint->id + " is not active", "endpoint_id");
    return std::string(r->get(0, 0));
  });
}

result<std::int64_t> recover_webhook_deliveries(pg::connection& c, std::string_view endpoint_id, std::int64_t since_ms) {
  auto endpoint = load_webhook_endpoint_state(c, endpoint_id);
  if (!endpoint) return endpoint.err();
  auto r = c.exec(k_recover, pg::params{}.add(endpoint->id).add(since_ms));
  if (!r) return r.err();
  return static_cast<std::int64_t>(r->affected());
}

}  // namespace flowtrack::storage
