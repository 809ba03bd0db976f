// Reserving an email before it is sent: the workspace's rolling-hour cap and its `email_sends`
// quota, counted in one transaction per workspace (an advisory lock serialises a workspace's
// reservations, so concurrent sends never exceed the cap). Knows SQL, nothing of actors.
#pragma once

#include "domain/email_caps.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// Reserves one send for `r.workspace_id`, in its own transaction:
/// - a key counted before answers `already_reserved` and counts nothing (a retried step);
/// - beyond 120% of the period's `email_sends` quota: `quota_exceeded` (subject "email_sends"),
///   nothing written;
/// - the cap reached in the last hour: `wait` with how long until one more fits (a cap of 0
///   waits an hour and asks again), nothing written;
/// - else `reserved`: a usage_events row EMAIL_SENT (communication, the key in its metadata),
///   usage_quotas `email_sends` + 1 for limited plans, and a QUOTA_WARNING usage event when this
///   send reaches 100% of the quota.
/// The time is the database's, so nodes with skewed clocks count the same hour.
result<domain::email_send_grant> reserve_email_send(pg::connection& c, const domain::email_send_request& r);

}  // namespace flowtrack::storage
