// The password policy's checks; the common-password list comes from the generated
// common_passwords.cpp (cmake/embed_common_passwords.cmake), parsed once into a sorted vector.
#include "domain/password_policy.hpp"

#include <algorithm>
#include <vector>

namespace flowtrack::domain {
namespace detail {
/// domain/data/common-passwords.txt as compiled in: a '#' header line, then one entry a line.
std::string_view common_passwords_text();
}  // namespace detail

namespace {

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// The number of code points of `s` when it is well-formed UTF-8 (no overlong forms, no
/// surrogates, nothing above U+10FFFF); nullopt otherwise.
std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t count = 0;
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  for (std::size_t i = 0; i < s.size(); ++count) {
    unsigned char b = byte(i);
    std::size_t extra = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      extra = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      extra = 2;
      if (b == 0xe0) lo = 0xa0;   // overlong
      if (b == 0xed) hi = 0x9f;   // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      extra = 3;
      if (b == 0xf0) lo = 0x90;   // overlong
      if (b == 0xf4) hi = 0x8f;   // above U+10FFFF
    } else {
      return std::nullopt;  // a continuation byte first, C0/C1, or F5..FF
    }
    if (s.size() - i <= extra) return std::nullopt;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return std::nullopt;
    for (std::size_t k = 2; k <= extra; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return std::nullopt;
    i += extra + 1;
  }
  return count;
}

/// The list, lower-cased, sorted and without duplicates; built once on first use.
const std::vector<std::string>& common_passwords() {
  static const std::vector<std::string> list = [] {
    std::string_view text = detail::common_passwords_text();
    if (!text.empty() && text.front() == '#') {  // the header line naming the source
      auto nl = text.find('\n');
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    }
    std::vector<std::string> out;
    out.reserve(10000);
    while (!text.empty()) {
      auto nl = text.find('\n');
      auto line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) out.push_back(lower_ascii(line));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }();
  return list;
}

password_problem problem(std::string code, std::string message) {
  return password_problem{std::move(code), std::move(message)};
}

}  // namespace

bool is_common_password(std::string_view password) {
  const auto& list = common_passwords();
  return std::binary_search(list.begin(), list.end(), lower_ascii(password));
}

std::size_t common_password_count() { return common_passwords().size(); }

std::optional<password_problem> check_password(std::string_view password, std::string_view email) {
  if (password.size() > k_password_max_bytes)
    return problem("too_long", "The password is longer than 1024 bytes: choose a shorter one.");
  auto chars = utf8_length(password);
  if (!chars) return problem("invalid_utf8", "The password is not valid UTF-8 text: type it again.");
  if (*chars < k_password_min_chars)
    return problem("too_short", "The password is too short: use at least 10 characters (a few words make a good one).");
  auto lowered = lower_ascii(password);
  if (!email.empty()) {
    auto mail = lower_ascii(email);
    auto at = mail.rfind('@');
    bool local_part = at != std::string::npos && at > 0 && lowered == std::string_view(mail).substr(0, at);
    if (lowered == mail || local_part)
      return problem("same_as_email", "The password is your email address or its part before the @: choose another.");
  }
  if (is_common_password(lowered))
    return problem("common",
                   "The password is among the 10,000 most common passwords and easy to guess: choose another.");
  return std::nullopt;
}

}  // namespace flowtrack::domain
