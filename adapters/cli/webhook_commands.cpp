// `flowtrackd webhook ...` and `flowtrackd secrets rotate`: webhook endpoints and their
// deliveries for operators until the management API exists, and re-encryption of stored
// secrets. Rows only: running nodes pick the changes up themselves.
#include <charconv>
#include <iostream>

#include <boost/json.hpp>

#include "adapters/cli/operator_commands.hpp"
#include "adapters/webhook/endpoint_rules.hpp"
#include "crypto/secret_box.hpp"
#include "runtime/tz.hpp"
#include "storage/webhooks.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::cli {
namespace json = boost::json;
namespace {

constexpr int k_usage = 64;
constexpr int k_config = 78;

constexpr const char* k_create_usage =
    "usage: flowtrackd webhook create --workspace SLUG --url URL --events E1,E2 [--description D] "
    "[--max-retries N] [--retry-delay SECONDS] [--auth-header NAME:VALUE]\n";

/// The node's key ring; a malformed key (already refused by the settings) is exit 78.
std::optional<crypto::keyring> keys_of(std::string_view command, const config::settings& s) {
  auto keys = crypto::keyring::from_hex(s.encryption_key, s.encryption_old_keys);
  if (!keys) {
    std::cerr << "flowtrackd " << command << ": invalid setting " << keys.err().message << "\n";
    return std::nullopt;
  }
  return *keys;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return std::string(s.substr(b, s.find_last_not_of(" \t") - b + 1));
}

json::value or_null(const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); }

result<int> whole_number(const std::string& text, const char* field) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size())
    return make_error(error_code::invalid, std::string("--") + field + " must be a whole number", field);
  return v;
}

int webhook_create(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook create";
  auto a = parse(args, {"workspace", "url", "events", "description", "max-retries", "retry-delay", "auth-header"});
  if (!a) {
    std::cerr << "flowtrackd " << command << ": " << a.err().message << "\n" << k_create_usage;
    return k_usage;
  }
  if (!a->positional.empty() || !a->options.count("workspace") || !a->options.count("url") || !a->options.count("events")) {
    std::cerr << k_create_usage;
    return k_usage;
  }
  // Every endpoint made here gets a signing secret, which is stored only sealed.
  auto keys = keys_of(command, s);
  if (!keys) return k_config;
  if (!keys->can_seal()) {
    std::cerr << "flowtrackd " << command << ": encryption_key is not set, and webhook secrets are stored only "
              << "encrypted: set FLOWTRACK_ENCRYPTION_KEY to 64 hex characters (scripts/up.sh keeps one in "
              << ".flowtrack/encryption.key)\n";
    return k_config;
  }

  storage::new_webhook_endpoint e;
  e.url = a->options["url"];
  std::string events = a->options["events"];
  for (std::size_t i = 0; i <= events.size();) {
    auto comma = events.find(',', i);
    std::string item = trim(std::string_view(events).substr(i, comma == std::string::npos ? std::string::npos : comma - i));
    if (!item.empty()) e.events.push_back(item);
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  if (a->options.count("description")) e.description = a->options["description"];
  if (a->options.count("max-retries")) {
    auto n = whole_number(a->options["max-retries"], "max-retries");
    if (!n) return fail(command, n.err());
    e.max_retries = *n;
  }
  if (a->options.count("retry-delay")) {
    auto n = whole_number(a->options["retry-delay"], "retry-delay");
    if (!n) return fail(command, n.err());
    e.retry_delay_seconds = *n;
  }
  if (a->options.count("auth-header")) {
    const std::string& h = a->options["auth-header"];
    auto colon = h.find(':');
    if (colon == std::string::npos)
      return fail(command, make_error(error_code::invalid, "--auth-header must be NAME:VALUE, e.g. 'Authorization: Bearer ...'",
                                      "auth-header"));
    e.auth_header_name = trim(std::string_view(h).substr(0, colon));
    e.auth_header_value = trim(std::string_view(h).substr(colon + 1));
  }
  auto policy = webhook::address_policy::from_strings(s.webhook_allow);
  if (!policy) return fail(command, policy.err());
  if (auto ok = webhook::check_new_endpoint(e, *policy); !ok) return fail(command, ok.err());

  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto ws = storage::find_workspace(**c, a->options["workspace"]);
  if (!ws) return fail(command, ws.err());
  e.workspace_id = ws->id;
  auto secret = webhook::new_webhook_secret();
  if (!secret) return fail(command, secret.err());
  e.secret = *secret;
  auto id = storage::create_webhook_endpoint(**c, e, *keys);
  if (!id) return fail(command, id.err());
  // The one time the secret is shown.
  std::cout << json::serialize(json::object{{"id", *id}, {"secret", *secret}}) << "\n";
  return 0;
}

int webhook_list(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook list";
  auto a = parse(args, {"workspace"});
  if (!a || !a->positional.empty() || !a->options.count("workspace")) {
    std::cerr << "usage: flowtrackd webhook list --workspace SLUG\n";
    return k_usage;
  }
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto ws = storage::find_workspace(**c, a->options["workspace"]);
  if (!ws) return fail(command, ws.err());
  auto list = storage::list_webhook_endpoints(**c, ws->id);
  if (!list) return fail(command, list.err());
  json::array out;
  for (const auto& e : *list) {
    json::array events;
    for (const auto& ev : e.events) events.emplace_back(ev);
    json::object o{{"id", e.id},
                   {"url", e.url},
                   {"description", e.description ? json::value(*e.description) : json::value(nullptr)},
                   {"events", std::move(events)},
                   {"maxRetries", e.max_retries},
                   {"retryDelaySeconds", e.retry_delay_seconds},
                   {"isActive", e.is_active},
                   {"hasSecret", e.has_secret},
                   {"authHeaderName", e.auth_header_name ? json::value(*e.auth_header_name) : json::value(nullptr)},
                   {"lastTriggeredAt", or_null(e.last_triggered_at)},
                   {"createdAt", e.created_at},
                   {"maxInFlight", e.max_in_flight},
                   {"disabledAt", or_null(e.disabled_at)},
                   {"disabledReason", or_null(e.disabled_reason)},
                   {"failingSince", or_null(e.failing_since)}};
    out.emplace_back(std::move(o));
  }
  std::cout << json::serialize(out) << "\n";
  return 0;
}

/// The one positional argument (an id) of a verb taking no options; nullopt after printing `usage`.
std::optional<std::string> only_id(const std::vector<std::string>& args, const char* usage) {
  auto a = parse(args, {});
  if (!a || a->positional.size() != 1) {
    if (!a) std::cerr << "flowtrackd webhook: " << a.err().message << "\n";
    std::cerr << usage;
    return std::nullopt;
  }
  return a->positional[0];
}

/// Tells the operator that a message made due waits while its endpoint is disabled.
void note_if_disabled(pg::connection& c, std::string_view command, std::string_view endpoint_id) {
  auto state = storage::load_webhook_endpoint_state(c, endpoint_id);
  if (state && (state->disabled_at || !state->is_active))
    std::cerr << "flowtrackd " << command << ": note: endpoint " << state->id
              << " is disabled; nothing is sent until `flowtrackd webhook enable " << state->id << "`\n";
}

int webhook_rotate_secret(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook rotate-secret";
  auto id = only_id(args, "usage: flowtrackd webhook rotate-secret ENDPOINT_ID\n");
  if (!id) return k_usage;
  auto keys = keys_of(command, s);
  if (!keys) return k_config;
  if (!keys->can_seal()) {
    std::cerr << "flowtrackd " << command << ": encryption_key is not set, and webhook secrets are stored only "
              << "encrypted: set FLOWTRACK_ENCRYPTION_KEY to 64 hex characters\n";
    return k_config;
  }
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto secret = webhook::new_webhook_secret();
  if (!secret) return fail(command, secret.err());
  if (auto r = storage::rotate_webhook_endpoint_secret(**c, *id, *secret, *keys); !r) return fail(command, r.err());
  // The one time the new secret is shown; the old one keeps signing beside it for 24 h.
  std::cout << *secret << "\n";
  return 0;
}

int webhook_test(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook test";
  auto id = only_id(args, "usage: flowtrackd webhook test ENDPOINT_ID\n");
  if (!id) return k_usage;
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto delivery = storage::queue_webhook_test(**c, *id);
  if (!delivery) return fail(command, delivery.err());
  std::cout << json::serialize(json::object{{"deliveryId", *delivery}}) << "\n";
  return 0;
}

constexpr const char* k_deliveries_usage =
    "usage: flowtrackd webhook deliveries ENDPOINT_ID [--status pending|delivered|failed|cancelled] [--since ISO8601] "
    "[--limit N]\n";

int webhook_deliveries(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook deliveries";
  auto bad = [&](const std::string& why) {
    std::cerr << "flowtrackd " << command << ": " << why << "\n" << k_deliveries_usage;
    return k_usage;
  };
  auto a = parse(args, {"status", "since", "limit"});
  if (!a) return bad(a.err().message);
  if (a->positional.size() != 1) return bad("one ENDPOINT_ID is needed");
  storage::webhook_delivery_filter f;
  if (a->options.count("status")) {
    const std::string& st = a->options["status"];
    if (st != "pending" && st != "delivered" && st != "failed" && st != "cancelled")
      return bad("--status must be pending, delivered, failed or cancelled, not '" + st + "'");
    f.status = st;
  }
  if (a->options.count("since")) {
    auto t = runtime::parse_iso8601(a->options["since"]);
    if (!t) return bad("--since must be an ISO 8601 time such as 2026-01-31T12:00:00Z");
    f.since_ms = *t;
  }
  if (a->options.count("limit")) {
    auto n = whole_number(a->options["limit"], "limit");
    if (!n || *n < 1 || *n > 1000) return bad("--limit must be 1 to 1000");
    f.limit = *n;
  }
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto lines = storage::list_webhook_deliveries(**c, a->positional[0], f);
  if (!lines) return fail(command, lines.err());
  // Compact, one object a line (PostgreSQL's json text has spaces around every colon).
  for (const auto& line : *lines) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    std::cout << (ec ? line : json::serialize(v)) << "\n";
  }
  return 0;
}

int webhook_redeliver(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook redeliver";
  auto id = only_id(args, "usage: flowtrackd webhook redeliver DELIVERY_ID\n");
  if (!id) return k_usage;
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto r = storage::redeliver_webhook_delivery(**c, *id);
  if (!r) return fail(command, r.err());
  note_if_disabled(**c, command, r->endpoint_id);
  std::cout << r->delivery_id << "\n";
  return 0;
}

int webhook_recover(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook recover";
  constexpr const char* usage = "usage: flowtrackd webhook recover ENDPOINT_ID --since ISO8601\n";
  auto a = parse(args, {"since"});
  if (!a || a->positional.size() != 1 || !a->options.count("since")) {
    if (!a) std::cerr << "flowtrackd " << command << ": " << a.err().message << "\n";
    std::cerr << usage;
    return k_usage;
  }
  auto since = runtime::parse_iso8601(a->options["since"]);
  if (!since) {
    std::cerr << "flowtrackd " << command << ": --since must be an ISO 8601 time such as 2026-01-31T12:00:00Z\n" << usage;
    return k_usage;
  }
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto n = storage::recover_webhook_deliveries(**c, a->positional[0], *since);
  if (!n) return fail(command, n.err());
  if (*n > 0) note_if_disabled(**c, command, a->positional[0]);
  std::cout << json::serialize(json::object{{"recovered", *n}}) << "\n";
  return 0;
}

void print_state(const storage::webhook_endpoint_state& e) {
  std::cout << json::serialize(json::object{{"id", e.id},
                                            {"isActive", e.is_active},
                                            {"disabledAt", or_null(e.disabled_at)},
                                            {"disabledReason", or_null(e.disabled_reason)},
                                            {"failingSince", or_null(e.failing_since)}})
            << "\n";
}

int webhook_disable(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook disable";
  auto id = only_id(args, "usage: flowtrackd webhook disable ENDPOINT_ID\n");
  if (!id) return k_usage;
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto state = storage::disable_webhook_endpoint(**c, *id);
  if (!state) return fail(command, state.err());
  print_state(*state);
  return 0;
}

int webhook_enable(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "webhook enable";
  auto id = only_id(args, "usage: flowtrackd webhook enable ENDPOINT_ID\n");
  if (!id) return k_usage;
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto state = storage::enable_webhook_endpoint(**c, *id);
  if (!state) return fail(command, state.err());
  print_state(*state);
  return 0;
}

int secrets_rotate(const std::vector<std::string>& args, const config::settings& s) {
  const char* command = "secrets rotate";
  auto a = parse(args, {"batch"});
  if (!a || !a->positional.empty()) {
    std::cerr << "usage: flowtrackd secrets rotate [--batch ROWS]\n";
    return k_usage;
  }
  int batch = 100;
  if (a->options.count("batch")) {
    auto n = whole_number(a->options["batch"], "batch");
    if (!n || *n < 1 || *n > 10000) return fail(command, make_error(error_code::invalid, "--batch must be 1 to 10000", "batch"));
    batch = *n;
  }
  auto keys = keys_of(command, s);
  if (!keys) return k_config;
  if (!keys->can_seal()) {
    std::cerr << "flowtrackd " << command << ": encryption_key is not set: rotation re-encrypts every secret under "
              << "encryption_key (FLOWTRACK_ENCRYPTION_KEY), opening them with it or encryption_old_keys\n";
    return k_config;
  }
  auto c = connect(s);
  if (!c) return fail(command, c.err());
  auto report = storage::rotate_webhook_secrets(**c, *keys, batch);
  if (!report) return fail(command, report.err());
  std::cout << json::serialize(json::object{{"rotated", report->rotated},
                                            {"alreadyCurrent", report->already_current},
                                            {"endpoints", report->endpoints},
                                            {"keyId", keys->current_id()}})
            << "\n";
  return 0;
}

int usage_of(const char* group, const char* verbs) {
  std::cerr << "usage: flowtrackd " << group << " " << verbs << " ...\n";
  return k_usage;
}

}  // namespace

int webhook_command(std::vector<std::string> args, const config::settings& s) {
  return dispatch("webhook", std::move(args), s,
                  {{"create", webhook_create},
                   {"list", webhook_list},
                   {"rotate-secret", webhook_rotate_secret},
                   {"test", webhook_test},
                   {"deliveries", webhook_deliveries},
                   {"redeliver", webhook_redeliver},
                   {"recover", webhook_recover},
                   {"disable", webhook_disable},
                   {"enable", webhook_enable}});
}

int secrets_command(std::vector<std::string> args, const config::settings& s) {
  if (args.empty() || args[0] != "rotate") return usage_of("secrets", "rotate");
  args.erase(args.begin());
  return secrets_rotate(args, s);
}

}  // namespace flowtrack::cli
