// Nodes of one cluster on loopback, sharing a database and a Redis of the test's own: they join
// through the PSK tunnel, split the 256 shards, answer `flowtrackd cluster status|owner|drain`,
// take a killed or paused node's shards once it is declared down (a higher epoch, so its stale
// writes are refused), share with a node that joins, and refuse a node with the wrong secret
// before it touches a lease. Runs belong to the owner of their workspace's shard: a run write
// under a stale epoch is refused and not applied, and when an owner is killed under load every
// acknowledged trigger still ends completed once, its webhook sent once, resumed by a survivor.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "domain/shard_ring.hpp"
#include "storage/pg/array.hpp"
#include "storage/pg/connection.hpp"
#include "storage/runs.hpp"
#include "storage/shard_leases.hpp"
#include "storage/workflow_documents.hpp"
#include "tests/support/http_receiver.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/own_redis.hpp"
#include "tests/support/scratch_database.hpp"

namespace flowtrack::test {
namespace {

using namespace std::chrono_literals;

const std::string k_secret = "e2e-cluster-secret-0123456789";

struct member_row {
  std::string state;
  std::int64_t shards = 0;
};

class cluster_e2e : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(db.ok()); }

  /// Starts node `name`, joining through `join` (cluster ports of running nodes).
  node_process& start(const std::string& name, std::vector<int> join = {}) {
    int port = free_port();
    std::string joined;
    for (int p : join) {
      if (!joined.empty()) joined += ',';
      joined += "127.0.0.1:";
      joined += std::to_string(p);
    }
    cluster_ports[name] = port;
    nodes[name] = std::make_unique<node_process>(
        node_process::settings{{"FLOWTRACK_DATABASE_URL", db.url()},
                               {"FLOWTRACK_REDIS_URL", redis.url()},
                               {"FLOWTRACK_NODE_NAME", name},
                               {"FLOWTRACK_CLUSTER_LISTEN", "127.0.0.1:" + std::to_string(port)},
                               {"FLOWTRACK_CLUSTER_JOIN", joined},
                               {"FLOWTRACK_CLUSTER_SECRET", k_secret},
                               {"FLOWTRACK_WEBHOOK_ALLOW", "127.0.0.0/8"}});  // the test's HTTP sink
    return *nodes[name];
  }

  command_result cluster_cli(const std::string& args, const std::string& secret = k_secret) {
    return run_command("FLOWTRACK_CLUSTER_SECRET=" + shell_quote(secret) + " " + flowtrackd() + " cluster " + args +
                       " --log-level warn --database-url " + shell_quote(db.url()));
  }

  /// The members as the node `asked` sees them; empty when it did not answer.
  std::map<std::string, member_row> status(const std::string& asked) {
    auto r = cluster_cli("status --json --join 127.0.0.1:" + std::to_string(cluster_ports[asked]));
    std::map<std::string, member_row> out;
    if (r.exit_code != 0) return out;
    auto doc = boost::json::parse(r.out).as_object();
    EXPECT_EQ(doc.size(), 1u) << "exactly {\"members\":[...]}: " << r.out;
    for (const auto& m : doc.at("members").as_array()) {
      const auto& o = m.as_object();
      EXPECT_EQ(o.size(), 5u) << "name, address, state, shards, load: " << r.out;
      out[std::string(o.at("name").as_string())] = {std::string(o.at("state").as_string()), o.at("shards").as_int64()};
    }
    return out;
  }

  /// Polls `asked`'s status until `ok` holds for it, within `deadline`; the last status seen.
  std::map<std::string, member_row> await_status(const std::string& asked,
                                                 const std::function<bool(std::map<std::string, member_row>&)>& ok,
                                                 std::chrono::milliseconds deadline = 20s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    std::map<std::string, member_row> st;
    while (std::chrono::steady_clock::now() < until) {
      st = status(asked);
      if (ok(st)) return st;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "the status of " << asked << " never met the condition";
    return st;
  }

  /// True when `names` are up and their shards add up to 256, each holding some.
  static bool split_among(std::map<std::string, member_row>& st, std::vector<std::string> names) {
    std::int64_t sum = 0;
    for (const auto& n : names) {
      auto it = st.find(n);
      if (it == st.end() || it->second.state != "up" || it->second.shards == 0) return false;
      sum += it->second.shards;
    }
    return sum == 256;
  }

  std::vector<storage::shard_leases::lease> lease_rows() {
    auto c = pg::connection::open(pg::connect_options{db.url()});
    EXPECT_TRUE(c.ok());
    auto rows = storage::shard_leases::leases(**c);
    EXPECT_TRUE(rows.ok());
    return rows.ok() ? *rows : std::vector<storage::shard_leases::lease>{};
  }

  std::string ft(const std::string& args) { return db.cli(args); }

  /// A workspace with a webhook-triggered workflow that sends a webhook to `sink` (its step
  /// "hook") and then sets the lead's status.
  struct flow {
    std::string slug, workspace_id, workflow_id, token;
    int shard = 0;
  };
  flow make_flow(pg::connection& c, const std::string& sink) {
    flow f;
    f.slug = unique_slug("clf");
    auto made = boost::json::parse(ft("workspace create --name Failover --slug " + f.slug + " --owner-email o@" + f.slug +
                                      ".example.com --plan pro"));
    f.workspace_id = std::string(made.at("id").as_string());
    f.shard = domain::shard_of(f.workspace_id);
    auto ep = c.exec("INSERT INTO webhook_endpoints (workspace_id, url, subscribed_events, is_active, max_retries)"
                     " VALUES ($1::uuid, $2, '{workflow.action}', true, 5) RETURNING id::text",
                     pg::params{}.add(f.workspace_id).add(sink));
    EXPECT_TRUE(ep.ok()) << (ep.ok() ? "" : ep.err().message);
    std::string endpoint = ep.ok() ? std::string(ep->get(0, 0)) : "";
    auto node = [](const char* id, const char* type, boost::json::object data) {
      return boost::json::object{{"id", id}, {"type", type}, {"position", {{"x", 0}, {"y", 0}}}, {"data", std::move(data)}};
    };
    auto edge = [](const char* id, const char* from, const char* to) { return boost::json::object{{"id", id}, {"source", from}, {"target", to}}; };
    boost::json::object doc{{"name", "Failover"},
                            {"status", "active"},
                            {"nodes", boost::json::array{node("h", "TRIGGER_WEBHOOK", {}), node("hook", "ACTION_SEND_WEBHOOK", {{"endpointId", endpoint}}),
                                                         node("s", "ACTION_UPDATE_STATUS", {{"status", "CONTACTED"}}), node("e", "LOGIC_END", {})}},
                            {"edges", boost::json::array{edge("1", "h", "hook"), edge("2", "hook", "s"), edge("3", "s", "e")}}};
    std::string file = "/tmp/" + f.slug + ".json";
    std::ofstream(file) << boost::json::serialize(doc);
    f.workflow_id = ft("workflow import --workspace " + f.slug + " " + file);
    std::remove(file.c_str());
    f.token = ft("workflow token " + f.workflow_id);
    return f;
  }

  /// The node holding each shard's live lease, by shard.
  std::map<int, std::string> holders() {
    std::map<int, std::string> out;
    for (const auto& l : lease_rows())
      if (l.owner && !l.expired) out[l.shard] = l.owner->substr(0, l.owner->find('/'));
    return out;
  }

  /// Triggers to the nodes' HTTP ports in turn, for every flow in turn, until stopped; keeps
  /// the executions acknowledged (202). A port set to one nobody listens on takes no more.
  class trigger_load {
   public:
    trigger_load(const std::vector<flow>& flows, std::vector<int> ports) : flows_(flows), ports_(ports.size()) {
      for (std::size_t i = 0; i < ports.size(); ++i) ports_[i] = ports[i];
      thread_ = std::thread([this] { run(); });
    }
    ~trigger_load() { stop(); }
    void stop() {
      stop_ = true;
      if (thread_.joinable()) thread_.join();
    }
    void close_port(std::size_t i) { ports_[i] = free_port(); }
    int sent() const { return sent_; }
    std::vector<std::string> acknowledged() {
      std::lock_guard lock(mutex_);
      return acknowledged_;
    }
    /// Waits until `n` more were acknowledged than now (or `deadline` passed); whether they were.
    bool await_more(std::size_t n, std::chrono::milliseconds deadline = 60s) {
      auto want = acknowledged().size() + n;
      return eventually([&] { return acknowledged().size() >= want; }, deadline);
    }

   private:
    void run() {
      for (int i = 0; !stop_ && i < 5000; ++i) {
        const auto& f = flows_[static_cast<std::size_t>(i) % flows_.size()];
        int port = ports_[static_cast<std::size_t>(i / static_cast<int>(flows_.size())) % ports_.size()];
        auto r = http_request(port, "POST", "/hooks/" + f.workflow_id,
                              R"({"email":"lead-)" + std::to_string(i) + "@" + f.slug + R"(.example.com","name":"Lead"})",
                              {{"Content-Type", "application/json"}, {"X-FlowTrack-Token", f.token}, {"Idempotency-Key", "t-" + std::to_string(i)}},
                              5s);
        ++sent_;
        if (r.status != 202) continue;  // a killed node's, or one cut short: not acknowledged
        auto id = boost::json::parse(r.body).at("executionId");
        std::lock_guard lock(mutex_);
        acknowledged_.push_back(std::string(id.as_string()));
      }
    }
    std::vector<flow> flows_;
    std::vector<std::atomic<int>> ports_;
    std::mutex mutex_;
    std::vector<std::string> acknowledged_;
    std::atomic<bool> stop_{false};
    std::atomic<int> sent_{0};
    std::thread thread_;
  };

  /// Every execution (acknowledged or not: a killed node may have committed one it never
  /// answered) ends completed; every acknowledged one exists; each ran its webhook step to
  /// completion once and made one outbox message; every message was delivered, none under a
  /// webhook-id the outbox does not have. The number of messages the sink saw more than once
  /// (same webhook-id: at-least-once delivery of a message a killed node sent but never recorded).
  int expect_completed_once(pg::connection& c, const std::vector<std::string>& acknowledged, http_receiver& sink) {
    auto count = [&](const std::string& sql) {
      auto r = c.exec(sql);
      EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
      return r.ok() ? r->get_int(0, 0) : -1;
    };
    EXPECT_TRUE(eventually([&] { return count("SELECT count(*) FROM workflow_executions WHERE status <> 'completed'") == 0; }, 90s))
        << "executions left unfinished";
    pg::array_builder ids;
    for (const auto& id : acknowledged) ids.add(id);
    auto done = c.exec("SELECT count(*) FROM workflow_executions WHERE id = ANY($1::uuid[]) AND status = 'completed'",
                       pg::params{}.add(ids.finish()));
    EXPECT_TRUE(done.ok());
    if (done.ok()) {
      EXPECT_EQ(static_cast<std::size_t>(done->get_int(0, 0)), std::set<std::string>(acknowledged.begin(), acknowledged.end()).size())
          << "an acknowledged trigger's execution is missing";
    }
    EXPECT_EQ(count("SELECT count(*) FROM (SELECT s.execution_id FROM execution_steps s JOIN workflow_nodes n ON n.id = s.workflow_node_id"
                    " WHERE n.react_flow_node_id = 'hook' AND s.status = 'completed' GROUP BY s.execution_id HAVING count(*) <> 1) x"),
              0)
        << "executions whose webhook step completed more than once";
    auto executions = count("SELECT count(*) FROM workflow_executions");
    EXPECT_EQ(count("SELECT count(*) FROM webhook_deliveries"), executions) << "one outbox message per execution";
    EXPECT_EQ(count("SELECT count(DISTINCT idempotency_key) FROM webhook_deliveries"), executions);
    EXPECT_TRUE(eventually([&] { return count("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'") == 0; }, 60s))
        << "messages not delivered";
    auto delivered = c.exec("SELECT id::text FROM webhook_deliveries WHERE status = 'delivered'");
    EXPECT_TRUE(delivered.ok());
    if (!delivered.ok()) return -1;
    std::map<std::string, int> seen;
    for (const auto& req : sink.requests()) ++seen[req.headers.count("webhook-id") ? req.headers.at("webhook-id") : "(none)"];
    std::set<std::string> outbox;
    for (int i = 0; i < delivered->size(); ++i) {
      outbox.insert(std::string(delivered->get(i, 0)));
      EXPECT_GE(seen[std::string(delivered->get(i, 0))], 1) << delivered->get(i, 0) << " never reached the sink";
    }
    int repeated = 0;
    for (const auto& [id, n] : seen) {
      EXPECT_TRUE(outbox.count(id)) << "the sink received " << id << ", which is no message of the outbox";
      if (n > 1) ++repeated;
    }
    return repeated;
  }

  scratch_database db{"ft_cluster"};
  own_redis redis;
  std::map<std::string, int> cluster_ports;
  std::map<std::string, std::unique_ptr<node_process>> nodes;
};

TEST_F(cluster_e2e, three_nodes_join_split_the_shards_and_name_a_workspace_s_owner) {
  start("n1");
  start("n2", {cluster_ports["n1"]});
  start("n3", {cluster_ports["n1"]});
  for (const auto* asked : {"n1", "n2", "n3"})
    await_status(asked, [](auto& st) { return st.size() == 3 && split_among(st, {"n1", "n2", "n3"}); });

  std::string slug = unique_slug("cl");
  auto made = run_command(flowtrackd() + " workspace create --log-level warn --name Cl --slug " + slug +
                          " --owner-email o@" + slug + ".example.com --database-url " + shell_quote(db.url()));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto r = cluster_cli("owner --json --workspace " + slug + " --join 127.0.0.1:" + std::to_string(cluster_ports["n2"]));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = boost::json::parse(r.out).as_object();
  ASSERT_EQ(o.size(), 4u) << r.out;
  EXPECT_EQ(o.at("workspace").as_string(), slug);
  auto shard = o.at("shard").as_int64();
  std::string owner(o.at("owner").as_string());
  for (const auto& l : lease_rows())
    if (l.shard == shard) {
      ASSERT_TRUE(l.owner.has_value());
      EXPECT_EQ(l.owner->substr(0, l.owner->find('/')), owner) << "the owner named is the lease's holder";
      EXPECT_EQ(l.epoch, o.at("epoch").as_int64());
      EXPECT_FALSE(l.expired);
    }
  auto nope = cluster_cli("owner --json --workspace no-such-" + slug + " --join 127.0.0.1:" + std::to_string(cluster_ports["n1"]));
  EXPECT_NE(nope.exit_code, 0);
  EXPECT_NE(nope.err.find("no workspace"), std::string::npos) << nope.err;
}

TEST_F(cluster_e2e, a_killed_node_is_declared_down_and_the_others_take_its_shards_at_a_higher_epoch) {
  start("n1");
  start("n2", {cluster_ports["n1"]});
  start("n3", {cluster_ports["n1"]});
  await_status("n1", [](auto& st) { return st.size() == 3 && split_among(st, {"n1", "n2", "n3"}); });
  std::map<int, std::int64_t> n3_epochs;
  for (const auto& l : lease_rows())
    if (l.owner && l.owner->rfind("n3/", 0) == 0 && !l.expired) n3_epochs[l.shard] = l.epoch;
  ASSERT_FALSE(n3_epochs.empty());

  nodes["n3"]->process->signal(SIGKILL);
  nodes["n3"]->process->wait(10s);
  nodes["n3"]->process.reset();
  auto st = await_status("n1", [](auto& st) { return st["n3"].state == "down" && split_among(st, {"n1", "n2"}); });
  EXPECT_EQ(st["n3"].shards, 0);
  for (const auto& l : lease_rows()) {
    ASSERT_TRUE(l.owner.has_value()) << l.shard;
    EXPECT_NE(l.owner->rfind("n3/", 0), 0u) << "shard " << l.shard << " still n3's";
    if (n3_epochs.count(l.shard)) {
      EXPECT_GT(l.epoch, n3_epochs[l.shard]) << "shard " << l.shard;
    }
  }
}

TEST_F(cluster_e2e, a_paused_node_loses_its_shards_its_old_epoch_is_fenced_out_and_it_rejoins) {
  start("n1");
  start("n2", {cluster_ports["n1"]});
  start("n3", {cluster_ports["n1"]});
  await_status("n1", [](auto& st) { return st.size() == 3 && split_among(st, {"n1", "n2", "n3"}); });
  std::optional<storage::shard_leases::lease> before;
  for (const auto& l : lease_rows())
    if (l.owner && l.owner->rfind("n3/", 0) == 0 && !l.expired) before = l;
  ASSERT_TRUE(before.has_value());

  nodes["n3"]->process->signal(SIGSTOP);
  await_status("n1", [](auto& st) { return st["n3"].state == "down" && split_among(st, {"n1", "n2"}); });
  {
    // What n3 would write now with what it believes: refused by the epoch.
    auto c = pg::connection::open(pg::connect_options{db.url()});
    ASSERT_TRUE(c.ok());
    auto fenced = storage::shard_leases::fence(**c, *before->owner, before->shard, before->epoch);
    ASSERT_FALSE(fenced.ok()) << "a paused node's old epoch still passed the fence";
    EXPECT_TRUE(storage::shard_leases::fenced_out(fenced.err())) << fenced.err().message;
  }
  nodes["n3"]->process->signal(SIGCONT);
  await_status("n1", [](auto& st) { return split_among(st, {"n1", "n2", "n3"}); }, 30s);
  for (const auto& l : lease_rows())
    if (l.shard == before->shard) {
      EXPECT_GT(l.epoch, before->epoch);
    }
}

TEST_F(cluster_e2e, a_joining_node_takes_its_share_and_a_drained_one_hands_everything_away) {
  start("n1");
  start("n2", {cluster_ports["n1"]});
  await_status("n1", [](auto& st) { return st.size() == 2 && split_among(st, {"n1", "n2"}); });
  start("n4", {cluster_ports["n2"]});
  await_status("n1", [](auto& st) { return split_among(st, {"n1", "n2", "n4"}); });

  auto r = cluster_cli("drain n4 --join 127.0.0.1:" + std::to_string(cluster_ports["n1"]));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto st = await_status("n1", [](auto& st) { return st["n4"].state == "leaving" && st["n4"].shards == 0 && split_among(st, {"n1", "n2"}); });
  for (const auto& l : lease_rows())
    EXPECT_FALSE(l.owner && l.owner->rfind("n4/", 0) == 0 && !l.expired) << "shard " << l.shard << " still n4's";
  EXPECT_EQ(cluster_cli("drain n9 --join 127.0.0.1:" + std::to_string(cluster_ports["n1"])).exit_code, 1) << "an unknown node";
}

TEST_F(cluster_e2e, a_node_with_the_wrong_secret_is_refused_on_both_sides_and_exits_before_any_lease) {
  auto& n1 = start("n1");
  await_status("n1", [](auto& st) { return st["n1"].shards == 256; });
  child_process bad({flowtrackd(), "serve"},
                    {{"FLOWTRACK_DATABASE_URL", db.url()},
                     {"FLOWTRACK_REDIS_URL", redis.url()},
                     {"FLOWTRACK_HTTP_LISTEN", "127.0.0.1:" + std::to_string(free_port())},
                     {"FLOWTRACK_ADMIN_LISTEN", "127.0.0.1:" + std::to_string(free_port())},
                     {"FLOWTRACK_SMTP_LISTEN", "127.0.0.1:" + std::to_string(free_port())},
                     {"FLOWTRACK_NODE_NAME", "bad"},
                     {"FLOWTRACK_CLUSTER_LISTEN", "127.0.0.1:" + std::to_string(free_port())},
                     {"FLOWTRACK_CLUSTER_JOIN", "127.0.0.1:" + std::to_string(cluster_ports["n1"])},
                     {"FLOWTRACK_CLUSTER_SECRET", "not-the-cluster-secret"}});
  auto code = bad.wait(30s);
  ASSERT_TRUE(code.has_value()) << bad.log();
  EXPECT_EQ(*code, 77) << bad.log();
  EXPECT_NE(bad.log().find("refused this node"), std::string::npos) << bad.log();
  EXPECT_NE(n1.process->log().find("wrong cluster secret?"), std::string::npos) << "logged on the member's side too";
  for (const auto& l : lease_rows()) EXPECT_FALSE(l.owner && l.owner->rfind("bad/", 0) == 0) << "shard " << l.shard;
  auto cli = cluster_cli("status --json --join 127.0.0.1:" + std::to_string(cluster_ports["n1"]), "not-the-cluster-secret");
  EXPECT_EQ(cli.exit_code, 77) << "the CLI is refused too: " << cli.err;
  EXPECT_EQ(status("n1").size(), 1u) << "no member was added";
}

TEST_F(cluster_e2e, a_run_write_under_a_stale_epoch_is_refused_and_not_applied_and_the_others_in_its_batch_are_written) {
  auto c = pg::connection::open(pg::connect_options{db.url()});
  ASSERT_TRUE(c.ok());
  // Two workspaces of different shards, each with a queued execution (no node runs them).
  std::vector<flow> flows;
  while (flows.size() < 2) {
    auto f = make_flow(**c, "http://127.0.0.1:9/nowhere");
    if (flows.empty() || flows[0].shard != f.shard) flows.push_back(std::move(f));
  }
  std::vector<std::string> executions;
  for (const auto& f : flows) {
    auto run = storage::start_manual_run(**c, f.workflow_id, boost::json::object{{"email", "fence@" + f.slug + ".example.com"}}, std::nullopt);
    ASSERT_TRUE(run.ok() && run->execution_id) << (run.ok() ? "no execution" : run.err().message);
    executions.push_back(*run->execution_id);
  }
  namespace leases = storage::shard_leases;
  // n-old held shard 0's lease, released it; n-new took it at a higher epoch. n-new holds shard 1.
  auto old_lease = leases::acquire(**c, {flows[0].shard}, "n-old/1", 60s);
  ASSERT_TRUE(old_lease.ok() && old_lease->at(0).held);
  ASSERT_TRUE(*leases::release(**c, "n-old/1", flows[0].shard, old_lease->at(0).epoch));
  auto new_leases = leases::acquire(**c, {flows[0].shard, flows[1].shard}, "n-new/1", 60s);
  ASSERT_TRUE(new_leases.ok());
  std::map<int, std::int64_t> epoch;
  for (const auto& a : *new_leases) {
    ASSERT_TRUE(a.held) << a.shard;
    epoch[a.shard] = a.epoch;
  }
  ASSERT_GT(epoch[flows[0].shard], old_lease->at(0).epoch);

  auto record = [&](std::size_t i) {
    domain::run_record r;
    r.execution_id = executions[i];
    r.workspace_id = flows[i].workspace_id;
    r.workflow_id = flows[i].workflow_id;
    r.lock_token = 1;
    r.seq = 1;
    r.status = domain::execution_status::running;
    r.checkpoint = "{}";
    return r;
  };
  auto state = [&](std::size_t i) {
    auto r = (*c)->exec("SELECT status, COALESCE(lock_token, 0) FROM workflow_executions WHERE id = $1::uuid", pg::params{}.add(executions[i]));
    EXPECT_TRUE(r.ok() && r->size() == 1);
    return r.ok() && r->size() == 1 ? std::string(r->get(0, 0)) + "/" + std::to_string(r->get_int(0, 1)) : std::string("?");
  };

  // The old holder, with what it believed: refused, nothing written.
  storage::run_fences stale{"n-old/1", {{flows[0].shard, old_lease->at(0).epoch}}};
  auto refused = storage::write_runs(**c, {record(0)}, stale);
  ASSERT_EQ(refused.size(), 1u);
  ASSERT_TRUE(refused[0].ok()) << refused[0].err().message;
  EXPECT_FALSE(*refused[0]) << "a write under a stale epoch was applied";
  EXPECT_EQ(state(0), "queued/0");

  // The same node name at the current epoch, with another shard's record in the batch written
  // by the old holder's stale fence: the stale record is refused, the good one written.
  storage::run_fences mixed{"n-new/1", {{flows[0].shard, old_lease->at(0).epoch}, {flows[1].shard, epoch[flows[1].shard]}}};
  auto partly = storage::write_runs(**c, {record(0), record(1)}, mixed);
  ASSERT_EQ(partly.size(), 2u);
  ASSERT_TRUE(partly[0].ok() && partly[1].ok());
  EXPECT_FALSE(*partly[0]) << "the stale epoch's record was applied";
  EXPECT_TRUE(*partly[1]) << "the held shard's record was not written";
  EXPECT_EQ(state(0), "queued/0");
  EXPECT_EQ(state(1), "running/1");

  // The holder at its epoch: written.
  storage::run_fences current{"n-new/1", {{flows[0].shard, epoch[flows[0].shard]}}};
  auto applied = storage::write_runs(**c, {record(0)}, current);
  ASSERT_TRUE(applied.at(0).ok());
  EXPECT_TRUE(*applied[0]);
  EXPECT_EQ(state(0), "running/1");
}

TEST_F(cluster_e2e, a_killed_owner_s_runs_are_resumed_by_a_survivor_and_every_acknowledged_trigger_completes_once) {
  http_receiver sink;
  start("n1");
  start("n2", {cluster_ports["n1"]});
  start("n3", {cluster_ports["n1"]});
  for (const auto* asked : {"n1", "n2", "n3"})
    await_status(asked, [](auto& st) { return st.size() == 3 && split_among(st, {"n1", "n2", "n3"}); });
  auto c = pg::connection::open(pg::connect_options{db.url()});
  ASSERT_TRUE(c.ok());
  std::vector<flow> flows;
  for (int i = 0; i < 8; ++i) flows.push_back(make_flow(**c, sink.url()));

  // The victim: the node owning the most of these workspaces.
  auto owner_of = holders();
  std::map<std::string, int> owned;
  for (const auto& f : flows) ++owned[owner_of[f.shard]];
  std::string victim = "n1";
  for (const auto& [name, n] : owned)
    if (n > owned[victim]) victim = name;
  ASSERT_GT(owned[victim], 0);
  std::set<std::string> victim_workspaces;
  for (const auto& f : flows)
    if (owner_of[f.shard] == victim) victim_workspaces.insert(f.workspace_id);
  std::vector<std::string> names{"n1", "n2", "n3"};
  trigger_load load(flows, {nodes["n1"]->port, nodes["n2"]->port, nodes["n3"]->port});
  ASSERT_TRUE(load.await_more(90)) << "the cluster did not take triggers";

  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  const auto killed_at = now_ms();
  nodes[victim]->process->signal(SIGKILL);
  nodes[victim]->process->wait(10s);
  nodes[victim]->process.reset();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == victim) load.close_port(i);  // nobody listens: those triggers are not acknowledged

  // The first step a survivor starts for the victim's workspaces after the kill.
  pg::array_builder ws;
  for (const auto& w : victim_workspaces) ws.add(w);
  const std::string victim_ws = ws.finish();
  std::optional<std::int64_t> failover_ms;
  eventually(
      [&] {
        auto r = (*c)->exec(
            "SELECT (extract(epoch FROM min(s.started_at) - (to_timestamp($2::double precision / 1000) AT TIME ZONE 'UTC')) * 1000)::bigint"
            " FROM execution_steps s JOIN workflow_executions e ON e.id = s.execution_id JOIN workflow_nodes n ON n.id = s.workflow_node_id"
            " WHERE e.workspace_id = ANY($1::uuid[]) AND n.react_flow_node_id = 'hook'"
            "   AND s.started_at > to_timestamp($2::double precision / 1000) AT TIME ZONE 'UTC'",
            pg::params{}.add(victim_ws).add(killed_at));
        EXPECT_TRUE(r.ok()) << r.err().message;
        if (r.ok() && !r->is_null(0, 0)) failover_ms = r->get_int(0, 0);
        return failover_ms.has_value();
      },
      60s);
  // A little more load after the failover, then stop.
  load.await_more(16, 20s);
  load.stop();
  ASSERT_TRUE(failover_ms.has_value()) << "no survivor resumed a run of " << victim << "'s workspaces\n"
                                       << nodes[names[0] == victim ? "n2" : "n1"]->process->log();
  auto acknowledged = load.acknowledged();
  std::printf("[ failover ] SIGKILL of %s (%zu of 8 workspaces) -> first resumed step on a survivor: %lld ms (%zu triggers acknowledged)\n",
              victim.c_str(), victim_workspaces.size(), static_cast<long long>(*failover_ms), acknowledged.size());
  RecordProperty("failover_ms", std::to_string(*failover_ms));

  // Every message delivered, those the victim had claimed too: the survivors freed its claims when
  // they took its shards, rather than waiting out the claim's lease (minutes).
  int repeated = expect_completed_once(**c, acknowledged, sink);
  std::printf("[ failover ] webhook messages the sink saw twice (sent by the victim, never recorded): %d\n", repeated);
}

TEST_F(cluster_e2e, a_joining_node_takes_its_shards_by_hand_off_under_load_and_nothing_runs_or_is_sent_twice) {
  http_receiver sink;
  start("n1");
  start("n2", {cluster_ports["n1"]});
  await_status("n1", [](auto& st) { return st.size() == 2 && split_among(st, {"n1", "n2"}); });
  auto c = pg::connection::open(pg::connect_options{db.url()});
  ASSERT_TRUE(c.ok());
  // Workspaces of both kinds: some the ring moves to n3 when it joins, some it leaves.
  domain::ring after({"n1", "n2", "n3"});
  std::vector<flow> flows;
  int moving = 0;
  while (flows.size() < 8 || moving < 3 || moving == static_cast<int>(flows.size())) {
    flows.push_back(make_flow(**c, sink.url()));
    if (after.owner(flows.back().shard) == "n3") ++moving;
  }
  std::map<int, std::int64_t> epoch_before;
  for (const auto& l : lease_rows()) epoch_before[l.shard] = l.epoch;

  trigger_load load(flows, {nodes["n1"]->port, nodes["n2"]->port});
  ASSERT_TRUE(load.await_more(60)) << "the cluster did not take triggers";
  start("n3", {cluster_ports["n1"]});
  await_status("n1", [](auto& st) { return split_among(st, {"n1", "n2", "n3"}); }, 30s);
  ASSERT_TRUE(load.await_more(60)) << "the cluster stopped taking triggers after the join";
  load.stop();

  // The moved shards are n3's, each at a higher epoch than before.
  auto now_held = holders();
  for (const auto& l : lease_rows())
    if (after.owner(l.shard) == "n3") {
      EXPECT_EQ(now_held[l.shard], "n3") << "shard " << l.shard;
      EXPECT_GT(l.epoch, epoch_before[l.shard]) << "shard " << l.shard;
    }
  EXPECT_EQ(expect_completed_once(**c, load.acknowledged(), sink), 0) << "a webhook message reached the sink twice";
  // Triggers of the other node's workspaces went to it, committed there (owner-side group commit).
  double forwarded = 0;
  for (const auto* name : {"n1", "n2"})
    forwarded += std::max(0.0, nodes[name]->metric("flowtrack_cluster_triggers_forwarded_total{outcome=\"owner\"}"));
  EXPECT_GT(forwarded, 0) << "no trigger was committed by its shard's owner";
  // Handed off, not taken away: no run of n1 or n2 had a step refused for a shard it lost.
  for (const auto* name : {"n1", "n2"}) {
    auto log = nodes[name]->process->log();
    std::string refused;
    for (std::size_t at = log.find("refused:"); at != std::string::npos; at = log.find("refused:", at + 1))
      refused += log.substr(log.rfind('\n', at) + 1, log.find('\n', at) - log.rfind('\n', at)) ;
    EXPECT_LE(nodes[name]->metric("flowtrack_cluster_records_refused_total"), 0) << name << ":\n" << refused;
    EXPECT_NE(nodes[name]->process->log().find("handing"), std::string::npos) << name << " handed no shard off";
  }
}

}  // namespace
}  // namespace flowtrack::test
