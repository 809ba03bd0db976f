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
  /// Jobs waiting for a worker; one more is refused at once with `unavailable` (never queued),
  /// so a slow or absent server cannot make callers' work pile up without bound.
  std::size_t max_queued = 1024;
  /// After a failed connect a worker tries again no sooner than this; jobs meanwhile fail fast
  /// with `unavailable` instead of each waiting out the connect timeout.
  std::chrono::milliseconds reconnect_backoff{1000};
};

/// What the pool is doing right now.
struct pool_stats {
  int size = 0;
  int connected = 0;
  int busy = 0;
  std::size_t queued = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t refused = 0;  ///< jobs refused because the queue was full
  std::uint64_t connect_failures = 0;
};

/// The pool. Jobs run in submission order per worker, in parallel across workers.
class pool {
 public:
  explicit pool(pool_options opts);
  ~pool();  ///< close()
  /// Finishes queued jobs, then closes every connection; later jobs are refused. Call it before
  /// whatever the jobs' callbacks reach (an actor system) goes away.
  void close();
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  /// Runs `work(connection&) -> result<T>` on a pool thread and passes its result to
  /// `done(result<T>)` on that thread. When `retry_safe` and the job fails with `unavailable`,
  /// it is run again on a fresh connection (up to retry_attempts); otherwise the caller sees
  /// the error. When the server is down the job fails fast with `unavailable`. For work the node
  /// has already taken on (runs, resumes, batches of accepted triggers): it is queued whatever
  /// the queue holds, and refused (`unavailable`, at once) only once the pool is closing.
  template <class Work, class Done>
  void submit(Work work, Done done, bool retry_safe = false) {
    submit_job(std::move(work), std::move(done), retry_safe, /*bounded=*/false);
  }

  /// Like submit, for new work from outside (look-ups, polls, readiness checks): when
  /// `max_queued` jobs wait already, `done` gets `unavailable` at once, on the caller's thread.
  template <class Work, class Done>
  void try_submit(Work work, Done done, bool retry_safe = false) {
    submit_job(std::move(work), std::move(done), retry_safe, /*bounded=*/true);
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

  template <class Work, class Done>
  void submit_job(Work work, Done done, bool retry_safe, bool bounded) {
    using R = std::invoke_result_t<Work&, connection&>;
    auto shared_done = std::make_shared<Done>(std::move(done));
    bool queued = enqueue(job{[work = std::move(work), shared_done](connection* c, bool last) mutable {
                                R r = c ? work(*c) : R(unavailable_error());
                                if (!r && r.err().code == error_code::unavailable && !last) return false;
                                (*shared_done)(std::move(r));
                                return true;
                              },
                              retry_safe},
                          bounded);
    if (!queued) (*shared_done)(R(busy_error()));
  }
  /// False (and `j` dropped) when the pool closed, or when `bounded` and the queue is full.
  bool enqueue(job j, bool bounded);
  void work_loop(worker& w);
  static error unavailable_error();
  static error busy_error();

  pool_options opts_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<job> queue_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<int> busy_{0};
  std::atomic<int> connected_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> connect_failures_{0};
};

}  // namespace flowtrack::pg
