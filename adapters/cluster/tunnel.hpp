// The authenticated, encrypted tunnel between cluster nodes: TLS 1.3 with an external pre-shared
// key derived from FLOWTRACK_CLUSTER_SECRET, spliced to CAF's BASP on loopback. Knows nothing of
// CAF, actors or config: it moves bytes between sockets on its own I/O thread.
//
// Design
//
//   node B (dialer side)                                   node A (server side)
//   CAF middleman --TCP--> 127.0.0.1:local  ==TLS 1.3 PSK==>  cluster_listen --TCP--> 127.0.0.1:basp
//                          (tunnel_dialer)                    (tunnel_server)         (publish on lo)
//
// * Node A publishes its actors with `middleman().publish(actor, 0, "127.0.0.1")`, so BASP is
//   reachable only from the host itself, and puts a tunnel_server on its `cluster_listen`
//   address whose target is that loopback port.
// * Node B makes a tunnel_dialer for A's `cluster_listen`; the dialer listens on an ephemeral
//   127.0.0.1 port and CAF calls `remote_actor("127.0.0.1", dialer.local_port())`. Each TCP
//   connection CAF opens there becomes one TLS connection to A (connect timeout, handshake
//   timeout), and one TCP connection from A's tunnel_server to A's BASP port.
// * The handshake is TLS 1.3 only, TLS_AES_128_GCM_SHA256, with an external PSK: PSK =
//   HKDF-SHA256(secret, salt "flowtrack cluster psk v1"), 32 bytes, under the identity
//   k_psk_identity. No certificates. The key exchange is psk_dhe_ke (ECDHE as well as the PSK),
//   so traffic recorded today stays secret if the cluster secret leaks later. No session
//   tickets, no early data.
// * A tunnel_server connects to its target only after the handshake completed, i.e. after the
//   client proved the PSK (binder in the ClientHello, then its Finished message). Nothing a peer
//   sends before that reaches BASP.
// * Splicing: one read in flight per direction (the bytes held per connection are bounded by two
//   buffers; a slow reader slows the writer through TCP), half-close propagates (TCP FIN <->
//   TLS close_notify), an error on either side closes both sides of that connection and nothing
//   else. Each connection owns its sockets and its TLS state; there is no shared stream, so one
//   connection dropping cannot affect another (the caf_openssl 0.17.6 bug this replaces).
// * OpenSSL is driven directly on the non-blocking socket (Asio waits for readiness) rather than
//   through asio::ssl::stream, because the latter cannot half-close: its async_shutdown reads
//   from the socket while the splice's own read is pending.
//
// Threat model: a peer without the secret
//   can   - open TCP connections to cluster_listen and hold each for at most handshake_timeout
//           (at most max_handshakes at a time; more are closed at once);
//         - learn that a FlowTrack cluster port is there (the PSK identity is sent in clear),
//           and see the size and timing of the traffic between nodes;
//         - reset or drop connections it can reach on the path (denial of service);
//         - record a ClientHello and try candidate secrets offline against its binder: the
//           secret must be random (e.g. `openssl rand -base64 32`); 16 characters is a minimum
//           length, not a guarantee of entropy.
//   cannot - send a single byte to BASP (so it can neither address actors nor use the spawn
//           server), or read or alter the traffic between nodes;
//         - pose as a node to a dialer (the client requires the PSK to be used; a certificate-
//           based handshake is refused, and a PSK handshake proves the server knows the key);
//         - replay a recorded handshake or its records (fresh ECDHE shares, TLS sequence numbers).
// A peer *with* the secret is a full cluster member: BASP itself authorises nothing.
// The host itself is trusted: any local process can reach BASP on loopback, or use a dialer's
// loopback port to reach the remote node as this node (CAF 0.17 cannot publish on a Unix socket).
//
// Using it with CAF: keep `middleman.enable-automatic-connections` off (the default), since a
// direct connection would bypass the tunnel; and let only one node of each pair dial the other
// (CAF keeps one connection per pair and drops a second handshake from a known node).
// stop() joins the I/O thread: never call it from on_refused.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/error.hpp"

namespace flowtrack::cluster {

/// The shortest FLOWTRACK_CLUSTER_SECRET accepted.
inline constexpr std::size_t k_min_secret_length = 16;

/// The PSK identity every node sends and accepts; a new key schedule gets a new identity.
inline constexpr std::string_view k_psk_identity = "flowtrack-cluster-1";

/// A 32-byte TLS 1.3 external pre-shared key.
using psk = std::array<unsigned char, 32>;

/// Checks a cluster secret: `invalid` naming FLOWTRACK_CLUSTER_SECRET when it is shorter than
/// k_min_secret_length characters (the message says what to do).
result<void> validate_secret(std::string_view secret);

/// PSK = HKDF-SHA256(ikm = secret, salt = "flowtrack cluster psk v1", info = k_psk_identity).
/// Deterministic: every node with the same secret derives the same key.
psk derive_psk(std::string_view secret);

/// A TCP address: a host name or IP literal and a port.
struct endpoint {
  std::string host;
  std::uint16_t port = 0;
};

/// Why a tunnel connection was not established.
enum class failure {
  wrong_secret,  ///< the handshake failed on the key (the peers' secrets differ)
  not_a_peer,    ///< the other side does not speak the cluster's TLS (plain TCP, another protocol or version)
  timeout,       ///< no connection or no complete handshake within the timeout
  unreachable,   ///< the remote (or the server's local target) refused or could not be resolved
  io_error,      ///< the connection broke during the handshake
};

/// The stable lower-case name of a failure, for logs and metric labels.
std::string_view to_string(failure f);

/// A tunnel connection that was refused or could not be set up.
struct refusal {
  failure kind = failure::io_error;
  std::string peer;    ///< the other side's address, "host:port"
  std::string reason;  ///< what happened, for people ("wrong cluster secret?")
};

/// Called on the tunnel's I/O thread for each refusal (after it was logged); must not block.
using refusal_handler = std::function<void(const refusal&)>;

/// Limits and timeouts of a tunnel_server or tunnel_dialer.
struct tunnel_options {
  std::chrono::milliseconds handshake_timeout{5000};  ///< TCP accept/connect to TLS handshake done
  std::chrono::milliseconds connect_timeout{5000};    ///< TCP connect to the remote or the target
  std::size_t buffer_bytes = 64 * 1024;               ///< per direction and connection
  std::size_t max_handshakes = 64;                    ///< handshakes in progress; more are closed at once
  refusal_handler on_refused;                         ///< optional
};

/// Counts of one tunnel_server or tunnel_dialer.
struct tunnel_stats {
  std::uint64_t established = 0;  ///< handshakes completed (and, on a server, the target connected)
  std::uint64_t refused = 0;      ///< connections refused or failed before splicing
  std::uint64_t open = 0;         ///< connections being handshaken or spliced now
};

namespace detail {
class tunnel_core;
}

/// Accepts cluster peers on a public address, authenticates them with the PSK and splices each to
/// a local target (the node's BASP port on 127.0.0.1). Runs one I/O thread of its own.
class tunnel_server {
 public:
  /// Binds `listen` (port 0: an ephemeral port) and starts accepting. `unavailable` when the
  /// address cannot be bound, `invalid` when the secret is too short.
  static result<std::unique_ptr<tunnel_server>> start(std::string_view secret, const endpoint& listen,
                                                      std::uint16_t target_port, tunnel_options options = {});
  ~tunnel_server();
  tunnel_server(const tunnel_server&) = delete;
  tunnel_server& operator=(const tunnel_server&) = delete;

  /// The port bound.
  std::uint16_t port() const;
  tunnel_stats stats() const;
  /// Closes the listener and every connection, and joins the I/O thread. Idempotent.
  void stop();

 private:
  explicit tunnel_server(std::unique_ptr<detail::tunnel_core> core);
  std::unique_ptr<detail::tunnel_core> core_;
};

/// Listens on an ephemeral 127.0.0.1 port; each connection accepted there is carried to the
/// remote tunnel_server through a new TLS-PSK connection. Runs one I/O thread of its own.
class tunnel_dialer {
 public:
  /// Starts listening on 127.0.0.1:0. The remote is resolved and dialed per connection, so a
  /// remote that is down now does not fail start().
  static result<std::unique_ptr<tunnel_dialer>> start(std::string_view secret, endpoint remote,
                                                      tunnel_options options = {});
  ~tunnel_dialer();
  tunnel_dialer(const tunnel_dialer&) = delete;
  tunnel_dialer& operator=(const tunnel_dialer&) = delete;

  /// The loopback port to hand to `middleman::remote_actor("127.0.0.1", port)`.
  std::uint16_t local_port() const;
  tunnel_stats stats() const;
  /// Closes the listener and every connection, and joins the I/O thread. Idempotent.
  void stop();

 private:
  explicit tunnel_dialer(std::unique_ptr<detail::tunnel_core> core);
  std::unique_ptr<detail::tunnel_core> core_;
};

/// What probe() found.
struct probe_result {
  enum class status { ok, refused, unreachable, timeout };
  status outcome = status::unreachable;
  std::string reason;  ///< empty when ok
};

/// One connect and handshake with `remote`, on the calling thread, within `timeout` in all:
/// ok (the remote holds the same secret), refused (it rejected our key, or is not a cluster
/// tunnel), unreachable (no connection) or timeout. Sends no application data; the remote's
/// tunnel_server opens and at once closes one connection to its target.
probe_result probe(std::string_view secret, const endpoint& remote, std::chrono::milliseconds timeout);

std::string_view to_string(probe_result::status s);

}  // namespace flowtrack::cluster
