// Shard leases against real PostgreSQL (storage/shard_leases, migration 031), with two or three
// connections playing nodes: racing takers get each shard once; an expired lease goes to the next
// node at the next epoch and its stale holder is told on renewal; a released lease is taken at
// once; a fence holds a takeover off until its transaction commits, and after a takeover a stale
// node's write is refused and never commits; epochs only grow; 256 leases renew in one statement.
// Each test case runs in a process and a database of its own (the 256 lease rows are global).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <latch>
#include <map>
#include <set>
#include <thread>

#include "domain/shard_ring.hpp"
#include "storage/migrate.hpp"
#include "storage/shard_leases.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage::shard_leases {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<pg::connection> connect(const std::string& url) {
  auto c = pg::connection::open(pg::connect_options{url});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

// Polls `done` until it holds or the deadline passes; the deadline only bounds a failing test.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// A database of this test's own, migrated in-process with the migrations compiled into this
// build (so 031 is the one under test, whatever flowtrackd binary lies around), and dropped.
class shard_leases_db : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "ft_shards_" + std::to_string(::getpid());
    admin_ = connect(test::require_env("FLOWTRACK_TEST_ADMIN_URL"));
    ASSERT_TRUE(admin_);
    (void)admin_->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    ASSERT_TRUE(admin_->exec_script("CREATE DATABASE " + name_).ok());
    url_ = test::database_url_for(name_);
    observer_ = connect(url_);
    ASSERT_TRUE(observer_);
    auto m = storage::migrate(*observer_, storage::embedded_migrations());
    ASSERT_TRUE(m.ok()) << m.err().message;
    a_ = connect(url_);
    b_ = connect(url_);
    ASSERT_TRUE(a_ && b_);
    ASSERT_TRUE(observer_->exec_script("CREATE TABLE shard_writes (shard int, writer text, epoch bigint)").ok());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    observer_.reset();
    if (admin_) (void)admin_->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }

  lease row(int shard) {
    auto all = leases(*observer_);
    EXPECT_TRUE(all.ok()) << (all.ok() ? "" : all.err().message);
    if (!all.ok() || all->size() != 256u) return {};
    return (*all)[static_cast<std::size_t>(shard)];
  }
  // Waits until the database clock has passed the shard's lease.
  bool await_expiry(int shard) {
    return eventually([&] { return row(shard).expired; });
  }
  // Waits until the backend `pid` waits for a lock (a row lock held by another transaction).
  bool await_lock_wait(int pid) {
    return eventually([&] {
      auto r = observer_->exec("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pg::params{}.add(pid));
      return r.ok() && !r->empty() && !r->is_null(0, 0) && r->get_bool(0, 0);
    });
  }
  std::int64_t count(const std::string& sql) {
    auto r = observer_->exec(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    return r.ok() ? r->get_int(0, 0) : -1;
  }
  // One acquisition that must succeed, for one shard.
  acquisition take(pg::connection& c, int shard, const std::string& node, std::chrono::milliseconds lease) {
    auto r = acquire(c, {shard}, node, lease);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->size() != 1u) return {};
    return r->front();
  }
  // A write of the shard's "runs", fenced in its own transaction as a node would do it.
  result<void> fenced_write(pg::connection& c, const std::string& node, int shard, std::int64_t epoch) {
    return pg::transact(c, [&](pg::connection& tx) -> result<void> {
      if (auto f = fence(tx, node, shard, epoch); !f) return f;
      auto w = tx.exec("INSERT INTO shard_writes VALUES ($1, $2, $3)", pg::params{}.add(shard).add(node).add(epoch));
      if (!w) return w.err();
      return {};
    });
  }

  std::string name_, url_;
  std::unique_ptr<pg::connection> admin_, observer_, a_, b_;
};

std::vector<int> all_shards() {
  std::vector<int> out;
  for (int s = 0; s < domain::k_shard_count; ++s) out.push_back(s);
  return out;
}

TEST_F(shard_leases_db, the_migration_makes_all_256_rows_never_held) {
  auto all = leases(*observer_);
  ASSERT_TRUE(all.ok()) << all.err().message;
  ASSERT_EQ(all->size(), 256u);
  for (int s = 0; s < 256; ++s) {
    const auto& l = (*all)[static_cast<std::size_t>(s)];
    EXPECT_EQ(l.shard, s);
    EXPECT_FALSE(l.owner.has_value());
    EXPECT_EQ(l.epoch, 0);
    EXPECT_TRUE(l.expired);
    EXPECT_FALSE(l.expires_at_ms.has_value());
  }
  EXPECT_FALSE(observer_->exec("INSERT INTO shard_leases (shard) VALUES (256)").ok()) << "the CHECK keeps shards in 0..255";
}

TEST_F(shard_leases_db, two_nodes_racing_for_the_same_shards_get_each_shard_exactly_once) {
  for (int round = 0; round < 5; ++round) {
    std::latch start(2);
    auto race = [&](pg::connection& c, const std::string& node) {
      auto shards = all_shards();
      if (node == "node-b") std::reverse(shards.begin(), shards.end());
      start.arrive_and_wait();
      return acquire(c, shards, node, 60s);
    };
    auto fa = std::async(std::launch::async, race, std::ref(*a_), std::string("node-a"));
    auto fb = std::async(std::launch::async, race, std::ref(*b_), std::string("node-b"));
    auto ra = fa.get(), rb = fb.get();
    ASSERT_TRUE(ra.ok()) << ra.err().message;
    ASSERT_TRUE(rb.ok()) << rb.err().message;
    ASSERT_EQ(ra->size(), 256u);
    ASSERT_EQ(rb->size(), 256u);
    auto all = leases(*observer_);
    ASSERT_TRUE(all.ok());
    std::vector<held_shard> held_a, held_b;
    for (int s = 0; s < 256; ++s) {
      const auto& x = (*ra)[static_cast<std::size_t>(s)];
      const auto& y = (*rb)[static_cast<std::size_t>(s)];
      ASSERT_EQ(x.shard, s);
      ASSERT_EQ(y.shard, s);
      EXPECT_NE(x.held, y.held) << "shard " << s << ": exactly one node holds it";
      const auto& winner = x.held ? x : y;
      const auto& loser = x.held ? y : x;
      std::string won_by = x.held ? "node-a" : "node-b";
      EXPECT_TRUE(winner.began);
      EXPECT_EQ(winner.epoch, round + 1) << "each round begins a new epoch";
      EXPECT_EQ(loser.owner, won_by) << "the loser is told who holds it";
      EXPECT_EQ(loser.epoch, winner.epoch);
      EXPECT_EQ((*all)[static_cast<std::size_t>(s)].owner, won_by);
      (x.held ? held_a : held_b).push_back({s, winner.epoch});
    }
    for (const auto& h : held_a) ASSERT_TRUE(release(*a_, "node-a", h.shard, h.epoch).value());
    for (const auto& h : held_b) ASSERT_TRUE(release(*b_, "node-b", h.shard, h.epoch).value());
  }
}

TEST_F(shard_leases_db, a_taker_that_waits_for_another_takers_commit_leaves_the_shard_to_it) {
  // node-a takes shards 3 and 4 in an open transaction; node-b asks for 4 and 5 and must wait for
  // the row lock of 4, then find it node-a's once node-a commits.
  ASSERT_TRUE(a_->begin().ok());
  auto ra = acquire(*a_, {3, 4}, "node-a", 60s);
  ASSERT_TRUE(ra.ok()) << ra.err().message;
  int pid_b = b_->backend_pid();
  auto fb = std::async(std::launch::async, [&] { return acquire(*b_, {4, 5}, "node-b", 60s); });
  ASSERT_TRUE(await_lock_wait(pid_b));
  EXPECT_EQ(fb.wait_for(0s), std::future_status::timeout) << "node-b is still waiting";
  ASSERT_TRUE(a_->commit().ok());
  auto rb = fb.get();
  ASSERT_TRUE(rb.ok()) << rb.err().message;
  ASSERT_EQ(rb->size(), 2u);
  EXPECT_FALSE((*rb)[0].held);
  EXPECT_EQ((*rb)[0].owner, "node-a");
  EXPECT_EQ((*rb)[0].epoch, 1);
  EXPECT_TRUE((*rb)[1].held);
  EXPECT_EQ((*rb)[1].shard, 5);
}

TEST_F(shard_leases_db, an_expired_lease_is_taken_over_with_the_next_epoch) {
  auto first = take(*a_, 7, "node-a", 200ms);
  ASSERT_TRUE(first.held);
  EXPECT_EQ(first.epoch, 1);
  EXPECT_TRUE(first.began);

  auto refused = take(*b_, 7, "node-b", 200ms);
  if (!row(7).expired) {  // normally: node-a's 200 ms have not passed yet
    EXPECT_FALSE(refused.held);
    EXPECT_EQ(refused.owner, "node-a");
    EXPECT_EQ(refused.epoch, 1);
    EXPECT_EQ(refused.expires_at_ms, first.expires_at_ms);
  }
  if (refused.held) {  // a very slow machine
    ASSERT_TRUE(release(*b_, "node-b", 7, refused.epoch).value());
  }

  ASSERT_TRUE(await_expiry(7));
  auto taken = take(*b_, 7, "node-b", 60s);
  ASSERT_TRUE(taken.held);
  EXPECT_TRUE(taken.began);
  EXPECT_EQ(taken.epoch, refused.held ? 3 : 2);
  EXPECT_EQ(row(7).owner, "node-b");

  auto again = take(*b_, 7, "node-b", 60s);
  EXPECT_TRUE(again.held);
  EXPECT_FALSE(again.began) << "asking again for a live lease of one's own extends it";
  EXPECT_EQ(again.epoch, taken.epoch);
  EXPECT_GE(again.expires_at_ms, taken.expires_at_ms);
}

TEST_F(shard_leases_db, a_node_taking_its_own_lapsed_lease_again_gets_a_new_epoch) {
  auto first = take(*a_, 8, "node-a", 200ms);
  ASSERT_TRUE(first.held);
  ASSERT_TRUE(await_expiry(8));
  auto again = take(*a_, 8, "node-a", 60s);
  EXPECT_TRUE(again.held);
  EXPECT_TRUE(again.began);
  EXPECT_EQ(again.epoch, first.epoch + 1) << "what the node did while its lease had lapsed is suspect";
  EXPECT_FALSE(fenced_write(*a_, "node-a", 8, first.epoch).ok());
  EXPECT_TRUE(fenced_write(*a_, "node-a", 8, again.epoch).ok());
}

TEST_F(shard_leases_db, a_stale_holder_renewing_is_told_which_shards_it_lost) {
  auto kept = acquire(*a_, {10, 12}, "node-a", 60s);
  ASSERT_TRUE(kept.ok());
  auto lapsing = take(*a_, 11, "node-a", 200ms);
  ASSERT_TRUE(lapsing.held);
  ASSERT_TRUE(await_expiry(11));
  auto taken = take(*b_, 11, "node-b", 60s);
  ASSERT_TRUE(taken.held);
  EXPECT_EQ(taken.epoch, 2);

  auto before = row(10).expires_at_ms.value_or(0);
  auto r = renew(*a_, "node-a", {{10, 1}, {11, 1}, {12, 1}}, 90s);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->held, (std::vector<held_shard>{{10, 1}, {12, 1}}));
  EXPECT_EQ(r->lost, (std::vector<held_shard>{{11, 1}}));
  ASSERT_TRUE(r->expires_at_ms.has_value());
  EXPECT_GT(*r->expires_at_ms, before) << "90 s from now is later than 60 s from the acquire";
  EXPECT_EQ(row(11).owner, "node-b") << "the stale renewal changed nothing of node-b's lease";
  EXPECT_EQ(row(11).epoch, 2);

  auto wrong_epoch = renew(*a_, "node-a", {{10, 2}}, 60s);
  ASSERT_TRUE(wrong_epoch.ok());
  EXPECT_TRUE(wrong_epoch->held.empty()) << "an epoch the node does not hold is not renewed";
}

TEST_F(shard_leases_db, a_lapsed_lease_nobody_took_is_lost_to_renewal_too) {
  auto first = take(*a_, 13, "node-a", 200ms);
  ASSERT_TRUE(first.held);
  ASSERT_TRUE(await_expiry(13));
  auto r = renew(*a_, "node-a", {{13, first.epoch}}, 60s);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->held.empty());
  EXPECT_EQ(r->lost, (std::vector<held_shard>{{13, first.epoch}}));
}

TEST_F(shard_leases_db, a_released_lease_is_taken_at_once_with_a_higher_epoch) {
  auto first = take(*a_, 20, "node-a", 60s);
  ASSERT_TRUE(first.held);
  EXPECT_FALSE(release(*a_, "node-a", 20, first.epoch + 1).value()) << "not at that epoch";
  EXPECT_FALSE(release(*b_, "node-b", 20, first.epoch).value()) << "not node-b's";
  EXPECT_TRUE(release(*a_, "node-a", 20, first.epoch).value());
  EXPECT_FALSE(release(*a_, "node-a", 20, first.epoch).value()) << "released already";
  auto l = row(20);
  EXPECT_TRUE(l.expired);
  EXPECT_TRUE(l.released_at_ms.has_value());

  auto taken = take(*b_, 20, "node-b", 60s);  // no waiting for the 60 s
  ASSERT_TRUE(taken.held);
  EXPECT_EQ(taken.epoch, first.epoch + 1);
  EXPECT_FALSE(fenced_write(*a_, "node-a", 20, first.epoch).ok());

  ASSERT_TRUE(release(*b_, "node-b", 20, taken.epoch).value());
  auto back = take(*a_, 20, "node-a", 60s);
  ASSERT_TRUE(back.held);
  EXPECT_EQ(back.epoch, taken.epoch + 1) << "taking one's own released lease again is a new epoch too";
}

TEST_F(shard_leases_db, a_fence_holds_off_a_takeover_until_its_write_commits) {
  auto held = take(*a_, 30, "node-a", 300ms);
  ASSERT_TRUE(held.held);
  // node-a's write is fenced while it holds the lease...
  ASSERT_TRUE(a_->begin().ok());
  ASSERT_TRUE(fence(*a_, "node-a", 30, held.epoch).ok());
  ASSERT_TRUE(a_->exec("INSERT INTO shard_writes VALUES (30, 'node-a', $1)", pg::params{}.add(held.epoch)).ok());
  // ...then the lease expires before it commits (a slow node), and node-b comes for the shard.
  ASSERT_TRUE(await_expiry(30));
  int pid_b = b_->backend_pid();
  auto fb = std::async(std::launch::async, [&] { return acquire(*b_, {30}, "node-b", 60s); });
  ASSERT_TRUE(await_lock_wait(pid_b)) << "the takeover waits for the fenced write";
  EXPECT_EQ(fb.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(row(30).owner, "node-a");
  ASSERT_TRUE(a_->commit().ok()) << "fenced before the takeover: the write of the old epoch stands";
  auto rb = fb.get();
  ASSERT_TRUE(rb.ok()) << rb.err().message;
  ASSERT_TRUE(rb->front().held);
  EXPECT_EQ(rb->front().epoch, held.epoch + 1);
  EXPECT_EQ(count("SELECT count(*) FROM shard_writes WHERE writer = 'node-a'"), 1);
}

TEST_F(shard_leases_db, after_a_takeover_the_stale_nodes_write_is_refused_and_never_commits) {
  auto held = take(*a_, 31, "node-a", 200ms);
  ASSERT_TRUE(held.held);
  ASSERT_TRUE(await_expiry(31));
  auto taken = take(*b_, 31, "node-b", 60s);
  ASSERT_TRUE(taken.held);

  // node-a, paused through all of this, wakes up and writes as if it still held the shard: its
  // row goes in first, then the fence refuses and the transaction is rolled back.
  auto stale = pg::transact(*a_, [&](pg::connection& tx) -> result<void> {
    auto w = tx.exec("INSERT INTO shard_writes VALUES (31, 'node-a', $1)", pg::params{}.add(held.epoch));
    if (!w) return w.err();
    return fence(tx, "node-a", 31, held.epoch);
  });
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.err().code, error_code::conflict);
  EXPECT_EQ(stale.err().subject, "shard_lease");
  EXPECT_NE(stale.err().message.find("held by node-b"), std::string::npos) << stale.err().message;
  EXPECT_EQ(count("SELECT count(*) FROM shard_writes WHERE writer = 'node-a'"), 0) << "the stale row never committed";

  EXPECT_TRUE(fenced_write(*b_, "node-b", 31, taken.epoch).ok());
  EXPECT_EQ(count("SELECT count(*) FROM shard_writes WHERE writer = 'node-b'"), 1);
}

TEST_F(shard_leases_db, a_fence_waiting_for_a_takeover_in_progress_is_refused_once_it_commits) {
  auto held = take(*a_, 32, "node-a", 200ms);
  ASSERT_TRUE(held.held);
  ASSERT_TRUE(await_expiry(32));
  // node-b's takeover is under way (its transaction holds the row) when node-a fences.
  ASSERT_TRUE(b_->begin().ok());
  auto taken = acquire(*b_, {32}, "node-b", 60s);
  ASSERT_TRUE(taken.ok() && taken->front().held);
  int pid_a = a_->backend_pid();
  auto fa = std::async(std::launch::async, [&] { return fenced_write(*a_, "node-a", 32, held.epoch); });
  ASSERT_TRUE(await_lock_wait(pid_a)) << "the fence waits for the takeover";
  ASSERT_TRUE(b_->commit().ok());
  auto stale = fa.get();
  ASSERT_FALSE(stale.ok()) << "the fence read the row the takeover committed";
  EXPECT_EQ(stale.err().code, error_code::conflict);
  EXPECT_EQ(count("SELECT count(*) FROM shard_writes"), 0);
}

TEST_F(shard_leases_db, renewing_never_waits_for_the_nodes_own_fenced_writes) {
  auto held = acquire(*a_, {40, 41}, "node-a", 60s);
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(a_->begin().ok());
  ASSERT_TRUE(fence_many(*a_, "node-a", {{40, 1}, {41, 1}}).ok());
  // node-a's renewer runs on another connection while the write transaction is open.
  auto r = renew(*b_, "node-a", {{40, 1}, {41, 1}}, 60s);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->held.size(), 2u);
  EXPECT_TRUE(release(*b_, "node-a", 41, 1).value()) << "nor does releasing";
  // The open transaction's fence still holds off a takeover of the released shard.
  auto c = connect(url_);
  ASSERT_TRUE(c);
  int pid_c = c->backend_pid();
  auto fc = std::async(std::launch::async, [&] { return acquire(*c, {41}, "node-c", 60s); });
  ASSERT_TRUE(await_lock_wait(pid_c));
  ASSERT_TRUE(a_->exec("INSERT INTO shard_writes VALUES (41, 'node-a', 1)").ok());
  ASSERT_TRUE(a_->commit().ok());
  auto rc = fc.get();
  ASSERT_TRUE(rc.ok());
  EXPECT_TRUE(rc->front().held);
  EXPECT_EQ(rc->front().epoch, 2);
}

TEST_F(shard_leases_db, fence_many_checks_every_shard_and_names_those_not_held) {
  ASSERT_TRUE(acquire(*a_, {50, 51}, "node-a", 60s).ok());
  ASSERT_TRUE(acquire(*b_, {52}, "node-b", 60s).ok());
  auto ok = pg::transact(*a_, [&](pg::connection& tx) { return fence_many(tx, "node-a", {{51, 1}, {50, 1}}); });
  EXPECT_TRUE(ok.ok());
  auto bad = pg::transact(*a_, [&](pg::connection& tx) { return fence_many(tx, "node-a", {{50, 1}, {52, 1}, {53, 1}}); });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, error_code::conflict);
  EXPECT_NE(bad.err().message.find("shard 52 at epoch 1: held by node-b"), std::string::npos) << bad.err().message;
  EXPECT_NE(bad.err().message.find("shard 53 at epoch 1: never held"), std::string::npos) << bad.err().message;
  EXPECT_EQ(bad.err().message.find("shard 50 "), std::string::npos) << "held shards are not named";
  auto wrong = pg::transact(*a_, [&](pg::connection& tx) { return fence(tx, "node-a", 50, 2); });
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.err().message.find("this node holds it at epoch 1"), std::string::npos) << wrong.err().message;
}

TEST_F(shard_leases_db, a_fence_first_in_a_pipeline_stops_the_stale_nodes_writes_after_it) {
  // The shape of ingest's group commit: one pipeline, one implicit transaction.
  auto held = take(*a_, 55, "node-a", 200ms);
  ASSERT_TRUE(held.held);
  const pg::statement write{"ft_test_shard_write", "INSERT INTO shard_writes VALUES ($1, $2, $3)"};
  auto batch = [&](pg::connection& c, const std::string& node, std::int64_t epoch) {
    return c.pipeline({fence_command(node, {{55, epoch}}),
                       {&write, pg::params{}.add(55).add(node).add(epoch)},
                       {&write, pg::params{}.add(55).add(node).add(epoch)}});
  };
  auto live = batch(*a_, "node-a", held.epoch);
  ASSERT_TRUE(live.ok()) << live.err().message;
  EXPECT_EQ(count("SELECT count(*) FROM shard_writes WHERE writer = 'node-a'"), 2);

  ASSERT_TRUE(await_expiry(55));
  auto taken = take(*b_, 55, "node-b", 60s);
  ASSERT_TRUE(taken.held);
  auto stale = batch(*a_, "node-a", held.epoch);
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(fenced_out(stale.err())) << stale.err().subject << ": " << stale.err().message;
  EXPECT_EQ(fence_error(stale.err()).code, error_code::conflict);
  EXPECT_NE(stale.err().message.find("shard 55 at epoch 1: held by node-b at epoch 2"), std::string::npos) << stale.err().message;
  EXPECT_EQ(count("SELECT count(*) FROM shard_writes WHERE writer = 'node-a'"), 2) << "nothing of the stale pipeline committed";
  EXPECT_TRUE(batch(*b_, "node-b", taken.epoch).ok());
  EXPECT_EQ(count("SELECT count(*) FROM shard_writes WHERE writer = 'node-b'"), 2);
  EXPECT_FALSE(fenced_out(make_error(error_code::conflict, "other", "leads_pkey")));
}

TEST_F(shard_leases_db, epochs_only_grow_across_many_acquire_release_cycles) {
  // Three nodes take and give back the same shard as fast as they can; every epoch is handed
  // out once, and each node sees its own epochs grow.
  constexpr int k_cycles = 60;
  auto c = connect(url_);
  ASSERT_TRUE(c);
  std::latch start(3);
  auto cycle = [&](pg::connection& conn, const std::string& node) {
    std::vector<std::int64_t> got;
    start.arrive_and_wait();
    for (int i = 0; i < k_cycles; ++i) {
      auto r = acquire(conn, {60}, node, 60s);
      if (!r.ok()) {
        ADD_FAILURE() << r.err().message;
        break;
      }
      if (!r->front().held) continue;
      got.push_back(r->front().epoch);
      auto rel = release(conn, node, 60, r->front().epoch);
      EXPECT_TRUE(rel.ok() && *rel);
    }
    return got;
  };
  auto fa = std::async(std::launch::async, cycle, std::ref(*a_), std::string("node-a"));
  auto fb = std::async(std::launch::async, cycle, std::ref(*b_), std::string("node-b"));
  auto fc = std::async(std::launch::async, cycle, std::ref(*c), std::string("node-c"));
  std::vector<std::vector<std::int64_t>> per_node{fa.get(), fb.get(), fc.get()};
  std::set<std::int64_t> all;
  std::size_t total = 0;
  for (const auto& got : per_node) {
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
    EXPECT_EQ(std::adjacent_find(got.begin(), got.end()), got.end()) << "strictly growing";
    all.insert(got.begin(), got.end());
    total += got.size();
  }
  EXPECT_EQ(all.size(), total) << "no epoch was handed out twice";
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(*all.rbegin(), static_cast<std::int64_t>(total)) << "one epoch a taking, none skipped";
  EXPECT_EQ(row(60).epoch, static_cast<std::int64_t>(total));
}

TEST_F(shard_leases_db, a_batch_renews_all_256_shards_in_one_statement) {
  auto got = acquire(*a_, all_shards(), "node-a", 60s);
  ASSERT_TRUE(got.ok());
  std::vector<held_shard> held;
  for (const auto& g : *got) {
    ASSERT_TRUE(g.held);
    held.push_back({g.shard, g.epoch});
  }
  auto before = row(0).expires_at_ms.value_or(0);
  auto r = renew(*a_, "node-a", held, 120s);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->held, held);
  EXPECT_TRUE(r->lost.empty());
  EXPECT_GT(r->expires_at_ms.value_or(0), before);
  // One statement: every row carries that statement's timestamp.
  EXPECT_EQ(count("SELECT count(DISTINCT renewed_at) FROM shard_leases"), 1);
  EXPECT_EQ(count("SELECT count(DISTINCT expires_at) FROM shard_leases"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM shard_leases WHERE renewed_at > acquired_at"), 256);
}

TEST_F(shard_leases_db, leases_show_owner_epoch_and_expiry_by_the_database_clock) {
  ASSERT_TRUE(take(*a_, 70, "node-a", 60s).held);
  auto db_now = count("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint");
  auto l = row(70);
  EXPECT_EQ(l.owner, "node-a");
  EXPECT_EQ(l.epoch, 1);
  EXPECT_FALSE(l.expired);
  ASSERT_TRUE(l.expires_at_ms.has_value());
  EXPECT_GT(*l.expires_at_ms, db_now + 50000);
  EXPECT_LE(*l.expires_at_ms, db_now + 60000);
  EXPECT_TRUE(l.acquired_at_ms.has_value());
  EXPECT_FALSE(l.released_at_ms.has_value());
  EXPECT_TRUE(row(71).expired);
}

TEST_F(shard_leases_db, bad_arguments_are_refused_as_invalid) {
  auto out_of_range = acquire(*a_, {256}, "node-a", 60s);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_EQ(out_of_range.err().code, error_code::invalid);
  EXPECT_EQ(acquire(*a_, {-1}, "node-a", 60s).err().code, error_code::invalid);
  EXPECT_EQ(acquire(*a_, {1}, "", 60s).err().code, error_code::invalid);
  EXPECT_EQ(acquire(*a_, {1}, "node-a", 0ms).err().code, error_code::invalid);
  EXPECT_EQ(renew(*a_, "node-a", {{300, 1}}, 60s).err().code, error_code::invalid);
  EXPECT_EQ(fence(*a_, "node-a", 256, 1).err().code, error_code::invalid);
  EXPECT_EQ(release(*a_, "node-a", 999, 1).err().code, error_code::invalid);
  auto nothing = acquire(*a_, {}, "node-a", 60s);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());
  EXPECT_TRUE(row(1).expired) << "nothing was taken";
}

}  // namespace
}  // namespace flowtrack::storage::shard_leases
