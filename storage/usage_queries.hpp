// Read-only usage, billing and integration facts of one workspace for the management API (issue
// #13 item 4): the current period's quotas (usage_quotas), daily stats (workspace_daily_stats),
// the subscription with its plan, the plans on offer, and the connected OAuth providers — never
// their tokens. Every statement is scoped by the workspace. Knows SQL, nothing of HTTP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// One quota of the period that contains today (usage_quotas).
struct quota_usage {
  std::string key;
  std::int64_t used = 0, limit = 0;
  std::string period_start, period_end;  ///< ISO dates
};

/// The workspace's quotas whose period contains today (the session's date), one per key (the latest period),
/// ordered by key.
result<std::vector<quota_usage>> current_quotas(pg::connection& c, std::string_view workspace_id);

/// One workspace_daily_stats row.
struct daily_stat {
  std::string date;  ///< ISO date
  std::int64_t leads_created = 0, leads_qualified = 0, leads_won = 0;
  std::int64_t total_executions = 0, successful_executions = 0, failed_executions = 0;
  std::int64_t emails_sent = 0, emails_opened = 0, emails_clicked = 0;
  std::optional<std::int64_t> avg_execution_duration_ms;
};

/// The workspace's daily stats from `from` to `to` (ISO dates, both included), oldest first. The
/// caller checks the range; a date PostgreSQL cannot read is `invalid` naming from.
result<std::vector<daily_stat>> daily_stats(pg::connection& c, std::string_view workspace_id, std::string_view from,
                                            std::string_view to);

/// A subscription_plans row.
struct plan_row {
  std::string id, name, slug, description, currency;
  std::optional<std::int64_t> price_monthly_cents, price_yearly_cents;
  std::string quotas;    ///< JSON object text (a key missing: unlimited)
  std::string features;  ///< JSON text ("null" when none)
  std::int64_t display_order = 0;
};

/// The active, visible plans in display order.
result<std::vector<plan_row>> visible_plans(pg::connection& c);

/// A subscriptions row with its plan.
struct subscription_row {
  std::string id, status, billing_cycle, current_period_start, current_period_end;
  std::optional<std::string> trial_start_date, trial_end_date;
  bool cancel_at_period_end = false;
  std::optional<std::int64_t> cancelled_at_ms;
  std::int64_t created_at_ms = 0;
  plan_row plan;
};

/// The workspace's subscription (the newest, when several rows exist), or nullopt.
result<std::optional<subscription_row>> subscription_of(pg::connection& c, std::string_view workspace_id);

/// A connected provider (oauth_credentials) as the API shows it: never a token.
struct integration_row {
  std::string id, provider;
  std::optional<std::string> email, scope;
  bool active = false;
  std::optional<std::int64_t> expires_at_ms, last_used_at_ms;
  std::int64_t created_at_ms = 0;
  /// Active and not expired.
  bool connected = false;
};

/// The workspace's live (not deleted) OAuth credentials by provider, without their tokens.
result<std::vector<integration_row>> integrations_of(pg::connection& c, std::string_view workspace_id);

}  // namespace flowtrack::storage
