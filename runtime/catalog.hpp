// The node catalog: every node type, its category, its config schema, how its config is
// validated and compiled, and its output handles. Knows templates, conditions, cron and zones;
// must not know graphs as a whole (compiled_graph.hpp), stepping, or I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "runtime/condition.hpp"
#include "runtime/cron.hpp"
#include "runtime/problem.hpp"
#include "runtime/template.hpp"
#include "runtime/tz.hpp"

namespace flowtrack::runtime {

/// Every node type a workflow can contain (`workflow_nodes.node_type`).
enum class node_type : std::uint8_t {
  trigger_form, trigger_email, trigger_webhook, trigger_manual, trigger_schedule,
  action_send_email, action_notify_owner, action_update_status, action_add_tag, action_remove_tag,
  action_set_field, action_update_score, action_assign, action_send_webhook,
  logic_delay, logic_wait_until, logic_condition, logic_split, logic_end,
};
inline constexpr std::size_t k_node_type_count = 19;

/// `workflow_nodes.node_category`.
enum class node_category : std::uint8_t { trigger, action, logic };

/// "TRIGGER_FORM" -> node_type::trigger_form.
std::optional<node_type> parse_node_type(std::string_view s);
/// The wire name, e.g. "ACTION_SEND_EMAIL".
std::string_view to_string(node_type t);
/// The category of a type.
node_category category_of(node_type t);
/// "trigger", "action", "logic".
std::string_view to_string(node_category c);
/// Whether the type starts a workflow.
inline bool is_trigger(node_type t) { return category_of(t) == node_category::trigger; }
/// Whether the caller must perform the node (a side effect or a lead change); all other nodes
/// the runtime evaluates itself.
inline bool is_action(node_type t) { return category_of(t) == node_category::action; }

/// When and how a failed action is tried again. Backoff doubles from `initial_backoff_ms` up to
/// `max_backoff_ms`, spread by +-`jitter` (a fraction) from a deterministic seed.
struct retry_policy {
  std::uint32_t max_attempts = 3;  ///< total attempts, >= 1
  std::int64_t initial_backoff_ms = 1000;
  std::int64_t max_backoff_ms = 60000;
  double jitter = 0.2;

  /// The wait before attempt `next_attempt` (2 for the first retry); `seed` picks the jitter.
  std::int64_t backoff_ms(std::uint32_t next_attempt, std::uint64_t seed) const;
};

// Compiled configs, one per type family. Templates are compiled; nothing is parsed per step.

/// TRIGGER_FORM / EMAIL / WEBHOOK / MANUAL.
struct trigger_config {
  std::string form_id;  ///< optional "formId"
};
/// TRIGGER_SCHEDULE: "cron" (5 fields) and optional "timezone" (default: the workspace's).
struct schedule_config {
  cron_schedule cron;
  std::string zone_name;                    ///< empty: the workspace zone
  std::shared_ptr<const time_zone> zone;    ///< resolved when a zone database was given
};
/// ACTION_SEND_EMAIL: "to" (default {{lead.email}}), "emailSubject", "emailBody" (text),
/// "emailHtmlBody", "fromName", "replyTo". ACTION_NOTIFY_OWNER uses the same keys; "to" is the
/// workspace owner.
struct email_config {
  text_template to, subject, text_body, html_body, from_name, reply_to;
};
/// ACTION_UPDATE_STATUS "status", ACTION_ADD_TAG / ACTION_REMOVE_TAG "tag", ACTION_ASSIGN
/// "userId", ACTION_SET_FIELD "fieldKey" + "value": one templated value and an optional key.
struct value_config {
  std::string key;
  text_template value;
};
/// ACTION_UPDATE_SCORE: "delta" (+-n), or "operation" ("add"|"subtract") with "amount".
struct score_config {
  std::int64_t delta = 0;
};
/// ACTION_SEND_WEBHOOK: "endpointId", optional "payload" template (JSON text; substituted
/// values are JSON-escaped). Without a payload the default lead payload is sent.
struct webhook_config {
  std::string endpoint_id;
  std::optional<text_template> payload;
};
/// LOGIC_DELAY: "delayDays", "delayHours", "delayMinutes". Days are calendar days in the
/// workspace zone (09:00 stays 09:00 across a DST change); hours and minutes are elapsed time.
struct delay_config {
  std::int64_t days = 0, hours = 0, minutes = 0;
};
/// LOGIC_WAIT_UNTIL: "until" (ISO date-time; without an offset it is workspace-local), or
/// "weekdays" (["MON",...] or 0-6 with 0 = Sunday) with "startHour" and "endHour" (exclusive,
/// default startHour + 1): resume at once inside the window, else at the next window start.
struct wait_config {
  std::string until;  ///< as written; empty for the weekday form
  std::optional<std::int64_t> until_utc_ms;  ///< when "until" carries an offset
  std::uint8_t weekdays = 0;  ///< bit per weekday, 0 = Sunday
  int start_hour = 9, end_hour = 10;
};
/// LOGIC_CONDITION: a condition plus "trueHandle" (default "true") and "falseHandle"
/// (default "false").
struct condition_config {
  runtime::condition test;
  std::string true_handle = "true";
  std::string false_handle = "false";
};
/// LOGIC_SPLIT: "branches": [{"handle","percent"}...] summing to 100, or "percentA" with
/// handles "a" and "b". A lead always takes the same branch.
struct split_config {
  std::vector<std::string> handles;
  std::vector<std::uint32_t> cumulative;  ///< running percent totals, last is 100
};
/// LOGIC_END has no config.
struct end_config {};

/// A node's compiled config.
using node_config = std::variant<std::monostate, trigger_config, schedule_config, email_config, value_config,
                                 score_config, webhook_config, delay_config, wait_config, condition_config,
                                 split_config, end_config>;

/// What config compilation may consult.
struct config_options {
  const time_zone_db* zones = nullptr;  ///< to check "timezone" names; none: syntax only
};

/// Compiles and validates a node's config (`data`), appending problems (tagged with `node_id`).
/// Returns the compiled config even when there were problems (with defaults in their place).
node_config compile_config(node_type t, const boost::json::object& data, std::string_view node_id,
                           const config_options& opts, std::vector<problem>& problems);

/// Reads the retry policy and timeout common to all actions: "retry": {"attempts",
/// "backoffMs", "maxBackoffMs", "jitter"} and "timeoutMs" (default 30000).
void compile_retry(node_type t, const boost::json::object& data, std::string_view node_id, retry_policy& retry,
                   std::int64_t& timeout_ms, std::vector<problem>& problems);

/// The output handles of a node, in branch order. Empty for LOGIC_END; one unnamed handle ("")
/// for nodes with a single output, which accepts an edge with any sourceHandle.
std::vector<std::string> output_handles(node_type t, const node_config& config);

/// One documented config key of a node type.
struct config_key {
  std::string_view name;
  std::string_view kind;  ///< "template", "string", "integer", "condition", "cron", ...
  bool required = false;
  std::string_view description;
};
/// A catalog entry: the type, its category, what it does, and its config keys.
struct node_type_info {
  node_type type;
  std::string_view description;
  std::span<const config_key> config;
};
/// Every type, in declaration order.
std::span<const node_type_info> node_catalog();
/// The catalog as JSON for the editor: [{"type","category","description","config":[...]}].
boost::json::array node_catalog_json();

}  // namespace flowtrack::runtime
