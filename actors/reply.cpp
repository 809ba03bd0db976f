// The deadline sweep of reply slots: one thread, woken at the earliest deadline.
#include "actors/reply.hpp"

#include <vector>

namespace flowtrack::actors {

reply_deadlines::reply_deadlines(std::chrono::milliseconds timeout, std::size_t max_outstanding)
    : timeout_(timeout), max_outstanding_(max_outstanding) {
  thread_ = std::thread([this] { sweep(); });
}

reply_deadlines::~reply_deadlines() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::size_t reply_deadlines::watched() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void reply_deadlines::watch(std::weak_ptr<expiring> slot) {
  bool was_empty;
  {
    std::lock_guard lock(mutex_);
    // Answers mostly come in order: drop answered slots at the front so the queue stays short.
    while (!queue_.empty() && queue_.front().second.expired()) queue_.pop_front();
    was_empty = queue_.empty();
    queue_.emplace_back(clock::now() + timeout_, std::move(slot));
  }
  if (was_empty) wake_.notify_one();
}

void reply_deadlines::sweep() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stopping_) return;
    if (queue_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto due = queue_.front().first;
    if (clock::now() < due) {
      wake_.wait_until(lock, due);
      continue;
    }
    std::vector<std::shared_ptr<expiring>> expired;
    auto now = clock::now();
    while (!queue_.empty() && queue_.front().first <= now) {
      if (auto s = queue_.front().second.lock()) expired.push_back(std::move(s));
      queue_.pop_front();
    }
    // Answer outside the lock: a callback may make a new slot.
    lock.unlock();
    for (auto& s : expired) s->expire();
    expired.clear();  // the last reference may go here: its destructor finds it answered
    lock.lock();
  }
}

}  // namespace flowtrack::actors
