// Lead lists at scale (issue #13 item 7): fills one workspace with N leads (default 1,000,000) in
// one INSERT ... SELECT generate_series (the leads indexes dropped first and rebuilt after, as a
// bulk load would), then measures storage::list_leads pages/s and latency percentiles for several
// query shapes, on one connection and on several threads (a connection each). Prints one JSON line
// per case: {"bench":"leads_fill",...} and {"bench":"leads_list",...}.
//   leads_bench --database-url URL [--leads N] [--seconds S] [--threads T]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "domain/ids.hpp"
#include "storage/leads.hpp"
#include "storage/migrate.hpp"

using namespace flowtrack;
using clk = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what, const error& e) {
  std::cerr << "leads_bench: " << what << ": " << e.message << "\n";
  std::exit(1);
}

template <class T>
T must(result<T> r, const std::string& what) {
  if (!r) die(what, r.err());
  return std::move(r).value();
}
void must(result<void> r, const std::string& what) {
  if (!r) die(what, r.err());
}

std::unique_ptr<pg::connection> connect(const std::string& url) {
  return must(pg::connection::open(pg::connect_options{url}), "connect");
}

double loadavg() {
  std::ifstream f("/proc/loadavg");
  double v = -1;
  f >> v;
  return v;
}

double seconds_since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

// One range of the fill: $1 workflow, $2 workspace, $3..$5 the series, $4 the members (uuid[]).
const std::string k_fill_sql = R"sql(
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

struct setup {
  std::string ws, workflow;
  std::vector<std::string> members;
  std::string email_of_row;  // an email the rare text search finds once
};

// The workspace, its members and N leads with a spread like a real pipeline's: statuses weighted
// toward NEW, a third without tags, 30% assigned, creation over two years.
setup fill(pg::connection& c, const std::string& url, long n) {
  setup s;
  const std::string tag = domain::new_uuid().substr(0, 8);
  const std::string owner =
      must(c.exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add("owner-" + tag + "@bench.example.com")),
           "owner")
          .get(0, 0)
          .data();
  s.ws = std::string(must(c.exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('bench', $1, $1, $2) "
                                 "RETURNING id",
                                 pg::params{}.add("leads-" + tag).add(owner)),
                          "workspace")
                         .get(0, 0));
  must(c.exec("INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1::uuid, $2::uuid, 'owner', now())",
              pg::params{}.add(s.ws).add(owner)),
       "owner row");
  for (int i = 0; i < 3; ++i) {
    std::string email(1, 'm');
    email.append(std::to_string(i)).append("-").append(tag).append("@bench.example.com");
    std::string m(must(c.exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(email)),
                       "member")
                      .get(0, 0));
    must(c.exec("INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1::uuid, $2::uuid, 'member', now())",
                pg::params{}.add(s.ws).add(m)),
         "member row");
    s.members.push_back(m);
  }
  s.workflow = std::string(must(c.exec("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'bench', 'active') RETURNING id",
                                       pg::params{}.add(s.ws)),
                                "workflow")
                               .get(0, 0));

  // Secondary indexes are dropped for the load and rebuilt (each build sorts once instead of
  // N random insertions); the definitions are read back from the catalog, so they are exactly
  // the migrations'.
  auto defs = must(c.exec("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'leads' "
                          "AND indexname NOT IN ('leads_pkey', 'leads_unique_email_per_workflow') ORDER BY indexname"),
                   "index definitions");
  must(c.exec_script("SET maintenance_work_mem = '512MB'; SET max_parallel_maintenance_workers = 2"), "settings");
  c.set_query_timeout(std::chrono::minutes(10));
  for (int i = 0; i < defs.size(); ++i) must(c.exec_script("DROP INDEX " + std::string(defs.get(i, 0))), "drop index");

  // The unique key is a citext btree: comparisons fold case, the dearest index of the load.
  must(c.exec_script("ALTER TABLE leads DROP CONSTRAINT leads_unique_email_per_workflow"), "drop unique key");
  const auto t0 = clk::now();
  const std::string members = "{" + s.members[0] + "," + s.members[1] + "," + s.members[2] + "}";
  // Two sessions insert a half each (two cores).
  auto insert_range = [&](pg::connection& ic, long from, long to) {
    pg::params p;
    p.add(s.workflow).add(s.ws).add(static_cast<std::int64_t>(from)).add(members).add(static_cast<std::int64_t>(to));
    must(ic.exec(k_fill_sql, p), "fill");
  };
  auto second = connect(url);
  second->set_query_timeout(std::chrono::minutes(10));
  std::thread other([&] { insert_range(*second, n / 2 + 1, n); });
  insert_range(c, 1, n / 2);
  other.join();
  const double insert_s = seconds_since(t0);
  const auto t1 = clk::now();
  // Two sessions build the indexes, taking the next one from a shared counter.
  std::vector<std::pair<std::string, std::string>> todo;
  for (int i = 0; i < defs.size(); ++i) todo.emplace_back(defs.get(i, 0), defs.get(i, 1));
  todo.emplace_back("leads_unique_email_per_workflow",
                    "ALTER TABLE leads ADD CONSTRAINT leads_unique_email_per_workflow UNIQUE (workflow_id, email)");
  std::atomic<std::size_t> next{0};
  std::vector<int> took(todo.size());
  auto build = [&](pg::connection& bc) {
    must(bc.exec_script("SET maintenance_work_mem = '256MB'"), "settings");
    for (std::size_t i; (i = next++) < todo.size();) {
      const auto ti = clk::now();
      must(bc.exec_script(todo[i].second), "create index " + todo[i].first);
      took[i] = static_cast<int>(seconds_since(ti) * 1000);
    }
  };
  std::thread builder([&] { build(*second); });
  build(c);
  builder.join();
  std::string per_index;
  for (std::size_t i = 0; i < todo.size(); ++i)
    per_index += std::string(per_index.empty() ? "" : ",") + "\"" + todo[i].first + "\":" + std::to_string(took[i]);
  const double index_s = seconds_since(t1);
  const auto t2 = clk::now();
  must(c.exec_script("VACUUM ANALYZE leads"), "vacuum analyze");
  const double analyze_s = seconds_since(t2);
  c.set_query_timeout(std::chrono::seconds(30));
  std::printf("{\"bench\":\"leads_fill\",\"leads\":%ld,\"insert_s\":%.1f,\"index_s\":%.1f,\"analyze_s\":%.1f,\"total_s\":%.1f,"
              "\"index_ms\":{%s},\"loadavg_1m\":%.2f}\n",
              n, insert_s, index_s, analyze_s, seconds_since(t0), per_index.c_str(), loadavg());
  std::fflush(stdout);
  s.email_of_row = "lead" + std::to_string(n / 2 + 17) + "@";
  return s;
}

struct shape {
  std::string name;
  storage::lead_query q;
  std::vector<std::string> cursors;  // if not empty, each request starts at one of these
};

struct stats {
  std::vector<double> ms;
  long rows = 0;
};

void run_one(pg::connection& c, const std::string& ws, const shape& s, double seconds, std::size_t offset, stats& out) {
  const auto end = clk::now() + std::chrono::duration<double>(seconds);
  std::size_t i = offset;
  while (clk::now() < end) {
    storage::lead_query q = s.q;
    if (!s.cursors.empty()) q.cursor = s.cursors[i++ % s.cursors.size()];
    const auto t = clk::now();
    auto page = storage::list_leads(c, ws, q);
    out.ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - t).count());
    if (!page) die("list " + s.name, page.err());
    out.rows += static_cast<long>(page->rows.size());
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void measure(const std::string& url, const std::string& ws, const shape& s, double seconds, int threads, long leads) {
  std::vector<stats> per(static_cast<std::size_t>(threads));
  std::vector<std::unique_ptr<pg::connection>> conns;
  for (int t = 0; t < threads; ++t) conns.push_back(connect(url));
  // Warm-up: one request per connection (prepares nothing, but pages the index in).
  for (auto& c : conns) {
    stats w;
    run_one(*c, ws, s, 0.2, 0, w);
  }
  const auto t0 = clk::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { run_one(*conns[static_cast<std::size_t>(t)], ws, s, seconds, static_cast<std::size_t>(t) * 97, per[static_cast<std::size_t>(t)]); });
  for (auto& th : pool) th.join();
  const double elapsed = seconds_since(t0);
  stats all;
  for (auto& p : per) {
    all.ms.insert(all.ms.end(), p.ms.begin(), p.ms.end());
    all.rows += p.rows;
  }
  const double pages = static_cast<double>(all.ms.size());
  std::sort(all.ms.begin(), all.ms.end());
  const double max_ms = all.ms.empty() ? 0 : all.ms.back();
  std::printf("{\"bench\":\"leads_list\",\"shape\":\"%s\",\"threads\":%d,\"leads\":%ld,\"pages\":%.0f,\"pages_per_s\":%.1f,"
              "\"rows_per_page\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"loadavg_1m\":%.2f}\n",
              s.name.c_str(), threads, leads, pages, pages / elapsed, pages > 0 ? static_cast<double>(all.rows) / pages : 0,
              percentile(all.ms, 0.50), percentile(all.ms, 0.99), max_ms, loadavg());
  std::fflush(stdout);
}

// Cursors along one walk of the list, `depth` pages of 100 deep, one kept every `every` pages
// past the first tenth: requests starting there are the deep pages.
std::vector<std::string> deep_cursors(pg::connection& c, const std::string& ws, storage::lead_query q, int depth, int every) {
  std::vector<std::string> out;
  q.limit = 100;
  for (int page = 0; page < depth; ++page) {
    auto p = must(storage::list_leads(c, ws, q), "walk");
    if (!p.next_cursor) break;
    q.cursor = p.next_cursor;
    if (page > depth / 10 && page % every == 0) out.push_back(*p.next_cursor);
  }
  // The walk used limit 100 and the measured requests use 25: a cursor is bound to the list's
  // filters and sort, not to its limit.
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  long leads = 1'000'000;
  double seconds = 5;
  int threads = 4;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "leads_bench: " << a << " needs a value\n";
        std::exit(64);
      }
      return argv[++i];
    };
    if (a == "--database-url") url = next();
    else if (a == "--leads") leads = std::stol(next());
    else if (a == "--seconds") seconds = std::stod(next());
    else if (a == "--threads") threads = std::stoi(next());
    else {
      std::cerr << "usage: leads_bench --database-url URL [--leads N] [--seconds S] [--threads T]\n";
      return 64;
    }
  }
  if (url.empty()) {
    std::cerr << "leads_bench: --database-url is required\n";
    return 64;
  }
  auto c = connect(url);
  must(storage::migrate(*c, storage::embedded_migrations()), "migrate");
  const setup s = fill(*c, url, leads);

  std::vector<shape> shapes;
  shapes.push_back({"first_page", {}, {}});
  shapes.push_back({"deep_cursor", {}, deep_cursors(*c, s.ws, {}, 2000, 20)});
  shapes.push_back({"status_filter", {.status = "QUALIFIED"}, {}});
  shapes.push_back({"status_filter_deep", {.status = "QUALIFIED"}, deep_cursors(*c, s.ws, {.status = "QUALIFIED"}, 500, 10)});
  shapes.push_back({"tag_filter", {.tags = {"vip"}}, {}});
  shapes.push_back({"assignee_by_score", {.assigned_to = s.members[1], .sort = storage::lead_sort::score}, {}});
  shapes.push_back({"name_asc", {.sort = storage::lead_sort::name, .descending = false}, {}});
  shapes.push_back({"text_search_rare", {.text = s.email_of_row}, {}});
  shapes.push_back({"text_search_common", {.text = "globex"}, {}});
  for (const auto& sh : shapes) {
    measure(url, s.ws, sh, seconds, 1, leads);
    measure(url, s.ws, sh, seconds, threads, leads);
  }
  return 0;
}
