// Forwarded header blocks ("---------- Forwarded message ---------", "From: / Sent: / To: /
// Subject:", "Begin forwarded message:", ... in several languages), the addresses written in them,
// and where quoted history starts. Internal to domain/mail; works on lines of text.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "domain/mail/lead.hpp"
#include "domain/mail/lines.hpp"

namespace flowtrack::domain::mail {

/// Lines searched for a forwarded header block.
inline constexpr std::size_t max_scan_lines = 4000;

/// An address found in free text, with where it stood.
struct found_address {
  std::size_t begin = 0, end = 0;
  std::string address;  ///< domain lower-cased
};

/// The first plausible address in `s` (local@domain.tld; "mailto:" and brackets around it skipped).
std::optional<found_address> find_address(std::string_view s);

/// The first address in `a`, domain lower-cased; empty when there is none.
std::string normalize_address(std::string_view a);

/// Case-insensitive equality of two non-empty addresses.
bool same_address(std::string_view a, std::string_view b);

/// The lower-cased domain of an address.
std::string domain_of(std::string_view a);

/// A sender as forwarded header blocks write it: "Anna Weber <anna@x.de>", "Anna Weber
/// [mailto:anna@x.de]", "Anna <mailto:anna@x.de>", "anna@x.de (Anna Weber)", or only "Anna Weber".
mailbox parse_sender(std::string_view value);

/// A forwarded header block: where it is, its client style and language, and its fields.
struct header_block {
  std::size_t begin = 0;  ///< first line of the block (the marker line when there is one)
  std::size_t end = 0;    ///< first line after the header fields
  int quote = 0;          ///< '>' levels the forwarded text carries (Apple Mail's plain text)
  mail_format format = mail_format::generic;
  std::string language;  ///< from the marker phrase, when there is one
  bool has_from = false, has_sent = false, has_date = false, has_to = false, has_subject = false;
  std::string from, to, reply_to, subject;
  std::string subject_language, sent_language, from_language;  ///< from the field labels
};

/// The first forwarded header block in lines [from, to). `loose`: a From field with an address and
/// one other field is enough (for a subject that says the mail is forwarded).
std::optional<header_block> find_block(const lines_t& lines, std::size_t from, std::size_t to, bool loose);

/// The block's language: the marker's, else the Subject label's, the Sent label's, the From label's.
std::string block_language(const header_block& b);

/// The message's own lines in [from, to): up to quoted history ("On ... wrote:" and translations,
/// an older forward or reply header), without '>' lines, blank lines trimmed at both ends.
lines_t own_text(const lines_t& lines, std::size_t from, std::size_t to);

}  // namespace flowtrack::domain::mail
