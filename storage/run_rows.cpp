#include "storage/run_rows.hpp"

#include <boost/json.hpp>

namespace flowtrack::storage {

std::string json_list(const std::vector<std::string>& items) {
  boost::json::array a;
  for (const auto& s : items) a.emplace_back(s);
  return boost::json::serialize(a);
}

void run_rows::add(std::int64_t idx, const domain::run_record& r) {
  for (const auto& s : r.steps) {
    s_idx_.add(idx);
    s_id_.add(s.id);
    s_node_.add(s.workflow_node_id);
    s_number_.add(static_cast<std::int64_t>(s.step_number));
    s_status_.add(to_string(s.status));
    s_started_.add_optional(s.started_at);
    s_completed_.add_optional(s.completed_at);
    s.duration_ms ? s_duration_.add(static_cast<std::int64_t>(*s.duration_ms)) : s_duration_.add_null();
    s_input_.add_optional(s.input_data);
    s_output_.add_optional(s.output_data);
    s_err_.add_optional(s.error_message);
    s_details_.add_optional(s.error_details);
    s_retry_.add(static_cast<std::int64_t>(s.retry_count));
  }
  for (const auto& e : r.events) {
    e_idx_.add(idx);
    e_type_.add(e.event_type);
    e_category_.add(e.event_category);
    e_description_.add(e.description);
    e_metadata_.add_optional(e.metadata);
  }
  for (const auto& g : r.logs) {
    g_idx_.add(idx);
    g_level_.add(g.level);
    g_category_.add(g.category);
    g_message_.add(g.message);
    g_details_.add_optional(g.details);
    g_node_type_.add_optional(g.node_type);
    g_step_.add_optional(g.step_id);
  }
}

void run_rows::append_to(pg::params& p) {
  for (auto* b : {&s_idx_, &s_id_, &s_node_, &s_number_, &s_status_, &s_started_, &s_completed_, &s_duration_, &s_input_,
                  &s_output_, &s_err_, &s_details_, &s_retry_, &e_idx_, &e_type_, &e_category_, &e_description_,
                  &e_metadata_, &g_idx_, &g_level_, &g_category_, &g_message_, &g_details_, &g_node_type_, &g_step_})
    p.add(b->finish());
}

std::string run_rows::insert_sql(std::string_view source, int first) {
  std::string sql = R"sql(,
steps AS (
  INSERT INTO execution_steps AS s (id, execution_id, workflow_node_id, step_number, status, started_at, completed_at,
                                    duration_ms, input_data, output_data, error_message, error_details, retry_count)
  SELECT st.id, src.id, st.node_id, st.step_number, st.status, st.started_at, st.completed_at, st.duration_ms,
         st.input_data, st.output_data, st.error_message, st.error_details, st.retry_count
  FROM unnest($0::int[], $1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::timestamp[], $6::timestamp[],
              $7::int[], $8::jsonb[], $9::jsonb[], $10::text[], $11::jsonb[], $12::int[])
    AS st(idx, id, node_id, step_number, status, started_at, completed_at, duration_ms, input_data, output_data,
          error_message, error_details, retry_count)
  JOIN {source} src ON src.idx = st.idx
  ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, completed_at = EXCLUDED.completed_at,
    duration_ms = EXCLUDED.duration_ms, output_data = EXCLUDED.output_data, error_message = EXCLUDED.error_message,
    error_details = EXCLUDED.error_details, retry_count = EXCLUDED.retry_count
),
events AS (
  INSERT INTO lead_events (lead_id, event_type, event_category, description, metadata, triggered_by_workflow_execution_id)
  SELECT src.lead_id, ev.event_type, ev.category, ev.description, ev.metadata, src.id
  FROM unnest($13::int[], $14::text[], $15::text[], $16::text[], $17::jsonb[])
    AS ev(idx, event_type, category, description, metadata)
  JOIN {source} src ON src.idx = ev.idx
  WHERE src.lead_id IS NOT NULL
),
logs AS (
  INSERT INTO execution_logs (execution_id, execution_step_id, workspace_id, log_level, log_category, message, details, node_type)
  SELECT src.id, lg.step_id, src.workspace_id, lg.level, lg.category, lg.message, lg.details, lg.node_type
  FROM unnest($18::int[], $19::text[], $20::text[], $21::text[], $22::jsonb[], $23::text[], $24::uuid[])
    AS lg(idx, level, category, message, details, node_type, step_id)
  JOIN {source} src ON src.idx = lg.idx
))sql";
  // Number the parameters from `first` and name the source.
  std::string out;
  out.reserve(sql.size() + 64);
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '$') {
      std::size_t j = i + 1;
      int n = 0;
      while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') n = n * 10 + (sql[j++] - '0');
      out += '$' + std::to_string(first + n);
      i = j - 1;
    } else if (sql.compare(i, 8, "{source}") == 0) {
      out += source;
      i += 7;
    } else {
      out += sql[i];
    }
  }
  return out;
}

}  // namespace flowtrack::storage
