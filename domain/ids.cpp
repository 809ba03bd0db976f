#include "domain/ids.hpp"

#include <cstdint>
#include <random>

namespace flowtrack::domain {

std::string new_uuid() {
  // One generator per thread, seeded from the OS; 128 random bits less the 6 fixed ones.
  thread_local std::mt19937_64 gen{(static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()};
  std::uint64_t hi = gen(), lo = gen();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  static const char* hex = "0123456789abcdef";
  std::string s(36, '-');
  int pos = 0;
  auto put = [&](std::uint64_t v, int from_nibble, int count) {
    for (int i = 0; i < count; ++i, ++pos) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      s[pos] = hex[(v >> (4 * (from_nibble - i))) & 15];
    }
  };
  put(hi, 15, 16);
  put(lo, 15, 16);
  return s;
}

}  // namespace flowtrack::domain
