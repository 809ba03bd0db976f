#include "storage/pg/pool.hpp"

namespace flowtrack::pg {

struct pool::worker {
  std::unique_ptr<connection> conn;
  std::thread thread;
};

pool::pool(pool_options opts) : opts_(std::move(opts)) {
  for (int i = 0; i < opts_.size; ++i) workers_.push_back(std::make_unique<worker>());
  for (auto& w : workers_) w->thread = std::thread([this, raw = w.get()] { work_loop(*raw); });
}

pool::~pool() { close(); }

void pool::close() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

error pool::unavailable_error() {
  return make_error(error_code::unavailable, "PostgreSQL unavailable: no connection could be made", "postgresql");
}

error pool::busy_error() {
  return make_error(error_code::unavailable, "PostgreSQL pool busy: too many queued jobs (or shutting down); try again shortly", "postgresql");
}

bool pool::enqueue(job j, bool bounded) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || (bounded && queue_.size() >= opts_.max_queued)) {
      ++refused_;
      return false;
    }
    queue_.push_back(std::move(j));
  }
  wake_.notify_one();
  return true;
}

pool_stats pool::stats() const {
  std::lock_guard lock(mutex_);
  return pool_stats{opts_.size, connected_.load(), busy_.load(), queue_.size(), reconnects_.load(), refused_.load(),
                    connect_failures_.load()};
}

void pool::work_loop(worker& w) {
  // A connect is bounded by the connect timeout; after a failed one the worker waits out the
  // backoff before the next, failing jobs fast meanwhile, so a down server costs each job
  // nothing like a connect timeout.
  clock::time_point next_connect{};
  auto ensure_connection = [&]() -> connection* {
    if (w.conn && !w.conn->broken()) return w.conn.get();
    if (w.conn) {
      w.conn.reset();
      connected_--;
    }
    if (clock::now() < next_connect) return nullptr;
    auto c = connection::open(opts_.connection);
    if (!c) {
      connect_failures_++;
      next_connect = clock::now() + opts_.reconnect_backoff;
      return nullptr;
    }
    w.conn = std::move(*c);
    connected_++;
    reconnects_++;
    return w.conn.get();
  };

  for (;;) {
    job j;
    {
      std::unique_lock lock(mutex_);
      if (!wake_.wait_for(lock, opts_.health_interval, [&] { return stopping_ || !queue_.empty(); })) {
        lock.unlock();
        // Idle: check the connection so a dead one is replaced before work arrives.
        if (w.conn && !w.conn->healthy()) {
          w.conn.reset();
          connected_--;
        }
        continue;
      }
      if (queue_.empty()) break;  // stopping and drained
      j = std::move(queue_.front());
      queue_.pop_front();
    }
    busy_++;
    int attempts = j.retry_safe ? std::max(1, opts_.retry_attempts) : 1;
    for (int attempt = 1;; ++attempt) {
      connection* c = ensure_connection();
      if (j.run(c, attempt >= attempts)) break;
      // Retry after a short, growing pause on a fresh connection.
      if (w.conn && w.conn->broken()) {
        w.conn.reset();
        connected_--;
      }
      std::this_thread::sleep_for(opts_.retry_backoff * attempt);
    }
    busy_--;
  }
  if (w.conn) {
    w.conn.reset();
    connected_--;
  }
}

}  // namespace flowtrack::pg
