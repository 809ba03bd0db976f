// Delay queue scripts and their results. Knows Redis keys and Lua; nothing of executions.
#include "storage/redis/delay_queue.hpp"

#include <charconv>
#include <cmath>

#include "storage/redis/connection.hpp"

namespace flowtrack::redis {

namespace {

// Sorted-set scores and Lua numbers are doubles: integers beyond 2^53 would be rounded.
constexpr std::int64_t k_max_time = std::int64_t{1} << 53;

// KEYS[1] due, KEYS[2] entries, KEYS[3] seq; ARGV[1] id, ARGV[2] due ms.
const script& schedule_script() {
  static const script s{R"lua(
local token = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], cmsgpack.pack({tonumber(ARGV[2]), token, 0}))
return token
)lua"};
  return s;
}

// KEYS[1] due, KEYS[2] entries, KEYS[3] seq, KEYS[4] bad; ARGV[1] now, ARGV[2] max,
// ARGV[3] invisible until. Returns {0, id, due, token, attempt, ...} for the claimed entries, or
// {1, id, ...} for unreadable entries moved to KEYS[4] (then nothing is claimed).
const script& claim_script() {
  static const script s{R"lua(
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids == 0 then return {0} end
local raws = redis.call('HMGET', KEYS[2], unpack(ids))
local entries, bad = {}, {1}
for i, id in ipairs(ids) do
  local raw = raws[i]
  local ok, e = false, nil
  if raw then ok, e = pcall(cmsgpack.unpack, raw) end
  if ok and type(e) == 'table' and type(e[1]) == 'number' and type(e[2]) == 'number' and type(e[3]) == 'number' then
    entries[i] = e
  else
    bad[#bad + 1] = id
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HSET', KEYS[4], id, raw or '')
  end
end
if #bad > 1 then return bad end
local n = #ids
local first = redis.call('INCRBY', KEYS[3], n) - n
local zargs, hargs, out = {}, {}, {0}
for i, id in ipairs(ids) do
  local e = entries[i]
  local token = first + i
  local attempt = e[3] + 1
  zargs[#zargs + 1] = ARGV[3]
  zargs[#zargs + 1] = id
  hargs[#hargs + 1] = id
  hargs[#hargs + 1] = cmsgpack.pack({e[1], token, attempt})
  out[#out + 1] = id
  out[#out + 1] = e[1]
  out[#out + 1] = token
  out[#out + 1] = attempt
end
redis.call('ZADD', KEYS[1], unpack(zargs))
redis.call('HSET', KEYS[2], unpack(hargs))
return out
)lua"};
  return s;
}

// KEYS[1] due, KEYS[2] entries; ARGV = id, token, id, token, ...
// Returns one code per pair: 1 removed, 0 stale (nothing changed), -1 unreadable.
const script& ack_script() {
  static const script s{R"lua(
local out = {}
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  local raw = redis.call('HGET', KEYS[2], id)
  local code = 0
  if raw then
    local ok, e = pcall(cmsgpack.unpack, raw)
    if not ok or type(e) ~= 'table' or type(e[2]) ~= 'number' then
      code = -1
    elseif e[2] == tonumber(ARGV[i + 1]) then
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[2], id)
      code = 1
    end
  end
  out[#out + 1] = code
end
return out
)lua"};
  return s;
}

// KEYS[1] due, KEYS[2] entries; ARGV[1] id. Returns 1 when it was queued.
const script& remove_script() {
  static const script s{R"lua(
local n = redis.call('HDEL', KEYS[2], ARGV[1])
return math.max(n, redis.call('ZREM', KEYS[1], ARGV[1]))
)lua"};
  return s;
}

error unexpected(std::string_view op, const reply& r) {
  return make_error(error_code::internal,
                    "unexpected " + std::string(to_string(r.type)) + " reply to " + std::string(op),
                    std::string(op));
}

result<void> check_id(std::string_view id) {
  if (id.empty()) return make_error(error_code::invalid, "an entry id must not be empty", "id");
  return {};
}

result<void> check_time(std::string_view what, std::int64_t t) {
  if (t > k_max_time || t < -k_max_time) {
    return make_error(error_code::invalid, std::string(what) + " " + std::to_string(t) + " is out of range (|t| <= 2^53 ms)",
                      std::string(what));
  }
  return {};
}

}  // namespace

delay_queue::delay_queue(connection& conn, std::string_view name, std::string prefix)
    : conn_(conn),
      name_(name),
      due_key_(prefix + "{" + name_ + "}:due"),
      entries_key_(prefix + "{" + name_ + "}:entries"),
      seq_key_(prefix + "{" + name_ + "}:seq"),
      bad_key_(prefix + "{" + name_ + "}:bad") {}

error delay_queue::with_context(error e) const {
  e.message = "delay queue '" + name_ + "': " + e.message;
  return e;
}

result<void> delay_queue::schedule(std::string_view id, std::int64_t due_ms) {
  if (auto c = check_id(id); !c) return with_context(c.err());
  if (auto c = check_time("due_ms", due_ms); !c) return with_context(c.err());
  const std::string due = std::to_string(due_ms);
  auto r = conn_.eval(schedule_script(), {due_key_, entries_key_, seq_key_}, {id, due});
  if (!r) return with_context(std::move(r.err()));
  if (!r->is_integer()) return with_context(unexpected("schedule", *r));
  return {};
}

result<std::vector<claimed>> delay_queue::claim(std::int64_t now_ms, std::size_t max,
                                                std::chrono::milliseconds visibility) {
  if (auto c = check_time("now_ms", now_ms); !c) return with_context(c.err());
  if (visibility.count() <= 0) {
    return with_context(make_error(error_code::invalid, "visibility timeout must be positive", "visibility"));
  }
  if (visibility.count() > k_max_time) {
    return with_context(make_error(error_code::invalid, "visibility timeout is out of range", "visibility"));
  }
  const std::int64_t until_ms = now_ms + visibility.count();
  if (auto c = check_time("now_ms + visibility", until_ms); !c) return with_context(c.err());
  if (max == 0) return std::vector<claimed>{};
  if (max > k_max_claim) max = k_max_claim;

  const std::string now = std::to_string(now_ms);
  const std::string limit = std::to_string(max);
  const std::string until = std::to_string(until_ms);
  auto r = conn_.eval(claim_script(), {due_key_, entries_key_, seq_key_, bad_key_}, {now, limit, until});
  if (!r) return with_context(std::move(r.err()));
  const auto& e = r->elements;
  if (!r->is_array() || e.empty() || !e[0].is_integer()) return with_context(unexpected("claim", *r));

  if (e[0].integer == 1) {
    std::string ids;
    for (std::size_t i = 1; i < e.size(); ++i) ids += (i > 1 ? ", " : "") + std::string("'") + e[i].text + "'";
    return with_context(make_error(error_code::invalid,
                                   "entries " + ids + " were not valid msgpack delay entries; they were moved to " +
                                       bad_key_ + " and are no longer scheduled (re-schedule them from the database)",
                                   "delay entry"));
  }
  if ((e.size() - 1) % 4 != 0) return with_context(unexpected("claim", *r));
  std::vector<claimed> out;
  out.reserve((e.size() - 1) / 4);
  for (std::size_t i = 1; i + 3 < e.size(); i += 4) {
    if (!e[i].is_string() || !e[i + 1].is_integer() || !e[i + 2].is_integer() || !e[i + 3].is_integer() ||
        e[i + 2].integer <= 0 || e[i + 3].integer <= 0) {
      return with_context(unexpected("claim", *r));
    }
    out.push_back(claimed{e[i].text, e[i + 1].integer, static_cast<std::uint64_t>(e[i + 2].integer),
                          static_cast<std::uint32_t>(e[i + 3].integer)});
  }
  return out;
}

result<bool> delay_queue::ack(const claimed& c) {
  auto n = ack(std::span<const claimed>(&c, 1));
  if (!n) return n.err();
  return *n == 1;
}

result<std::size_t> delay_queue::ack(std::span<const claimed> batch) {
  if (batch.empty()) return std::size_t{0};
  std::vector<std::string> tokens;
  tokens.reserve(batch.size());
  std::vector<std::string_view> args;
  args.reserve(batch.size() * 2);
  for (const auto& c : batch) {
    if (auto ok = check_id(c.id); !ok) return with_context(ok.err());
    tokens.push_back(std::to_string(c.token));
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    args.push_back(batch[i].id);
    args.push_back(tokens[i]);
  }
  const std::string_view keys[] = {due_key_, entries_key_};
  auto r = conn_.eval(ack_script(), keys, args);
  if (!r) return with_context(std::move(r.err()));
  if (!r->is_array() || r->elements.size() != batch.size()) return with_context(unexpected("ack", *r));
  std::size_t removed = 0;
  std::string unreadable;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const reply& code = r->elements[i];
    if (!code.is_integer()) return with_context(unexpected("ack", *r));
    if (code.integer == 1) ++removed;
    if (code.integer == -1) unreadable += (unreadable.empty() ? "'" : ", '") + batch[i].id + "'";
  }
  if (!unreadable.empty()) {
    return with_context(make_error(error_code::invalid,
                                   "entries " + unreadable + " are not valid msgpack delay entries; " +
                                       std::to_string(removed) + " other entries were acknowledged",
                                   "delay entry"));
  }
  return removed;
}

result<bool> delay_queue::remove(std::string_view id) {
  if (auto c = check_id(id); !c) return with_context(c.err());
  auto r = conn_.eval(remove_script(), {due_key_, entries_key_}, {id});
  if (!r) return with_context(std::move(r.err()));
  if (!r->is_integer()) return with_context(unexpected("remove", *r));
  return r->integer == 1;
}

result<std::optional<delay_entry>> delay_queue::find(std::string_view id) {
  if (auto c = check_id(id); !c) return with_context(c.err());
  auto r = conn_.command({"HGET", entries_key_, id});
  if (!r) return with_context(std::move(r.err()));
  if (r->is_nil()) return std::optional<delay_entry>{};
  if (!r->is_string()) return with_context(unexpected("HGET", *r));
  auto entry = decode_delay_entry(r->text);
  if (!entry) {
    error e = std::move(entry.err());
    e.message = "entry '" + std::string(id) + "': " + e.message;
    return with_context(std::move(e));
  }
  return std::optional<delay_entry>{*entry};
}

result<std::size_t> delay_queue::size() {
  auto r = conn_.command({"ZCARD", due_key_});
  if (!r) return with_context(std::move(r.err()));
  if (!r->is_integer() || r->integer < 0) return with_context(unexpected("ZCARD", *r));
  return static_cast<std::size_t>(r->integer);
}

result<std::optional<std::int64_t>> delay_queue::next_due() {
  auto r = conn_.command({"ZRANGE", due_key_, "0", "0", "WITHSCORES"});
  if (!r) return with_context(std::move(r.err()));
  if (!r->is_array()) return with_context(unexpected("ZRANGE", *r));
  if (r->elements.empty()) return std::optional<std::int64_t>{};
  if (r->elements.size() != 2 || !r->elements[1].is_string()) return with_context(unexpected("ZRANGE", *r));
  // Scores come back as text ("%.17g"), which may use an exponent.
  const std::string& text = r->elements[1].text;
  double score = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), score);
  if (ec != std::errc{} || p != text.data() + text.size() || !std::isfinite(score) ||
      std::fabs(score) > static_cast<double>(k_max_time)) {
    return with_context(make_error(error_code::invalid, "score '" + text + "' is not a time in ms", "score"));
  }
  return std::optional<std::int64_t>{static_cast<std::int64_t>(std::llround(score))};
}

}  // namespace flowtrack::redis
