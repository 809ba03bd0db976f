// How a run steps without I/O, shared by the run actor and by intake. The stepper decides; this
// records each decision as the rows a run writes (steps, lead changes, events, logs). Intake uses
// it to settle a run that needs no I/O at all (conditions, status, tags, score) before the
// trigger's commit, so the execution is written finished in the same transaction as its lead.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "domain/clock.hpp"
#include "domain/records.hpp"
#include "domain/run_start.hpp"
#include "runtime/stepper.hpp"

namespace flowtrack::domain {

/// What templates and conditions of a run see about its execution, workflow and workspace.
runtime::run_env make_env(const run_start& s);

/// Where local stepping stopped.
enum class step_stop : std::uint8_t {
  side_effect,  ///< the request holds an action with I/O (email, webhook); nothing recorded for it yet
  park,         ///< nothing to do before decision.resume_at_ms
  complete,     ///< the run ended
  fail,         ///< the run failed (cp.failure says why)
  yield,        ///< the step limit was reached; call again
};

struct step_result {
  step_stop stop = step_stop::complete;
  runtime::decision decision;
};

/// Hears how long each step taken without I/O took (seconds, on the clock's monotonic reading).
using step_observer = std::function<void(runtime::node_type, double)>;

/// Takes the steps a run takes by itself, evaluated nodes and lead changes, and records them in
/// `out`, for at most `limit` steps.
step_result step_locally(const workflow_snapshot& wf, runtime::checkpoint& cp, const runtime::run_env& env,
                         runtime::action_request& request, run_record& out, const clock& time, std::uint32_t limit,
                         const step_observer& observe = {});

/// Adds the row of a step the run takes now at `idx`.
step_write& add_step(run_record& out, const workflow_snapshot& wf, const runtime::checkpoint& cp,
                     runtime::node_index idx, step_status status, std::int64_t now_ms);

/// Fills the end of a run: status, completion time, duration, output, checkpoint and the closing
/// log line. `failed_at`: the node that failed, if any.
void end_record(run_record& out, const workflow_snapshot& wf, const runtime::checkpoint& cp, bool failed,
                runtime::node_index failed_at, std::int64_t now_ms, std::int64_t created_at_ms);

/// A fresh run taken to its end at once, when it needs no I/O: the record to write with its
/// trigger (execution id, steps, lead changes, events, logs, final status). Nothing when the run
/// would perform an action with I/O, park, or cannot start.
std::optional<run_record> settle(const run_start& s, const clock& time, const step_observer& observe = {});

}  // namespace flowtrack::domain
