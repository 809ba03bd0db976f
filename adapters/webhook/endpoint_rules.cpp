// Endpoint rules and secrets, with the SSRF guard's URL check and OpenSSL's random bytes.
#include "adapters/webhook/endpoint_rules.hpp"

#include <algorithm>
#include <cctype>

#include <openssl/rand.h>

#include "adapters/webhook/signature.hpp"

namespace flowtrack::webhook {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos))
      return false;
  return true;
}

std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

error bad(std::string field, std::string message) { return make_error(error_code::invalid, std::move(message), std::move(field)); }

}  // namespace

const std::vector<std::string_view>& webhook_event_names() {
  static const std::vector<std::string_view> names = {"lead.created",        "lead.updated",     "lead.status_changed",
                                                      "execution.completed", "execution.failed", "email.sent",
                                                      "email.opened",        "email.clicked",    "*"};
  return names;
}

bool may_set_auth_header(std::string_view name) {
  static const std::vector<std::string> ours = {"content-type", "content-length", "host", "transfer-encoding",
                                                 "user-agent", "expect", "webhook-id", "webhook-timestamp",
                                                 "webhook-signature", "connection"};
  return is_token(name) && std::find(ours.begin(), ours.end(), lower(name)) == ours.end();
}

result<void> check_new_endpoint(const storage::new_webhook_endpoint& e, const address_policy& policy) {
  if (e.events.empty()) return bad("events", "events must name at least one event (or *)");
  for (std::size_t i = 0; i < e.events.size(); ++i) {
    const auto& names = webhook_event_names();
    if (std::find(names.begin(), names.end(), e.events[i]) == names.end()) {
      std::string list;
      for (auto n : names) list.append(list.empty() ? "" : ", ").append(n);
      return bad("events", "'" + e.events[i] + "' is not an event; events are " + list);
    }
    if (std::find(e.events.begin(), e.events.begin() + static_cast<long>(i), e.events[i]) != e.events.begin() + static_cast<long>(i))
      return bad("events", "'" + e.events[i] + "' is listed twice");
  }
  if (e.description && utf8_length(*e.description) > 255) return bad("description", "description must be at most 255 characters");
  if (e.max_retries && (*e.max_retries < 0 || *e.max_retries > 50)) return bad("max-retries", "max-retries must be 0 to 50");
  if (e.retry_delay_seconds && (*e.retry_delay_seconds < 1 || *e.retry_delay_seconds > 86400))
    return bad("retry-delay", "retry-delay must be 1 to 86400 seconds");
  if (e.auth_header_name || e.auth_header_value) {
    if (!e.auth_header_name || !may_set_auth_header(*e.auth_header_name) || e.auth_header_name->size() > 100)
      return bad("auth-header", "auth-header must be NAME:VALUE with NAME a header name of at most 100 characters that "
                                "FlowTrack does not set itself (e.g. Authorization)");
    const auto& v = e.auth_header_value;
    if (!v || v->empty() || v->size() > 8192 ||
        std::any_of(v->begin(), v->end(), [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }))
      return bad("auth-header", "the auth header's value must be 1 to 8192 bytes without control characters");
  }
  auto target = check_target(e.url, policy);
  if (!target) return target.err();
  return {};
}

result<std::string> new_webhook_secret() {
  std::string bytes(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(bytes.size())) != 1)
    return make_error(error_code::internal, "no random bytes for a secret");
  return "whsec_" + base64_encode(bytes);
}

}  // namespace flowtrack::webhook
