// Loading and validating node settings.
#include "config/settings.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>

namespace flowtrack::config {
namespace {

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string normalise_key(std::string key) {
  std::replace(key.begin(), key.end(), '-', '_');
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  return key;
}

int parse_int(const std::string& key, const std::string& text, int lo, int hi) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v < lo || v > hi)
    throw config_error(key, "'" + text + "' is not an integer from " + std::to_string(lo) + " to " +
                                std::to_string(hi));
  return v;
}

std::string require_scheme(const std::string& key, const std::string& text,
                           std::initializer_list<const char*> schemes) {
  for (const char* s : schemes)
    if (text.rfind(s, 0) == 0 && text.size() > std::strlen(s)) return text;
  std::string allowed;
  for (const char* s : schemes) allowed += (allowed.empty() ? "" : " or ") + std::string(s) + "...";
  throw config_error(key, "'" + text + "' must start with " + allowed);
}

std::string one_of(const std::string& key, const std::string& text,
                   std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (text == a) return text;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  throw config_error(key, "'" + text + "' is not one of " + list);
}

bool valid_cidr(const std::string& c) {
  auto slash = c.find('/');
  std::string addr = c.substr(0, slash);
  bool v6 = addr.find(':') != std::string::npos;
  if (slash != std::string::npos) {
    std::string bits = c.substr(slash + 1);
    int n = -1;
    auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
    if (ec != std::errc{} || p != bits.data() + bits.size() || n < 0 || n > (v6 ? 128 : 32)) return false;
  }
  if (v6) return std::all_of(addr.begin(), addr.end(), [](unsigned char ch) { return std::isxdigit(ch) || ch == ':' || ch == '.'; }) && !addr.empty();
  int parts = 0;
  std::size_t i = 0;
  while (i <= addr.size()) {
    auto dot = addr.find('.', i);
    std::string part = addr.substr(i, dot == std::string::npos ? std::string::npos : dot - i);
    int n = -1;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), n);
    if (part.empty() || ec != std::errc{} || p != part.data() + part.size() || n < 0 || n > 255) return false;
    ++parts;
    if (dot == std::string::npos) break;
    i = dot + 1;
  }
  return parts == 4;
}

// The trimmed, non-empty items of a comma-separated value ("a, b,,c" -> a, b, c).
std::vector<std::string> comma_items(const std::string& v) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= v.size()) {
    auto comma = v.find(',', i);
    std::string item = trim(std::string_view(v).substr(i, comma == std::string::npos ? std::string::npos : comma - i));
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return out;
}

// "10.0.0.0/8, fd00::/8" as a list.
std::vector<std::string> cidr_list(const std::string& k, const std::string& v) {
  auto out = comma_items(v);
  for (const auto& item : out)
    if (!valid_cidr(item)) throw config_error(k, "'" + item + "' is not a CIDR such as 127.0.0.0/8");
  return out;
}

constexpr const char* k_hex_key_rule = "must be 64 hex characters (32 random bytes, e.g. from `openssl rand -hex 32`)";

bool is_hex_key(const std::string& v) {
  return v.size() == 64 && std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

// A path that can be opened for reading, or empty (the feature it enables stays off).
std::string readable_file_or_empty(const std::string& key, const std::string& path) {
  if (path.empty()) return path;
  if (!std::ifstream(path)) throw config_error(key, "cannot read '" + path + "'");
  return path;
}

// An OAuth client id: printable ASCII without blanks (shown in errors: it is not a secret).
std::string oauth_client_id(const std::string& key, const std::string& v) {
  std::string id = trim(v);
  if (id.size() > 512 || std::any_of(id.begin(), id.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; }))
    throw config_error(key, "'" + id + "' is not an OAuth client id: at most 512 printable characters, no blanks");
  return id;
}

// An OAuth client secret: never echoed, as stripe_webhook_secret.
std::string oauth_client_secret(const std::string& key, const std::string& v) {
  std::string secret = trim(v);
  if (secret.size() > 1024 || std::any_of(secret.begin(), secret.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; }))
    throw config_error(key, "must be the provider's OAuth client secret: at most 1024 printable characters, no blanks");
  return secret;
}

// A provider endpoint: http(s), no blanks, no fragment; trailing slashes dropped. Empty only
// where the feature is optional (a revoke URL).
std::string oauth_url(const std::string& key, const std::string& v, bool may_be_empty) {
  std::string url = trim(v);
  if (url.empty() && may_be_empty) return url;
  url = require_scheme(key, url, {"https://", "http://"});
  if (url.find_first_of(" \t\"<>#") != std::string::npos) throw config_error(key, "'" + url + "' is not a URL");
  while (url.size() > 8 && url.back() == '/') url.pop_back();
  return url;
}

using setter = std::function<void(settings&, const std::string& key, const std::string& value)>;

const std::map<std::string, setter>& setters() {
  static const std::map<std::string, setter> table = {
      {"database_url", [](settings& s, const std::string& k, const std::string& v) {
         s.database_url = require_scheme(k, v, {"postgresql://", "postgres://"});
       }},
      {"redis_url", [](settings& s, const std::string& k, const std::string& v) {
         s.redis_url = require_scheme(k, v, {"redis://"});
       }},
      {"http_listen", [](settings& s, const std::string& k, const std::string& v) { s.http_listen = parse_endpoint(k, v); }},
      {"smtp_listen", [](settings& s, const std::string& k, const std::string& v) { s.smtp_listen = parse_endpoint(k, v); }},
      {"smtp_hostname", [](settings& s, const std::string& k, const std::string& v) {
         if (!v.empty() && (v.size() > 255 || v.find_first_of(" \t@/:[]()<>") != std::string::npos))
           throw config_error(k, "'" + v + "' is not a host name");
         s.smtp_hostname = v;
       }},
      {"smtp_max_message_bytes", [](settings& s, const std::string& k, const std::string& v) { s.smtp_max_message_bytes = parse_int(k, v, 1024, 1073741824); }},
      {"smtp_max_recipients", [](settings& s, const std::string& k, const std::string& v) { s.smtp_max_recipients = parse_int(k, v, 1, 100000); }},
      {"smtp_max_errors", [](settings& s, const std::string& k, const std::string& v) { s.smtp_max_errors = parse_int(k, v, 1, 10000); }},
      {"smtp_command_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.smtp_command_timeout_ms = parse_int(k, v, 100, 3600000); }},
      {"smtp_data_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.smtp_data_timeout_ms = parse_int(k, v, 100, 3600000); }},
      {"smtp_handler_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.smtp_handler_timeout_ms = parse_int(k, v, 100, 3600000); }},
      {"smtp_max_connections", [](settings& s, const std::string& k, const std::string& v) { s.smtp_max_connections = parse_int(k, v, 1, 1000000); }},
      {"smtp_max_connections_per_ip", [](settings& s, const std::string& k, const std::string& v) { s.smtp_max_connections_per_ip = parse_int(k, v, 1, 1000000); }},
      {"smtp_max_buffered_bytes", [](settings& s, const std::string& k, const std::string& v) { s.smtp_max_buffered_bytes = parse_int(k, v, 1024, 2147483647); }},
      {"smtp_tls_cert", [](settings& s, const std::string& k, const std::string& v) { s.smtp_tls_cert = readable_file_or_empty(k, v); }},
      {"smtp_tls_key", [](settings& s, const std::string& k, const std::string& v) { s.smtp_tls_key = readable_file_or_empty(k, v); }},
      {"mail_relay", [](settings& s, const std::string& k, const std::string& v) {
         s.mail_relay = require_scheme(k, v, {"smtp://", "smtps://"});
       }},
      {"mail_domain", [](settings& s, const std::string& k, const std::string& v) {
         if (v.empty() || v.find_first_of(" @/:") != std::string::npos)
           throw config_error(k, "'" + v + "' is not a domain name");
         s.mail_domain = v;
       }},
      {"mail_trusted_authserv_ids", [](settings& s, const std::string& k, const std::string& v) {
         auto ids = comma_items(v);
         for (const auto& id : ids)
           if (id.size() > 255 || id.find_first_of(" \t@/:;()\"") != std::string::npos)
             throw config_error(k, "'" + id + "' is not a host name");
         s.mail_trusted_authserv_ids = std::move(ids);
       }},
      {"public_url", [](settings& s, const std::string& k, const std::string& v) {
         std::string url = v.empty() ? v : require_scheme(k, v, {"http://", "https://"});
         if (url.find_first_of(" \t\"<>?#") != std::string::npos) throw config_error(k, "'" + v + "' is not a base URL");
         while (!url.empty() && url.back() == '/') url.pop_back();
         s.public_url = url;
       }},
      {"webhook_allow", [](settings& s, const std::string& k, const std::string& v) { s.webhook_allow = cidr_list(k, v); }},
      {"trusted_proxies", [](settings& s, const std::string& k, const std::string& v) { s.trusted_proxies = cidr_list(k, v); }},
      {"admin_listen", [](settings& s, const std::string& k, const std::string& v) {
         if (v == "off") s.admin_listen.reset();
         else s.admin_listen = parse_endpoint(k, v);
       }},
      {"form_rate_limit", [](settings& s, const std::string& k, const std::string& v) { s.form_rate_limit = parse_int(k, v, 0, 1000000); }},
      {"form_rate_limit_per_form", [](settings& s, const std::string& k, const std::string& v) { s.form_rate_limit_per_form = parse_int(k, v, 0, 100000000); }},
      {"form_rate_limit_ipv6_prefix", [](settings& s, const std::string& k, const std::string& v) { s.form_rate_limit_ipv6_prefix = parse_int(k, v, 1, 128); }},
      {"http_header_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.http_header_timeout_ms = parse_int(k, v, 100, 600000); }},
      {"http_body_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.http_body_timeout_ms = parse_int(k, v, 100, 600000); }},
      {"http_idle_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.http_idle_timeout_ms = parse_int(k, v, 100, 3600000); }},
      {"http_max_connections", [](settings& s, const std::string& k, const std::string& v) { s.http_max_connections = parse_int(k, v, 1, 1000000); }},
      {"http_max_connections_per_ip", [](settings& s, const std::string& k, const std::string& v) { s.http_max_connections_per_ip = parse_int(k, v, 1, 1000000); }},
      {"http_max_buffered_body_bytes", [](settings& s, const std::string& k, const std::string& v) { s.http_max_buffered_body_bytes = parse_int(k, v, 1024, 2147483647); }},
      {"log_level", [](settings& s, const std::string& k, const std::string& v) {
         s.log_level = one_of(k, v, {"trace", "debug", "info", "warn", "error", "off"});
       }},
      {"log_format", [](settings& s, const std::string& k, const std::string& v) { s.log_format = one_of(k, v, {"text", "json"}); }},
      {"pg_pool_size", [](settings& s, const std::string& k, const std::string& v) { s.pg_pool_size = parse_int(k, v, 1, 256); }},
      {"pg_connect_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.pg_connect_timeout_ms = parse_int(k, v, 100, 600000); }},
      {"pg_query_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.pg_query_timeout_ms = parse_int(k, v, 100, 3600000); }},
      {"redis_timeout_ms", [](settings& s, const std::string& k, const std::string& v) { s.redis_timeout_ms = parse_int(k, v, 10, 600000); }},
      {"worker_threads", [](settings& s, const std::string& k, const std::string& v) { s.worker_threads = parse_int(k, v, 1, 256); }},
      {"lock_ttl_ms", [](settings& s, const std::string& k, const std::string& v) { s.lock_ttl_ms = parse_int(k, v, 300, 3600000); }},
      {"recovery_interval_ms", [](settings& s, const std::string& k, const std::string& v) { s.recovery_interval_ms = parse_int(k, v, 100, 3600000); }},
      {"scheduler_tick_ms", [](settings& s, const std::string& k, const std::string& v) { s.scheduler_tick_ms = parse_int(k, v, 1, 60000); }},
      {"schedule_poll_ms", [](settings& s, const std::string& k, const std::string& v) { s.schedule_poll_ms = parse_int(k, v, 10, 60000); }},
      {"schedule_catch_up_ticks", [](settings& s, const std::string& k, const std::string& v) { s.schedule_catch_up_ticks = parse_int(k, v, 0, 1000); }},
      {"schedule_batch_size", [](settings& s, const std::string& k, const std::string& v) { s.schedule_batch_size = parse_int(k, v, 1, 10000); }},
      {"housekeeping_interval_s", [](settings& s, const std::string& k, const std::string& v) { s.housekeeping_interval_s = parse_int(k, v, 0, 604800); }},
      {"execution_log_retention_days", [](settings& s, const std::string& k, const std::string& v) { s.execution_log_retention_days = parse_int(k, v, 1, 36500); }},
      {"execution_log_partitions_ahead", [](settings& s, const std::string& k, const std::string& v) { s.execution_log_partitions_ahead = parse_int(k, v, 1, 24); }},
      {"login_attempt_retention_days", [](settings& s, const std::string& k, const std::string& v) { s.login_attempt_retention_days = parse_int(k, v, 1, 36500); }},
      {"webhook_body_retention_days", [](settings& s, const std::string& k, const std::string& v) { s.webhook_body_retention_days = parse_int(k, v, 1, 36500); }},
      // Keys are never echoed in errors.
      {"encryption_key", [](settings& s, const std::string& k, const std::string& v) {
         std::string key = trim(v);
         if (!key.empty() && !is_hex_key(key)) throw config_error(k, k_hex_key_rule);
         s.encryption_key = key;
       }},
      {"jwt_key", [](settings& s, const std::string& k, const std::string& v) {
         std::string key = trim(v);
         if (!key.empty() && !is_hex_key(key)) throw config_error(k, k_hex_key_rule);
         s.jwt_key = key;
       }},
      {"cors_allowed_origins", [](settings& s, const std::string& k, const std::string& v) {
         auto origins = comma_items(v);
         for (auto& o : origins) {
           while (!o.empty() && o.back() == '/') o.pop_back();
           if (o == "*" || o == "null") throw config_error(k, "'" + o + "' is not allowed: list each origin (scheme://host[:port])");
           auto scheme = o.find("://");
           if (!(o.starts_with("http://") || o.starts_with("https://")) || o.size() == scheme + 3 ||
               o.find_first_of("/?#* \t", scheme + 3) != std::string::npos)
             throw config_error(k, "'" + o + "' is not an origin such as https://app.example.com");
           std::transform(o.begin(), o.end(), o.begin(), [](unsigned char c) { return std::tolower(c); });
         }
         s.cors_allowed_origins = std::move(origins);
       }},
      {"clerk_jwks_file", [](settings& s, const std::string& k, const std::string& v) { s.clerk_jwks_file = readable_file_or_empty(k, v); }},
      {"clerk_public_key_file", [](settings& s, const std::string& k, const std::string& v) { s.clerk_public_key_file = readable_file_or_empty(k, v); }},
      {"password_hash_memory_kib", [](settings& s, const std::string& k, const std::string& v) { s.password_hash_memory_kib = parse_int(k, v, 64, 1048576); }},
      {"password_hash_iterations", [](settings& s, const std::string& k, const std::string& v) { s.password_hash_iterations = parse_int(k, v, 1, 100); }},
      // Never echoed: a refusal names the rule, not the value.
      {"stripe_webhook_secret", [](settings& s, const std::string& k, const std::string& v) {
         std::string secret = trim(v);
         if (secret.size() > 1024 || std::any_of(secret.begin(), secret.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; }))
           throw config_error(k, "must be Stripe's endpoint signing secret (whsec_...): at most 1024 characters, no blanks");
         s.stripe_webhook_secret = secret;
       }},
      {"node_name", [](settings& s, const std::string& k, const std::string& v) {
         std::string name = trim(v);
         if (name.size() > 63 || std::any_of(name.begin(), name.end(), [](unsigned char c) {
               return !(std::isalnum(c) || c == '-' || c == '_' || c == '.');
             }))
           throw config_error(k, "must be at most 63 letters, digits, '-', '_' or '.', not '" + v + "'");
         s.node_name = name;
       }},
      {"cluster_listen", [](settings& s, const std::string& k, const std::string& v) {
         if (trim(v).empty()) s.cluster_listen.reset();
         else s.cluster_listen = parse_endpoint(k, trim(v));
       }},
      {"cluster_join", [](settings& s, const std::string& k, const std::string& v) {
         s.cluster_join.clear();
         std::size_t at = 0;
         while (at <= v.size()) {
           auto comma = v.find(',', at);
           std::string one = trim(v.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
           if (!one.empty()) s.cluster_join.push_back(parse_endpoint(k, one));
           if (comma == std::string::npos) break;
           at = comma + 1;
         }
       }},
      // Never echoed: a refusal names the rule, not the value.
      {"cluster_secret", [](settings& s, const std::string& k, const std::string& v) {
         if (!v.empty() && v.size() < 16) throw config_error(k, "must be at least 16 characters (FLOWTRACK_CLUSTER_SECRET)");
         s.cluster_secret = v;
       }},
      {"cluster_heartbeat_ms", [](settings& s, const std::string& k, const std::string& v) { s.cluster_heartbeat_ms = parse_int(k, v, 50, 60000); }},
      {"cluster_suspect_after_ms", [](settings& s, const std::string& k, const std::string& v) { s.cluster_suspect_after_ms = parse_int(k, v, 100, 600000); }},
      {"cluster_down_after_ms", [](settings& s, const std::string& k, const std::string& v) { s.cluster_down_after_ms = parse_int(k, v, 200, 600000); }},
      {"shard_lease_ms", [](settings& s, const std::string& k, const std::string& v) { s.shard_lease_ms = parse_int(k, v, 300, 600000); }},
      // Never echoed, as stripe_webhook_secret.
      {"calendly_webhook_signing_key", [](settings& s, const std::string& k, const std::string& v) {
         std::string key = trim(v);
         if (key.size() > 1024 || std::any_of(key.begin(), key.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; }))
           throw config_error(k, "must be Calendly's webhook signing key: at most 1024 characters, no blanks");
         s.calendly_webhook_signing_key = key;
       }},
      // The mail integrations (issue #16 item 4). Client ids and URLs are shown in errors; the
      // client secrets never, as stripe_webhook_secret.
      {"google_oauth_client_id", [](settings& s, const std::string& k, const std::string& v) { s.google_oauth_client_id = oauth_client_id(k, v); }},
      {"google_oauth_client_secret", [](settings& s, const std::string& k, const std::string& v) { s.google_oauth_client_secret = oauth_client_secret(k, v); }},
      {"google_oauth_authorize_url", [](settings& s, const std::string& k, const std::string& v) { s.google_oauth_authorize_url = oauth_url(k, v, false); }},
      {"google_oauth_token_url", [](settings& s, const std::string& k, const std::string& v) { s.google_oauth_token_url = oauth_url(k, v, false); }},
      {"google_userinfo_url", [](settings& s, const std::string& k, const std::string& v) { s.google_userinfo_url = oauth_url(k, v, false); }},
      {"google_oauth_revoke_url", [](settings& s, const std::string& k, const std::string& v) { s.google_oauth_revoke_url = oauth_url(k, v, true); }},
      {"gmail_api_url", [](settings& s, const std::string& k, const std::string& v) { s.gmail_api_url = oauth_url(k, v, false); }},
      {"microsoft_oauth_client_id", [](settings& s, const std::string& k, const std::string& v) { s.microsoft_oauth_client_id = oauth_client_id(k, v); }},
      {"microsoft_oauth_client_secret", [](settings& s, const std::string& k, const std::string& v) { s.microsoft_oauth_client_secret = oauth_client_secret(k, v); }},
      {"microsoft_oauth_authorize_url", [](settings& s, const std::string& k, const std::string& v) { s.microsoft_oauth_authorize_url = oauth_url(k, v, false); }},
      {"microsoft_oauth_token_url", [](settings& s, const std::string& k, const std::string& v) { s.microsoft_oauth_token_url = oauth_url(k, v, false); }},
      {"microsoft_userinfo_url", [](settings& s, const std::string& k, const std::string& v) { s.microsoft_userinfo_url = oauth_url(k, v, false); }},
      {"microsoft_oauth_revoke_url", [](settings& s, const std::string& k, const std::string& v) { s.microsoft_oauth_revoke_url = oauth_url(k, v, true); }},
      {"microsoft_graph_url", [](settings& s, const std::string& k, const std::string& v) { s.microsoft_graph_url = oauth_url(k, v, false); }},
      {"calendly_oauth_client_id", [](settings& s, const std::string& k, const std::string& v) { s.calendly_oauth_client_id = oauth_client_id(k, v); }},
      {"calendly_oauth_client_secret", [](settings& s, const std::string& k, const std::string& v) { s.calendly_oauth_client_secret = oauth_client_secret(k, v); }},
      {"calendly_oauth_authorize_url", [](settings& s, const std::string& k, const std::string& v) { s.calendly_oauth_authorize_url = oauth_url(k, v, false); }},
      {"calendly_oauth_token_url", [](settings& s, const std::string& k, const std::string& v) { s.calendly_oauth_token_url = oauth_url(k, v, false); }},
      {"calendly_api_url", [](settings& s, const std::string& k, const std::string& v) { s.calendly_api_url = oauth_url(k, v, false); }},
      {"oauth_refresh_interval_s", [](settings& s, const std::string& k, const std::string& v) { s.oauth_refresh_interval_s = parse_int(k, v, 0, 86400); }},
      {"oauth_refresh_window_s", [](settings& s, const std::string& k, const std::string& v) { s.oauth_refresh_window_s = parse_int(k, v, 60, 86400); }},
      {"billing_grace_days", [](settings& s, const std::string& k, const std::string& v) { s.billing_grace_days = parse_int(k, v, 0, 365); }},
      {"encryption_old_keys", [](settings& s, const std::string& k, const std::string& v) {
         auto keys = comma_items(v);
         for (std::size_t i = 0; i < keys.size(); ++i)
           if (!is_hex_key(keys[i])) throw config_error(k, "key " + std::to_string(i + 1) + ": " + k_hex_key_rule);
         s.encryption_old_keys = std::move(keys);
       }},
  };
  return table;
}

}  // namespace

std::string settings::public_base_url() const {
  if (!public_url.empty()) return public_url;
  std::string host = http_listen.host == "0.0.0.0" || http_listen.host == "::" ? "localhost" : http_listen.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(http_listen.port);
}

std::string endpoint::to_string() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

endpoint parse_endpoint(const std::string& key, const std::string& text) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw config_error(key, "'" + text + "' is not host:port (IPv6 as [::1]:8080)");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw config_error(key, "'" + text + "' is not host:port, e.g. 127.0.0.1:8080");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) throw config_error(key, "'" + text + "' has no host");
  return endpoint{host, static_cast<std::uint16_t>(parse_int(key, port, 0, 65535))};
}

const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& [name, _] : setters()) k.push_back(name);
    return k;
  }();
  return keys;
}

raw_values read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw config_error("config", "cannot read file '" + path + "'");
  raw_values out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';' || t[0] == '[') continue;
    auto eq = t.find('=');
    if (eq == std::string::npos)
      throw config_error("config", path + ":" + std::to_string(number) + ": expected key = value");
    std::string value = trim(std::string_view(t).substr(eq + 1));
    // An inline comment starts at whitespace followed by '#' or ';'.
    if (!value.empty() && (value[0] == '#' || value[0] == ';')) value.clear();
    for (std::size_t i = 1; i < value.size(); ++i)
      if ((value[i] == '#' || value[i] == ';') && std::isspace(static_cast<unsigned char>(value[i - 1]))) {
        value = trim(std::string_view(value).substr(0, i));
        break;
      }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    out[normalise_key(trim(std::string_view(t).substr(0, eq)))] = value;
  }
  return out;
}

raw_values read_environment(char** envp) {
  raw_values out;
  constexpr std::string_view prefix = "FLOWTRACK_";
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.substr(0, prefix.size()) != prefix) continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key = normalise_key(std::string(kv.substr(prefix.size(), eq - prefix.size())));
    if (key.rfind("test_", 0) == 0) continue;  // the test suite's own variables
    out[key] = std::string(kv.substr(eq + 1));
  }
  return out;
}

raw_values read_flags(std::vector<std::string>& args) {
  raw_values out;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      rest.push_back(a);
      continue;
    }
    std::string body = a.substr(2);
    auto eq = body.find('=');
    std::string key = normalise_key(body.substr(0, eq));
    if (key == "join") {  // `--join HOST:PORT`, repeatable: the members of cluster_join
      std::string value;
      if (eq != std::string::npos) value = body.substr(eq + 1);
      else if (i + 1 < args.size()) value = args[++i];
      else throw config_error("cluster_join", "flag --join needs HOST:PORT");
      auto& list = out["cluster_join"];
      list += (list.empty() ? "" : ",") + value;
      continue;
    }
    if (key != "config" && !setters().count(key)) {
      rest.push_back(a);  // a subcommand's own flag
      continue;
    }
    if (eq != std::string::npos) {
      out[key] = body.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      out[key] = args[++i];
    } else {
      throw config_error(key, "flag --" + body + " needs a value");
    }
  }
  args = std::move(rest);
  return out;
}

void apply_values(settings& s, const raw_values& values) {
  for (const auto& [key, value] : values) {
    if (key == "config") continue;
    auto it = setters().find(key);
    if (it == setters().end()) {
      std::string list;
      for (const auto& k : known_keys()) list += (list.empty() ? "" : ", ") + k;
      throw config_error(key, "unknown setting; known settings are " + list);
    }
    it->second(s, key, value);
  }
}

settings load(std::vector<std::string>& args, char** envp) {
  raw_values env = read_environment(envp);
  raw_values flags = read_flags(args);
  settings s;
  std::string file;
  if (auto it = env.find("config"); it != env.end()) file = it->second;
  if (auto it = flags.find("config"); it != flags.end()) file = it->second;
  if (!file.empty()) apply_values(s, read_file(file));
  apply_values(s, env);
  apply_values(s, flags);
  return s;
}

}  // namespace flowtrack::config
