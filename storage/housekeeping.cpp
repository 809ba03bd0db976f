// The housekeeping jobs' SQL and their steps; the lease rows. See housekeeping.hpp.
#include "storage/housekeeping.hpp"

#include <boost/json.hpp>

#include "storage/daily_stats.hpp"
#include "storage/usage_billing.hpp"

namespace flowtrack::storage::housekeeping {
namespace {

// Partition maintainers (this code, in any process) take this advisory lock, so a CLI run and a
// node's run never work on the same partition at once. "FlowHK".
constexpr std::int64_t k_partition_lock = 0x466c6f77484bLL;

// A lock not granted within lock_timeout (SQLSTATE 55P03 lock_not_available).
bool lock_not_granted(const error& e) { return e.subject == "55P03"; }

// Each batch is one statement, hence one transaction. The batch is picked by ctid (a TID scan, no
// second index walk); a row changed meanwhile has a new ctid and is left for the next run.
const pg::statement k_purge_login_attempts{"ft_hk_login_attempts", R"sql(
DELETE FROM login_attempts WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM login_attempts WHERE created_at < LOCALTIMESTAMP - make_interval(days => $1::int) LIMIT $2::int))
)sql"};

// Reset tokens are spent once used (a newer one spends the older) and worthless once expired.
const pg::statement k_purge_reset_tokens{"ft_hk_reset_tokens", R"sql(
DELETE FROM password_reset_tokens WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM password_reset_tokens WHERE is_used OR expires_at < LOCALTIMESTAMP LIMIT $1::int))
)sql"};

// Refresh tokens go once expired, revoked or not. A revoked (rotated, logged-out) token that has
// not expired yet is kept: presented again, it is recognised as reuse and ends its session, where
// a deleted one would only be unknown.
const pg::statement k_purge_refresh_tokens{"ft_hk_refresh_tokens", R"sql(
DELETE FROM refresh_tokens WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM refresh_tokens WHERE expires_at < LOCALTIMESTAMP LIMIT $1::int))
)sql"};

// Messages in a final state (delivered, cancelled, failed with no retry awaited) and not being
// attempted lose their bodies: the payload's `data` (the envelope's type and timestamp stay, with
// "trimmed": true) and every response body; the rows, statuses and headers stay. Messages still
// to be sent keep theirs. Locked rows are skipped (a node is recording an attempt).
const pg::statement k_trim_webhook_bodies{"ft_hk_webhook_bodies", R"sql(
WITH batch AS (
  SELECT id FROM webhook_deliveries
  WHERE body_trimmed_at IS NULL AND created_at < LOCALTIMESTAMP - make_interval(days => $1::int)
    AND (status IN ('delivered', 'cancelled') OR (status = 'failed' AND next_retry_at IS NULL))
    AND (claimed_until IS NULL OR claimed_until < LOCALTIMESTAMP)
  LIMIT $2::int
  FOR UPDATE SKIP LOCKED
), attempts AS (
  UPDATE webhook_delivery_attempts SET response_body = NULL
  WHERE delivery_id = ANY(ARRAY(SELECT id FROM batch)) AND response_body IS NOT NULL
)
UPDATE webhook_deliveries d
SET payload = CASE WHEN jsonb_typeof(d.payload) = 'object' THEN (d.payload - 'data') || '{"trimmed": true}'::jsonb
                   ELSE '{"trimmed": true}'::jsonb END,
    response_body = NULL,
    body_trimmed_at = LOCALTIMESTAMP
WHERE d.id = ANY(ARRAY(SELECT id FROM batch))
)sql"};

// Partitions every row of which is older than the retention, found by their bounds (pg_catalog),
// not by their names; a DEFAULT or MAXVALUE partition has no such bound and stays. Also tables
// named like our partitions that are no longer attached: a drop cut short after its detach left
// them, and their name gives the month. Partitions left half-detached come first: no other
// partition can be detached concurrently while one is.
const pg::statement k_expired_partitions{"ft_hk_expired_partitions", R"sql(
WITH parent AS (
  SELECT oid, relnamespace FROM pg_class WHERE oid = 'execution_logs'::regclass
), attached AS (
  SELECT c.oid::regclass::text AS name, true AS attached, i.inhdetachpending AS pending,
         substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$TO \('([^']+)'\)$re$)::timestamp AS upper_bound
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = (SELECT oid FROM parent)
), detached AS (
  SELECT c.oid::regclass::text, false, false,
         (to_date(substring(c.relname FROM 16), 'YYYY_MM') + interval '1 month')::timestamp
  FROM pg_class c
  WHERE c.relnamespace = (SELECT relnamespace FROM parent) AND c.relkind = 'r' AND NOT c.relispartition
    AND c.relname ~ '^execution_logs_[0-9]{4}_(0[1-9]|1[0-2])$'
)
SELECT name, attached FROM (SELECT * FROM attached UNION ALL SELECT * FROM detached) p
WHERE upper_bound IS NOT NULL AND upper_bound <= LOCALTIMESTAMP - make_interval(days => $1::int)
ORDER BY pending DESC, upper_bound
)sql"};

// What the table is now: attached, and half-detached. No row when it is gone.
const pg::statement k_partition_state{"ft_hk_partition_state", R"sql(
SELECT c.relispartition, COALESCE(i.inhdetachpending, false)
FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
WHERE c.oid = to_regclass($1)
)sql"};

const pg::statement k_claim{"ft_hk_claim", R"sql(
INSERT INTO housekeeping_leases AS l (job, holder, lease_until, started_at)
VALUES ($1, $2, now() + make_interval(secs => $4::int), now())
ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until, started_at = EXCLUDED.started_at
WHERE (l.lease_until IS NULL OR l.lease_until < now())
  AND (l.finished_at IS NULL OR l.finished_at <= now() - make_interval(secs => $3::int))
RETURNING 1
)sql"};

const pg::statement k_renew{"ft_hk_renew", R"sql(
UPDATE housekeeping_leases SET lease_until = now() + make_interval(secs => $3::int)
WHERE job = $1 AND holder = $2 AND lease_until IS NOT NULL
RETURNING 1
)sql"};

const pg::statement k_release{"ft_hk_release", R"sql(
UPDATE housekeeping_leases
SET lease_until = NULL, finished_at = now(), outcome = $3::text,
    succeeded_at = CASE WHEN $3::text = 'ok' THEN now() ELSE succeeded_at END, result = $4::jsonb
WHERE job = $1 AND holder = $2
)sql"};

// Session settings of a partition step, undone however the step ends: the lock_timeout (set for
// the session, since DETACH ... CONCURRENTLY cannot run inside a transaction block) and the
// advisory lock.
class partition_session {
 public:
  partition_session(pg::connection& c, std::chrono::milliseconds lock_timeout) : c_(c) {
    auto r = c_.exec("SELECT set_config('lock_timeout', $1, false)", pg::params{}.add(std::to_string(lock_timeout.count())));
    if (!r) {
      status_ = r.err();
      return;
    }
    timeout_set_ = true;
    auto l = c_.exec("SELECT pg_advisory_lock($1)", pg::params{}.add(k_partition_lock));
    if (!l) {
      status_ = l.err();
      return;
    }
    locked_ = true;
  }
  ~partition_session() {
    if (c_.broken()) return;
    if (locked_) (void)c_.exec("SELECT pg_advisory_unlock($1)", pg::params{}.add(k_partition_lock));
    if (timeout_set_) (void)c_.exec("RESET lock_timeout");
  }
  partition_session(const partition_session&) = delete;
  partition_session& operator=(const partition_session&) = delete;

  const result<void>& status() const { return status_; }

 private:
  pg::connection& c_;
  result<void> status_;
  bool timeout_set_ = false, locked_ = false;
};

}  // namespace

std::string_view name_of(job j) {
  switch (j) {
    case job::partitions: return "partitions";
    case job::login_attempts: return "login-attempts";
    case job::tokens: return "tokens";
    case job::webhook_bodies: return "webhook-bodies";
    case job::daily_stats: return "daily-stats";
    case job::quota_rollover: return "quota-rollover";
  }
  return "partitions";
}

std::optional<job> job_named(std::string_view name) {
  for (job j : k_jobs)
    if (name_of(j) == name) return j;
  return std::nullopt;
}

std::string job_names() {
  std::string out;
  for (job j : k_jobs) out += (out.empty() ? "" : ", ") + std::string(name_of(j));
  return out;
}

std::string report::to_json() const {
  boost::json::array dropped, later;
  for (const auto& p : partitions_dropped) dropped.emplace_back(p);
  for (const auto& p : deferred) later.emplace_back(p);
  return boost::json::serialize(boost::json::object{{"job", name_of(which)},
                                                    {"outcome", outcome()},
                                                    {"rows", rows},
                                                    {"batches", batches},
                                                    {"partitionsCreated", partitions_created},
                                                    {"partitionsDropped", std::move(dropped)},
                                                    {"deferred", std::move(later)}});
}

job_run::job_run(job which, options opts) : opts_(opts) { report_.which = which; }

result<bool> job_run::delete_batch(pg::connection& c, const pg::statement& stmt, const pg::params& args) {
  auto r = c.exec(stmt, args);
  if (!r) return r.err();
  auto n = static_cast<std::int64_t>(r->affected());
  if (n > 0) {
    report_.rows += n;
    ++report_.batches;
  }
  return n >= opts_.batch_rows;  // a full batch: there may be more
}

result<bool> job_run::step(pg::connection& c) {
  if (report_.finished) return false;
  auto batch = static_cast<std::int64_t>(opts_.batch_rows);
  result<bool> more = false;
  switch (report_.which) {
    case job::login_attempts:
      more = delete_batch(c, k_purge_login_attempts,
                          pg::params{}.add(static_cast<std::int64_t>(opts_.login_attempt_retention_days)).add(batch));
      break;
    case job::tokens:
      if (phase_ == 0) {
        more = delete_batch(c, k_purge_reset_tokens, pg::params{}.add(batch));
        if (more && !*more) {
          phase_ = 1;
          more = true;
        }
      } else {
        more = delete_batch(c, k_purge_refresh_tokens, pg::params{}.add(batch));
      }
      break;
    case job::webhook_bodies:
      more = delete_batch(c, k_trim_webhook_bodies,
                          pg::params{}.add(static_cast<std::int64_t>(opts_.webhook_body_retention_days)).add(batch));
      break;
    case job::partitions:
      more = partition_step(c);
      break;
    case job::daily_stats:
      more = daily_stats_step(c);
      break;
    case job::quota_rollover: {  // one step: each workspace due is its own transaction within it
      auto r = roll_over_quotas(c);
      if (!r) return r.err();
      report_.rows = r->workspaces_synced;
      report_.batches = r->periods_advanced;
      more = false;
      break;
    }
  }
  if (more && !*more) report_.finished = true;
  return more;
}

result<bool> job_run::partition_step(pg::connection& c) {
  if (phase_ == 0) {
    if (auto r = create_partitions(c); !r) return r.err();
    phase_ = 1;
    return true;
  }
  if (phase_ == 1) {
    if (auto r = list_expired_partitions(c); !r) return r.err();
    phase_ = 2;
    return !expired_.empty();
  }
  if (next_expired_ >= expired_.size()) return false;
  if (auto r = drop_partition(c, expired_[next_expired_]); !r) return r.err();
  ++next_expired_;
  return next_expired_ < expired_.size();
}

result<void> job_run::create_partitions(pg::connection& c) {
  auto made = pg::transact(c, [&](pg::connection& tx) -> result<std::int64_t> {
    auto t = tx.exec("SELECT set_config('lock_timeout', $1, true)", pg::params{}.add(std::to_string(opts_.lock_timeout.count())));
    if (!t) return t.err();
    if (auto l = tx.exec("SELECT pg_advisory_xact_lock($1)", pg::params{}.add(k_partition_lock)); !l) return l.err();
    auto r = tx.exec("SELECT ensure_execution_log_partitions($1::int)",
                     pg::params{}.add(static_cast<std::int64_t>(opts_.partitions_ahead_months)));
    if (!r) return r.err();
    return r->get_int(0, 0);
  });
  if (!made) {
    if (!lock_not_granted(made.err())) return made.err();
    report_.deferred.push_back("create");
    return {};
  }
  report_.partitions_created += static_cast<int>(*made);
  return {};
}

result<void> job_run::list_expired_partitions(pg::connection& c) {
  auto r = c.exec(k_expired_partitions, pg::params{}.add(static_cast<std::int64_t>(opts_.log_retention_days)));
  if (!r) return r.err();
  expired_.clear();
  for (int i = 0; i < r->size(); ++i) expired_.push_back({std::string(r->get(i, 0)), r->get_bool(i, 1)});
  return {};
}

result<void> job_run::drop_partition(pg::connection& c, const expired_partition& p) {
  auto defer = [&](const error& e) -> result<void> {
    if (!lock_not_granted(e)) return e;
    report_.deferred.push_back(p.name);
    return {};
  };
  partition_session session(c, opts_.lock_timeout);
  if (!session.status()) return defer(session.status().err());
  // Listed in an earlier step: under the lock, look again at what it is now.
  auto state = c.exec(k_partition_state, pg::params{}.add(p.name));
  if (!state) return state.err();
  if (state->empty()) return {};  // someone dropped it meanwhile
  if (state->get_bool(0, 0)) {
    // CONCURRENTLY: SHARE UPDATE EXCLUSIVE on execution_logs, then a wait for the transactions
    // that could still see the partition; inserts go on throughout. If that wait outlasts the
    // lock_timeout the partition stays half-detached, and FINALIZE completes it next run.
    std::string verb = state->get_bool(0, 1) ? " FINALIZE" : " CONCURRENTLY";
    if (auto d = c.exec_script("ALTER TABLE execution_logs DETACH PARTITION " + p.name + verb); !d) return defer(d.err());
  }
  // Detached, it is a table of its own that no insert reaches: dropping it locks nothing else.
  if (auto d = c.exec_script("DROP TABLE " + p.name); !d) return defer(d.err());
  report_.partitions_dropped.push_back(p.name);
  return {};
}

// First the workspaces (deleted ones too: their stats rows stay until the workspace row goes),
// then one workspace a step: its last days recomputed in one transaction (daily_stats.hpp).
result<bool> job_run::daily_stats_step(pg::connection& c) {
  if (phase_ == 0) {
    auto r = c.exec("SELECT id FROM workspaces ORDER BY id");
    if (!r) return r.err();
    workspaces_.clear();
    for (int i = 0; i < r->size(); ++i) workspaces_.emplace_back(r->get(i, 0));
    phase_ = 1;
    return !workspaces_.empty();
  }
  if (next_workspace_ >= workspaces_.size()) return false;
  auto written = reconcile_recent_daily_stats(c, workspaces_[next_workspace_], opts_.daily_stats_days);
  if (!written) return written.err();
  report_.rows += *written;
  ++report_.batches;
  ++next_workspace_;
  return next_workspace_ < workspaces_.size();
}

result<report> run_job(pg::connection& c, job which, const options& opts) {
  job_run run(which, opts);
  for (;;) {
    auto more = run.step(c);
    if (!more) return more.err();
    if (!*more) return run.progress();
  }
}

// --- leases -----------------------------------------------------------------------------------

result<bool> claim_lease(pg::connection& c, job which, const lease_terms& terms) {
  auto r = c.exec(k_claim, pg::params{}
                               .add(name_of(which))
                               .add(terms.holder)
                               .add(static_cast<std::int64_t>(terms.interval.count()))
                               .add(static_cast<std::int64_t>(terms.ttl.count())));
  if (!r) return r.err();
  return !r->empty();
}

result<bool> renew_lease(pg::connection& c, job which, const lease_terms& terms) {
  auto r = c.exec(k_renew, pg::params{}.add(name_of(which)).add(terms.holder).add(static_cast<std::int64_t>(terms.ttl.count())));
  if (!r) return r.err();
  return !r->empty();
}

result<void> release_lease(pg::connection& c, job which, const std::string& holder, const report& r,
                           const std::optional<error>& failure) {
  auto doc = boost::json::parse(r.to_json()).as_object();
  std::string outcome(r.outcome());
  if (failure) {
    outcome = "failed";
    doc["outcome"] = outcome;
    doc["error"] = failure->message;
  }
  auto u = c.exec(k_release, pg::params{}.add(name_of(which)).add(holder).add(outcome).add(boost::json::serialize(doc)));
  if (!u) return u.err();
  return {};
}

}  // namespace flowtrack::storage::housekeeping
