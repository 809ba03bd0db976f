#include "actors/counters.hpp"

#include <array>
#include <string>

#include "metrics/metrics.hpp"

namespace flowtrack::actors {

void count_trigger_accepted(domain::trigger_kind k) {
  static auto& accepted = metrics::global().counters("flowtrack_triggers_accepted_total",
                                                     "Triggers made durable, by how they arrived.", {"trigger"});
  accepted.at({std::string(to_string(k))}).add();
}

void count_trigger_rejected(domain::trigger_kind k, std::string_view reason) {
  static auto& rejected = metrics::global().counters(
      "flowtrack_triggers_rejected_total", "Triggers refused, by how they arrived and why.", {"trigger", "reason"});
  rejected.at({std::string(to_string(k)), std::string(reason)}).add();
}

void observe_step(runtime::node_type t, double seconds) {
  // Looked up once per type (the family's lookup takes a mutex).
  static const auto table = [] {
    auto& fam = metrics::global().histograms("flowtrack_step_duration_seconds",
                                             "Time a step took, by node type (side effects include their I/O).", {"node_type"});
    std::array<metrics::histogram*, runtime::k_node_type_count> out{};
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = &fam.at({std::string(runtime::to_string(static_cast<runtime::node_type>(i)))});
    return out;
  }();
  table[static_cast<std::size_t>(t)]->observe(seconds);
}

void count_execution(domain::execution_status status) {
  static auto& fam = metrics::global().counters("flowtrack_executions_total",
                                                "Executions that reached a status on this node.", {"status"});
  static auto& completed = fam.at({"completed"});
  static auto& failed = fam.at({"failed"});
  static auto& paused = fam.at({"paused"});
  switch (status) {
    case domain::execution_status::completed: completed.add(); break;
    case domain::execution_status::failed: failed.add(); break;
    case domain::execution_status::paused: paused.add(); break;
    default: fam.at({std::string(to_string(status))}).add();
  }
}

}  // namespace flowtrack::actors
