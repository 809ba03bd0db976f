#include "actors/engine.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/scheduler.hpp"
#include "actors/storage_writer.hpp"
#include "actors/supervisor.hpp"
#include "actors/webhooks.hpp"
#include "actors/workspace.hpp"

namespace flowtrack::actors {

caf::actor start_engine(caf::actor_system& system, node_services* node, give_up_handler on_give_up) {
  std::vector<child_spec> children{
      {"storage writer", [node](caf::event_based_actor* p) { return p->spawn(storage_writer, node); }, k_writer_name},
      {"workspace registry", [node](caf::event_based_actor* p) { return p->spawn(workspace_registry, node); },
       k_registry_name},
      {"scheduler", [node](caf::event_based_actor* p) { return p->spawn(scheduler, node); }, std::nullopt},
      {"webhook pump", [node](caf::event_based_actor* p) { return p->spawn(webhook_pump, node); }, k_webhook_pump_name},
  };
  return system.spawn(supervisor, std::move(children), 5, std::chrono::milliseconds(60000), std::move(on_give_up));
}

caf::actor engine_registry(caf::actor_system& system) { return system.registry().get<caf::actor>(k_registry_name); }

void configure_engine(caf::actor_system_config& cfg, int worker_threads) {
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(worker_threads));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // Work sharing parks idle workers on a condition variable; the default work stealing polls
  // and sleeps, which cost a third of the CPU and added latency on two cores.
  cfg.set("scheduler.policy", caf::atom("sharing"));
}

}  // namespace flowtrack::actors
