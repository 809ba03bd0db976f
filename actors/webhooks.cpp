#include "actors/webhooks.hpp"

#include <map>

#include <boost/json.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster.hpp"
#include "domain/shard_ring.hpp"
#include "metrics/metrics.hpp"
#include "runtime/text.hpp"

namespace flowtrack::actors {
namespace {

using endpoint_ptr = caf::stateful_actor<webhook_endpoint_state>*;
using pump_ptr = caf::stateful_actor<webhook_pump_state>*;
using attempt_atom = caf::atom_constant<caf::atom("attempt")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using claimed_atom = caf::atom_constant<caf::atom("claimed")>;

metrics::family<metrics::counter>& attempts_counter() {
  static auto& c = metrics::global().counters("flowtrack_webhook_attempts_total",
                                              "Outgoing webhook attempts by outcome (delivered, retry, failed, cancelled).",
                                              {"outcome"});
  return c;
}

metrics::family<metrics::histogram>& attempt_seconds() {
  static auto& h = metrics::global().histograms("flowtrack_webhook_attempt_seconds",
                                                "Outgoing webhook attempts from the request to the answer.", {});
  return h;
}

caf::actor pump_of(caf::event_based_actor* self) { return self->system().registry().get<caf::actor>(k_webhook_pump_name); }

// --- endpoint ---------------------------------------------------------------------------------

void pump_deliveries(endpoint_ptr self, node_services* node);

void load_config(endpoint_ptr self, node_services* node) {
  auto& st = self->state;
  if (st.loading) return;
  st.loading = true;
  auto me = caf::actor_cast<caf::actor>(self);
  node->store->load_webhook_endpoint(st.workspace_id, st.endpoint_id, [me](result<storage::webhook_endpoint_config> r) {
    caf::anon_send(me, loaded_atom::value, std::move(r));
  });
}

// Gives claimed deliveries back (the endpoint is disabled or gone, or its settings cannot be read):
// they stay in PostgreSQL, due again in a minute, for when the endpoint is enabled (or recovered);
// or, `at_once` (a hand-off), due again now, for the shard's next owner.
void release_all(endpoint_ptr self, node_services* node, bool at_once = false) {
  auto& st = self->state;
  if (st.queue.empty()) return;
  std::vector<std::string> ids;
  for (auto& d : st.queue) {
    st.known.erase(d.id);
    ids.push_back(std::move(d.id));
  }
  st.queue.clear();
  node->store->release_webhook_claims(std::move(ids), at_once ? std::nullopt : std::optional<std::int64_t>(node->clock->wall_ms() + 60000));
}

void start_attempt(endpoint_ptr self, node_services* node, storage::due_delivery d) {
  auto& st = self->state;
  const auto& cfg = *st.config;
  ++st.in_flight;
  webhook_send m;
  m.endpoint_id = cfg.id;
  m.url = cfg.url;
  m.webhook_id = d.id;
  auto started = node->clock->wall_ms();
  m.timestamp_s = started / 1000;
  m.body = d.payload;
  m.sealed_secret = cfg.sealed_secret;
  m.sealed_previous_secret = cfg.sealed_previous_secret;
  m.auth_header_name = cfg.auth_header_name;
  m.sealed_auth_value = cfg.sealed_auth_value;
  auto me = caf::actor_cast<caf::actor>(self);
  node->webhook_sender->send(std::move(m), [me, d = std::move(d), started](webhook_sent sent) mutable {
    caf::anon_send(me, attempt_atom::value, std::move(d), started, std::move(sent));
  });
}

void pump_deliveries(endpoint_ptr self, node_services* node) {
  auto& st = self->state;
  auto now = node->clock->wall_ms();
  st.last_work_ms = now;
  if (!st.config || now - st.loaded_at_ms > node->options.webhook_config_refresh.count()) load_config(self, node);
  // The workspace's shard is being handed off (or is gone): its next owner sends them.
  if (node->ownership && node->ownership->working_epoch_of(domain::shard_of(st.workspace_id)) == 0)
    return release_all(self, node, true);
  if (!st.config) return;  // sent once the configuration is in
  if (!st.config->active) return release_all(self, node);
  while (st.in_flight < st.config->max_in_flight && !st.queue.empty()) {
    if (!st.breaker.allow(now)) {
      // Open: nothing goes until the probe; the queue waits here (its leases outlast many probes).
      if (!st.probe_scheduled) {
        st.probe_scheduled = true;
        self->delayed_send(self, std::chrono::milliseconds(std::max<std::int64_t>(1, st.breaker.probe_at_ms() - now)),
                           probe_atom::value);
      }
      return;
    }
    auto d = std::move(st.queue.front());
    st.queue.pop_front();
    start_attempt(self, node, std::move(d));
  }
}

// What became of an attempt: the decision, the breaker, the record, the endpoint.
void finish_attempt(endpoint_ptr self, node_services* node, storage::due_delivery& d, std::int64_t started, webhook_sent& sent) {
  auto& st = self->state;
  --st.in_flight;
  st.known.erase(d.id);
  const auto& a = sent.answer;
  auto now = node->clock->wall_ms();
  domain::webhook::attempt_facts f;
  f.attempt_number = d.attempts_made + 1;
  f.http_status = a.status;
  f.abort_requested = runtime::iequals(a.header("webhook-delivery"), "abort-message");
  if (a.status == 429 || a.status == 503)
    if (auto ra = a.header("retry-after"); !ra.empty()) f.retry_after_ms = domain::webhook::parse_retry_after(ra, now);
  bool ok = a.status >= 200 && a.status < 300;
  auto& cfg = *st.config;
  f.failing_since_ms = ok ? std::nullopt : cfg.failing_since_ms;
  f.now_ms = now;
  f.seed = std::hash<std::string>{}(d.id);
  domain::webhook::retry_policy policy{cfg.max_retries, cfg.retry_delay_seconds};
  auto decision = domain::webhook::decide(f, policy);
  // A message whose retries a redelivery raised past the endpoint's: its own limit counts.
  if (decision.outcome == domain::webhook::verdict::retry && f.attempt_number >= d.max_attempts) {
    decision.outcome = domain::webhook::verdict::failed;
    decision.next_retry_at_ms.reset();
  }

  if (ok) {
    st.breaker.success();
    cfg.failing_since_ms.reset();
  } else {
    st.breaker.failure(now);
    if (!cfg.failing_since_ms) cfg.failing_since_ms = started;
  }
  attempts_counter().at({std::string(domain::webhook::to_string(decision.outcome))}).add();
  attempt_seconds().at({}).observe(static_cast<double>(a.duration.count()) / 1e3);

  storage::webhook_attempt_record r;
  r.delivery_id = d.id;
  r.endpoint_id = d.endpoint_id;
  r.workspace_id = d.workspace_id;
  r.attempt_number = f.attempt_number;
  r.started_at_ms = started;
  r.duration_ms = static_cast<int>(a.duration.count());
  if (a.status > 0) r.http_status = a.status;
  r.request_headers_json = std::move(sent.request_headers_json);
  boost::json::object headers;
  for (const auto& [k, v] : a.headers) headers[k] = v;
  r.response_headers_json = boost::json::serialize(headers);
  r.response_body = a.body;
  if (a.failure) r.error_message = a.failure->message;
  else if (!ok) r.error_message = "the receiver answered " + std::to_string(a.status);
  r.outcome = decision.outcome;
  r.next_retry_at_ms = decision.next_retry_at_ms;
  r.disable_reason = decision.disable_reason;
  caf::anon_send(pump_of(self), record_atom::value, std::move(r));

  if (decision.disable_reason) {
    spdlog::warn("webhook endpoint {}: disabled: {}", cfg.id, *decision.disable_reason);
    cfg.active = false;
    if (node->mailer != nullptr && !st.owner_email.empty()) {
      email_message m;
      m.idempotency_key = "endpoint-disabled:" + cfg.id + ":" + std::to_string(now / 1000);
      m.workspace_id = st.workspace_id;
      m.from_name = "FlowTrack";
      m.to = st.owner_email;
      m.subject = "A webhook endpoint was disabled";
      m.text_body = "FlowTrack stopped sending webhooks to " + cfg.url + " (endpoint " + cfg.id + "): " +
                    *decision.disable_reason + ".\n\nNothing is lost: its deliveries are kept. Once the receiver works, " +
                    "enable it (flowtrackd webhook enable " + cfg.id + ") and recover what failed (flowtrackd webhook recover " +
                    cfg.id + " --since <time>).\n";
      node->mailer->send(std::move(m), [id = cfg.id](result<std::string> sent) {
        if (!sent) spdlog::warn("webhook endpoint {}: cannot tell the owner it was disabled: {}", id, sent.err().message);
      });
    }
  }
  pump_deliveries(self, node);
  if (!st.handoffs.empty() && st.in_flight == 0) {
    for (auto& rp : st.handoffs) rp.deliver(true);
    st.handoffs.clear();
  }
}

// --- pump -------------------------------------------------------------------------------------

void flush_records(pump_ptr self, node_services* node) {
  auto& st = self->state;
  if (st.records.empty() || st.record_batches_in_flight >= 2) return;
  // Oldest first, without moving what stays (a vector's erase at the front moved every waiting
  // record per batch: quadratic when thousands wait behind the two batches in flight).
  std::vector<storage::webhook_attempt_record> batch;
  auto n = std::min(st.records.size(), node->options.webhook_record_batch);
  batch.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(st.records.front()));
    st.records.pop_front();
  }
  ++st.record_batches_in_flight;
  auto me = caf::actor_cast<caf::actor>(self);
  node->store->record_webhook_attempts(std::move(batch), [me, n](result<void> r) {
    // A batch that could not be written is not retried here: its deliveries' leases run out and
    // they are attempted again, under the same webhook-id.
    if (!r) spdlog::warn("webhooks: {} attempts not recorded: {}", n, r.err().message);
    caf::anon_send(me, flush_atom::value, r.ok() ? n : std::size_t{0});
  });
}

}  // namespace

caf::behavior webhook_endpoint(endpoint_ptr self, node_services* node, std::string workspace_id, std::string endpoint_id,
                               std::string owner_email, caf::actor owner) {
  auto& st = self->state;
  st.workspace_id = std::move(workspace_id);
  st.endpoint_id = std::move(endpoint_id);
  st.owner_email = std::move(owner_email);
  st.last_work_ms = node->clock->wall_ms();
  self->delayed_send(self, node->options.webhook_idle, idle_atom::value);
  return {
      [=](webhook_atom, std::vector<storage::due_delivery>& batch) {
        auto& st = self->state;
        for (auto& d : batch)
          if (st.known.insert(d.id).second) st.queue.push_back(std::move(d));
        pump_deliveries(self, node);
      },
      [=](loaded_atom, result<storage::webhook_endpoint_config>& r) {
        auto& st = self->state;
        st.loading = false;
        st.loaded_at_ms = node->clock->wall_ms();
        if (!r) {
          if (r.err().code == error_code::not_found) {  // deleted, or not this workspace's
            storage::webhook_endpoint_config gone;
            gone.id = st.endpoint_id;
            gone.active = false;
            st.config = std::move(gone);
          } else {
            spdlog::warn("webhook endpoint {}: cannot load: {}", st.endpoint_id, r.err().message);
            if (!st.config) return release_all(self, node);
          }
        } else {
          // The row is the truth (an operator's enable or disable, a new URL); what this actor
          // decided itself reaches it with the next batch of records.
          st.config = std::move(*r);
        }
        pump_deliveries(self, node);
      },
      [=](attempt_atom, storage::due_delivery& d, std::int64_t started, webhook_sent& sent) {
        finish_attempt(self, node, d, started, sent);
      },
      [=](probe_atom) {
        self->state.probe_scheduled = false;
        pump_deliveries(self, node);
      },
      [=](handoff_atom) -> caf::response_promise {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        release_all(self, node, true);
        if (st.in_flight == 0) {
          rp.deliver(true);
          return rp;
        }
        st.handoffs.push_back(rp);
        return rp;
      },
      [=](idle_atom) {
        auto& st = self->state;
        auto now = node->clock->wall_ms();
        if (st.queue.empty() && st.in_flight == 0 && now - st.last_work_ms >= node->options.webhook_idle.count()) {
          self->send(owner, done_atom::value, st.endpoint_id);
          return self->quit();
        }
        self->delayed_send(self, node->options.webhook_idle, idle_atom::value);
      },
  };
}

caf::behavior webhook_pump(pump_ptr self, node_services* node) {
  self->send(self, tick_atom::value);
  auto me = caf::actor_cast<caf::actor>(self);
  return {
      [=](tick_atom) {
        auto& st = self->state;
        if (st.claiming || node->webhook_sender == nullptr) return;  // a node that cannot send claims nothing
        // A cluster node claims only for the workspaces of the shards it works (their endpoint
        // actors live with their workspace); none while it holds none.
        std::optional<std::vector<int>> shards;
        if (node->ownership) shards = node->ownership->working_shards();
        st.claiming = true;
        node->store->claim_webhook_deliveries(node->options.webhook_claim_batch, node->options.webhook_lease, std::move(shards),
                                              [me](result<std::vector<storage::due_delivery>> r) {
                                                caf::anon_send(me, claimed_atom::value, std::move(r));
                                              });
      },
      [=](claimed_atom, result<std::vector<storage::due_delivery>>& r) {
        auto& st = self->state;
        st.claiming = false;
        bool full = false;
        if (!r) {
          spdlog::warn("webhooks: cannot claim due deliveries: {}", r.err().message);
        } else if (!r->empty()) {
          full = r->size() >= node->options.webhook_claim_batch;
          st.claimed += r->size();
          // One message per workspace, in the order claimed.
          std::map<std::string, std::vector<storage::due_delivery>> by_workspace;
          for (auto& d : *r) by_workspace[d.workspace_id].push_back(std::move(d));
          auto registry = self->system().registry().get<caf::actor>(k_registry_name);
          for (auto& [ws, batch] : by_workspace) self->send(registry, webhook_atom::value, ws, std::move(batch));
        }
        if (full) self->send(self, tick_atom::value);
        else self->delayed_send(self, node->options.webhook_poll_interval, tick_atom::value);
      },
      [=](record_atom, storage::webhook_attempt_record& r) {
        self->state.records.push_back(std::move(r));
        flush_records(self, node);
      },
      // A hand-off: answered once every attempt recorded so far is written (the next owner then
      // finds those deliveries ended, not claimed).
      [=](handoff_atom) -> caf::response_promise {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        if (st.records.empty() && st.record_batches_in_flight == 0) rp.deliver(true);
        else st.drained.push_back(rp);
        return rp;
      },
      [=](flush_atom, std::size_t written) {
        auto& st = self->state;
        --st.record_batches_in_flight;
        st.recorded += written;
        flush_records(self, node);
        if (!st.drained.empty() && st.records.empty() && st.record_batches_in_flight == 0) {
          for (auto& rp : st.drained) rp.deliver(true);
          st.drained.clear();
        }
      },
  };
}

void route_webhooks(caf::event_based_actor* self, node_services* node, std::unordered_map<std::string, caf::actor>& endpoints,
                    const std::string& workspace_id, const std::string& owner_email, std::vector<storage::due_delivery> batch) {
  std::map<std::string, std::vector<storage::due_delivery>> by_endpoint;
  for (auto& d : batch) by_endpoint[d.endpoint_id].push_back(std::move(d));
  for (auto& [id, deliveries] : by_endpoint) {
    auto it = endpoints.find(id);
    if (it == endpoints.end())
      it = endpoints.emplace(id, self->spawn(webhook_endpoint, node, workspace_id, id, owner_email, caf::actor_cast<caf::actor>(self)))
               .first;
    self->send(it->second, webhook_atom::value, std::move(deliveries));
  }
}

}  // namespace flowtrack::actors
