#include "actors/wire.hpp"

namespace flowtrack::actors {

void add_wire_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<forward_batch>("ft_forward_batch");
  cfg.add_message_type<forward_replies>("ft_forward_replies");
  cfg.add_message_type<resume_request>("ft_resume_request");
  cfg.add_message_type<domain::trigger_record>("ft_trigger_record");
  cfg.add_message_type<domain::run_record>("ft_run_record");
}

}  // namespace flowtrack::actors
