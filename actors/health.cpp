#include "actors/health.hpp"

#include <atomic>
#include <mutex>
#include <unordered_map>

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

namespace flowtrack::actors {
namespace {

using timeout_atom = caf::atom_constant<caf::atom("hc_timeout")>;

constexpr const char* k_unreachable = "unreachable";

// Collects the two answers; the first of "both answered" or "timed out" calls back.
struct pending_check {
  std::mutex mutex;
  health_report report{"no answer in time", "no answer in time", {}};
  int outstanding = 2;
  bool done = false;
  health_callback callback;

  void answer(bool postgres, std::string error) {
    health_callback cb;
    health_report out;
    {
      std::lock_guard lock(mutex);
      if (done) return;
      (postgres ? report.postgres_error : report.redis_error) = std::move(error);
      if (--outstanding > 0) return;
      done = true;
      cb = std::move(callback);
      out = report;
    }
    cb(std::move(out));
  }
  void expire() {
    health_callback cb;
    health_report out;
    {
      std::lock_guard lock(mutex);
      if (done) return;
      done = true;
      cb = std::move(callback);
      out = report;
    }
    cb(std::move(out));
  }
};

}  // namespace

caf::behavior health_actor(caf::event_based_actor* self, health_deps deps) {
  // Checks in flight, by id, so the timeout message carries a plain number.
  auto in_flight = std::make_shared<std::unordered_map<std::uint64_t, std::shared_ptr<pending_check>>>();
  auto next_id = std::make_shared<std::uint64_t>(0);
  return {
      [=](check_atom, health_callback cb) {
        auto check = std::make_shared<pending_check>();
        check->callback = std::move(cb);
        if (deps.failed) check->report.failed = deps.failed->names();
        std::uint64_t id = ++*next_id;
        in_flight->emplace(id, check);
        // The server's own words stay in the log (debug): readiness bodies are public.
        deps.postgres->try_submit([](pg::connection& c) { return c.exec("SELECT 1"); }, [check](result<pg::rows> r) {
          if (!r.ok()) spdlog::debug("readiness: PostgreSQL: {}", r.err().message);
          check->answer(true, r.ok() ? "" : k_unreachable);
        });
        bool queued = deps.redis->try_submit([check](redis::connection& c) {
          auto r = c.ping();
          if (!r.ok()) spdlog::debug("readiness: Redis: {}", r.err().message);
          check->answer(false, r.ok() ? "" : k_unreachable);
        });
        if (!queued) check->answer(false, "busy");
        self->delayed_send(self, deps.timeout, timeout_atom::value, id);
      },
      [=](timeout_atom, std::uint64_t id) {
        if (auto it = in_flight->find(id); it != in_flight->end()) {
          it->second->expire();
          in_flight->erase(it);
        }
      },
  };
}

}  // namespace flowtrack::actors
