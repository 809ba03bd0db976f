#include "actors/supervisor.hpp"

#include <caf/actor_clock.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>
#include <spdlog/spdlog.h>

namespace flowtrack::actors {
namespace {

using self_ptr = caf::stateful_actor<supervisor_state>*;
using restarts_atom = caf::atom_constant<caf::atom("restarts")>;

void start_child(self_ptr self, std::size_t i) {
  auto& st = self->state;
  auto child = st.specs[i].start(self);
  self->link_to(child);
  if (auto name = st.specs[i].registered_as) {
    // put() keeps an existing entry; a restarted child must replace its predecessor.
    self->system().registry().erase(*name);
    self->system().registry().put(*name, child);
  }
  st.children[i] = child;
}

}  // namespace

caf::behavior supervisor(self_ptr self, std::vector<child_spec> specs, int max_restarts, std::chrono::milliseconds window,
                         give_up_handler on_give_up) {
  self->state.specs = std::move(specs);
  self->state.children.resize(self->state.specs.size());
  for (std::size_t i = 0; i < self->state.specs.size(); ++i) start_child(self, i);
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    for (std::size_t i = 0; i < st.children.size(); ++i) {
      if (st.children[i].address() != msg.source) continue;
      if (!msg.reason || msg.reason == caf::exit_reason::normal) return;  // a child that ended its work
      spdlog::error("supervisor: {} crashed ({}); restarting it", st.specs[i].name, to_string(msg.reason));
      auto now = self->system().clock().now();  // the coordinator's clock: tests move it
      st.restarts.push_back(now);
      while (!st.restarts.empty() && now - st.restarts.front() > window) st.restarts.pop_front();
      if (static_cast<int>(st.restarts.size()) > max_restarts) {
        spdlog::critical("supervisor: more than {} restarts within {} ms; giving up", max_restarts, window.count());
        if (on_give_up) on_give_up(st.specs[i].name, to_string(msg.reason));
        return self->quit(msg.reason);
      }
      ++st.total_restarts;
      return start_child(self, i);
    }
    // Not from a child: a shutdown request. Linked children go down with us.
    self->quit(msg.reason);
  });
  return {
      [=](restarts_atom) { return self->state.total_restarts; },
  };
}

}  // namespace flowtrack::actors
