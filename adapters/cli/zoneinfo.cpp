// System zoneinfo file loader.
#include "adapters/cli/zoneinfo.hpp"

#include <fstream>
#include <sstream>

namespace flowtrack::cli {

runtime::tz_loader zoneinfo_loader(std::string dir) {
  return [dir = std::move(dir)](std::string_view name) -> result<std::string> {
    if (!runtime::is_valid_zone_name(name)) {
      return make_error(error_code::invalid, "bad time zone name", std::string(name));
    }
    std::ifstream in(dir + "/" + std::string(name), std::ios::binary);
    if (!in) return make_error(error_code::not_found, "no zoneinfo file for '" + std::string(name) + "'", std::string(name));
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string bytes = ss.str();
    if (bytes.size() > 1 << 20) return make_error(error_code::invalid, "zoneinfo file too large", std::string(name));
    return bytes;
  };
}

}  // namespace flowtrack::cli
