// Turning triggers into durable state: lead upsert (an existing lead's values are kept; only its
// empty fields are filled), field data, the intake lead event, the
// execution (queued, or finished when its run was settled before the commit, with that run's
// rows), usage events and quota counters — for a whole batch of triggers in one transaction
// (group commit). Knows SQL, nothing of actors or HTTP.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/pg/connection.hpp"
#include "domain/records.hpp"

namespace flowtrack::storage {

/// What became of one trigger.
struct ingest_outcome {
  std::string lead_id;
  std::optional<std::string> execution_id;  ///< empty: the lead was updated, no run started
  bool lead_created = false;
  bool duplicate = false;  ///< the idempotency key was seen before: the first execution, nothing written
  bool settled = false;    ///< the execution was written finished, from domain::trigger_record::settled
  std::string event_id;    ///< the intake lead event (FORM_SUBMITTED, FORM_RESUBMITTED, ...); empty for a duplicate
};

/// Writes a batch in one transaction. When the batch as a whole fails, each trigger is tried in
/// its own transaction, so one bad trigger (quota exceeded, unknown workflow) cannot reject the
/// others. Returns one result per trigger, in order. The caller must not send two triggers with
/// the same (workflow_id, idempotency_key) in one batch.
std::vector<result<ingest_outcome>> ingest_batch(pg::connection& c, const std::vector<domain::trigger_record>& batch);

namespace detail {
/// The statement `ingest` sends per round and its binder, for the test that holds each `$n`
/// of the statement against the parameters the binder produces.
const pg::statement& ingest_statement();
pg::params ingest_statement_params(const std::vector<domain::trigger_record>& records, const std::vector<std::size_t>& members);
}  // namespace detail

}  // namespace flowtrack::storage
