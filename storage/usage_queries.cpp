// Read-only usage, billing and integration queries of one workspace. Tokens of oauth_credentials
// are never selected, so no code path can hand them out.
#include "storage/usage_queries.hpp"

#include "runtime/text.hpp"

namespace flowtrack::storage {
namespace {

// TIMESTAMP columns are read through the session's zone, as storage/accounts and storage/leads do.
std::string ms(std::string_view column) {
  return "(extract(epoch FROM " + std::string(column) + "::timestamptz) * 1000)::bigint";
}

std::optional<std::int64_t> opt_int(const pg::rows& r, int i, int col) {
  if (r.is_null(i, col)) return std::nullopt;
  return r.get_int(i, col);
}

const pg::statement k_quotas{"ft_usage_quotas",
                             "SELECT DISTINCT ON (quota_key) quota_key, quota_used, quota_limit, period_start::text, period_end::text "
                             "FROM usage_quotas WHERE workspace_id = $1::uuid "
                             "AND period_start <= current_date AND period_end >= current_date "
                             "ORDER BY quota_key, period_start DESC"};

const pg::statement k_stats{"ft_usage_daily_stats",
                            "SELECT stat_date::text, COALESCE(leads_created, 0), COALESCE(leads_qualified, 0), COALESCE(leads_won, 0), "
                            "COALESCE(total_executions, 0), COALESCE(successful_executions, 0), COALESCE(failed_executions, 0), "
                            "COALESCE(emails_sent, 0), COALESCE(emails_opened, 0), COALESCE(emails_clicked, 0), avg_execution_duration_ms "
                            "FROM workspace_daily_stats WHERE workspace_id = $1::uuid AND stat_date BETWEEN $2::date AND $3::date "
                            "ORDER BY stat_date"};

const std::string k_plan_cols =
    "p.id::text, p.name, p.slug, COALESCE(p.description, ''), COALESCE(p.currency, 'USD'), p.price_monthly_cents, "
    "p.price_yearly_cents, p.quotas::text, COALESCE(p.features, 'null'::jsonb)::text, p.display_order";
constexpr int k_plan_ncols = 10;

const pg::statement k_plans{"ft_usage_plans", "SELECT " + k_plan_cols +
                                                  " FROM subscription_plans p WHERE p.is_active AND p.is_visible "
                                                  "ORDER BY p.display_order, p.name"};

const pg::statement k_subscription{
    "ft_usage_subscription",
    "SELECT s.id::text, s.status, s.billing_cycle, s.current_period_start::text, s.current_period_end::text, "
    "s.trial_start_date::text, s.trial_end_date::text, COALESCE(s.cancel_at_period_end, false), " +
        ms("s.cancelled_at") + ", " + ms("s.created_at") + ", " + k_plan_cols +
        " FROM subscriptions s JOIN subscription_plans p ON p.id = s.subscription_plan_id "
        "WHERE s.workspace_id = $1::uuid ORDER BY s.created_at DESC, s.id DESC LIMIT 1"};

// Only these columns: access_token and refresh_token stay in the table.
const pg::statement k_integrations{
    "ft_usage_integrations",
    "SELECT id::text, provider_type, provider_email::text, scope, is_active, " + ms("expires_at") + ", " + ms("last_used_at") +
        ", " + ms("created_at") + ", is_active AND (expires_at IS NULL OR expires_at > now()) "
        "FROM oauth_credentials WHERE workspace_id = $1::uuid AND deleted_at IS NULL ORDER BY provider_type"};

plan_row read_plan(const pg::rows& r, int i, int at) {
  plan_row p;
  p.id = r.get(i, at);
  p.name = r.get(i, at + 1);
  p.slug = r.get(i, at + 2);
  p.description = r.get(i, at + 3);
  p.currency = r.get(i, at + 4);
  p.price_monthly_cents = opt_int(r, i, at + 5);
  p.price_yearly_cents = opt_int(r, i, at + 6);
  p.quotas = r.get(i, at + 7);
  p.features = r.get(i, at + 8);
  p.display_order = r.get_int(i, at + 9);
  return p;
}

error no_workspace() { return make_error(error_code::not_found, "no such workspace", "workspace"); }

}  // namespace

result<std::vector<quota_usage>> current_quotas(pg::connection& c, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  auto r = c.exec(k_quotas, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  std::vector<quota_usage> out;
  for (int i = 0; i < r->size(); ++i)
    out.push_back({std::string(r->get(i, 0)), r->get_int(i, 1), r->get_int(i, 2), std::string(r->get(i, 3)), std::string(r->get(i, 4))});
  return out;
}

result<std::vector<daily_stat>> daily_stats(pg::connection& c, std::string_view workspace_id, std::string_view from,
                                            std::string_view to) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  auto r = c.exec(k_stats, pg::params{}.add(workspace_id).add(from).add(to));
  if (!r) {
    if (r.err().code == error_code::invalid) return make_error(error_code::invalid, "from and to must be ISO dates", "from");
    return r.err();
  }
  std::vector<daily_stat> out;
  for (int i = 0; i < r->size(); ++i) {
    daily_stat d;
    d.date = r->get(i, 0);
    d.leads_created = r->get_int(i, 1);
    d.leads_qualified = r->get_int(i, 2);
    d.leads_won = r->get_int(i, 3);
    d.total_executions = r->get_int(i, 4);
    d.successful_executions = r->get_int(i, 5);
    d.failed_executions = r->get_int(i, 6);
    d.emails_sent = r->get_int(i, 7);
    d.emails_opened = r->get_int(i, 8);
    d.emails_clicked = r->get_int(i, 9);
    d.avg_execution_duration_ms = opt_int(*r, i, 10);
    out.push_back(std::move(d));
  }
  return out;
}

result<std::vector<plan_row>> visible_plans(pg::connection& c) {
  auto r = c.exec(k_plans);
  if (!r) return r.err();
  std::vector<plan_row> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_plan(*r, i, 0));
  return out;
}

result<std::optional<subscription_row>> subscription_of(pg::connection& c, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  auto r = c.exec(k_subscription, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  if (r->empty()) return std::optional<subscription_row>{};
  subscription_row s;
  s.id = r->get(0, 0);
  s.status = r->get(0, 1);
  s.billing_cycle = r->get(0, 2);
  s.current_period_start = r->get(0, 3);
  s.current_period_end = r->get(0, 4);
  s.trial_start_date = r->get_optional(0, 5);
  s.trial_end_date = r->get_optional(0, 6);
  s.cancel_at_period_end = r->get_bool(0, 7);
  s.cancelled_at_ms = opt_int(*r, 0, 8);
  s.created_at_ms = r->get_int(0, 9);
  s.plan = read_plan(*r, 0, 10);
  static_assert(k_plan_ncols == 10);
  return std::optional<subscription_row>(std::move(s));
}

result<std::vector<integration_row>> integrations_of(pg::connection& c, std::string_view workspace_id) {
  if (!runtime::is_uuid(workspace_id)) return no_workspace();
  auto r = c.exec(k_integrations, pg::params{}.add(workspace_id));
  if (!r) return r.err();
  std::vector<integration_row> out;
  for (int i = 0; i < r->size(); ++i) {
    integration_row g;
    g.id = r->get(i, 0);
    g.provider = r->get(i, 1);
    g.email = r->get_optional(i, 2);
    g.scope = r->get_optional(i, 3);
    g.active = r->get_bool(i, 4);
    g.expires_at_ms = opt_int(*r, i, 5);
    g.last_used_at_ms = opt_int(*r, i, 6);
    g.created_at_ms = r->get_int(i, 7);
    g.connected = r->get_bool(i, 8);
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace flowtrack::storage
