#include "storage/workflows.hpp"

#include <boost/json/serialize.hpp>
#include <openssl/rand.h>

#include "storage/hash.hpp"
#include "storage/pg/array.hpp"

namespace flowtrack::storage {
namespace {

std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

result<void> load_details(pg::connection& c, domain::workflow_record& w, std::optional<int> version) {
  auto g = c.exec("SELECT graph::text, version FROM workflow_versions WHERE workflow_id = $1 AND version = $2",
                  pg::params{}.add(w.id).add(static_cast<std::int64_t>(version.value_or(w.version))));
  if (!g) return g.err();
  if (g->empty())
    return make_error(error_code::not_found,
                      "workflow " + w.id + " has no version " + std::to_string(version.value_or(w.version)), "version");
  w.graph = g->get(0, 0);
  w.version = static_cast<int>(g->get_int(0, 1));
  auto nodes = c.exec("SELECT react_flow_node_id, id FROM workflow_nodes WHERE workflow_id = $1", pg::params{}.add(w.id));
  if (!nodes) return nodes.err();
  for (int i = 0; i < nodes->size(); ++i) w.node_ids[std::string(nodes->get(i, 0))] = nodes->get(i, 1);
  auto f = c.exec(
      "SELECT id, field_key, label, field_type, options::text, placeholder, help_text, is_required, validation_rules::text,"
      " display_order FROM form_fields WHERE workflow_id = $1 AND deleted_at IS NULL AND is_active"
      " ORDER BY display_order, field_key",
      pg::params{}.add(w.id));
  if (!f) return f.err();
  for (int i = 0; i < f->size(); ++i) {
    domain::form_field_record r;
    r.id = f->get(i, 0);
    r.field_key = f->get(i, 1);
    r.label = f->get(i, 2);
    r.field_type = f->get(i, 3);
    r.options = f->get_optional(i, 4);
    r.placeholder = f->get_optional(i, 5);
    r.help_text = f->get_optional(i, 6);
    r.is_required = f->get_bool(i, 7);
    r.validation_rules = f->get_optional(i, 8);
    r.display_order = static_cast<int>(f->get_int(i, 9));
    w.fields.push_back(std::move(r));
  }
  return {};
}

const std::string k_select_workflow =
    "SELECT id, workspace_id, name, status, version, COALESCE(settings, '{}'::jsonb)::text, booking_url,"
    " webhook_token_hash, " + std::string(k_workflow_fingerprint_sql) + " FROM workflows f WHERE deleted_at IS NULL AND workspace_id = $1";

domain::workflow_record read_workflow(const pg::rows& r, int i) {
  domain::workflow_record w;
  w.id = r.get(i, 0);
  w.workspace_id = r.get(i, 1);
  w.name = r.get(i, 2);
  w.status = domain::parse_workflow_status(r.get(i, 3)).value_or(domain::workflow_status::draft);
  w.version = static_cast<int>(r.get_int(i, 4));
  w.settings = r.get(i, 5);
  w.booking_url = r.get_optional(i, 6);
  w.webhook_token_hash = r.get_optional(i, 7);
  w.fingerprint = r.get(i, 8);
  return w;
}

}  // namespace

result<void> insert_workflow_edges(pg::connection& tx, const std::string& workflow_id, const std::vector<runtime::edge_row>& edges) {
  if (edges.empty()) return {};
  pg::array_builder rf, src, dst, sh, th, type, label, cond, enabled;
  for (const auto& e : edges) {
    rf.add(e.react_flow_edge_id);
    src.add(e.source_node_id);
    dst.add(e.target_node_id);
    sh.add_optional(e.source_handle);
    th.add_optional(e.target_handle);
    type.add(e.edge_type);
    label.add_optional(e.label);
    e.condition.is_null() ? cond.add_null() : cond.add(boost::json::serialize(e.condition));
    enabled.add(std::string_view(e.is_enabled ? "t" : "f"));
  }
  auto r = tx.exec(
      "INSERT INTO workflow_edges (workflow_id, react_flow_edge_id, source_node_id, target_node_id, source_handle,"
      " target_handle, edge_type, label, condition, is_enabled)"
      " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
      " $9::jsonb[], $10::bool[])",
      pg::params{}.add(workflow_id).add(rf.finish()).add(src.finish()).add(dst.finish()).add(sh.finish()).add(th.finish())
          .add(type.finish()).add(label.finish()).add(cond.finish()).add(enabled.finish()));
  if (!r) return r.err();
  return {};
}

result<std::string> create_workflow(pg::connection& c, const new_workflow& w) {
  return pg::transact(c, [&](pg::connection& tx) -> result<std::string> {
    auto wf = tx.exec(
        "INSERT INTO workflows (workspace_id, name, status, settings, booking_url) VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id",
        pg::params{}.add(w.workspace_id).add(w.name).add(w.status).add(w.settings).add(w.booking_url));
    if (!wf) return wf.err();
    std::string id = std::string(wf->get(0, 0));

    if (!w.nodes.empty()) {
      pg::array_builder rf, type, cat, x, y, config, enabled, order;
      for (const auto& n : w.nodes) {
        rf.add(n.react_flow_node_id);
        type.add(n.node_type);
        cat.add(n.node_category);
        x.add(number_text(n.position_x));
        y.add(number_text(n.position_y));
        config.add(boost::json::serialize(n.config));
        enabled.add(std::string_view(n.is_enabled ? "t" : "f"));
        n.execution_order ? order.add(static_cast<std::int64_t>(*n.execution_order)) : order.add_null();
      }
      auto r = tx.exec(
          "INSERT INTO workflow_nodes (workflow_id, react_flow_node_id, node_type, node_category, position_x, position_y,"
          " config, is_enabled, execution_order)"
          " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::jsonb[],"
          " $8::bool[], $9::int[])",
          pg::params{}.add(id).add(rf.finish()).add(type.finish()).add(cat.finish()).add(x.finish()).add(y.finish())
              .add(config.finish()).add(enabled.finish()).add(order.finish()));
      if (!r) return r.err();
    }
    if (auto r = insert_workflow_edges(tx, id, w.edges); !r) return r.err();
    for (const auto& f : w.fields) {
      auto r = tx.exec(
          "INSERT INTO form_fields (workflow_id, field_key, label, field_type, options, placeholder, help_text, is_required,"
          " validation_rules, display_order) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9::jsonb, $10)",
          pg::params{}.add(id).add(f.field_key).add(f.label).add(f.field_type).add(f.options).add(f.placeholder)
              .add(f.help_text).add(f.is_required).add(f.validation_rules).add(f.display_order));
      if (!r) {
        auto e = r.err();
        e.message = "form field '" + f.field_key + "': " + e.message;
        return e;
      }
    }
    auto v = tx.exec("INSERT INTO workflow_versions (workflow_id, version, graph, settings) VALUES ($1, 1, $2::jsonb, $3::jsonb)",
                     pg::params{}.add(id).add(w.graph).add(w.settings));
    if (!v) return v.err();
    return id;
  });
}

result<std::vector<domain::workflow_record>> load_workflows(pg::connection& c, std::string_view workspace_id) {
  auto r = c.exec(std::string(k_select_workflow) + " ORDER BY created_at", pg::params{}.add(workspace_id));
  if (!r) return r.err();
  std::vector<domain::workflow_record> out;
  for (int i = 0; i < r->size(); ++i) {
    auto w = read_workflow(*r, i);
    if (auto d = load_details(c, w, std::nullopt); !d) {
      if (d.err().subject == "version") continue;  // made outside FlowTrack, without a graph: nothing to run
      return d.err();
    }
    out.push_back(std::move(w));
  }
  return out;
}

result<domain::workflow_record> load_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id,
                                      std::optional<int> version) {
  auto r = c.exec(std::string(k_select_workflow) + " AND id = $2", pg::params{}.add(workspace_id).add(workflow_id));
  if (!r) return r.err();
  if (r->empty()) return make_error(error_code::not_found, "no workflow " + std::string(workflow_id) + " in this workspace", "workflow");
  auto w = read_workflow(*r, 0);
  if (auto d = load_details(c, w, version); !d) return d.err();
  return w;
}

result<void> set_workflow_status(pg::connection& c, std::string_view workflow_id, domain::workflow_status status) {
  auto r = c.exec("UPDATE workflows SET status = $2 WHERE id = $1::uuid AND deleted_at IS NULL AND status <> 'archived'",
                  pg::params{}.add(workflow_id).add(to_string(status)));
  if (!r) return r.err();
  if (r->affected() != 1)
    return make_error(error_code::not_found, "no workflow " + std::string(workflow_id) + " that is not archived", "workflow");
  return {};
}

std::string token_hash(std::string_view token) { return sha256_hex(token); }

result<std::string> new_token(std::string_view prefix) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return make_error(error_code::internal, "no random bytes for a token");
  static const char* hex = "0123456789abcdef";
  std::string token(prefix);
  for (unsigned char b : bytes) {
    token += hex[b >> 4];
    token += hex[b & 15];
  }
  return token;
}

result<std::string> rotate_webhook_token(pg::connection& c, std::string_view workflow_id) {
  auto made = new_token("ftwh_");
  if (!made) return made.err();
  std::string token = std::move(*made);
  auto r = c.exec("UPDATE workflows SET webhook_token_hash = $2 WHERE id = $1::uuid AND deleted_at IS NULL",
                  pg::params{}.add(workflow_id).add(token_hash(token)));
  if (!r) return r.err();
  if (r->affected() != 1) return make_error(error_code::not_found, "no workflow " + std::string(workflow_id), "workflow");
  return token;
}

result<std::string> workspace_of_workflow(pg::connection& c, std::string_view workflow_id) {
  auto r = c.exec("SELECT workspace_id FROM workflows WHERE id = $1::uuid AND deleted_at IS NULL", pg::params{}.add(workflow_id));
  if (!r) return r.err();
  if (r->empty()) return make_error(error_code::not_found, "no workflow " + std::string(workflow_id), "workflow");
  return std::string(r->get(0, 0));
}

}  // namespace flowtrack::storage
