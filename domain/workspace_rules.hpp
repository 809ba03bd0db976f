// What a workspace's own fields must look like: the slug (the `/p/{slug}` path segment, so a few
// words of the node's own paths are reserved) and the display name. Pure: no I/O; the API, the
// CLI (through storage::create_workspace) and the database's check agree because all go through
// these.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::domain {

/// Shortest and longest slug.
inline constexpr std::size_t k_min_slug_length = 3;
inline constexpr std::size_t k_max_slug_length = 50;

/// Why `slug` is not a workspace slug, or nullopt when it is one: 3 to 50 characters of `a-z`,
/// `0-9` and `-` (`^[a-z0-9-]+$`, case-sensitive), no hyphen first or last, and not a reserved
/// word (is_reserved_slug).
std::optional<std::string> check_slug(std::string_view slug);

/// Whether a slug is kept for the node's own paths and names (api, admin, www, p, t, hooks,
/// inbound, ...), whatever its shape.
bool is_reserved_slug(std::string_view slug);

/// Why `name` is not a workspace name, or nullopt: 1 to 100 characters (code points of valid
/// UTF-8, as VARCHAR(100) counts them), not only blanks, no control characters.
std::optional<std::string> check_workspace_name(std::string_view name);

}  // namespace flowtrack::domain
