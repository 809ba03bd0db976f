// The body of a mail as lines for the lead extraction: one line-ending convention, '>' quote
// levels, joining back. Knows nothing of MIME, forwards or leads.
#include "domain/mail/lines.hpp"

#include <algorithm>

#include "domain/mail/lead.hpp"
#include "domain/mail/text.hpp"

namespace flowtrack::domain::mail {

bool blank(std::string_view s) { return trim(s).empty(); }

/// Text with one line-ending convention, non-breaking and zero-width spaces made plain.
std::string normalize(std::string_view text) {
  if (text.size() > max_scan_bytes) text = text.substr(0, max_scan_bytes);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const std::string_view rest = text.substr(i);
    if (c == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (starts_with(rest, "\xC2\xA0")) {
      out += ' ';
      ++i;
    } else if (starts_with(rest, "\xE2\x80\xAF") || starts_with(rest, "\xE2\x80\x87") ||
               starts_with(rest, "\xE2\x80\x89")) {
      out += ' ';
      i += 2;
    } else if (starts_with(rest, "\xE2\x80\x8B") || starts_with(rest, "\xE2\x80\x8C") ||
               starts_with(rest, "\xE2\x80\x8D") || starts_with(rest, "\xE2\x80\x8E") ||
               starts_with(rest, "\xE2\x80\x8F") || starts_with(rest, "\xEF\xBB\xBF")) {
      i += 2;
    } else if (c == '\t') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

lines_t split_lines(std::string_view text) {
  lines_t out;
  std::size_t start = 0;
  while (start <= text.size() && out.size() < 20000) {
    const std::size_t e = text.find('\n', start);
    if (e == std::string_view::npos) {
      out.emplace_back(text.substr(start));
      break;
    }
    out.emplace_back(text.substr(start, e - start));
    start = e + 1;
  }
  return out;
}

int quote_level(std::string_view line) {
  int level = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == '>') {
      ++level;
      ++i;
    } else if (line[i] == ' ' && i + 1 < line.size() && line[i + 1] == '>') {
      ++i;
    } else {
      break;
    }
  }
  return level;
}

std::string strip_quote(std::string_view line, int levels) {
  for (int l = 0; l < levels; ++l) {
    std::size_t i = 0;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == '>') {
      line.remove_prefix(i + 1);
      if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
    } else {
      break;
    }
  }
  return std::string(line);
}

std::size_t digit_count(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }));
}

std::string join_lines(const lines_t& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += trim(l).empty() ? std::string() : std::string(l);
  }
  // Collapse runs of blank lines.
  std::string collapsed;
  int newlines = 0;
  for (char c : out) {
    if (c == '\n') {
      if (++newlines > 2) continue;
    } else {
      newlines = 0;
    }
    collapsed += c;
  }
  return std::string(trim(collapsed));
}

}  // namespace flowtrack::domain::mail
