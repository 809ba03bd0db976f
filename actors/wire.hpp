// The messages that may cross nodes, and their CAF `inspect` overloads: what an ingress node
// forwards to a workspace's owner (a batch of triggers for its writer) and what comes back (one
// outcome per trigger), plus the run records and resume requests an owner may receive. Every
// type here is serialisable (no CAF_ALLOW_UNSAFE_MESSAGE_TYPE), registered by `add_wire_types`
// under a stable name, and positional: fields are written in declaration order.
//
// Versions. A forwarded batch carries the sender's wire version. A node reads every version from
// k_wire_version_min to k_wire_version, so nodes of adjacent releases talk as long as the older
// one's range reaches the newer one's minimum; a sender addresses a peer with the lowest version
// both know (peers exchange their ranges when they join). A field added later is read only when
// the batch's version has it (`if (version >= N)`), never by changing an existing position. A
// batch of a version this node does not know is refused as a whole, not half read.
//
// std::optional and boost::json travel through the small wrappers below (CAF 0.17 knows
// caf::optional, not std::optional).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/sec.hpp>
#include <caf/typed_actor.hpp>

#include "domain/records.hpp"
#include "runtime/error.hpp"
#include "storage/ingest.hpp"
#include "storage/redis/delay_queue.hpp"

namespace flowtrack::actors {

/// The wire versions this build reads; it writes k_wire_version unless a peer needs older.
inline constexpr std::uint16_t k_wire_version_min = 1;
inline constexpr std::uint16_t k_wire_version = 1;

/// Wraps a std::optional for an inspector: a flag, then the value when set.
template <class T>
struct optional_field {
  std::optional<T>& v;

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, optional_field& x) {
    if constexpr (Inspector::reads_state) {
      bool set = x.v.has_value();
      if (set) return f(set, *x.v);
      return f(set);
    } else {
      bool set = false;
      if (auto err = f(set)) return err;
      if (!set) {
        x.v.reset();
        return {};
      }
      T value{};
      if (auto err = f(value)) return err;
      x.v = std::move(value);
      return {};
    }
  }
};

template <class T>
optional_field<T> opt(std::optional<T>& v) {
  return {v};
}

/// A batch of triggers forwarded by an ingress node to the owner of their workspaces' shard,
/// for its writer: each becomes durable there (fenced by the owner's lease) or fails alone.
struct forward_batch {
  std::uint16_t version = k_wire_version;
  std::vector<domain::trigger_record> triggers;
};

/// One answer per forwarded trigger, in order: the outcome after the owner's commit, or why not.
struct forward_replies {
  std::uint16_t version = k_wire_version;
  std::vector<result<storage::ingest_outcome>> outcomes;
};

/// A request to continue an execution, optionally holding the delay-queue claim to ack.
struct resume_request {
  std::string workspace_id;
  std::string execution_id;
  std::optional<redis::claimed> claim;
};

using forward_atom = caf::atom_constant<caf::atom("ft_fwd")>;  ///< an owner: make this batch durable


/// Registers every type above (and the nested ones) with CAF under stable names, so they can be
/// sent to actors on other nodes. Call before the actor system is made.
void add_wire_types(caf::actor_system_config& cfg);

namespace detail {
/// Refuses a version this build cannot read (deserialising only).
template <class Inspector>
typename Inspector::result_type check_version(Inspector& f, std::uint16_t& version) {
  if constexpr (Inspector::reads_state) {
    return f(version);
  } else {
    if (auto err = f(version)) return err;
    if (version < k_wire_version_min || version > k_wire_version) return caf::make_error(caf::sec::incompatible_versions);
    return {};
  }
}
}  // namespace detail

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_batch& x) {
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("ft_forward_batch"), x.version, x.triggers);
  } else {
    if (auto err = detail::check_version(f, x.version)) return err;
    return f(x.triggers);
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_replies& x) {
  // A result has no empty state, so the list is a count and then each outcome, built as read.
  if constexpr (Inspector::reads_state) {
    auto n = static_cast<std::uint32_t>(x.outcomes.size());
    if constexpr (std::is_same_v<typename Inspector::result_type, void>) {
      f(caf::meta::type_name("ft_forward_replies"), x.version, n);
      for (auto& o : x.outcomes) f(o);
    } else {
      if (auto err = f(caf::meta::type_name("ft_forward_replies"), x.version, n)) return err;
      for (auto& o : x.outcomes)
        if (auto err = f(o)) return err;
      return {};
    }
  } else {
    std::uint32_t n = 0;
    if (auto err = detail::check_version(f, x.version)) return err;
    if (auto err = f(n)) return err;
    x.outcomes.clear();
    x.outcomes.reserve(std::min<std::uint32_t>(n, 4096));
    for (std::uint32_t i = 0; i < n; ++i) {
      result<storage::ingest_outcome> o(storage::ingest_outcome{});
      if (auto err = f(o)) return err;
      x.outcomes.push_back(std::move(o));
    }
    return {};
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resume_request& x) {
  return f(caf::meta::type_name("ft_resume_request"), x.workspace_id, x.execution_id, opt(x.claim));
}

}  // namespace flowtrack::actors

// The nested types, each in its own namespace so that CAF finds them by argument lookup.

namespace flowtrack {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, error& x) {
  return f(caf::meta::type_name("ft_error"), x.code, x.message, x.subject);
}

/// A result travels as a flag (ok), then the value or the error.
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, result<T>& x) {
  if constexpr (Inspector::reads_state) {
    bool ok = x.ok();
    if (ok) {
      if constexpr (std::is_same_v<T, bool>) {
        bool v = x.value();
        return f(ok, v);
      } else {
        return f(ok, x.value());
      }
    }
    error e = x.err();
    return f(ok, e);
  } else {
    bool ok = false;
    if (auto err = f(ok)) return err;
    if (ok) {
      T v{};
      if (auto err = f(v)) return err;
      x = result<T>(std::move(v));
    } else {
      error e;
      if (auto err = f(e)) return err;
      x = result<T>(std::move(e));
    }
    return {};
  }
}

}  // namespace flowtrack

namespace flowtrack::domain {

using actors::opt;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, field_value& x) {
  return f(caf::meta::type_name("ft_field_value"), x.form_field_id, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_write& x) {
  return f(caf::meta::type_name("ft_step_write"), x.id, x.workflow_node_id, x.step_number, x.status, opt(x.started_at),
           opt(x.completed_at), opt(x.duration_ms), opt(x.input_data), opt(x.output_data), opt(x.error_message),
           opt(x.error_details), x.retry_count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lead_event_write& x) {
  return f(caf::meta::type_name("ft_lead_event_write"), x.event_type, x.event_category, x.description, opt(x.metadata));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_write& x) {
  return f(caf::meta::type_name("ft_log_write"), x.level, x.category, x.message, opt(x.details), opt(x.node_type),
           opt(x.step_id));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lead_change& x) {
  return f(caf::meta::type_name("ft_lead_change"), opt(x.status), x.add_tags, x.remove_tags, x.score_delta,
           opt(x.assigned_to), opt(x.name), opt(x.company_name), opt(x.phone), x.fields, x.email_sent);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_record& x) {
  return f(caf::meta::type_name("ft_run_record"), x.execution_id, x.workspace_id, x.workflow_id, opt(x.lead_id),
           x.lock_token, x.seq, x.status, opt(x.started_at), opt(x.completed_at), opt(x.duration_ms),
           opt(x.output_data), opt(x.error_message), opt(x.checkpoint), opt(x.resume_at), opt(x.lock_acquired_at),
           opt(x.lock_released_at), x.steps, x.lead, x.events, x.logs, x.emails_sent);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, quota_limits& x) {
  return f(caf::meta::type_name("ft_quota_limits"), opt(x.executions), opt(x.leads), x.period_start, x.period_end);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, trigger_record& x) {
  return f(caf::meta::type_name("ft_trigger_record"), x.workspace_id, x.workflow_id, opt(x.workflow_version),
           x.trigger_type, opt(x.trigger_node_id), x.event_type, x.source, x.email, opt(x.name), opt(x.company_name),
           opt(x.phone), opt(x.source_metadata), opt(x.trigger_data), opt(x.idempotency_key), x.fields,
           x.rerun_on_resubmit, x.quotas, x.execution_id, x.lead_id, x.event_id, opt(x.settled));
}

}  // namespace flowtrack::domain

namespace flowtrack::storage {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_outcome& x) {
  return f(caf::meta::type_name("ft_ingest_outcome"), x.lead_id, actors::opt(x.execution_id), x.lead_created,
           x.duplicate, x.settled, x.event_id);
}

}  // namespace flowtrack::storage

namespace flowtrack::redis {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claimed& x) {
  return f(caf::meta::type_name("ft_claimed"), x.id, x.due_ms, x.token, x.attempt);
}

}  // namespace flowtrack::redis
