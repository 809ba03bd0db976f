// The messages the engine's actors exchange: atoms and value types. Those declared here are
// local to a node (allowed as unsafe message types: no serialization); the ones that may cross
// nodes are in actors/wire.hpp, serialisable and versioned.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <boost/json/object.hpp>

#include "domain/intake.hpp"
#include "domain/run_start.hpp"
#include "runtime/error.hpp"
#include "storage/ingest.hpp"
#include "storage/redis/delay_queue.hpp"
#include "storage/runs.hpp"
#include "actors/wire.hpp"

namespace flowtrack::actors {

using ingest_atom = caf::atom_constant<caf::atom("ingest")>;       ///< writer: make a trigger durable
using record_atom = caf::atom_constant<caf::atom("record")>;       ///< writer: write a run record
using done_atom = caf::atom_constant<caf::atom("done")>;           ///< an I/O job finished
using trigger_atom = caf::atom_constant<caf::atom("trigger")>;     ///< workspace: a trigger arrived
using resume_atom = caf::atom_constant<caf::atom("resume")>;       ///< workspace: continue an execution
using reload_atom = caf::atom_constant<caf::atom("reload")>;       ///< workspace: workflows changed
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;       ///< a load finished
using tick_atom = caf::atom_constant<caf::atom("ft_tick")>;        ///< a timer fired (not "tick": CAF streams own that)
using lock_atom = caf::atom_constant<caf::atom("lock")>;           ///< run: lock answer
using action_atom = caf::atom_constant<caf::atom("action")>;       ///< run: side effect finished
using form_atom = caf::atom_constant<caf::atom("form")>;           ///< workspace: a public form, or a submission to it
using rated_atom = caf::atom_constant<caf::atom("rated")>;         ///< workspace: a rate-limit check finished
using mail_atom = caf::atom_constant<caf::atom("mail")>;           ///< workspace: an intake address, or a mail to it
/// Shards go to another node (cluster): start no more work for them, finish the steps and
/// deliveries in flight, answer once they ended.
using handoff_atom = caf::atom_constant<caf::atom("ft_handoff")>;

/// Registered names of the node's long-lived actors (looked up at use, so a restarted one is found).
inline const caf::atom_value k_writer_name = caf::atom("ft_writer");
inline const caf::atom_value k_registry_name = caf::atom("ft_wsreg");

/// A trigger for a workspace's workflow. Without a workspace id the registry finds it from the
/// workflow id. A webhook trigger presents the workflow's token.
struct trigger_request {
  std::string workspace_id;
  std::string workflow_id;
  domain::intake_request intake;
  std::optional<std::string> token;
};


/// A public form addressed as `/p/{slug}` or `/p/{slug}/{form}`: shown (no submission) or
/// submitted ({field key: value}).
struct form_request {
  std::string slug;  ///< the workspace's
  std::string form;  ///< the form's slug or workflow id; empty: the workspace's forms
  std::optional<boost::json::object> submission;
  std::string client_ip;
  std::string user_agent;
};

/// A form workflow with its workspace, as loaded (immutable, shared).
struct form_ref {
  std::shared_ptr<const domain::workspace_snapshot> workspace;
  std::shared_ptr<const domain::workflow_snapshot> workflow;
};

/// Mail to a workspace's intake address, `intake[+tag]@{intake_id}.{mail domain}`: without
/// `intake`, only whether the address takes mail (at RCPT); with it, the mail as a trigger for
/// each email workflow the address reaches (after DATA).
struct mail_request {
  std::string intake_id;  ///< the workspace's intake_email_id, lower-case
  std::string tag;        ///< picks one workflow by its id or form slug; empty: every email workflow
  std::string sender;     ///< the envelope sender (MAIL FROM), checked against allowedForwarders
  std::optional<domain::intake_request> intake;
  std::optional<domain::unparsed_mail> unparsed;  ///< instead of `intake`: a mail that cannot become a lead, to keep
};

/// The email workflows the address reaches; for a delivery, what became of the mail in each
/// (after its commit).
struct mail_reply {
  std::vector<std::string> workflows;
  std::vector<storage::ingest_outcome> accepted;
};
using mail_result = result<mail_reply>;

/// What became of a form request. Shown: `forms` holds the matches (several for a workspace
/// with several forms and no form named). Submitted: the one form, and either `accepted` (after
/// the commit), `errors` by field, or `retry_after` when a rate limit was hit.
struct form_reply {
  std::vector<form_ref> forms;
  std::vector<domain::field_error> errors;
  std::optional<storage::ingest_outcome> accepted;
  std::optional<std::chrono::milliseconds> retry_after;
};
using form_result = result<form_reply>;

/// The answer to a trigger or an ingest: the execution (if one started) after its commit.
using ingest_reply = result<storage::ingest_outcome>;
using ingest_replies = std::vector<ingest_reply>;
/// The answer to a run record: whether it was applied (false: fenced out or cancelled).
using record_reply = result<bool>;
using record_replies = std::vector<record_reply>;

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::trigger_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::form_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::form_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::mail_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::mail_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::ingest_replies)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::actors::record_replies)
