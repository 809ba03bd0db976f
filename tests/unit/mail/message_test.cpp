// Message composition without a server: addresses, Message-IDs, header encodings, line
// lengths, quoted-printable, and every way a header could be broken into.
#include <gtest/gtest.h>

#include <sstream>

#include <openssl/evp.h>

#include "adapters/mail/message.hpp"

namespace flowtrack::mail {
namespace {

using namespace std::chrono_literals;

std::string decode_qp(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
    } else if (s.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;  // soft line break
    } else {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

std::string b64_decode(const std::string& s) {
  std::string out(s.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  std::size_t pad = s.size() - s.find_last_not_of('=') - 1;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

/// Decodes a run of "=?UTF-8?B?...?=" words separated by folding white space.
std::string decode_words(const std::string& s) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = s.find("=?UTF-8?B?", pos)) != std::string::npos) {
    auto end = s.find("?=", pos + 10);
    out += b64_decode(s.substr(pos + 10, end - pos - 10));
    pos = end + 2;
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto end = s.find("\r\n", start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 2;
  }
}

actors::email_message sample() {
  actors::email_message m;
  m.idempotency_key = "0b6d:node";
  m.from_name = "Acme";
  m.to = "lead@example.com";
  m.subject = "Hi";
  m.text_body = "Hello";
  return m;
}

const sender_identity k_from{"noreply@intake.example", "intake.example"};
const auto k_now = std::chrono::system_clock::from_time_t(1762248600);  // 2025-11-04 09:30:00 UTC

TEST(mail_address, accepts_ordinary_addresses_and_trims_blanks) {
  for (std::string a : {"a@b.co", "first.last+tag@mail.example.com", "o'brien@example.ie", "x_y-z@sub-domain.example",
                        "user@localhost"})
    EXPECT_TRUE(check_address(a, "to").ok()) << a;
  EXPECT_EQ(*check_address("  ada@example.com\t", "to"), "ada@example.com");
}

TEST(mail_address, rejects_what_is_not_a_bare_ascii_address) {
  for (std::string a : std::vector<std::string>{"", "   ", "ada", "ada@", "@example.com", "a..b@example.com", ".a@example.com", "a.@example.com",
                        "a b@example.com", "Ada <ada@example.com>", "a@b.com, c@d.com", "a@-b.com", "a@b-.com", "a@b..com",
                        "\"quoted\"@example.com", "ädä@example.com", "a@exämple.com", "a@[127.0.0.1]",
                        std::string(65, 'a') + "@example.com", "a@" + std::string(64, 'b') + ".com"}) {
    auto r = check_address(a, "reply_to");
    ASSERT_FALSE(r.ok()) << a;
    EXPECT_EQ(r.err().code, error_code::invalid);
    EXPECT_EQ(r.err().subject, "reply_to");
  }
  auto r = check_address("a@b.com\r\nBcc: c@d.com", "to");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.err().message.find("line break"), std::string::npos);
}

TEST(message_id, is_deterministic_distinct_and_a_valid_msg_id) {
  EXPECT_EQ(message_id_for("exec:node", "d.example"), message_id_for("exec:node", "d.example"));
  EXPECT_EQ(message_id_for("6f1c-2a:node_1", "d.example"), "<6f1c-2a=3Anode_1@d.example>");
  // Escaping '=' keeps different keys apart.
  EXPECT_NE(message_id_for("a:b", "d"), message_id_for("a=3Ab", "d"));
  EXPECT_NE(message_id_for("a b", "d"), message_id_for("a_b", "d"));
  auto id = message_id_for("x\r\n<evil>@\"y\"", "d.example");
  EXPECT_EQ(id.find_first_of("\r\n \"", 0), std::string::npos) << id;
  EXPECT_EQ(id.find('<', 1), std::string::npos) << id;
  std::string long_key(300, 'k');
  auto hashed = message_id_for(long_key, "d.example");
  EXPECT_LT(hashed.size(), 100u);
  EXPECT_EQ(hashed, message_id_for(long_key, "d.example"));
  EXPECT_NE(hashed, message_id_for(long_key + "x", "d.example"));
}

TEST(header_encoding, short_ascii_stays_as_it_is) {
  EXPECT_EQ(encode_unstructured("Welcome aboard", 7), "Welcome aboard");
  EXPECT_EQ(encode_phrase("Acme \"Sales\" \\ Co"), "\"Acme \\\"Sales\\\" \\\\ Co\"");
}

TEST(header_encoding, long_ascii_is_folded_at_spaces_and_unfolds_to_the_original) {
  std::string s;
  for (int i = 0; i < 60; ++i) s += "word" + std::to_string(i) + " ";
  s += "end";
  auto folded = encode_unstructured(s, 7);
  auto lines = lines_of("Subject: " + folded);
  EXPECT_GT(lines.size(), 3u);
  for (const auto& l : lines) EXPECT_LE(l.size(), 78u) << l;
  std::string unfolded = folded;
  for (std::size_t p; (p = unfolded.find("\r\n")) != std::string::npos;) unfolded.erase(p, 2);
  EXPECT_EQ(unfolded, s);
}

TEST(header_encoding, an_unbreakable_ascii_run_longer_than_998_is_encoded) {
  std::string s(1200, 'x');
  auto out = encode_unstructured(s, 7);
  for (const auto& l : lines_of(out)) EXPECT_LE(l.size(), 78u);
  EXPECT_EQ(decode_words(out), s);
}

TEST(header_encoding, non_ascii_becomes_encoded_words_split_on_character_boundaries) {
  std::string s = "Grüße aus Köln — 日本語のテキスト 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉 and more";
  auto out = encode_unstructured(s, 7);
  for (const auto& l : lines_of(out)) {
    EXPECT_LE(l.size(), 76u) << l;
    auto word = l.substr(l.find("=?"));
    EXPECT_LE(word.size(), 75u);
    // Each word decodes to whole UTF-8 characters on its own.
    EXPECT_TRUE(valid_utf8(decode_words(word))) << word;
  }
  EXPECT_EQ(decode_words(out), s);
  EXPECT_EQ(decode_words(encode_phrase("Zoë")), "Zoë");
}

TEST(header_encoding, text_that_looks_like_an_encoded_word_is_encoded) {
  std::string s = "=?UTF-8?B?SGk=?=";
  auto out = encode_unstructured(s, 7);
  EXPECT_EQ(decode_words(out), s);
}

TEST(quoted_printable, round_trips_and_keeps_lines_short) {
  std::string text = std::string(500, 'a') + " tail \r\n\r\n.leading dot\r\ntab\tend\t\r\nünïcödé = 100% \r\n" +
                     std::string(100, '.') + "\r\nlast";
  auto qp = quoted_printable(text);
  EXPECT_EQ(decode_qp(qp), text);
  for (const auto& l : lines_of(qp)) {
    EXPECT_LE(l.size(), 76u) << l;
    EXPECT_FALSE(!l.empty() && (l.back() == ' ' || l.back() == '\t')) << "trailing white space: " << l;
    EXPECT_FALSE(!l.empty() && l[0] == '.') << "leading dot: " << l;
    for (unsigned char c : l) EXPECT_TRUE((c >= 32 && c < 127) || c == '\t') << l;
  }
}

TEST(date, is_rfc5322_in_utc) { EXPECT_EQ(rfc5322_date(k_now), "Tue, 04 Nov 2025 09:30:00 +0000"); }

TEST(compose, writes_every_header_with_crlf_line_ends) {
  auto m = sample();
  m.reply_to = "owner@acme.example";
  m.text_body = "line one\nline two\rline three\r\n";
  auto r = compose(m, k_from, k_now);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->sender, "noreply@intake.example");
  EXPECT_EQ(r->recipient, "lead@example.com");
  EXPECT_EQ(r->message_id, "<0b6d=3Anode@intake.example>");
  const auto& t = r->text;
  auto head = t.substr(0, t.find("\r\n\r\n") + 2);
  EXPECT_EQ(head,
            "Date: Tue, 04 Nov 2025 09:30:00 +0000\r\n"
            "From: \"Acme\" <noreply@intake.example>\r\n"
            "To: lead@example.com\r\n"
            "Reply-To: owner@acme.example\r\n"
            "Subject: Hi\r\n"
            "Message-ID: <0b6d=3Anode@intake.example>\r\n"
            "Auto-Submitted: auto-generated\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n");
  EXPECT_EQ(decode_qp(t.substr(t.find("\r\n\r\n") + 4)), "line one\r\nline two\r\nline three\r\n");
  for (std::size_t i = 0; i < t.size(); ++i)
    if (t[i] == '\n') {
      ASSERT_TRUE(i > 0 && t[i - 1] == '\r') << "bare LF at " << i;
    }
}

TEST(compose, both_bodies_make_multipart_alternative_with_a_boundary_no_body_contains) {
  auto m = sample();
  m.text_body = "--=_ft_ not a boundary";
  m.html_body = "<p>=_ft_</p>";
  auto r = compose(m, k_from, k_now);
  ASSERT_TRUE(r.ok());
  const auto& t = r->text;
  auto ct = t.find("Content-Type: multipart/alternative; boundary=\"");
  ASSERT_NE(ct, std::string::npos);
  auto b_start = ct + 47;
  auto boundary = t.substr(b_start, t.find('"', b_start) - b_start);
  EXPECT_EQ(boundary.rfind("=_ft_", 0), 0u);
  std::size_t count = 0;
  for (auto p = t.find("--" + boundary); p != std::string::npos; p = t.find("--" + boundary, p + 1)) ++count;
  EXPECT_EQ(count, 3u);  // two part openers and the closer
  EXPECT_NE(t.find("--" + boundary + "--\r\n"), std::string::npos);
  EXPECT_LT(t.find("text/plain"), t.find("text/html"));
}

TEST(compose, refuses_anything_that_could_break_a_header) {
  struct bad {
    std::string field;
    std::function<void(actors::email_message&)> spoil;
  };
  std::vector<bad> cases = {
      {"subject", [](auto& m) { m.subject = "a\r\nBcc: x@y.z"; }},
      {"subject", [](auto& m) { m.subject = "a\rb"; }},
      {"subject", [](auto& m) { m.subject = "a\nb"; }},
      {"subject", [](auto& m) { m.subject = std::string("a\0b", 3); }},
      {"subject", [](auto& m) { m.subject = "bad \xff utf8"; }},
      {"from_name", [](auto& m) { m.from_name = "Acme\nBcc: x@y.z"; }},
      {"from_name", [](auto& m) { m.from_name = "Acme\x1b"; }},
      {"to", [](auto& m) { m.to = "a@b.c\nBcc: x@y.z"; }},
      {"reply_to", [](auto& m) { m.reply_to = "a@b.c\r\n"; }},
      {"reply_to", [](auto& m) { m.reply_to = "nope"; }},
      {"text_body", [](auto& m) { m.text_body.clear(); }},
      {"text_body", [](auto& m) { m.text_body = "\xc3\x28"; }},
      {"html_body", [](auto& m) { m.html_body = "\xed\xa0\x80"; }},
      {"idempotency_key", [](auto& m) { m.idempotency_key.clear(); }},
  };
  for (const auto& c : cases) {
    auto m = sample();
    c.spoil(m);
    auto r = compose(m, k_from, k_now);
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_EQ(r.err().code, error_code::invalid);
    EXPECT_EQ(r.err().subject, c.field) << r.err().message;
  }
  auto tab = sample();
  tab.subject = "a\tb";
  EXPECT_TRUE(compose(tab, k_from, k_now).ok());
}

TEST(compose, every_line_stays_within_998_characters) {
  auto m = sample();
  m.subject = std::string(3000, 'S');
  m.from_name = std::string(500, 'N');
  m.text_body = std::string(10000, 'b');
  m.html_body = "<p>" + std::string(10000, 'h') + "</p>";
  auto r = compose(m, k_from, k_now);
  ASSERT_TRUE(r.ok());
  for (const auto& l : lines_of(r->text)) EXPECT_LE(l.size(), 998u);
}

TEST(tracked_message, links_go_through_the_click_url_and_it_can_be_unsubscribed_in_one_click) {
  auto m = sample();
  m.text_body = "Hello Ann";
  m.html_body = "<html><body><p>See <a href=\"https://acme.example/offer\">our offer</a></p></body></html>";
  tracking_links links{[](std::string_view url) { return "https://ft.example/t/c/TOKEN?u=" + std::string(url.size(), 'x'); },
                       "https://ft.example/t/o/PIXEL.gif", "https://ft.example/t/u/UNSUB"};
  auto r = compose(m, k_from, k_now, &links);
  ASSERT_TRUE(r.ok()) << r.err().message;
  const auto& t = r->text;
  auto headers = t.substr(0, t.find("\r\n\r\n"));
  EXPECT_NE(headers.find("\r\nList-Unsubscribe: <https://ft.example/t/u/UNSUB>\r\n"), std::string::npos) << headers;
  EXPECT_NE(headers.find("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click"), std::string::npos) << headers;
  // The parts' bodies, decoded.
  std::string decoded;
  for (std::size_t at = 0; (at = t.find("quoted-printable\r\n\r\n", at)) != std::string::npos;) {
    at += 20;
    auto end = t.find("\r\n--=_ft_", at);
    decoded += decode_qp(t.substr(at, end - at)) + "\n";
  }
  EXPECT_NE(decoded.find("<a href=\"https://ft.example/t/c/TOKEN?u=" + std::string(26, 'x') + "\">our offer</a>"), std::string::npos) << decoded;
  EXPECT_EQ(decoded.find("https://acme.example/offer"), std::string::npos) << "the original link only through the click URL";
  EXPECT_NE(decoded.find("<img src=\"https://ft.example/t/o/PIXEL.gif\""), std::string::npos) << decoded;
  EXPECT_NE(decoded.find("<a href=\"https://ft.example/t/u/UNSUB\">Unsubscribe</a>"), std::string::npos) << "not a click link";
  EXPECT_NE(decoded.find("Hello Ann\r\n\r\n--\r\nUnsubscribe: https://ft.example/t/u/UNSUB"), std::string::npos) << decoded;

  // Without links (the owner's notifications): none of it.
  auto plain = compose(m, k_from, k_now);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->text.find("List-Unsubscribe"), std::string::npos);
  EXPECT_EQ(plain->text.find("/t/"), std::string::npos);
}

}  // namespace
}  // namespace flowtrack::mail
