// The ports through which the actors reach outside themselves: outbound email, outbound
// webhooks, and the storage they read and write (PostgreSQL and Redis). Actors call them;
// adapters (adapters/mail, adapters/webhook) and actors/pooled_store implement them, tests put
// in-memory ones in their place. Knows no transport.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/email_caps.hpp"
#include "domain/records.hpp"
#include "domain/run_start.hpp"
#include "runtime/error.hpp"
#include "storage/ingest.hpp"
#include "storage/redis/delay_queue.hpp"
#include "storage/redis/lock.hpp"
#include "storage/runs.hpp"
#include "storage/unparsed_mail.hpp"
#include "storage/webhook_outbox.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::actors {

/// An email to send on behalf of a workspace.
struct email_message {
  std::string idempotency_key;  ///< "<execution id>:<node id>"; becomes the Message-ID, so a resend is recognisable
  std::string workspace_id;
  std::string execution_id;
  std::string from_name;        ///< display name; the address is the node's configured sender
  std::string to;
  std::string reply_to;         ///< may be empty
  std::string subject;
  std::string text_body;        ///< at least one of text_body and html_body is set
  std::string html_body;
  /// Set when the email goes to the run's lead (ACTION_SEND_EMAIL): it is then tracked and
  /// carries an unsubscribe link. Empty for the owner's notifications.
  std::string lead_id;
};

/// Sends email. Implementations never block the caller and call `done` exactly once, from any
/// thread, with the Message-ID used or an error (`unavailable`/`timeout` are worth retrying).
class mailer_port {
 public:
  virtual ~mailer_port() = default;
  virtual void send(email_message message, std::function<void(result<std::string>)> done) = 0;
};

/// One outgoing HTTP request, signed and ready (a webhook message's POST, a provider call): the
/// sender adds nothing but Content-Length (and Host).
struct outgoing_post {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< name, value; secrets included (never logged)
  std::string body;
  /// "POST", "GET" or "DELETE" (upper case); a GET or DELETE carries no body (`invalid` if one is given).
  std::string method = "POST";
};

/// What became of an outgoing_post.
struct post_answer {
  int status = 0;  ///< the HTTP status; 0 when there was no HTTP answer (see failure)
  std::vector<std::pair<std::string, std::string>> headers;  ///< response headers, names lower case, in order
  std::string body;             ///< at most the sender's body limit (64 KiB)
  bool body_truncated = false;
  std::chrono::milliseconds duration{0};  ///< from the start of the attempt to its end
  /// No HTTP answer: `invalid` (a URL or address the SSRF guard refuses: decided before any
  /// connection), `unavailable` (DNS, connect, TLS or network failure), `timeout`.
  std::optional<error> failure;
  /// The first header with that (lower-case) name, or empty.
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

/// Makes outgoing HTTP requests (POST, GET, DELETE) without blocking the caller: many at once, a slow or hanging
/// receiver costing only its own request (bounded by the connect and total timeouts). `done` is
/// called exactly once, from the sender's own thread.
class post_port {
 public:
  virtual ~post_port() = default;
  virtual void post(outgoing_post request, std::function<void(post_answer)> done) = 0;
};

/// One attempt of a webhook message to an endpoint, to be signed (Standard Webhooks) and sent.
/// The secrets travel sealed; only the sender opens them, at send time.
struct webhook_send {
  std::string endpoint_id;       ///< canonical (lower case): the sealed values are bound to it
  std::string url;
  std::string webhook_id;        ///< the delivery's id: the same for every attempt of the message
  std::int64_t timestamp_s = 0;  ///< `webhook-timestamp`: this attempt's time
  std::string body;              ///< the stored payload, sent byte for byte
  std::optional<std::string> sealed_secret;
  std::optional<std::string> sealed_previous_secret;  ///< during a rotation: both sign
  std::optional<std::string> auth_header_name;
  std::optional<std::string> sealed_auth_value;
};

/// What an attempt sent and got.
struct webhook_sent {
  post_answer answer;                ///< body and header values valid UTF-8 (bad bytes replaced)
  std::string request_headers_json;  ///< the headers sent, as a JSON object, secrets redacted
};

/// Signs and sends webhook attempts; never blocks; `done` exactly once, from any thread. A
/// secret that cannot be opened is an answer without HTTP (`failure`), not a throw.
class webhook_send_port {
 public:
  virtual ~webhook_send_port() = default;
  virtual void send(webhook_send message, std::function<void(webhook_sent)> done) = 0;
};

/// A workspace and its current workflows as loaded.
struct workspace_load {
  std::shared_ptr<const domain::workspace_snapshot> workspace;
  std::map<std::string, std::shared_ptr<const domain::workflow_snapshot>> workflows;  ///< by workflow id; those that compile
};

/// Paused executions with their resume times (ms); the first entry (empty id) carries the
/// largest fencing token PostgreSQL holds, so Redis' counter can be restored above it.
using paused_list = result<std::vector<std::pair<std::string, std::int64_t>>>;

/// What the actors ask of PostgreSQL and Redis, one method per question. Every method returns at
/// once; `done` is called exactly once, later, from another thread (an I/O worker), except where
/// a method says it may answer on the caller's thread.
///
/// Two kinds of work, as the pools have them: work that arrives from outside (look-ups, polls,
/// rate-limit checks) is refused when too much waits already, at once, so ingress can answer
/// 503; work of something already accepted (batches, runs, resumes) is never refused for load
/// (a closing node drops it). "Retried" methods are run again on a fresh connection when the
/// server was unavailable (they are safe to repeat); the others report the error.
class store_port {
 public:
  template <class T>
  using answer = std::function<void(result<T>)>;
  using ingest_results = std::vector<result<storage::ingest_outcome>>;
  using record_results = std::vector<result<bool>>;

  virtual ~store_port() = default;

  // PostgreSQL: tenants.
  /// The workspace, its time zone and its compiled workflows (those that do not compile are
  /// left out and logged). Accepted work; retried.
  virtual void load_workspace(std::string workspace_id, answer<workspace_load> done) = 0;
  /// One version of a workflow (nullopt: the current one), compiled. Accepted work; retried.
  virtual void load_workflow_version(std::string workspace_id, std::string workflow_id, std::optional<int> version,
                                     answer<std::shared_ptr<const domain::workflow_snapshot>> done) = 0;
  /// Which workspaces these slugs, workflow ids and intake ids belong to. Outside work: when
  /// refused, `done` gets `unavailable` at once, on the caller's thread. Retried.
  virtual void find_tenants(std::vector<std::string> slugs, std::vector<std::string> workflows,
                            std::vector<std::string> intakes, answer<storage::tenant_lookup> done) = 0;
  /// The workspaces and workflows changed since `since` (empty: the first poll). Outside work,
  /// refused like find_tenants. Retried.
  virtual void poll_tenant_changes(std::string since, answer<storage::tenant_changes> done) = 0;

  // PostgreSQL: executions.
  /// Makes a batch of triggers durable in one transaction; one answer per trigger, in order.
  /// Accepted work; not retried (the batch reports its error).
  virtual void ingest(std::vector<domain::trigger_record> batch, answer<ingest_results> done) = 0;
  /// Writes a batch of run records in one transaction; per record, whether it was applied.
  /// With `fences` (a cluster node), fenced by the shard leases first in that transaction
  /// (storage::write_runs): the records of a shard no longer held answer false. Accepted work;
  /// not retried.
  virtual void write_runs(std::vector<domain::run_record> batch, storage::run_fences fences, answer<record_results> done) = 0;
  /// An execution as a run resumes it. Accepted work; retried.
  virtual void load_execution(std::string execution_id, answer<storage::execution_state> done) = 0;
  /// The workspace an execution belongs to. Accepted work; retried.
  virtual void workspace_of_execution(std::string execution_id, answer<std::string> done) = 0;
  /// Marks an execution failed for `reason`. Accepted work; not retried.
  virtual void fail_execution(std::string execution_id, std::string reason, answer<bool> done) = 0;
  /// Every paused execution with its resume time (see paused_list). Accepted work; retried.
  virtual void paused_executions(std::function<void(paused_list)> done) = 0;
  /// Up to `limit` executions queued or running whose lock holder is gone (older than
  /// `stale_ms`). Accepted work; retried.
  virtual void stale_executions(std::int64_t stale_ms, std::size_t limit, answer<std::vector<std::string>> done) = 0;
  /// A new owner of `shards` adopts them: frees their webhook deliveries' claims
  /// (storage::free_webhook_claims_of_shards) and lists the executions it resumes at once
  /// (storage::executions_to_adopt), up to `limit`. Accepted work; retried.
  virtual void adopt_shards(std::vector<int> shards, std::size_t limit,
                            answer<std::vector<storage::adoptable_execution>> done) = 0;
  /// Folds the execution counters' deltas; how many were folded. Accepted work; retried.
  virtual void fold_stat_deltas(answer<std::size_t> done) = 0;

  // PostgreSQL: outbound email.
  /// Reserves one email to someone other than the workspace's owner against the workspace's
  /// rolling-hour cap and its `email_sends` quota (storage::reserve_email_send): reserved (or
  /// already reserved under this idempotency key), wait, or `quota_exceeded`. Accepted work;
  /// retried (a repeat with the same key counts once).
  virtual void reserve_email_send(domain::email_send_request request, answer<domain::email_send_grant> done) = 0;

  // PostgreSQL: intake mail that could not be read (storage/unparsed_mail).
  /// Keeps an unreadable message for the workspace, once per message. Accepted work; not retried.
  virtual void keep_unparsed_mail(std::string workspace_id, domain::unparsed_mail mail, answer<storage::kept_mail> done) = 0;
  /// Records that the owner was told about kept mail. Accepted work; retried; failures logged.
  virtual void mark_unparsed_mail_notified(std::string workspace_id, std::string id) = 0;
  /// Removes expired unreadable mail (a batch); how many went. Accepted work; retried.
  virtual void purge_unparsed_mail(answer<std::size_t> done) = 0;

  // PostgreSQL: outgoing webhooks (storage/webhook_outbox).
  /// Queues one message to an endpoint (ACTION_SEND_WEBHOOK), once per idempotency key; the
  /// delivery id (the webhook-id). Accepted work; retried.
  virtual void enqueue_webhook(storage::webhook_enqueue message, answer<std::string> done) = 0;
  /// Claims up to `limit` due deliveries for `lease`; with `shards` (a cluster node), only of the
  /// workspaces in those shards. Accepted work; retried.
  virtual void claim_webhook_deliveries(std::size_t limit, std::chrono::milliseconds lease, std::optional<std::vector<int>> shards,
                                        answer<std::vector<storage::due_delivery>> done) = 0;
  /// An endpoint's settings, secrets sealed. Accepted work; retried.
  virtual void load_webhook_endpoint(std::string workspace_id, std::string endpoint_id,
                                     answer<storage::webhook_endpoint_config> done) = 0;
  /// Writes a batch of attempts and what they decided, in one transaction. Accepted work; retried
  /// (a repeated attempt writes once).
  virtual void record_webhook_attempts(std::vector<storage::webhook_attempt_record> batch, answer<void> done) = 0;
  /// Gives claimed deliveries back: claimable again from `not_before_ms` (epoch ms; nullopt: at
  /// once). Accepted work; failures logged.
  virtual void release_webhook_claims(std::vector<std::string> delivery_ids, std::optional<std::int64_t> not_before_ms) = 0;

  // Redis.
  /// Counts a form submission from `client` in the per-IP and per-form windows (a limit of 0 is
  /// off) and calls `done` with how long to wait (nullopt: go ahead, also when Redis could not
  /// count). Outside work: false at once, and `done` never called, when refused.
  [[nodiscard]] virtual bool count_form_submission(std::string workflow_id, std::string client, int per_ip, int per_form,
                                                   std::function<void(std::optional<std::chrono::milliseconds>)> done) = 0;
  /// Takes the named lock for `owner` (nullopt: held by someone else). Accepted work.
  virtual void acquire_lock(std::string name, std::string owner, std::chrono::milliseconds ttl,
                            answer<std::optional<redis::lease>> done) = 0;
  /// Extends a held lock; false when it was lost. Accepted work.
  virtual void renew_lock(redis::lease lease, std::chrono::milliseconds ttl, answer<bool> done) = 0;
  /// Releases a run's lock, then acks the execution-queue entry that woke it (either may be
  /// absent), failures ignored. Accepted work.
  virtual void release_run(std::optional<redis::lease> lease, std::optional<redis::claimed> claim) = 0;
  /// Schedules an execution's resume at `at_ms` in the execution queue (a failure is logged:
  /// PostgreSQL holds the paused run, the rebuild or recovery finds it). Accepted work.
  virtual void schedule_resume(std::string execution_id, std::int64_t at_ms) = 0;
  /// Queues executions to run now (adopted ones), failures ignored. Accepted work.
  virtual void schedule_now(std::vector<std::string> execution_ids, std::int64_t now_ms) = 0;
  /// Claims up to `max` entries due at `now_ms`, each returning after `visibility` unless
  /// acked. Accepted work.
  virtual void claim_due(std::int64_t now_ms, std::size_t max, std::chrono::milliseconds visibility,
                         answer<std::vector<redis::claimed>> done) = 0;
  /// Whether Redis lost the execution queue built from PostgreSQL (its marker is gone), and the
  /// queue's depth when it could be counted. Accepted work.
  virtual void check_queue(std::function<void(bool lost, std::optional<std::size_t> depth)> done) = 0;
  /// Rebuilds the execution queue from `paused` (as paused_executions gave it): raises the
  /// fencing floor, schedules every entry, sets the marker. Accepted work.
  virtual void rebuild_queue(std::vector<std::pair<std::string, std::int64_t>> paused) = 0;
};

}  // namespace flowtrack::actors
