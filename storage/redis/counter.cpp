// The rate counter script and its result. Knows Redis keys and Lua; nothing of what is limited.
#include "storage/redis/counter.hpp"

#include "storage/redis/connection.hpp"

namespace flowtrack::redis {

namespace {

// KEYS[1] counter; ARGV[1] amount, ARGV[2] window ms. Returns {count, ms left}, or {'invalid'}
// when the key holds something INCRBY cannot add to (nothing is changed then).
const script& hit_script() {
  static const script s{R"lua(
local n = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(n) == 'table' and n.err then return {'invalid', n.err} end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  left = tonumber(ARGV[2])
end
return {n, left}
)lua"};
  return s;
}

}  // namespace

rate_counter::rate_counter(connection& conn, std::string prefix) : conn_(conn), prefix_(std::move(prefix)) {}

result<hit> rate_counter::hit(std::string_view key, std::chrono::milliseconds window, std::int64_t amount) {
  const std::string where = "rate counter '" + std::string(key) + "': ";
  if (key.empty()) return make_error(error_code::invalid, "a rate counter key must not be empty", "key");
  if (window.count() <= 0) return make_error(error_code::invalid, where + "window must be positive", "window");
  const std::string full_key = prefix_ + std::string(key);
  const std::string amount_text = std::to_string(amount);
  const std::string window_text = std::to_string(window.count());
  auto r = conn_.eval(hit_script(), {full_key}, {amount_text, window_text});
  if (!r) {
    r.err().message = where + r.err().message;
    return r.err();
  }
  const auto& e = r->elements;
  if (r->is_array() && e.size() == 2 && e[0].is_string() && e[0].text == "invalid") {
    return make_error(error_code::invalid, where + "stored value cannot be counted: " + e[1].text, "counter value");
  }
  if (!r->is_array() || e.size() != 2 || !e[0].is_integer() || !e[1].is_integer()) {
    return make_error(error_code::internal,
                      where + "unexpected " + std::string(to_string(r->type)) + " reply to hit", "hit");
  }
  return flowtrack::redis::hit{e[0].integer, std::chrono::milliseconds{e[1].integer}};
}

}  // namespace flowtrack::redis
