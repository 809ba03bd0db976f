// Usage, stats, subscription, plans and integrations: one read job on the PostgreSQL pool each.
#include "adapters/http/api/usage.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "adapters/http/api/leads.hpp"
#include "adapters/http/api/scope.hpp"
#include "storage/usage_queries.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

using domain::action;

void fail(const responder& reply, const error& e) {
  if (e.code == error_code::internal) spdlog::error("usage: {}", e.message);
  if (e.code == error_code::not_found && e.subject == "workspace") return reply(error_response(workspace_not_found()));
  reply(error_response(from_error(e)));
}

constexpr std::int64_t k_day_ms = 86'400'000;

// Epoch day -> "YYYY-MM-DD" (H. Hinnant's civil_from_days).
std::string iso_date(std::int64_t days) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

std::optional<std::int64_t> day_of(const std::string& text) {
  if (text.size() != 10) return std::nullopt;  // a date only, no time
  auto ms = parse_instant(text);
  if (!ms) return std::nullopt;
  return *ms / k_day_ms;
}

json::value opt(const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }
json::value opt(const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); }
json::value parsed(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

json::object plan_json(const storage::plan_row& p) {
  return json::object{{"id", p.id},
                      {"name", p.name},
                      {"slug", p.slug},
                      {"description", p.description},
                      {"priceMonthlyCents", opt(p.price_monthly_cents)},
                      {"priceYearlyCents", opt(p.price_yearly_cents)},
                      {"currency", p.currency},
                      {"quotas", parsed(p.quotas)},
                      {"features", parsed(p.features)},
                      {"displayOrder", p.display_order}};
}

json::object list_of(json::array data) { return json::object{{"data", std::move(data)}, {"nextCursor", nullptr}}; }

bool no_query(const api_call& call, const responder& reply) {
  if (call.query_params.empty()) return true;
  const auto& k = call.query_params.front().first;
  reply(error_response(api_error::invalid(k, "unknown query parameter " + k + "; this route takes none", "unknown_parameter")));
  return false;
}

void usage(api_service& api, api_call&& call, responder reply) {
  if (!no_query(call, reply)) return;
  in_workspace_db(
      api, std::move(call), std::move(reply), action::read,
      [](pg::connection& c, const scoped_call& sc) { return storage::current_quotas(c, sc.workspace_id); },
      [](scoped_call&&, result<std::vector<storage::quota_usage>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        json::array quotas;
        for (const auto& q : *r) {
          json::value pct = nullptr;
          if (q.limit > 0) pct = std::round(static_cast<double>(q.used) * 1000.0 / static_cast<double>(q.limit)) / 10.0;
          quotas.emplace_back(json::object{{"key", q.key},
                                           {"used", q.used},
                                           {"limit", q.limit},
                                           {"percentage", pct},
                                           {"periodStart", q.period_start},
                                           {"periodEnd", q.period_end}});
        }
        reply(json_reply(bhttp::status::ok, json::object{{"quotas", std::move(quotas)}}));
      });
}

void stats(api_service& api, api_call&& call, responder reply) {
  std::optional<std::int64_t> from, to;
  for (const auto& [k, v] : call.query_params) {
    if (k != "from" && k != "to")
      return reply(error_response(api_error::invalid(k, "unknown query parameter " + k + "; this route takes from and to", "unknown_parameter")));
    auto d = day_of(v);
    if (!d) return reply(error_response(api_error::invalid(k, k + " must be an ISO date (YYYY-MM-DD)")));
    (k == "from" ? from : to) = *d;
  }
  // Absent: the 30 days up to today (UTC), or 30 days from `from` / up to `to`.
  if (!to) to = from ? *from + 29 : api.now_ms() / k_day_ms;
  if (!from) from = *to - 29;
  if (*to < *from) return reply(error_response(api_error::invalid("to", "to must not be before from")));
  if (*to - *from + 1 > k_stats_max_days)
    return reply(error_response(api_error::invalid("to", "the range from..to is at most " + std::to_string(k_stats_max_days) + " days")));
  in_workspace_db(
      api, std::move(call), std::move(reply), action::read,
      [f = iso_date(*from), t = iso_date(*to)](pg::connection& c, const scoped_call& sc) {
        return storage::daily_stats(c, sc.workspace_id, f, t);
      },
      [f = iso_date(*from), t = iso_date(*to)](scoped_call&&, result<std::vector<storage::daily_stat>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        json::array days;
        for (const auto& d : *r)
          days.emplace_back(json::object{{"date", d.date},
                                         {"leadsCreated", d.leads_created},
                                         {"leadsQualified", d.leads_qualified},
                                         {"leadsWon", d.leads_won},
                                         {"totalExecutions", d.total_executions},
                                         {"successfulExecutions", d.successful_executions},
                                         {"failedExecutions", d.failed_executions},
                                         {"emailsSent", d.emails_sent},
                                         {"emailsOpened", d.emails_opened},
                                         {"emailsClicked", d.emails_clicked},
                                         {"avgExecutionDurationMs", opt(d.avg_execution_duration_ms)}});
        reply(json_reply(bhttp::status::ok, json::object{{"from", f}, {"to", t}, {"data", std::move(days)}}));
      });
}

void subscription(api_service& api, api_call&& call, responder reply) {
  if (!no_query(call, reply)) return;
  in_workspace_db(
      api, std::move(call), std::move(reply), action::read,
      [](pg::connection& c, const scoped_call& sc) { return storage::subscription_of(c, sc.workspace_id); },
      [](scoped_call&&, result<std::optional<storage::subscription_row>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        if (!*r) return reply(error_response({bhttp::status::not_found, "not_found", "this workspace has no subscription", "subscription", 0}));
        const auto& s = **r;
        reply(json_reply(bhttp::status::ok, json::object{{"id", s.id},
                                                         {"status", s.status},
                                                         {"billingCycle", s.billing_cycle},
                                                         {"currentPeriodStart", s.current_period_start},
                                                         {"currentPeriodEnd", s.current_period_end},
                                                         {"trialStartDate", opt(s.trial_start_date)},
                                                         {"trialEndDate", opt(s.trial_end_date)},
                                                         {"cancelAtPeriodEnd", s.cancel_at_period_end},
                                                         {"cancelledAt", opt(s.cancelled_at_ms)},
                                                         {"createdAt", s.created_at_ms},
                                                         {"plan", plan_json(s.plan)}}));
      });
}

void integrations(api_service& api, api_call&& call, responder reply) {
  if (!no_query(call, reply)) return;
  in_workspace_db(
      api, std::move(call), std::move(reply), action::read,
      [](pg::connection& c, const scoped_call& sc) { return storage::integrations_of(c, sc.workspace_id); },
      [](scoped_call&&, result<std::vector<storage::integration_row>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        json::array data;
        for (const auto& g : *r)
          data.emplace_back(json::object{{"id", g.id},
                                         {"provider", g.provider},
                                         {"email", opt(g.email)},
                                         {"scope", opt(g.scope)},
                                         {"connected", g.connected},
                                         {"active", g.active},
                                         {"expiresAt", opt(g.expires_at_ms)},
                                         {"lastUsedAt", opt(g.last_used_at_ms)},
                                         {"connectedAt", g.created_at_ms}});
        reply(json_reply(bhttp::status::ok, list_of(std::move(data))));
      });
}

void plans(api_service& api, api_call&& call, responder reply) {
  if (!no_query(call, reply)) return;
  api.db([](pg::connection& c) { return storage::visible_plans(c); },
         [reply](result<std::vector<storage::plan_row>> r) {
           if (!r) return fail(reply, r.err());
           json::array data;
           for (const auto& p : *r) data.emplace_back(plan_json(p));
           reply(json_reply(bhttp::status::ok, list_of(std::move(data))));
         });
}

}  // namespace

void add_usage_routes(api_service& api) {
  const route_options signed_plain{.signed_in = true};
  auto bind = [&api](void (*f)(api_service&, api_call&&, responder)) {
    return [&api, f](api_call&& call, responder reply) { f(api, std::move(call), std::move(reply)); };
  };
  api.add(verb::get, "/workspaces/{id}/usage", signed_plain, bind(usage));
  api.add(verb::get, "/workspaces/{id}/stats", signed_plain, bind(stats));
  api.add(verb::get, "/workspaces/{id}/subscription", signed_plain, bind(subscription));
  api.add(verb::get, "/workspaces/{id}/integrations", signed_plain, bind(integrations));
  api.add(verb::get, "/plans", signed_plain, bind(plans));
}

}  // namespace flowtrack::http::api
