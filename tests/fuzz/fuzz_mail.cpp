// libFuzzer target: inbound mail parsing (GMime) and lead extraction on arbitrary bytes. Invariants:
// no crash, leak or hang, and every string that comes out is valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "domain/mail/auth_results.hpp"
#include "domain/mail/lead.hpp"
#include "domain/mail/message.hpp"
#include "domain/mail/text.hpp"

namespace {

namespace mail = flowtrack::domain::mail;

void check(std::string_view s) {
  if (!mail::valid_utf8(s)) std::abort();
}

void check(const mail::auth_results& r) {
  check(r.authserv_id);
  for (const auto& v : r.verdicts) {
    if (v.method.empty() || v.result.empty()) std::abort();
    check(v.method);
    check(v.result);
    check(v.domain);
  }
}

void check(const mail::message& m, int depth) {
  for (const auto* list : {&m.from, &m.reply_to, &m.to, &m.cc})
    for (const auto& b : *list) {
      check(b.name);
      check(b.address);
    }
  check(m.subject);
  check(m.message_id);
  check(m.in_reply_to);
  check(m.text_body);
  check(m.html_body);
  for (const auto& a : m.attachments) {
    check(a.file_name);
    check(a.content_type);
  }
  for (const auto& r : m.authentication_results) {
    check(r);
    if (auto parsed = mail::parse_auth_results(r)) check(*parsed);
  }
  if (depth < 8)
    for (const auto& inner : m.attached_messages) check(inner, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  check(mail::html_to_text(raw));
  if (mail::valid_utf8(raw))
    if (auto r = mail::parse_auth_results(raw)) check(*r);
  auto m = mail::parse(raw);
  if (!m) {
    if (m.err().code != flowtrack::error_code::invalid || m.err().message.empty()) std::abort();
    return 0;
  }
  check(*m, 0);
  const mail::lead_extraction lead = mail::extract_lead(*m);
  for (std::string_view s : {std::string_view(lead.email), std::string_view(lead.name), std::string_view(lead.phone),
                             std::string_view(lead.company_name), std::string_view(lead.subject),
                             std::string_view(lead.body), std::string_view(lead.forwarder.name),
                             std::string_view(lead.forwarder.address), std::string_view(lead.language)})
    check(s);
  for (const auto& n : lead.notes) check(n);
  return 0;
}
