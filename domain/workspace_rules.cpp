#include "domain/workspace_rules.hpp"

#include <algorithm>
#include <array>

namespace flowtrack::domain {
namespace {

// Paths and host names the node uses or may use; a workspace named so would read as one of them
// (`/p/api`, `admin.<domain>`, an intake called `hooks`). Sorted for binary search.
constexpr std::array<std::string_view, 32> k_reserved{
    "about",   "account", "admin",  "api",      "app",     "assets",   "auth",     "billing",
    "dashboard", "docs",  "flowtrack", "healthz", "help",  "hooks",    "inbound",  "intake",
    "invitations", "login", "logout", "mail",   "metrics", "p",        "readyz",   "root",
    "settings", "signup", "static", "status",   "support", "system",   "t",        "www",
};

// Code points of valid UTF-8, or -1 when it is not; control characters count as invalid here.
long visible_length(std::string_view s) {
  long n = 0;
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return -1;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return -1;
    if (len == 1 && (b < 0x20 || b == 0x7F)) return -1;
    if (len == 2 && b < 0xC2) return -1;  // overlong
    i += len;
    ++n;
  }
  return n;
}

}  // namespace

bool is_reserved_slug(std::string_view slug) {
  static_assert(std::is_sorted(k_reserved.begin(), k_reserved.end()));
  return std::binary_search(k_reserved.begin(), k_reserved.end(), slug);
}

std::optional<std::string> check_slug(std::string_view slug) {
  if (slug.size() < k_min_slug_length || slug.size() > k_max_slug_length)
    return "slug must be 3 to 50 characters";
  for (char ch : slug)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
      return "slug may hold only lower-case letters a-z, digits and hyphens";
  if (slug.front() == '-' || slug.back() == '-') return "slug may not start or end with a hyphen";
  if (is_reserved_slug(slug)) return "slug '" + std::string(slug) + "' is reserved; choose another";
  return std::nullopt;
}

std::optional<std::string> check_workspace_name(std::string_view name) {
  long n = visible_length(name);
  if (n < 0) return "name must be text without control characters";
  if (n == 0 || n > 100) return "name must be 1 to 100 characters";
  if (std::all_of(name.begin(), name.end(), [](char ch) { return ch == ' '; })) return "name may not be blank";
  return std::nullopt;
}

}  // namespace flowtrack::domain
