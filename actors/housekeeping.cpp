#include "actors/housekeeping.hpp"

#include <array>
#include <atomic>
#include <memory>
#include <optional>

#include <caf/atom.hpp>
#include <spdlog/spdlog.h>

#include "metrics/metrics.hpp"

namespace flowtrack::actors {
namespace {

namespace hk = storage::housekeeping;

using hk_tick_atom = caf::atom_constant<caf::atom("hk_tick")>;

// When each job last ran to its end with nothing deferred, in Unix seconds (0: not yet here).
std::array<std::atomic<double>, hk::k_jobs.size()>& last_success() {
  static std::array<std::atomic<double>, hk::k_jobs.size()> at{};
  static bool registered = [] {
    metrics::global().gauge("flowtrack_housekeeping_last_success_timestamp_seconds",
                            "When this node last ran a housekeeping job to its end with nothing deferred (Unix time).",
                            {"job"}, [] {
                              std::vector<metrics::gauge_reading> out;
                              for (std::size_t i = 0; i < hk::k_jobs.size(); ++i)
                                if (double t = at[i].load(std::memory_order_relaxed); t > 0)
                                  out.push_back({{std::string(hk::name_of(hk::k_jobs[i]))}, t});
                              return out;
                            });
    return true;
  }();
  (void)registered;
  return at;
}

struct housekeeping_metrics {
  metrics::family<metrics::counter>& runs = metrics::global().counters(
      "flowtrack_housekeeping_runs_total", "Housekeeping runs this node made, by job and outcome (ok, deferred, failed).",
      {"job", "outcome"});
  metrics::family<metrics::counter>& rows = metrics::global().counters(
      "flowtrack_housekeeping_rows_total", "Rows housekeeping deleted (login attempts, tokens) or trimmed (webhook bodies).",
      {"job"});
  metrics::family<metrics::counter>& partitions = metrics::global().counters(
      "flowtrack_housekeeping_partitions_total", "execution_logs partitions housekeeping created or dropped.", {"action"});
};

housekeeping_metrics& hk_metrics() {
  static housekeeping_metrics m;
  return m;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One run of one job, carried from pool job to pool job by its own callbacks: claim the lease,
// then one step a job (renewing the lease first) until none is left, then give the lease back.
class job_runner : public std::enable_shared_from_this<job_runner> {
 public:
  job_runner(pg::pool& pool, hk::job which, hk::lease_terms terms, const hk::options& opts,
             std::shared_ptr<std::atomic<bool>> running)
      : pool_(pool), which_(which), terms_(std::move(terms)), run_(which, opts), running_(std::move(running)) {}

  void start() {
    auto self = shared_from_this();
    // Background work: when the pool's queue is full, this run waits for the next look.
    pool_.try_submit([self](pg::connection& c) { return hk::claim_lease(c, self->which_, self->terms_); },
                     [self](result<bool> claimed) {
                       if (!claimed) {
                         spdlog::warn("housekeeping: cannot claim the {} lease: {}", hk::name_of(self->which_),
                                      claimed.err().message);
                         return self->running_->store(false);
                       }
                       if (!*claimed) {
                         spdlog::debug("housekeeping: {} is not due or another node runs it", hk::name_of(self->which_));
                         return self->running_->store(false);
                       }
                       self->started_ = std::chrono::steady_clock::now();
                       self->next();
                     },
                     /*retry_safe=*/true);
  }

 private:
  void next() {
    auto self = shared_from_this();
    // A step is safe to repeat (its batch is picked again, its partition looked at again).
    pool_.submit(
        [self](pg::connection& c) -> result<bool> {
          auto kept = hk::renew_lease(c, self->which_, self->terms_);
          if (!kept) return kept.err();
          if (!*kept)
            return make_error(error_code::conflict, "the lease passed to another node (this one was too slow to renew it)",
                              "housekeeping_leases");
          return self->run_.step(c);
        },
        [self](result<bool> more) {
          if (!more) return self->finish(more.err());
          if (*more) return self->next();
          self->finish(std::nullopt);
        },
        /*retry_safe=*/true);
  }

  void finish(std::optional<error> failure) {
    const hk::report& r = run_.progress();
    auto name = std::string(hk::name_of(which_));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count();
    auto& m = hk_metrics();
    std::string outcome = failure ? "failed" : std::string(r.outcome());
    m.runs.at({name, outcome}).add();
    if (r.rows > 0) m.rows.at({name}).add(static_cast<std::uint64_t>(r.rows));
    if (r.partitions_created > 0) m.partitions.at({"created"}).add(static_cast<std::uint64_t>(r.partitions_created));
    if (!r.partitions_dropped.empty()) m.partitions.at({"dropped"}).add(r.partitions_dropped.size());
    if (!failure && r.deferred.empty())
      last_success()[static_cast<std::size_t>(which_)].store(unix_now(), std::memory_order_relaxed);
    if (failure) {
      spdlog::warn("housekeeping: {} failed after {} ms: {} (done before: {})", name, ms, failure->message, r.to_json());
    } else {
      std::string deferred;
      for (const auto& d : r.deferred) deferred += (deferred.empty() ? "" : ", ") + d;
      spdlog::info("housekeeping: {} {} in {} ms: {} rows in {} batches, {} partitions created, {} dropped{}", name, outcome,
                   ms, r.rows, r.batches, r.partitions_created, r.partitions_dropped.size(),
                   deferred.empty() ? "" : "; lock not granted, next run: " + deferred);
    }
    auto self = shared_from_this();
    pool_.submit([self, failure](pg::connection& c) {
                   return hk::release_lease(c, self->which_, self->terms_.holder, self->run_.progress(), failure);
                 },
                 [self](result<void> released) {
                   if (!released)
                     spdlog::warn("housekeeping: cannot give back the {} lease (it frees itself in {} s): {}",
                                  hk::name_of(self->which_), self->terms_.ttl.count(), released.err().message);
                   self->running_->store(false);
                 },
                 /*retry_safe=*/true);
  }

  pg::pool& pool_;
  hk::job which_;
  hk::lease_terms terms_;
  hk::job_run run_;
  std::shared_ptr<std::atomic<bool>> running_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace

caf::behavior housekeeping_actor(caf::event_based_actor* self, housekeeping_deps deps) {
  (void)hk_metrics();
  (void)last_success();
  // Whether a run of each job is under way on this node; cleared by the run's last callback.
  auto running = std::make_shared<std::array<std::shared_ptr<std::atomic<bool>>, hk::k_jobs.size()>>();
  for (auto& r : *running) r = std::make_shared<std::atomic<bool>>(false);
  auto look_every = std::min<std::chrono::seconds>(deps.interval, std::chrono::seconds(60));
  self->delayed_send(self, std::min<std::chrono::seconds>(deps.interval, std::chrono::seconds(30)), hk_tick_atom::value);
  hk::lease_terms terms{deps.node_id, deps.interval, deps.lease_ttl};
  hk::lease_terms stats_terms{deps.node_id, std::min(deps.interval, deps.daily_stats_interval), deps.lease_ttl};
  return {
      [=](hk_tick_atom) {
        for (std::size_t i = 0; i < hk::k_jobs.size(); ++i) {
          auto& flag = (*running)[i];
          if (flag->exchange(true)) continue;  // the last run is still going
          std::make_shared<job_runner>(*deps.postgres, hk::k_jobs[i], hk::k_jobs[i] == hk::job::daily_stats ? stats_terms : terms,
                                       deps.options, flag)
              ->start();
        }
        self->delayed_send(self, look_every, hk_tick_atom::value);
      },
  };
}

}  // namespace flowtrack::actors
