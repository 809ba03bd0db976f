#include "storage/workspace_resources.hpp"

#include <charconv>

#include <boost/json/serialize.hpp>

#include "runtime/text.hpp"
#include "storage/pg/array.hpp"

namespace flowtrack::storage {
namespace {

constexpr std::string_view k_iso = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";

std::string iso(std::string_view column) { return "to_char(" + std::string(column) + ", " + std::string(k_iso) + ")"; }
std::string micros(std::string_view column) { return "(extract(epoch FROM " + std::string(column) + ") * 1000000)::bigint"; }
constexpr std::string_view k_at_micros = "('epoch'::timestamp + $%::bigint * interval '1 microsecond')";

std::string at_micros(int n) {
  std::string s(k_at_micros);
  s.replace(s.find('%'), 1, std::to_string(n));
  return s;
}

std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

result<bool> exists(pg::connection& c, std::string_view sql, std::string_view a, std::string_view b) {
  if (!runtime::is_uuid(a) || !runtime::is_uuid(b)) return false;
  auto r = c.exec(sql, pg::params{}.add(a).add(b));
  if (!r) return r.err();
  return !r->empty();
}

result<void> replace_graph(pg::connection& tx, const std::string& id, const workflow_patch& p) {
  pg::array_builder rf, type, cat, x, y, config, enabled, order;
  for (const auto& n : p.nodes) {
    rf.add(n.react_flow_node_id);
    type.add(n.node_type);
    cat.add(n.node_category);
    x.add(number_text(n.position_x));
    y.add(number_text(n.position_y));
    config.add(boost::json::serialize(n.config));
    enabled.add(std::string_view(n.is_enabled ? "t" : "f"));
    n.execution_order ? order.add(static_cast<std::int64_t>(*n.execution_order)) : order.add_null();
  }
  auto ids = rf.finish();
  // Nodes are kept by their React Flow id (execution_steps refer to them); a node gone from the
  // graph is deleted unless steps recorded it, then disabled (history stays readable).
  auto up = tx.exec(
      "INSERT INTO workflow_nodes (workflow_id, react_flow_node_id, node_type, node_category, position_x, position_y,"
      " config, is_enabled, execution_order)"
      " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::jsonb[],"
      " $8::bool[], $9::int[])"
      " ON CONFLICT (workflow_id, react_flow_node_id) DO UPDATE SET node_type = EXCLUDED.node_type,"
      " node_category = EXCLUDED.node_category, position_x = EXCLUDED.position_x, position_y = EXCLUDED.position_y,"
      " config = EXCLUDED.config, is_enabled = EXCLUDED.is_enabled, execution_order = EXCLUDED.execution_order",
      pg::params{}.add(id).add(ids).add(type.finish()).add(cat.finish()).add(x.finish()).add(y.finish())
          .add(config.finish()).add(enabled.finish()).add(order.finish()));
  if (!up) return up.err();
  auto gone = tx.exec(
      "DELETE FROM workflow_nodes n WHERE n.workflow_id = $1 AND NOT (n.react_flow_node_id = ANY($2::text[]))"
      " AND NOT EXISTS (SELECT 1 FROM execution_steps s WHERE s.workflow_node_id = n.id)",
      pg::params{}.add(id).add(ids));
  if (!gone) return gone.err();
  auto off = tx.exec("UPDATE workflow_nodes SET is_enabled = false WHERE workflow_id = $1 AND NOT (react_flow_node_id = ANY($2::text[]))",
                     pg::params{}.add(id).add(ids));
  if (!off) return off.err();
  auto del = tx.exec("DELETE FROM workflow_edges WHERE workflow_id = $1", pg::params{}.add(id));
  if (!del) return del.err();
  return insert_workflow_edges(tx, id, p.edges);
}

result<void> replace_fields(pg::connection& tx, const std::string& id, const std::vector<domain::form_field_record>& fields) {
  pg::array_builder keys;
  for (const auto& f : fields) {
    keys.add(f.field_key);
    auto r = tx.exec(
        "INSERT INTO form_fields (workflow_id, field_key, label, field_type, options, placeholder, help_text, is_required,"
        " validation_rules, display_order) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9::jsonb, $10)"
        " ON CONFLICT (workflow_id, field_key) DO UPDATE SET label = EXCLUDED.label, field_type = EXCLUDED.field_type,"
        " options = EXCLUDED.options, placeholder = EXCLUDED.placeholder, help_text = EXCLUDED.help_text,"
        " is_required = EXCLUDED.is_required, validation_rules = EXCLUDED.validation_rules,"
        " display_order = EXCLUDED.display_order, deleted_at = NULL, is_active = true",
        pg::params{}.add(id).add(f.field_key).add(f.label).add(f.field_type).add(f.options).add(f.placeholder)
            .add(f.help_text).add(f.is_required).add(f.validation_rules).add(f.display_order));
    if (!r) {
      auto e = r.err();
      e.message = "form field '" + f.field_key + "': " + e.message;
      return e;
    }
  }
  auto r = tx.exec("UPDATE form_fields SET deleted_at = NOW() WHERE workflow_id = $1 AND deleted_at IS NULL"
                   " AND NOT (field_key = ANY($2::text[]))",
                   pg::params{}.add(id).add(keys.finish()));
  if (!r) return r.err();
  return {};
}

}  // namespace

std::string to_cursor(const page_key& k) { return std::to_string(k.created_us) + "." + k.id; }

std::optional<page_key> parse_page_key(std::string_view cursor) {
  auto dot = cursor.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  page_key k;
  auto [p, ec] = std::from_chars(cursor.data(), cursor.data() + dot, k.created_us);
  if (ec != std::errc{} || p != cursor.data() + dot) return std::nullopt;
  k.id = std::string(cursor.substr(dot + 1));
  if (!runtime::is_uuid(k.id)) return std::nullopt;
  return k;
}

result<std::vector<workflow_summary>> list_workflow_page(pg::connection& c, std::string_view workspace_id,
                                                         const std::optional<page_key>& after, int limit,
                                                         const std::optional<std::string>& status) {
  std::string sql = "SELECT id, name, description, status, version, total_executions, successful_executions, failed_executions, " +
                    iso("created_at") + ", " + iso("updated_at") + ", " + micros("created_at") +
                    " FROM workflows WHERE workspace_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR status = $2)";
  pg::params params;
  params.add(workspace_id).add(status);
  if (after) {
    sql += " AND (created_at, id) > (" + at_micros(3) + ", $4::uuid)";
    params.add(after->created_us).add(after->id);
  }
  sql += " ORDER BY created_at, id LIMIT " + std::to_string(limit);
  auto r = c.exec(sql, params);
  if (!r) return r.err();
  std::vector<workflow_summary> out;
  for (int i = 0; i < r->size(); ++i) {
    workflow_summary w;
    w.id = r->get(i, 0);
    w.name = r->get(i, 1);
    w.description = r->get_optional(i, 2);
    w.status = r->get(i, 3);
    w.version = static_cast<int>(r->get_int(i, 4));
    w.total_executions = r->get_int(i, 5);
    w.successful_executions = r->get_int(i, 6);
    w.failed_executions = r->get_int(i, 7);
    w.created_at = r->get(i, 8);
    w.updated_at = r->get(i, 9);
    w.key = {r->get_int(i, 10), w.id};
    out.push_back(std::move(w));
  }
  return out;
}

result<int> update_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id, int expected_version,
                            const workflow_patch& p) {
  if (!runtime::is_uuid(workflow_id)) return make_error(error_code::not_found, "no such workflow in this workspace", "workflow");
  return pg::transact(c, [&](pg::connection& tx) -> result<int> {
    auto row = tx.exec("SELECT version, COALESCE(settings, '{}'::jsonb)::text FROM workflows WHERE id = $1 AND workspace_id = $2"
                       " AND deleted_at IS NULL FOR UPDATE",
                       pg::params{}.add(workflow_id).add(workspace_id));
    if (!row) return row.err();
    if (row->empty()) return make_error(error_code::not_found, "no such workflow in this workspace", "workflow");
    int version = static_cast<int>(row->get_int(0, 0));
    if (version != expected_version)
      return make_error(error_code::conflict,
                        "the workflow is at version " + std::to_string(version) + ", not " + std::to_string(expected_version) +
                            ": read it again and reapply the change",
                        "version");
    std::string id(workflow_id);
    bool new_version = p.graph.has_value() || p.settings.has_value();
    if (p.graph)
      if (auto r = replace_graph(tx, id, p); !r) return r.err();
    if (p.fields)
      if (auto r = replace_fields(tx, id, *p.fields); !r) return r.err();
    auto up = tx.exec(
        "UPDATE workflows SET name = COALESCE($2, name), description = COALESCE($3, description),"
        " settings = COALESCE($4::jsonb, settings), booking_url = CASE WHEN $6 THEN NULL ELSE COALESCE($5, booking_url) END,"
        " version = version + $7, template_id = COALESCE($8, template_id),"
        " template_version = CASE WHEN $8 IS NULL THEN template_version ELSE 1 END WHERE id = $1 RETURNING version",
        pg::params{}.add(id).add(p.name).add(p.description).add(p.settings).add(p.booking_url).add(p.clear_booking_url)
            .add(new_version ? 1 : 0).add(p.template_id));
    if (!up) return up.err();
    int now = static_cast<int>(up->get_int(0, 0));
    if (new_version) {
      // The new version's graph: the new one, or the current version's when only settings changed.
      auto v = tx.exec(
          "INSERT INTO workflow_versions (workflow_id, version, graph, settings)"
          " SELECT $1, $2, COALESCE($3::jsonb, (SELECT graph FROM workflow_versions WHERE workflow_id = $1 AND version = $4)),"
          " COALESCE(w.settings, '{}'::jsonb) FROM workflows w WHERE w.id = $1",
          pg::params{}.add(id).add(now).add(p.graph).add(version));
      if (!v) return v.err();
    }
    return now;
  });
}

result<void> delete_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id) {
  if (!runtime::is_uuid(workflow_id)) return make_error(error_code::not_found, "no such workflow in this workspace", "workflow");
  auto r = c.exec("UPDATE workflows SET deleted_at = NOW(), status = 'archived' WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL",
                  pg::params{}.add(workflow_id).add(workspace_id));
  if (!r) return r.err();
  if (r->affected() != 1) return make_error(error_code::not_found, "no such workflow in this workspace", "workflow");
  return {};
}

result<bool> workflow_in_workspace(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id) {
  return exists(c, "SELECT 1 FROM workflows WHERE id = $2::uuid AND workspace_id = $1::uuid AND deleted_at IS NULL", workspace_id,
                workflow_id);
}

result<std::vector<execution_summary>> list_execution_page(pg::connection& c, std::string_view workspace_id, const execution_filter& f,
                                                           const std::optional<page_key>& after, int limit) {
  std::string sql = "SELECT id, workflow_id, status, trigger_type, lead_id, error_message, " + iso("started_at") + ", " +
                    iso("completed_at") + ", duration_ms, " + iso("created_at") + ", " + micros("created_at") +
                    " FROM workflow_executions WHERE workspace_id = $1 AND ($2::uuid IS NULL OR workflow_id = $2::uuid)"
                    " AND ($3::text IS NULL OR status = $3) AND ($4::uuid IS NULL OR lead_id = $4::uuid)";
  pg::params params;
  params.add(workspace_id).add(f.workflow_id).add(f.status).add(f.lead_id);
  if (after) {
    sql += " AND (created_at, id) < (" + at_micros(5) + ", $6::uuid)";
    params.add(after->created_us).add(after->id);
  }
  sql += " ORDER BY created_at DESC, id DESC LIMIT " + std::to_string(limit);
  auto r = c.exec(sql, params);
  if (!r) return r.err();
  std::vector<execution_summary> out;
  for (int i = 0; i < r->size(); ++i) {
    execution_summary e;
    e.id = r->get(i, 0);
    e.workflow_id = r->get(i, 1);
    e.status = r->get(i, 2);
    e.trigger_type = r->get(i, 3);
    e.lead_id = r->get_optional(i, 4);
    e.error_message = r->get_optional(i, 5);
    e.started_at = r->get_optional(i, 6);
    e.completed_at = r->get_optional(i, 7);
    if (!r->is_null(i, 8)) e.duration_ms = r->get_int(i, 8);
    e.created_at = r->get(i, 9);
    e.key = {r->get_int(i, 10), e.id};
    out.push_back(std::move(e));
  }
  return out;
}

result<bool> execution_in_workspace(pg::connection& c, std::string_view workspace_id, std::string_view execution_id) {
  return exists(c, "SELECT 1 FROM workflow_executions WHERE id = $2::uuid AND workspace_id = $1::uuid", workspace_id, execution_id);
}

result<std::optional<std::string>> execution_document(pg::connection& c, std::string_view workspace_id,
                                                      std::string_view execution_id) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(execution_id)) return std::optional<std::string>{};
  static const std::string sql =
      "SELECT jsonb_build_object("
      "'execution', jsonb_build_object('id', e.id, 'workflowId', e.workflow_id, 'workflowName', w.name,"
      " 'workflowVersion', e.workflow_version, 'leadId', e.lead_id, 'executionNumber', e.execution_number,"
      " 'idempotencyKey', e.idempotency_key, 'triggerType', e.trigger_type, 'triggerNodeId', e.trigger_node_id,"
      " 'triggerData', e.trigger_data, 'status', e.status, 'startedAt', " + iso("e.started_at") +
      ", 'completedAt', " + iso("e.completed_at") + ", 'resumeAt', " + iso("e.resume_at") +
      ", 'durationMs', e.duration_ms, 'errorMessage', e.error_message, 'errorDetails', e.error_details,"
      " 'retryCount', e.retry_count, 'maxRetries', e.max_retries, 'outputData', e.output_data,"
      " 'createdAt', " + iso("e.created_at") + ", 'updatedAt', " + iso("e.updated_at") + "),"
      "'steps', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'nodeId', n.react_flow_node_id, 'nodeType', n.node_type,"
      " 'workflowNodeId', s.workflow_node_id, 'stepNumber', s.step_number, 'status', s.status, 'startedAt', " + iso("s.started_at") +
      ", 'completedAt', " + iso("s.completed_at") + ", 'durationMs', s.duration_ms, 'inputData', s.input_data,"
      " 'outputData', s.output_data, 'errorMessage', s.error_message, 'errorDetails', s.error_details,"
      " 'retryCount', s.retry_count, 'createdAt', " + iso("s.created_at") + ", 'updatedAt', " + iso("s.updated_at") +
      ") ORDER BY s.step_number)"
      " FROM execution_steps s JOIN workflow_nodes n ON n.id = s.workflow_node_id WHERE s.execution_id = e.id), '[]'::jsonb),"
      "'logs', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', l.id, 'executionStepId', l.execution_step_id,"
      " 'logLevel', l.log_level, 'logCategory', l.log_category, 'message', l.message, 'details', l.details,"
      " 'nodeType', l.node_type, 'createdAt', " + iso("l.created_at") + ") ORDER BY l.created_at, l.id)"
      " FROM execution_logs l WHERE l.execution_id = e.id AND l.workspace_id = e.workspace_id), '[]'::jsonb))::text"
      " FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id WHERE e.id = $2::uuid AND e.workspace_id = $1::uuid";
  auto r = c.exec(sql, pg::params{}.add(workspace_id).add(execution_id));
  if (!r) return r.err();
  if (r->empty()) return std::optional<std::string>{};
  return std::optional<std::string>(std::string(r->get(0, 0)));
}

result<bool> webhook_endpoint_in_workspace(pg::connection& c, std::string_view workspace_id, std::string_view endpoint_id) {
  return exists(c, "SELECT 1 FROM webhook_endpoints WHERE id = $2::uuid AND workspace_id = $1::uuid AND deleted_at IS NULL",
                workspace_id, endpoint_id);
}

result<bool> delivery_of_endpoint(pg::connection& c, std::string_view endpoint_id, std::string_view delivery_id) {
  return exists(c, "SELECT 1 FROM webhook_deliveries WHERE id = $2::uuid AND webhook_endpoint_id = $1::uuid", endpoint_id, delivery_id);
}

result<page_key> delivery_page_key(pg::connection& c, std::string_view delivery_id) {
  auto r = c.exec("SELECT " + micros("created_at") + ", id::text FROM webhook_deliveries WHERE id = $1::uuid", pg::params{}.add(delivery_id));
  if (!r) return r.err();
  if (r->empty()) return make_error(error_code::not_found, "no such delivery", "delivery");
  return page_key{r->get_int(0, 0), std::string(r->get(0, 1))};
}

result<void> update_webhook_endpoint(pg::connection& c, std::string_view workspace_id, std::string_view endpoint_id,
                                     const webhook_endpoint_patch& p) {
  if (!runtime::is_uuid(endpoint_id)) return make_error(error_code::not_found, "no such webhook endpoint in this workspace", "endpoint");
  std::optional<std::string> events;
  if (p.events) {
    pg::array_builder a;
    for (const auto& e : *p.events) a.add(e);
    events = a.finish();
  }
  auto r = c.exec(
      "UPDATE webhook_endpoints SET url = COALESCE($3, url), description = COALESCE($4, description),"
      " subscribed_events = COALESCE($5::text[], subscribed_events), max_retries = COALESCE($6::int, max_retries),"
      " retry_delay_seconds = COALESCE($7::int, retry_delay_seconds)"
      " WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL",
      pg::params{}.add(endpoint_id).add(workspace_id).add(p.url).add(p.description).add(events)
          .add(p.max_retries ? std::optional<std::string>(std::to_string(*p.max_retries)) : std::nullopt)
          .add(p.retry_delay_seconds ? std::optional<std::string>(std::to_string(*p.retry_delay_seconds)) : std::nullopt));
  if (!r) return r.err();
  if (r->affected() != 1) return make_error(error_code::not_found, "no such webhook endpoint in this workspace", "endpoint");
  return {};
}

result<void> delete_webhook_endpoint(pg::connection& c, std::string_view workspace_id, std::string_view endpoint_id) {
  if (!runtime::is_uuid(endpoint_id)) return make_error(error_code::not_found, "no such webhook endpoint in this workspace", "endpoint");
  return pg::transact(c, [&](pg::connection& tx) -> result<void> {
    auto r = tx.exec("UPDATE webhook_endpoints SET deleted_at = NOW(), is_active = false WHERE id = $1 AND workspace_id = $2"
                     " AND deleted_at IS NULL",
                     pg::params{}.add(endpoint_id).add(workspace_id));
    if (!r) return r.err();
    if (r->affected() != 1) return make_error(error_code::not_found, "no such webhook endpoint in this workspace", "endpoint");
    auto d = tx.exec("UPDATE webhook_deliveries SET status = 'cancelled', next_retry_at = NULL WHERE webhook_endpoint_id = $1"
                     " AND (status = 'pending' OR (status = 'failed' AND next_retry_at IS NOT NULL))",
                     pg::params{}.add(endpoint_id));
    if (!d) return d.err();
    return {};
  });
}

}  // namespace flowtrack::storage
