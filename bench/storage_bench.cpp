// Storage write benchmark: execution-like batches (1 execution row + 3 step rows each) through
// the storage layer at batch sizes 1, 10 and 100, beside a plain libpq COPY of the same rows
// measured in the same run. Prints one JSON line per case.
//   storage_bench DATABASE_URL [--seconds N] [--writers N]
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "storage/executions.hpp"
#include "storage/pg/pool.hpp"
#include "domain/ids.hpp"

using namespace flowtrack;
using clk = std::chrono::steady_clock;

namespace {

struct fixture {
  std::string workspace_id, workflow_id;
  std::vector<std::string> node_ids;
};

fixture make_fixture(pg::connection& c) {
  fixture f;
  std::string tag = domain::new_uuid().substr(0, 8);
  auto user = c.exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(std::string("bench-") + tag + "@example.com"));
  auto ws = c.exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('bench', $1, $1, $2) RETURNING id",
                   pg::params{}.add(std::string("bench-") + tag).add(std::string(user->get(0, 0))));
  f.workspace_id = ws->get(0, 0);
  auto wf = c.exec("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'bench', 'active') RETURNING id",
                   pg::params{}.add(f.workspace_id));
  f.workflow_id = wf->get(0, 0);
  for (int i = 0; i < 3; ++i) {
    auto n = c.exec("INSERT INTO workflow_nodes (workflow_id, react_flow_node_id, node_type, node_category) "
                    "VALUES ($1, $2, 'ACTION_UPDATE_STATUS', 'action') RETURNING id",
                    pg::params{}.add(f.workflow_id).add(std::string("n").append(std::to_string(i))));
    f.node_ids.emplace_back(n->get(0, 0));
  }
  return f;
}

const char* k_ts = "2026-11-24 12:00:00.000000";
const char* k_json = R"({"status":"QUALIFIED"})";

void make_batch(const fixture& f, int n, std::vector<storage::execution_record>& ex, std::vector<storage::step_record>& st) {
  ex.clear();
  st.clear();
  for (int i = 0; i < n; ++i) {
    storage::execution_record e;
    e.id = domain::new_uuid();
    e.workflow_id = f.workflow_id;
    e.workspace_id = f.workspace_id;
    e.trigger_type = "FORM_SUBMIT";
    e.trigger_data = R"({"email":"lead@example.com"})";
    e.status = "completed";
    e.started_at = k_ts;
    for (int s = 0; s < 3; ++s) {
      storage::step_record r;
      r.id = domain::new_uuid();
      r.execution_id = e.id;
      r.workflow_node_id = f.node_ids[s];
      r.step_number = s + 1;
      r.started_at = k_ts;
      r.completed_at = k_ts;
      r.duration_ms = 1;
      r.output_data = k_json;
      st.push_back(std::move(r));
    }
    ex.push_back(std::move(e));
  }
}

struct measured {
  double executions_per_s;
  std::uint64_t executions;
  double seconds;
  std::uint64_t errors;
};

measured run_storage(const std::string& url, const fixture& f, int batch, int writers, double seconds) {
  pg::pool_options o;
  o.connection.uri = url;
  o.size = writers;
  pg::pool pool(o);
  std::atomic<std::uint64_t> done{0}, errors{0};
  std::atomic<bool> stop{false};
  std::atomic<int> in_flight{0};
  auto start = clk::now();
  // Keep each writer busy: one batch queued behind the one it writes.
  std::function<void()> submit_one = [&] {
    in_flight++;
    pool.submit(
        [&, batch](pg::connection& c) {
          std::vector<storage::execution_record> ex;
          std::vector<storage::step_record> st;
          make_batch(f, batch, ex, st);
          return storage::insert_execution_batch(c, ex, st);
        },
        [&, batch](result<void> r) {
          if (r.ok()) done += batch;
          else errors++;
          in_flight--;
          if (!stop.load()) submit_one();
        });
  };
  for (int i = 0; i < writers * 2; ++i) submit_one();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  while (in_flight.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  double elapsed = std::chrono::duration<double>(clk::now() - start).count();
  return {done / elapsed, done.load(), elapsed, errors.load()};
}

// The baseline: plain libpq, BEGIN; COPY executions; COPY steps; COMMIT per batch.
bool copy_rows(PGconn* c, const char* sql, const std::string& data) {
  PGresult* r = PQexec(c, sql);
  bool ok = PQresultStatus(r) == PGRES_COPY_IN;
  PQclear(r);
  if (!ok) return false;
  ok = PQputCopyData(c, data.data(), static_cast<int>(data.size())) == 1 && PQputCopyEnd(c, nullptr) == 1;
  r = PQgetResult(c);
  ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  while ((r = PQgetResult(c))) PQclear(r);
  return ok;
}

measured run_raw_copy(const std::string& url, const fixture& f, int batch, int writers, double seconds) {
  std::atomic<std::uint64_t> done{0}, errors{0};
  std::atomic<bool> stop{false};
  auto start = clk::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&] {
      PGconn* c = PQconnectdb(url.c_str());
      std::vector<storage::execution_record> ex;
      std::vector<storage::step_record> st;
      while (!stop.load()) {
        make_batch(f, batch, ex, st);
        std::string e_data, s_data;
        for (const auto& e : ex)
          e_data += e.id + "\t" + e.workflow_id + "\t" + e.workspace_id + "\t" + e.trigger_type + "\t" + *e.trigger_data +
                    "\t" + e.status + "\t" + *e.started_at + "\n";
        for (const auto& s : st)
          s_data += s.id + "\t" + s.execution_id + "\t" + s.workflow_node_id + "\t" + std::to_string(s.step_number) + "\t" +
                    s.status + "\t" + *s.started_at + "\t" + *s.completed_at + "\t1\t" + *s.output_data + "\n";
        PQclear(PQexec(c, "BEGIN"));
        bool ok = copy_rows(c, "COPY workflow_executions (id, workflow_id, workspace_id, trigger_type, trigger_data, status, started_at) FROM STDIN", e_data) &&
                  copy_rows(c, "COPY execution_steps (id, execution_id, workflow_node_id, step_number, status, started_at, completed_at, duration_ms, output_data) FROM STDIN", s_data);
        PGresult* r = PQexec(c, ok ? "COMMIT" : "ROLLBACK");
        ok = ok && std::strcmp(PQcmdStatus(r), "COMMIT") == 0;
        PQclear(r);
        if (ok) done += batch;
        else errors++;
      }
      PQfinish(c);
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(clk::now() - start).count();
  return {done / elapsed, done.load(), elapsed, errors.load()};
}

void print(const char* mode, int batch, int writers, const measured& m) {
  std::printf(R"({"bench":"storage_write","mode":"%s","batch":%d,"writers":%d,"executions_per_s":%.0f,"rows_per_s":%.0f,"executions":%llu,"seconds":%.2f,"errors":%llu})" "\n",
              mode, batch, writers, m.executions_per_s, m.executions_per_s * 4, static_cast<unsigned long long>(m.executions),
              m.seconds, static_cast<unsigned long long>(m.errors));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: storage_bench DATABASE_URL [--seconds N] [--writers N]\n";
    return 64;
  }
  std::string url = argv[1];
  double seconds = 5;
  int writers = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--writers") == 0) writers = std::atoi(argv[i + 1]);
  }
  auto conn = pg::connection::open(pg::connect_options{url});
  if (!conn) {
    std::cerr << "storage_bench: " << conn.err().message << "\n";
    return 1;
  }
  fixture f = make_fixture(**conn);

  for (int batch : {1, 10}) print("storage", batch, writers, run_storage(url, f, batch, writers, seconds));
  // Batch 100 against the raw COPY baseline, alternating three times so that drift (table
  // growth, checkpoints, autovacuum) falls on both sides; the ratio is of the totals.
  double storage_total = 0, raw_total = 0;
  for (int round = 0; round < 3; ++round) {
    measured raw = run_raw_copy(url, f, 100, writers, seconds);
    print("raw_copy", 100, writers, raw);
    measured ours = run_storage(url, f, 100, writers, seconds);
    print("storage", 100, writers, ours);
    raw_total += raw.executions_per_s;
    storage_total += ours.executions_per_s;
  }
  std::printf(R"({"bench":"storage_write_ratio","batch":100,"storage_executions_per_s":%.0f,"raw_copy_executions_per_s":%.0f,"ratio":%.3f,"target":0.8})" "\n",
              storage_total / 3, raw_total / 3, storage_total / raw_total);
  return 0;
}
