// The execution state machine: from a checkpoint and the last step's result, what comes next
// (execute node N, park until T, complete, fail). Pure and deterministic: no clock, no I/O, no
// randomness beyond a seed in the checkpoint. Actions are performed by the caller (the run
// actor), never here; conditions, splits, delays and waits are evaluated here.
//
// Paths: a node's enabled outgoing edges on the taken handle are all followed (fan-out), each
// only when its condition holds; when none holds that path ends. A node runs at most once per
// execution: a node reached by a second path is not run again (paths merge), which keeps
// idempotency keys (execution id + node id) unique. A disabled node is recorded as skipped and
// the run passes through it, except a disabled condition or split, where the path ends.
// LOGIC_END ends its own path; other fanned-out paths continue.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "runtime/compiled_graph.hpp"
#include "runtime/error.hpp"
#include "runtime/lead.hpp"

namespace flowtrack::runtime {

/// A node waiting to run: when it may run and which attempt it is (1-based).
struct pending_node {
  node_index node = k_no_node;
  std::int64_t ready_at_ms = 0;
  std::uint32_t attempt = 1;
  friend bool operator==(const pending_node&, const pending_node&) = default;
};

/// Where an execution stands.
enum class run_status : std::uint8_t { running, completed, failed };
/// "running", "completed", "failed".
std::string_view to_string(run_status s);

/// Everything needed to continue an execution after a crash: persist it after every step.
struct checkpoint {
  run_status status = run_status::running;
  std::vector<pending_node> frontier;   ///< nodes to run, in arrival order
  std::vector<std::uint64_t> visited;   ///< bit per node: already scheduled once
  std::uint32_t steps = 0;              ///< steps taken so far
  node_index in_flight = k_no_node;     ///< an action handed to the caller, not yet reported
  std::uint32_t in_flight_attempt = 0;
  std::optional<lead_patch> in_flight_patch;  ///< what the in-flight action changes on success
  std::uint64_t seed = 0;               ///< for retry jitter
  std::string failure;                  ///< why the run failed
  lead subject;                         ///< the lead, with patches of completed actions applied
  boost::json::value trigger;           ///< trigger data

  /// JSON for storage (node ids, not indices, so it reads back against a recompiled graph).
  boost::json::object to_json(const compiled_graph& g) const;
  /// Reads to_json's output back; invalid when it names nodes the graph does not have.
  static result<checkpoint> from_json(const boost::json::value& v, const compiled_graph& g);
};

/// An action for the caller to perform, with its config rendered. Reuse one object across steps
/// to keep buffers.
struct action_request {
  node_index node = k_no_node;
  node_type type = node_type::action_send_email;
  std::string node_id;
  std::string idempotency_key;  ///< execution id + node id
  std::uint32_t attempt = 1;
  std::int64_t timeout_ms = 0;
  // Rendered config; which fields are set depends on the type.
  std::string to, subject, text_body, html_body, from_name, reply_to;  ///< emails
  std::string key;    ///< ACTION_SET_FIELD field key
  std::string value;  ///< status, tag, field value, user id, or endpoint id
  std::int64_t delta = 0;  ///< ACTION_UPDATE_SCORE
  std::string payload;     ///< ACTION_SEND_WEBHOOK body (JSON text)
  std::vector<std::string> unknown_variables;  ///< template variables that rendered empty

  /// The lead change this action makes, if it is lead-mutating.
  std::optional<lead_patch> patch() const;
  /// The rendered config as JSON (the step's input/output in a dry run).
  boost::json::object to_json() const;
};

/// What the caller must do next.
enum class decision_kind : std::uint8_t {
  execute,    ///< perform the action_request, then call report()
  evaluated,  ///< the runtime ran a node itself (record the step), call next() again
  park,       ///< nothing to do before resume_at_ms: persist, sleep, call next() then
  complete,   ///< the execution is done
  fail,       ///< the execution failed (checkpoint.failure says why)
};

/// Status of a recorded step (`execution_steps.status`).
enum class step_status : std::uint8_t { completed, skipped };

/// The answer of next().
struct decision {
  decision_kind kind = decision_kind::complete;
  node_index node = k_no_node;   ///< execute / evaluated
  step_status status = step_status::completed;
  std::int64_t resume_at_ms = 0;  ///< park: when; evaluated delay/wait: when the path resumes
  int branch = -1;                ///< condition / split: the handle index taken
  bool condition_result = false;  ///< condition: the outcome
  std::uint32_t followed = 0;     ///< edges followed to new nodes
  const char* skip_reason = nullptr;  ///< skipped: why (a disabled node, an unsubscribed lead)
};

/// The output JSON of an evaluated step, e.g. {"result":true,"handle":"qualified"} or
/// {"resumeAt":"2025-03-10T09:00:00Z"}.
boost::json::object step_output(const compiled_graph& g, const decision& d);

/// The result of an action, as the caller reports it.
struct action_result {
  bool ok = true;
  boost::json::value output;  ///< on success
  error failure;              ///< on failure; transient() failures are retried per the policy
  bool retryable() const { return !ok && (failure.transient() || failure.code == error_code::internal); }
};

/// What report() did.
enum class report_outcome : std::uint8_t { completed, retry_scheduled, failed, nothing_in_flight };

/// Largest number of steps one execution may take (a guard; graphs are acyclic anyway).
inline constexpr std::uint32_t k_max_steps = 100000;

/// A new execution at `trigger` (an enabled trigger node). `seed` drives retry jitter; derive it
/// from the execution id (e.g. stable_hash) so it is the same after recovery.
checkpoint start(const compiled_graph& g, node_index trigger, lead subject, boost::json::value trigger_data,
                 std::uint64_t seed, std::int64_t now_ms);

/// The next thing to do at `now_ms`. Fills `request` for decision_kind::execute. Calling it
/// again before report() re-issues the same action (recovery after a crash).
decision next(const compiled_graph& g, checkpoint& cp, const run_env& env, std::int64_t now_ms,
              action_request& request);

/// Reports the in-flight action's result: success applies its lead patch and follows its edges;
/// a retryable failure schedules the next attempt with backoff; otherwise the run fails.
report_outcome report(const compiled_graph& g, checkpoint& cp, const run_env& env, const action_result& result,
                      std::int64_t now_ms);

/// When a LOGIC_DELAY reached at `now_ms` resumes (days as calendar days in `zone`).
std::int64_t delay_until(const delay_config& c, std::int64_t now_ms, const time_zone& zone);
/// When a LOGIC_WAIT_UNTIL reached at `now_ms` resumes (now when already due or inside the window).
std::int64_t wait_until(const wait_config& c, std::int64_t now_ms, const time_zone& zone);
/// The next time a TRIGGER_SCHEDULE node fires strictly after `after_ms` (UTC ms), in its own
/// "timezone" or else `workspace_zone`; nothing for other nodes or a schedule that never fires.
std::optional<std::int64_t> next_fire_ms(const compiled_graph& g, node_index trigger, std::int64_t after_ms,
                                         const time_zone& workspace_zone);
/// The branch index a lead takes in a split (stable per lead and node).
std::size_t split_branch(const split_config& c, const lead& subject, std::string_view node_id);

}  // namespace flowtrack::runtime
