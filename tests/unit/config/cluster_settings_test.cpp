// The cluster's settings: a single node by default; `serve --node-name N --cluster-listen H:P
// --join H:P --join H:P` as flags; the secret from FLOWTRACK_CLUSTER_SECRET, refused when short
// and never echoed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/settings.hpp"

namespace flowtrack::config {
namespace {

TEST(cluster_settings, default_to_a_single_node) {
  settings s;
  EXPECT_FALSE(s.cluster_listen.has_value());
  EXPECT_TRUE(s.cluster_join.empty());
  EXPECT_TRUE(s.cluster_secret.empty());
  EXPECT_LE(s.cluster_down_after_ms, 5000) << "a hung node is declared down within 5 s by default";
}

TEST(cluster_settings, the_serve_flags_name_the_node_its_listener_and_every_member_to_join) {
  std::vector<std::string> args{"serve", "--node-name", "n2", "--cluster-listen", "127.0.0.1:7402",
                                "--join", "127.0.0.1:7401", "--join=[::1]:7403", "--other"};
  char* env[] = {nullptr};
  auto s = load(args, env);
  EXPECT_EQ(s.node_name, "n2");
  ASSERT_TRUE(s.cluster_listen.has_value());
  EXPECT_EQ(s.cluster_listen->port, 7402);
  ASSERT_EQ(s.cluster_join.size(), 2u) << "--join repeats";
  EXPECT_EQ(s.cluster_join[0].host, "127.0.0.1");
  EXPECT_EQ(s.cluster_join[0].port, 7401);
  EXPECT_EQ(s.cluster_join[1].port, 7403);
  EXPECT_EQ(args, (std::vector<std::string>{"serve", "--other"})) << "the cluster flags are consumed";
}

TEST(cluster_settings, a_file_lists_members_comma_separated) {
  settings s;
  apply_values(s, {{"cluster_join", "a.example:7401, b.example:7401"}});
  ASSERT_EQ(s.cluster_join.size(), 2u);
  EXPECT_EQ(s.cluster_join[1].host, "b.example");
  EXPECT_THROW(apply_values(s, {{"cluster_join", "no-port"}}), config_error);
  EXPECT_THROW(apply_values(s, {{"node_name", "bad name"}}), config_error);
}

TEST(cluster_settings, the_secret_comes_from_the_environment_and_a_short_one_is_refused_unechoed) {
  std::vector<std::string> args;
  std::string var = "FLOWTRACK_CLUSTER_SECRET=sixteen-chars-ok!";
  char* env[] = {var.data(), nullptr};
  EXPECT_EQ(load(args, env).cluster_secret, "sixteen-chars-ok!");
  settings s;
  try {
    apply_values(s, {{"cluster_secret", "TOPSECRET"}});
    ADD_FAILURE() << "a 9-character secret was taken";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), "cluster_secret");
    EXPECT_EQ(std::string(e.what()).find("TOPSECRET"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flowtrack::config
