// The supervisor's behaviour on CAF's test coordinator: no threads, no servers, no sleeps; time
// moves only when the test advances the coordinator's clock.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "actors/supervisor.hpp"

namespace flowtrack::actors {
namespace {

using namespace std::chrono_literals;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;
const caf::atom_value k_child = caf::atom("t_child");

caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

// A child that crashes on request, as an uncaught error would end it, or ends its work.
// (It takes an argument: CAF 0.17 spawns a function actor without one through a null tuple
// pointer, which UBSan reports.)
caf::behavior crashing_child(caf::event_based_actor* self, int) {
  return {[=](crash_atom) { self->quit(caf::exit_reason::unhandled_exception); }, [=](finish_atom) { self->quit(); }};
}

// Records when the actor it watches goes down.
caf::behavior watcher(caf::event_based_actor* self, caf::actor target, std::shared_ptr<bool> down) {
  self->monitor(target);
  self->set_down_handler([down](caf::down_msg&) { *down = true; });
  return {[](crash_atom) {}};
}

class supervisor_on_test_coordinator : public ::testing::Test {
 protected:
  supervisor_on_test_coordinator()
      : sys_(testing_config(cfg_)), sched_(dynamic_cast<caf::scheduler::test_coordinator&>(sys_.scheduler())) {
    sched_.clock().current_time += std::chrono::hours(1);
  }
  ~supervisor_on_test_coordinator() override {
    if (sup_) caf::anon_send_exit(sup_, caf::exit_reason::user_shutdown);
    sched_.run();
  }

  void start(int max_restarts, std::chrono::milliseconds window) {
    std::vector<child_spec> specs{{"test child", [](caf::event_based_actor* p) { return p->spawn(crashing_child, 0); }, k_child}};
    sup_ = sys_.spawn(supervisor, std::move(specs), max_restarts, window,
                      give_up_handler([this](const std::string& child, const std::string& reason) {
                        gave_up_child_ = child;
                        gave_up_reason_ = reason;
                      }));
    sched_.run();
  }
  caf::actor child() { return sys_.registry().get<caf::actor>(k_child); }
  void crash_child() {
    caf::anon_send(child(), crash_atom::value);
    sched_.run();
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  caf::scheduler::test_coordinator& sched_;
  caf::actor sup_;
  std::string gave_up_child_, gave_up_reason_;
};

TEST_F(supervisor_on_test_coordinator, restarts_a_crashed_child_under_its_registered_name) {
  start(3, 60s);
  auto first = child();
  ASSERT_TRUE(first);
  crash_child();
  auto second = child();
  ASSERT_TRUE(second);
  EXPECT_NE(first, second);
  EXPECT_TRUE(gave_up_child_.empty());
}

TEST_F(supervisor_on_test_coordinator, gives_up_after_too_many_restarts_and_says_which_child_and_why) {
  start(2, 60s);
  auto sup_down = std::make_shared<bool>(false);
  auto sup_watcher = sys_.spawn(watcher, sup_, sup_down);  // held: an actor nobody holds ends
  sched_.run();
  crash_child();
  crash_child();
  EXPECT_TRUE(gave_up_child_.empty()) << "two restarts are allowed";
  EXPECT_FALSE(*sup_down);
  auto last = child();
  auto child_down = std::make_shared<bool>(false);
  auto child_watcher = sys_.spawn(watcher, last, child_down);
  sched_.run();
  crash_child();
  EXPECT_EQ(gave_up_child_, "test child");
  EXPECT_NE(gave_up_reason_.find("unhandled_exception"), std::string::npos) << gave_up_reason_;
  EXPECT_TRUE(*sup_down) << "the supervisor stops when it gives up";
  EXPECT_TRUE(*child_down);
  sup_ = nullptr;
}

TEST_F(supervisor_on_test_coordinator, crashes_spread_wider_than_the_window_never_add_up) {
  start(2, 10s);
  for (int i = 0; i < 6; ++i) {
    crash_child();
    sched_.clock().current_time += 6s;  // two crashes are never within 10 s of a third
  }
  EXPECT_TRUE(gave_up_child_.empty()) << "gave up although no window held more than two restarts";
  EXPECT_TRUE(child());
}

TEST_F(supervisor_on_test_coordinator, a_child_that_ends_normally_is_not_restarted) {
  start(2, 60s);
  auto first = child();
  caf::anon_send(first, finish_atom::value);
  sched_.run();
  EXPECT_EQ(child(), first) << "the registry still names the child that ended; no new one was started";
  EXPECT_TRUE(gave_up_child_.empty());
}

}  // namespace
}  // namespace flowtrack::actors
