// msgpack codecs of lock values and delay entries: layout, round trips, and corrupt input.
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "storage/redis/codec.hpp"

namespace flowtrack::redis {
namespace {

using namespace std::string_literals;

TEST(redis_codec, lock_value_has_the_layout_the_lua_scripts_write) {
  // cmsgpack.pack({'a', 1}) in Redis: fixarray(2), fixstr "a", positive fixint 1.
  EXPECT_EQ(encode(lock_value{"a", 1}), "\x92\xa1" "a" "\x01"s);
  // A token past 2^32 takes uint64 (cmsgpack picks the smallest form, as msgpack-cxx does).
  EXPECT_EQ(encode(lock_value{"", std::uint64_t{1} << 32}), "\x92\xa0\xcf\x00\x00\x00\x01\x00\x00\x00\x00"s);
}

TEST(redis_codec, delay_entry_has_the_layout_the_lua_scripts_write) {
  EXPECT_EQ(encode(delay_entry{-1, 2, 0}), "\x93\xff\x02\x00"s);
}

TEST(redis_codec, round_trips_lock_values) {
  for (const lock_value& v : {lock_value{"node-a", 1}, lock_value{"", 0},
                              lock_value{"bin\0ary\xff"s, std::numeric_limits<std::uint64_t>::max()},
                              lock_value{std::string(70000, 'o'), 1234567890123}}) {
    auto back = decode_lock_value(encode(v));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(*back, v);
  }
}

TEST(redis_codec, round_trips_delay_entries) {
  for (const delay_entry& e :
       {delay_entry{1'700'000'000'000, 1, 0}, delay_entry{-5, 0, 1}, delay_entry{0, 42, 7},
        delay_entry{std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::uint64_t>::max(),
                    std::numeric_limits<std::uint32_t>::max()}}) {
    auto back = decode_delay_entry(encode(e));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(*back, e);
  }
}

void check_invalid_lock(const std::string& bytes, const char* why) {
  auto r = decode_lock_value(bytes);
  ASSERT_FALSE(r.ok()) << why << " was accepted";
  EXPECT_EQ(r.err().code, error_code::invalid) << why;
  EXPECT_EQ(r.err().subject, "lock value") << why;
}

void check_invalid_entry(const std::string& bytes, const char* why) {
  auto r = decode_delay_entry(bytes);
  ASSERT_FALSE(r.ok()) << why << " was accepted";
  EXPECT_EQ(r.err().code, error_code::invalid) << why;
}

TEST(redis_codec, rejects_corrupt_lock_values_as_invalid) {
  check_invalid_lock("", "empty input");
  check_invalid_lock("\xc1"s, "the never-used byte 0xc1");
  check_invalid_lock("not msgpack at all", "plain text");
  check_invalid_lock("\x01"s, "a bare integer");
  check_invalid_lock("\xa1" "a"s, "a bare string");
  check_invalid_lock("\x91\xa1" "a"s, "an array of one");
  check_invalid_lock("\x93\xa1" "a\x01\x01"s, "an array of three");
  check_invalid_lock("\x92\x01\x01"s, "an integer owner");
  check_invalid_lock("\x92\xa1" "a\xff"s, "a negative token");
  check_invalid_lock("\x92\xa1" "a\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"s, "a float token");
  check_invalid_lock("\x92\xa1" "a\xc0"s, "a nil token");
  check_invalid_lock("\x92\xa1" "a\x91\x01"s, "a nested array");
  check_invalid_lock("\x81\xa1" "a\x01"s, "a map");
  check_invalid_lock("\x92\xa1" "a\x01\x00"s, "trailing bytes");
  check_invalid_lock("\xdd\xff\xff\xff\xff"s, "an array header claiming 2^32 items");
  check_invalid_lock("\x92\xdb\xff\xff\xff\xff"s, "a string header claiming 4 GiB");
  check_invalid_lock("\x92\xc9\xff\xff\xff\xff\x01"s, "an ext32 of size 2^32-1");
  check_invalid_lock("\x92\xc4\x01" "a\x01"s, "a binary owner");
}

TEST(redis_codec, rejects_corrupt_delay_entries_as_invalid) {
  check_invalid_entry("", "empty input");
  check_invalid_entry("\x92\x01\x01"s, "an array of two");
  check_invalid_entry("\x93\xa1" "a\x01\x01"s, "a string due time");
  check_invalid_entry("\x93\x01\xff\x01"s, "a negative token");
  check_invalid_entry("\x93\x01\x01\xce\x00\x00\x00\x01"s + "\x00"s, "trailing bytes");
  check_invalid_entry("\x93\x01\x01\xcf\x00\x00\x00\x01\x00\x00\x00\x00"s, "an attempt count past 2^32");
  check_invalid_entry("\x93\xcf\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01"s, "a due time past int64");
}

TEST(redis_codec, rejects_every_truncation_of_a_valid_value) {
  const std::string lock = encode(lock_value{"node-a", 1ULL << 40});
  for (std::size_t n = 0; n < lock.size(); ++n) check_invalid_lock(lock.substr(0, n), "a truncated lock value");
  const std::string entry = encode(delay_entry{1'700'000'000'000, 99, 3});
  for (std::size_t n = 0; n < entry.size(); ++n) check_invalid_entry(entry.substr(0, n), "a truncated entry");
}

TEST(redis_codec, survives_random_bytes) {
  // Random inputs and random flips of valid encodings: decoding may succeed or say invalid, but
  // must never crash, throw or allocate what a header claims (ASan would report it).
  std::mt19937_64 rng(20240611);
  const std::string valid = encode(lock_value{"owner", 5}) + encode(delay_entry{-9, 7, 2});
  for (int i = 0; i < 20000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 24);
      for (char& c : bytes) c = static_cast<char>(rng());
    } else {
      bytes = valid.substr(rng() % valid.size());
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    auto l = decode_lock_value(bytes);
    if (!l.ok()) {
      EXPECT_EQ(l.err().code, error_code::invalid);
    }
    auto e = decode_delay_entry(bytes);
    if (!e.ok()) {
      EXPECT_EQ(e.err().code, error_code::invalid);
    }
  }
}

}  // namespace
}  // namespace flowtrack::redis
