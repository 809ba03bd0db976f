// Turns an actors::email_message into RFC 5322 / MIME text and guards every header value that
// goes into it. Pure: no sockets, no SMTP, no clock of its own (the caller passes the time).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "actors/ports.hpp"
#include "crypto/secret_box.hpp"
#include "runtime/error.hpp"

namespace flowtrack::mail {

/// Who a message comes from, besides the display name the caller gives.
struct sender_identity {
  std::string address;  ///< From address and SMTP MAIL FROM, e.g. "noreply@intake.example"
  std::string domain;   ///< right-hand side of every Message-ID
};

/// A message ready for the relay.
struct composed_message {
  std::string sender;      ///< MAIL FROM
  std::string recipient;   ///< RCPT TO
  std::string message_id;  ///< the Message-ID header value, angle brackets included
  std::string text;        ///< the whole message: headers, blank line, body; CRLF line ends
};

/// Checks an email address (addr-spec with a dot-atom local part and an ASCII domain) after
/// trimming surrounding blanks; returns the trimmed address or `invalid` naming `field`.
result<std::string> check_address(std::string_view address, std::string_view field);

/// The Message-ID (with angle brackets) for an idempotency key: the same key always gives the
/// same id, different keys give different ids.
std::string message_id_for(std::string_view idempotency_key, std::string_view domain);

/// An unstructured header value (Subject) ready to follow "Name: ": plain ASCII folded at
/// spaces, otherwise RFC 2047 UTF-8 "B" encoded-words, one per folded line.
std::string encode_unstructured(std::string_view utf8, std::size_t name_length);

/// A display name as an RFC 5322 phrase: a quoted string, or encoded-words when not ASCII.
std::string encode_phrase(std::string_view utf8);

/// Quoted-printable (RFC 2045) of UTF-8 text whose lines end in CRLF; encoded lines are at
/// most 76 characters.
std::string quoted_printable(std::string_view text);

/// A date as RFC 5322 writes it, in UTC: "Tue, 04 Nov 2025 09:30:00 +0000".
std::string rfc5322_date(std::chrono::system_clock::time_point t);

/// Whether the bytes are well-formed UTF-8.
bool valid_utf8(std::string_view s);

/// The links of an email to a lead: its HTML links go through `click`, an open pixel is added,
/// and it carries an unsubscribe link (in the text, the HTML and RFC 8058's List-Unsubscribe
/// and List-Unsubscribe-Post headers).
struct tracking_links {
  std::function<std::string(std::string_view url)> click;
  std::string open_pixel;
  std::string unsubscribe;
};

/// The tracking and unsubscribe links of an email to a lead (`m.lead_id` set), signed with `keys`
/// under `public_url`; none for an email that is not to a lead.
std::optional<tracking_links> tracking_links_for(const actors::email_message& m, const crypto::keyring& keys,
                                                 const std::string& public_url);

/// Builds the message. Fails with `invalid` (subject = the field) when a header value holds a
/// line break or a control character, an address is malformed, text is not UTF-8, or there is
/// no body at all. With `links`, the email is tracked and unsubscribable.
result<composed_message> compose(const actors::email_message& m, const sender_identity& from,
                                 std::chrono::system_clock::time_point now, const tracking_links* links = nullptr);

}  // namespace flowtrack::mail
