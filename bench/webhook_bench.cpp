// Outgoing webhook delivery under load, against a running node: how many deliveries per second
// reach a fast local receiver across 100 endpoints, every one recorded, and the first-attempt
// latency of healthy endpoints with and without 20 of them hanging.
//
//   webhook_bench --database-url URL --workspace SLUG --flowtrackd PATH [--seconds 10]
//                 [--rate 2000] [--per-endpoint 1000] [--server-pid PID]
//
// It listens on 100 loopback ports, one receiver per endpoint as separate customers would have,
// and makes the workspace's 100 endpoints http://127.0.0.1:PORT/e/n (n = 0..99) with
// `flowtrackd webhook create` (FLOWTRACK_DATABASE_URL must name the node's database). Messages
// are written straight into webhook_deliveries (the outbox row the node's own events write) and
// the node's pump claims them.
//
// 1. throughput: --per-endpoint messages to each of the 100 endpoints in one transaction; timed
//    from its commit until every one is `delivered` in PostgreSQL. Every message must arrive
//    exactly once (missing and duplicates counted by webhook-id).
// 2. latency, none hanging: --rate messages/s spread evenly over the 100 endpoints for --seconds,
//    written every 10 ms, each carrying its write time; latency = arrival at the receiver - write
//    time, taken over endpoints 0..79.
// 3. latency, 20 hanging: the same load, but the receivers of endpoints 80..99 now read requests
//    and never answer (the node's 15 s timeout ends them). Endpoints 0..79's p99 is compared with
//    run 2's.
//
// Prints one JSON line per run: {"bench":"webhook","mode":"throughput"|"latency",...}.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <array>
#include <algorithm>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <libpq-fe.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "bench/proc_stats.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clk = std::chrono::steady_clock;

namespace {
using namespace flowtrack::bench;

constexpr int k_endpoints = 100;
constexpr int k_hanging = 20;  // endpoints 80..99 in run 3
constexpr int k_healthy = k_endpoints - k_hanging;
constexpr auto k_tick = std::chrono::milliseconds(10);
constexpr auto k_drain_limit = std::chrono::seconds(180);

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct arrival {
  int endpoint = 0;
  std::int64_t written_us = 0, arrived_us = 0;
};

/// The receivers: one listening port per endpoint, HTTP/1.1 keep-alive, 200 with an empty body
/// at once; endpoints >= k_healthy only read while `hang` is set.
class receivers {
 public:
  receivers() {
    for (int n = 0; n < k_endpoints; ++n) {
      auto a = std::make_unique<tcp::acceptor>(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      accept(*a, n);
      acceptors_.push_back(std::move(a));
    }
    thread_ = std::thread([this] { io_.run(); });
  }
  ~receivers() {
    io_.stop();
    thread_.join();
  }
  unsigned short port(int n) const { return acceptors_[static_cast<std::size_t>(n)]->local_endpoint().port(); }
  void set_hang(bool on) { hang_ = on; }
  /// Arrivals so far, and the webhook-ids seen more than once.
  std::size_t count() const { return count_.load(); }
  std::vector<arrival> take() {
    std::lock_guard lock(mutex_);
    auto out = std::move(arrivals_);
    arrivals_.clear();
    return out;
  }
  std::size_t duplicates() const {
    std::lock_guard lock(mutex_);
    return duplicates_;
  }

 private:
  struct conn : std::enable_shared_from_this<conn> {
    conn(tcp::socket s, int n, receivers* r) : socket(std::move(s)), endpoint(n), owner(r) {}
    tcp::socket socket;
    int endpoint;
    receivers* owner;
    std::string in;
    std::array<char, 16384> buf{};
    void read() {
      socket.async_read_some(asio::buffer(buf), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
        if (ec) return;
        self->in.append(self->buf.data(), n);
        self->parse();
      });
    }
    void parse() {
      std::string replies;
      while (true) {
        auto head_end = in.find("\r\n\r\n");
        if (head_end == std::string::npos) break;
        std::string_view head(in.data(), head_end);
        std::size_t length = 0;
        if (auto cl = find_header(head, "content-length"); !cl.empty()) length = std::strtoull(std::string(cl).c_str(), nullptr, 10);
        if (in.size() < head_end + 4 + length) break;
        std::string_view body(in.data() + head_end + 4, length);
        owner->record(endpoint, find_header(head, "webhook-id"), body);
        in.erase(0, head_end + 4 + length);
        if (!(endpoint >= k_healthy && owner->hang_)) replies += "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      }
      if (replies.empty()) return read();
      auto out = std::make_shared<std::string>(std::move(replies));
      asio::async_write(socket, asio::buffer(*out), [self = shared_from_this(), out](boost::system::error_code ec, std::size_t) {
        if (!ec) self->read();
      });
    }
    static std::string_view find_header(std::string_view head, std::string_view name) {
      std::size_t pos = 0;
      while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
        pos += 2;
        auto colon = head.find(':', pos);
        auto eol = head.find("\r\n", pos);
        if (colon == std::string_view::npos || (eol != std::string_view::npos && colon > eol)) continue;
        if (colon - pos == name.size() && std::equal(name.begin(), name.end(), head.begin() + static_cast<long>(pos),
                                                     [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
          auto v = head.substr(colon + 1, (eol == std::string_view::npos ? head.size() : eol) - colon - 1);
          while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
          return v;
        }
      }
      return {};
    }
  };

  void accept(tcp::acceptor& a, int n) {
    a.async_accept([this, &a, n](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      s.set_option(tcp::no_delay(true));
      std::make_shared<conn>(std::move(s), n, this)->read();
      accept(a, n);
    });
  }

  void record(int endpoint, std::string_view id, std::string_view body) {
    arrival a{endpoint, 0, wall_us()};
    // The payload is jsonb's text: {"data": {"n": 1, "t": 1733212345678901}, ...}.
    if (auto t = body.find("\"t\": "); t != std::string_view::npos) a.written_us = std::strtoll(body.data() + t + 5, nullptr, 10);
    std::lock_guard lock(mutex_);
    if (!ids_.emplace(id).second) ++duplicates_;
    arrivals_.push_back(a);
    ++count_;
  }

  asio::io_context io_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::thread thread_;
  std::atomic<bool> hang_{false};
  std::atomic<std::size_t> count_{0};
  mutable std::mutex mutex_;
  std::vector<arrival> arrivals_;
  std::unordered_set<std::string> ids_;
  std::size_t duplicates_ = 0;
};

using pg_result = std::unique_ptr<PGresult, decltype(&PQclear)>;

pg_result exec(PGconn* c, const char* sql, std::vector<std::string> params = {}) {
  std::vector<const char*> values;
  for (auto& p : params) values.push_back(p.c_str());
  pg_result r(PQexecParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0), PQclear);
  auto s = PQresultStatus(r.get());
  if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
    std::cerr << "webhook_bench: " << PQerrorMessage(c);
    std::exit(1);
  }
  return r;
}

// Messages to the endpoints listed in $2 (one per element, repeats allowed), each `per` times,
// written at $3 (µs): the shape storage/webhook_outbox writes for an event.
constexpr const char* k_write = R"sql(
INSERT INTO webhook_deliveries (webhook_endpoint_id, workspace_id, event_type, payload, status, attempt_number, max_attempts)
SELECT e.id, $1::uuid, 'lead.created',
       jsonb_build_object('type', 'lead.created',
                          'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                          'data', jsonb_build_object('t', $3::bigint, 'n', g)),
       'pending', 0, 4
FROM unnest($2::uuid[]) e(id), generate_series(1, $4::int) g
)sql";

std::string array_of(const std::vector<std::string>& ids) {
  std::string a = "{";
  for (const auto& id : ids) a += (a.size() > 1 ? "," : "") + id;
  return a + "}";
}

template <class Pred>
bool await(std::chrono::seconds limit, Pred done) {
  auto deadline = clk::now() + limit;
  while (!done()) {
    if (clk::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

struct options {
  std::string database_url, workspace, flowtrackd;
  int per_endpoint = 1000;
  double seconds = 10, rate = 2000;
  long server_pid = 0;
};

int usage() {
  std::cerr << "usage: webhook_bench --database-url URL --workspace SLUG --flowtrackd PATH [--seconds S] [--rate R]"
               " [--per-endpoint N] [--server-pid PID]\n";
  return 64;
}

/// Run 1: the backlog of per_endpoint x 100 messages, from commit to all recorded.
bool throughput(PGconn* c, receivers& rx, const options& o, const std::string& ws, const std::vector<std::string>& ids) {
  const std::size_t total = static_cast<std::size_t>(o.per_endpoint) * k_endpoints;
  rx.take();
  auto before = rx.count();
  double cpu0 = o.server_pid ? cpu_seconds(o.server_pid) : -1;
  auto t0 = clk::now();
  exec(c, k_write, {ws, array_of(ids), std::to_string(wall_us()), std::to_string(o.per_endpoint)});
  bool arrived = await(k_drain_limit, [&] { return rx.count() - before >= total; });
  auto t_arrived = clk::now();
  const char* delivered_sql = "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = $1 AND status = 'delivered'";
  std::size_t delivered = 0;
  bool recorded = await(k_drain_limit, [&] {
    delivered = std::strtoull(PQgetvalue(exec(c, delivered_sql, {ws}).get(), 0, 0), nullptr, 10);
    return delivered >= total;
  });
  auto t_recorded = clk::now();
  double cpu1 = o.server_pid ? cpu_seconds(o.server_pid) : -1;
  double s_arrived = std::chrono::duration<double>(t_arrived - t0).count();
  double s_recorded = std::chrono::duration<double>(t_recorded - t0).count();
  auto got = rx.count() - before;
  std::printf("{\"bench\":\"webhook\",\"mode\":\"throughput\",\"endpoints\":%d,\"messages\":%zu,\"delivered_per_s\":%.0f,"
              "\"received_per_s\":%.0f,\"received\":%zu,\"recorded\":%zu,\"duplicates\":%zu,\"missing\":%zu,"
              "\"node_cpu_us_per_delivery\":%s,\"rss_mb\":%s}\n",
              k_endpoints, total, recorded ? total / s_recorded : 0.0, arrived ? total / s_arrived : 0.0, got, delivered,
              rx.duplicates(), total > got ? total - got : 0,
              number_or_null(cpu0 < 0 ? -1 : (cpu1 - cpu0) * 1e6 / static_cast<double>(total), "%.1f").c_str(),
              number_or_null(o.server_pid ? memory_mb(o.server_pid, "VmRSS:") : -1, "%.1f").c_str());
  std::fflush(stdout);
  return arrived && recorded && rx.duplicates() == 0;
}

/// Runs 2 and 3: a steady load, written every 10 ms; the healthy endpoints' latencies.
std::optional<double> latency(PGconn* c, receivers& rx, const options& o, const std::string& ws, const std::vector<std::string>& ids,
                              bool hanging, std::optional<double> baseline_p99) {
  rx.set_hang(hanging);
  rx.take();
  const int targets = k_endpoints;
  const double per_tick = o.rate * std::chrono::duration<double>(k_tick).count();
  std::size_t healthy_written = 0;
  double owed = 0;
  int next = 0;
  auto start = clk::now();
  auto tick_at = start;
  while (clk::now() - start < std::chrono::duration<double>(o.seconds)) {
    owed += per_tick;
    std::vector<std::string> batch;
    for (; owed >= 1; owed -= 1) {
      batch.push_back(ids[static_cast<std::size_t>(next)]);
      if (next < k_healthy) ++healthy_written;
      next = (next + 1) % targets;
    }
    if (!batch.empty()) exec(c, k_write, {ws, array_of(batch), std::to_string(wall_us()), "1"});
    tick_at += k_tick;
    std::this_thread::sleep_until(tick_at);  // pacing the load, not synchronisation
  }
  std::vector<std::uint32_t> lat;
  std::size_t healthy_arrived = 0;
  await(k_drain_limit, [&] {
    for (const auto& a : rx.take())
      if (a.endpoint < k_healthy) {
        ++healthy_arrived;
        lat.push_back(static_cast<std::uint32_t>(std::max<std::int64_t>(0, a.arrived_us - a.written_us)));
      }
    return healthy_arrived >= healthy_written;
  });
  std::sort(lat.begin(), lat.end());
  double p99 = percentile_ms(lat, 0.99);
  std::string ratio = baseline_p99 && *baseline_p99 > 0 ? number_or_null(p99 / *baseline_p99, "%.3f") : "null";
  std::printf("{\"bench\":\"webhook\",\"mode\":\"latency\",\"hanging_endpoints\":%d,\"healthy_endpoints\":%d,\"rate_per_s\":%.0f,"
              "\"healthy_written\":%zu,\"healthy_arrived\":%zu,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"p999_ms\":%.2f,"
              "\"p99_vs_none_hanging\":%s}\n",
              hanging ? k_hanging : 0, k_healthy, o.rate, healthy_written, healthy_arrived, percentile_ms(lat, 0.50), p99,
              percentile_ms(lat, 0.999), ratio.c_str());
  std::fflush(stdout);
  if (healthy_arrived < healthy_written) return std::nullopt;
  return p99;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--database-url") o.database_url = v;
    else if (k == "--workspace") o.workspace = v;
    else if (k == "--flowtrackd") o.flowtrackd = v;
    else if (k == "--seconds") o.seconds = std::atof(v.c_str());
    else if (k == "--rate") o.rate = std::atof(v.c_str());
    else if (k == "--per-endpoint") o.per_endpoint = std::atoi(v.c_str());
    else if (k == "--server-pid") o.server_pid = std::atol(v.c_str());
    else return usage();
  }
  if (o.database_url.empty() || o.workspace.empty() || o.flowtrackd.empty() || o.rate <= 0 || o.per_endpoint <= 0) return usage();

  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(o.database_url.c_str()), PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK) {
    std::cerr << "webhook_bench: " << PQerrorMessage(c.get());
    return 1;
  }
  auto ws_r = exec(c.get(), "SELECT id FROM workspaces WHERE slug = $1", {o.workspace});
  if (PQntuples(ws_r.get()) != 1) {
    std::cerr << "webhook_bench: no workspace " << o.workspace << "\n";
    return 1;
  }
  std::string ws = PQgetvalue(ws_r.get(), 0, 0);
  receivers rx;
  for (int n = 0; n < k_endpoints; ++n) {
    auto command = o.flowtrackd + " webhook create --workspace '" + o.workspace + "' --url http://127.0.0.1:" +
                   std::to_string(rx.port(n)) + "/e/" + std::to_string(n) + " --events '*' >/dev/null";
    if (std::system(command.c_str()) != 0) {
      std::cerr << "webhook_bench: failed: " << command << "\n";
      return 1;
    }
  }
  // Endpoint n is the one whose URL ends in /e/n.
  auto ep = exec(c.get(), "SELECT id, substring(url from '/e/([0-9]+)$')::int FROM webhook_endpoints WHERE workspace_id = $1", {ws});
  std::vector<std::string> ids(k_endpoints);
  for (int i = 0; i < PQntuples(ep.get()); ++i) {
    int n = std::atoi(PQgetvalue(ep.get(), i, 1));
    if (n >= 0 && n < k_endpoints) ids[static_cast<std::size_t>(n)] = PQgetvalue(ep.get(), i, 0);
  }
  for (const auto& id : ids)
    if (id.empty()) {
      std::cerr << "webhook_bench: endpoint .../e/n missing after webhook create\n";
      return 1;
    }

  bool ok = throughput(c.get(), rx, o, ws, ids);
  auto none = latency(c.get(), rx, o, ws, ids, false, std::nullopt);
  auto some = latency(c.get(), rx, o, ws, ids, true, none);
  return ok && none && some ? 0 : 1;
}
