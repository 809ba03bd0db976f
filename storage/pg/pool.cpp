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

pool::~pool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w->thread.join();
}

error pool::unavailable_error() {
  return make_error(error_code::unavailable, "PostgreSQL unavailable: no connection could be made", "postgresql");
}

void pool::enqueue(job j) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(j));
  }
  wake_.notify_one();
}

pool_stats pool::stats() const {
  std::lock_guard lock(mutex_);
  return pool_stats{opts_.size, connected_.load(), busy_.load(), queue_.size(), reconnects_.load()};
}

void pool::work_loop(worker& w) {
  auto ensure_connection = [&]() -> connection* {
    if (w.conn && !w.conn->broken()) return w.conn.get();
    if (w.conn) {
      w.conn.reset();
      connected_--;
    }
    auto c = connection::open(opts_.connection);
    if (!c) return nullptr;
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
