// The worker pool's bound: work from outside is refused at once when the queue is full; accepted
// work always runs, also when the pool closes.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "storage/worker_pool.hpp"

namespace flowtrack::storage {
namespace {

TEST(worker_pool, refuses_outside_work_at_once_when_full_and_runs_everything_it_took) {
  std::promise<void> release, started;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};
  worker_pool<int> pool(1, [] { return 0; }, /*max_queued=*/2);
  // The one thread holds a job until released; two more wait.
  ASSERT_TRUE(pool.try_submit([&, gate](int&) {
    started.set_value();
    gate.wait();
    ++ran;
  }));
  started.get_future().wait();
  EXPECT_TRUE(pool.try_submit([&](int&) { ++ran; }));
  EXPECT_TRUE(pool.try_submit([&](int&) { ++ran; }));

  // Full: refused before the call returns, and counted.
  EXPECT_FALSE(pool.try_submit([&](int&) { ++ran; }));
  EXPECT_EQ(pool.refused(), 1u);
  // Work of something already accepted is taken beyond the bound.
  pool.submit([&](int&) { ++ran; });
  EXPECT_EQ(pool.queued(), 3u);

  release.set_value();
  pool.close();
  EXPECT_EQ(ran.load(), 4);
  EXPECT_FALSE(pool.try_submit([&](int&) { ++ran; }));  // closed
}

}  // namespace
}  // namespace flowtrack::storage
