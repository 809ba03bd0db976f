#include "adapters/cli/serve.hpp"

#include <csignal>
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/health.hpp"
#include "adapters/http/routes.hpp"
#include "adapters/http/server.hpp"
#include "storage/pg/pool.hpp"
#include "storage/redis/connection.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::cli {
namespace {

class node_config : public caf::actor_system_config {
 public:
  explicit node_config(const config::settings& s) {
    set("scheduler.max-threads", static_cast<std::size_t>(s.worker_threads));
    set("logger.verbosity", caf::atom("quiet"));
  }
};

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
  storage::worker_pool<redis::connection> redis(1, [&s] {
    return std::move(redis::connection::open(s.redis_url, std::chrono::milliseconds(s.redis_timeout_ms)).value());
  });

  node_config cfg(s);
  caf::actor_system system(cfg);
  auto health = system.spawn(actors::health_actor, actors::health_deps{&postgres, &redis});

  http::server_options http_opts;
  http_opts.listen = s.http_listen;
  http::server server(http_opts, http::make_routes(http::route_targets{health}));
  if (auto r = server.start(); !r) {
    spdlog::error("{}", r.err().message);
    caf::anon_send_exit(health, caf::exit_reason::user_shutdown);
    return 1;
  }
  spdlog::info("flowtrackd serving: http://{}:{}/ (healthz, readyz)", s.http_listen.host, server.port());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("flowtrackd: {} received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.stop(std::chrono::seconds(10));
  caf::anon_send_exit(health, caf::exit_reason::user_shutdown);
  system.await_all_actors_done();
  spdlog::info("flowtrackd: stopped");
  return 0;
}

}  // namespace flowtrack::cli
