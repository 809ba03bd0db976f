// What the actors count in /metrics about triggers, steps and executions.
#pragma once

#include <string_view>

#include "domain/intake.hpp"
#include "domain/records.hpp"
#include "runtime/catalog.hpp"

namespace flowtrack::actors {

/// Counts a trigger made durable, or one refused (`reason`: an error code's name, "honeypot",
/// "rate_limited"), by how it arrived.
void count_trigger_accepted(domain::trigger_kind k);
void count_trigger_rejected(domain::trigger_kind k, std::string_view reason);

/// Time a step took, by node type.
void observe_step(runtime::node_type t, double seconds);
/// Counts an execution that reached `status` on this node.
void count_execution(domain::execution_status status);

}  // namespace flowtrack::actors
