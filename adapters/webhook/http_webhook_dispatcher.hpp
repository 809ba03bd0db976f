// Outgoing webhooks over HTTP(S) (libcurl on worker threads of its own): loads the endpoint,
// signs (Standard Webhooks), guards against SSRF, records each attempt; implements
// actors::webhook_port. Knows HTTP and the webhook tables, nothing of actors or retries.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "actors/ports.hpp"
#include "adapters/webhook/address_guard.hpp"
#include "config/settings.hpp"
#include "crypto/secret_box.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::webhook {

/// How the dispatcher talks to receivers.
struct dispatcher_options {
  /// Parallel HTTP requests (threads, each keeping connections alive between requests).
  int threads = 2;
  std::chrono::milliseconds connect_timeout{5000};
  /// Longest one request may take, connecting included.
  std::chrono::milliseconds timeout{15000};
  /// Stored response bodies are cut to this many bytes; reading stops there.
  std::size_t response_body_limit = 64 * 1024;
  std::string user_agent = "FlowTrack-Webhooks/1.0";
};

/// Delivers webhooks to the workspace's endpoints (webhook_endpoints) and records every
/// attempt as a webhook_deliveries row. Per message: the endpoint is read through the pool
/// (scoped by workspace; missing, deleted or inactive is `not_found`), the URL's host is
/// resolved and refused unless public or allow-listed ("address not allowed", `invalid`), the
/// request is made to the checked addresses only (pinned; every socket is checked again as it
/// opens; no redirects; no proxy), then the attempt is recorded and `done` called:
/// 2xx -> the status and delivery id; 3xx/4xx -> `invalid` (408 and 429 -> `unavailable`);
/// 5xx and network failures -> `unavailable`; no answer in time -> `timeout`.
/// Secrets and auth header values are stored sealed (crypto::keyring) and opened on the
/// sending thread only; they never reach logs, errors or the recorded headers.
/// attempt_number counts earlier rows with the same webhook-id for the endpoint; max_attempts
/// is the endpoint's max_retries. A delivered webhook whose row could not be written (logged)
/// is still a success, with an empty delivery_id. Retries and next_retry_at are the caller's.
class http_webhook_dispatcher final : public actors::webhook_port {
 public:
  /// `db` must outlive the dispatcher. Addresses inside `s.webhook_allow` are exempt from the
  /// SSRF guard. Secrets are opened with s.encryption_key / s.encryption_old_keys; without a key
  /// an endpoint with a secret fails its deliveries (`unavailable`, naming encryption_key) and
  /// one without secrets is still served. Throws config::config_error naming webhook_allow,
  /// encryption_key or encryption_old_keys for a malformed value: a start-up error.
  http_webhook_dispatcher(pg::pool& db, const config::settings& s, dispatcher_options opts = {});
  /// Waits for deliveries in flight (each bounded by the timeouts), then stops the threads.
  /// Must not be called from inside a `done` callback.
  ~http_webhook_dispatcher() override;
  http_webhook_dispatcher(const http_webhook_dispatcher&) = delete;
  http_webhook_dispatcher& operator=(const http_webhook_dispatcher&) = delete;

  /// Queues a delivery; never blocks. `done` runs once, on a pool or dispatcher thread.
  void deliver(actors::webhook_message message, std::function<void(result<actors::webhook_outcome>)> done) override;

 private:
  struct attempt;
  struct session;
  struct workers;

  void load(std::shared_ptr<attempt> a);
  void send(session& s, const std::shared_ptr<attempt>& a);
  void record(std::shared_ptr<attempt> a);
  void finish(std::shared_ptr<attempt> a, result<actors::webhook_outcome> r);

  pg::pool& db_;
  crypto::keyring keys_;
  address_policy policy_;
  dispatcher_options opts_;
  std::mutex mutex_;
  std::condition_variable idle_;
  int in_flight_ = 0;
  std::unique_ptr<workers> workers_;  // last: joined before anything it uses is destroyed
};

}  // namespace flowtrack::webhook
