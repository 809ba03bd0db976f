// The management API under /api/v1: the request pipeline every route shares (CORS, routing with
// 404/405, Content-Type and size checks, strict JSON bodies, the Bearer check) and the places
// blocking work runs: PostgreSQL through the node's pg::pool, password hashing on a small pool of
// its own with a bounded queue (full: 503 with Retry-After). The HTTP server's threads only
// parse, route and answer. Routes are added by modules (accounts.hpp, later workspaces...):
//
//   api.add(verb::get, "/workspaces/{id}", {.signed_in = true}, [&api](api_call&& c, responder reply) {
//     api.db([id = c.params.at("id"), user = c.user->user_id](pg::connection& conn) { return storage::...(conn, ...); },
//            [reply](result<...> r) { if (!r) return reply(error_response(from_error(r.err()))); reply(json_reply(...)); });
//   });
//
// Bodies are read with body_reader (json_body.hpp: typed fields, unknown ones refused), answers
// are json_reply / error_response; routes() lists every route for the OpenAPI document's test.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "actors/ports.hpp"
#include "adapters/http/api/cors.hpp"
#include "adapters/http/api/json_body.hpp"
#include "adapters/http/api/router.hpp"
#include "adapters/http/api/tokens.hpp"
#include "adapters/http/server.hpp"
#include "crypto/jwt.hpp"
#include "crypto/password.hpp"
#include "crypto/secret_box.hpp"
#include "storage/pg/pool.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::http::api {

/// Sessions ended on this node (logout, logout-all, refresh reuse, password change or reset)
/// whose access tokens may not have expired yet: an access token is refused once its session
/// ended, or once every session of its user ended after it was issued. Entries last one access
/// token lifetime. Per node and in memory: another node learns nothing of it (the refresh token,
/// which is checked in PostgreSQL, is the durable part).
class session_denylist {
 public:
  /// Ends one session (a refresh-token family) as of now.
  void end_session(const std::string& session_id, std::int64_t now_ms);
  /// Ends every session of the user issued before now, except `keep` (the caller's own).
  void end_user_sessions(const std::string& user_id, std::optional<std::string> keep, std::int64_t now_ms);
  /// Whether the principal's access token belongs to an ended session.
  bool ended(const principal& p, std::int64_t now_ms) const;

 private:
  struct user_cut {
    std::int64_t at_ms = 0;
    std::optional<std::string> keep;
  };
  void prune(std::int64_t now_ms);
  mutable std::mutex mutex_;
  std::map<std::string, std::int64_t> sessions_;  // session id -> ended at
  std::map<std::string, user_cut> users_;         // user id -> every session before this ended
};

/// The path prefix of every API route.
inline constexpr std::string_view k_prefix = "/api/v1";

/// One request as a route handler sees it.
struct api_call {
  verb method = verb::get;
  std::string path;   ///< below the prefix, without the query ("/auth/login")
  std::string query;  ///< after '?', undecoded; never a credential
  /// The query decoded (form encoding), in order; a query that cannot be decoded is a 400
  /// naming `query` before the route runs.
  std::vector<std::pair<std::string, std::string>> query_params;
  path_params params;
  boost::json::object body;  ///< routes that take a body: the parsed object
  std::string client_ip, user_agent, request_id;
  std::optional<principal> user;  ///< signed-in routes: the caller
  std::optional<std::string> if_match;  ///< the If-Match header (conditional edits), when sent
  std::string raw_body;  ///< routes with route_options::raw_body_type: the body as sent
  /// Routes with route_options::stream_body: the body, read piece by piece as the route asks
  /// (raw_body stays empty).
  std::shared_ptr<http::body_stream> body_stream;
  /// Answers with a body sent as it is produced, in place of the responder (the API's CORS
  /// fields are added to its head). Outside a server it gathers the body and answers at finish.
  std::shared_ptr<http::response_stream> stream;

  /// The first value of a query parameter, or nullopt.
  std::optional<std::string> query_value(std::string_view name) const {
    for (const auto& [k, v] : query_params)
      if (k == name) return v;
    return std::nullopt;
  }
};

/// A route. It answers exactly once through the responder, from any thread.
using api_handler = std::function<void(api_call&&, responder)>;

/// What a route needs before it runs.
struct route_options {
  bool body = false;           ///< takes a JSON body (Content-Type: application/json, at most k_body_limit)
  bool signed_in = false;      ///< needs a Bearer token: api_call::user is set
  bool needs_jwt_key = false;  ///< answers 503 naming jwt_key when the node has none
  /// Set: the route takes a body of this media type (e.g. "text/csv") as bytes in
  /// api_call::raw_body, not parsed (another Content-Type: 415 naming it).
  std::string_view raw_body_type{};
  /// The largest body the route takes; 0: k_body_limit. The node's server_options::body_limit_for
  /// must ask body_limit_for() for this to take effect.
  std::size_t body_limit = 0;
  /// With raw_body_type: the body is not buffered; the admission step asks the server to stream
  /// it (admission::stream_body) and the route reads it from api_call::body_stream, so it holds
  /// what it consumes at a time, whatever body_limit is.
  bool stream_body = false;
};

/// What the API works with. Pointers are borrowed and outlive the api_service.
struct api_options {
  pg::pool* postgres = nullptr;
  actors::mailer_port* mailer = nullptr;       ///< account emails; null: none are sent (logged)
  const crypto::keyring* keys = nullptr;       ///< seals TOTP secrets; null or keyless: TOTP setup answers 503
  std::string jwt_key;                         ///< 32 raw bytes; empty: sign-in is off (503 naming jwt_key)
  std::optional<crypto::rsa_keyset> clerk_keys;  ///< Clerk session tokens accepted when set
  std::vector<std::string> cors_allowed_origins;
  std::string public_base_url;                 ///< links in account emails: <base>/verify-email?token=...
  crypto::argon2_params password_params;       ///< new hashes (and the dummy hash unknown users are checked against)
  int password_threads = 2;                    ///< hashing threads
  /// Hashing jobs that may wait; one more: 503. At ~3 hashes/s a longer queue only makes a sign-in
  /// wait many seconds before it fails anyway (32 gave a login p99 of 11 s in bench/run.sh --only api).
  std::size_t password_queue = 8;
  std::function<std::int64_t()> now_ms;        ///< the clock; unset: the system clock
};

/// The API: a router of modules' routes behind the shared pipeline.
class api_service {
 public:
  explicit api_service(api_options opts);
  ~api_service();
  api_service(const api_service&) = delete;
  api_service& operator=(const api_service&) = delete;

  /// At shutdown, after the HTTP server stopped and before the mailer goes: finishes the queued
  /// hashing jobs, then drops account emails still to be sent (jobs on the PostgreSQL pool may
  /// still finish later).
  void close();

  /// Sends an account email through the mailer (dropped, logged, after close() or without one).
  void mail(actors::email_message m);

  /// Adds a route below the prefix; false when the method and pattern are taken.
  bool add(verb method, std::string_view pattern, route_options options, api_handler handler);

  /// Serves a request whose path starts with k_prefix.
  void handle(request&& req, const request_info& info, responder reply);
  /// The admission step for API requests: a declared body over the route's limit (k_body_limit
  /// unless route_options::body_limit) is refused (413, naming `body`) before it is read; a
  /// route with route_options::stream_body has its body streamed.
  void admit(const request_head& head, const request_info& info, admission_callback done);
  /// The largest body a route of this path (with the prefix, without the query) takes when it is
  /// more than the server's default, else 0: for server_options::body_limit_for.
  std::size_t body_limit_for(std::string_view path) const;

  /// Runs `work(pg::connection&) -> result<T>` on the PostgreSQL pool and `then(result<T>)` on
  /// its thread; a full pool queue gives `then` an `unavailable` error at once.
  template <class Work, class Then>
  void db(Work work, Then then) {
    opts_.postgres->try_submit(std::move(work), std::move(then));
  }
  /// Like db(), for the next step of a request under way (a streamed export's next page, an
  /// import's next batch): queued whatever the pool's queue holds, so that a transfer already
  /// answered is not cut by a busy moment. Such a request has at most one job at a time.
  template <class Work, class Then>
  void db_next(Work work, Then then) {
    opts_.postgres->submit(std::move(work), std::move(then));
  }
  /// Runs `work` on a password-hashing thread (it may block there: Argon2, or waiting for
  /// PostgreSQL). False when the queue is full: answer 503 (busy()).
  [[nodiscard]] bool run_blocking(std::function<void()> work);
  /// The 503 for a full hashing queue.
  static api_error busy() { return api_error::unavailable("too many sign-ins at once; try again shortly", 2); }

  const api_options& options() const { return opts_; }
  session_denylist& sessions() { return sessions_; }
  std::int64_t now_ms() const;
  /// Every route's method and pattern (for documentation and its test).
  std::vector<std::pair<verb, std::string>> routes() const { return router_.routes(); }
  /// A route as its documentation needs it: method, pattern and what it takes.
  struct route_info {
    verb method = verb::get;
    std::string pattern;
    route_options options;
  };
  /// Every route with its options, in the order added (the OpenAPI document's test).
  std::vector<route_info> route_list() const;

 private:
  struct route {
    route_options options;
    api_handler handler;
  };
  void run(const route& r, api_call&& call, responder reply);
  static std::size_t limit_of(const route& r) { return r.options.body_limit > 0 ? r.options.body_limit : k_body_limit; }

  api_options opts_;
  cors_policy cors_;
  router<route> router_;
  session_denylist sessions_;
  std::unique_ptr<storage::worker_pool<int>> hashing_;
  std::mutex mail_mutex_;
  bool closed_ = false;  // under mail_mutex_
};

/// The metrics label of an API path ("api_auth", "api_me", "api").
std::string route_label(std::string_view path);

}  // namespace flowtrack::http::api
