// Nodes of one cluster on loopback, sharing a database and a Redis of the test's own: they join
// through the PSK tunnel, split the 256 shards, answer `flowtrackd cluster status|owner|drain`,
// take a killed or paused node's shards once it is declared down (a higher epoch, so its stale
// writes are refused), share with a node that joins, and refuse a node with the wrong secret
// before it touches a lease.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "storage/shard_leases.hpp"
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
                               {"FLOWTRACK_CLUSTER_SECRET", k_secret}});
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

}  // namespace
}  // namespace flowtrack::test
