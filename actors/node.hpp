// What a node's actors share: the I/O services (storage, outbound ports),
// the clock and the engine's timings. Plain data handed to every actor at spawn;
// owned by whoever runs the node (flowtrackd serve, a test, a benchmark). No CAF here.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/ports.hpp"
#include "domain/clock.hpp"

namespace flowtrack::actors {

class ownership_view;  // actors/cluster.hpp

/// Engine timings and limits.
struct engine_options {
  std::chrono::milliseconds lock_ttl{30000};         ///< a run's Redis lock; renewed every third
  std::chrono::milliseconds group_commit_wait{1};    ///< how long a batch waits for company
  std::size_t max_batch = 256;                       ///< triggers or run records per transaction
  std::size_t max_pending_triggers = 1024;           ///< triggers waiting for a batch; more are refused (`unavailable`)
  int max_batches_in_flight = 2;                     ///< per kind; the rest waits and grows the batch
  std::chrono::milliseconds scheduler_tick{50};      ///< how often due entries are claimed
  std::chrono::milliseconds claim_visibility{60000}; ///< a claimed entry returns after this unless acked
  std::chrono::milliseconds recovery_interval{15000};///< how often stale executions are adopted
  std::chrono::milliseconds rebuild_check_interval{5000};  ///< how often Redis' queue is checked for loss
  std::chrono::milliseconds stats_fold_interval{1000};     ///< how often counter deltas are folded
  std::chrono::milliseconds purge_interval{3600000};       ///< how often expired kept data (unreadable mail) is removed
  std::chrono::milliseconds webhook_poll_interval{100};    ///< how often due webhook deliveries are claimed
  std::size_t webhook_claim_batch = 1000;                  ///< deliveries claimed at once
  std::chrono::milliseconds webhook_lease{300000};         ///< a claimed delivery returns to the pool after this unless recorded
  std::size_t webhook_record_batch = 500;                  ///< attempts written per transaction
  std::chrono::milliseconds webhook_idle{60000};           ///< an endpoint actor without work stops after this
  std::chrono::milliseconds webhook_config_refresh{5000};  ///< an endpoint actor reads its settings again after this
  std::chrono::milliseconds workspace_idle{300000};  ///< an idle workspace actor stops after this
  std::chrono::milliseconds workflow_refresh{60000}; ///< a workspace actor reads its workspace and workflows again after this
  std::chrono::milliseconds tenant_poll_interval{1000};  ///< how often changed workspaces and workflows are asked for
  std::size_t tenant_cache_size = 10000;             ///< entries per look-up cache (known keys, unknown keys)
  std::chrono::milliseconds tenant_cache_ttl{60000}; ///< a cached look-up expires after this
  bool settle_at_intake = true;  ///< runs that need no I/O finish in the intake transaction (off: a run actor runs them)
  std::chrono::milliseconds request_timeout{30000};  ///< every cross-actor request
  int form_rate_limit = 10;            ///< public form submissions per IP and form per minute; 0 = no limits
  int form_rate_limit_per_form = 1000; ///< submissions per form per minute from all IPs; 0 = off
  int form_rate_limit_ipv6_prefix = 64; ///< IPv6 clients are counted per network of this many bits
  /// Test-only fault injection (FLOWTRACK_TEST_FAULT=writer_crash, never set in production): the
  /// storage writer crashes shortly after every start, so its supervisor gives up.
  bool fault_writer_crash = false;
};

/// The services of one node. Pointers are owned by the node and outlive its actors.
struct node_services {
  store_port* store = nullptr;  ///< PostgreSQL and Redis (actors/pooled_store; in-memory in unit tests)
  mailer_port* mailer = nullptr;
  webhook_send_port* webhook_sender = nullptr;  ///< signs and posts webhook attempts (adapters/webhook)
  std::string node_id;  ///< unique per process; lock owner names start with it
  engine_options options;
  /// Where the actors read time; tests inject a domain::manual_clock.
  const domain::clock* clock = &domain::system_clock();
  /// In a cluster, the shards this node holds and at which epochs (the member actor keeps it);
  /// runs start only for workspaces of those shards and their writes are fenced by the epoch.
  /// Null: a single node, which runs everything and writes unfenced.
  std::shared_ptr<const ownership_view> ownership;
  std::string lease_holder;  ///< in a cluster, the name this node holds shard leases under
};

}  // namespace flowtrack::actors
