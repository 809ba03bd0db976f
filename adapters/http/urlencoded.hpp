// application/x-www-form-urlencoded bodies and query strings, as browsers send them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/error.hpp"

namespace flowtrack::http {

/// Decodes `a=1&b=x+y%21` into pairs in order ('+' is a space; a name may repeat). Bytes are
/// kept as sent (UTF-8 is checked by whoever reads a value). A '%' not followed by two hex
/// digits is `invalid`, naming the pair's position.
result<std::vector<std::pair<std::string, std::string>>> parse_urlencoded(std::string_view body);

/// Percent-encodes a component for a URL (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view s);

}  // namespace flowtrack::http
