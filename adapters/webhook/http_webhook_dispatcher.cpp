// One webhook attempt in three hops: read the endpoint (pool thread), make the request
// (dispatcher thread, libcurl), record it (pool thread). No hop blocks the caller.
#include "adapters/webhook/http_webhook_dispatcher.hpp"

#include <algorithm>
#include <cctype>
#include <future>
#include <mutex>
#include <optional>

#include <sys/socket.h>

#include <boost/json.hpp>
#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include "adapters/webhook/endpoint_rules.hpp"
#include "adapters/webhook/signature.hpp"
#include "domain/ids.hpp"
#include "storage/webhooks.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::webhook {
namespace {

using actors::webhook_outcome;

constexpr std::size_t k_header_bytes_limit = 16 * 1024;
constexpr std::size_t k_event_type_limit = 50;  // webhook_deliveries.event_type VARCHAR(50)

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct curl_deleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};

struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

void append(slist_ptr& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  if (next) {
    (void)list.release();
    list.reset(next);
  }
}

/// Text PostgreSQL will take: valid UTF-8 (bad bytes and NUL become U+FFFD), at most `limit`
/// bytes, cut on a character boundary.
std::string clean_text(std::string_view s, std::size_t limit = std::string::npos) {
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(s.size(), limit));
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && c != 0;
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && n >= 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      // Overlong forms, surrogates, beyond U+10FFFF.
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90))
        ok = false;
    }
    std::string_view piece = ok ? s.substr(i, n) : replacement;
    if (out.size() + piece.size() > limit) break;
    out.append(piece);
    i += ok ? n : 1;
  }
  return out;
}

bool is_header_value(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// What the receiver sent back, bounded.
struct response_capture {
  std::size_t body_limit = 0;
  std::string body;
  bool capped = false;
  boost::json::object headers;
  std::size_t header_bytes = 0;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* r = static_cast<response_capture*>(user);
  std::size_t len = size * n;
  std::size_t room = r->body_limit - std::min(r->body_limit, r->body.size());
  r->body.append(data, std::min(len, room));
  if (len > room) {
    r->capped = true;
    return 0;  // stop reading: the rest would be thrown away anyway
  }
  return len;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* r = static_cast<response_capture*>(user);
  std::size_t len = size * n;
  std::string_view line(data, len);
  if (line.substr(0, 5) == "HTTP/") {  // a new response (after 100 Continue, say)
    r->headers.clear();
    r->header_bytes = 0;
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || r->header_bytes + len > k_header_bytes_limit) return len;
  r->header_bytes += len;
  std::string name = clean_text(lower(line.substr(0, colon)));
  auto value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  std::string v = clean_text(value);
  if (auto* existing = r->headers.if_contains(name)) {
    std::string joined(existing->as_string());
    *existing = joined + ", " + v;
  } else {
    r->headers[name] = v;
  }
  return len;
}

/// Every socket libcurl opens passes the SSRF guard again, whatever libcurl resolved: the
/// check cannot be bypassed by DNS rebinding or by a URL read differently.
struct socket_guard {
  const address_policy* policy = nullptr;
  std::optional<std::string> refused;
};

curl_socket_t open_checked_socket(void* user, curlsocktype purpose, curl_sockaddr* addr) {
  auto* g = static_cast<socket_guard*>(user);
  auto ip = ip_address::from_sockaddr(&addr->addr);
  if (purpose != CURLSOCKTYPE_IPCXN || !ip) {
    g->refused = "only IP connections are made";
    return CURL_SOCKET_BAD;
  }
  if (g->policy->refusal(*ip)) {
    g->refused = "a connection to a non-public address was refused";
    return CURL_SOCKET_BAD;
  }
  return ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/// The keys from the settings; a malformed key is a start-up error naming its setting.
crypto::keyring keys_of(const config::settings& s) {
  auto keys = crypto::keyring::from_hex(s.encryption_key, s.encryption_old_keys);
  if (!keys) throw config::config_error(keys.err().setting, keys.err().message);
  return std::move(*keys);
}

/// Says in the log, at start-up, which stored secrets this node cannot open or should rotate
/// (key ids and counts only). Never fails the start: a database that does not answer in time
/// is only noted.
void report_keys_in_use(pg::pool& db, const crypto::keyring& keys) {
  auto found = db.run([](pg::connection& c) { return storage::secret_key_ids_in_use(c); }, /*retry_safe=*/true);
  if (found.wait_for(db.options().connection.connect_timeout + std::chrono::seconds(1)) != std::future_status::ready) {
    spdlog::warn("webhook secrets: could not check which keys the stored secrets use (no answer in time)");
    return;
  }
  auto ids = found.get();
  if (!ids) {
    spdlog::warn("webhook secrets: could not check which keys the stored secrets use: {}", ids.err().message);
    return;
  }
  for (const auto& [id, count] : *ids) {
    if (id.empty())
      spdlog::error("webhook secrets: {} stored value(s) are not encrypted; their endpoints' deliveries fail until the "
                    "endpoint is made again",
                    count);
    else if (!keys.holds(id))
      spdlog::error("webhook secrets: {} stored value(s) are under key {}, which neither encryption_key nor "
                    "encryption_old_keys holds; their deliveries fail until that key is configured",
                    count, id);
    else if (id != keys.current_id())
      spdlog::info("webhook secrets: {} stored value(s) are under the old key {}; run `flowtrackd secrets rotate`", count, id);
  }
}

}  // namespace

/// One delivery as it moves through the hops.
struct http_webhook_dispatcher::attempt {
  actors::webhook_message message;
  std::function<void(result<webhook_outcome>)> done;

  // The endpoint.
  std::string endpoint_id;  // canonical, from the row
  std::string url;
  std::optional<std::string> sealed_secret, sealed_auth_value;  // as stored; opened just before sending
  std::optional<std::string> auth_name;
  int attempt_number = 1;
  int max_attempts = 3;

  // The outcome, as recorded.
  std::string delivery_id = domain::new_uuid();
  int http_status = 0;
  std::optional<std::string> request_headers, response_body, response_headers, error_message;
  std::optional<int> duration_ms;
  std::optional<error> failure;  // what the caller gets when not delivered

  void fail(error e) {
    error_message = e.message;
    failure = std::move(e);
  }
};

struct http_webhook_dispatcher::session {
  std::unique_ptr<CURL, curl_deleter> handle{curl_easy_init()};
};

struct http_webhook_dispatcher::workers {
  storage::worker_pool<session> pool;
  explicit workers(int threads) : pool(threads, [] { return session{}; }) {}
};

http_webhook_dispatcher::http_webhook_dispatcher(pg::pool& db, const config::settings& s, dispatcher_options opts)
    : db_(db), keys_(keys_of(s)), opts_(std::move(opts)) {
  init_curl_once();
  auto policy = address_policy::from_strings(s.webhook_allow);
  if (!policy) throw config::config_error("webhook_allow", policy.err().message);
  policy_ = std::move(*policy);
  opts_.connect_timeout = std::min(opts_.connect_timeout, opts_.timeout);
  report_keys_in_use(db_, keys_);
  workers_ = std::make_unique<workers>(opts_.threads);
}

http_webhook_dispatcher::~http_webhook_dispatcher() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
  lock.unlock();
  workers_.reset();
}

void http_webhook_dispatcher::deliver(actors::webhook_message message,
                                      std::function<void(result<webhook_outcome>)> done) {
  auto a = std::make_shared<attempt>();
  a->message = std::move(message);
  a->done = std::move(done);
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  load(std::move(a));
}

void http_webhook_dispatcher::load(std::shared_ptr<attempt> a) {
  auto work = [a](pg::connection& c) -> result<storage::webhook_endpoint_target> {
    const auto& m = a->message;
    if (m.idempotency_key.empty() || m.idempotency_key.size() > 255 || !is_header_value(m.idempotency_key))
      return make_error(error_code::invalid, "idempotency_key must be 1-255 characters without control characters",
                        "idempotency_key");
    if (m.event_type.empty() || m.event_type.size() > k_event_type_limit || !is_header_value(m.event_type))
      return make_error(error_code::invalid, "event_type must be 1-50 characters without control characters",
                        "event_type");
    boost::system::error_code ec;
    (void)boost::json::parse(m.payload, ec);
    if (ec) return make_error(error_code::invalid, "payload is not valid JSON: " + ec.message(), "payload");
    if (lower(m.payload).find("\\u0000") != std::string::npos)
      return make_error(error_code::invalid, "payload contains \\u0000, which PostgreSQL's jsonb cannot store",
                        "payload");
    auto e = storage::load_webhook_target(c, m.endpoint_id, m.workspace_id, m.idempotency_key);
    if (!e) return e.err();
    if (!e->is_active)
      return make_error(error_code::not_found, "webhook endpoint " + m.endpoint_id + " is inactive", "endpoint_id");
    return e;
  };
  auto loaded = [this, a](result<storage::webhook_endpoint_target> r) {
    if (!r) return finish(a, r.err());
    a->endpoint_id = std::move(r->id);
    a->url = std::move(r->url);
    a->sealed_secret = std::move(r->sealed_secret);
    a->auth_name = std::move(r->auth_header_name);
    a->sealed_auth_value = std::move(r->sealed_auth_value);
    a->max_attempts = r->max_attempts;
    a->attempt_number = r->earlier_attempts + 1;
    workers_->pool.submit([this, a](session& s) { send(s, a); });
  };
  db_.submit(std::move(work), std::move(loaded), /*retry_safe=*/true);
}

void http_webhook_dispatcher::send(session& s, const std::shared_ptr<attempt>& a) {
  const auto& m = a->message;
  auto target = check_target(a->url, policy_);
  if (!target) {
    a->fail(target.err());
    return record(a);
  }
  const std::string& origin = target->origin;

  // The secrets live in plaintext only on this thread, for this request.
  std::optional<std::string> secret, auth_value;
  if (a->sealed_secret) {
    auto opened = reveal_secret(keys_, *a->sealed_secret, storage::secret_context("secret_key", a->endpoint_id));
    if (!opened) {
      a->fail(opened.err());
      return record(a);
    }
    secret = std::move(*opened);
  }
  if (a->sealed_auth_value) {
    auto opened = reveal_secret(keys_, *a->sealed_auth_value, storage::secret_context("auth_header_value", a->endpoint_id));
    if (!opened) {
      opened.err().subject = "auth_header_value";
      opened.err().message = "the endpoint's auth_header_value: " + opened.err().message;
      a->fail(opened.err());
      return record(a);
    }
    auth_value = std::move(*opened);
  }

  std::optional<std::string> key;
  if (secret && !secret->empty()) {
    key = signing_key(*secret);
    if (!key) {
      a->fail(make_error(error_code::invalid,
                         "the endpoint's secret_key starts with whsec_ but the rest is not base64", "secret_key"));
      return record(a);
    }
  }
  bool has_auth = a->auth_name && !a->auth_name->empty();
  if (has_auth) {
    if (!may_set_auth_header(*a->auth_name)) {
      a->fail(make_error(error_code::invalid, "the endpoint's auth_header_name is not a header name FlowTrack may set",
                         "auth_header_name"));
      return record(a);
    }
    if (!auth_value || !is_header_value(*auth_value)) {
      a->fail(make_error(error_code::invalid, "the endpoint's auth_header_value is missing or holds control characters",
                         "auth_header_value"));
      return record(a);
    }
  }

  auto timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  std::string signature = key ? sign(*key, m.idempotency_key, timestamp, m.payload) : std::string();

  slist_ptr headers;
  boost::json::object shown;  // what is recorded: the auth value never, the secret never
  auto add = [&](const std::string& name, const std::string& value, bool secret = false) {
    append(headers, name + ": " + value);
    shown[lower(name)] = secret ? "[redacted]" : clean_text(value);
  };
  add("Content-Type", "application/json");
  add("User-Agent", opts_.user_agent);
  add("webhook-id", m.idempotency_key);
  add("webhook-timestamp", std::to_string(timestamp));
  if (key) add("webhook-signature", signature);
  if (has_auth) add(*a->auth_name, *auth_value, /*secret=*/true);
  append(headers, "Expect:");  // no 100-continue round trip for large bodies
  a->request_headers = boost::json::serialize(shown);

  slist_ptr pins;
  for (const auto& p : target->pins()) append(pins, p);

  CURL* h = s.handle.get();
  if (!h) {
    a->fail(make_error(error_code::internal, "could not create a libcurl handle"));
    return record(a);
  }
  // reset keeps the handle's live connections and DNS cache; every option is set again below.
  curl_easy_reset(h);
  response_capture response;
  response.body_limit = opts_.response_body_limit;
  socket_guard guard{&policy_, std::nullopt};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, target->url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // a proxy from the environment would bypass the guard
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, m.payload.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(m.payload.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  if (pins) curl_easy_setopt(h, CURLOPT_RESOLVE, pins.get());
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &guard);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

  auto started = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(h);
  a->duration_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  // Nothing below may be used by the handle after this function returns.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_RESOLVE, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, nullptr);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, nullptr);

  bool answered = status > 0 && (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && response.capped));
  if (status > 0) {
    a->http_status = static_cast<int>(status);
    a->response_body = clean_text(response.body, opts_.response_body_limit);
    a->response_headers = boost::json::serialize(response.headers);
  }
  std::string code = std::to_string(status);
  if (guard.refused) {
    a->fail(make_error(error_code::invalid,
                       "address not allowed for " + origin + ": " + *guard.refused +
                           "; webhooks may only reach public addresses unless webhook_allow lists the range",
                       "url"));
  } else if (answered && status >= 200 && status < 300) {
    // delivered
  } else if (answered && (status == 408 || status == 429)) {
    a->fail(make_error(error_code::unavailable, origin + " answered " + code + "; try again later"));
  } else if (answered && status >= 300 && status < 400) {
    a->fail(make_error(error_code::invalid, origin + " answered " + code + "; redirects are not followed: point the endpoint at the final URL", "url"));
  } else if (answered && status >= 400 && status < 500) {
    a->fail(make_error(error_code::invalid, origin + " rejected the webhook with " + code));
  } else if (answered) {
    a->fail(make_error(error_code::unavailable, origin + " answered " + code));
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    a->fail(make_error(error_code::timeout, "no answer from " + origin + " within " +
                                                std::to_string(opts_.timeout.count()) + " ms"));
  } else {
    a->fail(make_error(error_code::unavailable,
                       "could not deliver to " + origin + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc))));
  }
  spdlog::debug("webhook {} to endpoint {} ({}): {} in {} ms", m.idempotency_key, m.endpoint_id, origin,
                a->failure ? a->failure->message : "delivered " + code, *a->duration_ms);
  record(a);
}

void http_webhook_dispatcher::record(std::shared_ptr<attempt> a) {
  auto work = [a](pg::connection& c) -> result<void> {
    const auto& m = a->message;
    storage::webhook_delivery_record d;
    d.id = a->delivery_id;
    d.endpoint_id = m.endpoint_id;
    d.workspace_id = m.workspace_id;
    d.event_type = m.event_type;
    d.payload = m.payload;
    if (a->http_status > 0) d.http_status_code = a->http_status;
    d.request_headers = a->request_headers;
    d.response_body = a->response_body;
    d.response_headers = a->response_headers;
    d.status = a->failure ? "failed" : "delivered";
    d.attempt_number = a->attempt_number;
    d.max_attempts = a->max_attempts;
    d.duration_ms = a->duration_ms;
    if (a->error_message) d.error_message = clean_text(*a->error_message);
    return storage::record_webhook_delivery(c, d);
  };
  auto recorded = [this, a](result<void> r) {
    if (!r)
      spdlog::warn("webhook delivery {} to endpoint {} was not recorded: {}", a->delivery_id, a->message.endpoint_id,
                   r.err().message);
    if (a->failure) return finish(a, *a->failure);
    finish(a, webhook_outcome{a->http_status, r ? a->delivery_id : std::string()});
  };
  // Safe to retry: the row's id is fixed, a second insert does nothing.
  db_.submit(std::move(work), std::move(recorded), /*retry_safe=*/true);
}

void http_webhook_dispatcher::finish(std::shared_ptr<attempt> a, result<webhook_outcome> r) {
  auto done = std::move(a->done);
  a.reset();
  if (done) done(std::move(r));
  std::lock_guard lock(mutex_);
  if (--in_flight_ == 0) idle_.notify_all();
}

}  // namespace flowtrack::webhook
