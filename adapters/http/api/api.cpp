// The API pipeline: CORS, routing, body rules, the Bearer check, then the route.
#include "adapters/http/api/api.hpp"

#include <charconv>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "adapters/http/urlencoded.hpp"
#include "storage/accounts.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

// A hashing thread runs at a lower priority (nice 10; the threads libargon2 starts for a hash's
// lanes inherit it), so a burst of logins takes idle CPU and leaves ingress its share: beside 64
// login connections at nice 0, paced form ingress kept its rate but its p99 rose from 53 ms to
// ~1 s on this 2-core machine (bench/run.sh --only api).
int lower_hashing_priority() {
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10) != 0)
    spdlog::warn("api: the password hashing thread keeps its priority (setpriority failed)");
  return 0;
}

std::string_view strip_prefix(std::string_view path) {
  path.remove_prefix(std::min(path.size(), k_prefix.size()));
  return path;
}

// A streamed answer with the CORS fields its origin may have, as the responder adds them.
class cors_stream final : public response_stream {
 public:
  cors_stream(std::shared_ptr<response_stream> inner, const cors_policy& cors, std::string origin)
      : inner_(std::move(inner)), cors_(cors), origin_(std::move(origin)) {}
  void start(response head, next then) override {
    cors_.decorate(head, origin_);
    inner_->start(std::move(head), std::move(then));
  }
  void write(std::string chunk, next then) override { inner_->write(std::move(chunk), std::move(then)); }
  void finish(trailer_fields trailers) override { inner_->finish(std::move(trailers)); }
  void abort() override { inner_->abort(); }

 private:
  std::shared_ptr<response_stream> inner_;
  const cors_policy& cors_;
  std::string origin_;
};

// Whether the query carries a credential: tokens belong in Authorization only (query strings
// end up in logs, proxies and the Referer).
bool credential_in_query(std::string_view query) {
  std::size_t i = 0;
  while (i <= query.size()) {
    auto amp = query.find('&', i);
    auto item = query.substr(i, amp == std::string_view::npos ? std::string_view::npos : amp - i);
    auto name = item.substr(0, item.find('='));
    if (name == "access_token" || name == "accessToken" || name == "refresh_token" || name == "refreshToken") return true;
    if (amp == std::string_view::npos) break;
    i = amp + 1;
  }
  return false;
}

}  // namespace

void session_denylist::prune(std::int64_t now_ms) {
  // After one access-token lifetime every token an entry refuses has expired anyway.
  auto old = now_ms - k_access_ttl_s * 1000 - 60'000;
  std::erase_if(sessions_, [old](const auto& kv) { return kv.second < old; });
  std::erase_if(users_, [old](const auto& kv) { return kv.second.at_ms < old; });
}

void session_denylist::end_session(const std::string& session_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  prune(now_ms);
  sessions_[session_id] = now_ms;
}

void session_denylist::end_user_sessions(const std::string& user_id, std::optional<std::string> keep, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  prune(now_ms);
  users_[user_id] = user_cut{now_ms, std::move(keep)};
}

bool session_denylist::ended(const principal& p, std::int64_t) const {
  if (p.provider != "local") return false;
  std::lock_guard lock(mutex_);
  if (sessions_.contains(p.session_id)) return true;
  auto u = users_.find(p.user_id);
  return u != users_.end() && p.issued_at_ms <= u->second.at_ms && u->second.keep != p.session_id;
}

std::string route_label(std::string_view path) {
  auto rest = strip_prefix(path);
  if (rest.starts_with("/auth/")) return "api_auth";
  if (rest == "/me") return "api_me";
  return "api";
}

api_service::api_service(api_options opts)
    : opts_(std::move(opts)),
      cors_(opts_.cors_allowed_origins),
      hashing_(std::make_unique<storage::worker_pool<int>>(opts_.password_threads, lower_hashing_priority, opts_.password_queue)) {}

api_service::~api_service() { close(); }

void api_service::close() {
  hashing_->close();
  std::lock_guard lock(mail_mutex_);
  closed_ = true;
}

void api_service::mail(actors::email_message m) {
  std::lock_guard lock(mail_mutex_);
  if (closed_ || opts_.mailer == nullptr) {
    spdlog::warn("api: an account email ({}) was not sent: {}", m.subject, closed_ ? "the node is stopping" : "no mailer");
    return;
  }
  std::string what = m.subject;
  opts_.mailer->send(std::move(m), [what = std::move(what)](result<std::string> sent) {
    if (!sent) spdlog::warn("api: an account email ({}) was not sent: {}", what, sent.err().message);
  });
}

std::int64_t api_service::now_ms() const {
  if (opts_.now_ms) return opts_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool api_service::add(verb method, std::string_view pattern, route_options options, api_handler handler) {
  return router_.add(method, pattern, route{options, std::move(handler)});
}

std::vector<api_service::route_info> api_service::route_list() const {
  std::vector<route_info> out;
  for (auto& [method, pattern] : router_.routes()) {
    // A pattern looked up as a path finds its route: its `{name}` segments match as parameters
    // and no literal segment is spelt `{...}` (of two patterns differing only in parameter names
    // the router serves the first one, and so does this).
    auto found = router_.find(method, pattern);
    out.push_back(route_info{method, pattern, found.target ? found.target->options : route_options{}});
  }
  return out;
}

bool api_service::run_blocking(std::function<void()> work) {
  return hashing_->try_submit([work = std::move(work)](int&) {
    try {
      work();
    } catch (const std::exception& e) {
      spdlog::error("api: a blocking job failed: {}", e.what());
    }
  });
}

std::size_t api_service::body_limit_for(std::string_view path) const {
  if (!path.starts_with(k_prefix) || path.size() <= k_prefix.size() || path[k_prefix.size()] != '/') return 0;  // not an API path
  std::size_t most = 0;
  for (verb m : {verb::post, verb::put, verb::patch})
    if (auto found = router_.find(m, strip_prefix(path)); found.target && found.target->options.body_limit > k_body_limit)
      most = std::max(most, found.target->options.body_limit);
  return most;
}

void api_service::admit(const request_head& head, const request_info&, admission_callback done) {
  auto length = head[bhttp::field::content_length];
  std::uint64_t n = 0;
  std::size_t limit = k_body_limit;
  bool stream = false;
  {
    std::string_view target = head.target();
    if (auto found = router_.find(head.method(), strip_prefix(target.substr(0, target.find('?')))); found.target) {
      limit = limit_of(*found.target);
      stream = found.target->options.stream_body && !found.target->options.raw_body_type.empty();
    }
  }
  if (!length.empty()) {
    auto [p, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if (ec == std::errc{} && p == length.data() + length.size() && n > limit) {
      auto res = error_response({bhttp::status::payload_too_large, "too_large",
                                 "the body is larger than " + std::to_string(limit) + " bytes", "body", 0});
      cors_.decorate(res, head[bhttp::field::origin]);
      return done(admission::refuse(std::move(res)));
    }
  }
  done(stream ? admission::admit_streamed() : admission::admit());
}

void api_service::handle(request&& req, const request_info& info, responder reply) {
  std::string_view target = req.target();
  auto q = target.find('?');
  std::string_view path = strip_prefix(target.substr(0, q));
  std::string query(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1));
  std::string origin(req[bhttp::field::origin]);
  // Every answer carries the CORS headers its origin may have, and Vary: Origin.
  responder answer = [this, origin, reply = std::move(reply)](response&& res) mutable {
    cors_.decorate(res, origin);
    reply(std::move(res));
  };

  auto found = router_.find(req.method(), path);
  if (req.method() == verb::options && !req[bhttp::field::access_control_request_method].empty()) {
    if (!found.target && found.allow.empty())
      return answer(error_response({bhttp::status::not_found, "not_found", "no API route for this path", {}, 0}));
    return answer(cors_.preflight(origin, found.allow));
  }
  if (!found.target) {
    if (found.allow.empty()) return answer(error_response({bhttp::status::not_found, "not_found", "no API route for this path", {}, 0}));
    auto res = error_response({bhttp::status::method_not_allowed, "method_not_allowed", "this path takes " + found.allow, {}, 0});
    res.set(bhttp::field::allow, found.allow);
    return answer(std::move(res));
  }
  const route& r = *found.target;
  if (credential_in_query(query))
    return answer(error_response({bhttp::status::bad_request, "credential_in_query",
                                  "send tokens in the Authorization header or the body, never in the URL", "query", 0}));

  api_call call;
  call.method = req.method();
  call.path = std::string(path);
  call.query = std::move(query);
  call.params = std::move(found.params);
  if (!call.query.empty()) {
    auto decoded = parse_urlencoded(call.query);
    if (!decoded)
      return answer(error_response({bhttp::status::bad_request, "invalid_query", "the query string cannot be read: " + decoded.err().message, "query", 0}));
    call.query_params = std::move(*decoded);
  }
  call.client_ip = info.client_ip;
  call.request_id = info.request_id;
  call.user_agent = std::string(req[bhttp::field::user_agent].substr(0, 512));
  if (auto m = req.find(bhttp::field::if_match); m != req.end()) call.if_match = std::string(m->value().substr(0, 256));

  if (r.options.body) {
    if (!media_type_is(req[bhttp::field::content_type], "application/json"))
      return answer(error_response({bhttp::status::unsupported_media_type, "unsupported_media_type",
                                    "send the body as application/json", "Content-Type", 0}));
    if (req.body().size() > k_body_limit)
      return answer(error_response({bhttp::status::payload_too_large, "too_large",
                                    "the body is larger than " + std::to_string(k_body_limit) + " bytes", "body", 0}));
    auto parsed = parse_body(req.body());
    if (auto* e = std::get_if<api_error>(&parsed)) return answer(error_response(*e));
    call.body = std::move(std::get<json::object>(parsed));
  } else if (!r.options.raw_body_type.empty()) {
    if (!media_type_is(req[bhttp::field::content_type], r.options.raw_body_type))
      return answer(error_response({bhttp::status::unsupported_media_type, "unsupported_media_type",
                                    "send the body as " + std::string(r.options.raw_body_type), "Content-Type", 0}));
    if (req.body().size() > limit_of(r))
      return answer(error_response({bhttp::status::payload_too_large, "too_large",
                                    "the body is larger than " + std::to_string(limit_of(r)) + " bytes", "body", 0}));
    if (!r.options.stream_body) call.raw_body = std::move(req.body());
    // Streamed by the server when its admission step ran (api_service::admit); otherwise (a
    // handler called directly) the body in memory is handed out the same way.
    else call.body_stream = info.body ? info.body : buffered_body_stream(std::move(req.body()));
  }
  call.stream = info.stream ? std::shared_ptr<response_stream>(std::make_shared<cors_stream>(info.stream, cors_, origin))
                            : buffered_response_stream(answer);
  if (r.options.needs_jwt_key && opts_.jwt_key.empty())
    return answer(error_response(
        {bhttp::status::service_unavailable, "not_configured",
         "sign-in is not configured on this node: set jwt_key (FLOWTRACK_JWT_KEY, 64 hex characters)", "jwt_key", 60}));
  if (!r.options.signed_in) return run(r, std::move(call), std::move(answer));

  // Cookies are never read: a token is taken from Authorization only.
  auto checked = check_bearer(req[bhttp::field::authorization], opts_.jwt_key, opts_.clerk_keys, now_ms() / 1000);
  if (auto* e = std::get_if<api_error>(&checked)) return answer(error_response(*e));
  if (auto* p = std::get_if<principal>(&checked)) {
    if (sessions_.ended(*p, now_ms()))
      return answer(error_response(api_error::unauthorized("session_ended", "this session was ended (logout or a password change); sign in again")));
    call.user = std::move(*p);
    return run(r, std::move(call), std::move(answer));
  }
  // A Clerk user: mapped (and made on first sight) before the route runs.
  auto id = std::get<clerk_identity>(std::move(checked));
  db([id](pg::connection& c) { return storage::find_or_create_clerk_user(c, id.clerk_user_id, id.email, id.first_name, id.last_name); },
     [this, &r, call = std::move(call), answer](result<storage::user_row> u) mutable {
       if (!u) {
         if (u.err().code == error_code::conflict)
           return answer(error_response(api_error::unauthorized("invalid_token", "this Clerk account cannot be linked: " + u.err().message)));
         return answer(error_response(from_error(u.err())));
       }
       if (!u->is_active) return answer(error_response(api_error::unauthorized("invalid_token", "this account is disabled")));
       call.user = principal{u->id, "", "clerk"};
       run(r, std::move(call), std::move(answer));
     });
}

void api_service::run(const route& r, api_call&& call, responder reply) {
  std::string path = call.path;
  try {
    r.handler(std::move(call), reply);
  } catch (const std::exception& e) {
    spdlog::error("api: {} failed: {}", path, e.what());
    reply(error_response({bhttp::status::internal_server_error, "internal", "internal error; it was logged", {}, 0}));
  }
}

}  // namespace flowtrack::http::api
