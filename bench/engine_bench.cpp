// Engine benchmark: triggers injected straight into the workspace actors of an in-process node
// (real PostgreSQL and Redis), a 4-node workflow (condition -> status -> tag -> end). Reports
// completed executions/s and trigger-to-commit latency, beside the PostgreSQL-only rate of the
// same rows (the same batched statements, no actors, no Redis) measured in the same run.
//   engine_bench DATABASE_URL REDIS_URL [--seconds N] [--inflight N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <thread>

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/engine.hpp"
#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "actors/pooled_store.hpp"
#include "actors/run.hpp"
#include "actors/workspace.hpp"
#include "runtime/graph.hpp"
#include "storage/ingest.hpp"
#include "storage/runs.hpp"
#include "domain/ids.hpp"
#include "storage/workflows.hpp"
#include "storage/workspaces.hpp"

using namespace flowtrack;
using clk = std::chrono::steady_clock;
namespace json = boost::json;

namespace {

const char* k_graph = R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"c","type":"LOGIC_CONDITION","position":{"x":0,"y":1},"data":{"field":"budget","operator":">=","value":5000,"trueHandle":"yes","falseHandle":"no"}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":2},"data":{"status":"QUALIFIED"}},
  {"id":"g","type":"ACTION_ADD_TAG","position":{"x":0,"y":3},"data":{"tag":"hot"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":4},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"c"},{"id":"2","source":"c","target":"s","sourceHandle":"yes"},
          {"id":"3","source":"s","target":"g"},{"id":"4","source":"g","target":"e"},{"id":"5","source":"c","target":"e","sourceHandle":"no"}]})";

class bench_config : public caf::actor_system_config {
 public:
  bench_config() { actors::configure_engine(*this, 2); }
};

struct fixture {
  domain::workspace_info ws;
  domain::workflow_record wf;
};

fixture make_fixture(pg::connection& c) {
  std::string slug = "bench-" + domain::new_uuid().substr(0, 12);
  auto ws = storage::create_workspace(c, {"Bench", slug, "owner@" + slug + ".example.com", "enterprise", "UTC", {}});
  if (!ws) throw std::runtime_error(ws.err().message);
  auto g = runtime::import_react_flow(std::string_view(k_graph));
  storage::new_workflow w;
  w.workspace_id = ws->id;
  w.name = "bench";
  w.status = "active";
  w.graph = json::serialize(runtime::export_react_flow(*g));
  w.nodes = runtime::to_node_rows(*g);
  w.edges = runtime::to_edge_rows(*g);
  domain::form_field_record f;
  f.field_key = "budget";
  f.label = "Budget";
  f.field_type = "NUMBER";
  w.fields = {f};
  auto id = storage::create_workflow(c, w);
  if (!id) throw std::runtime_error(id.err().message);
  auto rec = storage::load_workflow(c, ws->id, *id);
  return {*ws, *rec};
}

json::value lead_of(std::uint64_t i) {
  return json::value{{"email", "b" + std::to_string(i) + "-" + domain::new_uuid().substr(0, 8) + "@example.com"},
                     {"name", "Bench"},
                     {"fields", {{"budget", 9000}}}};
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::int64_t completed(pg::connection& c, const std::string& wf) {
  auto r = c.exec("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'completed'", pg::params{}.add(wf));
  return r.ok() ? r->get_int(0, 0) : -1;
}

// The engine: closed loop of `inflight` triggers for `seconds`, then wait for every run to end.
void run_engine(const std::string& db, const std::string& redis_url, double seconds, int inflight) {
  auto c = pg::connection::open(pg::connect_options{db}).value();
  auto fx = make_fixture(*c);
  pg::pool_options po;
  po.connection.uri = db;
  po.size = 4;
  pg::pool postgres(po);
  storage::worker_pool<redis::connection> redis(2, [&] { return std::move(redis::connection::open(redis_url, std::chrono::seconds(2)).value()); });
  actors::pooled_store store(postgres, redis, nullptr);
  actors::node_services node;
  node.store = &store;
  node.node_id = "bench";
  node.options.max_batches_in_flight = 2;
  bench_config cfg;
  caf::actor_system system(cfg);
  auto root = actors::start_engine(system, &node);
  while (!actors::engine_registry(system)) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  struct shared {
    std::mutex m;
    std::vector<double> latencies_ms;
    std::atomic<std::uint64_t> accepted{0}, errors{0};
    std::promise<void> done;
  };
  auto sh = std::make_shared<shared>();
  auto registry = actors::engine_registry(system);
  auto deadline = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds));
  auto start = clk::now();
  std::string ws_id = fx.ws.id, wf_id = fx.wf.id;
  system.spawn([=](caf::event_based_actor* self, int in_flight) {
    auto counter = std::make_shared<std::uint64_t>(0);
    auto outstanding = std::make_shared<int>(0);
    auto send_one = std::make_shared<std::function<void()>>();
    *send_one = [=] {
      if (clk::now() >= deadline) {
        if (*outstanding == 0) sh->done.set_value();
        return;
      }
      actors::trigger_request req{ws_id, wf_id, {}, std::nullopt};
      req.intake.kind = domain::trigger_kind::manual;
      req.intake.lead = lead_of((*counter)++);
      auto sent = clk::now();
      ++*outstanding;
      self->request(registry, std::chrono::seconds(60), actors::trigger_atom::value, std::move(req))
          .then(
              [=](actors::ingest_reply& r) {
                --*outstanding;
                if (r.ok()) {
                  ++sh->accepted;
                  std::lock_guard lock(sh->m);
                  sh->latencies_ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - sent).count());
                } else {
                  ++sh->errors;
                }
                (*send_one)();
              },
              [=](caf::error&) {
                --*outstanding;
                ++sh->errors;
                (*send_one)();
              });
    };
    for (int i = 0; i < in_flight; ++i) (*send_one)();
  }, inflight);
  sh->done.get_future().wait();
  double accept_s = std::chrono::duration<double>(clk::now() - start).count();
  auto want = static_cast<std::int64_t>(sh->accepted.load());
  std::int64_t got = 0;
  auto wait_until = clk::now() + std::chrono::seconds(120);
  while ((got = completed(*c, fx.wf.id)) < want && clk::now() < wait_until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  double total_s = std::chrono::duration<double>(clk::now() - start).count();
  double p50 = percentile(sh->latencies_ms, 0.50), p99 = percentile(sh->latencies_ms, 0.99);
  std::printf(R"({"bench":"engine","mode":"engine","workflow_nodes":5,"inflight":%d,"accepted":%llu,"errors":%llu,"completed":%lld,"accepted_per_s":%.0f,"completed_per_s":%.0f,"trigger_to_commit_p50_ms":%.2f,"trigger_to_commit_p99_ms":%.2f,"seconds":%.2f})" "\n",
              inflight, static_cast<unsigned long long>(want), static_cast<unsigned long long>(sh->errors.load()),
              static_cast<long long>(got), static_cast<double>(want) / accept_s, static_cast<double>(got) / total_s, p50, p99, total_s);
  std::fflush(stdout);
  caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
  system.await_all_actors_done();
  redis.close();  // the pools' last callbacks reach this actor system: finish them before it goes
  postgres.close();
}

// PostgreSQL alone: the same intake statement, with each run already settled, in batches of 256
// on 2 connections; no actors, no Redis, no stepping.
void run_postgres_only(const std::string& db, double seconds) {
  auto c = pg::connection::open(pg::connect_options{db}).value();
  auto fx = make_fixture(*c);
  auto q = domain::quota_limits_from_plan(fx.ws.plan_quotas, fx.ws.period_start, fx.ws.period_end);
  std::atomic<std::uint64_t> done{0};
  auto deadline = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds));
  auto start = clk::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&, w] {
      auto conn = pg::connection::open(pg::connect_options{db}).value();
      std::uint64_t n = 0;
      while (clk::now() < deadline) {
        std::vector<domain::trigger_record> batch;
        for (int i = 0; i < 256; ++i) {
          domain::trigger_record t;
          t.workspace_id = fx.ws.id;
          t.workflow_id = fx.wf.id;
          t.workflow_version = 1;
          t.trigger_type = "MANUAL";
          t.event_type = "MANUAL_STARTED";
          t.source = "MANUAL";
          t.email = "raw" + std::to_string(w) + "-" + std::to_string(n++) + "-" + domain::new_uuid().substr(0, 6) + "@example.com";
          t.name = "Bench";
          t.trigger_data = R"({"fields":{"budget":9000}})";
          t.fields = {{fx.wf.fields[0].id, "9000"}};
          t.quotas = q;
          t.execution_id = domain::new_uuid();
          // The run as the engine settles it before the commit: written with its trigger.
          domain::run_record r;
          r.status = domain::execution_status::completed;
          r.started_at = r.completed_at = "2026-11-24 12:00:00.000";
          r.duration_ms = 1;
          r.output_data = R"({"steps":5})";
          r.checkpoint = R"({"status":"completed"})";
          for (const char* node : {"t", "c", "s", "g", "e"}) {
            domain::step_write s;
            s.id = domain::new_uuid();
            s.workflow_node_id = fx.wf.node_ids.at(node);
            s.step_number = static_cast<int>(r.steps.size()) + 1;
            s.status = domain::step_status::completed;
            s.started_at = s.completed_at = r.started_at;
            s.duration_ms = 0;
            s.output_data = R"({"followed":1})";
            r.steps.push_back(std::move(s));
          }
          r.lead.status = "QUALIFIED";
          r.lead.add_tags = {"hot"};
          r.events = {{"STATUS_CHANGED", "automation", "Status changed", std::nullopt}, {"TAG_ADDED", "automation", "Tag added", std::nullopt}};
          r.logs = {{"INFO", "execution", "execution completed", std::nullopt, std::nullopt, std::nullopt}};
          t.settled = std::move(r);
          batch.push_back(std::move(t));
        }
        for (auto& o : storage::ingest_batch(*conn, batch)) done += o.ok() && o->settled ? 1 : 0;
      }
    });
  for (auto& t : writers) t.join();
  double s = std::chrono::duration<double>(clk::now() - start).count();
  std::printf(R"({"bench":"engine","mode":"postgres_only","completed":%llu,"completed_per_s":%.0f,"seconds":%.2f})" "\n",
              static_cast<unsigned long long>(done.load()), static_cast<double>(done.load()) / s, s);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: engine_bench DATABASE_URL REDIS_URL [--seconds N] [--inflight N]\n";
    return 64;
  }
  double seconds = 10;
  int inflight = 256;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--inflight") == 0) inflight = std::atoi(argv[i + 1]);
  }
  try {
    run_postgres_only(argv[1], seconds);
    run_engine(argv[1], argv[2], seconds, inflight);
  } catch (const std::exception& e) {
    std::cerr << "engine_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
