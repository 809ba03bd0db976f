// The body of a mail as lines, for the lead extraction: one line-ending convention, '>' quote
// levels, joining back. Internal to domain/mail; knows nothing of MIME, forwards or leads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace flowtrack::domain::mail {

using lines_t = std::vector<std::string>;

inline bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
inline bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

/// Whether the line holds nothing but white space.
bool blank(std::string_view s);

/// At most `max_scan_bytes` of `text` with LF line ends, non-breaking and thin spaces made plain,
/// zero-width characters and tabs removed or made spaces.
std::string normalize(std::string_view text);

/// The lines of `text` (at most 20,000).
lines_t split_lines(std::string_view text);

/// How many '>' quote the line ("> > x" and ">> x" are both 2).
int quote_level(std::string_view line);

/// The line without `levels` leading '>' (and the space after each).
std::string strip_quote(std::string_view line, int levels);

/// ASCII digits in `s`.
std::size_t digit_count(std::string_view s);

/// The lines joined with LF, blank-only lines emptied, runs of blank lines collapsed to one, trimmed.
std::string join_lines(const lines_t& lines);

}  // namespace flowtrack::domain::mail
