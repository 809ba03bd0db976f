// One loop thread, one CURLM: requests (POST, GET, DELETE) arrive through a mutex-protected inbox, wait in a FIFO
// beyond max_transfers, run concurrently in libcurl, and are answered on the loop thread.
#include "adapters/webhook/http_sender.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <sys/socket.h>

#include <curl/curl.h>
#include <spdlog/spdlog.h>

namespace flowtrack::webhook {
namespace {

using actors::outgoing_post;
using actors::post_answer;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t k_header_bytes_limit = 16 * 1024;
constexpr std::size_t k_spare_handles = 1024;  // easy handles kept for reuse
constexpr std::string_view k_shutting_down = "the webhook sender is shutting down";
constexpr std::string_view k_guard_hint = "; webhooks may only reach public addresses unless webhook_allow lists the range";

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_token(std::string_view s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
  });
}

bool is_header_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

/// Headers whose meaning is the transport's: the sender (libcurl) sets them or must not see them.
bool owned_by_sender(std::string_view lower_name) {
  static constexpr std::string_view owned[] = {"host",    "content-length", "transfer-encoding", "connection", "expect",
                                               "te",      "upgrade",        "trailer",           "keep-alive"};
  return std::find(std::begin(owned), std::end(owned), lower_name) != std::end(owned);
}

struct curl_url_deleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::optional<std::string> url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* out = nullptr;
  if (curl_url_get(u, part, &out, flags) != CURLUE_OK || !out) return std::nullopt;
  std::string s(out);
  curl_free(out);
  return s;
}

/// A URL taken apart by libcurl's parser, as check_target does it, without resolving anything.
struct parsed_url {
  std::string url;     ///< normalised by libcurl
  std::string origin;  ///< scheme://host:port: safe to show
  std::optional<ip_address> literal;
};

error bad_url(const std::string& what) { return make_error(error_code::invalid, "webhook url " + what, "url"); }

result<parsed_url> parse_url(const std::string& url) {
  std::unique_ptr<CURLU, curl_url_deleter> u(curl_url());
  if (!u) return make_error(error_code::internal, "could not allocate a URL parser");
  if (url.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) return bad_url("contains a control character");
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
    return bad_url("is not an absolute http:// or https:// URL");
  auto scheme = lower(url_part(u.get(), CURLUPART_SCHEME).value_or(""));
  if (scheme != "http" && scheme != "https") return bad_url("must use http or https");
  if (url_part(u.get(), CURLUPART_USER) || url_part(u.get(), CURLUPART_PASSWORD))
    return bad_url("must not carry user:password; set the endpoint's auth header instead");
  if (url_part(u.get(), CURLUPART_ZONEID)) return bad_url("must not name an IPv6 zone");
  auto host = lower(url_part(u.get(), CURLUPART_HOST).value_or(""));
  if (host.empty()) return bad_url("has no host");
  auto port_text = url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  int port = port_text ? std::atoi(port_text->c_str()) : 0;
  if (port <= 0 || port > 65535) return bad_url("has no usable port");
  parsed_url p;
  p.origin = scheme + "://" + host + ":" + std::to_string(port);
  auto normalised = url_part(u.get(), CURLUPART_URL);
  if (!normalised) return bad_url("is not an absolute http:// or https:// URL");
  p.url = std::move(*normalised);
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  p.literal = ip_address::parse(bare);
  return p;
}

struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

bool append(slist_ptr& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  if (!next) return false;
  (void)list.release();
  list.reset(next);
  return true;
}

/// One request from post() to its answer. Lives on the heap, never moves: libcurl holds
/// pointers into it (body, error buffer, callbacks' user data).
struct transfer {
  outgoing_post request;
  std::function<void(post_answer)> done;
  const address_policy* policy = nullptr;
  std::size_t body_limit = 0;

  std::string origin;
  bool literal = false;
  CURL* easy = nullptr;
  slist_ptr headers;
  clock_type::time_point started;

  post_answer answer;
  std::size_t header_bytes = 0;
  int sockets_opened = 0;   // connections the guard let through
  int sockets_refused = 0;  // addresses the guard refused (never connected to)
  char errbuf[CURL_ERROR_SIZE] = {0};
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  std::size_t len = size * n;
  auto& body = t->answer.body;
  std::size_t room = t->body_limit - std::min(t->body_limit, body.size());
  body.append(data, std::min(len, room));
  if (len > room) {
    t->answer.body_truncated = true;
    return 0;  // stop reading: the rest would be thrown away, and a receiver may send without end
  }
  return len;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  std::size_t len = size * n;
  std::string_view line(data, len);
  auto& headers = t->answer.headers;
  if (line.substr(0, 5) == "HTTP/") {  // a new response (after a 1xx): its headers only
    headers.clear();
    t->header_bytes = 0;
    return len;
  }
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  if (trim(line).empty() || t->header_bytes + len > k_header_bytes_limit) return len;
  t->header_bytes += len;
  if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {  // obsolete line folding
    headers.back().second.append(" ").append(trim(line));
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return len;
}

/// Every socket libcurl opens passes the guard, whatever DNS answered: a refused address is
/// never connected to (DNS rebinding, a name pointing inside, a URL read differently).
curl_socket_t open_checked_socket(void* user, curlsocktype purpose, curl_sockaddr* addr) {
  auto* t = static_cast<transfer*>(user);
  auto ip = ip_address::from_sockaddr(&addr->addr);
  if (purpose != CURLSOCKTYPE_IPCXN || !ip || t->policy->refusal(*ip)) {
    ++t->sockets_refused;
    return CURL_SOCKET_BAD;
  }
  ++t->sockets_opened;
  return ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

error failure(error_code code, std::string message) { return make_error(code, std::move(message), "url"); }

}  // namespace

struct http_sender::loop {
  address_policy policy;
  http_sender_options opts;
  CURLM* multi = nullptr;

  // Shared with post().
  std::mutex mutex;
  std::vector<std::unique_ptr<transfer>> inbox;
  bool stopping = false;

  // The loop thread's own.
  std::deque<std::unique_ptr<transfer>> waiting;
  std::unordered_map<CURL*, std::unique_ptr<transfer>> running;
  std::vector<CURL*> spare;

  loop(address_policy p, http_sender_options o) : policy(std::move(p)), opts(std::move(o)) {
    init_curl_once();
    opts.connect_timeout = std::min(opts.connect_timeout, opts.total_timeout);
    opts.max_transfers = std::max<std::size_t>(opts.max_transfers, 1);
    multi = curl_multi_init();
    if (!multi) throw std::runtime_error("could not create a libcurl multi handle");
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts.max_host_connections);
  }

  ~loop() {
    for (CURL* e : spare) curl_easy_cleanup(e);
    curl_multi_cleanup(multi);
  }

  void run();
  void admit(std::unique_ptr<transfer> t);
  void start(std::unique_ptr<transfer> t);
  void start_waiting();
  void collect();
  void finish(std::unique_ptr<transfer> t, CURLcode rc);
  void answer(std::unique_ptr<transfer> t, std::optional<error> failure);
  void shut_down(std::vector<std::unique_ptr<transfer>> incoming);
};

void http_sender::loop::run() {
  for (;;) {
    std::vector<std::unique_ptr<transfer>> incoming;
    bool stop = false;
    {
      std::lock_guard lock(mutex);
      incoming.swap(inbox);
      stop = stopping;
    }
    if (stop) return shut_down(std::move(incoming));
    for (auto& t : incoming) admit(std::move(t));
    start_waiting();
    int still_running = 0;
    if (auto rc = curl_multi_perform(multi, &still_running); rc != CURLM_OK)
      spdlog::error("webhook sender: curl_multi_perform: {}", curl_multi_strerror(rc));
    collect();
    start_waiting();  // new transfers have a zero timeout: the poll below returns at once
    if (auto rc = curl_multi_poll(multi, nullptr, 0, 1000, nullptr); rc != CURLM_OK)
      spdlog::error("webhook sender: curl_multi_poll: {}", curl_multi_strerror(rc));
  }
}

void http_sender::loop::admit(std::unique_ptr<transfer> t) {
  auto url = parse_url(t->request.url);
  if (!url) return answer(std::move(t), url.err());
  t->origin = url->origin;
  if (url->literal) {
    t->literal = true;
    if (auto why = policy.refusal(*url->literal))
      return answer(std::move(t), failure(error_code::invalid, "address not allowed for " + t->origin + ": it is a " +
                                                                   *why + " address" + std::string(k_guard_hint)));
  }
  t->request.url = std::move(url->url);
  const auto& method = t->request.method;
  if (method != "POST" && method != "GET" && method != "DELETE")
    return answer(std::move(t), failure(error_code::invalid, "request method '" + (is_token(method) ? method : std::string("?")) +
                                                                 "' is not sent: the sender makes POST, GET and DELETE requests"));
  if (method != "POST" && !t->request.body.empty())
    return answer(std::move(t), failure(error_code::invalid, "a " + method + " request carries no body"));

  // The caller's headers as given; libcurl's defaults removed unless given.
  bool has_user_agent = false, has_accept = false, has_content_type = false;
  for (const auto& [name, value] : t->request.headers) {
    auto n = lower(name);
    if (!is_token(name) || !is_header_value(value))
      return answer(std::move(t), failure(error_code::invalid, "request header '" + (is_token(name) ? name : std::string("?")) +
                                                                   "' has a malformed name or a CR, LF or NUL in its value"));
    if (owned_by_sender(n))
      return answer(std::move(t), failure(error_code::invalid, "request header '" + name + "' is set by the sender"));
    has_user_agent |= n == "user-agent";
    has_accept |= n == "accept";
    has_content_type |= n == "content-type";
    // "Name:" with nothing after it would make libcurl drop the header; "Name;" sends it empty.
    bool blank = std::all_of(value.begin(), value.end(), [](char c) { return c == ' ' || c == '\t'; });
    if (!append(t->headers, blank ? name + ";" : name + ": " + value))
      return answer(std::move(t), make_error(error_code::internal, "out of memory building the request headers"));
  }
  bool ok = true;
  if (!has_user_agent) ok &= append(t->headers, "User-Agent: " + opts.user_agent);
  if (!has_accept) ok &= append(t->headers, "Accept:");
  if (!has_content_type) ok &= append(t->headers, "Content-Type:");
  ok &= append(t->headers, "Expect:");  // no 100-continue round trip for large bodies
  if (!ok) return answer(std::move(t), make_error(error_code::internal, "out of memory building the request headers"));

  if (waiting.size() >= opts.max_waiting)
    return answer(std::move(t), make_error(error_code::unavailable, "too many webhook requests are waiting; try again later"));
  waiting.push_back(std::move(t));
}

void http_sender::loop::start_waiting() {
  while (running.size() < opts.max_transfers && !waiting.empty()) {
    auto t = std::move(waiting.front());
    waiting.pop_front();
    start(std::move(t));
  }
}

void http_sender::loop::start(std::unique_ptr<transfer> t) {
  CURL* h = nullptr;
  if (!spare.empty()) {
    h = spare.back();
    spare.pop_back();
  } else {
    h = curl_easy_init();
  }
  if (!h) return answer(std::move(t), make_error(error_code::internal, "could not create a libcurl handle"));
  t->easy = h;
  t->policy = &policy;
  t->body_limit = opts.body_limit;
  transfer* p = t.get();
  curl_easy_setopt(h, CURLOPT_PRIVATE, p);
  curl_easy_setopt(h, CURLOPT_URL, p->request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // a proxy from the environment would bypass the guard
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.total_timeout.count()));
  if (p->request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, p->request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(p->request.body.size()));
  } else {
    // No body and no Content-Length; DELETE is a GET under another name, so its answer is read
    // as a GET's (CURLOPT_NOBODY would make it a HEAD).
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (p->request.method == "DELETE") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, p->headers.get());
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, p);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, p);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, p);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, p->errbuf);
  p->started = clock_type::now();
  if (auto rc = curl_multi_add_handle(multi, h); rc != CURLM_OK) {
    curl_easy_cleanup(h);
    t->easy = nullptr;
    return answer(std::move(t), make_error(error_code::internal, std::string("libcurl refused the transfer: ") +
                                                                     curl_multi_strerror(rc)));
  }
  running.emplace(h, std::move(t));
}

void http_sender::loop::collect() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    auto it = running.find(m->easy_handle);
    CURLcode rc = m->data.result;  // `m` is invalid once the handle is removed
    if (it == running.end()) continue;
    auto t = std::move(it->second);
    running.erase(it);
    finish(std::move(t), rc);
  }
}

void http_sender::loop::finish(std::unique_ptr<transfer> t, CURLcode rc) {
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_off_t connected_us = 0;
  curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connected_us);
  long os_errno = 0;
  curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno);

  std::optional<error> failed;
  if (status >= 200) {
    // An answer: whatever happened after the status (the body limit, a reset, the timeout)
    // only shortens the body.
    t->answer.status = static_cast<int>(status);
    if (rc != CURLE_OK) t->answer.body_truncated = true;
  } else if (t->sockets_refused > 0 && t->sockets_opened == 0) {
    failed = failure(error_code::invalid, "address not allowed for " + t->origin +
                                              (t->literal ? std::string(": the address is restricted")
                                                          : std::string(": the name resolves to no address webhooks may reach")) +
                                              std::string(k_guard_hint));
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    failed = connected_us > 0
                 ? failure(error_code::timeout, "no answer from " + t->origin + " within " +
                                                    std::to_string(opts.total_timeout.count()) + " ms")
                 : failure(error_code::timeout, "could not connect to " + t->origin + " within " +
                                                    std::to_string(opts.connect_timeout.count()) + " ms");
  } else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
    failed = failure(error_code::unavailable, "the host of " + t->origin + " does not resolve");
  } else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
    failed = failure(error_code::invalid, "webhook url " + t->origin + " cannot be used: " + curl_easy_strerror(rc));
  } else {
    // libcurl's error buffer may name the address connected to: say only what failed.
    std::string why = curl_easy_strerror(rc);
    if (os_errno != 0) why += std::string(" (") + std::strerror(static_cast<int>(os_errno)) + ")";
    failed = failure(error_code::unavailable, "could not deliver to " + t->origin + ": " + why);
  }
  answer(std::move(t), std::move(failed));
}

void http_sender::loop::answer(std::unique_ptr<transfer> t, std::optional<error> failed) {
  if (t->easy) {
    t->answer.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t->started);
    curl_multi_remove_handle(multi, t->easy);
    if (spare.size() < k_spare_handles) {
      curl_easy_reset(t->easy);  // nothing of this transfer stays set on the handle
      spare.push_back(t->easy);
    } else {
      curl_easy_cleanup(t->easy);
    }
    t->easy = nullptr;
  }
  if (failed) {
    t->answer.status = 0;
    t->answer.failure = std::move(failed);
  }
  auto done = std::move(t->done);
  auto a = std::move(t->answer);
  t.reset();
  try {
    if (done) done(std::move(a));
  } catch (const std::exception& e) {
    spdlog::error("webhook sender: a done callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("webhook sender: a done callback threw");
  }
}

void http_sender::loop::shut_down(std::vector<std::unique_ptr<transfer>> incoming) {
  auto closing = [] { return make_error(error_code::unavailable, std::string(k_shutting_down)); };
  while (!running.empty()) {
    auto t = std::move(running.begin()->second);
    running.erase(running.begin());
    answer(std::move(t), closing());
  }
  while (!waiting.empty()) {
    auto t = std::move(waiting.front());
    waiting.pop_front();
    answer(std::move(t), closing());
  }
  for (auto& t : incoming) answer(std::move(t), closing());
}

http_sender::http_sender(address_policy policy, http_sender_options options)
    : loop_(std::make_unique<loop>(std::move(policy), std::move(options))) {
  thread_ = std::thread([l = loop_.get()] { l->run(); });
}

http_sender::~http_sender() {
  if (std::this_thread::get_id() == thread_.get_id()) {
    // A done callback destroying its sender: the loop cannot join itself.
    spdlog::critical("webhook sender destroyed from its own done callback; that is a bug in the caller");
    std::abort();
  }
  {
    std::lock_guard lock(loop_->mutex);
    loop_->stopping = true;
    curl_multi_wakeup(loop_->multi);
  }
  thread_.join();
}

void http_sender::post(outgoing_post request, std::function<void(post_answer)> done) {
  auto t = std::make_unique<transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  {
    std::lock_guard lock(loop_->mutex);
    if (!loop_->stopping) {
      // One wake-up per batch: the loop takes the whole inbox at once.
      bool wake = loop_->inbox.empty();
      loop_->inbox.push_back(std::move(t));
      // Under the mutex: the destructor cannot free the multi handle meanwhile.
      if (wake) curl_multi_wakeup(loop_->multi);
      return;
    }
  }
  post_answer a;
  a.failure = make_error(error_code::unavailable, std::string(k_shutting_down));
  auto cb = std::move(t->done);
  if (cb) cb(std::move(a));
}

}  // namespace flowtrack::webhook
