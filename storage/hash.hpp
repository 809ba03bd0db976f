// Hex SHA-256, for migration checksums and stored token hashes. Knows OpenSSL, nothing else.
#pragma once

#include <string>
#include <string_view>

namespace flowtrack::storage {

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace flowtrack::storage
