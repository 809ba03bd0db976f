// Shards of workspaces and the consistent-hash ring. See shard_ring.hpp; the hashes here are a
// durable contract, so change nothing in them without a cluster-wide migration.
#include "domain/shard_ring.hpp"

#include <algorithm>
#include <cstring>

#include <openssl/sha.h>

namespace flowtrack::domain {
namespace {

constexpr std::uint64_t k_fnv_offset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t k_fnv_prime = 0x100000001b3ULL;

std::uint64_t fnv1a(std::uint64_t h, std::string_view bytes, bool lower) {
  for (char ch : bytes) {
    auto b = static_cast<unsigned char>(ch);
    if (lower && b >= 'A' && b <= 'Z') b = static_cast<unsigned char>(b - 'A' + 'a');
    h ^= b;
    h *= k_fnv_prime;
  }
  return h;
}

// MurmurHash3's fmix64.
std::uint64_t fmix64(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// Shards sit evenly on the ring, each in the middle of its 1/k_shard_count of it. Hashing their
// positions instead would add the noise of sampling 256 random points to the noise of the
// members' arcs: measured over random member names, 3 members then miss +-25% of 256/3 in ~4% of
// name sets instead of ~1%.
static_assert(k_shard_count > 0 && (k_shard_count & (k_shard_count - 1)) == 0, "a power of two divides the ring evenly");
constexpr std::uint64_t k_shard_spacing = ~std::uint64_t{0} / k_shard_count + 1;
std::uint64_t shard_position(int shard) { return static_cast<std::uint64_t>(shard) * k_shard_spacing + k_shard_spacing / 2; }

}  // namespace

std::uint64_t shard_hash(std::string_view bytes) { return fmix64(fnv1a(k_fnv_offset, bytes, false)); }

int shard_of(std::string_view workspace_id) {
  static_assert(k_shard_count == 256, "a shard is one byte of the digest");
  char lower[64];
  std::string owned;
  char* text = lower;
  if (workspace_id.size() > sizeof lower) {
    owned.resize(workspace_id.size());
    text = owned.data();
  }
  for (std::size_t i = 0; i < workspace_id.size(); ++i) {
    char ch = workspace_id[i];
    text[i] = ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text), workspace_id.size(), digest);
  return digest[0];
}

ring::ring(std::vector<std::string> members, int vnodes) : vnodes_(std::max(vnodes, 1)) {
  std::erase_if(members, [](const std::string& m) { return m.empty(); });
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  members_ = std::move(members);
  points_.reserve(members_.size() * static_cast<std::size_t>(vnodes_));
  for (std::uint32_t m = 0; m < members_.size(); ++m)
    for (int i = 0; i < vnodes_; ++i) points_.push_back({shard_hash(members_[m] + "#" + std::to_string(i)), m});
  // members_ is sorted, so ordering ties by index orders them by name.
  std::sort(points_.begin(), points_.end(),
            [](const point& a, const point& b) { return a.at != b.at ? a.at < b.at : a.member < b.member; });
}

std::string_view ring::owner(int shard) const {
  if (points_.empty() || shard < 0 || shard >= k_shard_count) return {};
  auto at = shard_position(shard);
  auto it = std::lower_bound(points_.begin(), points_.end(), at, [](const point& p, std::uint64_t v) { return p.at < v; });
  if (it == points_.end()) it = points_.begin();
  return members_[it->member];
}

std::vector<std::string> ring::assignment() const {
  std::vector<std::string> out;
  out.reserve(k_shard_count);
  for (int s = 0; s < k_shard_count; ++s) out.emplace_back(owner(s));
  return out;
}

std::vector<int> ring::shards_of(std::string_view member) const {
  std::vector<int> out;
  if (member.empty()) return out;
  for (int s = 0; s < k_shard_count; ++s)
    if (owner(s) == member) out.push_back(s);
  return out;
}

}  // namespace flowtrack::domain
