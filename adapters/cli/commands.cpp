#include "adapters/cli/commands.hpp"

#include <iostream>

#include <spdlog/spdlog.h>

#include "adapters/cli/billing_command.hpp"
#include "adapters/cli/cluster_command.hpp"
#include "adapters/cli/housekeeping_command.hpp"
#include "adapters/cli/logging.hpp"
#include "adapters/cli/operator_commands.hpp"
#include "adapters/cli/run_graph_command.hpp"
#include "adapters/cli/serve.hpp"
#include "config/settings.hpp"
#include "storage/migrate.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::cli {
namespace {

constexpr const char* k_usage = R"(usage: flowtrackd COMMAND [options]

commands:
  serve                 run a node (HTTP on --http-listen, SMTP intake on --smtp-listen)
  migrate [--migrations DIR]
                        apply the schema migrations that are not applied yet
  workspace create --name NAME --slug SLUG --owner-email EMAIL [--plan PLAN_SLUG] [--timezone ZONE]
  workflow import --workspace SLUG FILE.json
                        React Flow JSON plus name, status, settings, bookingUrl, formFields
  workflow run WORKFLOW_ID --lead LEAD.json [--idempotency-key KEY]
                        a manual trigger; prints the execution id
  workflow token WORKFLOW_ID
                        a new secret for POST /hooks/WORKFLOW_ID (X-FlowTrack-Token); shown once
  workflow pause|activate WORKFLOW_ID
                        a paused workflow takes no new triggers; its runs finish
  execution show EXECUTION_ID
                        status, steps and logs as JSON
  execution cancel EXECUTION_ID
                        stop it at its next step boundary
  execution retry EXECUTION_ID
                        run a failed execution again from its failed step
  webhook create --workspace SLUG --url URL --events E1,E2 [--description D] [--max-retries N]
                 [--retry-delay SECONDS] [--auth-header NAME:VALUE]
                        an outgoing webhook endpoint; prints {"id","secret"} (the secret only here)
  webhook list --workspace SLUG
                        the workspace's endpoints as JSON, without secrets
  webhook rotate-secret ENDPOINT_ID
                        a new signing secret, printed once; the old one also signs for 24 h
  webhook test ENDPOINT_ID
                        queue a webhook.test message to it; prints {"deliveryId"}
  webhook deliveries ENDPOINT_ID [--status pending|delivered|failed|cancelled] [--since ISO8601]
                     [--limit N]
                        its messages with their attempts, newest first, as JSON lines
  webhook redeliver DELIVERY_ID
                        send that message again under the same webhook-id
  webhook recover ENDPOINT_ID --since ISO8601
                        redeliver every failed message created since then; prints {"recovered"}
  webhook disable|enable ENDPOINT_ID
                        stop or resume deliveries to it (enable also clears its failing state)
  workspace inbound-token WORKSPACE
                        a new token for POST /inbound/email (X-FlowTrack-Token); shown once
  mail unparsed WORKSPACE [--limit N]
                        intake mail no lead could be read from (kept 30 days), as JSON lines
  mail raw WORKSPACE ID
                        one such message's bytes, as received
  secrets rotate [--batch ROWS]
                        re-encrypt every stored secret under encryption_key; prints counts as JSON
  housekeeping run [JOB]
                        run housekeeping at once (JOB: partitions, login-attempts, tokens,
                        webhook-bodies, daily-stats, quota-rollover; none: all), whatever lease
                        a node holds; a JSON line a job
  cluster status --join HOST:PORT [--json]
                        the cluster's members as that member sees them (FLOWTRACK_CLUSTER_SECRET)
  cluster owner --join HOST:PORT --workspace SLUG [--json]
                        the node owning the workspace's shard, and the lease's epoch
  cluster drain NODE --join HOST:PORT
                        hand the node's shards to the others so it can stop
  billing rollover      roll over every ended quota period now (exactly once, also beside nodes)
  billing export --period YYYY-MM [--out FILE]
                        mark a closed month's billable usage billed; CSV of its sums per workspace
  run-graph WORKFLOW.json --lead LEAD.json [--trigger TRIGGER.json] [--now ISO8601] [--tz ZONE]
                        dry-run a graph on a sample lead; no side effects
  help                  show this text

settings (file, then FLOWTRACK_* environment, then flags; see config/flowtrack.example.ini):
  --config FILE  --database-url URI  --redis-url URL  --http-listen HOST:PORT
  --smtp-listen HOST:PORT  --log-level LEVEL  --log-format text|json  ...
)";

// Takes `--name VALUE` or `--name=VALUE` out of args.
std::optional<std::string> take_option(std::vector<std::string>& args, const std::string& name) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--" + name && i + 1 < args.size()) {
      std::string v = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      return v;
    }
    if (args[i].rfind("--" + name + "=", 0) == 0) {
      std::string v = args[i].substr(name.size() + 3);
      args.erase(args.begin() + static_cast<long>(i));
      return v;
    }
  }
  return std::nullopt;
}

int migrate_command(std::vector<std::string> args, const config::settings& s) {
  auto dir = take_option(args, "migrations");
  if (!args.empty()) {
    std::cerr << "flowtrackd migrate: unexpected argument '" << args.front() << "'\n";
    return 64;
  }
  std::vector<storage::migration> migrations;
  if (dir) {
    auto loaded = storage::load_migrations(*dir);
    if (!loaded) {
      std::cerr << "flowtrackd migrate: " << loaded.err().message << "\n";
      return 1;
    }
    migrations = std::move(*loaded);
  } else {
    migrations = storage::embedded_migrations();
  }
  pg::connect_options opts{s.database_url, std::chrono::milliseconds(s.pg_connect_timeout_ms),
                           std::chrono::minutes(10), "flowtrackd-migrate"};
  auto conn = pg::connection::open(opts);
  if (!conn) {
    std::cerr << "flowtrackd migrate: " << conn.err().message << "\n";
    return 1;
  }
  auto report = storage::migrate(**conn, migrations);
  if (!report) {
    std::cerr << "flowtrackd migrate: " << report.err().message << "\n";
    return 1;
  }
  for (const auto& name : report->applied) std::cout << "applied " << name << "\n";
  std::cout << "migrations: " << report->applied.size() << " applied, " << report->already_applied
            << " already applied; " << report->partitions_created << " log partitions created\n";
  return 0;
}

}  // namespace

int run(std::vector<std::string> args, char** envp) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << k_usage;
    return args.empty() ? 64 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  // A dry run needs no settings and touches nothing.
  if (command == "run-graph") return run_graph_command(args, std::cout, std::cerr);
  config::settings settings;
  try {
    settings = config::load(args, envp);
  } catch (const config::config_error& e) {
    std::cerr << "flowtrackd: invalid setting " << e.what() << "\n";
    return 78;  // EX_CONFIG
  }
  setup_logging(settings);
  if (command == "migrate") return migrate_command(std::move(args), settings);
  if (command == "serve") return serve_command(std::move(args), settings);
  if (command == "workspace") return workspace_command(std::move(args), settings);
  if (command == "workflow") return workflow_command(std::move(args), settings);
  if (command == "execution") return execution_command(std::move(args), settings);
  if (command == "webhook") return webhook_command(std::move(args), settings);
  if (command == "secrets") return secrets_command(std::move(args), settings);
  if (command == "mail") return mail_command(std::move(args), settings);
  if (command == "housekeeping") return housekeeping_command(std::move(args), settings);
  if (command == "billing") return billing_command(std::move(args), settings);
  if (command == "cluster") return cluster_command(std::move(args), settings);
  std::cerr << "flowtrackd: unknown command '" << command << "'\n" << k_usage;
  return 64;
}

}  // namespace flowtrack::cli
