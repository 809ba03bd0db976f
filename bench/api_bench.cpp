// Management API benchmark (issue #13 item 7): authenticated GET /api/v1/workspaces/{id}/leads on
// a workspace of N leads (default 1,000,000), and logins/s at the node's real Argon2id cost beside
// paced form ingress. Sees the node as HTTP; writes the fixture (the owner's verified email,
// members, leads) straight into its database through bench/lead_fill.hpp.
//   api_bench --port P --database-url URL --form-target /p/SLUG [--host 127.0.0.1] [--leads N]
//             [--seconds S] [--connections 16,64] [--ingress-rate 500] [--ingress-connections 64]
//             [--login-connections 4,64] [--server-pid PID]
// Set-up: signs an owner up (POST /auth/signup), marks the email verified in SQL (users follow a
// mailed link; the bench has no mailbox), logs in, creates the workspace (POST /workspaces), adds
// three members and a workflow in SQL and fills the leads. Then:
// - {"bench":"api_leads",...} per query and connection count: a closed loop, one request in
//   flight per keep-alive connection, for S seconds after a 1 s warm-up: pages/s, rows per page,
//   p50/p99/p99.9, errors, 503s with Retry-After (shed_503: refused at once, not errors), and
//   the CPU time per page of the node (--server-pid) and of the whole machine. A walk follows
//   nextCursor 5 pages deep, then starts again at the first page.
// - {"bench":"api_login",...} per login connection count: public form submissions paced open-loop
//   at --ingress-rate (each connection on its own schedule; latency counts from the scheduled
//   time, so a stalled node shows) for S seconds alone, then for S seconds with that many
//   connections logging in in a closed loop: logins/s and p99, ingress accepted/s and p99 both
//   ways. A login refused with 503 and Retry-After (the hashing queue full) counts in login_503
//   and its connection waits the Retry-After; argon2 is the cost read from the owner's stored hash.
// Exits 1 when the set-up fails or a phase got no successful answer.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>

#include "bench/lead_fill.hpp"
#include "bench/proc_stats.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using clk = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

namespace {
using namespace flowtrack;
using namespace flowtrack::bench;

constexpr auto k_io_timeout = std::chrono::seconds(30);  // a request hung this long is an error
constexpr auto k_reconnect_pause = std::chrono::milliseconds(20);
constexpr double k_page_warmup_s = 1;
constexpr double k_login_warmup_s = 2;
constexpr int k_walk_depth = 5;                            // pages a walk follows nextCursor
constexpr auto k_token_reuse = std::chrono::minutes(10);   // access tokens live 15 min
const std::string k_password = "bench horse battery staple";

struct options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string database_url;
  std::string form_target;
  long leads = 1'000'000;
  double seconds = 10;
  std::vector<int> connections{16, 64};
  double ingress_rate = 500;
  int ingress_connections = 64;
  std::vector<int> login_connections{4, 64};
  long server_pid = 0;
};

[[noreturn]] void die(const std::string& what) {
  std::cerr << "api_bench: " << what << "\n";
  std::exit(1);
}

template <class T>
T must(result<T> r, const std::string& what) {
  if (!r) die(what + ": " + r.err().message);
  return std::move(r).value();
}

// --- load: keep-alive clients on one io_context thread -----------------------------------------

/// The measured window: answers arriving in [warm_end, end) count.
struct window {
  clk::time_point start, warm_end, end;
  bool inside(clk::time_point t) const { return t >= warm_end && t < end; }
};

window make_window(double warmup_s, double seconds) {
  window w;
  w.start = clk::now();
  w.warm_end = w.start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(warmup_s));
  w.end = w.warm_end + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds));
  return w;
}

/// What one kind of client collected. Only the io_context thread touches it, so no locks.
struct tally {
  std::vector<std::uint32_t> latencies_us;  // wanted answers inside the window
  std::uint64_t ok = 0, rows = 0;
  std::uint64_t shed = 0;                   // 503 with Retry-After inside the window
  std::uint64_t errors = 0;                 // anything else, at any time
  std::map<std::string, std::uint64_t> error_kinds;
  std::string first_error;

  void count_error(const std::string& kind, const std::string& detail = {}) {
    ++errors;
    ++error_kinds[kind];
    if (first_error.empty()) first_error = detail.empty() ? kind : kind + ": " + detail;
  }
  void sort() { std::sort(latencies_us.begin(), latencies_us.end()); }
  void explain(const std::string& who) const {
    if (!errors) return;
    std::cerr << "api_bench: " << who << " errors by kind:";
    for (const auto& [kind, n] : error_kinds) std::cerr << " [" << kind << "] " << n;
    std::cerr << "\napi_bench: " << who << " first error: " << first_error << "\n";
  }
};

using response = http::response<http::string_body>;

/// One keep-alive connection with one request in flight, reconnecting after any error until the
/// window ends. Subclasses say what to send, when, and whether an answer is the one wanted. Owns
/// itself through shared_from_this, like Beast's example sessions.
class client : public std::enable_shared_from_this<client> {
 public:
  client(asio::io_context& ioc, tcp::endpoint endpoint, const window& w, tally& t)
      : stream_(ioc), timer_(ioc), endpoint_(endpoint), window_(w), tally_(t) {}
  virtual ~client() = default;
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void start() { do_connect(); }

 protected:
  /// When the next request is due; its latency counts from then. A closed loop: now.
  virtual clk::time_point due() { return clk::now(); }
  /// The next request, whole: request line, headers and body.
  virtual std::string next_request() = 0;
  /// Whether `res` is the answer wanted; adds the rows it carries to `rows`.
  virtual bool check(const response& res, std::uint64_t& rows) = 0;
  /// After an error or a refusal: the next request starts afresh.
  virtual void reset() {}
  /// How long to wait after a 503 with Retry-After of `seconds`.
  virtual clk::duration retry_pause(int seconds) { return std::chrono::seconds(seconds); }

 private:
  void do_connect() {
    if (clk::now() >= window_.end) return;
    stream_.expires_after(k_io_timeout);
    stream_.async_connect(endpoint_, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect", ec);
    stream_.socket().set_option(tcp::no_delay(true));
    buffer_.clear();
    do_wait();
  }

  void do_wait() {
    due_ = due();
    if (due_ >= window_.end) return close();
    if (due_ <= clk::now()) return do_write();
    timer_.expires_at(due_);
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->do_write(); });
  }

  void do_write() {
    request_ = next_request();
    stream_.expires_after(k_io_timeout);
    asio::async_write(stream_, asio::buffer(request_),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return fail("write", ec);
    parser_.emplace();
    parser_->body_limit(64 * 1024 * 1024);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail("read", ec);
    const auto now = clk::now();
    const auto& res = parser_->get();
    std::uint64_t rows = 0;
    clk::duration pause{};
    if (check(res, rows)) {
      if (window_.inside(now)) {
        ++tally_.ok;
        tally_.rows += rows;
        tally_.latencies_us.push_back(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - due_).count()));
      }
    } else if (res.result_int() == 503 && !res[http::field::retry_after].empty()) {
      if (window_.inside(now)) ++tally_.shed;
      reset();
      pause = retry_pause(std::max(1, std::atoi(std::string(res[http::field::retry_after]).c_str())));
    } else {
      tally_.count_error("status " + std::to_string(res.result_int()), res.body().substr(0, 300));
      reset();
    }
    if (!res.keep_alive()) {  // the server may close: not an error
      close();
      return do_connect();
    }
    if (pause > clk::duration::zero()) {
      timer_.expires_at(std::min(now + pause, window_.end));
      return timer_.async_wait([self = shared_from_this()](beast::error_code) { self->do_wait(); });
    }
    do_wait();
  }

  void fail(const char* what, beast::error_code ec) {
    tally_.count_error(std::string(what) + ": " + ec.message());
    reset();
    close();
    timer_.expires_after(k_reconnect_pause);
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->do_connect(); });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  tcp::endpoint endpoint_;
  const window& window_;
  tally& tally_;
  std::string request_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;  // one per response
  clk::time_point due_;
};

/// A lead list to ask for: the query after `?` (without limit: the default 25) and how many pages
/// to follow nextCursor.
struct lead_list {
  std::string shape;
  std::string query;
  int depth = 1;
};

/// GET .../leads with a bearer token; a walk follows nextCursor `depth` pages, then starts again.
class page_client final : public client {
 public:
  page_client(asio::io_context& ioc, tcp::endpoint endpoint, const window& w, tally& t, std::string head, std::string path,
              const lead_list& list)
      : client(ioc, endpoint, w, t), head_(std::move(head)), path_(std::move(path)), list_(list) {}

 private:
  std::string next_request() override {
    std::string target = path_;
    if (!list_.query.empty() || cursor_) target += '?';
    target += list_.query;
    if (cursor_) target.append(list_.query.empty() ? "" : "&").append("cursor=").append(*cursor_);
    return "GET " + target + " HTTP/1.1\r\n" + head_ + "\r\n";
  }

  bool check(const response& res, std::uint64_t& rows) override {
    const std::string& body = res.body();
    if (res.result_int() != 200 || !body.starts_with("{\"data\":[")) return false;
    for (auto at = body.find("\"workflowId\":"); at != std::string::npos; at = body.find("\"workflowId\":", at + 1)) ++rows;
    std::optional<std::string> next;
    if (auto at = body.rfind("\"nextCursor\":\""); at != std::string::npos) {
      at += 14;
      next = body.substr(at, body.find('"', at) - at);
    }
    if (++page_ < list_.depth && next) {
      cursor_ = std::move(next);
    } else {
      reset();
    }
    return true;
  }

  void reset() override {
    cursor_.reset();
    page_ = 0;
  }

  std::string head_;  // Host and Authorization lines
  std::string path_;
  const lead_list& list_;
  std::optional<std::string> cursor_;
  int page_ = 0;
};

/// POST /api/v1/auth/login with the owner's email and password, in a closed loop.
class login_client final : public client {
 public:
  login_client(asio::io_context& ioc, tcp::endpoint endpoint, const window& w, tally& t, const std::string& host, const std::string& email)
      : client(ioc, endpoint, w, t) {
    std::string body = json::serialize(json::object{{"email", email}, {"password", k_password}});
    request_text_ = "POST /api/v1/auth/login HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  std::string next_request() override { return request_text_; }
  bool check(const response& res, std::uint64_t&) override {
    return res.result_int() == 200 && res.body().find("\"accessToken\":\"") != std::string::npos;
  }
  std::string request_text_;
};

/// Public form submissions, open loop: connection `index` of `count` sends request k at
/// start + (index + k * count) / rate, or as soon as its previous answer is in when that is later.
class form_client final : public client {
 public:
  form_client(asio::io_context& ioc, tcp::endpoint endpoint, const window& w, tally& t, const std::string& host, const std::string& target,
              std::string run_id, int index, int count, double rate)
      : client(ioc, endpoint, w, t), start_(w.start), run_id_(std::move(run_id)), index_(index), count_(count), rate_(rate) {
    head_ = "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\n";
  }

 private:
  clk::time_point due() override {
    const double at_s = (index_ + static_cast<double>(sent_++) * count_) / rate_;
    return start_ + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(at_s));
  }
  std::string next_request() override {
    // Every submission is a new lead.
    std::string n = std::to_string(index_) + "-" + std::to_string(sent_);
    std::string body = R"({"email":"ingress-)" + run_id_ + "-" + n + R"(@example.com","name":"Lead )" + n + R"(","budget":)" +
                       std::to_string(sent_ % 10000) + R"(,"message":"hello"})";
    return head_ + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  bool check(const response& res, std::uint64_t&) override { return res.result_int() == 202; }
  // A refusal is one request lost; the next goes at its own time.
  clk::duration retry_pause(int) override { return clk::duration::zero(); }

  clk::time_point start_;
  std::string run_id_, head_;
  int index_, count_;
  double rate_;
  std::uint64_t sent_ = 0;
};

// --- set-up: a few blocking calls ----------------------------------------------------------------

struct reply {
  int status = 0;
  std::string body;
  json::value json() const {
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    return ec ? json::value() : v;
  }
};

reply call(const options& o, const std::string& method, const std::string& target, const std::string& body, const std::string& token = {}) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(asio::ip::make_address(o.host), o.port));
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) + "\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  asio::write(stream, asio::buffer(req));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  http::read(stream, buffer, parser);
  return {static_cast<int>(parser.get().result_int()), parser.get().body()};
}

std::string log_in(const options& o, const std::string& email) {
  auto r = call(o, "POST", "/api/v1/auth/login", json::serialize(json::object{{"email", email}, {"password", k_password}}));
  auto v = r.json();
  if (r.status != 200 || !v.is_object() || !v.as_object().contains("accessToken")) die("login: " + std::to_string(r.status) + " " + r.body);
  return std::string(v.at("accessToken").as_string());
}

struct fixture {
  std::string email, token, workspace, argon2;
  clk::time_point token_at;
  lead_fill_target target;
};

// The owner through the API (sign-up, login, POST /workspaces), the verification, members,
// workflow and leads in SQL.
fixture set_up(const options& o, pg::connection& c, const std::string& tag) {
  fixture f;
  f.email = "owner-" + tag + "@bench.example.com";
  auto s = call(o, "POST", "/api/v1/auth/signup", json::serialize(json::object{{"email", f.email}, {"password", k_password}}));
  if (s.status != 201) die("signup: " + std::to_string(s.status) + " " + s.body);
  auto v = must(c.exec("UPDATE users SET email_verified_at = now(), email_verification_token = NULL WHERE email = $1 "
                       "RETURNING password_hash",
                       pg::params{}.add(f.email)),
                "verify");
  if (v.size() != 1) die("verify: the signed-up user is not in the database");
  // "$argon2id$v=19$m=65536,t=3,p=1$salt$hash": the cost the node hashes and verifies with.
  std::string hash(v.get(0, 0));
  auto m = hash.find("m="), end = m == std::string::npos ? m : hash.find('$', m);
  f.argon2 = end == std::string::npos ? "unknown" : hash.substr(m, end - m);
  f.token = log_in(o, f.email);
  f.token_at = clk::now();
  auto w = call(o, "POST", "/api/v1/workspaces", json::serialize(json::object{{"name", "Bench leads"}, {"slug", "bench-leads-" + tag}}),
                f.token);
  auto wj = w.json();
  if (w.status != 201 || !wj.is_object() || !wj.as_object().contains("id")) die("create workspace: " + std::to_string(w.status) + " " + w.body);
  f.workspace = std::string(wj.at("id").as_string());
  f.target = must(prepare_lead_fill(c, f.workspace, tag), "members and workflow");
  print_lead_fill(must(fill_leads(c, o.database_url, f.target, o.leads), "fill"));
  return f;
}

// --- runs ------------------------------------------------------------------------------------------

tcp::endpoint endpoint_of(const options& o) { return {asio::ip::make_address(o.host), o.port}; }

std::string percent_encoded(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

// "2026-09-04": the UTC date `days` ago.
std::string date_days_ago(int days) {
  std::time_t t = std::time(nullptr) - static_cast<std::time_t>(days) * 86400;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

void measure_pages(const options& o, fixture& f, const lead_list& list, int connections) {
  if (clk::now() - f.token_at > k_token_reuse) {
    f.token = log_in(o, f.email);
    f.token_at = clk::now();
  }
  asio::io_context ioc(1);
  const std::string head = "Host: " + o.host + ":" + std::to_string(o.port) + "\r\nAuthorization: Bearer " + f.token + "\r\n";
  const std::string path = "/api/v1/workspaces/" + f.workspace + "/leads";
  tally t;
  const window w = make_window(k_page_warmup_s, o.seconds);
  for (int i = 0; i < connections; ++i) std::make_shared<page_client>(ioc, endpoint_of(o), w, t, head, path, list)->start();
  // CPU over the window: the node's, and the whole machine's (node, PostgreSQL, this client and
  // whatever else runs), read at its two ends.
  double node_start = -1, node_end = -1, machine_start = -1, machine_end = -1;
  asio::steady_timer at_start(ioc, w.warm_end), at_end(ioc, w.end);
  at_start.async_wait([&](beast::error_code) {
    if (o.server_pid) node_start = cpu_seconds(o.server_pid);
    machine_start = machine_busy_seconds();
  });
  at_end.async_wait([&](beast::error_code) {
    if (o.server_pid) node_end = cpu_seconds(o.server_pid);
    machine_end = machine_busy_seconds();
  });
  ioc.run();  // returns when every client has stopped after the window
  t.sort();
  const double pages = static_cast<double>(t.ok);
  auto us_per_page = [&](double a, double b) { return a >= 0 && b >= a && t.ok ? (b - a) * 1e6 / pages : -1; };
  std::printf(R"({"bench":"api_leads","shape":"%s","query":"%s","walk_pages":%d,"connections":%d,"leads":%ld,"pages":%llu,)"
              R"("pages_per_s":%.1f,"rows_per_page":%.1f,"p50_ms":%.2f,"p99_ms":%.2f,"p999_ms":%.2f,"errors":%llu,)"
              R"("shed_503":%llu,"node_cpu_us_per_page":%s,"machine_cpu_us_per_page":%s,"loadavg_1m":%.2f})" "\n",
              list.shape.c_str(), list.query.c_str(), list.depth, connections, o.leads, static_cast<unsigned long long>(t.ok),
              pages / o.seconds, pages > 0 ? static_cast<double>(t.rows) / pages : 0, percentile_ms(t.latencies_us, 0.50),
              percentile_ms(t.latencies_us, 0.99), percentile_ms(t.latencies_us, 0.999), static_cast<unsigned long long>(t.errors),
              static_cast<unsigned long long>(t.shed), number_or_null(us_per_page(node_start, node_end), "%.0f").c_str(),
              number_or_null(us_per_page(machine_start, machine_end), "%.0f").c_str(), loadavg_1m());
  std::fflush(stdout);
  t.explain("api_leads " + list.shape);
  if (t.ok == 0) die("api_leads " + list.shape + ": no page answered in the window");
}

/// Form ingress at the paced rate, with `logins` login connections beside it (0: alone).
struct mixed_run {
  tally ingress, login;
};

mixed_run run_mixed(const options& o, const fixture& f, int logins, const std::string& run_id) {
  asio::io_context ioc(1);
  mixed_run out;
  const window w = make_window(k_login_warmup_s, o.seconds);
  const std::string host = o.host + ":" + std::to_string(o.port);
  out.ingress.latencies_us.reserve(static_cast<std::size_t>(o.ingress_rate * o.seconds * 1.1));
  for (int i = 0; i < o.ingress_connections; ++i)
    std::make_shared<form_client>(ioc, endpoint_of(o), w, out.ingress, host, o.form_target, run_id, i, o.ingress_connections, o.ingress_rate)
        ->start();
  for (int i = 0; i < logins; ++i) std::make_shared<login_client>(ioc, endpoint_of(o), w, out.login, host, f.email)->start();
  ioc.run();
  out.ingress.sort();
  out.login.sort();
  out.ingress.explain("ingress (" + std::to_string(logins) + " login connections)");
  out.login.explain("login (" + std::to_string(logins) + " connections)");
  return out;
}

void measure_logins(const options& o, const fixture& f, const std::string& run_id) {
  const mixed_run alone = run_mixed(o, f, 0, run_id + "a");
  if (alone.ingress.ok == 0) die("api_login: no submission was accepted with ingress alone");
  for (int logins : o.login_connections) {
    const mixed_run with = run_mixed(o, f, logins, run_id + "l" + std::to_string(logins));
    const double ok = static_cast<double>(with.login.ok);
    std::printf(R"({"bench":"api_login","argon2":"%s","login_connections":%d,"logins":%llu,"logins_per_s":%.1f,)"
                R"("login_p50_ms":%.1f,"login_p99_ms":%.1f,"login_503":%llu,"login_errors":%llu,)"
                R"("ingress_rate":%.0f,"ingress_connections":%d,"ingress_alone_per_s":%.0f,"ingress_with_logins_per_s":%.0f,)"
                R"("ingress_p50_alone_ms":%.2f,"ingress_p50_with_logins_ms":%.2f,"ingress_p99_alone_ms":%.2f,)"
                R"("ingress_p99_with_logins_ms":%.2f,"ingress_errors_alone":%llu,"ingress_errors_with_logins":%llu,)"
                R"("ingress_503_alone":%llu,"ingress_503_with_logins":%llu,"seconds":%.1f,"loadavg_1m":%.2f})" "\n",
                f.argon2.c_str(), logins, static_cast<unsigned long long>(with.login.ok), ok / o.seconds,
                percentile_ms(with.login.latencies_us, 0.50), percentile_ms(with.login.latencies_us, 0.99),
                static_cast<unsigned long long>(with.login.shed), static_cast<unsigned long long>(with.login.errors), o.ingress_rate,
                o.ingress_connections, static_cast<double>(alone.ingress.ok) / o.seconds,
                static_cast<double>(with.ingress.ok) / o.seconds, percentile_ms(alone.ingress.latencies_us, 0.50),
                percentile_ms(with.ingress.latencies_us, 0.50), percentile_ms(alone.ingress.latencies_us, 0.99),
                percentile_ms(with.ingress.latencies_us, 0.99), static_cast<unsigned long long>(alone.ingress.errors),
                static_cast<unsigned long long>(with.ingress.errors), static_cast<unsigned long long>(alone.ingress.shed),
                static_cast<unsigned long long>(with.ingress.shed), o.seconds, loadavg_1m());
    std::fflush(stdout);
    if (with.login.ok == 0) die("api_login: no login succeeded with " + std::to_string(logins) + " connections");
  }
}

std::vector<int> counts_of(const std::string& list) {
  std::vector<int> out;
  for (std::size_t i = 0; i < list.size();) {
    auto end = list.find_first_of(", ", i);
    if (end == std::string::npos) end = list.size();
    if (end > i) out.push_back(std::atoi(list.substr(i, end - i).c_str()));
    i = end + 1;
  }
  return out;
}

int usage() {
  std::cerr << "usage: api_bench --port P --database-url URL --form-target /p/SLUG [--host H] [--leads N] [--seconds S]"
               " [--connections 16,64] [--ingress-rate R] [--ingress-connections N] [--login-connections 4,64]"
               " [--server-pid PID]\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = static_cast<unsigned short>(std::atoi(v.c_str()));
    else if (k == "--database-url") o.database_url = v;
    else if (k == "--form-target") o.form_target = v;
    else if (k == "--leads") o.leads = std::atol(v.c_str());
    else if (k == "--seconds") o.seconds = std::atof(v.c_str());
    else if (k == "--connections") o.connections = counts_of(v);
    else if (k == "--ingress-rate") o.ingress_rate = std::atof(v.c_str());
    else if (k == "--ingress-connections") o.ingress_connections = std::atoi(v.c_str());
    else if (k == "--login-connections") o.login_connections = counts_of(v);
    else if (k == "--server-pid") o.server_pid = std::atol(v.c_str());
    else return usage();
  }
  auto positive = [](const std::vector<int>& v) { return !v.empty() && std::all_of(v.begin(), v.end(), [](int n) { return n > 0; }); };
  if (argc % 2 == 0 || o.port == 0 || o.database_url.empty() || o.form_target.empty() || o.leads < 100 || o.seconds <= 0 ||
      !positive(o.connections) || o.ingress_rate <= 0 || o.ingress_connections < 1 || !positive(o.login_connections))
    return usage();

  try {
    const std::string tag = std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000000000) + "-" +
                            std::to_string(::getpid());
    auto c = must(pg::connection::open(pg::connect_options{o.database_url}), "connect");
    fixture f = set_up(o, *c, tag);

    const std::vector<lead_list> lists{
        {"first_page", "", 1},
        {"walk", "", k_walk_depth},
        {"status", "status=QUALIFIED", 1},
        {"status_walk", "status=QUALIFIED", k_walk_depth},
        {"tag", "tag=vip", 1},
        {"source", "source=EMAIL_FORWARD", 1},
        {"created_range", "createdFrom=" + date_days_ago(90) + "&createdTo=" + date_days_ago(60), 1},
        {"created_range_walk", "createdFrom=" + date_days_ago(90) + "&createdTo=" + date_days_ago(60), k_walk_depth},
        {"assignee_by_score", "assignedTo=" + f.target.members.at(1) + "&sort=score", 1},
        {"name_asc", "sort=name&order=asc", 1},
        {"text_rare", "q=" + percent_encoded(rare_lead_text(o.leads)), 1},
    };
    for (const auto& list : lists)
      for (int n : o.connections) measure_pages(o, f, list, n);
    measure_logins(o, f, tag);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "api_bench: " << e.what() << "\n";
    return 1;
  }
}
