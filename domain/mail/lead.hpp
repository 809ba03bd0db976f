// Who the lead of an inbound mail is: the sender of a message sent straight to the intake address,
// or the ORIGINAL sender of a forwarded one (Gmail, Outlook, Apple Mail, Thunderbird, HTML-only,
// attached message/rfc822), with the original text, subject and signature details. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "domain/mail/message.hpp"

namespace flowtrack::domain::mail {

/// How the lead was found: the mail client style of the forwarded header block, or none.
enum class mail_format {
  direct,             ///< no forward: the From header's sender is the lead
  gmail,              ///< "---------- Forwarded message ---------" and its translations
  outlook,            ///< "From: / Sent: / To: / Subject:" blocks (desktop, OWA, new Outlook)
  apple_mail,         ///< "Begin forwarded message:" and its translations
  thunderbird,        ///< "-------- Forwarded Message --------" and its translations
  generic,            ///< another forwarded header block (Yahoo, a "From:/Date:" block)
  rfc822_attachment,  ///< the original travels as an attached message/rfc822 part
};

/// The stable lower-case name ("direct", "gmail", "outlook", "apple_mail", ...).
std::string_view to_string(mail_format f);

/// What extract_lead found. Every string is valid UTF-8.
struct lead_extraction {
  std::string email;         ///< the lead's address, domain lower-cased; empty when none was found
  std::string name;          ///< display name, else a name read from the signature
  std::string phone;         ///< from the original message's signature, as written
  std::string company_name;  ///< from the original message's signature
  std::string subject;       ///< the original subject, forward prefixes (Fwd:, WG:, ...) removed
  std::string body;          ///< the original text without quoted history and signature
  bool forwarded = false;
  mailbox forwarder;         ///< who forwarded it (the From header), when forwarded
  mail_format format = mail_format::direct;
  bool from_html = false;    ///< the text was read from the HTML body
  std::string language;      ///< of the forwarded header block ("en", "de", "fr", ...); empty when unknown
  int forward_depth = 0;     ///< forwarded blocks followed (nested forwards count each)
  std::vector<std::string> notes;  ///< fallbacks taken and doubts, for people reading the lead
};

/// Finds the lead of a parsed message. Never throws; bounded work on any input (only the first
/// `max_scan_bytes` of body text are searched for forwarded header blocks).
lead_extraction extract_lead(const message& m);

/// How much body text extract_lead reads.
inline constexpr std::size_t max_scan_bytes = 256u * 1024u;

/// Whether the subject starts with a forward prefix (Fwd:, FW:, WG:, TR:, RV:, I:, Doorst:, ENC:).
bool subject_marks_forward(std::string_view subject);

}  // namespace flowtrack::domain::mail
