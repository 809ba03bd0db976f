#include "storage/tracking.hpp"

#include "storage/webhook_outbox.hpp"

namespace flowtrack::storage {
namespace {

// $1 workspace, $2 lead, $3 execution (or NULL), $4 URL (or NULL). An open counts once per email
// (the execution that sent it; migration 018's unique index, so two loads of the pixel at once
// count once too); a click counts each time. What is newly recorded is also an email.opened or
// email.clicked message to the workspace's subscribed webhook endpoints (webhook_outbox.hpp).
const pg::statement k_open{"ft_track_open", R"sql(
WITH lead AS (
  UPDATE leads SET last_email_opened_at = now() WHERE id = $2::uuid AND workspace_id = $1::uuid RETURNING id
), ev AS (
  INSERT INTO lead_events (lead_id, event_type, event_category, description, metadata, triggered_by_workflow_execution_id)
  SELECT id, 'EMAIL_OPENED', 'communication', 'Email opened', NULL, $3::uuid FROM lead
  ON CONFLICT (lead_id, triggered_by_workflow_execution_id) WHERE event_type = 'EMAIL_OPENED' DO NOTHING
  RETURNING id
), st AS (
  INSERT INTO workspace_daily_stats (workspace_id, stat_date, emails_opened)
  SELECT $1::uuid, current_date, 1 FROM ev
  ON CONFLICT (workspace_id, stat_date) DO UPDATE SET emails_opened = COALESCE(workspace_daily_stats.emails_opened, 0) + 1
))sql" + detail::outbox_ctes("ep.workspace_id = $1::uuid",
                             "SELECT $1::uuid, 'email.opened', jsonb_build_object('lead_id', $2::uuid, 'execution_id', $3::uuid)"
                             " FROM ev WHERE EXISTS (SELECT 1 FROM wh_ep)") + R"sql(
SELECT (SELECT count(*) FROM lead), (SELECT count(*) FROM ev)
)sql"};

const pg::statement k_click{"ft_track_click", R"sql(
WITH lead AS (
  SELECT id FROM leads WHERE id = $2::uuid AND workspace_id = $1::uuid
), ev AS (
  INSERT INTO lead_events (lead_id, event_type, event_category, description, metadata, triggered_by_workflow_execution_id)
  SELECT id, 'EMAIL_CLICKED', 'communication', 'Link clicked', jsonb_build_object('url', $4::text), $3::uuid FROM lead RETURNING id
), st AS (
  INSERT INTO workspace_daily_stats (workspace_id, stat_date, emails_clicked)
  SELECT $1::uuid, current_date, 1 FROM ev
  ON CONFLICT (workspace_id, stat_date) DO UPDATE SET emails_clicked = COALESCE(workspace_daily_stats.emails_clicked, 0) + 1
))sql" + detail::outbox_ctes("ep.workspace_id = $1::uuid",
                             "SELECT $1::uuid, 'email.clicked', jsonb_build_object('lead_id', $2::uuid, 'execution_id', $3::uuid,"
                             " 'url', $4::text) FROM ev WHERE EXISTS (SELECT 1 FROM wh_ep)") + R"sql(
SELECT (SELECT count(*) FROM lead), (SELECT count(*) FROM ev)
)sql"};

const pg::statement k_unsubscribe{"ft_track_unsubscribe", R"sql(
WITH lead AS (
  SELECT id, unsubscribed_at FROM leads WHERE id = $2::uuid AND workspace_id = $1::uuid
), upd AS (
  UPDATE leads SET unsubscribed_at = now()
  WHERE id = $2::uuid AND workspace_id = $1::uuid AND unsubscribed_at IS NULL RETURNING id
), ev AS (
  INSERT INTO lead_events (lead_id, event_type, event_category, description, metadata, triggered_by_workflow_execution_id)
  SELECT id, 'UNSUBSCRIBED', 'communication', 'Unsubscribed from emails', NULL, $3::uuid FROM upd RETURNING id
)
SELECT (SELECT count(*) FROM lead), (SELECT count(*) FROM ev)
)sql"};

}  // namespace

result<bool> record_tracking(pg::connection& c, const domain::track_ref& r) {
  pg::params p;
  p.add(r.workspace_id).add(r.lead_id);
  if (r.execution_id.empty()) p.add_null();
  else p.add(r.execution_id);
  const pg::statement* st = &k_open;
  if (r.kind == domain::track_kind::click) {
    st = &k_click;
    p.add(r.url);
  } else if (r.kind == domain::track_kind::unsubscribe) {
    st = &k_unsubscribe;
  }
  auto rows = c.exec(*st, p);
  if (!rows) return rows.err();
  if (rows->get_int(0, 0) == 0) return make_error(error_code::not_found, "no such lead in this workspace", "lead");
  return rows->get_int(0, 1) > 0;
}

}  // namespace flowtrack::storage
