#include "adapters/http/urlencoded.hpp"

#include <cctype>

#include "runtime/text.hpp"

namespace flowtrack::http {
namespace {

bool decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int h = runtime::hex_digit(in[i + 1]), l = runtime::hex_digit(in[i + 2]);
      if (h < 0 || l < 0) return false;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

}  // namespace

result<std::vector<std::pair<std::string, std::string>>> parse_urlencoded(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t index = 0;
  while (!body.empty()) {
    auto amp = body.find('&');
    auto pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string name, value;
    bool ok = decode(pair.substr(0, eq), name) &&
              (eq == std::string_view::npos || decode(pair.substr(eq + 1), value));
    if (!ok)
      return make_error(error_code::invalid, "malformed percent-encoding in pair " + std::to_string(index + 1), "body");
    out.emplace_back(std::move(name), std::move(value));
    ++index;
  }
  return out;
}

std::string url_encode(std::string_view s) { return runtime::percent_encode(s); }

}  // namespace flowtrack::http
