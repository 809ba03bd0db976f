// What the actor tests share: an actor system on CAF's test coordinator (no threads: actors move
// only in `sched_.run()`, time only when the test advances it), the in-memory store, a manual
// wall clock, and compiled workflows made from React Flow JSON as the database would hold them.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "actors/storage_writer.hpp"
#include "actors/workspace.hpp"
#include "domain/clock.hpp"
#include "runtime/tz.hpp"
#include "storage/workflows.hpp"
#include "tests/unit/actors/memory_store.hpp"

namespace flowtrack::test {

inline const std::string k_workspace_id = "0a000000-0000-4000-8000-000000000001";
inline const std::string k_workflow_id = "0b000000-0000-4000-8000-000000000001";
inline constexpr std::int64_t k_start_ms = 1'796'000'000'000;  // 2026-11-30, a fixed wall time

/// Trigger -> add tag "hot" -> end: a run that needs no I/O.
inline const char* k_tag_graph = R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"g","type":"ACTION_ADD_TAG","position":{"x":0,"y":1},"data":{"tag":"hot"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"g"},{"id":"2","source":"g","target":"e"}]})";

/// Trigger -> wait until `until_ms` -> update status -> end.
inline std::string wait_graph(std::int64_t until_ms) {
  return std::string(R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"w","type":"LOGIC_WAIT_UNTIL","position":{"x":0,"y":1},"data":{"until":")") +
         runtime::format_iso8601_utc(until_ms) + R"("}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":2},"data":{"status":"FOLLOWED_UP"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":3},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"w"},{"id":"2","source":"w","target":"s"},{"id":"3","source":"s","target":"e"}]})";
}

/// The workspace as loaded from PostgreSQL.
inline std::shared_ptr<const domain::workspace_snapshot> workspace(bool active = true, std::string fingerprint = "ws-v1") {
  auto s = std::make_shared<domain::workspace_snapshot>();
  s->info.id = k_workspace_id;
  s->info.name = "Acme";
  s->info.slug = "acme";
  s->info.owner_email = "owner@acme.example.com";
  s->info.is_active = active;
  s->info.plan_slug = "enterprise";
  s->info.period_start = "2026-11-01";
  s->info.period_end = "2026-11-30";
  s->info.fingerprint = std::move(fingerprint);
  return s;
}

/// A workflow compiled as a workspace load compiles it; every node gets a stored id.
inline std::shared_ptr<const domain::workflow_snapshot> workflow(const std::string& graph,
                                                                 domain::workflow_status status = domain::workflow_status::active,
                                                                 std::optional<std::string> webhook_token = std::nullopt) {
  domain::workflow_record r;
  r.id = k_workflow_id;
  r.workspace_id = k_workspace_id;
  r.name = "Welcome";
  r.status = status;
  r.graph = graph;
  r.fingerprint = "wf-v1";
  const auto parsed = boost::json::parse(graph);
  for (const auto& n : parsed.at("nodes").as_array())
    r.node_ids[std::string(n.at("id").as_string())] = "node-" + std::string(n.at("id").as_string());
  if (webhook_token) r.webhook_token_hash = storage::token_hash(*webhook_token);
  auto s = actors::make_snapshot(std::move(r));
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
  return s.ok() ? *s : nullptr;
}

inline actors::workspace_load load_of(std::shared_ptr<const domain::workspace_snapshot> ws,
                                      std::shared_ptr<const domain::workflow_snapshot> wf) {
  actors::workspace_load l;
  l.workspace = std::move(ws);
  if (wf) l.workflows.emplace(wf->id, std::move(wf));
  return l;
}

/// What PostgreSQL answers for a batch of new leads: each starts its execution.
inline memory_store::ingest_results fresh_leads(const std::vector<domain::trigger_record>& batch) {
  memory_store::ingest_results out;
  for (const auto& t : batch) {
    storage::ingest_outcome o;
    o.lead_id = t.lead_id;
    o.execution_id = t.execution_id;
    o.lead_created = true;
    o.settled = t.settled.has_value();
    o.event_id = "event-" + t.execution_id;
    out.emplace_back(std::move(o));
  }
  return out;
}

class actors_on_test_coordinator : public ::testing::Test {
 protected:
  actors_on_test_coordinator()
      : sys_(testing_config(cfg_)), sched_(dynamic_cast<caf::scheduler::test_coordinator&>(sys_.scheduler())) {
    sched_.clock().current_time += std::chrono::hours(1);
    node_.store = &store_;
    node_.clock = &clock_;
    node_.node_id = "test-node";
  }
  ~actors_on_test_coordinator() override {
    sys_.registry().erase(actors::k_writer_name);
    for (auto& a : spawned_) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched_.run();
  }

  static caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    return cfg;
  }

  /// Ended with the test (an actor still alive would keep the system from shutting down).
  caf::actor track(caf::actor a) {
    spawned_.push_back(a);
    return a;
  }
  /// The storage writer, registered under its name so workspaces and runs find it.
  caf::actor start_writer() {
    auto w = track(sys_.spawn(actors::storage_writer, &node_));
    sys_.registry().put(actors::k_writer_name, w);
    sched_.run();
    return w;
  }

  /// Sends a request from a fresh actor; the answer (or the request's error as text) lands in
  /// the returned slot once the coordinator delivered it.
  template <class Reply, class... Ts>
  std::shared_ptr<std::optional<Reply>> ask(caf::actor to, Ts... xs) {
    auto out = std::make_shared<std::optional<Reply>>();
    auto failed = failed_requests_;
    track(sys_.spawn(
        [out, failed](caf::event_based_actor* self, caf::actor to, caf::message m) {
          self->request(to, std::chrono::seconds(3600), std::move(m))
              .then([out](Reply& r) { *out = std::move(r); }, [failed](caf::error& e) { failed->push_back(to_string(e)); });
        },
        to, caf::make_message(std::move(xs)...)));
    sched_.run();
    return out;
  }

  /// Set once `a` is down.
  std::shared_ptr<bool> watch(caf::actor a) {
    auto down = std::make_shared<bool>(false);
    track(sys_.spawn(
        [down](caf::event_based_actor* self, caf::actor target) -> caf::behavior {
          self->monitor(target);
          self->set_down_handler([down](caf::down_msg&) { *down = true; });
          return {[](actors::tick_atom) {}};
        },
        a));
    sched_.run();
    return down;
  }

  /// Lets the group-commit wait pass, so the writer sends what it holds.
  void pass_group_commit_wait() {
    sched_.advance_time(node_.options.group_commit_wait);
    sched_.run();
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  caf::scheduler::test_coordinator& sched_;
  memory_store store_;
  domain::manual_clock clock_{k_start_ms};
  actors::node_services node_;
  std::shared_ptr<std::vector<std::string>> failed_requests_ = std::make_shared<std::vector<std::string>>();
  std::vector<caf::actor> spawned_;
};

}  // namespace flowtrack::test
