// The failure detector and member table: silence makes a member suspect, then down; a restart
// (new incarnation) is a new member and a late heartbeat of the old one changes nothing; only
// up and suspect members that are not leaving own shards.
#include <gtest/gtest.h>

#include "domain/membership.hpp"

namespace flowtrack::domain {
namespace {

member_info node(std::string name, std::uint64_t incarnation = 1) {
  member_info m;
  m.name = std::move(name);
  m.address = "127.0.0.1:7400";
  m.incarnation = incarnation;
  return m;
}

membership three_nodes() {
  membership ms(node("n1"), {2000, 5000});
  EXPECT_TRUE(ms.heard(node("n2"), 0));
  EXPECT_TRUE(ms.heard(node("n3"), 0));
  return ms;
}

TEST(membership, silence_makes_a_member_suspect_then_down_and_a_heartbeat_brings_it_back) {
  auto ms = three_nodes();
  EXPECT_TRUE(ms.judge(1999).empty());
  ms.heard(node("n3"), 1500);
  EXPECT_EQ(ms.judge(2000), std::vector<std::string>{"n2"});
  EXPECT_EQ(ms.find("n2")->state, member_state::suspect);
  EXPECT_EQ(ms.owners(), (std::vector<std::string>{"n1", "n2", "n3"})) << "a suspect keeps its shards";
  EXPECT_EQ(ms.judge(5000), (std::vector<std::string>{"n2", "n3"}));
  EXPECT_EQ(ms.find("n2")->state, member_state::down);
  EXPECT_EQ(ms.find("n3")->state, member_state::suspect) << "n3 was heard at 1500: 3.5 s of silence";
  EXPECT_EQ(ms.owners(), (std::vector<std::string>{"n1", "n3"}));
  EXPECT_TRUE(ms.heard(node("n2"), 5100)) << "back from down is news";
  EXPECT_EQ(ms.find("n2")->state, member_state::up);
  EXPECT_FALSE(ms.heard(node("n2"), 5200)) << "an ordinary heartbeat is not";
}

TEST(membership, a_restarted_node_replaces_its_old_self_and_late_words_of_the_old_one_are_ignored) {
  auto ms = three_nodes();
  EXPECT_TRUE(ms.heard(node("n2", 2), 100)) << "a new incarnation is a new member";
  EXPECT_FALSE(ms.heard(node("n2", 1), 6000)) << "the old incarnation's heartbeat";
  EXPECT_EQ(ms.find("n2")->info.incarnation, 2u);
  EXPECT_EQ(ms.find("n2")->last_heard_ms, 100) << "it did not refresh the new one";
  EXPECT_EQ(ms.members().size(), 3u);
}

TEST(membership, passed_on_members_are_added_but_never_kept_alive_by_gossip) {
  membership ms(node("n1"), {2000, 5000});
  EXPECT_TRUE(ms.learned(node("n4"), 0));
  EXPECT_FALSE(ms.learned(node("n4"), 4000)) << "a known member is not refreshed by others' word";
  EXPECT_EQ(ms.judge(5000), std::vector<std::string>{"n4"});
  EXPECT_EQ(ms.find("n4")->state, member_state::down);
  EXPECT_FALSE(ms.learned(node("n1"), 0)) << "never itself";
}

TEST(membership, a_leaving_member_owns_nothing_and_says_so) {
  auto ms = three_nodes();
  EXPECT_TRUE(ms.set_leaving("n3"));
  EXPECT_EQ(ms.find("n3")->state, member_state::leaving);
  EXPECT_EQ(to_string(ms.find("n3")->state), "leaving");
  EXPECT_EQ(ms.owners(), (std::vector<std::string>{"n1", "n2"}));
  EXPECT_TRUE(ms.set_leaving("n1"));
  EXPECT_EQ(ms.owners(), std::vector<std::string>{"n2"}) << "this node too";
  EXPECT_FALSE(ms.set_leaving("n9"));
  auto leaving = node("n5");
  leaving.leaving = true;
  ms.heard(leaving, 0);
  EXPECT_EQ(ms.find("n5")->state, member_state::leaving);
}

TEST(membership, nodes_talk_when_their_wire_versions_overlap_and_others_are_never_added) {
  auto self = node("n1");
  self.wire_min = 2;
  self.wire_max = 3;
  membership ms(self, {2000, 5000});
  auto older = node("n2");
  older.wire_min = 1;
  older.wire_max = 2;  // the previous release: reads 1 and 2
  EXPECT_TRUE(speaks_with(self, older));
  EXPECT_TRUE(ms.heard(older, 0));
  auto ancient = node("n3");
  ancient.wire_min = ancient.wire_max = 1;
  EXPECT_FALSE(speaks_with(self, ancient));
  EXPECT_FALSE(ms.heard(ancient, 0)) << "no version in common";
  EXPECT_FALSE(ms.learned(ancient, 0));
  EXPECT_EQ(ms.find("n3"), nullptr);
  EXPECT_EQ(ms.owners(), (std::vector<std::string>{"n1", "n2"})) << "it owns nothing here";
}

}  // namespace
}  // namespace flowtrack::domain
