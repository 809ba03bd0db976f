// Billing periods turning over and billable usage leaving for invoicing. Knows SQL only.
//
// Rollover: a workspace's own subscription (no Stripe id; Stripe-managed ones get their periods
// from Stripe's events, storage/subscriptions) whose period has ended is advanced a cycle at a
// time (monthly or yearly, each period starting the day after the last one ended) until it holds
// today, and the workspace's usage_quotas rows of the period in force are made (quota_used 0,
// last_reset_at now(); a row ingestion already made for that period keeps its count). Also a
// workspace with no quota row holding today gets its rows. Exactly once with several nodes: the
// advance is one UPDATE whose condition (period ended) is re-checked on the row it locks, and the
// rows are unique by (workspace, quota_key, period_start), so a second runner changes nothing.
//
// Export: the billable usage_events (is_billable, billed_at NULL) of a closed calendar month are
// marked billed_at = now() by the same statement that sums them, so each event is exported once
// whoever runs the export and however often.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// What one rollover run did.
struct rollover_report {
  int periods_advanced = 0;  ///< own subscriptions' periods advanced (a cycle each)
  int workspaces_synced = 0;  ///< workspaces whose quota rows of the period in force were made
};

/// Rolls over every workspace whose period has ended (see above); each workspace in a transaction
/// of its own. Safe to run on several nodes at once.
result<rollover_report> roll_over_quotas(pg::connection& c);

/// One CSV line's worth: a workspace's billable quantity of an event type in a period.
struct billable_line {
  std::string workspace_id;
  std::string event_type;
  std::int64_t quantity = 0;
};

/// What an export took.
struct billing_export {
  std::string period;  ///< "YYYY-MM"
  std::vector<billable_line> lines;  ///< ordered by workspace, event type
  std::int64_t events = 0;  ///< usage_events rows marked billed

  /// "workspace_id,period,event_type,quantity" then one line each.
  std::string to_csv() const;
};

/// Marks the billable, not yet billed usage_events of calendar month `period` ("YYYY-MM", UTC)
/// billed now and returns their sums. `invalid` naming "period" for a malformed month or one not
/// over yet. A second export of the same month returns only what was recorded since.
result<billing_export> export_billable_usage(pg::connection& c, std::string_view period);

}  // namespace flowtrack::storage
