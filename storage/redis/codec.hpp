// The msgpack layout of the values FlowTrack keeps in Redis, shared with the Lua scripts that
// write them (cmsgpack). Knows the bytes, not where they are stored; msgpack stays in codec.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/error.hpp"

namespace flowtrack::redis {

/// What a lock key holds: msgpack array [owner (str), fencing_token (uint)].
struct lock_value {
  std::string owner;
  std::uint64_t fencing_token = 0;

  bool operator==(const lock_value&) const = default;
};

/// What a delay-queue entry holds, in the queue's hash under the entry's id:
/// msgpack array [due_ms (int), token (uint), attempt (uint)]. `token` is the lease token of the
/// last schedule or claim, unique within the queue; an ack must present it. `attempt` counts
/// claims since the last schedule.
struct delay_entry {
  std::int64_t due_ms = 0;
  std::uint64_t token = 0;
  std::uint32_t attempt = 0;

  bool operator==(const delay_entry&) const = default;
};

/// The msgpack bytes of `v`.
std::string encode(const lock_value& v);
/// The msgpack bytes of `e`.
std::string encode(const delay_entry& e);

/// Reads a lock value; anything but exactly [str, uint] is `invalid`. Never throws.
result<lock_value> decode_lock_value(std::string_view bytes);
/// Reads a delay entry; anything but exactly [int, uint, uint] is `invalid`. Never throws.
result<delay_entry> decode_delay_entry(std::string_view bytes);

}  // namespace flowtrack::redis
