// Text helpers of the inbound-mail library: UTF-8 checks and repair, charset conversion, HTML to
// plain text. Pure functions over strings; know nothing of MIME or leads.
#pragma once

#include <string>
#include <string_view>

namespace flowtrack::domain::mail {

/// Whether `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);

/// `s` with every ill-formed sequence replaced by U+FFFD.
std::string repair_utf8(std::string_view s);

/// Converts `bytes` from `charset` to UTF-8. An empty or unknown charset means: UTF-8 when the bytes
/// are valid UTF-8, else windows-1252. iso-8859-1 is read as windows-1252 (what senders mean).
/// Bytes the charset cannot map become U+FFFD. The result is always valid UTF-8.
std::string to_utf8(std::string_view bytes, std::string_view charset);

/// Plain text of an HTML document: scripts, styles and tags dropped, entities decoded, line breaks
/// for <br>, <p>, <div>, <tr>, <li>, headings; `<a href="mailto:x">Name</a>` becomes `Name <x>`;
/// text inside <blockquote> gets one `> ` per level. Reads at most `max_bytes` of the input.
std::string html_to_text(std::string_view html, std::size_t max_bytes = 512u * 1024u);

/// ASCII lower case (other bytes unchanged).
std::string ascii_lower(std::string_view s);

/// `s` without leading and trailing ASCII white space.
std::string_view trim(std::string_view s);

}  // namespace flowtrack::domain::mail
