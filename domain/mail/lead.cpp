// The lead of an inbound mail: which text to read, which forwarded block (nested forwards, an
// attached message) names the original sender, and the fallbacks when it names none. Pure.
#include "domain/mail/lead.hpp"

#include <string>
#include <utility>

#include "domain/mail/forward_header.hpp"
#include "domain/mail/lines.hpp"
#include "domain/mail/signature.hpp"
#include "domain/mail/text.hpp"

namespace flowtrack::domain::mail {

namespace {

// Nested forwards followed.
constexpr int max_forward_depth = 6;

// ---- subjects --------------------------------------------------------------------------------

constexpr std::string_view forward_prefixes[] = {"fwd:", "fw:", "wg:", "tr:", "rv:", "i:", "doorst:", "enc:",
                                                 "fwd :", "fw :", "tr :", "wg :", "[fwd:"};

std::string strip_forward_prefixes(std::string_view subject) {
  std::string_view s = trim(subject);
  for (int round = 0; round < 8; ++round) {
    const std::string lower = ascii_lower(s.substr(0, 8));
    bool stripped = false;
    for (auto p : forward_prefixes) {
      if (starts_with(lower, p)) {
        s = trim(s.substr(p.size()));
        if (p == "[fwd:" && !s.empty() && s.back() == ']') s = trim(s.substr(0, s.size() - 1));
        stripped = true;
        break;
      }
    }
    if (!stripped) break;
  }
  return std::string(s);
}

constexpr std::string_view reply_prefixes[] = {"re:", "aw:", "sv:", "antw:", "r:", "rif:", "res:", "vs:", "re :"};

bool subject_marks_reply(std::string_view subject) {
  const std::string lower = ascii_lower(trim(subject).substr(0, 8));
  for (auto p : reply_prefixes)
    if (starts_with(lower, p)) return true;
  return false;
}

// ---- the extraction --------------------------------------------------------------------------

/// Outlook writes the same "From: / Sent:" block (and "-----Original Message-----") under a reply
/// as under a forward. It is a reply when the subject says so, or when the quoted sender is the one
/// the mail goes back to; Gmail, Apple Mail and Thunderbird markers are forwards for sure.
bool quoted_reply(const message& m, const header_block& b) {
  if (b.format != mail_format::outlook && b.format != mail_format::generic) return false;
  if (subject_marks_forward(m.subject)) return false;
  if (subject_marks_reply(m.subject)) return true;
  const std::string quoted = parse_sender(b.from).address;
  for (const auto* list : {&m.to, &m.cc})
    for (const auto& r : *list)
      if (same_address(quoted, r.address)) return true;
  return false;
}

std::string body_text(const message& m, bool& from_html) {
  from_html = false;
  if (!trim(m.text_body).empty()) return normalize(m.text_body);
  if (!trim(m.html_body).empty()) {
    from_html = true;
    return normalize(html_to_text(m.html_body));
  }
  return {};
}

void finish_original(lead_extraction& lead, lines_t text) {
  signature sig = split_signature(text);
  // A bare name closing the text ("...\n\nIsabelle Petit") signs it; it is not content.
  if (text.size() >= 3 && !lead.name.empty() && blank(text[text.size() - 2]) &&
      ascii_lower(trim(text.back())) == ascii_lower(trim(lead.name)))
    text.resize(text.size() - 2);
  lead.body = join_lines(text);
  lead.phone = sig.phone;
  lead.company_name = sig.company;
  if (lead.name.empty()) lead.name = sig.name;
}

/// Lead from forwarded header blocks in `lines`; false when there is none.
bool from_blocks(const lines_t& lines, const message& m, bool loose, lead_extraction& lead) {
  auto block = find_block(lines, 0, lines.size(), loose);
  if (!block || quoted_reply(m, *block)) return false;
  const mailbox forwarder = m.from.empty() ? mailbox{} : m.from.front();
  lead.forwarded = true;
  lead.forwarder = forwarder;
  lead.format = block->format;
  lead.language = block_language(*block);
  lead.forward_depth = 1;

  // The forwarded message's own lines, without Apple Mail's quote level.
  auto forwarded_lines = [&](const header_block& b, const lines_t& src) {
    lines_t out;
    const std::size_t end = std::min(src.size(), b.end + max_scan_lines);
    for (std::size_t i = b.end; i < end; ++i) out.push_back(strip_quote(src[i], b.quote));
    return out;
  };
  header_block current = *block;
  lines_t body = forwarded_lines(current, lines);
  mailbox sender = parse_sender(current.from);
  // Follow older forwards while the forwarded message is only a colleague passing it on.
  while (lead.forward_depth < max_forward_depth) {
    auto nested = find_block(body, 0, body.size(), false);
    if (!nested || !nested->has_from) break;
    const lines_t own = own_text(body, 0, nested->begin);
    std::size_t chars = 0;
    for (const auto& l : own) chars += trim(l).size();
    const bool colleague = !sender.address.empty() && domain_of(sender.address) == domain_of(forwarder.address);
    const bool same_as_forwarder = same_address(sender.address, forwarder.address);
    if (!(colleague || same_as_forwarder || chars < 40 || sender.address.empty())) break;
    lead.notes.push_back("followed a nested forward inside the message from " +
                         (sender.address.empty() ? sender.name : sender.address));
    body = forwarded_lines(*nested, body);
    current = *nested;
    sender = parse_sender(current.from);
    lead.format = nested->format;
    lead.language = block_language(*nested);
    ++lead.forward_depth;
  }
  lead.subject = strip_forward_prefixes(current.has_subject ? current.subject : m.subject);
  lines_t text = own_text(body, 0, body.size());

  if (!current.has_from) {
    lead.notes.push_back("a forward marker without a From line");
  } else if (sender.address.empty()) {
    lead.notes.push_back("the forwarded header names the sender only by name (\"" + sender.name + "\")");
  } else if (same_address(sender.address, forwarder.address)) {
    lead.notes.push_back("the forwarded message was sent by the forwarder itself");
  }
  std::string email = sender.address;
  std::string name = sender.name;
  if (email.empty() || same_address(email, forwarder.address)) {
    const std::string own_sender = email;
    email.clear();
    auto take = [&](const std::string& candidate, const char* why) {
      const std::string a = normalize_address(candidate);
      if (!email.empty() || a.empty() || same_address(a, forwarder.address) || same_address(a, own_sender)) return;
      email = a;
      lead.notes.push_back(why);
    };
    take(current.reply_to, "lead address taken from the forwarded header's Reply-To");
    if (!own_sender.empty()) {
      const mailbox to = parse_sender(current.to);
      take(to.address, "lead address taken from the forwarded message's recipient");
      if (!to.address.empty() && same_address(email, to.address) && !to.name.empty()) name = to.name;
    }
    for (const auto& r : m.reply_to) take(r.address, "lead address taken from the Reply-To header");
    for (const auto& a : m.attached_messages)
      if (!a.from.empty()) take(a.from.front().address, "lead address taken from the attached message");
    // An address in the forwarded text itself (a signature) is the last resort.
    for (const auto& l : text) {
      if (auto f = find_address(l)) take(f->address, "lead address taken from the forwarded message's text");
      if (!email.empty()) break;
    }
    if (email.empty()) {
      lead.notes.push_back("no address for the original sender was found");
      if (!own_sender.empty()) name.clear();
    }
  }
  lead.email = email;
  lead.name = name;
  const bool own_message = same_address(sender.address, forwarder.address);
  finish_original(lead, std::move(text));
  if (own_message) {
    // The signature under the forwarder's own message is the forwarder's, not the lead's.
    lead.phone.clear();
    lead.company_name.clear();
  }
  return true;
}

lead_extraction extract(const message& m, int depth) {
  lead_extraction lead;
  lead.subject = strip_forward_prefixes(m.subject);
  const bool hint = subject_marks_forward(m.subject);

  bool from_html = false;
  const std::string text = body_text(m, from_html);
  lines_t lines = split_lines(text);
  if (from_blocks(lines, m, hint, lead)) {
    lead.from_html = from_html;
    return lead;
  }
  // A text part may lack what the HTML part shows (some clients put only the reply in text).
  if (!from_html && !trim(m.html_body).empty()) {
    lines_t html_lines = split_lines(normalize(html_to_text(m.html_body)));
    lead_extraction html_lead = lead;
    if (from_blocks(html_lines, m, hint, html_lead)) {
      html_lead.from_html = true;
      return html_lead;
    }
  }
  // Forwarded as an attachment: the attached message's sender is the lead.
  if (!m.attached_messages.empty() && depth < 3 && !m.from.empty()) {
    const message& inner = m.attached_messages.front();
    if (!inner.from.empty()) {
      lead_extraction in = extract(inner, depth + 1);
      const mailbox forwarder = m.from.front();
      const bool follow = in.forwarded && domain_of(inner.from.front().address) == domain_of(forwarder.address);
      if (!follow) {
        in = lead_extraction{};
        in.email = normalize_address(inner.from.front().address);
        in.name = inner.from.front().name;
        in.subject = strip_forward_prefixes(inner.subject);
        bool inner_html = false;
        lines_t inner_lines = split_lines(body_text(inner, inner_html));
        finish_original(in, own_text(inner_lines, 0, inner_lines.size()));
        in.from_html = inner_html;
        in.language.clear();
      } else {
        in.notes.push_back("followed a forward inside the attached message");
      }
      in.forwarded = true;
      in.forwarder = forwarder;
      in.format = follow ? in.format : mail_format::rfc822_attachment;
      in.forward_depth = follow ? in.forward_depth + 1 : 1;
      return in;
    }
  }
  lead.format = mail_format::direct;
  lead.from_html = from_html;
  if (!m.from.empty()) {
    lead.email = normalize_address(m.from.front().address);
    lead.name = m.from.front().name;
    if (lead.email.empty()) lead.notes.push_back("the From header has no usable address");
  }
  if (hint) lead.notes.push_back("the subject marks a forward but no forwarded header was found; the sender is the lead");
  finish_original(lead, own_text(lines, 0, lines.size()));
  return lead;
}

void repair_all(lead_extraction& l) {
  for (std::string* s : {&l.email, &l.name, &l.phone, &l.company_name, &l.subject, &l.body, &l.forwarder.name,
                         &l.forwarder.address, &l.language})
    if (!valid_utf8(*s)) *s = repair_utf8(*s);
  for (auto& n : l.notes)
    if (!valid_utf8(n)) n = repair_utf8(n);
}

}  // namespace

std::string_view to_string(mail_format f) {
  switch (f) {
    case mail_format::direct: return "direct";
    case mail_format::gmail: return "gmail";
    case mail_format::outlook: return "outlook";
    case mail_format::apple_mail: return "apple_mail";
    case mail_format::thunderbird: return "thunderbird";
    case mail_format::generic: return "generic";
    case mail_format::rfc822_attachment: return "rfc822_attachment";
  }
  return "direct";
}

bool subject_marks_forward(std::string_view subject) {
  const std::string lower = ascii_lower(trim(subject).substr(0, 8));
  for (auto p : forward_prefixes)
    if (starts_with(lower, p)) return true;
  return false;
}

lead_extraction extract_lead(const message& m) {
  try {
    lead_extraction lead = extract(m, 0);
    repair_all(lead);
    return lead;
  } catch (...) {
    // Only std::bad_alloc can get here; an empty extraction says nothing was found.
    lead_extraction lead;
    lead.notes.push_back("extraction failed: out of memory");
    return lead;
  }
}

}  // namespace flowtrack::domain::mail

