// The SMTP session state machine driven without sockets: every command, sequence and syntax
// errors, limits, pipelining, dot-unstuffing, STARTTLS, enhanced status codes.
#include "adapters/smtp/session.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace flowtrack::smtp {
namespace {

// Drives a session the way the server does, answering handler steps with a policy: recipients
// under example.test are accepted, others get 550 5.1.1; deliveries get `deliver_answer`.
struct driver {
  explicit driver(session_limits limits = {}, bool tls_offered = false, std::shared_ptr<message_budget> budget = nullptr,
                  std::string client_ip = "192.0.2.1")
      : s(limits, "mx.test", std::move(client_ip), tls_offered, std::move(budget)) {
    s.greet();
    run();
  }

  // Sends bytes and returns every reply line produced (CRLF stripped).
  std::vector<std::string> send(std::string_view bytes) {
    s.receive(bytes);
    return run();
  }

  std::vector<std::string> run() {
    for (;;) {
      auto st = s.run();
      if (st == step::check_sender) {
        s.resolve(sender_answer);
      } else if (st == step::check_recipient) {
        checked.push_back(s.candidate().text);
        s.resolve(s.candidate().domain == "example.test" ? reply{250, "2.1.5", "ok"} : reply{550, "5.1.1", "no such user"});
      } else if (st == step::deliver) {
        if (delivering) {  // still with the "handler"
          last = st;
          break;
        }
        messages.push_back(s.take_message());
        envelopes.push_back(s.current());
        if (!answer_deliveries) {
          delivering = true;
          last = st;
          break;
        }
        s.resolve(deliver_answer);
      } else {
        last = st;
        break;
      }
    }
    std::vector<std::string> lines;
    std::string out = s.take_output();
    std::size_t at = 0;
    while (at < out.size()) {
      auto end = out.find("\r\n", at);
      EXPECT_NE(end, std::string::npos) << "reply not CRLF-terminated: " << out;
      if (end == std::string::npos) break;
      lines.push_back(out.substr(at, end - at));
      at = end + 2;
    }
    all.insert(all.end(), lines.begin(), lines.end());
    return lines;
  }

  // The last reply line of one command sent alone.
  std::string cmd(const std::string& line) {
    auto lines = send(line + "\r\n");
    return lines.empty() ? std::string() : lines.back();
  }

  void ehlo() { ASSERT_EQ(cmd("EHLO client.test").substr(0, 4), "250 "); }

  session s;
  reply sender_answer{250, "2.1.0", "ok"};
  reply deliver_answer{250, "2.0.0", "kept"};
  bool answer_deliveries = true;  ///< false: a delivery stays with the "handler" until answer()
  bool delivering = false;
  // Answers the delivery left waiting.
  std::vector<std::string> answer() {
    delivering = false;
    s.resolve(deliver_answer);
    return run();
  }
  std::vector<std::string> checked, messages, all;
  std::vector<envelope> envelopes;
  step last = step::read;
};

bool starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(smtp_session, greets_and_answers_ehlo_with_its_extensions) {
  driver d;
  ASSERT_EQ(d.all.size(), 1u);
  EXPECT_EQ(d.all[0], "220 mx.test ESMTP FlowTrack");
  auto lines = d.send("EHLO client.test\r\n");
  ASSERT_GE(lines.size(), 6u);
  EXPECT_EQ(lines[0], "250-mx.test greets [192.0.2.1]");
  std::vector<std::string> expected{"250-PIPELINING", "250-SIZE 26214400", "250-8BITMIME", "250-SMTPUTF8", "250 ENHANCEDSTATUSCODES"};
  EXPECT_EQ(std::vector<std::string>(lines.begin() + 1, lines.end()), expected);
  EXPECT_EQ(d.s.current().helo, "client.test");
  EXPECT_TRUE(d.s.current().esmtp);
}

TEST(smtp_session, offers_starttls_only_with_a_certificate_and_not_inside_tls) {
  driver plain;
  for (const auto& l : plain.send("EHLO a.test\r\n")) EXPECT_EQ(l.find("STARTTLS"), std::string::npos);
  driver tls({}, true);
  auto lines = tls.send("EHLO a.test\r\n");
  EXPECT_EQ(lines.back(), "250 STARTTLS");
  EXPECT_EQ(tls.cmd("STARTTLS"), "220 2.0.0 ready to start TLS");
  EXPECT_EQ(tls.last, step::start_tls);
  tls.s.tls_started();
  EXPECT_TRUE(tls.s.current().tls);
  EXPECT_TRUE(tls.s.current().helo.empty()) << "the session starts over after TLS";
  EXPECT_EQ(tls.cmd("MAIL FROM:<a@b.test>"), "503 5.5.1 send EHLO or HELO first");
  for (const auto& l : tls.send("EHLO a.test\r\n")) EXPECT_EQ(l.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(tls.cmd("STARTTLS"), "503 5.5.1 TLS is already active");
}

TEST(smtp_session, discards_commands_pipelined_behind_starttls) {
  driver d({}, true);
  d.ehlo();
  auto lines = d.send("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<a@example.test>\r\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "220 2.0.0 ready to start TLS");
  d.s.receive("RSET\r\n");  // still before the handshake: dropped too
  d.s.tls_started();
  EXPECT_TRUE(d.run().empty()) << "nothing injected before the handshake is answered";
  EXPECT_TRUE(d.checked.empty());
  EXPECT_TRUE(d.s.current().mail_from.text.empty());
}

TEST(smtp_session, delivers_a_message_with_dot_unstuffing) {
  driver d;
  d.ehlo();
  EXPECT_EQ(d.cmd("MAIL FROM:<Sender@Other.test> SIZE=100 BODY=8BITMIME"), "250 2.1.0 ok");
  EXPECT_EQ(d.cmd("RCPT TO:<lead@example.test>"), "250 2.1.5 ok");
  EXPECT_EQ(d.cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>");
  auto lines = d.send("Subject: hi\r\n\r\n..leading dot\r\n..\r\nlast\r\n.\r\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "250 2.0.0 kept");
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0], "Subject: hi\r\n\r\n.leading dot\r\n.\r\nlast\r\n");
  const auto& env = d.envelopes[0];
  EXPECT_EQ(env.mail_from.text, "Sender@Other.test");
  EXPECT_EQ(env.mail_from.local, "Sender");
  EXPECT_EQ(env.mail_from.domain, "Other.test");
  ASSERT_EQ(env.recipients.size(), 1u);
  EXPECT_EQ(env.recipients[0].local, "lead");
  EXPECT_TRUE(env.eight_bit);
  EXPECT_EQ(env.declared_size, 100u);
  // The transaction is over: a new one may start.
  EXPECT_EQ(d.cmd("RCPT TO:<lead@example.test>"), "503 5.5.1 need MAIL before RCPT");
  EXPECT_EQ(d.s.delivered(), 1u);
}

TEST(smtp_session, message_end_split_across_reads_is_found) {
  driver d;
  d.ehlo();
  d.cmd("MAIL FROM:<>");
  d.cmd("RCPT TO:<a@example.test>");
  d.cmd("DATA");
  for (std::string_view piece : {"line one\r", "\n", ".", ".x\r\n", "\r", "\n.", "\r", "\n"}) d.send(piece);
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0], "line one\r\n.x\r\n\r\n");
  EXPECT_EQ(d.all.back(), "250 2.0.0 kept");
}

TEST(smtp_session, sequence_errors_are_503) {
  driver d;
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test>"), "503 5.5.1 send EHLO or HELO first");
  EXPECT_EQ(d.cmd("RCPT TO:<a@b.test>"), "503 5.5.1 send EHLO or HELO first");
  EXPECT_EQ(d.cmd("DATA"), "503 5.5.1 send EHLO or HELO first");
  d.ehlo();
  EXPECT_EQ(d.cmd("RCPT TO:<a@b.test>"), "503 5.5.1 need MAIL before RCPT");
  EXPECT_EQ(d.cmd("DATA"), "503 5.5.1 need MAIL command");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 ok");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test>"), "503 5.5.1 nested MAIL command; send RSET first");
  EXPECT_EQ(d.cmd("DATA"), "503 5.5.1 need RCPT command");
  EXPECT_EQ(d.cmd("RCPT TO:<stranger@elsewhere.test>"), "550 5.1.1 no such user");
  EXPECT_EQ(d.cmd("DATA"), "554 5.5.1 no valid recipients");
  EXPECT_EQ(d.cmd("RSET"), "250 2.0.0 OK");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 ok");
}

TEST(smtp_session, syntax_errors_and_unknown_commands) {
  driver d;
  EXPECT_EQ(d.cmd("EHLO"), "501 5.5.4 Syntax: EHLO hostname");
  EXPECT_EQ(d.cmd("FOO bar"), "502 5.5.2 command not recognized");
  EXPECT_EQ(d.cmd(""), "500 5.5.2 syntax error: empty command");
  EXPECT_EQ(d.cmd("EXPN list"), "502 5.5.1 EXPN is not available");
  d.ehlo();
  EXPECT_EQ(d.cmd("MAIL TO:<a@b.test>"), "501 5.5.4 Syntax: MAIL FROM:<address>");
  EXPECT_EQ(d.cmd("MAIL FROM:a@b.test"), "501 5.5.4 Syntax: MAIL FROM:<address>");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@@b.test>"), "501 5.1.7 bad sender address syntax");
  EXPECT_EQ(d.cmd("MAIL FROM:<a..b@b.test>"), "501 5.1.7 bad sender address syntax");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test> AUTH=<>"), "555 5.5.4 unsupported MAIL parameter AUTH");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test> SIZE=12x"), "501 5.5.4 Syntax: SIZE=<octets>");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test> BODY=BINARYMIME"), "501 5.5.4 Syntax: BODY=7BIT or BODY=8BITMIME");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test> SMTPUTF8=yes"), "501 5.5.4 Syntax: SMTPUTF8 takes no value");
  EXPECT_EQ(d.cmd("MAIL FROM: <a@b.test>"), "250 2.1.0 ok") << "a space after the colon, as many clients send";
  EXPECT_EQ(d.cmd("RCPT TO:<a@example.test> NOTIFY=NEVER"), "555 5.5.4 unsupported RCPT parameter NOTIFY");
  EXPECT_EQ(d.cmd("RCPT TO:<no-at-sign>"), "501 5.1.3 bad recipient address syntax");
  EXPECT_EQ(d.cmd("RCPT TO:<\"quoted > local\"@example.test>"), "250 2.1.5 ok");
  EXPECT_EQ(d.checked.back(), "\"quoted > local\"@example.test");
  EXPECT_EQ(d.cmd("DATA now"), "501 5.5.4 Syntax: DATA");
  EXPECT_EQ(d.cmd("RSET x"), "501 5.5.4 Syntax: RSET");
  EXPECT_EQ(d.cmd("STARTTLS"), "502 5.5.1 STARTTLS is not available");
}

TEST(smtp_session, small_commands) {
  driver d;
  EXPECT_EQ(d.cmd("NOOP"), "250 2.0.0 OK");
  EXPECT_EQ(d.cmd("noop whatever"), "250 2.0.0 OK");
  EXPECT_EQ(d.cmd("VRFY someone"), "252 2.5.0 cannot VRFY a user; send mail and delivery will be attempted");
  EXPECT_EQ(d.cmd("VRFY"), "501 5.5.4 Syntax: VRFY address");
  EXPECT_TRUE(starts(d.cmd("HELP"), "214 2.0.0 "));
  EXPECT_EQ(d.cmd("RSET"), "250 2.0.0 OK");
  EXPECT_EQ(d.cmd("HELO old.test"), "250 mx.test");
  EXPECT_FALSE(d.s.current().esmtp);
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test> SIZE=10"), "555 5.5.4 MAIL parameters need EHLO");
  EXPECT_EQ(d.cmd("QUIT"), "221 2.0.0 mx.test closing connection");
  EXPECT_EQ(d.last, step::close);
  EXPECT_TRUE(d.s.closed());
}

TEST(smtp_session, smtputf8_addresses_need_the_parameter) {
  driver d;
  d.ehlo();
  EXPECT_EQ(d.cmd("MAIL FROM:<jöran@b.test>"), "553 5.6.7 a non-ASCII address needs the SMTPUTF8 parameter");
  EXPECT_EQ(d.cmd("MAIL FROM:<jöran@bü.test> SMTPUTF8"), "250 2.1.0 ok");
  EXPECT_TRUE(d.s.current().smtputf8);
  EXPECT_EQ(d.cmd("RCPT TO:<zoë@example.test>"), "250 2.1.5 ok");
}

TEST(smtp_session, size_parameter_over_the_limit_is_552) {
  session_limits limits;
  limits.max_message_bytes = 1000;
  driver d(limits);
  auto lines = d.send("EHLO c.test\r\n");
  EXPECT_EQ(lines[2], "250-SIZE 1000");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test> SIZE=1001"), "552 5.3.4 message size exceeds the fixed maximum of 1000 octets");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test> SIZE=99999999999999999999999"), "552 5.3.4 message size exceeds the fixed maximum of 1000 octets");
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test> SIZE=1000"), "250 2.1.0 ok");
}

TEST(smtp_session, oversized_data_is_refused_and_nothing_is_delivered) {
  session_limits limits;
  limits.max_message_bytes = 1000;
  limits.max_discard_bytes = 5000;
  driver d(limits);
  d.ehlo();
  d.cmd("MAIL FROM:<a@b.test>");
  d.cmd("RCPT TO:<a@example.test>");
  d.cmd("DATA");
  std::string line(98, 'x');
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(d.send(line + "\r\n").empty());
  EXPECT_EQ(d.cmd("."), "552 5.3.4 message size exceeds the fixed maximum of 1000 octets");
  EXPECT_TRUE(d.messages.empty());
  EXPECT_FALSE(d.s.closed());
  // Far beyond the limit: refused at once, connection closed.
  d.cmd("MAIL FROM:<a@b.test>");
  d.cmd("RCPT TO:<a@example.test>");
  d.cmd("DATA");
  std::vector<std::string> got;
  for (int i = 0; i < 100 && got.empty(); ++i) got = d.send(line + "\r\n");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(starts(got[0], "552 5.3.4 ")) << got[0];
  EXPECT_EQ(d.last, step::close);
  EXPECT_TRUE(d.messages.empty());
}

TEST(smtp_session, long_lines) {
  driver d;
  EXPECT_EQ(d.cmd("NOOP " + std::string(600, 'a')), "500 5.5.2 line too long (a command line is at most 512 octets)");
  EXPECT_EQ(d.cmd("NOOP"), "250 2.0.0 OK") << "the session goes on after the long line";
  // A long line arriving in pieces is refused once, not per piece.
  EXPECT_EQ(d.send(std::string(700, 'b')).size(), 1u);
  EXPECT_TRUE(d.send(std::string(700, 'b')).empty());
  EXPECT_EQ(d.cmd(""), "");
  EXPECT_EQ(d.cmd("NOOP"), "250 2.0.0 OK");
  d.ehlo();
  d.cmd("MAIL FROM:<a@b.test>");
  d.cmd("RCPT TO:<a@example.test>");
  d.cmd("DATA");
  d.send(std::string(999, 'c') + "\r\n");  // 1001 octets with CRLF
  EXPECT_EQ(d.cmd("."), "500 5.5.2 a text line exceeds 1000 octets; message refused");
  EXPECT_TRUE(d.messages.empty());
}

TEST(smtp_session, bare_line_feeds_in_data_refuse_the_message_and_do_not_end_it) {
  driver d;
  d.ehlo();
  d.cmd("MAIL FROM:<a@b.test>");
  d.cmd("RCPT TO:<a@example.test>");
  d.cmd("DATA");
  // The SMTP-smuggling shape: "<LF>.<CR><LF>" must not end the message.
  auto lines = d.send("text\n.\r\nMAIL FROM:<forged@x.test>\r\nRCPT TO:<a@example.test>\r\nDATA\r\n");
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(d.cmd("."), "554 5.6.0 message text has a bare CR or LF; lines must end with CRLF");
  EXPECT_TRUE(d.messages.empty());
  EXPECT_EQ(d.checked.size(), 1u) << "the smuggled RCPT was never a command";
}

TEST(smtp_session, commands_end_at_bare_lf_too) {
  driver d;
  EXPECT_EQ(d.send("NOOP\n").back(), "250 2.0.0 OK");
  EXPECT_EQ(d.send("NO\rOP\r\n").back(), "500 5.5.2 syntax error: control characters in the command line");
}

TEST(smtp_session, too_many_recipients_get_452) {
  session_limits limits;
  limits.max_recipients = 2;
  driver d(limits);
  d.ehlo();
  d.cmd("MAIL FROM:<a@b.test>");
  EXPECT_EQ(d.cmd("RCPT TO:<a@example.test>"), "250 2.1.5 ok");
  EXPECT_EQ(d.cmd("RCPT TO:<b@example.test>"), "250 2.1.5 ok");
  EXPECT_EQ(d.cmd("RCPT TO:<c@example.test>"), "452 4.5.3 too many recipients; send the rest in another transaction");
  EXPECT_EQ(d.s.current().recipients.size(), 2u);
}

TEST(smtp_session, too_many_errors_close_with_421) {
  session_limits limits;
  limits.max_errors = 3;
  driver d(limits);
  EXPECT_TRUE(starts(d.cmd("BAD"), "502 "));
  EXPECT_TRUE(starts(d.cmd("BAD"), "502 "));
  auto lines = d.send("BAD\r\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "421 4.7.0 mx.test too many errors; closing");
  EXPECT_EQ(d.last, step::close);
}

TEST(smtp_session, pipelined_commands_are_answered_in_order_after_ehlo) {
  driver d;
  d.ehlo();
  auto lines = d.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nRCPT TO:<y@nowhere.test>\r\nRCPT TO:<z@example.test>\r\nDATA\r\n");
  std::vector<std::string> expected{"250 2.1.0 ok", "250 2.1.5 ok", "550 5.1.1 no such user", "250 2.1.5 ok",
                                    "354 End data with <CR><LF>.<CR><LF>"};
  EXPECT_EQ(lines, expected);
  lines = d.send("hello\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(lines, (std::vector<std::string>{"250 2.0.0 kept", "221 2.0.0 mx.test closing connection"}));
  EXPECT_EQ(d.envelopes.at(0).recipients.size(), 2u);
}

TEST(smtp_session, pipelining_before_ehlo_is_an_early_talker) {
  driver d;
  auto lines = d.send("HELO a.test\r\nMAIL FROM:<a@b.test>\r\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(starts(lines[0], "554 5.5.0 ")) << lines[0];
  EXPECT_EQ(d.last, step::close);
  session early({}, "mx.test", "192.0.2.1", false);
  early.receive("EHLO x\r\n");
  early.greet();
  EXPECT_TRUE(starts(early.take_output(), "554 5.5.0 "));
  EXPECT_EQ(early.run(), step::close);
}

TEST(smtp_session, handler_answers_are_sanitised) {
  driver d;
  d.ehlo();
  d.sender_answer = reply{550, "bogus", "refused\r\n250 injected"};
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test>"), "550 5.0.0 refused  250 injected");
  d.sender_answer = reply{999, "9.9.9", "nonsense"};
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test>"), "451 4.3.0 internal error; try again later");
  d.sender_answer = reply{550, "5.7.1", "not an allowed forwarder"};
  EXPECT_EQ(d.cmd("MAIL FROM:<a@b.test>"), "550 5.7.1 not an allowed forwarder");
  EXPECT_TRUE(d.s.current().mail_from.text.empty());
  d.sender_answer = reply{250, "2.1.0", "ok"};
  d.deliver_answer = reply{451, "4.3.0", "try later"};
  d.cmd("MAIL FROM:<a@b.test>");
  d.cmd("RCPT TO:<a@example.test>");
  d.cmd("DATA");
  EXPECT_EQ(d.send("x\r\n.\r\n").back(), "451 4.3.0 try later");
  EXPECT_EQ(d.s.delivered(), 0u);
}

TEST(smtp_session, shut_down_answers_421_when_idle_and_after_a_message_otherwise) {
  driver idle;
  idle.ehlo();
  EXPECT_TRUE(idle.s.shut_down());
  EXPECT_TRUE(starts(idle.run().back(), "421 4.3.2 "));
  driver busy;
  busy.ehlo();
  busy.cmd("MAIL FROM:<a@b.test>");
  busy.cmd("RCPT TO:<a@example.test>");
  busy.cmd("DATA");
  EXPECT_FALSE(busy.s.shut_down());
  EXPECT_EQ(busy.send("x\r\n.\r\n").back(), "250 2.0.0 kept");
  EXPECT_TRUE(starts(busy.cmd("MAIL FROM:<a@b.test>"), "421 4.3.2 "));
  EXPECT_EQ(busy.last, step::close);
}

TEST(smtp_session, timeout_closes_with_421) {
  driver d;
  d.s.timed_out();
  EXPECT_EQ(d.run().back(), "421 4.4.2 mx.test timeout exceeded; closing");
  EXPECT_EQ(d.last, step::close);
}

// ---- The server-wide message budget (smtp_max_buffered_bytes) ----

session_limits small_messages() {
  session_limits l;
  l.max_message_bytes = 10000;
  return l;
}

std::string text_of(std::size_t bytes) {
  std::string out;
  while (out.size() + 100 <= bytes) out += std::string(98, 'x') + "\r\n";
  return out;
}

void begin(driver& d, const std::string& mail) {
  d.ehlo();
  EXPECT_EQ(d.cmd(mail).substr(0, 4), "250 ");
  EXPECT_EQ(d.cmd("RCPT TO:<a@example.test>").substr(0, 4), "250 ");
}

TEST(smtp_session_budget, a_second_message_beyond_the_budget_gets_452_until_the_first_is_answered) {
  auto budget = std::make_shared<message_budget>(10000, 10000);
  driver first(small_messages(), false, budget, "192.0.2.1"), second(small_messages(), false, budget, "192.0.2.2");
  first.answer_deliveries = false;
  begin(first, "MAIL FROM:<s@x.test> SIZE=6000");
  EXPECT_EQ(first.cmd("DATA").substr(0, 4), "354 ");
  EXPECT_TRUE(first.send(text_of(6000) + ".\r\n").empty()) << "the handler has not answered yet";
  EXPECT_EQ(first.last, step::deliver);
  EXPECT_EQ(budget->held(), 6000u) << "the declared size is held while the handler works";

  begin(second, "MAIL FROM:<s@x.test> SIZE=6000");
  EXPECT_EQ(second.cmd("DATA"), "452 4.3.1 insufficient system storage; try again later");
  EXPECT_EQ(second.s.storage_refusals(), 1u);
  EXPECT_EQ(second.s.errors(), 0u) << "not the client's fault";
  EXPECT_EQ(budget->held(), 6000u);

  EXPECT_EQ(first.answer(), std::vector<std::string>{"250 2.0.0 kept"});
  EXPECT_EQ(budget->held(), 0u) << "handed over and answered: given back";
  EXPECT_EQ(second.cmd("DATA").substr(0, 4), "354 ") << "the same transaction, now that there is room";
  EXPECT_EQ(second.send(text_of(6000) + ".\r\n"), std::vector<std::string>{"250 2.0.0 kept"});
  ASSERT_EQ(second.messages.size(), 1u);
  EXPECT_EQ(second.messages[0], text_of(6000));
  EXPECT_EQ(budget->held(), 0u);
}

TEST(smtp_session_budget, a_message_crossing_the_budget_mid_data_is_read_to_the_end_and_gets_452) {
  auto budget = std::make_shared<message_budget>(10000, 10000);
  driver first(small_messages(), false, budget, "192.0.2.1"), second(small_messages(), false, budget, "192.0.2.2");
  first.answer_deliveries = false;
  begin(first, "MAIL FROM:<s@x.test> SIZE=6000");
  first.cmd("DATA");
  first.send(text_of(6000) + ".\r\n");
  ASSERT_EQ(budget->held(), 6000u);

  begin(second, "MAIL FROM:<s@x.test>");  // no SIZE: room is taken as the text arrives
  EXPECT_EQ(second.cmd("DATA").substr(0, 4), "354 ");
  EXPECT_TRUE(second.send(text_of(3000)).empty());
  EXPECT_TRUE(second.send(text_of(3000)).empty()) << "past the budget: still reading, nothing answered yet";
  EXPECT_EQ(second.s.held_bytes(), 0u) << "nothing of the cut message is held";
  EXPECT_EQ(budget->held(), 6000u);
  EXPECT_EQ(second.send(text_of(2000) + ".\r\n"), std::vector<std::string>{"452 4.3.1 insufficient system storage; try again later"});
  EXPECT_TRUE(second.messages.empty()) << "never 250 for a cut message";
  EXPECT_EQ(second.s.storage_refusals(), 1u);

  // The session is usable for the next transaction.
  first.answer();
  begin(second, "MAIL FROM:<s@x.test>");
  EXPECT_EQ(second.cmd("DATA").substr(0, 4), "354 ");
  EXPECT_EQ(second.send(text_of(8000) + ".\r\n"), std::vector<std::string>{"250 2.0.0 kept"});
  ASSERT_EQ(second.messages.size(), 1u);
  EXPECT_EQ(second.messages[0].size(), text_of(8000).size());
  EXPECT_EQ(budget->held(), 0u);
}

TEST(smtp_session_budget, one_client_address_holds_at_most_its_share) {
  // 80000 bytes in all; one address at most an eighth (10000), at least one largest message.
  auto budget = std::make_shared<message_budget>(80000, 8000);
  driver a(small_messages(), false, budget, "192.0.2.1"), b(small_messages(), false, budget, "192.0.2.1"),
      other(small_messages(), false, budget, "192.0.2.9");
  begin(a, "MAIL FROM:<s@x.test> SIZE=6000");
  EXPECT_EQ(a.cmd("DATA").substr(0, 4), "354 ");
  begin(b, "MAIL FROM:<s@x.test> SIZE=6000");
  EXPECT_EQ(b.cmd("DATA"), "452 4.3.1 insufficient system storage; try again later");
  begin(other, "MAIL FROM:<s@x.test> SIZE=6000");
  EXPECT_EQ(other.cmd("DATA").substr(0, 4), "354 ") << "another address is not held back";
}

TEST(smtp_session_budget, nothing_is_held_after_a_session_ends_mid_data_however_it_ends) {
  auto budget = std::make_shared<message_budget>(1 << 20, 10000);
  {
    driver dropped(small_messages(), false, budget, "192.0.2.1");  // the client disconnects: destroyed
    begin(dropped, "MAIL FROM:<s@x.test>");
    dropped.cmd("DATA");
    dropped.send(text_of(5000));
    EXPECT_GE(budget->held(), 5000u);
  }
  EXPECT_EQ(budget->held(), 0u) << "a connection dropped mid-DATA";
  driver slow(small_messages(), false, budget, "192.0.2.2");
  begin(slow, "MAIL FROM:<s@x.test> SIZE=9000");
  slow.cmd("DATA");
  slow.send(text_of(2000));
  EXPECT_EQ(budget->held(), 9000u);
  slow.s.timed_out();
  EXPECT_EQ(budget->held(), 0u) << "a DATA timeout";
  driver big(small_messages(), false, budget, "192.0.2.3");
  begin(big, "MAIL FROM:<s@x.test>");
  big.cmd("DATA");
  big.send(text_of(12000));
  EXPECT_EQ(big.s.held_bytes(), 0u) << "past the message limit nothing is kept";
  EXPECT_EQ(big.send(".\r\n")[0].substr(0, 9), "552 5.3.4");
  driver waiting(small_messages(), false, budget, "192.0.2.4");
  waiting.answer_deliveries = false;
  begin(waiting, "MAIL FROM:<s@x.test>");
  waiting.cmd("DATA");
  waiting.send(text_of(3000) + ".\r\n");
  EXPECT_GE(budget->held(), 3000u);
  EXPECT_TRUE(waiting.s.shut_down() == false);
  waiting.deliver_answer = reply{451, "4.3.0", "storage unavailable"};
  waiting.answer();
  EXPECT_EQ(budget->held(), 0u) << "a delivery answered 4xx";
}

TEST(smtp_session, parse_path_parts) {
  auto a = parse_path("<@relay.test:user@[192.0.2.7]>", false, false);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text, "user@[192.0.2.7]");
  EXPECT_EQ(a->domain, "[192.0.2.7]");
  EXPECT_TRUE(parse_path("<>", true, false));
  EXPECT_FALSE(parse_path("<>", false, false));
  EXPECT_FALSE(parse_path("<a@-bad.test>", false, false));
  EXPECT_FALSE(parse_path("<" + std::string(65, 'a') + "@b.test>", false, false));
  auto q = parse_path("<\"a\\\"b\"@c.test>", false, false);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->local, "a\"b");
}

TEST(smtp_session, received_header_names_client_protocol_and_single_recipient) {
  envelope env;
  env.client_ip = "192.0.2.1";
  env.helo = "client.test";
  env.esmtp = true;
  env.tls = true;
  env.recipients.push_back(address{"a@example.test", "a", "example.test"});
  auto h = received_header(env, "mx.test", "ID1", 0);
  EXPECT_EQ(h, "Received: from client.test ([192.0.2.1])\r\n\tby mx.test (FlowTrack) with ESMTPS id ID1\r\n\tfor <a@example.test>; Thu, 01 Jan 1970 00:00:00 +0000\r\n");
  env.recipients.push_back(address{"b@example.test", "b", "example.test"});
  EXPECT_EQ(received_header(env, "mx.test", "ID1", 0).find("for <"), std::string::npos);
}

}  // namespace
}  // namespace flowtrack::smtp
