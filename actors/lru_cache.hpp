// A bounded map with expiry, for the engine's look-up caches (slug -> workspace, unknown ids):
// at most `capacity` entries, the least recently used one goes first, and an entry older than
// `ttl` is gone. Single-threaded (one actor owns it); time is passed in, so tests need no clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <unordered_map>
#include <utility>

namespace flowtrack::actors {

template <class Key, class Value>
class lru_cache {
 public:
  using clock = std::chrono::steady_clock;

  lru_cache(std::size_t capacity, clock::duration ttl) : capacity_(capacity == 0 ? 1 : capacity), ttl_(ttl) {}

  /// The value of `key` when present and younger than the ttl (a hit makes it the most recently
  /// used); nullptr otherwise (an expired entry is dropped).
  const Value* find(const Key& key, clock::time_point now) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    if (now - it->second->stored > ttl_) {
      order_.erase(it->second);
      index_.erase(it);
      return nullptr;
    }
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->value;
  }

  /// Stores `value` under `key` (replacing an older one), dropping the least recently used
  /// entry when full.
  void put(const Key& key, Value value, clock::time_point now) {
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->value = std::move(value);
      it->second->stored = now;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().key);
      order_.pop_back();
    }
    order_.push_front(entry{key, std::move(value), now});
    index_.emplace(key, order_.begin());
  }

  void erase(const Key& key) {
    if (auto it = index_.find(key); it != index_.end()) {
      order_.erase(it->second);
      index_.erase(it);
    }
  }

  /// Drops every entry whose value satisfies `pred`.
  template <class Pred>
  void erase_values_if(Pred pred) {
    for (auto it = order_.begin(); it != order_.end();) {
      if (pred(it->value)) {
        index_.erase(it->key);
        it = order_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::size_t size() const { return index_.size(); }

 private:
  struct entry {
    Key key;
    Value value;
    clock::time_point stored;
  };
  std::size_t capacity_;
  clock::duration ttl_;
  std::list<entry> order_;  ///< most recently used first
  std::unordered_map<Key, typename std::list<entry>::iterator> index_;
};

}  // namespace flowtrack::actors
