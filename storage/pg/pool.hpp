// A fixed pool of PostgreSQL connections, each owned by its own I/O thread. Callers hand in
// work and get results through a callback on that thread, so no caller (an actor thread in
// particular) ever waits on the database. Knows nothing of actors.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "storage/pg/connection.hpp"

namespace flowtrack::pg {

/// Pool settings.
struct pool_options {
  connect_options connection;
  int size = 4;
  /// An idle connection is checked this often and replaced when broken.
  std::chrono::milliseconds health_interval{5000};
  /// How often a retry-safe job is tried when the server is unavailable.
  int retry_attempts = 3;
  std::chrono::milliseconds retry_backoff{100};
};

/// What the pool is doing right now.
struct pool_stats {
  int size = 0;
  int connected = 0;
  int busy = 0;
  std::size_t queued = 0;
  std::uint64_t reconnects = 0;
};

/// The pool. Jobs run in submission order per worker, in parallel across workers.
class pool {
 public:
  explicit pool(pool_options opts);
  ~pool();  ///< Finishes queued jobs, then closes every connection.
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  /// Runs `work(connection&) -> result<T>` on a pool thread and passes its result to
  /// `done(result<T>)` on that thread. When `retry_safe` and the job fails with `unavailable`,
  /// it is run again on a fresh connection (up to retry_attempts); otherwise the caller sees
  /// the error. When the server is down the job fails fast with `unavailable`.
  template <class Work, class Done>
  void submit(Work work, Done done, bool retry_safe = false) {
    using R = std::invoke_result_t<Work&, connection&>;
    enqueue(job{[work = std::move(work), done = std::move(done)](connection* c, bool last) mutable {
                  R r = c ? work(*c) : R(unavailable_error());
                  if (!r && r.err().code == error_code::unavailable && !last) return false;
                  done(std::move(r));
                  return true;
                },
                retry_safe});
  }

  /// Like submit, for callers that may block (the CLI, tests, start-up): a future of the result.
  template <class Work>
  auto run(Work work, bool retry_safe = false) -> std::future<std::invoke_result_t<Work&, connection&>> {
    using R = std::invoke_result_t<Work&, connection&>;
    auto promise = std::make_shared<std::promise<R>>();
    auto fut = promise->get_future();
    submit(std::move(work), [promise](R r) { promise->set_value(std::move(r)); }, retry_safe);
    return fut;
  }

  pool_stats stats() const;
  const pool_options& options() const { return opts_; }

 private:
  struct job {
    // Returns false to ask for another attempt; `connection*` is null when none could be made.
    std::function<bool(connection*, bool last_attempt)> run;
    bool retry_safe = false;
  };
  struct worker;

  void enqueue(job j);
  void work_loop(worker& w);
  static error unavailable_error();

  pool_options opts_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<job> queue_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<int> busy_{0};
  std::atomic<int> connected_{0};
  std::atomic<std::uint64_t> reconnects_{0};
};

}  // namespace flowtrack::pg
