// A whole engine in the test process: real PostgreSQL and Redis, the supervision tree, an
// injected clock, and helpers to create workspaces and workflows and to wait for executions.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <gtest/gtest.h>

#include "actors/engine.hpp"
#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "actors/pooled_store.hpp"
#include "runtime/graph.hpp"
#include "storage/pg/pool.hpp"
#include "storage/redis/connection.hpp"
#include "storage/workflows.hpp"
#include "storage/workspaces.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::test {

class engine_config : public caf::actor_system_config {
 public:
  engine_config() { actors::configure_engine(*this, 2); }
};

/// Drives many triggers at once from one actor and collects every answer, in order.
inline std::vector<actors::ingest_reply> trigger_many_impl(caf::actor_system& system, const std::string& workspace_id,
                                                           const std::string& workflow_id, int n,
                                                           const std::function<boost::json::value(int)>& lead_of) {
  auto out = std::make_shared<std::vector<actors::ingest_reply>>(static_cast<std::size_t>(n),
                                                                 actors::ingest_reply(make_error(error_code::timeout, "no answer")));
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  auto left = std::make_shared<int>(n);
  auto registry = actors::engine_registry(system);
  std::vector<actors::trigger_request> requests;
  for (int i = 0; i < n; ++i) {
    actors::trigger_request req{workspace_id, workflow_id, {}, std::nullopt};
    req.intake.kind = domain::trigger_kind::manual;
    req.intake.lead = lead_of(i);
    requests.push_back(std::move(req));
  }
  // The requests travel as a spawn argument: CAF 0.17 dereferences a null argument tuple for
  // an argument-less function actor (UBSan reports it).
  system.spawn([=](caf::event_based_actor* self, std::vector<actors::trigger_request> requests) {
    for (int i = 0; i < n; ++i)
      self->request(registry, std::chrono::seconds(120), actors::trigger_atom::value, std::move(requests[static_cast<std::size_t>(i)]))
          .then([=](actors::ingest_reply& r) {
                  (*out)[static_cast<std::size_t>(i)] = std::move(r);
                  if (--*left == 0) done->set_value();
                },
                [=](caf::error& e) {
                  (*out)[static_cast<std::size_t>(i)] = make_error(error_code::internal, to_string(e));
                  if (--*left == 0) done->set_value();
                });
  }, std::move(requests));
  fut.wait_for(std::chrono::seconds(180));
  return *out;
}

/// One engine node.
struct engine_node {
  pg::pool postgres;
  storage::worker_pool<redis::connection> redis;
  actors::pooled_store store;
  actors::node_services node;
  engine_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor root;

  explicit engine_node(std::function<void(actors::node_services&)> tune = {}, actors::mailer_port* mailer = nullptr)
      : postgres(pool_opts()),
        redis(2, [] { return std::move(redis::connection::open(redis_url(), std::chrono::seconds(2)).value()); }),
        store(postgres, redis, nullptr) {
    node.store = &store;
    node.node_id = unique_name("test-node");
    node.mailer = mailer;
    node.options.scheduler_tick = std::chrono::milliseconds(20);
    if (tune) tune(node);
    system = std::make_unique<caf::actor_system>(cfg);
    root = actors::start_engine(*system, &node);
    // The supervisor registers its children as it starts them; wait for that.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!actors::engine_registry(*system) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_TRUE(actors::engine_registry(*system)) << "the engine did not start";
  }
  ~engine_node() {
    caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
    system->await_all_actors_done();
    // The pools' last callbacks reach actors of this system: finish them before it goes.
    redis.close();
    postgres.close();
  }
  static pg::pool_options pool_opts() {
    pg::pool_options o;
    o.connection.uri = database_url();
    o.size = 4;
    return o;
  }

  /// Sends a trigger and waits for the answer (after the commit).
  actors::ingest_reply trigger(const std::string& workspace_id, const std::string& workflow_id, boost::json::value lead,
                               domain::trigger_kind kind = domain::trigger_kind::manual,
                               std::optional<std::string> idempotency_key = std::nullopt) {
    caf::scoped_actor self{*system};
    actors::trigger_request req{workspace_id, workflow_id, {}, std::nullopt};
    req.intake.kind = kind;
    req.intake.lead = std::move(lead);
    req.intake.idempotency_key = std::move(idempotency_key);
    actors::ingest_reply out = make_error(error_code::timeout, "no answer");
    self->request(actors::engine_registry(*system), std::chrono::seconds(30), actors::trigger_atom::value, std::move(req))
        .receive([&](actors::ingest_reply& r) { out = std::move(r); },
                 [&](caf::error& e) { out = make_error(error_code::internal, to_string(e)); });
    return out;
  }

  std::vector<actors::ingest_reply> trigger_many(const std::string& workspace_id, const std::string& workflow_id, int n,
                                                 const std::function<boost::json::value(int)>& lead_of) {
    return trigger_many_impl(*system, workspace_id, workflow_id, n, lead_of);
  }
};

/// A direct connection for setting up and checking rows.
inline std::unique_ptr<pg::connection> db() {
  auto c = pg::connection::open(pg::connect_options{database_url()});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return std::move(*c);
}

/// A new workspace on a plan; returns it.
inline domain::workspace_info make_workspace(pg::connection& c, const std::string& plan = "enterprise",
                                              const std::string& tz = "UTC") {
  std::string slug = unique_name("eng");
  for (auto& ch : slug) if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '-';
  auto ws = storage::create_workspace(c, {"Engine Test", slug.substr(0, 50), "owner@" + slug.substr(0, 40) + ".example.com", plan, tz, {}});
  EXPECT_TRUE(ws.ok()) << (ws.ok() ? "" : ws.err().message);
  return *ws;
}

/// Imports a React Flow graph as an active workflow; returns its id.
inline std::string make_workflow(pg::connection& c, const std::string& workspace_id, const std::string& graph_json,
                                 std::vector<domain::form_field_record> fields = {}, const std::string& settings = "{}") {
  auto g = runtime::import_react_flow(std::string_view(graph_json));
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.err().message);
  storage::new_workflow w;
  w.workspace_id = workspace_id;
  w.name = "wf";
  w.status = "active";
  w.settings = settings;
  w.graph = boost::json::serialize(runtime::export_react_flow(*g));
  w.nodes = runtime::to_node_rows(*g);
  w.edges = runtime::to_edge_rows(*g);
  w.fields = std::move(fields);
  auto id = storage::create_workflow(c, w);
  EXPECT_TRUE(id.ok()) << (id.ok() ? "" : id.err().message);
  return *id;
}

/// Polls `sql` (one integer, $1 bound to `arg`) until it equals `want` or the deadline passes.
inline std::int64_t await_value(pg::connection& c, const std::string& sql, const std::string& arg, std::int64_t want,
                                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::int64_t got = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.exec(sql, pg::params{}.add(arg));
    if (r.ok() && r->size() > 0 && !r->is_null(0, 0)) got = r->get_int(0, 0);
    if (got == want) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return got;
}

}  // namespace flowtrack::test
