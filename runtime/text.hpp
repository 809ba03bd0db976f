// Small ASCII text helpers shared by conditions and templates (case folding, trimming, numbers).
// Knows nothing of leads or graphs.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::runtime {

/// ASCII lower-case of one character.
constexpr char lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/// Lower-cases ASCII letters in place.
inline void to_lower_ascii(std::string& s) {
  for (char& c : s) c = lower_ascii(c);
}

/// Upper-cases ASCII letters in place.
inline void to_upper_ascii(std::string& s) {
  for (char& c : s) c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

/// ASCII case-insensitive equality.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
  }
  return true;
}

/// Equality where `folded` is already lower-case (saves folding one side on a hot path).
inline bool equals_folded(std::string_view s, std::string_view folded) {
  if (s.size() != folded.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (lower_ascii(s[i]) != folded[i]) return false;
  }
  return true;
}

/// Whether `needle` occurs in `hay`, optionally ignoring ASCII case (`needle` already folded).
inline bool contains_text(std::string_view hay, std::string_view needle, bool case_sensitive) {
  if (case_sensitive) return hay.find(needle) != std::string_view::npos;
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (equals_folded(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

/// Trims ASCII spaces, tabs and line breaks.
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

/// A number written in full in `s` (surrounding spaces allowed), e.g. "5000", "-1.5".
inline std::optional<double> parse_number(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 64) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  if (v != v) return std::nullopt;  // NaN is not a number a user means
  return v;
}

/// Whether `s` has the shape of a UUID (8-4-4-4-12 hex digits).
inline bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = s[i];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return false;
  }
  return true;
}

/// The value of a hex digit, or -1.
constexpr int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Appends `s` HTML-escaped (& < > " ').
inline void append_html_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
}

/// Appends `s` escaped for the inside of a JSON string literal (no surrounding quotes).
inline void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char k_hex[] = "0123456789abcdef";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(k_hex[u >> 4]);
          out.push_back(k_hex[u & 15]);
        } else {
          out.push_back(c);
        }
    }
  }
}

/// Appends a number the way a person writes it: integers without ".0".
inline void append_number(std::string& out, double v) {
  char buf[32];
  if (v == static_cast<double>(static_cast<long long>(v)) && v > -9e15 && v < 9e15) {
    const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    out.append(buf, r.ptr);
  } else {
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (ALPHA DIGIT - . _ ~): for a
/// URL path segment, a query value or an application/x-www-form-urlencoded field.
inline std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// 64-bit FNV-1a, stable across runs and platforms (for deterministic splits and jitter).
inline std::uint64_t stable_hash(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// A 64-bit mix (splitmix64 finaliser) for spreading hash bits.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace flowtrack::runtime
