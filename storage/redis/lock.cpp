// Lock scripts and their results. Knows Redis keys and Lua; nothing of what is locked.
#include "storage/redis/lock.hpp"

#include <limits>

#include "storage/redis/codec.hpp"
#include "storage/redis/connection.hpp"

namespace flowtrack::redis {

namespace {

// KEYS[1] lock, KEYS[2] fencing counter; ARGV[1] owner, ARGV[2] ttl ms.
// Returns the fencing token, or nil when the lock is held. The counter moves only on success.
const script& acquire_script() {
  static const script s{R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], cmsgpack.pack({ARGV[1], token}), 'NX', 'PX', ARGV[2])
return token
)lua"};
  return s;
}

// KEYS[1] lock; ARGV[1] owner, ARGV[2] fencing token, ARGV[3] ttl ms (renew only).
// Returns 1 done, 0 not the holder (nothing changed), -1 the stored value is not a lock.
constexpr std::string_view k_check_holder = R"lua(
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, v = pcall(cmsgpack.unpack, raw)
if not ok or type(v) ~= 'table' or type(v[1]) ~= 'string' or type(v[2]) ~= 'number' then return -1 end
if v[1] ~= ARGV[1] or v[2] ~= tonumber(ARGV[2]) then return 0 end
)lua";

const script& renew_script() {
  static const script s{std::string(k_check_holder) + "redis.call('PEXPIRE', KEYS[1], ARGV[3])\nreturn 1\n"};
  return s;
}

const script& release_script() {
  static const script s{std::string(k_check_holder) + "redis.call('DEL', KEYS[1])\nreturn 1\n"};
  return s;
}

// KEYS[1] lock. Returns nil when free, else {value, pttl} read atomically.
const script& holder_script() {
  static const script s{R"lua(
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
return {raw, redis.call('PTTL', KEYS[1])}
)lua"};
  return s;
}

error with_context(std::string_view name, error e) {
  e.message = "lock '" + std::string(name) + "': " + e.message;
  return e;
}

error unexpected(std::string_view name, std::string_view op, const reply& r) {
  return make_error(error_code::internal,
                    "lock '" + std::string(name) + "': unexpected " + std::string(to_string(r.type)) + " reply to " +
                        std::string(op),
                    std::string(op));
}

result<void> check_name(std::string_view name) {
  if (name.empty()) return make_error(error_code::invalid, "a lock name must not be empty", "lock_name");
  return {};
}

result<void> check_ttl(std::string_view name, std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) {
    return make_error(error_code::invalid, "lock '" + std::string(name) + "': ttl must be positive", "ttl");
  }
  return {};
}

// Reads the 1 / 0 / -1 answer of renew and release.
result<bool> holder_answer(std::string_view name, std::string_view op, result<reply> r) {
  if (!r) return with_context(name, std::move(r.err()));
  if (!r->is_integer()) return unexpected(name, op, *r);
  if (r->integer == -1) {
    return make_error(error_code::invalid,
                      "lock '" + std::string(name) + "': stored value is not valid msgpack [owner, fencing_token]; " +
                          "delete the key or wait for it to expire",
                      "lock value");
  }
  return r->integer == 1;
}

}  // namespace

lock_service::lock_service(connection& conn, std::string prefix) : conn_(conn), prefix_(std::move(prefix)) {}

result<std::optional<lease>> lock_service::acquire(std::string_view name, std::string_view owner,
                                                   std::chrono::milliseconds ttl) {
  if (auto c = check_name(name); !c) return c.err();
  if (owner.empty()) return make_error(error_code::invalid, "lock '" + std::string(name) + "': owner must not be empty", "owner");
  if (auto c = check_ttl(name, ttl); !c) return c.err();
  const std::string key = key_of(name);
  const std::string ttl_ms = std::to_string(ttl.count());
  auto r = conn_.eval(acquire_script(), {key, prefix_}, {owner, ttl_ms});
  if (!r) return with_context(name, std::move(r.err()));
  if (r->is_nil()) return std::optional<lease>{};
  if (!r->is_integer() || r->integer <= 0) return unexpected(name, "acquire", *r);
  return std::optional<lease>{lease{std::string(name), std::string(owner), static_cast<std::uint64_t>(r->integer), ttl}};
}

result<bool> lock_service::renew(const lease& l, std::chrono::milliseconds ttl) {
  if (auto c = check_name(l.name); !c) return c.err();
  if (auto c = check_ttl(l.name, ttl); !c) return c.err();
  const std::string key = key_of(l.name);
  const std::string token = std::to_string(l.fencing_token);
  const std::string ttl_ms = std::to_string(ttl.count());
  return holder_answer(l.name, "renew", conn_.eval(renew_script(), {key}, {l.owner, token, ttl_ms}));
}

result<bool> lock_service::release(const lease& l) {
  if (auto c = check_name(l.name); !c) return c.err();
  const std::string key = key_of(l.name);
  const std::string token = std::to_string(l.fencing_token);
  return holder_answer(l.name, "release", conn_.eval(release_script(), {key}, {l.owner, token}));
}

result<std::optional<lease>> lock_service::holder(std::string_view name) {
  if (auto c = check_name(name); !c) return c.err();
  const std::string key = key_of(name);
  auto r = conn_.eval(holder_script(), {key}, {});
  if (!r) return with_context(name, std::move(r.err()));
  if (r->is_nil()) return std::optional<lease>{};
  if (!r->is_array() || r->elements.size() != 2 || !r->elements[0].is_string() || !r->elements[1].is_integer()) {
    return unexpected(name, "holder", *r);
  }
  auto value = decode_lock_value(r->elements[0].text);
  if (!value) return with_context(name, std::move(value.err()));
  // PTTL is -1 for a key without expiry (written by hand): report it as "no time limit".
  const std::int64_t pttl = r->elements[1].integer;
  const std::chrono::milliseconds left{pttl >= 0 ? pttl : std::numeric_limits<std::int64_t>::max()};
  return std::optional<lease>{lease{std::string(name), std::move(value->owner), value->fencing_token, left}};
}

result<void> lock_service::raise_fencing_floor(std::uint64_t floor) {
  static const script raise(
      "local c = tonumber(redis.call('GET', KEYS[1]) or '0') "
      "if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 1");
  std::string f = std::to_string(floor);
  auto r = conn_.eval(raise, {prefix_}, {f});
  if (!r) return r.err();
  return {};
}

}  // namespace flowtrack::redis
