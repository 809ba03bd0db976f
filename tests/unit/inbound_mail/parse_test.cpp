// parse(): headers, charsets, transfer encodings, attachments, attached messages, refusals and
// concurrent use; the text helpers (to_utf8, html_to_text, UTF-8 repair).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "corpus.hpp"
#include "domain/mail/lead.hpp"
#include "domain/mail/message.hpp"
#include "domain/mail/text.hpp"

namespace {

using namespace flowtrack::domain::mail;
using flowtrack::error_code;
using flowtrack::domain::mail::test::read_corpus;

message parsed(const std::string& file) {
  auto m = parse(read_corpus(file));
  EXPECT_TRUE(m.ok()) << file << ": " << (m.ok() ? "" : m.err().message);
  return m.ok() ? std::move(m).value() : message{};
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST(inbound_mail_parse, reads_addresses_subject_date_ids_and_authentication_results) {
  const message m = parsed("gmail_multipart_alt.eml");
  ASSERT_EQ(m.from.size(), 1u);
  EXPECT_EQ(m.from[0].name, "Nina Patel");
  EXPECT_EQ(m.from[0].address, "nina@brightpath.io");
  ASSERT_EQ(m.reply_to.size(), 1u);
  ASSERT_EQ(m.to.size(), 1u);
  EXPECT_EQ(m.to[0].address, "leads@in.flowtrack.io");
  ASSERT_EQ(m.cc.size(), 1u);
  EXPECT_EQ(m.cc[0].name, "Raj Singh");
  EXPECT_EQ(m.subject, "Fwd: Onboarding workshop for 40 people");
  ASSERT_TRUE(m.date.has_value());
  EXPECT_EQ(m.date->time_since_epoch().count(), 1709652040);  // 2024-03-05T15:20:40Z
  EXPECT_EQ(m.message_id, "CAMn4Oq5tV9@mail.gmail.com");
  ASSERT_EQ(m.authentication_results.size(), 2u);
  EXPECT_EQ(m.authentication_results[0], "mx.flowtrack.io; dkim=pass header.d=brightpath.io");
  EXPECT_TRUE(contains(m.text_body, "Great meeting you at SaaStr"));
  EXPECT_TRUE(contains(m.html_body, "gmail_quote"));
}

TEST(inbound_mail_parse, unfolds_authentication_results) {
  const message m = parsed("gmail_en.eml");
  ASSERT_EQ(m.authentication_results.size(), 1u);
  const std::string& v = m.authentication_results[0];
  EXPECT_EQ(v.find('\n'), std::string::npos);
  EXPECT_EQ(v.rfind("mx.flowtrack.io;", 0), 0u) << v;
  EXPECT_TRUE(contains(v, "dkim=pass header.d=nordlicht-solar.com")) << v;
  EXPECT_TRUE(contains(v, "spf=pass (mx.flowtrack.io: domain of")) << v;
}

TEST(inbound_mail_parse, reads_raw_8bit_headers_as_utf8_or_windows_1252) {
  auto latin = parse("From: J\xF6rg <j@example.de>\nSubject: F\xFCr Sie \x80 5\n\nx\n");
  ASSERT_TRUE(latin.ok());
  EXPECT_EQ(latin->from[0].name, "J\xC3\xB6rg");
  EXPECT_EQ(latin->subject, "F\xC3\xBCr Sie \xE2\x82\xAC 5");
  auto utf8 = parse("From: J\xC3\xB6rg <j@example.de>\nSubject: F\xC3\xBCr Sie\n\nx\n");
  ASSERT_TRUE(utf8.ok());
  EXPECT_EQ(utf8->subject, "F\xC3\xBCr Sie");
}

TEST(inbound_mail_parse, reads_in_reply_to_without_brackets) {
  const message m = parsed("direct_reply_quoted.eml");
  EXPECT_EQ(m.in_reply_to, "offer-42@in.flowtrack.io");
}

TEST(inbound_mail_parse, decodes_encoded_words_in_names_and_subjects) {
  const message a = parsed("direct_encoded_name.eml");
  EXPECT_EQ(a.from[0].name, "Zo\xC3\xAB \xC3\x85kesson");
  EXPECT_EQ(a.subject, "Demo av bokningssystem f\xC3\xB6r yogastudio");
  const message b = parsed("direct_de_latin1.eml");
  EXPECT_EQ(b.from[0].name, "Dr. J\xC3\xB6rg Wei\xC3\x9F");
  const message c = parsed("gmail_iso2022jp.eml");
  EXPECT_EQ(c.from[0].name, "\xE4\xBD\x90\xE8\x97\xA4 \xE8\x8A\xB1\xE5\xAD\x90");  // 佐藤 花子
  EXPECT_EQ(c.subject, "Fwd: \xE8\xA6\x8B\xE7\xA9\x8D\xE3\x82\x82\xE3\x82\x8A\xE4\xBE\x9D\xE9\xA0\xBC");
}

TEST(inbound_mail_parse, decodes_bodies_from_any_charset_and_transfer_encoding) {
  // iso-8859-1, 8bit
  EXPECT_TRUE(contains(parsed("direct_de_latin1.eml").text_body, "f\xC3\xBCr unsere Zahnarztpraxis in K\xC3\xB6ln"));
  // windows-1252, quoted-printable: curly apostrophe, euro sign, en dash
  const message w = parsed("outlook_en_classic.eml");
  EXPECT_TRUE(contains(w.text_body, "We\xE2\x80\x99re moving")) << w.text_body;
  EXPECT_TRUE(contains(w.text_body, "\xE2\x82\xAC" "80,000"));
  EXPECT_EQ(w.subject, "FW: Enquiry \xE2\x80\x93 office refurbishment");
  // iso-2022-jp, 7bit
  EXPECT_TRUE(contains(parsed("gmail_iso2022jp.eml").text_body, "\xE8\xA6\x8B\xE7\xA9\x8D\xE3\x82\x82\xE3\x82\x8A"));
  // utf-8, base64
  EXPECT_TRUE(contains(parsed("gmail_es.eml").text_body, "\xC2\xBFPodr\xC3\xAD" "an visitarnos"));
  // iso-8859-1, quoted-printable
  EXPECT_TRUE(contains(parsed("gmail_fr.eml").text_body, "l'am\xC3\xA9nagement de votre boutique"));
  // html only, quoted-printable; no text part
  const message h = parsed("gmail_html_only.eml");
  EXPECT_TRUE(h.text_body.empty());
  EXPECT_TRUE(contains(h.html_body, "gmail_sendername"));
}

TEST(inbound_mail_parse, lists_attachments_with_decoded_sizes) {
  const message m = parsed("direct_with_attachment.eml");
  ASSERT_EQ(m.attachments.size(), 2u);
  EXPECT_EQ(m.attachments[0].file_name, "RFQ-2024-031.pdf");
  EXPECT_EQ(m.attachments[0].content_type, "application/pdf");
  EXPECT_EQ(m.attachments[0].size, 3016u);
  EXPECT_EQ(m.attachments[1].file_name, "Regal Ma\xC3\x9F" "e.png");
  EXPECT_EQ(m.attachments[1].content_type, "image/png");
  EXPECT_EQ(m.attachments[1].size, 520u);
  EXPECT_TRUE(contains(m.text_body, "please find attached our RFQ"));
  EXPECT_FALSE(contains(m.text_body, "PDF"));
}

TEST(inbound_mail_parse, keeps_attached_messages_parsed) {
  const message m = parsed("rfc822_attachment.eml");
  ASSERT_EQ(m.attached_messages.size(), 1u);
  const message& inner = m.attached_messages[0];
  ASSERT_EQ(inner.from.size(), 1u);
  EXPECT_EQ(inner.from[0].address, "hannah.klein@klein-events.de");
  EXPECT_EQ(inner.subject, "Technik f\xC3\xBCr Firmenjubil\xC3\xA4um");
  EXPECT_TRUE(contains(inner.text_body, "Licht-"));
  ASSERT_EQ(m.attachments.size(), 2u);
  EXPECT_EQ(m.attachments[0].content_type, "message/rfc822");
  EXPECT_EQ(m.attachments[0].file_name, "Technik fuer Firmenjubilaeum.eml");
  EXPECT_GT(m.attachments[0].size, 500u);
  EXPECT_EQ(m.attachments[1].file_name, "Raumplan.pdf");
  EXPECT_EQ(m.attachments[1].size, 1083u);
  EXPECT_EQ(m.text_body, "Siehe Anhang.\n");
}

TEST(inbound_mail_parse, refuses_input_that_is_not_a_message) {
  for (const std::string& raw : {std::string(), std::string("hello world"), std::string("\n\nJust some text\n"),
                                std::string("<html><body>hi</body></html>"), std::string("\x00\x01\x02:\xff", 5)}) {
    auto m = parse(raw);
    ASSERT_FALSE(m.ok()) << raw;
    EXPECT_EQ(m.err().code, error_code::invalid);
    EXPECT_TRUE(contains(m.err().message, "not a mail message")) << m.err().message;
  }
  auto no_from = parse("Subject: hello\r\nTo: a@b.example\r\n\r\nbody\r\n");
  ASSERT_FALSE(no_from.ok());
  EXPECT_EQ(no_from.err().code, error_code::invalid);
  EXPECT_EQ(no_from.err().message, "not a mail message: no From header with an address");
  auto nested = parse("From: a@b.example\r\n\r\n" + std::string(300, 'x') +
                      [] {
                        std::string s;
                        for (int i = 0; i < 300; ++i) s += "Content-Type: multipart/mixed; boundary=b\r\n";
                        return s;
                      }());
  ASSERT_FALSE(nested.ok());
  EXPECT_TRUE(contains(nested.err().message, "multipart")) << nested.err().message;
}

TEST(inbound_mail_parse, accepts_a_bare_message_with_lf_line_ends) {
  auto m = parse("From: Kim <kim@example.org>\nSubject: hi\n\nhello\n");
  ASSERT_TRUE(m.ok()) << m.err().message;
  EXPECT_EQ(m->from[0].address, "kim@example.org");
  EXPECT_EQ(m->text_body, "hello\n");
  EXPECT_FALSE(m->date.has_value());
}

TEST(inbound_mail_parse, gives_the_same_result_on_many_threads_at_once) {
  const std::vector<std::string> files = {"gmail_de.eml", "gmail_iso2022jp.eml", "outlook_en_classic.eml",
                                          "direct_with_attachment.eml", "rfc822_attachment_html.eml",
                                          "apple_html.eml", "outlook_fr.eml", "direct_de_latin1.eml"};
  std::vector<std::string> raws;
  std::vector<std::string> expected;
  for (const auto& f : files) {
    raws.push_back(read_corpus(f));
    auto m = parse(raws.back());
    ASSERT_TRUE(m.ok()) << f;
    const lead_extraction l = extract_lead(*m);
    expected.push_back(m->subject + "|" + m->text_body + "|" + m->html_body + "|" + l.email + "|" + l.body);
  }
  std::atomic<int> mismatches{0};
  std::atomic<int> runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 40; ++round) {
        const std::size_t i = static_cast<std::size_t>(t + round) % raws.size();
        auto m = parse(raws[i]);
        if (!m.ok()) {
          ++mismatches;
          continue;
        }
        const lead_extraction l = extract_lead(*m);
        if (m->subject + "|" + m->text_body + "|" + m->html_body + "|" + l.email + "|" + l.body != expected[i])
          ++mismatches;
        ++runs;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(runs.load(), 8 * 40);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(inbound_mail_text, converts_charsets_and_repairs_bytes) {
  EXPECT_EQ(to_utf8("caf\xE9 \x80", "iso-8859-1"), "caf\xC3\xA9 \xE2\x82\xAC");  // read as windows-1252
  EXPECT_EQ(to_utf8("caf\xE9", ""), "caf\xC3\xA9");                              // no charset, not UTF-8
  EXPECT_EQ(to_utf8("caf\xC3\xA9", ""), "caf\xC3\xA9");                          // no charset, UTF-8
  EXPECT_EQ(to_utf8("caf\xE9", "x-no-such-charset"), "caf\xC3\xA9");
  EXPECT_EQ(to_utf8("\xC4\xE5", "koi8-r"), "\xD0\xB4\xD0\x95");  // дЕ
  EXPECT_TRUE(valid_utf8(to_utf8("ok \xC3\x28 \xFF", "utf-8")));
  EXPECT_EQ(repair_utf8("a\xC3\x28" "b"), "a\xEF\xBF\xBD(b");
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));  // a surrogate
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));      // an overlong '/'
  EXPECT_TRUE(valid_utf8("\xF0\x9F\x98\x80"));
}

TEST(inbound_mail_text, turns_html_into_text) {
  EXPECT_EQ(html_to_text("<p>Hello&nbsp;<b>World</b></p><p>A&amp;B &lt;x&gt; &#8364; &#x20AC; &eacute;</p>"),
            "Hello World\n\nA&B <x> \xE2\x82\xAC \xE2\x82\xAC \xC3\xA9");
  EXPECT_EQ(html_to_text("line one<br>line two<div>block</div>"), "line one\nline two\nblock");
  EXPECT_EQ(html_to_text("<style>p{color:red}</style><script>alert(1)</script>text<!-- hidden -->"), "text");
  EXPECT_EQ(html_to_text("From: <a href=\"mailto:anna@x.de\">Anna Weber</a>"), "From: Anna Weber <anna@x.de>");
  EXPECT_EQ(html_to_text("<blockquote type=\"cite\">quoted<br>two</blockquote>after"), "> quoted\n> two\nafter");
  EXPECT_EQ(html_to_text("a < b and c"), "a < b and c");
  EXPECT_EQ(html_to_text("x&unknown;y"), "x&unknown;y");
}

}  // namespace
