// FlowTrack's node settings: the typed schema, defaults, and loading from a file, the
// environment (FLOWTRACK_*) and command-line flags, later sources winning. Knows nothing else.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace flowtrack::config {

/// A host and a port, as in "127.0.0.1:8080".
struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

/// Everything a node is configured with.
struct settings {
  std::string database_url = "postgresql://postgres@127.0.0.1:5432/flowtrack";
  std::string redis_url = "redis://127.0.0.1:6379/0";
  endpoint http_listen{"127.0.0.1", 8080};
  endpoint smtp_listen{"127.0.0.1", 2525};
  std::string smtp_hostname;                 ///< the SMTP greeting's and Received: name; empty: the host's name
  int smtp_max_message_bytes = 25 * 1024 * 1024;  ///< a bigger message gets 552 5.3.4 (also SIZE= at MAIL FROM)
  int smtp_max_recipients = 100;             ///< RCPT beyond it gets 452 4.5.3
  int smtp_max_errors = 20;                  ///< client errors in one session before 421 and close
  int smtp_command_timeout_ms = 300000;      ///< waiting for a command; then 421 4.4.2 and close
  int smtp_data_timeout_ms = 600000;         ///< from 354 to the end of the message
  int smtp_handler_timeout_ms = 60000;       ///< an unanswered sender/recipient check or delivery gets 451 4.4.1
  int smtp_max_connections = 1000;           ///< open SMTP connections; one more gets 421 4.7.0
  int smtp_max_connections_per_ip = 20;      ///< open SMTP connections from one client address; one more gets 421 4.7.0
  int smtp_max_buffered_bytes = 256 * 1024 * 1024;  ///< message bytes held at once by all SMTP sessions; DATA beyond it gets 452 4.3.1
  std::string smtp_tls_cert;                 ///< PEM certificate chain file; with smtp_tls_key, STARTTLS is offered
  std::string smtp_tls_key;                  ///< PEM private key file
  std::string mail_relay = "smtp://127.0.0.1:1025";
  std::string mail_domain = "intake.localhost";
  /// authserv-ids (host names) of the mail servers in front of the intake whose
  /// Authentication-Results headers are believed: their SPF/DKIM/DMARC verdicts are recorded.
  std::vector<std::string> mail_trusted_authserv_ids;
  /// Where the links in sent emails (tracking, unsubscribe) point; empty: http://{http_listen}.
  std::string public_url;
  /// public_url, or the one http_listen gives.
  std::string public_base_url() const;
  std::vector<std::string> webhook_allow;  ///< CIDRs exempt from the SSRF guard
  int form_rate_limit = 10;                ///< public form submissions per IP per minute; 0 = off
  int form_rate_limit_per_form = 1000;     ///< submissions per form per minute from all IPs; 0 = off
  int form_rate_limit_ipv6_prefix = 64;    ///< IPv6 clients are rate-limited per network of this many bits
  int http_header_timeout_ms = 10000;      ///< a started request header must arrive within this
  int http_body_timeout_ms = 30000;        ///< a request body must arrive within this
  int http_idle_timeout_ms = 60000;        ///< a keep-alive connection may wait this long for a request
  int http_max_connections = 10000;        ///< open connections; one more is answered 503 and closed
  int http_max_connections_per_ip = 256;   ///< open connections from one TCP peer; one more gets 503 and is closed
  int http_max_buffered_body_bytes = 64 * 1024 * 1024;  ///< request-body bytes held at once; a new body beyond it gets 503
  std::vector<std::string> trusted_proxies;  ///< CIDRs of proxies whose X-Forwarded-For names the client
  /// The admin listener (/metrics, detailed /readyz); nullopt when set to "off".
  std::optional<endpoint> admin_listen = endpoint{"127.0.0.1", 9091};
  std::string log_level = "info";          ///< trace, debug, info, warn, error, off
  std::string log_format = "text";         ///< text or json
  int pg_pool_size = 4;                    ///< PostgreSQL connections (each with its own I/O thread)
  int pg_connect_timeout_ms = 5000;
  int pg_query_timeout_ms = 30000;
  int redis_timeout_ms = 2000;
  int worker_threads = 2;                  ///< actor scheduler threads
  int lock_ttl_ms = 30000;                 ///< a run's Redis lock; a dead node's runs are adopted after it
  int recovery_interval_ms = 15000;        ///< how often stale executions are looked for
  int scheduler_tick_ms = 50;              ///< how often due executions are claimed
  int schedule_poll_ms = 1000;             ///< how often due scheduled triggers (TRIGGER_SCHEDULE) are looked for
  int schedule_catch_up_ticks = 1;         ///< missed ticks a schedule fires after downtime (the latest); older ones are skipped
  int schedule_batch_size = 500;           ///< leads read, filtered and started per step of a scheduled tick
  /// Housekeeping (storage/housekeeping.hpp): a job runs on one node of the cluster at most this
  /// often, in seconds; 0: this node schedules none (`flowtrackd housekeeping run` still works).
  int housekeeping_interval_s = 3600;
  int execution_log_retention_days = 90;   ///< execution_logs partitions wholly older than this are dropped
  int execution_log_partitions_ahead = 3;  ///< months of execution_logs partitions made ahead of this one
  int login_attempt_retention_days = 90;   ///< login_attempts rows older than this are deleted
  int webhook_body_retention_days = 30;    ///< webhook delivery bodies older than this are trimmed (rows stay)
  /// 64 hex characters (32 bytes) sealing secrets at rest (AES-256-GCM); empty: secrets cannot
  /// be stored or used. Never logged or shown.
  std::string encryption_key;
  std::vector<std::string> encryption_old_keys;  ///< earlier keys (64 hex each) that still open values
  /// 64 hex characters (32 bytes): the HS256 key of the management API's access tokens; empty:
  /// the /api/v1 sign-in routes answer 503 naming jwt_key (the rest of the node runs).
  std::string jwt_key;
  /// Origins (scheme://host[:port]) a browser may call /api/v1 from; empty: no cross-origin use.
  std::vector<std::string> cors_allowed_origins;
  /// A JWKS document (file) of Clerk's session-token keys; Clerk RS256 tokens are accepted with it.
  std::string clerk_jwks_file;
  /// A PEM public key (file) of Clerk's session tokens, instead of clerk_jwks_file.
  std::string clerk_public_key_file;
  /// Argon2id memory (KiB) of new password hashes. TESTS ONLY: lowering it below 65536 weakens
  /// every password stored meanwhile.
  int password_hash_memory_kib = 65536;
  /// Argon2id passes of new password hashes. TESTS ONLY: lowering it below 3 weakens them.
  int password_hash_iterations = 3;
  /// Stripe's webhook signing secret (`whsec_...`): POST /billing/stripe/webhook verifies each
  /// event's Stripe-Signature under it; empty: that route answers 404. Never logged or shown.
  std::string stripe_webhook_secret;
  /// Calendly's webhook signing key (the `signing_key` given when the webhook subscription was
  /// made): POST /integrations/calendly/webhook/{workspace_id} verifies each event's
  /// Calendly-Webhook-Signature under it; empty: that route answers 404. Never logged or shown.
  std::string calendly_webhook_signing_key;
  /// Google and Microsoft (Outlook) mail integrations (issue #16 item 4): the OAuth client of
  /// each provider and its endpoints (the real providers' by default; tests point them at local
  /// servers). A provider without a client id is not offered. Client secrets are never logged
  /// or shown.
  std::string google_oauth_client_id;
  std::string google_oauth_client_secret;
  std::string google_oauth_authorize_url = "https://accounts.google.com/o/oauth2/v2/auth";
  std::string google_oauth_token_url = "https://oauth2.googleapis.com/token";
  std::string google_userinfo_url = "https://openidconnect.googleapis.com/v1/userinfo";
  std::string google_oauth_revoke_url = "https://oauth2.googleapis.com/revoke";
  std::string gmail_api_url = "https://gmail.googleapis.com";
  std::string microsoft_oauth_client_id;
  std::string microsoft_oauth_client_secret;
  std::string microsoft_oauth_authorize_url = "https://login.microsoftonline.com/common/oauth2/v2.0/authorize";
  std::string microsoft_oauth_token_url = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
  /// Microsoft's OpenID Connect userinfo (served by Graph); read with POST, as OIDC allows.
  std::string microsoft_userinfo_url = "https://graph.microsoft.com/oidc/userinfo";
  /// Empty: Microsoft has no token revocation endpoint; a disconnect only forgets the tokens.
  std::string microsoft_oauth_revoke_url;
  std::string microsoft_graph_url = "https://graph.microsoft.com/v1.0";
  /// Calendly as a third integration (credential type CALENDLY): connected by the same
  /// authorization code with PKCE; the connect makes the workspace's webhook subscription with a
  /// signing key of its own. Not offered without a client id; the secret is never logged or shown.
  std::string calendly_oauth_client_id;
  std::string calendly_oauth_client_secret;
  std::string calendly_oauth_authorize_url = "https://auth.calendly.com/oauth/authorize";
  std::string calendly_oauth_token_url = "https://auth.calendly.com/oauth/token";
  std::string calendly_api_url = "https://api.calendly.com";  ///< + /webhook_subscriptions
  /// How often this node looks for integration tokens about to expire (s); 0: never.
  int oauth_refresh_interval_s = 60;
  /// Tokens expiring within this (s) are refreshed by that look.
  int oauth_refresh_window_s = 600;
  /// Days a past_due subscription keeps taking new triggers after its first failed payment;
  /// then they are refused (402 payment_required) until it is paid.
  int billing_grace_days = 7;
  /// The cluster (README "Cluster"). This node's name among its peers (`--node-name`); empty:
  /// the host name. Shard leases are held under it, so it must be unique in the cluster.
  std::string node_name;
  /// Where peers reach this node's cluster tunnel (`--cluster-listen`); unset: a single node.
  std::optional<endpoint> cluster_listen;
  /// Members to join through (`--join HOST:PORT`, repeatable; comma-separated in a file).
  std::vector<endpoint> cluster_join;
  /// The secret every node proves (FLOWTRACK_CLUSTER_SECRET, at least 16 characters); needed
  /// with cluster_listen. Never logged or shown.
  std::string cluster_secret;
  int cluster_heartbeat_ms = 500;     ///< how often a node tells its peers it is alive
  int cluster_suspect_after_ms = 2000;  ///< silent this long: suspect
  int cluster_down_after_ms = 5000;     ///< silent this long: down (its shards go to the others)
  int shard_lease_ms = 4000;            ///< a shard lease; renewed every third of it
};

/// A setting that could not be accepted; names the key and what is allowed.
class config_error : public std::runtime_error {
 public:
  config_error(std::string key, const std::string& what)
      : std::runtime_error(key + ": " + what), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

/// Raw key/value pairs from one source, keys in the file's spelling (`database_url`).
using raw_values = std::map<std::string, std::string>;

/// Reads an INI-style file (`key = value`, `#`/`;` comments, `[section]` headers ignored).
raw_values read_file(const std::string& path);

/// Picks the FLOWTRACK_* variables out of an environment block (`environ`).
raw_values read_environment(char** envp);

/// Takes `--key=value` / `--key value` flags (dashes or underscores) out of argv; returns the rest.
raw_values read_flags(std::vector<std::string>& args);

/// Applies raw values onto settings, validating each; throws config_error naming the key.
void apply_values(settings& s, const raw_values& values);

/// Loads defaults, then the file (`--config`/FLOWTRACK_CONFIG, if given), then the environment,
/// then flags. Consumed flags are removed from `args`.
settings load(std::vector<std::string>& args, char** envp);

/// Parses "host:port" (IPv6 as "[::1]:80"); throws config_error for `key`.
endpoint parse_endpoint(const std::string& key, const std::string& text);

/// Every key a source may set, for messages and help.
const std::vector<std::string>& known_keys();

}  // namespace flowtrack::config
