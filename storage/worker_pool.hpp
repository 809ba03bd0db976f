// A fixed set of threads, each owning one resource (a Redis connection, say), running jobs
// handed in by other threads. Blocking clients live here so actor threads never block.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace flowtrack::storage {

/// Threads that each own a `Resource` made by a factory, running `void(Resource&)` jobs in
/// submission order per thread. Destruction finishes queued jobs first.
template <class Resource>
class worker_pool {
 public:
  using job = std::function<void(Resource&)>;

  worker_pool(int threads, std::function<Resource()> make) {
    for (int i = 0; i < std::max(1, threads); ++i)
      threads_.emplace_back([this, make] {
        Resource r = make();
        run(r);
      });
  }
  ~worker_pool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Queues a job; never blocks beyond a mutex.
  void submit(job j) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(j));
    }
    wake_.notify_one();
  }

  std::size_t queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

  /// Calls `f(seconds)` after each job with the time it ran (for latency metrics).
  void on_job_done(std::function<void(double)> f) {
    std::lock_guard lock(mutex_);
    observer_ = std::make_shared<const std::function<void(double)>>(std::move(f));
  }

 private:
  void run(Resource& r) {
    for (;;) {
      job j;
      std::shared_ptr<const std::function<void(double)>> observer;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        j = std::move(queue_.front());
        queue_.pop_front();
        observer = observer_;
      }
      auto began = std::chrono::steady_clock::now();
      j(r);
      if (observer) (*observer)(std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<job> queue_;
  bool stopping_ = false;
  std::shared_ptr<const std::function<void(double)>> observer_;
  std::vector<std::thread> threads_;
};

}  // namespace flowtrack::storage
