// A parsed inbound mail message (RFC 5322 / MIME) as plain values, and the parser that builds it
// with GMime. Pure: no I/O beyond the bytes handed in, no actors, no SQL.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"

namespace flowtrack::domain::mail {

/// One mailbox of an address header: display name (UTF-8, encoded words decoded) and address.
struct mailbox {
  std::string name;
  std::string address;
};

/// An attachment, as metadata only: the decoded content is not kept.
struct attachment {
  std::string file_name;     ///< from Content-Disposition filename or Content-Type name; may be empty
  std::string content_type;  ///< lower case, e.g. "application/pdf"
  std::uint64_t size = 0;    ///< bytes of the decoded content (after base64 / quoted-printable)
};

/// A message with every text in UTF-8. Attached message/rfc822 parts are kept parsed.
struct message {
  std::vector<mailbox> from;
  std::vector<mailbox> reply_to;
  std::vector<mailbox> to;
  std::vector<mailbox> cc;
  std::string subject;
  std::optional<std::chrono::sys_seconds> date;  ///< empty when the Date header is absent or unreadable
  std::string message_id;                        ///< without angle brackets
  std::string in_reply_to;                       ///< the first message id, without angle brackets
  std::string text_body;                         ///< inline text/plain parts, decoded, joined
  std::string html_body;                         ///< inline text/html parts, decoded, joined
  std::vector<attachment> attachments;
  std::vector<message> attached_messages;            ///< message/rfc822 parts, parsed
  std::vector<std::string> authentication_results;  ///< every Authentication-Results value, unfolded, in order
};

/// Largest raw message parse() accepts.
inline constexpr std::size_t max_message_bytes = 32u * 1024u * 1024u;

/// Parses a raw message. Thread-safe for concurrent calls on different inputs; never throws.
/// Errors: `invalid` when the input is not a mail message (no header block, no From mailbox, too
/// large, absurdly nested); `internal` when memory ran out.
result<message> parse(std::string_view raw);

}  // namespace flowtrack::domain::mail
