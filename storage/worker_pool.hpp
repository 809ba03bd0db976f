// A fixed set of threads, each owning one resource (a Redis connection, say), running jobs
// handed in by other threads. Blocking clients live here so actor threads never block.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace flowtrack::storage {

/// Threads that each own a `Resource` made by a factory, running `void(Resource&)` jobs in
/// submission order per thread. Destruction finishes queued jobs first.
///
/// Two ways in: `try_submit` is for work that arrives from outside (ingress: a rate-limit check,
/// a readiness probe) and is refused when `max_queued` jobs wait; `submit` is for work of
/// something already accepted (a run's lock, a delay, the scheduler's claims), which must not
/// be dropped and is bounded by what was accepted.
template <class Resource>
class worker_pool {
 public:
  using job = std::function<void(Resource&)>;

  worker_pool(int threads, std::function<Resource()> make, std::size_t max_queued = 1024) : max_queued_(max_queued) {
    for (int i = 0; i < std::max(1, threads); ++i)
      threads_.emplace_back([this, make] {
        Resource r = make();
        run(r);
      });
  }
  ~worker_pool() { close(); }

  /// Finishes queued jobs and ends the threads; later jobs are dropped. Call it before whatever
  /// the jobs reach (an actor system) goes away.
  void close() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Queues a job unless `max_queued` jobs wait already: then false at once, and `j` is dropped
  /// without running. Never blocks beyond a mutex.
  [[nodiscard]] bool try_submit(job j) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || queue_.size() >= max_queued_) {
        ++refused_;
        return false;
      }
      queue_.push_back(std::move(j));
    }
    wake_.notify_one();
    return true;
  }

  /// Queues a job of accepted work, whatever the queue holds (dropped once closed); never blocks
  /// beyond a mutex.
  void submit(job j) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;  // closed: nobody is left to hear of it
      queue_.push_back(std::move(j));
    }
    wake_.notify_one();
  }

  std::size_t queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

  /// Jobs `try_submit` refused so far.
  std::uint64_t refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
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

  const std::size_t max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<job> queue_;
  std::uint64_t refused_ = 0;
  bool stopping_ = false;
  std::shared_ptr<const std::function<void(double)>> observer_;
  std::vector<std::thread> threads_;
};

}  // namespace flowtrack::storage
