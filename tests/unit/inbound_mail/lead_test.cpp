// extract_lead(): forwarded header blocks, fallbacks, quoted history, signatures and bounds.
#include <gtest/gtest.h>

#include <string>

#include "corpus.hpp"
#include "domain/mail/lead.hpp"
#include "domain/mail/message.hpp"

namespace {

using namespace flowtrack::domain::mail;
using flowtrack::domain::mail::test::read_corpus;

lead_extraction lead_of_file(const std::string& file) {
  auto m = parse(read_corpus(file));
  EXPECT_TRUE(m.ok()) << file;
  return m.ok() ? extract_lead(*m) : lead_extraction{};
}

lead_extraction lead_of(const std::string& raw) {
  auto m = parse(raw);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.err().message);
  return m.ok() ? extract_lead(*m) : lead_extraction{};
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST(inbound_mail_lead, a_direct_message_makes_the_from_sender_the_lead) {
  const auto l = lead_of("From: Kim Lee <Kim.Lee@Example.ORG>\nReply-To: other@example.org\nSubject: Quote\n\n"
                         "Please send a quote.\n");
  EXPECT_EQ(l.email, "Kim.Lee@example.org");
  EXPECT_EQ(l.name, "Kim Lee");
  EXPECT_EQ(l.format, mail_format::direct);
  EXPECT_FALSE(l.forwarded);
  EXPECT_EQ(l.subject, "Quote");
  EXPECT_EQ(l.body, "Please send a quote.");
}

TEST(inbound_mail_lead, a_forward_names_the_original_sender_and_the_forwarder) {
  const auto l = lead_of_file("gmail_en.eml");
  EXPECT_EQ(l.email, "robert.miller@millerbuild.com");
  EXPECT_TRUE(l.forwarded);
  EXPECT_EQ(l.forwarder.address, "tom.harris@nordlicht-solar.com");
  EXPECT_EQ(l.forwarder.name, "Tom Harris");
  EXPECT_EQ(l.subject, "Solar panels for our warehouse roof");
  EXPECT_EQ(l.forward_depth, 1);
  EXPECT_EQ(l.body,
            "Hi Tom,\n\nwe are planning to put solar panels on our warehouse roof (about 1,200 m\xC2\xB2)\n"
            "and would like a quote, including storage.\n\nCould you call me this week?");
}

TEST(inbound_mail_lead, strips_quoted_history_from_the_body) {
  const auto direct = lead_of_file("direct_reply_quoted.eml");
  EXPECT_EQ(direct.body, "Buongiorno,\n\nl'offerta va bene, procediamo con 10.000 etichette.");
  const auto fwd = lead_of_file("gmail_reply_history.eml");
  EXPECT_TRUE(contains(fwd.body, "Please send the SOW")) << fwd.body;
  EXPECT_FALSE(contains(fwd.body, "following up")) << fwd.body;
  EXPECT_FALSE(contains(fwd.body, "wrote")) << fwd.body;
  EXPECT_FALSE(contains(fwd.body, "Mobile")) << fwd.body;
  EXPECT_EQ(fwd.subject, "Re: Data warehouse migration");
  // An older forward inside the customer's own message is history, not the lead.
  const auto older = lead_of_file("nested_customer_history.eml");
  EXPECT_EQ(older.email, "lena.gruber@gruber-moebel.at");
  EXPECT_TRUE(contains(older.body, "Touren Wien"));
  EXPECT_FALSE(contains(older.body, "Betrieb")) << older.body;
  EXPECT_FALSE(contains(older.body, "Ursp")) << older.body;
}

TEST(inbound_mail_lead, follows_forwards_between_colleagues_to_the_customer) {
  const auto l = lead_of_file("nested_colleague.eml");
  EXPECT_EQ(l.email, "ingrid.dahl@dahl-regnskap.no");
  EXPECT_EQ(l.forward_depth, 2);
  EXPECT_EQ(l.forwarder.address, "hanna.berg@fjord-cloud.no");
  EXPECT_EQ(l.subject, "Backup solution for 3 offices");
  EXPECT_FALSE(contains(l.body, "out this week")) << l.body;
}

TEST(inbound_mail_lead, reads_phone_and_company_from_the_signature) {
  const auto l = lead_of("From: Anna <anna@weber-logistik.de>\nSubject: Hi\n\nWe need a quote.\n\n"
                         "Best regards,\nAnna Weber\nWeber Logistik GmbH\n+49 30 1234567\n");
  EXPECT_EQ(l.phone, "+49 30 1234567");
  EXPECT_EQ(l.company_name, "Weber Logistik GmbH");
  EXPECT_EQ(l.body, "We need a quote.");
  const auto labelled = lead_of("From: bo@x-corp.example\nSubject: Hi\n\nCall me.\n\n-- \nBo Svensson\n"
                                "Fax: +46 8 111 111\nTel: +46 8 123 456 78\nCompany: X Corp\n");
  EXPECT_EQ(labelled.phone, "+46 8 123 456 78");  // not the fax
  EXPECT_EQ(labelled.company_name, "X Corp");
  EXPECT_EQ(labelled.name, "Bo Svensson");  // From has no name: the signature's
  EXPECT_EQ(labelled.body, "Call me.");
  const auto one_line = lead_of("From: Anna <anna@weber.example>\nSubject: Hi\n\nCall me.\n\nRegards\n"
                                "Anna Weber \xC2\xB7 Weber Logistik GmbH \xC2\xB7 +49 30 1234567\n");
  EXPECT_EQ(one_line.phone, "+49 30 1234567");
  EXPECT_EQ(one_line.company_name, "Weber Logistik GmbH");
  const auto none = lead_of("From: a@b.example\nSubject: Hi\n\nOur order 2024-03-05 was 12.03.2024.\n");
  EXPECT_EQ(none.phone, "");
  EXPECT_EQ(none.company_name, "");
}

TEST(inbound_mail_lead, falls_back_when_the_forwarded_header_names_only_a_name) {
  const auto by_text = lead_of_file("outlook_name_only.eml");
  EXPECT_EQ(by_text.email, "peter.hoffmann@hv-hoffmann.de");
  EXPECT_EQ(by_text.name, "Peter Hoffmann");
  EXPECT_FALSE(by_text.notes.empty());
  const auto by_reply_to = lead_of_file("outlook_name_only_replyto.eml");
  EXPECT_EQ(by_reply_to.email, "martina.keller@bluewin.ch");
  const auto nothing = lead_of("From: Sales <sales@ourco.example>\nSubject: FW: Hi\n\n"
                               "From: Jane Roe\nSent: Monday, March 4, 2024 10:15 AM\nTo: Sales\nSubject: Hi\n\n"
                               "Please call me.\n");
  EXPECT_TRUE(nothing.forwarded);
  EXPECT_EQ(nothing.email, "");
  EXPECT_EQ(nothing.name, "Jane Roe");
  EXPECT_EQ(nothing.format, mail_format::outlook);
  ASSERT_GE(nothing.notes.size(), 2u);
  EXPECT_TRUE(contains(nothing.notes[0], "only by name")) << nothing.notes[0];
}

TEST(inbound_mail_lead, an_outlook_reply_is_not_a_forward) {
  // Outlook quotes a reply with the same "From: / Sent:" block as a forward.
  const auto re = lead_of_file("direct_outlook_reply.eml");
  EXPECT_EQ(re.format, mail_format::direct);
  EXPECT_EQ(re.email, "oliver.grant@grant-architects.co.uk");
  EXPECT_EQ(re.body, "Hello,\n\nThanks for the quote. Could you add two extra meeting-room screens?");
  // No prefix in the subject, but the quoted sender is whom the reply goes to.
  const auto plain = lead_of("From: Eva <eva@roth.example>\nTo: Sales <sales@ourco.example>\nSubject: Quote\n\n"
                             "Yes, go ahead.\n\nFrom: Sales <sales@ourco.example>\nSent: Monday\nTo: Eva\n"
                             "Subject: Quote\n\nHere is the quote.\n");
  EXPECT_EQ(plain.format, mail_format::direct);
  EXPECT_EQ(plain.email, "eva@roth.example");
  EXPECT_EQ(plain.body, "Yes, go ahead.");
  // The same block under a forward prefix is a forward.
  const auto fw = lead_of("From: Sales <sales@ourco.example>\nTo: leads@in.example\nSubject: FW: Quote\n\n"
                          "From: Eva <eva@roth.example>\nSent: Monday\nTo: Sales\nSubject: Quote\n\nA quote?\n");
  EXPECT_EQ(fw.format, mail_format::outlook);
  EXPECT_EQ(fw.email, "eva@roth.example");
}

TEST(inbound_mail_lead, reads_a_forwarded_sender_split_over_two_lines) {
  const auto wrapped = lead_of("From: Sales <sales@ourco.example>\nSubject: FW: Hi\n\n"
                               "From: Dr. Maximiliane von Hohenstein-Lichtenberg\n<mvh@hohenstein.example>\n"
                               "Sent: Monday, March 4, 2024 10:15 AM\nTo: Sales\nSubject: Hi\n\nPlease call me.\n");
  EXPECT_EQ(wrapped.email, "mvh@hohenstein.example");
  EXPECT_EQ(wrapped.name, "Dr. Maximiliane von Hohenstein-Lichtenberg");
  EXPECT_EQ(wrapped.body, "Please call me.");
  const auto cells = lead_of("From: Sales <sales@ourco.example>\nSubject: WG: Hallo\nContent-Type: text/html\n\n"
                             "<table><tr><td><b>Von:</b></td></tr><tr><td>Eva Roth &lt;eva@roth.example&gt;</td></tr>"
                             "<tr><td><b>Gesendet:</b> Montag</td></tr><tr><td><b>Betreff:</b> Hallo</td></tr></table>"
                             "<p>Bitte um R&uuml;ckruf.</p>");
  EXPECT_EQ(cells.email, "eva@roth.example");
  EXPECT_EQ(cells.name, "Eva Roth");
  EXPECT_EQ(cells.language, "de");
  EXPECT_TRUE(cells.from_html);
  EXPECT_EQ(cells.body, "Bitte um R\xC3\xBC" "ckruf.");
}

TEST(inbound_mail_lead, a_forward_of_the_forwarders_own_mail_makes_its_recipient_the_lead) {
  const auto l = lead_of_file("forward_own_sent.eml");
  EXPECT_EQ(l.email, "martin.dvorak@dvorak-legal.cz");
  EXPECT_EQ(l.name, "Martin Dvo\xC5\x99\xC3\xA1k");
  EXPECT_EQ(l.company_name, "");  // the signature there is the forwarder's
  EXPECT_FALSE(l.notes.empty());
}

TEST(inbound_mail_lead, an_attached_message_gives_the_original_sender) {
  const auto l = lead_of_file("rfc822_attachment.eml");
  EXPECT_EQ(l.format, mail_format::rfc822_attachment);
  EXPECT_EQ(l.email, "hannah.klein@klein-events.de");
  EXPECT_EQ(l.forwarder.address, "t.roth@eventtechnik-sued.de");
  EXPECT_EQ(l.subject, "Technik f\xC3\xBCr Firmenjubil\xC3\xA4um");
  EXPECT_TRUE(contains(l.body, "Firmenjubil\xC3\xA4um am 20. April"));
}

TEST(inbound_mail_lead, knows_forward_subject_prefixes) {
  for (const char* s : {"Fwd: x", "FW: x", "WG: x", "TR: x", "RV: x", "I: x", "Doorst: x", "ENC: x", "Fw : x"})
    EXPECT_TRUE(subject_marks_forward(s)) << s;
  for (const char* s : {"Re: x", "Info: x", "x", ""}) EXPECT_FALSE(subject_marks_forward(s)) << s;
  const auto l = lead_of_file("direct_subject_fwd_no_block.eml");
  EXPECT_EQ(l.format, mail_format::direct);
  EXPECT_EQ(l.subject, "Listing photos");
  EXPECT_FALSE(l.notes.empty());
}

TEST(inbound_mail_lead, looks_for_forward_headers_only_in_the_first_part_of_a_huge_body) {
  std::string raw = "From: fwd@ourco.example\nSubject: Fwd: big\n\n";
  raw += std::string(400 * 1024, 'a') + "\n";
  raw += "---------- Forwarded message ---------\nFrom: Late <late@example.org>\nDate: x\nSubject: y\n\nhi\n";
  const auto l = lead_of(raw);
  EXPECT_EQ(l.format, mail_format::direct);
  EXPECT_EQ(l.email, "fwd@ourco.example");
  EXPECT_LE(l.body.size(), max_scan_bytes);
}

TEST(inbound_mail_lead, an_empty_message_value_gives_an_empty_lead) {
  const lead_extraction l = extract_lead(message{});
  EXPECT_EQ(l.email, "");
  EXPECT_EQ(l.format, mail_format::direct);
}

}  // namespace
