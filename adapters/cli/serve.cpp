#include "adapters/cli/serve.hpp"

#include <csignal>
#include <optional>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <ctime>
#include <unistd.h>
#include <fstream>
#include <iostream>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/engine.hpp"
#include "actors/health.hpp"
#include "actors/housekeeping.hpp"
#include "actors/node.hpp"
#include "actors/pooled_store.hpp"
#include "actors/reply.hpp"
#include "actors/schedules.hpp"
#include "actors/supervisor.hpp"
#include "adapters/cli/housekeeping_command.hpp"
#include "adapters/cli/zoneinfo.hpp"
#include "adapters/cluster/cluster_node.hpp"
#include "adapters/mail/smtp_mailer.hpp"
#include "adapters/oauth/provider_mailer.hpp"
#include "adapters/oauth/token_refresh.hpp"
#include "adapters/webhook/http_sender.hpp"
#include "adapters/webhook/signed_sender.hpp"
#include "adapters/http/api/accounts.hpp"
#include "adapters/http/api/integrations.hpp"
#include "adapters/http/api/resources.hpp"
#include "adapters/http/api/leads.hpp"
#include "adapters/http/api/openapi.hpp"
#include "adapters/http/api/usage.hpp"
#include "adapters/http/api/workspaces.hpp"
#include "adapters/http/routes.hpp"
#include "adapters/http/server.hpp"
#include "adapters/smtp/intake.hpp"
#include "adapters/smtp/server.hpp"
#include "crypto/secret_box.hpp"
#include "metrics/metrics.hpp"
#include "storage/pg/pool.hpp"
#include "storage/redis/connection.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::cli {
namespace {

/// Exit code when a core actor exhausted its restarts (EX_SOFTWARE).
constexpr int k_exit_engine_failed = 70;
/// How long a node whose engine failed stays up, unready, before it stops ingress.
constexpr std::chrono::seconds k_unready_grace{3};
/// How long it then lets requests in flight finish.
constexpr std::chrono::seconds k_failed_grace{2};
/// The latest it exits after the failure, whatever hangs.
constexpr std::chrono::seconds k_failed_stop_deadline{9};
/// Requests ingress may have in the engine at once (one per connection at 1,024 connections).
constexpr std::size_t k_max_engine_requests = 1024;

class node_config : public caf::actor_system_config {
 public:
  explicit node_config(const config::settings& s) {
    actors::configure_engine(*this, s.worker_threads);
    if (s.cluster_listen) cluster::configure_cluster(*this, s);  // the middleman, the wire types
  }
};

std::string make_node_id() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + std::to_string(std::time(nullptr));
}


// The node's pools in /metrics: PostgreSQL connections and queued jobs, Redis jobs and their
// duration. The gauges read the pools at scrape time; scrapes end with the HTTP server, before
// the pools go.
void watch_pools(pg::pool& postgres, storage::worker_pool<redis::connection>& redis) {
  auto& reg = metrics::global();
  reg.gauge("flowtrack_pg_pool_connections", "PostgreSQL pool connections by state.", {"state"}, [&postgres] {
    auto st = postgres.stats();
    return std::vector<metrics::gauge_reading>{{{"size"}, double(st.size)}, {{"connected"}, double(st.connected)},
                                               {{"busy"}, double(st.busy)}};
  });
  reg.gauge("flowtrack_pool_queued_jobs", "Jobs waiting for a pool thread.", {"pool"}, [&postgres, &redis] {
    return std::vector<metrics::gauge_reading>{{{"postgres"}, double(postgres.stats().queued)},
                                               {{"redis"}, double(redis.queued())}};
  });
  auto& redis_latency = reg.histograms("flowtrack_redis_job_duration_seconds",
                                       "Time of one Redis job (one command, script or pipeline) on a pool thread.")
                            .at({});
  redis.on_job_done([&redis_latency](double seconds) { redis_latency.observe(seconds); });
}

// The admin listener (admin_listen): /metrics and detailed readiness, away from public traffic.
std::unique_ptr<http::server> make_admin_server(const config::settings& s, http::route_targets targets) {
  http::server_options o;
  o.listen = *s.admin_listen;
  o.setting = "admin_listen";
  o.route_of = http::admin_route_of;
  o.max_connections = 64;
  return std::make_unique<http::server>(o, http::make_admin_routes(targets));
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The management API (/api/v1) with the account routes; nullopt (after saying which setting is
// wrong) when a Clerk key file cannot be used.
std::optional<std::shared_ptr<http::api::api_service>> make_api(const config::settings& s, pg::pool& postgres,
                                                                storage::worker_pool<redis::connection>& redis,
                                                                actors::mailer_port* mailer, const crypto::keyring* keys,
                                                                oauth::provider_client* oauth_client) {
  http::api::api_options o;
  o.postgres = &postgres;
  o.mailer = mailer;
  o.keys = keys;
  for (std::size_t i = 0; i + 1 < s.jwt_key.size(); i += 2) o.jwt_key.push_back(static_cast<char>(std::stoi(s.jwt_key.substr(i, 2), nullptr, 16)));
  if (!s.clerk_jwks_file.empty()) {
    o.clerk_keys = crypto::rsa_keyset::from_jwks(read_whole_file(s.clerk_jwks_file));
    if (!o.clerk_keys) {
      std::cerr << "flowtrackd serve: invalid setting clerk_jwks_file: '" << s.clerk_jwks_file << "' holds no usable RS256 key (JWKS)\n";
      return std::nullopt;
    }
  } else if (!s.clerk_public_key_file.empty()) {
    o.clerk_keys = crypto::rsa_keyset::from_pem(read_whole_file(s.clerk_public_key_file));
    if (!o.clerk_keys) {
      std::cerr << "flowtrackd serve: invalid setting clerk_public_key_file: '" << s.clerk_public_key_file
                << "' is not an RSA public key PEM of 2048 to 8192 bits\n";
      return std::nullopt;
    }
  }
  o.cors_allowed_origins = s.cors_allowed_origins;
  o.public_base_url = s.public_base_url();
  o.password_params.memory_kib = static_cast<std::uint32_t>(s.password_hash_memory_kib);
  o.password_params.iterations = static_cast<std::uint32_t>(s.password_hash_iterations);
  if (s.password_hash_memory_kib < 65536 || s.password_hash_iterations < 3)
    spdlog::warn("flowtrackd: password_hash_memory_kib/password_hash_iterations are below Argon2id m=65536 t=3: new password "
                 "hashes are weak (a test setting)");
  if (s.jwt_key.empty()) spdlog::warn("flowtrackd: no jwt_key: the /api/v1 sign-in routes answer 503");
  auto api = std::make_shared<http::api::api_service>(std::move(o));
  http::api::add_account_routes(*api);
  http::api::add_workspace_routes(*api, s.mail_domain);
  http::api::add_resource_routes(*api, {&redis, keys, s.webhook_allow});  // runs are woken on the node's Redis workers
  http::api::add_lead_routes(*api);
  http::api::add_usage_routes(*api);
  http::api::add_integration_routes(*api, {oauth_client, keys});  // Google/Outlook connect, callback, disconnect, email-sender
  http::api::add_openapi_route(*api);  // last: it checks the document against the routes above
  return api;
}

}  // namespace

int serve_command(std::vector<std::string> args, const config::settings& s) {
  if (!args.empty()) {
    std::cerr << "flowtrackd serve: unexpected argument '" << args.front() << "'\n";
    return 64;
  }
  // Signals are taken by sigwait below; block them before any thread starts so none gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // raised by the engine's give-up handler below
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto redis_probe = redis::connection::open(s.redis_url, std::chrono::milliseconds(s.redis_timeout_ms));
  if (!redis_probe) {
    std::cerr << "flowtrackd serve: redis_url: " << redis_probe.err().message << "\n";
    return 78;
  }

  pg::pool_options pool_opts;
  pool_opts.connection = {s.database_url, std::chrono::milliseconds(s.pg_connect_timeout_ms),
                          std::chrono::milliseconds(s.pg_query_timeout_ms), "flowtrackd"};
  pool_opts.size = s.pg_pool_size;
  pg::pool postgres(pool_opts);
  storage::worker_pool<redis::connection> redis(2, [&s] {
    return std::move(redis::connection::open(s.redis_url, std::chrono::milliseconds(s.redis_timeout_ms)).value());
  });

  watch_pools(postgres, redis);

  runtime::time_zone_db zones(zoneinfo_loader());
  std::unique_ptr<mail::smtp_mailer> mailer;
  std::unique_ptr<webhook::http_sender> http_out;
  std::unique_ptr<webhook::signed_sender> webhook_sender;
  // Mail integrations (issue #16 item 4): the provider calls go through an HTTP sender of their
  // own whose guard lets every address through, since their URLs come from the operator's
  // settings (google_oauth_*, microsoft_oauth_*, ...), never from a workspace; the actors' mailer
  // sends through Gmail or Graph when a workspace chose it, through SMTP otherwise.
  crypto::keyring oauth_keys;
  std::unique_ptr<webhook::http_sender> provider_http;
  std::unique_ptr<oauth::provider_client> oauth_client;
  std::unique_ptr<oauth::provider_mailer> provider_mailer;
  try {
    mailer = std::make_unique<mail::smtp_mailer>(s);
    auto policy = webhook::address_policy::from_strings(s.webhook_allow);
    if (!policy) throw config::config_error("webhook_allow", policy.err().message);
    auto keys = webhook::keyring_of(s);
    webhook::report_keys_in_use(postgres, keys);
    http_out = std::make_unique<webhook::http_sender>(std::move(*policy));
    webhook_sender = std::make_unique<webhook::signed_sender>(std::move(keys), *http_out);
    if (auto ring = crypto::keyring::from_hex(s.encryption_key, s.encryption_old_keys)) oauth_keys = std::move(*ring);
    auto anywhere = webhook::address_policy::from_strings({"0.0.0.0/0", "::/0"});
    provider_http = std::make_unique<webhook::http_sender>(std::move(*anywhere));
    oauth_client = std::make_unique<oauth::provider_client>(*provider_http, s);
    provider_mailer = std::make_unique<oauth::provider_mailer>(postgres, oauth_keys, *oauth_client, *mailer,
                                                               oauth::provider_mailer_options{s.mail_domain, s.public_base_url()});
  } catch (const config::config_error& e) {
    std::cerr << "flowtrackd serve: invalid setting " << e.what() << "\n";
    return 78;
  }
  actors::pooled_store store(postgres, redis, &zones);
  actors::node_services node;
  node.store = &store;
  node.mailer = provider_mailer.get();  // Gmail/Graph when the workspace's emailSender says so, else the SMTP mailer
  node.webhook_sender = webhook_sender.get();
  node.node_id = make_node_id();
  node.options.lock_ttl = std::chrono::milliseconds(s.lock_ttl_ms);
  node.options.recovery_interval = std::chrono::milliseconds(s.recovery_interval_ms);
  node.options.scheduler_tick = std::chrono::milliseconds(s.scheduler_tick_ms);
  node.options.max_batches_in_flight = std::max(1, s.pg_pool_size / 2);
  node.options.form_rate_limit = s.form_rate_limit;
  node.options.form_rate_limit_per_form = s.form_rate_limit_per_form;
  // Test-only fault injection (tests/e2e/supervision_e2etest.cpp); production never sets
  // FLOWTRACK_TEST_FAULT (the settings loader ignores FLOWTRACK_TEST_* variables).
  if (const char* fault = std::getenv("FLOWTRACK_TEST_FAULT"); fault && std::string_view(fault) == "writer_crash") {
    spdlog::warn("FLOWTRACK_TEST_FAULT=writer_crash: the storage writer crashes after every start (test only)");
    node.options.fault_writer_crash = true;
  }
  node.options.form_rate_limit_ipv6_prefix = s.form_rate_limit_ipv6_prefix;

  std::vector<http::ip_network> trusted_proxies;
  for (const auto& c : s.trusted_proxies) {
    auto net = http::ip_network::parse(c);
    if (!net) {
      std::cerr << "flowtrackd serve: invalid setting trusted_proxies: '" << c << "' is not a CIDR such as 10.0.0.0/8\n";
      return 78;
    }
    trusted_proxies.push_back(*net);
  }

  // The management API before the actor system: a setting it refuses ends the start here, with
  // no actor yet to stop.
  auto keys = crypto::keyring::from_hex(s.encryption_key, s.encryption_old_keys);
  auto api = make_api(s, postgres, redis, mailer.get(), keys ? &*keys : nullptr, oauth_client.get());
  if (!api) return 78;

  node_config cfg(s);
  caf::actor_system system(cfg);
  // A core actor that exhausted its restarts leaves the node without an engine: readiness says so
  // and the node stops with exit code 70, so that a service manager starts a fresh one.
  actors::failed_actors failed;
  auto give_up = [&failed](const std::string& actor, const std::string& reason) {
    spdlog::error("flowtrackd: the {} crashed more often than it is restarted ({}); the node is unready and stops "
                  "with exit code {}", actor, reason, k_exit_engine_failed);
    failed.add(actor);
    kill(getpid(), SIGUSR1);
  };
  // The cluster (README "Cluster"): this node's member behind the tunnel on cluster_listen. A
  // member that refuses this node's secret stops it here, before any shard lease is touched.
  // Its lease rounds on a connection of their own: a node busy writing must not lose its shards
  // because a renewal waited in the pool behind its own batches.
  std::optional<pg::pool> lease_postgres;
  std::unique_ptr<cluster::cluster_node> cluster_member;
  if (s.cluster_listen) {
    auto lease_opts = pool_opts;
    lease_opts.size = 1;
    lease_postgres.emplace(lease_opts);
    auto joined = cluster::cluster_node::start(system, s, *lease_postgres);
    if (!joined) {
      spdlog::error("cluster: {}", joined.err().message);
      system.await_all_actors_done();
      redis.close();
      postgres.close();
      return joined.err().code == error_code::unauthorized ? 77 : 78;  // EX_NOPERM, EX_CONFIG
    }
    cluster_member = std::move(*joined);
    // Runs only for the shards this node holds, their writes fenced by the lease's epoch.
    node.ownership = cluster_member->ownership();
    node.lease_holder = cluster_member->lease_holder();
  }
  auto engine = actors::start_engine(system, &node, give_up);
  auto health = system.spawn(actors::health_actor, actors::health_deps{&postgres, &redis, &failed});
  // The periodic jobs, restarted like the engine's actors when one crashes: housekeeping (each
  // job once per cluster under a lease row) and scheduled triggers (due schedules claimed every
  // schedule_poll_ms); both run their work on the pool's threads.
  std::vector<actors::child_spec> periodic;
  if (s.housekeeping_interval_s > 0)
    periodic.push_back({"housekeeping", [&](caf::event_based_actor* p) {
                          return p->spawn(actors::housekeeping_actor,
                                          actors::housekeeping_deps{&postgres, node.node_id, housekeeping_options(s),
                                                                    std::chrono::seconds(s.housekeeping_interval_s)});
                        }, std::nullopt});
  periodic.push_back({"schedule actor", [&](caf::event_based_actor* p) {
                        return p->spawn(actors::schedule_actor,
                                        actors::schedule_deps_for(postgres, redis, zones, node.node_id,
                                                                  std::chrono::milliseconds(s.schedule_poll_ms), s.schedule_catch_up_ticks,
                                                                  static_cast<std::size_t>(s.schedule_batch_size)));
                      }, std::nullopt});
  auto periodic_jobs = system.spawn(actors::supervisor, std::move(periodic), 5, std::chrono::milliseconds(60000), give_up);
  // Integration tokens about to expire are refreshed on a timer thread of their own (the work on
  // the pool; each credential under its row lock, so every node may run it); owners hear of
  // revoked grants through the SMTP mailer.
  std::unique_ptr<oauth::token_refresh_timer> oauth_refresh;
  if (s.oauth_refresh_interval_s > 0)
    oauth_refresh = std::make_unique<oauth::token_refresh_timer>(postgres, oauth_keys, *oauth_client, *mailer,
                                                                 std::chrono::seconds(s.oauth_refresh_interval_s),
                                                                 std::chrono::seconds(s.oauth_refresh_window_s));

  http::server_options http_opts;
  http_opts.listen = s.http_listen;
  http_opts.route_of = http::route_of;
  http_opts.header_timeout = std::chrono::milliseconds(s.http_header_timeout_ms);
  http_opts.body_timeout = std::chrono::milliseconds(s.http_body_timeout_ms);
  http_opts.idle_timeout = std::chrono::milliseconds(s.http_idle_timeout_ms);
  http_opts.max_connections = static_cast<std::size_t>(s.http_max_connections);
  http_opts.max_connections_per_ip = static_cast<std::size_t>(s.http_max_connections_per_ip);
  http_opts.max_buffered_body_bytes = static_cast<std::size_t>(s.http_max_buffered_body_bytes);
  http_opts.trusted_proxies = std::move(trusted_proxies);
  // Answers the engine owes ingress expire after 30 s (reply slots, no actor per request); at
  // most k_max_engine_requests are owed at once, beyond that ingress answers 503 at once.
  auto deadlines = std::make_shared<actors::reply_deadlines>(std::chrono::seconds(30), k_max_engine_requests);
  http::route_targets targets;
  targets.health = health;
  targets.system = &system;
  targets.deadlines = deadlines;
  // The tracking links verify with every key of the ring, so links in mail sent before a
  // rotation keep working.
  if (keys) targets.tracking = {&postgres, &*keys};
  targets.api = std::move(*api);
  // Mail to the workspaces' intake addresses, through the same bounded engine requests.
  smtp::intake_handler intake(system, deadlines, s.mail_domain, s.mail_trusted_authserv_ids);
  smtp::server smtp_server(smtp::options_from(s), intake);
  targets.inbound.postgres = &postgres;
  targets.billing = {&postgres, s.stripe_webhook_secret, s.billing_grace_days, {}};  // POST /billing/stripe/webhook; 404 without the secret
  targets.calendly = {&postgres, s.calendly_webhook_signing_key, {}};  // POST /integrations/calendly/webhook/{workspace_id}; 404 without the key
  // Calendly connected by OAuth (issue #16 item 4): a delivery is checked under its workspace's own key.
  if (keys && !s.calendly_oauth_client_id.empty()) targets.calendly.keys = &*keys;
  targets.inbound.deliver = [&intake](std::string intake_id, std::string client_ip, std::string raw,
                                      std::function<void(int, std::string, std::string)> done) {
    intake.deliver_to(intake_id, client_ip, std::move(raw),
                      [done = std::move(done)](smtp::reply r) { done(r.code, std::move(r.enhanced), std::move(r.text)); });
  };
  http_opts.body_limit_for = [api = targets.api](std::string_view path) {
    return path == "/inbound/email" ? http::k_inbound_body_limit : api ? api->body_limit_for(path) : 0;  // API: CSV import
  };
  http_opts.admit = http::make_admission(targets);  // /inbound/email: the token before the body
  http::server server(http_opts, http::make_routes(targets));
  metrics::global().gauge("flowtrack_http_open_connections", "Open HTTP connections.", {},
                          [&server] { return std::vector<metrics::gauge_reading>{{{}, double(server.connections())}}; });
  metrics::global().gauge("flowtrack_http_buffered_body_bytes", "Request-body bytes held against http_max_buffered_body_bytes.", {},
                          [&server] { return std::vector<metrics::gauge_reading>{{{}, double(server.buffered_body_bytes())}}; });
  auto admin = s.admin_listen ? make_admin_server(s, targets) : nullptr;
  // The admin listener first: once the public one answers, both do.
  auto started = admin ? admin->start() : decltype(server.start()){};
  if (started) started = server.start();
  if (started) started = smtp_server.start();
  if (!started) {
    spdlog::error("{}", started.err().message);
    if (admin) admin->stop(std::chrono::milliseconds(0));
    server.stop(std::chrono::milliseconds(0));
    smtp_server.stop(std::chrono::milliseconds(0));
    caf::anon_send_exit(health, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(periodic_jobs, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
    if (cluster_member) {
      caf::anon_send_exit(cluster_member->member(), caf::exit_reason::user_shutdown);
      cluster_member->stop();
    }
    system.await_all_actors_done();
    redis.close();
    postgres.close();
    return 1;
  }
  spdlog::info("flowtrackd serving: http://{}:{}/ (healthz, readyz)", s.http_listen.host, server.port());
  if (admin) spdlog::info("flowtrackd admin: http://{}:{}/ (metrics, readyz)", s.admin_listen->host, admin->port());
  spdlog::info("flowtrackd smtp intake: {}:{} (intake@<workspace intake id>.{})", s.smtp_listen.host, smtp_server.port(),
               s.mail_domain);

  int sig = 0;
  do sigwait(&signals, &sig);
  while (sig == SIGUSR1 && failed.names().empty());  // a stray SIGUSR1 is not the engine's
  int exit_code = 0;
  std::chrono::milliseconds grace = std::chrono::seconds(10);
  if (sig == SIGUSR1) {
    exit_code = k_exit_engine_failed;
    grace = k_failed_grace;
    // A service manager expects the exit within seconds: should the orderly stop below hang, a
    // watchdog ends the process anyway.
    std::thread([] {
      std::this_thread::sleep_for(k_failed_stop_deadline);
      spdlog::error("flowtrackd: the stop took too long; exiting with code {}", k_exit_engine_failed);
      spdlog::default_logger()->flush();
      std::_Exit(k_exit_engine_failed);
    }).detach();
    // Unready but still listening for a moment, so probes see 503 rather than a refused
    // connection; a SIGTERM meanwhile cuts it short.
    timespec wait{k_unready_grace.count(), 0};
    sigtimedwait(&signals, nullptr, &wait);
  } else {
    spdlog::info("flowtrackd: {} received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  }
  // Order: ingress stops first (requests in flight get their answers from a live engine), then
  // the actors end, then the pools finish their queued jobs while the actor system their
  // callbacks reach still exists.
  server.stop(grace);
  if (targets.api) targets.api->close();  // its hashing jobs end; later account emails are dropped
  smtp_server.stop(grace);
  if (admin) admin->stop(std::chrono::seconds(1));
  caf::anon_send_exit(health, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(periodic_jobs, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
  if (cluster_member) {
    caf::anon_send_exit(cluster_member->member(), caf::exit_reason::user_shutdown);
    cluster_member->stop();
  }
  system.await_all_actors_done();
  oauth_refresh.reset();  // waits for a pass under way
  webhook_sender.reset();
  provider_http.reset();  // answers what is still in flight ("shutting down")
  http_out.reset();  // answers what is still in flight ("shutting down"); the actors are gone
  mailer.reset();
  redis.close();
  postgres.close();
  spdlog::info("flowtrackd: stopped");
  return exit_code;
}

}  // namespace flowtrack::cli
