// Ingress hand-off benchmark: what it costs to hand a request to an actor and get its answer
// back on another thread, the way HTTP routes do — the old way (a short-lived helper actor per
// request that asks with request/then) beside reply slots (one message carrying the slot, the
// actor answers it). No servers; an echo actor stands for the workspace registry. Prints one
// JSON line per way: round trips/s and process CPU µs per round trip, 64 in flight.
//   ask_bench [--seconds N] [--inflight N]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>

#include <sys/resource.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/engine.hpp"
#include "actors/reply.hpp"

using namespace flowtrack;
using clk = std::chrono::steady_clock;
using echo_reply = result<int>;
using echo_reply_to = actors::reply_to<echo_reply>;
using echo_atom = caf::atom_constant<caf::atom("echo")>;

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<int>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(echo_reply_to)

namespace {

class bench_config : public caf::actor_system_config {
 public:
  bench_config() { actors::configure_engine(*this, 2); }
};

caf::behavior echo(caf::event_based_actor*) {
  return {
      [](echo_atom, int v) { return echo_reply(v); },
      [](echo_atom, int v, echo_reply_to& to) { to->deliver(echo_reply(v)); },
  };
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Runs `inflight` closed loops for `seconds`: each answer sends the next request.
template <class Send>
void run(const char* way, double seconds, int inflight, Send send) {
  std::atomic<std::uint64_t> done{0};
  std::atomic<int> loops{inflight};
  std::promise<void> all_stopped;
  auto end = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds));
  std::function<void()> next;
  std::function<void(echo_reply)> on_answer = [&](echo_reply r) {
    if (r.ok()) ++done;
    if (clk::now() < end) return next();
    if (--loops == 0) all_stopped.set_value();
  };
  next = [&] { send(on_answer); };
  double cpu0 = cpu_seconds();
  auto t0 = clk::now();
  for (int i = 0; i < inflight; ++i) next();
  all_stopped.get_future().wait();
  double wall = std::chrono::duration<double>(clk::now() - t0).count();
  double cpu = cpu_seconds() - cpu0;
  std::printf(R"({"bench":"ask","way":"%s","inflight":%d,"round_trips_per_s":%.0f,"cpu_us_per_round_trip":%.2f})" "\n", way,
              inflight, static_cast<double>(done.load()) / wall, cpu * 1e6 / static_cast<double>(done.load()));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int inflight = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (k == "--inflight") inflight = std::atoi(argv[i + 1]);
  }
  bench_config cfg;
  caf::actor_system system(cfg);
  auto registry = system.spawn(echo);
  actors::reply_deadlines deadlines(std::chrono::seconds(30), 1024);
  for (int round = 0; round < 2; ++round) {
    run("helper_actor_per_request", seconds, inflight, [&](std::function<void(echo_reply)>& then) {
      system.spawn(
          [](caf::event_based_actor* self, caf::actor target, std::function<void(echo_reply)> then) {
            self->request(target, std::chrono::seconds(30), echo_atom::value, 1)
                .then([=](echo_reply& r) { then(std::move(r)); },
                      [=](caf::error&) { then(echo_reply(make_error(error_code::unavailable, "no answer"))); });
          },
          registry, then);
    });
    run("reply_slot", seconds, inflight, [&](std::function<void(echo_reply)>& then) {
      std::function<void(echo_reply)> cb = then;
      auto slot = deadlines.try_make<echo_reply>(cb);
      if (!slot) return then(echo_reply(make_error(error_code::unavailable, "busy")));
      caf::anon_send(registry, echo_atom::value, 1, std::move(slot));
    });
  }
  caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  return 0;
}
