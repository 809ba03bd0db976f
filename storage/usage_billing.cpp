// Quota periods rolled over and billable usage exported (storage/usage_billing.hpp).
#include "storage/usage_billing.hpp"

#include <cctype>

#include "storage/subscriptions.hpp"

namespace flowtrack::storage {
namespace {

// Workspaces due: an own subscription in force whose period ended, or no quota row holding today.
const pg::statement k_due{"ft_rollover_due", R"sql(
SELECT w.id FROM workspaces w
WHERE EXISTS (SELECT 1 FROM subscriptions s WHERE s.workspace_id = w.id AND s.stripe_subscription_id IS NULL
                AND s.status IN ('trial', 'active', 'past_due') AND s.current_period_end < current_date)
   OR NOT EXISTS (SELECT 1 FROM usage_quotas u WHERE u.workspace_id = w.id AND current_date BETWEEN u.period_start AND u.period_end)
ORDER BY w.id
)sql"};

// One cycle on: the period after the one that ended. The condition is checked again on the locked
// row, so of two runners at once only the first advances it.
const pg::statement k_advance{"ft_rollover_advance", R"sql(
UPDATE subscriptions s SET
  current_period_start = s.current_period_end + 1,
  current_period_end = (s.current_period_end + 1
                        + CASE WHEN s.billing_cycle = 'yearly' THEN interval '1 year' ELSE interval '1 month' END
                        - interval '1 day')::date
WHERE s.workspace_id = $1::uuid AND s.stripe_subscription_id IS NULL AND s.status IN ('trial', 'active', 'past_due')
  AND s.current_period_end < current_date
RETURNING s.id
)sql"};

const pg::statement k_export{"ft_billing_export", R"sql(
WITH marked AS (
  UPDATE usage_events SET billed_at = now()
  WHERE is_billable AND billed_at IS NULL
    AND created_at >= $1::date AND created_at < ($1::date + interval '1 month')
  RETURNING workspace_id, event_type, quantity
)
SELECT workspace_id, event_type, sum(quantity)::bigint, count(*)::bigint FROM marked
GROUP BY workspace_id, event_type ORDER BY workspace_id, event_type
)sql"};

const pg::statement k_closed{"ft_billing_closed", "SELECT ($1::date + interval '1 month')::date <= current_date"};

bool is_month(std::string_view p) {
  if (p.size() != 7 || p[4] != '-') return false;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (i != 4 && !std::isdigit(static_cast<unsigned char>(p[i]))) return false;
  int month = (p[5] - '0') * 10 + (p[6] - '0');
  return month >= 1 && month <= 12;
}

}  // namespace

result<rollover_report> roll_over_quotas(pg::connection& c) {
  auto due = c.exec(k_due);
  if (!due) return due.err();
  rollover_report report;
  for (int i = 0; i < due->size(); ++i) {
    std::string workspace(due->get(i, 0));
    auto done = pg::transact(c, [&](pg::connection& tx) -> result<int> {
      int advanced = 0;
      // A node off for months: a cycle at a time until the period holds today (bounded).
      for (int cycles = 0; cycles < 1200; ++cycles) {
        auto r = tx.exec(k_advance, pg::params{}.add(workspace));
        if (!r) return r.err();
        if (r->affected() == 0) break;
        advanced += static_cast<int>(r->affected());
      }
      if (auto s = sync_quotas(tx, workspace); !s) return s.err();
      return advanced;
    });
    if (!done) return done.err();
    report.periods_advanced += *done;
    ++report.workspaces_synced;
  }
  return report;
}

std::string billing_export::to_csv() const {
  std::string out = "workspace_id,period,event_type,quantity\n";
  for (const auto& l : lines) {
    // Event types are identifiers of ours; quote any that would break the line anyway.
    bool quote = l.event_type.find_first_of(",\"\n\r") != std::string::npos;
    std::string type = l.event_type;
    if (quote) {
      std::string q = "\"";
      for (char ch : type) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      type = q + "\"";
    }
    out += l.workspace_id + "," + period + "," + type + "," + std::to_string(l.quantity) + "\n";
  }
  return out;
}

result<billing_export> export_billable_usage(pg::connection& c, std::string_view period) {
  if (!is_month(period)) return make_error(error_code::invalid, "the period must be a month, YYYY-MM", "period");
  std::string first = std::string(period) + "-01";
  auto closed = c.exec(k_closed, pg::params{}.add(first));
  if (!closed) return closed.err();
  if (!closed->get_bool(0, 0)) return make_error(error_code::invalid, "the period " + std::string(period) + " is not over yet", "period");
  auto r = c.exec(k_export, pg::params{}.add(first));
  if (!r) return r.err();
  billing_export out;
  out.period = std::string(period);
  for (int i = 0; i < r->size(); ++i) {
    out.lines.push_back({std::string(r->get(i, 0)), std::string(r->get(i, 1)), r->get_int(i, 2)});
    out.events += r->get_int(i, 3);
  }
  return out;
}

}  // namespace flowtrack::storage
