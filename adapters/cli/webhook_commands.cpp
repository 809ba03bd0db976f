// `flowtrackd webhook create|list` and `flowtrackd secrets rotate`: webhook endpoints for
// operators until the management API exists, and re-encryption of stored secrets.
#include <charconv>
#include <iostream>

#include <boost/json.hpp>

#include "adapters/cli/operator_commands.hpp"
#include "adapters/webhook/endpoint_rules.hpp"
#include "crypto/secret_box.hpp"
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
                   {"lastTriggeredAt", e.last_triggered_at ? json::value(*e.last_triggered_at) : json::value(nullptr)},
                   {"createdAt", e.created_at}};
    out.emplace_back(std::move(o));
  }
  std::cout << json::serialize(out) << "\n";
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
  if (args.empty()) return usage_of("webhook", "{create|list}");
  std::string verb = args[0];
  args.erase(args.begin());
  if (verb == "create") return webhook_create(args, s);
  if (verb == "list") return webhook_list(args, s);
  return usage_of("webhook", "{create|list}");
}

int secrets_command(std::vector<std::string> args, const config::settings& s) {
  if (args.empty() || args[0] != "rotate") return usage_of("secrets", "rotate");
  args.erase(args.begin());
  return secrets_rotate(args, s);
}

}  // namespace flowtrack::cli
