// The only file that talks hiredis: connects, reconnects, sends commands, copies replies out.
// Knows nothing of what the commands mean.
#include "storage/redis/connection.hpp"

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <sys/socket.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "runtime/text.hpp"

namespace flowtrack::redis {

namespace {

error invalid_url(std::string what) {
  return make_error(error_code::invalid, "redis URL " + std::move(what) +
                                             " (expected redis://[[user]:password@]host[:port][/db])",
                    "redis_url");
}

// Userinfo may hold any byte percent-encoded (RFC 3986), e.g. a password with '@' or ':'.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = runtime::hex_digit(in[i + 1]);
    int lo = runtime::hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The command name only: arguments may be keys or values that do not belong in messages.
std::string command_name(std::span<const std::string_view> argv) {
  if (argv.empty()) return {};
  std::string name(argv[0].substr(0, 32));
  for (char& c : name) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return name;
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

reply copy_reply(const redisReply& r) {
  reply out;
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      out.type = reply::kind::integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = reply::kind::string;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = reply::kind::status;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = reply::kind::error;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = reply::kind::array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy_reply(*r.element[i]));
      break;
    default:  // REDIS_REPLY_NIL
      break;
  }
  return out;
}

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

// A top-level error reply becomes an error value.
result<reply> error_reply_to_error(result<reply> r, const std::string& command) {
  if (r.ok() && r->type == reply::kind::error) {
    return make_error(error_code::internal, "redis answered " + command + " with: " + r->text, command);
  }
  return r;
}

}  // namespace

std::string endpoint::redacted() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "redis://" + h + ":" + std::to_string(port) + "/" + std::to_string(db);
}

result<endpoint> parse_url(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.starts_with("rediss://")) return invalid_url("uses TLS (rediss://), which is not supported");
  if (!url.starts_with(scheme)) return invalid_url("must start with redis://");
  std::string_view rest = url.substr(scheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return invalid_url("has a query or fragment, which is not supported");
  }

  endpoint ep;
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

  // The last '@' ends the userinfo, so that an unencoded '@' in a password still parses.
  std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return invalid_url("has user information without a ':' (write :password@ or user:password@)");
    }
    if (!percent_decode(userinfo.substr(0, colon), ep.user) ||
        !percent_decode(userinfo.substr(colon + 1), ep.password)) {
      return invalid_url("has a malformed %-escape in the user or password");
    }
    if (ep.password.empty()) return invalid_url("has user information with an empty password");
  }

  std::string_view port_text;
  bool has_port = false;
  if (authority.starts_with('[')) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid_url("has an IPv6 host without a closing ']'");
    ep.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return invalid_url("has characters after the IPv6 host");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    std::size_t colon = authority.find(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
      if (port_text.find(':') != std::string_view::npos) {
        return invalid_url("has more than one ':' in host:port (put IPv6 addresses in [brackets])");
      }
    }
  }
  if (ep.host.empty()) return invalid_url("has no host");

  if (has_port) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (!all_digits(port_text) || ec != std::errc{} || p != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return invalid_url("has port '" + std::string(port_text.substr(0, 16)) + "', expected a number 1-65535");
    }
    ep.port = static_cast<std::uint16_t>(port);
  }

  if (!path.empty()) {
    int db = 0;
    auto [p, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
    if (!all_digits(path) || ec != std::errc{} || p != path.data() + path.size()) {
      return invalid_url("has database '" + std::string(path.substr(0, 16)) +
                         "', expected a non-negative number");
    }
    ep.db = db;
  }
  return ep;
}

std::string_view to_string(reply::kind k) {
  switch (k) {
    case reply::kind::nil: return "nil";
    case reply::kind::integer: return "integer";
    case reply::kind::string: return "string";
    case reply::kind::status: return "status";
    case reply::kind::array: return "array";
    case reply::kind::error: return "error";
  }
  return "unknown";
}

script::script(std::string source) : source_(std::move(source)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // EVP_Digest with SHA1 cannot fail short of memory exhaustion; an empty sha1_ then makes
  // EVALSHA answer NOSCRIPT, and eval falls back to EVAL, so even that stays correct.
  if (EVP_Digest(source_.data(), source_.size(), digest, &size, EVP_sha1(), nullptr) == 1) {
    static constexpr char hex[] = "0123456789abcdef";
    sha1_.reserve(size * 2);
    for (unsigned int i = 0; i < size; ++i) {
      sha1_.push_back(hex[digest[i] >> 4]);
      sha1_.push_back(hex[digest[i] & 0x0f]);
    }
  }
}

struct connection::state {
  redisContext* context = nullptr;

  state() = default;
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  ~state() { drop(); }

  void drop() {
    if (context != nullptr) redisFree(context);
    context = nullptr;
  }
};

result<connection> connection::open(std::string_view url, std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) {
    return make_error(error_code::invalid, "redis timeout must be positive", "redis_timeout");
  }
  auto ep = parse_url(url);
  if (!ep) return ep.err();
  return connection(std::move(ep).value(), timeout);
}

connection::connection(endpoint where, std::chrono::milliseconds timeout)
    : where_(std::move(where)), timeout_(timeout), state_(std::make_unique<state>()) {}

connection::~connection() = default;
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;

bool connection::connected() const { return state_ != nullptr && state_->context != nullptr; }

void connection::disconnect() {
  if (state_) state_->drop();
}

result<void> connection::connect() {
  if (!state_) state_ = std::make_unique<state>();
  state_->drop();
  const timeval tv = to_timeval(timeout_);
  redisContext* c = redisConnectWithTimeout(where_.host.c_str(), where_.port, tv);
  if (c == nullptr) {
    return make_error(error_code::unavailable, "cannot connect to " + where_.redacted() + ": out of memory",
                      "redis");
  }
  if (c->err != 0) {
    std::string why = c->errstr;
    redisFree(c);
    return make_error(error_code::unavailable, "cannot connect to " + where_.redacted() + ": " + why, "redis");
  }
  if (redisSetTimeout(c, tv) != REDIS_OK) {
    std::string why = c->errstr;
    redisFree(c);
    return make_error(error_code::unavailable,
                      "cannot set the timeout on the connection to " + where_.redacted() + ": " + why, "redis");
  }
  // Keepalive finds a peer that vanished without closing (host down, cable cut) on idle sockets.
  redisEnableKeepAlive(c);
  state_->context = c;

  if (!where_.password.empty()) {
    std::string_view with_user[] = {"AUTH", where_.user, where_.password};
    std::string_view without_user[] = {"AUTH", where_.password};
    auto argv = where_.user.empty() ? std::span<const std::string_view>(without_user)
                                    : std::span<const std::string_view>(with_user);
    auto r = error_reply_to_error(round_trip(argv), "AUTH");
    if (!r) {
      state_->drop();
      return make_error(r.err().code, "cannot authenticate to " + where_.redacted() + ": " + r.err().message,
                        "redis");
    }
  }
  if (where_.db != 0) {
    std::string db = std::to_string(where_.db);
    std::string_view argv[] = {"SELECT", db};
    auto r = error_reply_to_error(round_trip(argv), "SELECT");
    if (!r) {
      state_->drop();
      return make_error(r.err().code, "cannot select database on " + where_.redacted() + ": " + r.err().message,
                        "redis");
    }
  }
  return {};
}

bool connection::closed_by_peer() const {
  char byte = 0;
  ssize_t n = ::recv(state_->context->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  // 0: the server closed (CLIENT KILL, restart, idle timeout). >0: bytes nobody asked for (an
  // error the server sent before closing): the stream cannot be trusted either way.
  return true;
}

result<reply> connection::round_trip(std::span<const std::string_view> argv) {
  std::vector<const char*> data;
  std::vector<std::size_t> sizes;
  data.reserve(argv.size());
  sizes.reserve(argv.size());
  for (auto a : argv) {
    data.push_back(a.data());
    sizes.push_back(a.size());
  }
  redisContext* c = state_->context;
  errno = 0;
  void* raw = redisCommandArgv(c, static_cast<int>(argv.size()), data.data(), sizes.data());
  const int saved_errno = errno;
  if (raw == nullptr) {
    const std::string name = command_name(argv);
    error e;
    if (c->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT)) {
      e = make_error(error_code::timeout,
                     "redis at " + where_.redacted() + " did not answer " + name + " within " +
                         std::to_string(timeout_.count()) + " ms",
                     name);
    } else if (c->err == REDIS_ERR_PROTOCOL || c->err == REDIS_ERR_OOM) {
      e = make_error(error_code::internal, "redis " + name + " failed: " + c->errstr, name);
    } else {
      e = make_error(error_code::unavailable,
                     "lost the connection to " + where_.redacted() + " during " + name + ": " + c->errstr, name);
    }
    // After a timeout or I/O error the stream is out of step: a late reply would be read as the
    // answer to the next command. Only a fresh connection is safe.
    state_->drop();
    return e;
  }
  std::unique_ptr<redisReply, reply_deleter> owned(static_cast<redisReply*>(raw));
  return copy_reply(*owned);
}

result<reply> connection::execute(std::span<const std::string_view> argv) {
  if (argv.empty()) return make_error(error_code::invalid, "empty redis command", "redis");
  if (!state_) state_ = std::make_unique<state>();
  error last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (state_->context == nullptr) {
      auto c = connect();
      if (!c) {
        last = c.err();
        continue;
      }
    } else if (closed_by_peer()) {
      state_->drop();
      last = make_error(error_code::unavailable, "the connection to " + where_.redacted() + " was closed by the server",
                        "redis");
      continue;
    }
    // Past this point the command may reach the server: no automatic retry.
    return round_trip(argv);
  }
  return last;
}

result<reply> connection::command(std::span<const std::string_view> argv) {
  return error_reply_to_error(execute(argv), command_name(argv));
}

result<reply> connection::command(std::initializer_list<std::string_view> argv) {
  return command(std::span<const std::string_view>(argv.begin(), argv.size()));
}

result<reply> connection::command(const std::vector<std::string>& argv) {
  std::vector<std::string_view> views(argv.begin(), argv.end());
  return command(std::span<const std::string_view>(views));
}

result<void> connection::ping() {
  auto r = command({"PING"});
  if (!r) return r.err();
  if (!r->is_status() || r->text != "PONG") {
    return make_error(error_code::internal,
                      "redis at " + where_.redacted() + " answered PING with a " + std::string(to_string(r->type)),
                      "PING");
  }
  return {};
}

result<reply> connection::eval(const script& s, std::initializer_list<std::string_view> keys,
                               std::initializer_list<std::string_view> args) {
  return eval(s, std::span<const std::string_view>(keys.begin(), keys.size()),
              std::span<const std::string_view>(args.begin(), args.size()));
}

result<reply> connection::eval(const script& s, std::span<const std::string_view> keys,
                               std::span<const std::string_view> args) {
  const std::string numkeys = std::to_string(keys.size());
  std::vector<std::string_view> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(s.sha1());
  argv.push_back(numkeys);
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = execute(argv);
  if (r.ok() && r->type == reply::kind::error && r->text.starts_with("NOSCRIPT")) {
    // The server lost its script cache (restart, SCRIPT FLUSH) or never saw this script.
    argv[0] = "EVAL";
    argv[1] = s.source();
    return error_reply_to_error(execute(argv), "EVAL");
  }
  return error_reply_to_error(std::move(r), "EVALSHA");
}

}  // namespace flowtrack::redis
