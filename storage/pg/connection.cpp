// Non-blocking libpq driving: every wait is a poll() with a deadline.
#include "storage/pg/connection.hpp"

#include <poll.h>

#include <charconv>
#include <cstring>
#include <future>
#include <system_error>
#include <thread>

#include <libpq-fe.h>

#include "storage/pg/error_map.hpp"

namespace flowtrack::pg {
namespace {

// How long a pool worker waits for a cancel request to be delivered.
constexpr auto k_cancel_wait = std::chrono::milliseconds(1000);

// PQcancel (libpq 15) opens a connection of its own with a blocking connect and no timeout, so
// it runs on a short-lived thread and the caller waits at most `wait`: a cancel stuck on an
// unreachable server leaves only that thread behind, never the pool worker. False when the
// cancel was not delivered in time.
bool send_cancel(PGconn* conn, std::chrono::milliseconds wait) {
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) return false;
  auto delivered = std::make_shared<std::promise<bool>>();
  auto answer = delivered->get_future();
  try {
    std::thread([cancel, delivered] {
      char buf[256];
      bool ok = PQcancel(cancel, buf, sizeof buf) == 1;
      PQfreeCancel(cancel);
      delivered->set_value(ok);
    }).detach();
  } catch (const std::system_error&) {
    PQfreeCancel(cancel);
    return false;
  }
  return answer.wait_for(wait) == std::future_status::ready && answer.get();
}

int remaining_ms(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits for `events` on the socket until the deadline; false on timeout.
bool poll_socket(int fd, short events, clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;  // let libpq report the socket error
  }
}

struct param_arrays {
  std::vector<const char*> values;
  std::vector<int> lengths;
  explicit param_arrays(const params& p) {
    values.reserve(p.size());
    lengths.reserve(p.size());
    for (const auto& v : p.values()) {
      values.push_back(v ? v->c_str() : nullptr);
      lengths.push_back(v ? static_cast<int>(v->size()) : 0);
    }
  }
};

}  // namespace

// --- rows ---------------------------------------------------------------------------------

void rows::deleter::operator()(pg_result* r) const { PQclear(r); }
rows::rows(pg_result* res) : res_(res, deleter{}) {}
int rows::size() const { return res_ ? PQntuples(res_.get()) : 0; }
int rows::columns() const { return res_ ? PQnfields(res_.get()) : 0; }
bool rows::is_null(int row, int col) const { return PQgetisnull(res_.get(), row, col) == 1; }
std::string_view rows::get(int row, int col) const {
  return {PQgetvalue(res_.get(), row, col), static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
}
std::optional<std::string> rows::get_optional(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return std::string(get(row, col));
}
std::int64_t rows::get_int(int row, int col) const {
  auto s = get(row, col);
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}
bool rows::get_bool(int row, int col) const { return get(row, col) == "t"; }
std::uint64_t rows::affected() const {
  if (!res_) return 0;
  const char* t = PQcmdTuples(res_.get());
  std::uint64_t v = 0;
  std::from_chars(t, t + std::strlen(t), v);
  return v;
}
std::string_view rows::command_tag() const { return res_ ? PQcmdStatus(res_.get()) : ""; }
int rows::column_index(const char* name) const { return PQfnumber(res_.get(), name); }

// --- connection ---------------------------------------------------------------------------

connection::connection(pg_conn* conn, std::chrono::milliseconds query_timeout)
    : conn_(conn), query_timeout_(query_timeout) {}

connection::~connection() { PQfinish(conn_); }

result<std::unique_ptr<connection>> connection::open(const connect_options& opts) {
  const char* keys[] = {"dbname", "application_name", "connect_timeout", nullptr};
  std::string timeout_s = std::to_string(std::max<long>(1, (opts.connect_timeout.count() + 999) / 1000));
  const char* values[] = {opts.uri.c_str(), opts.application_name.c_str(), timeout_s.c_str(), nullptr};
  PGconn* conn = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return make_error(error_code::unavailable, "PostgreSQL: out of memory while connecting", "postgresql");
  if (PQstatus(conn) == CONNECTION_BAD) {
    error e = connection_error(conn, "connect");
    PQfinish(conn);
    return e;
  }
  auto deadline = clock::now() + opts.connect_timeout;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) {
      error e = connection_error(conn, "connect");
      PQfinish(conn);
      return e;
    }
    short events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!poll_socket(PQsocket(conn), events, deadline)) {
      PQfinish(conn);
      return make_error(error_code::unavailable, "PostgreSQL: connect timed out", "postgresql");
    }
    st = PQconnectPoll(conn);
  }
  if (PQsetnonblocking(conn, 1) != 0) {
    error e = connection_error(conn, "connect");
    PQfinish(conn);
    return e;
  }
  return std::unique_ptr<connection>(new connection(conn, opts.query_timeout));
}

int connection::backend_pid() const { return PQbackendPID(conn_); }

error connection::fail(error e) {
  if (e.code == error_code::unavailable || PQstatus(conn_) != CONNECTION_OK) broken_ = true;
  return e;
}

bool connection::healthy() {
  if (broken_ || PQstatus(conn_) != CONNECTION_OK) return false;
  // A closed socket shows up as readable; consuming input then reports the failure.
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) {
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
      broken_ = true;
      return false;
    }
    while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
  }
  return true;
}

result<void> connection::flush(clock::time_point deadline) {
  for (;;) {
    int r = PQflush(conn_);
    if (r == 0) return {};
    if (r < 0) return fail(connection_error(conn_, "send"));
    if (!poll_socket(PQsocket(conn_), POLLOUT | POLLIN, deadline)) {
      cancel_and_drain();
      return fail(make_error(error_code::timeout, "PostgreSQL: sending the query timed out", "postgresql"));
    }
    if (PQconsumeInput(conn_) == 0) return fail(connection_error(conn_, "send"));
  }
}

result<void> connection::wait_readable(clock::time_point deadline) {
  while (PQisBusy(conn_)) {
    if (!poll_socket(PQsocket(conn_), POLLIN, deadline)) {
      cancel_and_drain();
      return fail(make_error(error_code::timeout,
                             "PostgreSQL: no answer within " + std::to_string(query_timeout_.count()) + " ms",
                             "postgresql"));
    }
    if (PQconsumeInput(conn_) == 0) return fail(connection_error(conn_, "query"));
  }
  return {};
}

result<pg_result*> connection::next_result(clock::time_point deadline) {
  if (auto r = wait_readable(deadline); !r) return r.err();
  return PQgetResult(conn_);
}

void connection::cancel_and_drain() {
  // The cancel request travels on its own short-lived connection (with a deadline); then we wait
  // briefly for the server to end the query. If either fails, the connection is dropped.
  if (!send_cancel(conn_, k_cancel_wait)) {
    broken_ = true;
    return;
  }
  auto deadline = clock::now() + std::chrono::seconds(2);
  for (;;) {
    while (PQisBusy(conn_)) {
      if (!poll_socket(PQsocket(conn_), POLLIN, deadline) || PQconsumeInput(conn_) == 0) {
        broken_ = true;
        return;
      }
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) {
      if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) broken_ = true;  // simpler to reconnect
      return;
    }
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st == PGRES_COPY_IN) PQputCopyEnd(conn_, "cancelled");
    if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) { broken_ = true; return; }
  }
}

// Reads the results of one sent command: keeps the last, returns the first error.
result<rows> connection::finish_single(clock::time_point deadline) {
  std::optional<error> first_error;
  rows last;
  for (;;) {
    auto r = next_result(deadline);
    if (!r) return r.err();
    PGresult* res = *r;
    if (res == nullptr) break;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
      last = rows(res);
    } else {
      if (!first_error) first_error = error_from_result(res, conn_);
      PQclear(res);
      if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
        cancel_and_drain();
        break;
      }
    }
  }
  if (first_error) return fail(*first_error);
  return last;
}

result<rows> connection::exec(std::string_view sql, const params& args) {
  if (broken_) return connection_error(conn_, "query");
  auto deadline = clock::now() + query_timeout_;
  std::string text(sql);
  param_arrays p(args);
  if (PQsendQueryParams(conn_, text.c_str(), static_cast<int>(args.size()), nullptr, p.values.data(),
                        p.lengths.data(), nullptr, 0) == 0)
    return fail(connection_error(conn_, "send"));
  if (auto r = flush(deadline); !r) return r.err();
  return finish_single(deadline);
}

result<void> connection::ensure_prepared(const statement& stmt) {
  if (prepared_.count(stmt.name)) return {};
  auto deadline = clock::now() + query_timeout_;
  if (PQsendPrepare(conn_, stmt.name.c_str(), stmt.sql.c_str(), 0, nullptr) == 0)
    return fail(connection_error(conn_, "prepare"));
  if (auto r = flush(deadline); !r) return r.err();
  auto r = finish_single(deadline);
  if (!r) return r.err();
  prepared_.insert(stmt.name);
  return {};
}

result<rows> connection::exec(const statement& stmt, const params& args) {
  if (broken_) return connection_error(conn_, "query");
  if (auto r = ensure_prepared(stmt); !r) return r.err();
  auto deadline = clock::now() + query_timeout_;
  param_arrays p(args);
  if (PQsendQueryPrepared(conn_, stmt.name.c_str(), static_cast<int>(args.size()), p.values.data(),
                          p.lengths.data(), nullptr, 0) == 0)
    return fail(connection_error(conn_, "send"));
  if (auto r = flush(deadline); !r) return r.err();
  return finish_single(deadline);
}

result<void> connection::exec_script(std::string_view sql) {
  if (broken_) return connection_error(conn_, "query");
  auto deadline = clock::now() + query_timeout_;
  std::string text(sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) return fail(connection_error(conn_, "send"));
  if (auto r = flush(deadline); !r) return r.err();
  auto r = finish_single(deadline);
  if (!r) return r.err();
  return {};
}

result<std::vector<rows>> connection::pipeline(const std::vector<pipelined>& commands) {
  if (broken_) return connection_error(conn_, "query");
  for (const auto& c : commands)
    if (auto r = ensure_prepared(*c.stmt); !r) return r.err();
  auto deadline = clock::now() + query_timeout_;
  if (PQenterPipelineMode(conn_) == 0) return fail(connection_error(conn_, "pipeline"));
  for (const auto& c : commands) {
    param_arrays p(c.args);
    if (PQsendQueryPrepared(conn_, c.stmt->name.c_str(), static_cast<int>(c.args.size()), p.values.data(),
                            p.lengths.data(), nullptr, 0) == 0)
      return fail(connection_error(conn_, "pipeline send"));
  }
  if (PQpipelineSync(conn_) == 0) return fail(connection_error(conn_, "pipeline sync"));
  if (auto r = flush(deadline); !r) return r.err();

  std::vector<rows> out;
  out.reserve(commands.size());
  std::optional<error> first_error;
  // Each command yields its result then a NULL; the sync yields PGRES_PIPELINE_SYNC.
  for (;;) {
    auto r = next_result(deadline);
    if (!r) return r.err();
    PGresult* res = *r;
    if (res == nullptr) continue;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(res);
      break;
    }
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      out.emplace_back(res);
    } else {
      if (st != PGRES_PIPELINE_ABORTED && !first_error) first_error = error_from_result(res, conn_);
      PQclear(res);
    }
  }
  if (PQexitPipelineMode(conn_) == 0) broken_ = true;
  if (first_error) return fail(*first_error);
  return out;
}

result<std::uint64_t> connection::copy_in(std::string_view copy_sql, std::string_view data) {
  if (broken_) return connection_error(conn_, "copy");
  auto deadline = clock::now() + query_timeout_;
  std::string text(copy_sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) return fail(connection_error(conn_, "copy"));
  if (auto r = flush(deadline); !r) return r.err();
  auto first = next_result(deadline);
  if (!first) return first.err();
  PGresult* res = *first;
  if (res == nullptr || PQresultStatus(res) != PGRES_COPY_IN) {
    error e = error_from_result(res, conn_);
    if (res) PQclear(res);
    (void)finish_single(deadline);
    return fail(e);
  }
  PQclear(res);
  constexpr std::size_t chunk = 256 * 1024;
  for (std::size_t off = 0; off < data.size();) {
    std::size_t n = std::min(chunk, data.size() - off);
    int r = PQputCopyData(conn_, data.data() + off, static_cast<int>(n));
    if (r < 0) return fail(connection_error(conn_, "copy"));
    if (r == 0) {  // would block: wait for room
      if (!poll_socket(PQsocket(conn_), POLLOUT, deadline)) {
        cancel_and_drain();
        return fail(make_error(error_code::timeout, "PostgreSQL: COPY timed out", "postgresql"));
      }
      continue;
    }
    off += n;
    if (auto f = flush(deadline); !f) return f.err();
  }
  for (;;) {
    int r = PQputCopyEnd(conn_, nullptr);
    if (r == 1) break;
    if (r < 0) return fail(connection_error(conn_, "copy"));
    if (!poll_socket(PQsocket(conn_), POLLOUT, deadline)) {
      cancel_and_drain();
      return fail(make_error(error_code::timeout, "PostgreSQL: COPY timed out", "postgresql"));
    }
  }
  if (auto f = flush(deadline); !f) return f.err();
  auto done = finish_single(deadline);
  if (!done) return done.err();
  return done->affected();
}

result<void> connection::begin() {
  auto r = exec(std::string_view("BEGIN"));
  if (!r) return r.err();
  return {};
}

result<void> connection::commit() {
  auto r = exec(std::string_view("COMMIT"));
  if (!r) return r.err();
  if (r->command_tag() != "COMMIT")
    return fail(make_error(error_code::internal, "PostgreSQL rolled the transaction back instead of committing it",
                           "transaction"));
  return {};
}

void connection::rollback() {
  if (!broken_) (void)exec(std::string_view("ROLLBACK"));
}

}  // namespace flowtrack::pg
