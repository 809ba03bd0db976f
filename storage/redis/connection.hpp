// One blocking connection to Redis: URL parsing, lazy (re)connection, commands and Lua scripts.
// Knows the Redis protocol through hiredis (kept out of this header); knows nothing of locks,
// queues or actors.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"

namespace flowtrack::redis {

/// Where a Redis server listens, as parsed from `redis://[[user]:password@]host[:port][/db]`.
struct endpoint {
  std::string host;
  std::uint16_t port = 6379;
  int db = 0;
  std::string user;      ///< ACL user for AUTH; empty means the default user
  std::string password;  ///< empty means no AUTH; never put into messages or logs

  /// `redis://host:port/db`, without user or password: safe for messages and logs.
  std::string redacted() const;
};

/// Parses `redis://[[user]:password@]host[:port][/db]` (host may be `[ipv6]`, user and password
/// may be percent-encoded). Port defaults to 6379, db to 0. Errors are `invalid` and say what
/// part of the URL is wrong; they never repeat the password.
result<endpoint> parse_url(std::string_view url);

/// A value Redis answered, copied out of hiredis so that no hiredis type reaches callers.
/// A top-level error reply is never a `reply`: `connection::command` turns it into an error.
/// `kind::error` appears only inside arrays (e.g. a failed command inside EXEC).
struct reply {
  enum class kind { nil, integer, string, status, array, error };

  kind type = kind::nil;
  std::int64_t integer = 0;   ///< for kind::integer
  std::string text;           ///< bytes for kind::string, kind::status and kind::error
  std::vector<reply> elements;  ///< for kind::array

  bool is_nil() const { return type == kind::nil; }
  bool is_integer() const { return type == kind::integer; }
  bool is_string() const { return type == kind::string; }
  bool is_status() const { return type == kind::status; }
  bool is_array() const { return type == kind::array; }
};

/// The lower-case name of a reply kind, for error messages.
std::string_view to_string(reply::kind k);

/// A Lua script and its SHA1, so that it is sent by hash (EVALSHA) and in full only when the
/// server does not know it yet.
class script {
 public:
  /// Keeps the source and computes its SHA1 (hex, lower case).
  explicit script(std::string source);

  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;
};

/// A blocking connection to one Redis server.
///
/// Connects lazily on the first command (AUTH and SELECT db included). When the connection
/// fails it is dropped and the next call connects again. A command is retried once, immediately,
/// only when it was certainly not sent: the connect failed, or the socket was found closed by the
/// server before writing. A failure after sending is returned, because the command may have run.
///
/// Errors: `unavailable` (cannot connect, connection lost), `timeout` (no reply within the
/// timeout; the connection is dropped since a late reply would desynchronise it), `internal`
/// (Redis answered with an error; its text is in the message, the command name in `subject`).
///
/// Not thread-safe: one thread at a time uses a connection. Callers that need concurrency open
/// more connections. Movable, so that it can be returned from `open`; services that hold a
/// `connection&` must not outlive or see it moved.
class connection {
 public:
  /// Parses `url` (see `parse_url`) without connecting. `timeout` bounds the connect and each
  /// command's wait for its reply.
  static result<connection> open(std::string_view url, std::chrono::milliseconds timeout);

  /// A connection to `where`, not yet connected.
  connection(endpoint where, std::chrono::milliseconds timeout);
  ~connection();
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Runs one command; arguments are binary-safe.
  result<reply> command(std::initializer_list<std::string_view> argv);
  /// Runs one command; arguments are binary-safe.
  result<reply> command(const std::vector<std::string>& argv);
  /// Runs one command; arguments are binary-safe.
  result<reply> command(std::span<const std::string_view> argv);

  /// PING; succeeds when the server answers PONG.
  result<void> ping();

  /// Runs `s` with EVALSHA, and with EVAL when the server answers NOSCRIPT (after a restart or
  /// SCRIPT FLUSH); EVAL also caches it for the next EVALSHA.
  result<reply> eval(const script& s, std::initializer_list<std::string_view> keys,
                     std::initializer_list<std::string_view> args);
  /// As above, for argument lists built at run time.
  result<reply> eval(const script& s, std::span<const std::string_view> keys,
                     std::span<const std::string_view> args);

  /// Whether a socket is open now (it may still turn out to be dead on the next command).
  bool connected() const;

  /// Closes the socket, if any; the next command connects again.
  void disconnect();

  /// The server this connection talks to.
  const endpoint& where() const { return where_; }

 private:
  struct state;

  result<void> connect();
  bool closed_by_peer() const;
  result<reply> round_trip(std::span<const std::string_view> argv);
  result<reply> execute(std::span<const std::string_view> argv);

  endpoint where_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<state> state_;
};

}  // namespace flowtrack::redis
