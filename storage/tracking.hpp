// What the tracking links record: an opened email (the lead's last_email_opened_at, an
// EMAIL_OPENED event and the day's emails_opened, counted once per email), a clicked link
// (EMAIL_CLICKED and emails_clicked) and an unsubscribe (leads.unsubscribed_at and an
// UNSUBSCRIBED event, once). Every statement is scoped by the workspace. Knows SQL only.
#pragma once

#include "domain/tracking.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// Records what the reference names; `not_found` when the lead is not in that workspace. Returns
/// whether something new was recorded (a second open of the same email counts once).
result<bool> record_tracking(pg::connection& c, const domain::track_ref& r);

}  // namespace flowtrack::storage
