// A real network partition: three nodes, each in a network namespace of its own on one bridge
// (`ip netns`, veth pairs), sharing the test's PostgreSQL (through its Unix socket, which no
// namespace cuts) and a Redis of the test's own (on the bridge). The test cuts one node off from
// the other two with blackhole routes on both sides, while every node still reaches the
// database: the classic split brain. Each side believes the other down and its ring wants the
// other's shards, but the leases in PostgreSQL keep every shard with one holder, so no shard is
// believed held by two nodes at any moment; ingress on both sides is acknowledged; after the
// heal the members see each other up again and every execution completes exactly once.
// Needs root and iproute2 (CI runs as root, like the development machines); skipped otherwise.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/own_redis.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::test {
namespace {

using namespace std::chrono_literals;

const std::string k_secret = "partition-cluster-secret-0123456789";
constexpr int k_cluster_port = 7400, k_http_port = 8080, k_admin_port = 9090, k_smtp_port = 2525;

// "n<i>" (appended, not `"n" + ...`: GCC 12 warns -Wrestrict falsely on that inlined).
std::string node_name(int i) {
  std::string out = "n";
  out += std::to_string(i);
  return out;
}

bool sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

class partition_e2e : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(db.ok());
    // Names of at most 15 characters (interfaces), unique to this process.
    tag = "ftp" + std::to_string(::getpid() % 100000);
    subnet = "10.213." + std::to_string(::getpid() % 250) + ".";
    if (!sh("ip link add " + tag + "b type bridge")) GTEST_SKIP() << "no network namespaces here (needs root and iproute2)";
    made_bridge = true;
    ASSERT_TRUE(sh("ip addr add " + subnet + "254/24 dev " + tag + "b") && sh("ip link set " + tag + "b up"));
    for (int i = 1; i <= 3; ++i) {
      auto ns = tag + "n" + std::to_string(i), host = tag + "h" + std::to_string(i), peer = tag + "p" + std::to_string(i);
      ASSERT_TRUE(sh("ip netns add " + ns));
      namespaces.push_back(ns);
      ASSERT_TRUE(sh("ip link add " + host + " type veth peer name " + peer) && sh("ip link set " + peer + " netns " + ns) &&
                  sh("ip link set " + host + " master " + tag + "b up") &&
                  sh("ip -n " + ns + " addr add " + address(i) + "/24 dev " + peer) && sh("ip -n " + ns + " link set " + peer + " up") &&
                  sh("ip -n " + ns + " link set lo up"));
    }
    redis = std::make_unique<own_redis>(std::vector<std::string>{subnet + "254"});
    // The database through its Unix socket (the suite's server listens on 127.0.0.1 only).
    node_db_url = "postgresql://postgres@/" + db.name() + "?host=" + require_env("FLOWTRACK_TEST_WORK") + "/pg&port=" +
                  require_env("FLOWTRACK_TEST_PG_PORT");
  }

  void TearDown() override {
    for (auto& [name, p] : nodes) {
      p->signal(SIGKILL);
      p->wait(10s);
    }
    nodes.clear();
    for (const auto& ns : namespaces) sh("ip netns del " + ns);
    if (made_bridge) sh("ip link del " + tag + "b");
  }

  std::string address(int i) const { return subnet + std::to_string(i); }

  /// Starts node n<i> in its namespace; n2 and n3 join through n1.
  void start(int i) {
    auto name = node_name(i);
    std::map<std::string, std::string> env{
        {"FLOWTRACK_DATABASE_URL", node_db_url},
        {"FLOWTRACK_REDIS_URL", "redis://" + subnet + "254:" + std::to_string(redis->port()) + "/0"},
        {"FLOWTRACK_HTTP_LISTEN", address(i) + ":" + std::to_string(k_http_port)},
        {"FLOWTRACK_ADMIN_LISTEN", address(i) + ":" + std::to_string(k_admin_port)},
        {"FLOWTRACK_SMTP_LISTEN", address(i) + ":" + std::to_string(k_smtp_port)},
        {"FLOWTRACK_NODE_NAME", name},
        {"FLOWTRACK_CLUSTER_LISTEN", address(i) + ":" + std::to_string(k_cluster_port)},
        {"FLOWTRACK_CLUSTER_JOIN", i == 1 ? "" : address(1) + ":" + std::to_string(k_cluster_port)},
        {"FLOWTRACK_CLUSTER_SECRET", k_secret},
        // Executions committed on a node cut off from their shard's owner are the owner's to
        // find: a recovery scan every 2 s instead of 15.
        {"FLOWTRACK_RECOVERY_INTERVAL_MS", "2000"}};
    nodes[name] = std::make_unique<child_process>(std::vector<std::string>{"/usr/sbin/ip", "netns", "exec", namespaces[static_cast<std::size_t>(i - 1)],
                                                                            flowtrackd(), "serve"},
                                                  env);
    ASSERT_TRUE(await_http_status(address(i), k_http_port, "/healthz", 200, 20s)) << nodes[name]->log();
  }

  /// Cuts n<i> off from the other nodes (both directions), or heals the cut.
  void cut(int i, bool on) {
    auto verb = on ? " route add blackhole " : " route del blackhole ";
    for (int j = 1; j <= 3; ++j)
      if (j != i) {
        ASSERT_TRUE(sh("ip -n " + namespaces[static_cast<std::size_t>(i - 1)] + verb + address(j) + "/32"));
        ASSERT_TRUE(sh("ip -n " + namespaces[static_cast<std::size_t>(j - 1)] + verb + address(i) + "/32"));
      }
  }

  /// The members as node n<i> sees them: name -> (state, shards); empty when it did not answer.
  std::map<std::string, std::pair<std::string, std::int64_t>> status(int i) {
    auto r = run_command("FLOWTRACK_CLUSTER_SECRET=" + shell_quote(k_secret) + " " + flowtrackd() +
                         " cluster status --json --log-level warn --join " + address(i) + ":" + std::to_string(k_cluster_port));
    std::map<std::string, std::pair<std::string, std::int64_t>> out;
    if (r.exit_code != 0) return out;
    auto doc = boost::json::parse(r.out);  // kept: the loop reads into it
    for (const auto& m : doc.at("members").as_array()) {
      const auto& o = m.as_object();
      out[std::string(o.at("name").as_string())] = {std::string(o.at("state").as_string()), o.at("shards").as_int64()};
    }
    return out;
  }

  /// The shards n<i> believes it holds (its own row of its status); -1 when it did not answer.
  std::int64_t believed(int i) {
    auto st = status(i);
    auto it = st.find(node_name(i));
    return it == st.end() ? -1 : it->second.second;
  }

  bool all_up_and_split(int asked) {
    auto st = status(asked);
    std::int64_t sum = 0;
    for (const auto* n : {"n1", "n2", "n3"}) {
      auto it = st.find(n);
      if (it == st.end() || it->second.first != "up" || it->second.second == 0) return false;
      sum += it->second.second;
    }
    return sum == 256;
  }

  std::string ft(const std::string& args) { return db.cli(args); }

  scratch_database db{"ft_partition"};
  std::string tag, subnet, node_db_url;
  bool made_bridge = false;
  std::vector<std::string> namespaces;
  std::unique_ptr<own_redis> redis;
  std::map<std::string, std::unique_ptr<child_process>> nodes;
};

TEST_F(partition_e2e, a_node_cut_off_from_the_others_keeps_its_shards_no_shard_has_two_holders_and_nothing_runs_twice) {
  start(1);
  start(2);
  start(3);
  ASSERT_TRUE(eventually([&] { return all_up_and_split(1) && all_up_and_split(3); }, 30s)) << "the cluster did not form";

  // Workspaces with a webhook-triggered workflow of local steps (tag, then status).
  struct flow {
    std::string workflow_id, token, slug;
  };
  std::vector<flow> flows;
  for (int i = 0; i < 6; ++i) {
    flow f;
    f.slug = unique_slug("part");
    ft("workspace create --name Partition --slug " + f.slug + " --owner-email o@" + f.slug + ".example.com --plan pro");
    std::string file = "/tmp/" + f.slug + ".json";
    std::ofstream(file) << R"({"name":"Partition","status":"active","nodes":[
      {"id":"h","type":"TRIGGER_WEBHOOK","position":{"x":0,"y":0},"data":{}},
      {"id":"t","type":"ACTION_ADD_TAG","position":{"x":0,"y":100},"data":{"tag":"seen"}},
      {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":200},"data":{"status":"CONTACTED"}}],
      "edges":[{"id":"1","source":"h","target":"t"},{"id":"2","source":"t","target":"s"}]})";
    f.workflow_id = ft("workflow import --workspace " + f.slug + " " + file);
    std::remove(file.c_str());
    f.token = ft("workflow token " + f.workflow_id);
    flows.push_back(std::move(f));
  }
  int sent = 0;
  std::vector<std::string> acknowledged;
  auto trigger_every_node = [&] {
    for (int node = 1; node <= 3; ++node)
      for (const auto& f : flows) {
        auto r = http_request(address(node), k_http_port, "POST", "/hooks/" + f.workflow_id,
                              R"({"email":"lead-)" + std::to_string(sent++) + "@" + f.slug + R"(.example.com"})",
                              {{"Content-Type", "application/json"}, {"X-FlowTrack-Token", f.token}}, 10s);
        EXPECT_EQ(r.status, 202) << "node n" << node << ": " << r.body;
        if (r.status == 202) acknowledged.push_back(std::string(boost::json::parse(r.body).at("executionId").as_string()));
      }
  };
  trigger_every_node();
  const auto n3_before = believed(3);
  ASSERT_GT(n3_before, 0);

  cut(3, true);
  // Both sides notice (down after 5 s); meanwhile and after, the shards each node believes it
  // holds never add up to more than 256: each side's ring wants the other's shards, but their
  // leases are renewed by their holders, which still reach the database.
  bool n1_sees_n3_down = false, n3_sees_others_down = false;
  auto until = std::chrono::steady_clock::now() + 20s;
  int samples = 0;
  while (std::chrono::steady_clock::now() < until && !(n1_sees_n3_down && n3_sees_others_down && samples >= 20)) {
    auto s1 = status(1), s3 = status(3);
    auto b1 = s1.count("n1") ? s1["n1"].second : -1, b3 = s3.count("n3") ? s3["n3"].second : -1;
    auto b2 = believed(2);
    ASSERT_TRUE(b1 >= 0 && b2 >= 0 && b3 >= 0) << "a node did not answer its status";
    EXPECT_LE(b1 + b2 + b3, 256) << "a shard believed held twice: n1 " << b1 << ", n2 " << b2 << ", n3 " << b3;
    n1_sees_n3_down = s1.count("n3") && s1["n3"].first == "down";
    n3_sees_others_down = s3.count("n1") && s3["n1"].first == "down" && s3.count("n2") && s3["n2"].first == "down";
    ++samples;
  }
  EXPECT_TRUE(n1_sees_n3_down) << "n1 never saw n3 down";
  EXPECT_TRUE(n3_sees_others_down) << "n3 never saw n1 and n2 down";
  EXPECT_EQ(believed(3), n3_before) << "n3 reaches the database: it keeps its shards, and takes none of the others'";
  // Ingress works on both sides of the cut.
  trigger_every_node();

  cut(3, false);
  EXPECT_TRUE(eventually([&] { return all_up_and_split(1) && all_up_and_split(2) && all_up_and_split(3); }, 30s))
      << "the members did not see each other up again";
  trigger_every_node();

  // Every execution completes, each once.
  auto c = pg::connection::open(pg::connect_options{db.url()});
  ASSERT_TRUE(c.ok());
  auto count = [&](const std::string& sql) {
    auto r = (*c)->exec(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    return r.ok() ? r->get_int(0, 0) : -1;
  };
  EXPECT_TRUE(eventually([&] { return count("SELECT count(*) FROM workflow_executions WHERE status <> 'completed'") == 0; }, 60s))
      << "executions left unfinished";
  EXPECT_EQ(count("SELECT count(*) FROM workflow_executions"), static_cast<std::int64_t>(acknowledged.size()));
  EXPECT_EQ(count("SELECT count(*) FROM (SELECT s.execution_id FROM execution_steps s JOIN workflow_nodes n ON n.id = s.workflow_node_id"
                  " WHERE n.react_flow_node_id = 's' AND s.status = 'completed' GROUP BY s.execution_id HAVING count(*) <> 1) x"),
            0)
      << "executions whose last step completed more than once";
  EXPECT_EQ(count("SELECT count(*) FROM workflow_executions e WHERE NOT EXISTS (SELECT 1 FROM execution_steps s JOIN workflow_nodes n"
                  " ON n.id = s.workflow_node_id WHERE s.execution_id = e.id AND n.react_flow_node_id = 's' AND s.status = 'completed')"),
            0);
}

}  // namespace
}  // namespace flowtrack::test
