// HTTP ingress benchmark: a closed-loop load generator posting public form submissions (one
// request in flight per keep-alive connection, one io_context thread), then a check in PostgreSQL
// that every 202's submission (its lead event) has its execution row and that every execution completed. Links no FlowTrack
// library: it sees the node only as HTTP, its database and /proc.
//   http_bench --port P --target /p/SLUG [--host 127.0.0.1] [--connections 64] [--seconds 20]
//              [--warmup 2] [--completion-wait 60] [--database-url URL] [--server-pid PID] [--header "Name: value"]...
// Prints one JSON line. A 503 with Retry-After (the node shedding load) is counted as shed_503,
// not as an error; one without Retry-After is an error. node_cpu_us_per_accepted is the node's
// user+system CPU time (/proc/PID/stat) over the measured window per accepted submission.
// Answers arriving during the warmup or after the measured window (the
// drain) are checked in the database but count in no rate. completed_per_s is the measured
// window's completed executions over (their last completed_at - the window's start). Exits 1
// when an accepted submission has no lead event or no execution row, or when nothing was accepted.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>
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

#include "bench/proc_stats.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using clk = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

namespace {
using namespace flowtrack::bench;

constexpr double k_target_per_s = 5000;
constexpr double k_target_p99_ms = 25;
constexpr auto k_io_timeout = std::chrono::seconds(10);      // a request hung this long is an error
constexpr auto k_reconnect_pause = std::chrono::milliseconds(20);
constexpr std::size_t k_id_chunk = 5000;                     // ids per `id = ANY($1)` query

struct options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string target;
  int connections = 64;
  double seconds = 20;
  double warmup = 2;
  std::string database_url;
  long server_pid = 0;
  std::string extra_headers;  // "Name: value\r\n" lines (e.g. a token to bench POST /hooks/ID too)
  double completion_wait = 60;  // seconds to wait for the accepted executions to end (0: runs that park)
};

/// What the load phase collected. Only the io_context thread touches it, so no locks.
struct tally {
  std::string run_id;                          // makes every email of this run new
  std::uint64_t next_lead = 0;
  clk::time_point warm_end, end;               // the measured window is [warm_end, end)
  std::vector<std::uint32_t> latencies_us;     // answers inside the window only
  std::vector<std::string> warmup_ids, measured_ids, drain_ids;
  std::uint64_t errors = 0;
  std::uint64_t shed = 0;                      // 503 with Retry-After inside the window: refused at once, not an error
  std::map<std::string, std::uint64_t> error_kinds;  // "status 429", "connect: ..." -> count
  std::string first_error;
};

bool looks_like_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

/// One keep-alive connection with one request in flight; reconnects after any error until the
/// window ends. Owns itself through shared_from_this, like Beast's example sessions.
class session : public std::enable_shared_from_this<session> {
 public:
  session(asio::io_context& ioc, tcp::endpoint endpoint, const options& o, tally& t)
      : stream_(ioc), pause_(ioc), endpoint_(endpoint), opts_(o), tally_(t) {
    host_header_ = opts_.host + ":" + std::to_string(opts_.port);
  }

  void start() { do_connect(); }

 private:
  void do_connect() {
    if (clk::now() >= tally_.end) return;
    stream_.expires_after(k_io_timeout);
    stream_.async_connect(endpoint_, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect", ec);
    stream_.socket().set_option(tcp::no_delay(true));
    buffer_.clear();
    do_write();
  }

  void do_write() {
    if (clk::now() >= tally_.end) return close();
    // Every submission is a new lead: a unique email, budgets spread over both branches.
    std::uint64_t lead = tally_.next_lead++;
    std::string n = std::to_string(lead);
    std::string body = R"({"email":"bench-)" + tally_.run_id + "-" + n + R"(@example.com","name":"Lead )" + n +
                       R"(","budget":)" + std::to_string(lead % 10000) + R"(,"message":"hello"})";
    request_.clear();
    request_ += "POST " + opts_.target + " HTTP/1.1\r\nHost: " + host_header_ +
                "\r\nContent-Type: application/json\r\n" + opts_.extra_headers +
                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    request_ += body;
    sent_ = clk::now();
    stream_.expires_after(k_io_timeout);
    asio::async_write(stream_, asio::buffer(request_),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return fail("write", ec);
    parser_.emplace();
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail("read", ec);
    auto now = clk::now();
    const auto& res = parser_->get();
    if (std::string id; res.result_int() == 202 && accepted_id(res.body(), id)) {
      auto* ids = now < tally_.warm_end ? &tally_.warmup_ids : now < tally_.end ? &tally_.measured_ids : &tally_.drain_ids;
      ids->push_back(std::move(id));
      if (ids == &tally_.measured_ids)
        tally_.latencies_us.push_back(
            static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - sent_).count()));
    } else if (res.result_int() == 503 && !res[http::field::retry_after].empty()) {
      if (now >= tally_.warm_end && now < tally_.end) ++tally_.shed;  // overload shed; the client may retry
    } else {
      count_error("status " + std::to_string(res.result_int()) + (res.result_int() == 503 ? " without Retry-After" : ""),
                  res.body().substr(0, 300));
    }
    if (!res.keep_alive()) {  // the server may close (e.g. while shutting down): not an error
      close();
      return do_connect();
    }
    do_write();
  }

  /// The 202 body must name the submission: {"status":"accepted","submissionId":"<lead event uuid>"}.
  static bool accepted_id(const std::string& body, std::string& id) {
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    if (!o) return false;
    auto* st = o->if_contains("status");
    auto* s = o->if_contains("submissionId");
    if (auto* e = o->if_contains("executionId"); !s && e && e->is_string() && looks_like_uuid(e->get_string())) {
      id = e->get_string();  // the answer of nodes before the public form hid it (only without --database-url)
      return true;
    }
    if (!st || !st->is_string() || st->get_string() != "accepted" || !s || !s->is_string() || !looks_like_uuid(s->get_string())) return false;
    id = s->get_string();
    return true;
  }

  void count_error(const std::string& kind, const std::string& detail = {}) {
    ++tally_.errors;
    ++tally_.error_kinds[kind];
    if (tally_.first_error.empty()) tally_.first_error = detail.empty() ? kind : kind + ": " + detail;
  }

  /// A connection error: counted, then a fresh connection after a short pause.
  void fail(const char* what, beast::error_code ec) {
    count_error(std::string(what) + ": " + ec.message());
    close();
    pause_.expires_after(k_reconnect_pause);
    pause_.async_wait([self = shared_from_this()](beast::error_code) { self->do_connect(); });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  asio::steady_timer pause_;
  tcp::endpoint endpoint_;
  const options& opts_;
  tally& tally_;
  std::string host_header_;
  std::string request_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;  // one per response
  clk::time_point sent_;
};

// --- after the run: PostgreSQL -------------------------------------------------------------

using pg_result = std::unique_ptr<PGresult, decltype(&PQclear)>;

/// Runs `sql` with $1 = the ids as a uuid[] literal; throws on any error (the check must not
/// pass by accident).
pg_result query_ids(PGconn* c, const char* sql, std::span<const std::string> ids) {
  std::string array = "{";
  for (const auto& id : ids) array += id + ",";
  array.back() = '}';
  const char* values[] = {array.c_str()};
  pg_result r(PQexecParams(c, sql, 1, nullptr, values, nullptr, nullptr, 0), &PQclear);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) throw std::runtime_error(std::string("query: ") + PQerrorMessage(c));
  return r;
}

template <class F>
void in_chunks(const std::vector<std::string>& ids, F&& f) {
  for (std::size_t i = 0; i < ids.size(); i += k_id_chunk)
    f(std::span<const std::string>(ids).subspan(i, std::min(k_id_chunk, ids.size() - i)));
}

/// The executions the submissions (lead event ids) started, in order; a submission without its
/// lead event, or whose event names no execution, counts in `missing` (every bench email is new,
/// so each must have started one).
std::pair<std::uint64_t, std::vector<std::string>> executions_of(PGconn* c, const std::vector<std::string>& submissions) {
  std::vector<std::string> out;
  out.reserve(submissions.size());
  in_chunks(submissions, [&](std::span<const std::string> chunk) {
    auto r = query_ids(c, "SELECT metadata->>'executionId' FROM lead_events WHERE id = ANY($1::uuid[])"
                          " AND metadata->>'executionId' IS NOT NULL", chunk);
    for (int i = 0; i < PQntuples(r.get()); ++i) out.emplace_back(PQgetvalue(r.get(), i, 0));
  });
  return {submissions.size() - out.size(), std::move(out)};
}

/// Ids with no row in workflow_executions (-> `missing`), and the ids whose run has not ended.
std::pair<std::uint64_t, std::vector<std::string>> check_rows(PGconn* c, const std::vector<std::string>& ids) {
  std::uint64_t found = 0;
  std::vector<std::string> running;
  in_chunks(ids, [&](std::span<const std::string> chunk) {
    auto r = query_ids(c, "SELECT id::text, status IN ('completed','failed','cancelled') FROM workflow_executions"
                          " WHERE id = ANY($1::uuid[])", chunk);
    found += static_cast<std::uint64_t>(PQntuples(r.get()));
    for (int i = 0; i < PQntuples(r.get()); ++i)
      if (PQgetvalue(r.get(), i, 1)[0] != 't') running.emplace_back(PQgetvalue(r.get(), i, 0));
  });
  return {ids.size() - found, std::move(running)};
}

/// Polls the executions still running until they end or the wait is over; returns how many
/// have not ended. Only the unfinished ones are queried, so polling stays cheap for the node.
std::size_t wait_until_ended(PGconn* c, std::vector<std::string> running, double wait_s) {
  auto deadline = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(wait_s));
  while (!running.empty() && clk::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<std::string> still;
    in_chunks(running, [&](std::span<const std::string> chunk) {
      auto r = query_ids(c, "SELECT id::text FROM workflow_executions WHERE id = ANY($1::uuid[])"
                            " AND status NOT IN ('completed','failed','cancelled')", chunk);
      for (int i = 0; i < PQntuples(r.get()); ++i) still.emplace_back(PQgetvalue(r.get(), i, 0));
    });
    running = std::move(still);
  }
  return running.size();
}

struct completion {
  std::uint64_t completed = 0;
  double last_completed_epoch_s = 0;  // completed_at is UTC written by the node (see sql_timestamp)
};

completion completion_of(PGconn* c, const std::vector<std::string>& ids) {
  completion out;
  in_chunks(ids, [&](std::span<const std::string> chunk) {
    auto r = query_ids(c, "SELECT count(*), COALESCE(extract(epoch FROM max(completed_at)), 0)::float8"
                          " FROM workflow_executions WHERE id = ANY($1::uuid[]) AND status = 'completed'", chunk);
    out.completed += std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
    out.last_completed_epoch_s = std::max(out.last_completed_epoch_s, std::strtod(PQgetvalue(r.get(), 0, 1), nullptr));
  });
  return out;
}

/// Rows written (inserted or updated) in the database so far, and the index entries they made:
/// each table's inserts and non-HOT updates times its number of indexes (partial indexes counted
/// as if every row matched: an upper bound). From the statistics views, which a backend flushes
/// at most once a second: over a window of 10 s or more the error is small.
struct write_counts {
  double rows = -1, index_entries = -1;
};
write_counts database_writes(PGconn* c) {
  write_counts out;
  pg_result r(PQexec(c, "SELECT COALESCE(sum(n_tup_ins + n_tup_upd), 0),"
                        " COALESCE(sum((n_tup_ins + n_tup_upd - n_tup_hot_upd) *"
                        " (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid)), 0)"
                        " FROM pg_stat_user_tables t"),
              &PQclear);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return out;
  out.rows = std::strtod(PQgetvalue(r.get(), 0, 0), nullptr);
  out.index_entries = std::strtod(PQgetvalue(r.get(), 0, 1), nullptr);
  return out;
}

// --- reporting -----------------------------------------------------------------------------


int usage() {
  std::cerr << "usage: http_bench --port P --target /p/SLUG [--host H] [--connections N] [--seconds S]"
               " [--warmup S] [--completion-wait S] [--database-url URL] [--server-pid PID] [--header \"Name: value\"]...\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = static_cast<unsigned short>(std::atoi(v.c_str()));
    else if (k == "--target") o.target = v;
    else if (k == "--connections") o.connections = std::atoi(v.c_str());
    else if (k == "--seconds") o.seconds = std::atof(v.c_str());
    else if (k == "--warmup") o.warmup = std::atof(v.c_str());
    else if (k == "--completion-wait") o.completion_wait = std::atof(v.c_str());
    else if (k == "--database-url") o.database_url = v;
    else if (k == "--server-pid") o.server_pid = std::atol(v.c_str());
    else if (k == "--header" && v.find(':') != std::string::npos && v.find_first_of("\r\n") == std::string::npos)
      o.extra_headers += v + "\r\n";
    else return usage();
  }
  if (argc % 2 == 0 || o.port == 0 || o.target.empty() || o.connections < 1 || o.seconds <= 0 || o.warmup < 0) return usage();

  try {
    // Load: one thread, one io_context (PERFORMANCE.md: one thread beat two on this machine).
    asio::io_context ioc(1);
    tcp::endpoint endpoint(asio::ip::make_address(o.host), o.port);
    tally t;
    t.run_id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000000000) + "-" +
               std::to_string(::getpid());
    t.latencies_us.reserve(static_cast<std::size_t>(o.seconds * 20000));
    t.measured_ids.reserve(static_cast<std::size_t>(o.seconds * 20000));
    auto start = clk::now();
    t.warm_end = start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.warmup));
    t.end = t.warm_end + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.seconds));
    // The wall clock at the window's start, to compare with completed_at written by the node.
    double window_start_wall = wall_now_s() + o.warmup;
    for (int i = 0; i < o.connections; ++i) std::make_shared<session>(ioc, endpoint, o, t)->start();
    // The node's CPU time over the measured window, read at its two ends.
    // And the whole machine's (node, PostgreSQL, Redis, this generator), and the database's writes.
    double cpu_start = -1, cpu_end = -1, machine_start = -1, machine_end = -1;
    write_counts writes_start, writes_end;
    std::unique_ptr<PGconn, decltype(&PQfinish)> stats(nullptr, &PQfinish);
    if (!o.database_url.empty()) stats.reset(PQconnectdb(o.database_url.c_str()));
    auto writes_now = [&] { return stats && PQstatus(stats.get()) == CONNECTION_OK ? database_writes(stats.get()) : write_counts{}; };
    asio::steady_timer at_start(ioc, t.warm_end), at_end(ioc, t.end);
    at_start.async_wait([&](beast::error_code) {
      if (o.server_pid) cpu_start = cpu_seconds(o.server_pid);
      machine_start = machine_busy_seconds();
      writes_start = writes_now();
    });
    at_end.async_wait([&](beast::error_code) {
      if (o.server_pid) cpu_end = cpu_seconds(o.server_pid);
      machine_end = machine_busy_seconds();
      writes_end = writes_now();
    });
    ioc.run();  // returns when every session has stopped after the window (the drain included)
    double rss_mb = o.server_pid ? memory_mb(o.server_pid, "VmRSS:") : -1;

    std::sort(t.latencies_us.begin(), t.latencies_us.end());
    std::uint64_t accepted = t.measured_ids.size();
    std::int64_t missing = -1;
    double completed = -1, completed_per_s = -1;
    std::size_t unfinished = 0;
    if (!o.database_url.empty()) {
      std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(o.database_url.c_str()), &PQfinish);
      if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(std::string("database: ") + PQerrorMessage(c.get()));
      // 202 -> submission (lead event) -> execution row: each link must hold.
      auto [no_event, measured] = executions_of(c.get(), t.measured_ids);
      std::vector<std::string> all = executions_of(c.get(), t.warmup_ids).second;
      auto others = executions_of(c.get(), t.drain_ids);
      std::uint64_t unlinked = no_event + (t.warmup_ids.size() - all.size()) + others.first;
      all.insert(all.end(), measured.begin(), measured.end());
      all.insert(all.end(), others.second.begin(), others.second.end());
      auto [lost, running] = check_rows(c.get(), all);
      missing = static_cast<std::int64_t>(lost + unlinked);
      unfinished = wait_until_ended(c.get(), std::move(running), o.completion_wait);
      auto done = completion_of(c.get(), measured);
      completed = static_cast<double>(done.completed);
      double span = done.last_completed_epoch_s - window_start_wall;
      completed_per_s = done.completed && span > 0 ? completed / span : 0;
    }
    double rss_peak_mb = o.server_pid ? memory_mb(o.server_pid, "VmHWM:") : -1;
    double cpu_us_per_accepted =
        cpu_start >= 0 && cpu_end >= cpu_start && accepted ? (cpu_end - cpu_start) * 1e6 / static_cast<double>(accepted) : -1;
    // Writes counted over the window belong to the window's accepted submissions, near enough.
    auto per_accepted = [&](double a, double b) { return a >= 0 && b >= a && accepted ? (b - a) / static_cast<double>(accepted) : -1; };
    double rows_per_accepted = per_accepted(writes_start.rows, writes_end.rows);
    double index_entries_per_accepted = per_accepted(writes_start.index_entries, writes_end.index_entries);
    double per_machine_cpu_s =
        machine_start >= 0 && machine_end > machine_start ? static_cast<double>(accepted) / (machine_end - machine_start) : -1;

    std::printf(R"({"bench":"http_form","connections":%d,"seconds":%.2f,"accepted":%llu,"accepted_per_s":%.0f,)"
                R"("completed":%s,"completed_per_s":%s,"p50_ms":%.2f,"p99_ms":%.2f,"p999_ms":%.2f,"errors":%llu,)"
                R"("shed_503":%llu,"node_cpu_us_per_accepted":%s,"accepted_per_machine_cpu_s":%s,)"
                R"("rows_written_per_accepted":%s,"index_entries_per_accepted":%s,)"
                R"("missing":%s,"rss_mb":%s,"rss_peak_mb":%s,"target_per_s":%.0f,"target_p99_ms":%.0f})" "\n",
                o.connections, o.seconds, static_cast<unsigned long long>(accepted), static_cast<double>(accepted) / o.seconds,
                number_or_null(completed, "%.0f").c_str(), number_or_null(completed_per_s, "%.0f").c_str(),
                percentile_ms(t.latencies_us, 0.50), percentile_ms(t.latencies_us, 0.99), percentile_ms(t.latencies_us, 0.999),
                static_cast<unsigned long long>(t.errors), static_cast<unsigned long long>(t.shed),
                number_or_null(cpu_us_per_accepted, "%.0f").c_str(), number_or_null(per_machine_cpu_s, "%.0f").c_str(),
                number_or_null(rows_per_accepted, "%.1f").c_str(), number_or_null(index_entries_per_accepted, "%.1f").c_str(),
                number_or_null(static_cast<double>(missing), "%.0f").c_str(),
                number_or_null(rss_mb, "%.1f").c_str(), number_or_null(rss_peak_mb, "%.1f").c_str(), k_target_per_s,
                k_target_p99_ms);
    std::fflush(stdout);
    // The line stays one line; what explains a bad figure goes to stderr.
    if (t.errors) {
      std::cerr << "http_bench: errors by kind:";
      for (const auto& [kind, n] : t.error_kinds) std::cerr << " [" << kind << "] " << n;
      std::cerr << "\nhttp_bench: first error: " << t.first_error << "\n";
    }
    if (unfinished && o.completion_wait > 0)
      std::cerr << "http_bench: " << unfinished << " executions had not ended after " << o.completion_wait << " s\n";
    if (completed >= 0 && completed < static_cast<double>(accepted) && o.completion_wait > 0)
      std::cerr << "http_bench: " << accepted - static_cast<std::uint64_t>(completed)
                << " of the window's executions did not complete (failed, cancelled or still running)\n";
    if (missing > 0) std::cerr << "http_bench: " << missing << " accepted submissions have no lead event or no execution row\n";
    if (accepted == 0) std::cerr << "http_bench: nothing was accepted in the window: no measurement\n";
    return missing > 0 || accepted == 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "http_bench: " << e.what() << "\n";
    return 1;
  }
}
