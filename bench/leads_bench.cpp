// Lead lists at scale (issue #13 item 7): fills one workspace with N leads (default 1,000,000) in
// one INSERT ... SELECT generate_series (bench/lead_fill.hpp: the leads indexes dropped first and
// rebuilt after, as a bulk load would), then measures storage::list_leads pages/s and latency
// percentiles for several query shapes, on one connection and on several threads (a connection
// each). Prints one JSON line per case: {"bench":"leads_fill",...} and {"bench":"leads_list",...}.
//   leads_bench --database-url URL [--leads N] [--seconds S] [--threads T]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bench/lead_fill.hpp"
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

std::unique_ptr<pg::connection> connect(const std::string& url) {
  return must(pg::connection::open(pg::connect_options{url}), "connect");
}

double seconds_since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

struct setup {
  std::string ws;
  std::vector<std::string> members;
  std::string email_of_row;  // an email the rare text search finds once
};

// An owner, the workspace, its members and workflow, then the leads (bench/lead_fill.hpp).
setup fill(pg::connection& c, const std::string& url, long n) {
  const std::string tag = domain::new_uuid().substr(0, 8);
  const std::string owner =
      must(c.exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add("owner-" + tag + "@bench.example.com")),
           "owner")
          .get(0, 0)
          .data();
  const std::string ws(must(c.exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('bench', $1, $1, $2) "
                                   "RETURNING id",
                                   pg::params{}.add("leads-" + tag).add(owner)),
                            "workspace")
                           .get(0, 0));
  must(c.exec("INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1::uuid, $2::uuid, 'owner', now())",
              pg::params{}.add(ws).add(owner)),
       "owner row");
  auto target = must(bench::prepare_lead_fill(c, ws, tag), "members and workflow");
  bench::print_lead_fill(must(bench::fill_leads(c, url, target, n), "fill"));
  return setup{ws, target.members, bench::rare_lead_text(n)};
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
              percentile(all.ms, 0.50), percentile(all.ms, 0.99), max_ms, bench::loadavg_1m());
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
