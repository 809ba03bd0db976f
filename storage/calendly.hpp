// Calendly bookings applied to leads (billing issue, item 4; migration 029): an `invitee.created`
// moves the workspace's lead with the invitee's email to BOOKED and records a lead event, once
// per invitee URI. Knows SQL only; the HTTP route verifies the signature and parses the body.
#pragma once

#include <string>
#include <string_view>

#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// One booking as Calendly's `invitee.created` carries it.
struct calendly_booking {
  std::string workspace_id;         ///< from the webhook URL (a UUID)
  std::string invitee_uri;          ///< payload.uri: the idempotency key
  std::string email;                ///< payload.email (matched case-insensitively)
  std::string name;                 ///< payload.name (recorded in the event's metadata only)
  std::string scheduled_event_uri;  ///< payload.scheduled_event.uri (may be empty)
  std::string start_time;           ///< payload.scheduled_event.start_time as sent (may be empty)
};

/// What applying a booking did.
enum class calendly_outcome {
  booked,        ///< the lead moved to BOOKED; a STATUS_CHANGED event recorded
  kept,          ///< the lead was BOOKED, WON or LOST and stays so; a MEETING_BOOKED event recorded
  duplicate,     ///< this invitee URI was applied before: nothing changed
  no_lead,       ///< no live lead of the workspace has that email: nothing recorded
  no_workspace,  ///< no such workspace: nothing recorded
};

/// "booked", "kept", "duplicate", "no_lead", "no_workspace".
std::string_view to_string(calendly_outcome o);

/// The answer of apply_calendly_booking.
struct calendly_applied {
  calendly_outcome outcome = calendly_outcome::no_lead;
  std::string lead_id;          ///< the matched lead (empty for no_lead and no_workspace)
  std::string previous_status;  ///< its status before (booked and kept)
};

/// Applies one booking in one transaction: the workspace's most recent live lead with that email
/// (citext: case-insensitive) is locked; the invitee URI is recorded in calendly_bookings (a
/// replay, even a concurrent one, is `duplicate` and changes nothing); a lead not yet BOOKED, WON
/// or LOST moves to BOOKED with a STATUS_CHANGED lead event (metadata: op set_status, value,
/// from, source CALENDLY, inviteeUri, eventUri, startTime) and a `lead.status_changed` webhook
/// message; otherwise its status is kept and a MEETING_BOOKED event recorded. Either way the
/// lead's last_activity_at is now. A workspace_id that is not a UUID is `no_workspace`.
result<calendly_applied> apply_calendly_booking(pg::connection& c, const calendly_booking& b);

}  // namespace flowtrack::storage
