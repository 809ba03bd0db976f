// Calendly bookings: the SQL of apply_calendly_booking (one transaction, the lead row locked).
#include "storage/calendly.hpp"

#include <boost/json.hpp>

#include "runtime/text.hpp"
#include "storage/webhook_outbox.hpp"

namespace flowtrack::storage {
namespace {
namespace json = boost::json;

const pg::statement k_workspace_exists{"ft_calendly_workspace", R"sql(
SELECT 1 FROM workspaces WHERE id = $1::uuid AND deleted_at IS NULL
)sql"};

// The most recent live lead with that email (citext compares case-insensitively), locked so a
// concurrent replay waits here and then finds the invitee URI recorded.
const pg::statement k_lock_lead{"ft_calendly_lock_lead", R"sql(
SELECT id, status, workflow_id FROM leads
WHERE workspace_id = $1::uuid AND email = $2::citext AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT 1
FOR UPDATE
)sql"};

const pg::statement k_record_booking{"ft_calendly_record", R"sql(
INSERT INTO calendly_bookings (invitee_uri, workspace_id, lead_id, scheduled_event_uri, outcome)
VALUES ($1, $2::uuid, $3::uuid, NULLIF($4, ''), $5)
ON CONFLICT (invitee_uri) DO NOTHING
RETURNING 1
)sql"};

const pg::statement k_update_lead{"ft_calendly_update_lead", R"sql(
UPDATE leads SET status = $3, last_activity_at = now()
WHERE id = $2::uuid AND workspace_id = $1::uuid
)sql"};

const pg::statement k_insert_event{"ft_calendly_event", R"sql(
INSERT INTO lead_events (lead_id, event_type, event_category, description, metadata, created_at)
VALUES ($1::uuid, $2, 'activity', $3, $4::jsonb, clock_timestamp())
)sql"};

bool keeps_status(std::string_view status) { return status == "BOOKED" || status == "WON" || status == "LOST"; }

}  // namespace

std::string_view to_string(calendly_outcome o) {
  switch (o) {
    case calendly_outcome::booked: return "booked";
    case calendly_outcome::kept: return "kept";
    case calendly_outcome::duplicate: return "duplicate";
    case calendly_outcome::no_lead: return "no_lead";
    case calendly_outcome::no_workspace: return "no_workspace";
  }
  return "no_lead";
}

result<calendly_applied> apply_calendly_booking(pg::connection& c, const calendly_booking& b) {
  if (!runtime::is_uuid(b.workspace_id)) return calendly_applied{calendly_outcome::no_workspace, {}, {}};
  if (b.invitee_uri.empty()) return make_error(error_code::invalid, "the invitee has no uri", "payload.uri");
  if (b.email.empty()) return make_error(error_code::invalid, "the invitee has no email", "payload.email");

  return pg::transact(c, [&](pg::connection& tx) -> result<calendly_applied> {
    auto ws = tx.exec(k_workspace_exists, pg::params{}.add(b.workspace_id));
    if (!ws) return ws.err();
    if (ws->empty()) return calendly_applied{calendly_outcome::no_workspace, {}, {}};

    auto lead = tx.exec(k_lock_lead, pg::params{}.add(b.workspace_id).add(b.email));
    if (!lead) return lead.err();
    if (lead->empty()) return calendly_applied{calendly_outcome::no_lead, {}, {}};
    calendly_applied out;
    out.lead_id = std::string(lead->get(0, 0));
    out.previous_status = std::string(lead->get(0, 1));
    const std::string workflow_id(lead->get(0, 2));
    const bool keep = keeps_status(out.previous_status);
    out.outcome = keep ? calendly_outcome::kept : calendly_outcome::booked;

    auto recorded = tx.exec(k_record_booking, pg::params{}
                                                  .add(b.invitee_uri)
                                                  .add(b.workspace_id)
                                                  .add(out.lead_id)
                                                  .add(b.scheduled_event_uri)
                                                  .add(to_string(out.outcome)));
    if (!recorded) return recorded.err();
    if (recorded->empty()) return calendly_applied{calendly_outcome::duplicate, out.lead_id, {}};

    const std::string now_status = keep ? out.previous_status : std::string("BOOKED");
    if (auto u = tx.exec(k_update_lead, pg::params{}.add(b.workspace_id).add(out.lead_id).add(now_status)); !u) return u.err();

    json::object meta{{"source", "CALENDLY"}, {"inviteeUri", b.invitee_uri}};
    if (!b.scheduled_event_uri.empty()) meta["eventUri"] = b.scheduled_event_uri;
    if (!b.start_time.empty()) meta["startTime"] = b.start_time;
    if (!b.name.empty()) meta["inviteeName"] = b.name;
    std::string type, description;
    if (keep) {
      type = "MEETING_BOOKED";
      description = "Meeting booked on Calendly (status " + out.previous_status + " kept)";
      meta["status"] = out.previous_status;
    } else {
      type = "STATUS_CHANGED";
      description = "Status changed from " + out.previous_status + " to BOOKED (Calendly booking)";
      meta["op"] = "set_status";
      meta["value"] = "BOOKED";
      meta["from"] = out.previous_status;
    }
    if (auto e = tx.exec(k_insert_event, pg::params{}.add(out.lead_id).add(type).add(description).add(json::serialize(meta))); !e)
      return e.err();
    if (!keep) {
      json::object data{{"lead_id", out.lead_id},       {"old_status", out.previous_status}, {"new_status", "BOOKED"},
                        {"workflow_id", workflow_id},   {"user_id", nullptr},               {"source", "CALENDLY"}};
      if (auto m = emit_webhook_event(tx, b.workspace_id, "lead.status_changed", json::serialize(data)); !m) return m.err();
    }
    return out;
  });
}

}  // namespace flowtrack::storage
