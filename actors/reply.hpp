// Answers owed to ingress without a helper actor per request: a reply slot travels with the
// message and is delivered exactly once — by the actor that has the answer, by the node's
// deadline sweep (`unavailable`), or, when every holder dropped it (a crashed actor, a message to
// a dead one), by its destructor. Knows nothing of HTTP.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include <caf/allowed_unsafe_message_type.hpp>

#include "actors/messages.hpp"
#include "runtime/error.hpp"

namespace flowtrack::actors {

/// What the deadline sweep sees of a reply slot.
class expiring {
 public:
  virtual ~expiring() = default;
  /// Answers `unavailable` unless answered already.
  virtual void expire() = 0;
};

/// One answer of type `T` (a `result<...>`), delivered once to the callback, on the thread that
/// delivers it.
template <class T>
class reply_slot final : public expiring {
 public:
  /// `outstanding`, when given, is decremented once the slot is answered.
  explicit reply_slot(std::function<void(T)> callback, std::shared_ptr<std::atomic<std::size_t>> outstanding = {})
      : callback_(std::move(callback)), outstanding_(std::move(outstanding)) {}
  ~reply_slot() override { finish(T(make_error(error_code::unavailable, "the engine dropped the request; try again"))); }
  reply_slot(const reply_slot&) = delete;
  reply_slot& operator=(const reply_slot&) = delete;

  /// Delivers `answer`, unless an answer (or the deadline) came first.
  void deliver(T answer) { finish(std::move(answer)); }
  // The work may still commit after this answer (a database slower than the deadline): say so,
  // so a client retries with the same Idempotency-Key rather than assuming nothing happened.
  void expire() override {
    finish(T(make_error(error_code::unavailable,
                        "the engine did not answer in time; it may still be accepted: retry with the same Idempotency-Key")));
  }

 private:
  void finish(T answer) {
    if (done_.exchange(true)) return;
    if (outstanding_) --*outstanding_;
    auto callback = std::move(callback_);
    callback(std::move(answer));
  }

  std::atomic<bool> done_{false};
  std::function<void(T)> callback_;
  std::shared_ptr<std::atomic<std::size_t>> outstanding_;
};

template <class T>
using reply_to = std::shared_ptr<reply_slot<T>>;
using ingest_reply_to = reply_to<ingest_reply>;  ///< `(trigger_atom, trigger_request, ingest_reply_to)`
using form_reply_to = reply_to<form_result>;     ///< `(form_atom, form_request, form_reply_to)`
using mail_reply_to = reply_to<mail_result>;     ///< `(mail_atom, mail_request, mail_reply_to)`

/// Makes reply slots that expire `timeout` after they were made. One thread per node sweeps
/// them in deadline order (the timeout is the same for all, so arrival order is deadline order).
/// At most `max_outstanding` slots are unanswered at a time (0: no limit): ingress admission,
/// so an overloaded node refuses a request before any actor works on it.
class reply_deadlines {
 public:
  explicit reply_deadlines(std::chrono::milliseconds timeout, std::size_t max_outstanding = 0);
  ~reply_deadlines();  ///< Stops the sweep; slots still out are answered by their holders.
  reply_deadlines(const reply_deadlines&) = delete;
  reply_deadlines& operator=(const reply_deadlines&) = delete;

  /// A slot calling `callback` once.
  template <class T>
  reply_to<T> make(std::function<void(T)> callback) {
    // Not make_shared: the sweep's weak reference would keep the whole slot's memory.
    reply_to<T> slot(new reply_slot<T>(std::move(callback)));
    watch(slot);
    return slot;
  }

  /// A slot calling `callback` once, or null (and `callback` untouched) when `max_outstanding`
  /// slots are unanswered already.
  template <class T>
  reply_to<T> try_make(std::function<void(T)>& callback) {
    if (max_outstanding_ != 0) {
      auto n = outstanding_->load();
      do {
        if (n >= max_outstanding_) return nullptr;
      } while (!outstanding_->compare_exchange_weak(n, n + 1));
    } else {
      ++*outstanding_;
    }
    reply_to<T> slot(new reply_slot<T>(std::move(callback), outstanding_));
    watch(slot);
    return slot;
  }

  /// Slots waiting for their deadline (answered ones leave lazily).
  std::size_t watched() const;
  /// Slots made by try_make and not answered yet.
  std::size_t outstanding() const { return outstanding_->load(); }

 private:
  using clock = std::chrono::steady_clock;
  void watch(std::weak_ptr<expiring> slot);
  void sweep();

  const std::chrono::milliseconds timeout_;
  const std::size_t max_outstanding_;
  std::shared_ptr<std::atomic<std::size_t>> outstanding_ = std::make_shared<std::atomic<std::size_t>>(0);
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<clock::time_point, std::weak_ptr<expiring>>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::ingest_reply_to)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::form_reply_to)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::mail_reply_to)
