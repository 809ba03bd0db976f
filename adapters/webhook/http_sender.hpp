// The outgoing HTTP requests of webhooks (POST) and of provider calls (POST, GET, DELETE): one event-loop thread drives a libcurl multi handle, so
// thousands of requests are in flight at once and a receiver that hangs costs only its own
// requests. Guards every connection against SSRF. Implements actors::post_port; knows HTTP and
// libcurl, nothing of signatures, endpoints or actors.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "actors/ports.hpp"
#include "adapters/webhook/address_guard.hpp"

namespace flowtrack::webhook {

/// How the sender talks to receivers.
struct http_sender_options {
  /// Longest a connection may take to open, DNS and TLS included.
  std::chrono::milliseconds connect_timeout{5000};
  /// Longest one request may take from the start of its transfer, connecting included.
  std::chrono::milliseconds total_timeout{15000};
  /// Response bytes kept; reading stops beyond (body_truncated, the status kept).
  std::size_t body_limit = 64 * 1024;
  /// Transfers in flight at once; more wait in memory, first in first out.
  std::size_t max_transfers = 10'000;
  /// Requests that may wait beyond max_transfers; more are answered `unavailable` at once.
  std::size_t max_waiting = 100'000;
  /// Connections to one host:port at once (0: no limit). Requests beyond wait inside libcurl
  /// for a free connection (their timeouts run).
  long max_host_connections = 64;
  /// Sent unless the request has its own User-Agent.
  std::string user_agent = "FlowTrack-Webhooks/1.0";
};

/// Makes outgoing requests for webhooks and providers without blocking anyone: post() only pushes onto an inbox
/// (under a mutex) and wakes the loop thread, which runs every transfer through one CURLM with
/// connection reuse per host.
///
/// The SSRF guard, decided before any TCP connection is made: the URL is taken apart by
/// libcurl's parser (http or https only, a host, no user:password, no IPv6 zone); an IP literal
/// the policy refuses fails at once; a host name is resolved by libcurl's threaded resolver (so
/// no thread of ours waits on DNS) and every socket libcurl then opens is checked against the
/// policy (CURLOPT_OPENSOCKETFUNCTION): a refused address is never connected to, whatever DNS
/// answered, and when no address was allowed the request fails `invalid`. No redirects, no proxy
/// (the environment's is ignored), no other protocols, no decompression.
///
/// Answers (post_answer): with an HTTP status, `failure` is empty whatever the status (a 302
/// comes back as 302; a body cut by the limit or by an error after the status is
/// body_truncated). Without one: `invalid` (a URL or header refused, an address the guard
/// refuses: "address not allowed for <origin>: ..." naming the range of a literal address,
/// never the addresses a name resolved to), `unavailable` (DNS, connect, TLS, network, too many
/// waiting, shutting down) or `timeout` (connect or total timeout). Response headers: names
/// lower case, values trimmed, in order, at most 16 KiB of them; body and headers are the
/// receiver's raw bytes (signed_sender cleans them to UTF-8). duration: from the moment the
/// transfer is handed to libcurl to its end (time waiting behind max_transfers not counted).
///
/// Methods: POST (the default) sends the body with Content-Length; GET and DELETE send no body and
/// no Content-Length (a body given with them, or another method, is refused `invalid`). The guard,
/// limits, timeouts and answers are the same for all three.
///
/// Request headers are sent as given, plus Host, Content-Length (POST) and User-Agent (unless given);
/// libcurl's own Accept, Content-Type and Expect are not sent unless given. A header name that
/// is not a token, a value with CR, LF or NUL, or one of the headers the sender owns (Host,
/// Content-Length, Transfer-Encoding, Connection, Expect, TE, Upgrade, Trailer, Keep-Alive) is
/// refused (`invalid`).
///
/// Threads: `done` is called exactly once, on the loop thread, which it must not hold long (hand
/// the answer on, e.g. as a message). Only a post() made after destruction began calls `done`
/// at once on the caller's thread (`unavailable`, "shutting down"); so a `done` may call post().
class http_sender final : public actors::post_port {
 public:
  /// Addresses inside the policy's allow-list (settings.webhook_allow) are exempt from the guard.
  explicit http_sender(address_policy policy, http_sender_options options = {});
  /// Stops taking requests, aborts the transfers in flight and calls every pending `done` with
  /// `unavailable` ("shutting down"), on the loop thread, then joins it. Must not be called from
  /// inside a `done` callback (the loop thread cannot join itself).
  ~http_sender() override;
  http_sender(const http_sender&) = delete;
  http_sender& operator=(const http_sender&) = delete;

  /// Queues the request; never blocks beyond a mutex.
  void post(actors::outgoing_post request, std::function<void(actors::post_answer)> done) override;

 private:
  struct loop;
  std::unique_ptr<loop> loop_;
  std::thread thread_;
};

}  // namespace flowtrack::webhook
