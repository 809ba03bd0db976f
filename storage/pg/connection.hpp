// One PostgreSQL connection driven through libpq's non-blocking API with deadlines: queries,
// prepared statements, pipelines, COPY and transactions. Used by one thread at a time (a pool
// worker); knows nothing of actors or of what the rows mean.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "runtime/error.hpp"

struct pg_conn;
struct pg_result;

namespace flowtrack::pg {

using clock = std::chrono::steady_clock;

/// Query parameters in text format; an empty optional is SQL NULL.
class params {
 public:
  params() = default;
  params(std::initializer_list<std::optional<std::string>> values) : values_(values) {}

  params& add(std::string v) { values_.emplace_back(std::move(v)); return *this; }
  params& add(std::string_view v) { values_.emplace_back(std::string(v)); return *this; }
  params& add(const char* v) { values_.emplace_back(std::string(v)); return *this; }
  params& add(std::int64_t v) { values_.emplace_back(std::to_string(v)); return *this; }
  params& add(int v) { return add(static_cast<std::int64_t>(v)); }
  params& add(bool v) { values_.emplace_back(v ? "t" : "f"); return *this; }
  params& add_null() { values_.emplace_back(std::nullopt); return *this; }
  params& add(std::optional<std::string> v) { values_.push_back(std::move(v)); return *this; }

  std::size_t size() const { return values_.size(); }
  const std::vector<std::optional<std::string>>& values() const { return values_; }

 private:
  std::vector<std::optional<std::string>> values_;
};

/// The rows of one statement's result; owns the libpq result.
class rows {
 public:
  rows() = default;
  explicit rows(pg_result* res);

  int size() const;
  int columns() const;
  bool empty() const { return size() == 0; }
  bool is_null(int row, int col) const;
  std::string_view get(int row, int col) const;
  std::optional<std::string> get_optional(int row, int col) const;
  std::int64_t get_int(int row, int col) const;
  bool get_bool(int row, int col) const;
  /// Rows affected by INSERT/UPDATE/DELETE/COPY (PQcmdTuples).
  std::uint64_t affected() const;
  /// The command tag, e.g. "COMMIT" or "ROLLBACK".
  std::string_view command_tag() const;
  int column_index(const char* name) const;

 private:
  struct deleter { void operator()(pg_result* r) const; };
  std::shared_ptr<pg_result> res_;
};

/// A named server-side prepared statement; prepared lazily once per connection.
struct statement {
  std::string name;
  std::string sql;
};

/// One command of a pipeline.
struct pipelined {
  const statement* stmt;
  params args;
};

/// Connection options.
struct connect_options {
  std::string uri;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds query_timeout{30000};
  std::string application_name = "flowtrackd";
};

/// A live connection. Every call waits on the socket with poll() until its deadline and
/// returns `timeout` (after cancelling the query) or `unavailable` instead of hanging.
class connection {
 public:
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Connects without blocking past the connect timeout.
  static result<std::unique_ptr<connection>> open(const connect_options& opts);

  /// Runs one statement with parameters (extended protocol, unnamed statement).
  result<rows> exec(std::string_view sql, const params& args = {});
  /// Runs a prepared statement, preparing it on this connection the first time.
  result<rows> exec(const statement& stmt, const params& args = {});
  /// Runs a script of several statements (simple protocol, no parameters), e.g. a migration.
  result<void> exec_script(std::string_view sql);
  /// Sends all commands in one pipeline and one round trip; without an explicit BEGIN they
  /// form one implicit transaction. The first failure is returned; later commands are aborted.
  result<std::vector<rows>> pipeline(const std::vector<pipelined>& commands);
  /// Streams `data` (COPY text format) into `copy_sql` ("COPY t (a, b) FROM STDIN").
  result<std::uint64_t> copy_in(std::string_view copy_sql, std::string_view data);

  result<void> begin();
  /// Commits; an aborted transaction (tag ROLLBACK) is reported as an error, not success.
  result<void> commit();
  /// Rolls back, ignoring errors (the connection may already be gone).
  void rollback();

  /// Whether the connection is usable; detects a server that closed the socket.
  bool healthy();
  /// Whether an earlier call found the connection broken.
  bool broken() const { return broken_; }
  void set_query_timeout(std::chrono::milliseconds t) { query_timeout_ = t; }
  /// Server process id, for diagnostics and tests.
  int backend_pid() const;

 private:
  explicit connection(pg_conn* conn, std::chrono::milliseconds query_timeout);
  result<void> ensure_prepared(const statement& stmt);
  result<void> flush(clock::time_point deadline);
  result<void> wait_readable(clock::time_point deadline);
  result<pg_result*> next_result(clock::time_point deadline);
  result<rows> finish_single(clock::time_point deadline);
  void cancel_and_drain();
  error fail(error e);

  pg_conn* conn_;
  std::chrono::milliseconds query_timeout_;
  std::unordered_set<std::string> prepared_;
  bool broken_ = false;
};

/// Runs `work` inside BEGIN ... COMMIT on `c`; rolls back when it returns an error.
template <class F>
auto transact(connection& c, F&& work) -> decltype(work(c)) {
  if (auto r = c.begin(); !r) return r.err();
  auto out = work(c);
  if (!out) {
    c.rollback();
    return out;
  }
  if (auto r = c.commit(); !r) return r.err();
  return out;
}

}  // namespace flowtrack::pg
