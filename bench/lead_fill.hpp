// The lead lists' benchmark data: N leads in one workspace with a spread like a real pipeline's,
// loaded in bulk (the leads indexes dropped, one INSERT ... SELECT generate_series, the indexes
// rebuilt). Shared by leads_bench and api_bench; knows SQL, nothing of HTTP or actors.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/proc_stats.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::bench {

/// Where a fill's leads go: the workspace, the workflow they came through and the three members
/// 30% of them are assigned to.
struct lead_fill_target {
  std::string workspace, workflow;
  std::vector<std::string> members;
};

/// How long a fill took, and each index's build in milliseconds (JSON object members).
struct lead_fill_report {
  long leads = 0;
  double insert_s = 0, index_s = 0, analyze_s = 0, total_s = 0;
  std::string index_ms;
};

namespace detail {

// One range of the fill: $1 workflow, $2 workspace, $3..$5 the series, $4 the members (uuid[]).
inline const std::string k_fill_sql = R"sql(
INSERT INTO leads (workflow_id, workspace_id, email, name, company_name, phone, status, source, assigned_to_user_id, score,
                   tags, created_at, updated_at, last_activity_at)
SELECT $1::uuid, $2::uuid,
       'lead' || g || '@' || (ARRAY['gmail.com', 'acme.example.com', 'example.org', 'mail.example.net'])[1 + g % 4],
       (ARRAY['Ada', 'Bob', 'Cyrus', 'Dee', 'Eve', 'Finn', 'Gus', 'Hal', 'Ines', 'Jo'])[1 + (g * 7) % 10] || ' ' ||
       (ARRAY['Smith', 'Jones', 'Brown', 'Taylor', 'Lee', 'Martin', 'Garcia', 'Novak'])[1 + (g * 13) % 8],
       CASE WHEN g % 3 = 0 THEN NULL
            ELSE (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne', 'Wonka'])[1 + (g * 5) % 8] || ' '
                 || (g % 5000) END,
       '+1 555 ' || lpad((g % 10000000)::text, 7, '0'),
       CASE WHEN r < 0.40 THEN 'NEW' WHEN r < 0.60 THEN 'CONTACTED' WHEN r < 0.75 THEN 'QUALIFIED' WHEN r < 0.85 THEN 'BOOKED'
            WHEN r < 0.93 THEN 'WON' ELSE 'LOST' END,
       CASE WHEN r2 < 0.6 THEN 'FORM' WHEN r2 < 0.8 THEN 'EMAIL_FORWARD' WHEN r2 < 0.9 THEN 'API' WHEN r2 < 0.95 THEN 'MANUAL'
            ELSE 'IMPORT' END,
       CASE WHEN g % 10 < 3 THEN ($4::uuid[])[1 + g % 3] END,
       (r3 * 100)::int,
       CASE WHEN r3 < 0.33 THEN NULL
            WHEN r3 < 0.7 THEN ARRAY[(ARRAY['vip', 'b2b', 'b2c', 'newsletter', 'webinar', 'cold', 'hot', 'partner'])[1 + g % 8]]
            ELSE ARRAY[(ARRAY['vip', 'b2b', 'b2c', 'newsletter', 'webinar', 'cold', 'hot', 'partner'])[1 + g % 8],
                       (ARRAY['vip', 'b2b', 'b2c', 'newsletter', 'webinar', 'cold', 'hot', 'partner'])[1 + (g / 8) % 8]] END,
       now() - r2 * interval '730 days', now() - r2 * interval '700 days', now() - r2 * interval '700 days'
FROM (SELECT g, random() AS r, random() AS r2, random() AS r3 FROM generate_series($3::bigint, $5::bigint) g) s
)sql";

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

inline result<std::string> first_value(pg::connection& c, const std::string& sql, const pg::params& args) {
  auto r = c.exec(sql, args);
  if (!r) return r.err();
  return std::string(r->get(0, 0));
}

}  // namespace detail

/// Three members of `workspace` (role member, users made here; `tag` keeps their emails unique)
/// and an active workflow: what a fill needs beside the workspace.
inline result<lead_fill_target> prepare_lead_fill(pg::connection& c, const std::string& workspace, const std::string& tag) {
  lead_fill_target t{workspace, {}, {}};
  for (int i = 0; i < 3; ++i) {
    std::string email(1, 'm');
    email.append(std::to_string(i)).append("-").append(tag).append("@bench.example.com");
    auto m = detail::first_value(c, "INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(email));
    if (!m) return m.err();
    auto row = c.exec("INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1::uuid, $2::uuid, 'member', now())",
                      pg::params{}.add(workspace).add(*m));
    if (!row) return row.err();
    t.members.push_back(std::move(*m));
  }
  auto w = detail::first_value(c, "INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'bench', 'active') RETURNING id",
                               pg::params{}.add(workspace));
  if (!w) return w.err();
  t.workflow = std::move(*w);
  return t;
}

/// Adds `n` leads to the target: statuses weighted toward NEW, a third without tags, 30%
/// assigned, creation spread over two years. `c` and a second session opened on `url` insert a
/// half each, then build the indexes (two cores), then VACUUM ANALYZE. The leads indexes are
/// dropped for the load and rebuilt (each build sorts once instead of N random insertions); their
/// definitions are read back from the catalog, so they are exactly the migrations'. Nothing else
/// may write leads meanwhile.
inline result<lead_fill_report> fill_leads(pg::connection& c, const std::string& url, const lead_fill_target& t, long n) {
  using clk = std::chrono::steady_clock;
  using detail::seconds_since;
  lead_fill_report out;
  out.leads = n;
  auto defs = c.exec("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'leads' "
                     "AND indexname NOT IN ('leads_pkey', 'leads_unique_email_per_workflow') ORDER BY indexname");
  if (!defs) return defs.err();
  if (auto r = c.exec_script("SET maintenance_work_mem = '512MB'; SET max_parallel_maintenance_workers = 2"); !r) return r.err();
  c.set_query_timeout(std::chrono::minutes(10));
  for (int i = 0; i < defs->size(); ++i)
    if (auto r = c.exec_script("DROP INDEX " + std::string(defs->get(i, 0))); !r) return r.err();
  // The unique key is a citext btree: comparisons fold case, the dearest index of the load.
  if (auto r = c.exec_script("ALTER TABLE leads DROP CONSTRAINT leads_unique_email_per_workflow"); !r) return r.err();

  auto opened = pg::connection::open(pg::connect_options{url});
  if (!opened) return opened.err();
  std::unique_ptr<pg::connection> second = std::move(*opened);
  second->set_query_timeout(std::chrono::minutes(10));
  const auto t0 = clk::now();
  const std::string members = "{" + t.members.at(0) + "," + t.members.at(1) + "," + t.members.at(2) + "}";
  auto insert_range = [&](pg::connection& ic, long from, long to) -> result<void> {
    pg::params p;
    p.add(t.workflow).add(t.workspace).add(static_cast<std::int64_t>(from)).add(members).add(static_cast<std::int64_t>(to));
    auto r = ic.exec(detail::k_fill_sql, p);
    if (!r) return r.err();
    return {};
  };
  result<void> other_half;
  std::thread other([&] { other_half = insert_range(*second, n / 2 + 1, n); });
  auto first_half = insert_range(c, 1, n / 2);
  other.join();
  if (!first_half) return first_half.err();
  if (!other_half) return other_half.err();
  out.insert_s = seconds_since(t0);

  const auto t1 = clk::now();
  // Two sessions build the indexes, taking the next one from a shared counter.
  std::vector<std::pair<std::string, std::string>> todo;
  for (int i = 0; i < defs->size(); ++i) todo.emplace_back(defs->get(i, 0), defs->get(i, 1));
  todo.emplace_back("leads_unique_email_per_workflow",
                    "ALTER TABLE leads ADD CONSTRAINT leads_unique_email_per_workflow UNIQUE (workflow_id, email)");
  std::atomic<std::size_t> next{0};
  std::vector<int> took(todo.size());
  auto build = [&](pg::connection& bc) -> result<void> {
    if (auto r = bc.exec_script("SET maintenance_work_mem = '256MB'"); !r) return r.err();
    for (std::size_t i; (i = next++) < todo.size();) {
      const auto ti = clk::now();
      if (auto r = bc.exec_script(todo[i].second); !r) {
        next = todo.size();  // the other session stops after its current index
        return make_error(r.err().code, "create index " + todo[i].first + ": " + r.err().message);
      }
      took[i] = static_cast<int>(seconds_since(ti) * 1000);
    }
    return {};
  };
  result<void> other_builds;
  std::thread builder([&] { other_builds = build(*second); });
  auto own_builds = build(c);
  builder.join();
  if (!own_builds) return own_builds.err();
  if (!other_builds) return other_builds.err();
  for (std::size_t i = 0; i < todo.size(); ++i)
    out.index_ms += std::string(out.index_ms.empty() ? "" : ",") + "\"" + todo[i].first + "\":" + std::to_string(took[i]);
  out.index_s = seconds_since(t1);

  const auto t2 = clk::now();
  if (auto r = c.exec_script("VACUUM ANALYZE leads"); !r) return r.err();
  out.analyze_s = seconds_since(t2);
  out.total_s = seconds_since(t0);
  c.set_query_timeout(std::chrono::seconds(30));
  return out;
}

/// An email fragment exactly one lead of a fill of `n` has (a rare text search).
inline std::string rare_lead_text(long n) { return "lead" + std::to_string(n / 2 + 17) + "@"; }

/// The fill's JSON line: {"bench":"leads_fill",...}.
inline void print_lead_fill(const lead_fill_report& r) {
  std::printf("{\"bench\":\"leads_fill\",\"leads\":%ld,\"insert_s\":%.1f,\"index_s\":%.1f,\"analyze_s\":%.1f,\"total_s\":%.1f,"
              "\"index_ms\":{%s},\"loadavg_1m\":%.2f}\n",
              r.leads, r.insert_s, r.index_s, r.analyze_s, r.total_s, r.index_ms.c_str(), loadavg_1m());
  std::fflush(stdout);
}

}  // namespace flowtrack::bench
