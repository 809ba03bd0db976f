#include "adapters/cli/operator_commands.hpp"

#include <cctype>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "domain/intake.hpp"
#include "runtime/compiled_graph.hpp"
#include "runtime/graph.hpp"
#include "runtime/problem.hpp"
#include "runtime/text.hpp"
#include "storage/executions.hpp"
#include "storage/ingest.hpp"
#include "storage/redis/connection.hpp"
#include "storage/redis/delay_queue.hpp"
#include "storage/runs.hpp"
#include "storage/workflow_documents.hpp"
#include "storage/workflows.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::cli {
namespace json = boost::json;
namespace {
constexpr int k_usage_error = 64;
}  // namespace

// The helpers below are shared with the other subcommand files (operator_commands.hpp).

result<arguments> parse(const std::vector<std::string>& args, std::initializer_list<const char*> known) {
  arguments out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return make_error(error_code::invalid, "--" + name + " needs a value", name);
    }
    bool ok = false;
    for (const char* k : known) ok = ok || name == k;
    if (!ok) return make_error(error_code::invalid, "unknown option --" + name, name);
    out.options[name] = value;
  }
  return out;
}

int fail(std::string_view command, const error& e) {
  std::cerr << "flowtrackd " << command << ": " << e.message << "\n";
  switch (e.code) {
    case error_code::invalid: return 65;      // EX_DATAERR
    case error_code::not_found: return 66;    // EX_NOINPUT
    case error_code::conflict: return 73;     // EX_CANTCREAT
    case error_code::unavailable:
    case error_code::timeout: return 69;      // EX_UNAVAILABLE
    case error_code::quota_exceeded: return 75;
    case error_code::unauthorized: return 77;  // EX_NOPERM
    case error_code::internal: return 70;
  }
  return 1;
}

result<std::unique_ptr<pg::connection>> connect(const config::settings& s) {
  return pg::connection::open(pg::connect_options{s.database_url, std::chrono::milliseconds(s.pg_connect_timeout_ms),
                                                  std::chrono::milliseconds(s.pg_query_timeout_ms), "flowtrackd-cli"});
}

namespace {

result<json::value> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(error_code::not_found, "cannot read " + path, path);
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  auto v = json::parse(ss.str(), ec);
  if (ec) return make_error(error_code::invalid, path + " is not valid JSON: " + ec.message(), path);
  return v;
}

// --- workspace create ---------------------------------------------------------------------

int workspace_create(const std::vector<std::string>& args, const config::settings& s) {
  auto a = parse(args, {"name", "slug", "owner-email", "plan", "timezone"});
  if (!a) return fail("workspace create", a.err());
  for (const char* required : {"name", "slug", "owner-email"})
    if (!a->options.count(required)) {
      std::cerr << "usage: flowtrackd workspace create --name NAME --slug SLUG --owner-email EMAIL [--plan PLAN_SLUG] [--timezone ZONE]\n";
      return k_usage_error;
    }
  storage::new_workspace w{a->options["name"], a->options["slug"], a->options["owner-email"],
                           a->options.count("plan") ? a->options["plan"] : "free",
                           a->options.count("timezone") ? a->options["timezone"] : "UTC", {}};
  if (!domain::valid_email(w.owner_email))
    return fail("workspace create", make_error(error_code::invalid, "'" + w.owner_email + "' is not a valid email address"));
  auto c = connect(s);
  if (!c) return fail("workspace create", c.err());
  auto made = storage::create_workspace(**c, w);
  if (!made) return fail("workspace create", made.err());
  std::cout << json::serialize(json::object{{"id", made->id},
                                            {"slug", made->slug},
                                            {"intakeEmail", "intake@" + made->intake_email_id + "." + s.mail_domain},
                                            {"ownerEmail", made->owner_email},
                                            {"plan", made->plan_slug}})
            << "\n";
  return 0;
}

// --- workflow import ---------------------------------------------------------------------

int workflow_import(const std::vector<std::string>& args, const config::settings& s) {
  auto a = parse(args, {"workspace"});
  if (!a) return fail("workflow import", a.err());
  if (!a->options.count("workspace") || a->positional.size() != 1) {
    std::cerr << "usage: flowtrackd workflow import --workspace SLUG FILE.json\n";
    return k_usage_error;
  }
  auto doc = read_json_file(a->positional[0]);
  if (!doc) return fail("workflow import", doc.err());
  if (!doc->is_object()) return fail("workflow import", make_error(error_code::invalid, "the file must hold a JSON object"));
  auto read = storage::read_workflow_document(doc->as_object());
  if (!read) return fail("workflow import", read.err());
  if (auto* bad = std::get_if<storage::invalid_graph>(&*read)) {
    std::cout << json::serialize(json::object{{"problems", runtime::problems_to_json(bad->problems)}}) << "\n";
    std::cerr << "flowtrackd workflow import: the graph is invalid; nothing was imported\n";
    return 2;
  }
  auto& doc_read = std::get<storage::workflow_document>(*read);
  auto& w = doc_read.workflow;

  auto c = connect(s);
  if (!c) return fail("workflow import", c.err());
  auto ws = storage::find_workspace(**c, a->options["workspace"]);
  if (!ws) return fail("workflow import", ws.err());
  w.workspace_id = ws->id;
  auto id = storage::create_workflow(**c, w);
  if (!id) return fail("workflow import", id.err());
  std::cout << *id << "\n";
  if (!doc_read.warnings.empty())
    std::cerr << "warnings: " << json::serialize(runtime::problems_to_json(doc_read.warnings)) << "\n";
  return 0;
}

// --- workflow run -------------------------------------------------------------------------

void wake_nodes(const config::settings& s, const std::string& execution_id);

int workflow_run(const std::vector<std::string>& args, const config::settings& s) {
  auto a = parse(args, {"lead", "idempotency-key"});
  if (!a) return fail("workflow run", a.err());
  if (!a->options.count("lead") || a->positional.size() != 1) {
    std::cerr << "usage: flowtrackd workflow run WORKFLOW_ID --lead LEAD.json [--idempotency-key KEY]\n";
    return k_usage_error;
  }
  auto lead = read_json_file(a->options["lead"]);
  if (!lead) return fail("workflow run", lead.err());
  auto c = connect(s);
  if (!c) return fail("workflow run", c.err());
  std::optional<std::string> key;
  if (a->options.count("idempotency-key")) key = a->options["idempotency-key"];
  auto out = storage::start_manual_run(**c, a->positional[0], *lead, std::move(key));
  if (!out) return fail("workflow run", out.err());
  if (!out->execution_id) {
    std::cout << json::serialize(json::object{{"leadId", out->lead_id}, {"executionId", nullptr},
                                              {"note", "the lead existed and rerunOnResubmit is off: lead updated, no run"}})
              << "\n";
    return 0;
  }
  // Wake a node: the schedulers claim due executions from the shared queue. Without Redis the
  // run still starts when a node next adopts queued executions.
  wake_nodes(s, *out->execution_id);
  std::cout << *out->execution_id << "\n";
  return 0;
}

// --- workflow pause / activate ------------------------------------------------------------

int set_workflow_status(const std::vector<std::string>& args, const config::settings& s, const char* status) {
  std::string verb = std::string("workflow ") + (std::string_view(status) == "paused" ? "pause" : "activate");
  if (args.size() != 1 || !runtime::is_uuid(args[0])) {
    std::cerr << "usage: flowtrackd " << verb << " WORKFLOW_ID\n";
    return k_usage_error;
  }
  auto c = connect(s);
  if (!c) return fail(verb, c.err());
  auto to = domain::parse_workflow_status(status).value_or(domain::workflow_status::paused);
  if (auto r = storage::set_workflow_status(**c, args[0], to); !r) return fail(verb, r.err());
  std::cout << args[0] << " " << status << "\n";
  return 0;
}

int workspace_inbound_token(const std::vector<std::string>& args, const config::settings& s) {
  if (args.size() != 1) {
    std::cerr << "usage: flowtrackd workspace inbound-token WORKSPACE (slug or id; prints a new token, the old one stops working)\n";
    return k_usage_error;
  }
  auto c = connect(s);
  if (!c) return fail("workspace inbound-token", c.err());
  auto token = storage::rotate_inbound_token(**c, args[0]);
  if (!token) return fail("workspace inbound-token", token.err());
  std::cout << *token << "\n";
  return 0;
}

int workflow_token(const std::vector<std::string>& args, const config::settings& s) {
  if (args.size() != 1 || !runtime::is_uuid(args[0])) {
    std::cerr << "usage: flowtrackd workflow token WORKFLOW_ID\n";
    return k_usage_error;
  }
  auto c = connect(s);
  if (!c) return fail("workflow token", c.err());
  auto token = storage::rotate_webhook_token(**c, args[0]);
  if (!token) return fail("workflow token", token.err());
  std::cout << *token << "\n";
  return 0;
}

int workflow_pause(const std::vector<std::string>& args, const config::settings& s) { return set_workflow_status(args, s, "paused"); }
int workflow_activate(const std::vector<std::string>& args, const config::settings& s) { return set_workflow_status(args, s, "active"); }

// --- execution show -----------------------------------------------------------------------

int execution_show(const std::vector<std::string>& args, const config::settings& s) {
  if (args.size() != 1 || !runtime::is_uuid(args[0])) {
    std::cerr << "usage: flowtrackd execution show EXECUTION_ID\n";
    return k_usage_error;
  }
  auto c = connect(s);
  if (!c) return fail("execution show", c.err());
  auto doc = storage::execution_json(**c, args[0]);
  if (!doc) return fail("execution show", doc.err());
  std::cout << *doc << "\n";
  return 0;
}

// Puts an execution on the shared queue, due now, so a running node picks it up.
void wake_nodes(const config::settings& s, const std::string& execution_id) {
  if (storage::wake_execution(s.redis_url, std::chrono::milliseconds(s.redis_timeout_ms), execution_id)) return;
  std::cerr << "warning: could not notify the nodes through Redis; the run starts when a node adopts queued executions\n";
}

int execution_cancel(const std::vector<std::string>& args, const config::settings& s) {
  if (args.size() != 1 || !runtime::is_uuid(args[0])) {
    std::cerr << "usage: flowtrackd execution cancel EXECUTION_ID\n";
    return k_usage_error;
  }
  auto c = connect(s);
  if (!c) return fail("execution cancel", c.err());
  auto r = storage::cancel_execution(**c, args[0]);
  if (!r) return fail("execution cancel", r.err());
  if (!*r) return fail("execution cancel", make_error(error_code::conflict, "execution " + args[0] + " is not running, queued or paused"));
  std::cout << "cancelled " << args[0] << "\n";
  return 0;
}

int execution_retry(const std::vector<std::string>& args, const config::settings& s) {
  if (args.size() != 1 || !runtime::is_uuid(args[0])) {
    std::cerr << "usage: flowtrackd execution retry EXECUTION_ID\n";
    return k_usage_error;
  }
  auto c = connect(s);
  if (!c) return fail("execution retry", c.err());
  auto r = storage::retry_execution(**c, args[0]);
  if (!r) return fail("execution retry", r.err());
  if (!*r) return fail("execution retry", make_error(error_code::conflict, "execution " + args[0] + " has not failed"));
  wake_nodes(s, args[0]);
  std::cout << "retrying " << args[0] << " from its failed step\n";
  return 0;
}

}  // namespace

int dispatch(std::string_view group, std::vector<std::string> args, const config::settings& s,
             std::initializer_list<std::pair<const char*, verb_fn>> verbs) {
  if (!args.empty())
    for (const auto& [name, fn] : verbs)
      if (args[0] == name) return fn(std::vector<std::string>(args.begin() + 1, args.end()), s);
  std::cerr << "usage: flowtrackd " << group << " {";
  bool first = true;
  for (const auto& [name, fn] : verbs) {
    std::cerr << (first ? "" : "|") << name;
    first = false;
  }
  std::cerr << "} ...\n";
  return k_usage_error;
}

int workspace_command(std::vector<std::string> args, const config::settings& s) {
  return dispatch("workspace", std::move(args), s, {{"create", workspace_create}, {"inbound-token", workspace_inbound_token}});
}

int workflow_command(std::vector<std::string> args, const config::settings& s) {
  return dispatch("workflow", std::move(args), s,
                  {{"import", workflow_import}, {"run", workflow_run}, {"pause", workflow_pause}, {"activate", workflow_activate},
                   {"token", workflow_token}});
}

int execution_command(std::vector<std::string> args, const config::settings& s) {
  return dispatch("execution", std::move(args), s,
                  {{"show", execution_show}, {"cancel", execution_cancel}, {"retry", execution_retry}});
}

}  // namespace flowtrack::cli
