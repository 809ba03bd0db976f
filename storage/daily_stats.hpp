// workspace_daily_stats recomputed from the source rows (item 3 of the billing issue). A day is a
// calendar day in the workspace's time zone (workspaces.timezone; an unknown or empty zone counts
// as UTC); the source timestamps are TIMESTAMP without zone holding UTC (the servers run in UTC).
//
// What each column counts, for the rows whose time falls in the day:
//   leads_created          leads.created_at (soft-deleted leads too: they were created)
//   leads_qualified / won  lead_events STATUS_CHANGED whose metadata value is QUALIFIED / WON
//                          (runs and the API both record a status change so), by created_at
//   total / successful / failed_executions
//                          workflow_executions finished (completed or failed) by completed_at;
//                          cancelled runs are not counted, as the live counters do not count them
//   avg_execution_duration_ms
//                          average duration_ms of those runs (integer, truncated); NULL when none
//   emails_sent            usage_events EMAIL_SENT (the reserved sends), sum of quantity
//   emails_opened / clicked
//                          lead_events EMAIL_OPENED / EMAIL_CLICKED of the workspace's leads
//
// Live: the rows are kept live by the increments already in place (storage/runs.cpp's stat deltas,
// storage/tracking.cpp's opens and clicks); those count by the database server's date and miss
// leads_created, so the housekeeping job `daily-stats` reconciles every workspace's today and
// yesterday (its zone) on the housekeeping interval. A reconcile first folds pending stat deltas
// and reads in the same REPEATABLE READ snapshot, so a run is counted either by the reconcile or by
// a later fold, never by both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/error.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// Recomputes workspace_daily_stats of `workspace_id` (every workspace when empty) for the days
/// from_date .. to_date ("YYYY-MM-DD", inclusive, in each workspace's zone), in one transaction:
/// one upsert statement. A day with no activity gets a row only if one existed (set to zeros).
/// Returns the rows written.
result<std::int64_t> reconcile_daily_stats(pg::connection& c, const std::optional<std::string>& workspace_id,
                                           const std::string& from_date, const std::string& to_date);

/// The same for the last `days` days of each workspace's own calendar (today included).
result<std::int64_t> reconcile_recent_daily_stats(pg::connection& c, const std::optional<std::string>& workspace_id,
                                                  int days);

}  // namespace flowtrack::storage
