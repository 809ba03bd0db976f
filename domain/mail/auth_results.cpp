#include "domain/mail/auth_results.hpp"

#include <cstddef>

#include "runtime/text.hpp"

namespace flowtrack::domain::mail {
namespace {

/// Longest header value read; a real one is a few hundred bytes.
constexpr std::size_t k_max_value = 8192;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// The value as segments (split at ';') of tokens, with comments dropped, quoted strings
/// unquoted (a ';' or '=' inside stays text) and '=' a token of its own.
std::vector<std::vector<std::string>> tokenize(std::string_view v) {
  std::vector<std::vector<std::string>> segments(1);
  std::string token;
  bool in_token = false;
  auto end_token = [&] {
    if (in_token) segments.back().push_back(std::move(token));
    token.clear();
    in_token = false;
  };
  int depth = 0;  // comment nesting
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (depth > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++depth;
      else if (c == ')') --depth;
      continue;
    }
    if (c == '(') {
      end_token();
      depth = 1;
    } else if (c == '"') {
      in_token = true;
      for (++i; i < v.size() && v[i] != '"'; ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        token.push_back(v[i]);
      }
    } else if (c == ';') {
      end_token();
      segments.emplace_back();
    } else if (c == '=') {
      end_token();
      segments.back().push_back("=");
    } else if (is_space(c)) {
      end_token();
    } else {
      token.push_back(c);
      in_token = true;
    }
  }
  end_token();
  return segments;
}

std::string lower(std::string s) {
  runtime::to_lower_ascii(s);
  return s;
}

/// The domain of "local@domain", or the text itself when it has no '@'.
std::string domain_of(std::string_view s) {
  auto at = s.rfind('@');
  return lower(std::string(at == std::string_view::npos ? s : s.substr(at + 1)));
}

/// One resinfo: "method[/version] = result [reason = x] [ptype.property = value]...".
std::optional<auth_verdict> read_resinfo(const std::vector<std::string>& t) {
  if (t.size() < 3 || t[1] != "=" || t[0] == "=" || t[2] == "=") return std::nullopt;
  auth_verdict out;
  out.method = lower(t[0].substr(0, t[0].find('/')));
  out.result = lower(t[2]);
  if (out.method.empty() || out.result.empty()) return std::nullopt;
  std::string fallback;  // header.i for DKIM, smtp.helo for SPF
  for (std::size_t i = 3; i + 2 < t.size(); i += 3) {
    if (t[i + 1] != "=") return out;  // the rest is not property syntax: keep what was read
    std::string key = lower(t[i]);
    const std::string& value = t[i + 2];
    if (out.method == "dkim" && key == "header.d") out.domain = lower(value);
    else if (out.method == "dkim" && key == "header.i") fallback = domain_of(value);
    else if (out.method == "spf" && key == "smtp.mailfrom") out.domain = domain_of(value);
    else if (out.method == "spf" && key == "smtp.helo") fallback = domain_of(value);
    else if (out.method == "dmarc" && key == "header.from") out.domain = domain_of(value);
  }
  if (out.domain.empty()) out.domain = std::move(fallback);
  return out;
}

}  // namespace

std::optional<auth_results> parse_auth_results(std::string_view value) {
  if (value.size() > k_max_value) {  // cut on a character boundary, so UTF-8 stays UTF-8
    std::size_t n = k_max_value;
    while (n > 0 && (static_cast<unsigned char>(value[n]) & 0xC0) == 0x80) --n;
    value = value.substr(0, n);
  }
  auto segments = tokenize(value);
  if (segments.front().empty() || segments.front().front() == "=") return std::nullopt;
  auth_results out;
  out.authserv_id = lower(segments.front().front());
  for (std::size_t i = 1; i < segments.size(); ++i)
    if (auto v = read_resinfo(segments[i])) out.verdicts.push_back(std::move(*v));
  return out;
}

std::optional<auth_results> trusted_auth_results(const message& m, const std::vector<std::string>& trusted) {
  if (trusted.empty()) return std::nullopt;
  for (const auto& h : m.authentication_results) {
    auto r = parse_auth_results(h);
    if (!r) continue;
    for (const auto& t : trusted)
      if (runtime::iequals(r->authserv_id, t)) return r;
  }
  return std::nullopt;
}

}  // namespace flowtrack::domain::mail
