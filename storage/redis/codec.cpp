// msgpack encoding and strict, non-throwing decoding of the values kept in Redis.
// Knows msgpack-cxx; knows nothing of keys, connections or scripts.
#include "storage/redis/codec.hpp"

#include <array>
#include <limits>

#include <msgpack.hpp>

namespace flowtrack::redis {

namespace {

// msgpack::packer writes into anything with write(const char*, size_t).
struct string_sink {
  std::string bytes;
  void write(const char* data, std::size_t size) { bytes.append(data, size); }
};

// One scalar of a flat array.
struct scalar {
  enum class kind { str, uint, negative } type = kind::uint;
  std::string_view text;
  std::uint64_t uint_value = 0;
  std::int64_t int_value = 0;
};

// Accepts exactly one flat array of at most k_max_items strings and integers. A visitor rather
// than msgpack::unpack: nothing is allocated for what a corrupt header claims (an array of 2^32
// elements), nesting stops at the first level, and errors come back as values.
class flat_array_visitor : public msgpack::null_visitor {
 public:
  static constexpr std::size_t k_max_items = 4;

  bool start_array(std::uint32_t n) {
    if (depth_ != 0 || seen_array_) return fail("a nested array");
    if (n > k_max_items) return fail("an array that is too long");
    seen_array_ = true;
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool visit_str(const char* data, std::uint32_t size) {
    if (depth_ == 0) return fail("a string where an array belongs");
    scalar s;
    s.type = scalar::kind::str;
    s.text = std::string_view(data, size);
    return push(s);
  }
  bool visit_positive_integer(std::uint64_t v) {
    if (depth_ == 0) return fail("an integer where an array belongs");
    scalar s;
    s.type = scalar::kind::uint;
    s.uint_value = v;
    return push(s);
  }
  bool visit_negative_integer(std::int64_t v) {
    if (depth_ == 0) return fail("an integer where an array belongs");
    scalar s;
    s.type = scalar::kind::negative;
    s.int_value = v;
    return push(s);
  }
  bool visit_nil() { return fail("a nil"); }
  bool visit_boolean(bool) { return fail("a boolean"); }
  bool visit_float32(float) { return fail("a float"); }
  bool visit_float64(double) { return fail("a float"); }
  bool visit_bin(const char*, std::uint32_t) { return fail("binary data"); }
  bool visit_ext(const char*, std::uint32_t) { return fail("an extension type"); }
  bool start_map(std::uint32_t) { return fail("a map"); }
  void parse_error(std::size_t, std::size_t) { fail("bytes that are not msgpack"); }
  void insufficient_bytes(std::size_t, std::size_t) { fail("truncated msgpack"); }

  const char* problem() const { return problem_; }
  bool seen_array() const { return seen_array_; }
  std::size_t size() const { return count_; }
  const scalar& operator[](std::size_t i) const { return items_[i]; }

 private:
  bool fail(const char* what) {
    if (problem_ == nullptr) problem_ = what;
    return false;
  }
  bool push(const scalar& s) {
    if (count_ == k_max_items) return fail("an array that is too long");
    items_[count_++] = s;
    return true;
  }

  std::array<scalar, k_max_items> items_{};
  std::size_t count_ = 0;
  std::size_t depth_ = 0;
  bool seen_array_ = false;
  const char* problem_ = nullptr;
};

error invalid_value(std::string_view what, std::string_view problem) {
  return make_error(error_code::invalid,
                    "stored " + std::string(what) + " is not valid: found " + std::string(problem), std::string(what));
}

// Parses `bytes` as one flat array of exactly `arity` scalars.
result<flat_array_visitor> parse_flat(std::string_view bytes, std::size_t arity, std::string_view what) {
  flat_array_visitor v;
  std::size_t offset = 0;
  bool ok = false;
  try {
    ok = msgpack::parse(bytes.data(), bytes.size(), offset, v);
  } catch (const std::exception&) {
    // msgpack-cxx still throws for an ext32 of size 2^32-1; contain it here.
    return invalid_value(what, "an oversized extension type");
  }
  if (!ok) return invalid_value(what, v.problem() != nullptr ? v.problem() : "bytes that are not msgpack");
  if (offset != bytes.size()) return invalid_value(what, "extra bytes after the value");
  if (!v.seen_array()) return invalid_value(what, "no array");
  if (v.size() != arity) return invalid_value(what, "an array of " + std::to_string(v.size()) + " items, expected " + std::to_string(arity));
  return v;
}

bool as_uint(const scalar& s, std::uint64_t& out) {
  if (s.type != scalar::kind::uint) return false;
  out = s.uint_value;
  return true;
}

bool as_int(const scalar& s, std::int64_t& out) {
  if (s.type == scalar::kind::negative) {
    out = s.int_value;
    return true;
  }
  if (s.type == scalar::kind::uint && s.uint_value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    out = static_cast<std::int64_t>(s.uint_value);
    return true;
  }
  return false;
}

}  // namespace

std::string encode(const lock_value& v) {
  string_sink sink;
  msgpack::packer<string_sink> p(sink);
  p.pack_array(2);
  p.pack_str(static_cast<std::uint32_t>(v.owner.size()));
  p.pack_str_body(v.owner.data(), static_cast<std::uint32_t>(v.owner.size()));
  p.pack_uint64(v.fencing_token);
  return std::move(sink.bytes);
}

std::string encode(const delay_entry& e) {
  string_sink sink;
  msgpack::packer<string_sink> p(sink);
  p.pack_array(3);
  p.pack_int64(e.due_ms);
  p.pack_uint64(e.token);
  p.pack_uint32(e.attempt);
  return std::move(sink.bytes);
}

result<lock_value> decode_lock_value(std::string_view bytes) {
  constexpr std::string_view what = "lock value";
  auto parsed = parse_flat(bytes, 2, what);
  if (!parsed) return parsed.err();
  const auto& v = *parsed;
  lock_value out;
  if (v[0].type != scalar::kind::str) return invalid_value(what, "an owner that is not a string");
  out.owner = std::string(v[0].text);
  if (!as_uint(v[1], out.fencing_token)) return invalid_value(what, "a fencing token that is not an unsigned integer");
  return out;
}

result<delay_entry> decode_delay_entry(std::string_view bytes) {
  constexpr std::string_view what = "delay entry";
  auto parsed = parse_flat(bytes, 3, what);
  if (!parsed) return parsed.err();
  const auto& v = *parsed;
  delay_entry out;
  std::uint64_t attempt = 0;
  if (!as_int(v[0], out.due_ms)) return invalid_value(what, "a due time that is not an integer");
  if (!as_uint(v[1], out.token)) return invalid_value(what, "a token that is not an unsigned integer");
  if (!as_uint(v[2], attempt) || attempt > std::numeric_limits<std::uint32_t>::max()) {
    return invalid_value(what, "an attempt count that is not a 32-bit unsigned integer");
  }
  out.attempt = static_cast<std::uint32_t>(attempt);
  return out;
}

}  // namespace flowtrack::redis
