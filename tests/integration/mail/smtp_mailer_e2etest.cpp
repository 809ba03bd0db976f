// smtp_mailer against a real SMTP server (tests/support/smtp_sink.py, aiosmtpd) started per
// test: headers, bodies, encodings, injection attempts, relay failures, concurrency.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "adapters/mail/smtp_mailer.hpp"
#include "tests/support/process.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::mail {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using test::received;
using test::smtp_sink;

config::settings settings_for(const std::string& relay) {
  config::settings s;
  s.mail_relay = relay;
  s.mail_domain = "intake.flowtrack.test";
  return s;
}

actors::email_message sample(const std::string& key = "6f1c2a4e-0b6d-4a57-9a49-0c7d2c1e8f00:node_welcome") {
  actors::email_message m;
  m.idempotency_key = key;
  m.workspace_id = "ws";
  m.execution_id = "ex";
  m.from_name = "Acme Sales";
  m.to = "lead@example.com";
  m.reply_to = "owner@acme.example";
  m.subject = "Welcome aboard";
  m.text_body = "Hello Ada,\nthanks for your interest.\n";
  return m;
}

/// Sends and waits for `done`.
result<std::string> send_and_wait(smtp_mailer& mailer, actors::email_message m, std::chrono::seconds limit = 30s) {
  auto promise = std::make_shared<std::promise<result<std::string>>>();
  auto fut = promise->get_future();
  mailer.send(std::move(m), [promise](result<std::string> r) { promise->set_value(std::move(r)); });
  if (fut.wait_for(limit) != std::future_status::ready)
    return make_error(error_code::internal, "done was not called in time");
  return fut.get();
}

TEST(smtp_mailer, sends_a_plain_text_message_with_every_header) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  auto r = send_and_wait(mailer, sample());
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(*r, "<6f1c2a4e-0b6d-4a57-9a49-0c7d2c1e8f00=3Anode_welcome@intake.flowtrack.test>");

  auto got = sink.await(1);
  ASSERT_EQ(got.size(), 1u);
  const auto& msg = got[0];
  EXPECT_EQ(msg.parsed.at("mail_from").as_string(), "noreply@intake.flowtrack.test");
  EXPECT_EQ(msg.parsed.at("rcpt_tos").as_array().at(0).as_string(), "lead@example.com");
  EXPECT_EQ(msg.header("from"), "Acme Sales <noreply@intake.flowtrack.test>");
  EXPECT_EQ(msg.header("to"), "lead@example.com");
  EXPECT_EQ(msg.header("reply-to"), "owner@acme.example");
  EXPECT_EQ(msg.header("subject"), "Welcome aboard");
  EXPECT_EQ(msg.header("message-id"), *r);
  EXPECT_EQ(msg.header("mime-version"), "1.0");
  EXPECT_FALSE(msg.header("date").empty());
  EXPECT_EQ(msg.parsed.at("content_type").as_string(), "text/plain");
  EXPECT_TRUE(msg.parsed.at("defects").as_array().empty()) << boost::json::serialize(msg.parsed.at("defects"));
  ASSERT_EQ(msg.parts().size(), 1u);
  EXPECT_EQ(msg.parts()[0].at("charset").as_string(), "utf-8");
  EXPECT_EQ(msg.part_content(0), "Hello Ada,\nthanks for your interest.\n");
}

TEST(smtp_mailer, no_reply_to_header_when_none_is_given_and_a_configured_sender_is_used) {
  smtp_sink sink;
  mailer_options opts;
  opts.sender = "bot@acme.example";
  smtp_mailer mailer(settings_for(sink.relay()), opts);
  auto m = sample();
  m.reply_to.clear();
  m.from_name.clear();
  ASSERT_TRUE(send_and_wait(mailer, m).ok());
  auto got = sink.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header("reply-to"), "");
  EXPECT_EQ(got[0].header("from"), "bot@acme.example");
  EXPECT_EQ(got[0].parsed.at("mail_from").as_string(), "bot@acme.example");
}

TEST(smtp_mailer, a_retry_of_the_same_step_reuses_the_message_id) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  auto first = send_and_wait(mailer, sample("exec-1:node-a"));
  auto again = send_and_wait(mailer, sample("exec-1:node-a"));
  auto other = send_and_wait(mailer, sample("exec-1:node-b"));
  ASSERT_TRUE(first.ok() && again.ok() && other.ok());
  EXPECT_EQ(*first, *again);
  EXPECT_NE(*first, *other);
  auto got = sink.await(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].header("message-id"), got[1].header("message-id"));
  EXPECT_EQ(got[2].header("message-id"), *other);
}

TEST(smtp_mailer, text_and_html_make_a_multipart_alternative) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  auto m = sample();
  m.text_body = "Grüße, Ada — see you soon.\n";
  m.html_body = "<p>Grüße, <b>Ada</b> — see you soon.</p>\n";
  ASSERT_TRUE(send_and_wait(mailer, m).ok());
  auto got = sink.await(1);
  ASSERT_EQ(got.size(), 1u);
  const auto& msg = got[0];
  EXPECT_EQ(msg.parsed.at("content_type").as_string(), "multipart/alternative");
  EXPECT_TRUE(msg.parsed.at("defects").as_array().empty()) << boost::json::serialize(msg.parsed.at("defects"));
  ASSERT_EQ(msg.parts().size(), 2u);
  EXPECT_EQ(msg.parts()[0].at("content_type").as_string(), "text/plain");
  EXPECT_EQ(msg.parts()[1].at("content_type").as_string(), "text/html");
  for (const auto& p : msg.parts()) {
    EXPECT_EQ(p.at("charset").as_string(), "utf-8");
    EXPECT_EQ(p.at("transfer_encoding").as_string(), "quoted-printable");
  }
  EXPECT_EQ(msg.part_content(0), m.text_body);
  EXPECT_EQ(msg.part_content(1), m.html_body);
}

TEST(smtp_mailer, html_only_is_a_single_html_part) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  auto m = sample();
  m.text_body.clear();
  m.html_body = "<h1>Hi</h1>";
  ASSERT_TRUE(send_and_wait(mailer, m).ok());
  auto got = sink.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].parsed.at("content_type").as_string(), "text/html");
  EXPECT_EQ(got[0].part_content(0), "<h1>Hi</h1>\n");
}

TEST(smtp_mailer, utf8_subject_and_sender_name_are_encoded_words) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  auto m = sample();
  m.subject = "Ihre Anfrage bei Müller & Söhne — Angebot für 5 000 € (ünïcödé, 日本語のテキストも少し長めに)";
  m.from_name = "Zoë Ångström";
  ASSERT_TRUE(send_and_wait(mailer, m).ok());
  auto got = sink.await(1);
  ASSERT_EQ(got.size(), 1u);
  const auto& msg = got[0];
  EXPECT_EQ(msg.header("subject"), m.subject);
  EXPECT_EQ(msg.header("from"), "Zoë Ångström <noreply@intake.flowtrack.test>");
  EXPECT_NE(msg.raw_header("Subject").find("=?UTF-8?B?"), std::string::npos);
  // The raw header is plain ASCII; the encoded Subject and From lines stay within 78 characters.
  std::istringstream lines(msg.raw.substr(0, msg.raw.find("\r\n\r\n")));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Message-ID:", 0) != 0) {
      EXPECT_LE(line.size(), 79u) << line;
    }
    for (unsigned char c : line) EXPECT_LT(c, 0x80) << line;
  }
}

TEST(smtp_mailer, header_injection_is_rejected_and_nothing_is_sent) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  struct attempt {
    std::string field;
    std::function<void(actors::email_message&)> spoil;
  };
  std::vector<attempt> attempts = {
      {"subject", [](auto& m) { m.subject = "Hi\r\nBcc: victim@example.com"; }},
      {"subject", [](auto& m) { m.subject = "Hi\nBcc: victim@example.com"; }},
      {"from_name", [](auto& m) { m.from_name = "Acme\r\nBcc: victim@example.com"; }},
      {"to", [](auto& m) { m.to = "lead@example.com\r\nBcc: victim@example.com"; }},
      {"to", [](auto& m) { m.to = "lead@example.com, victim@example.com"; }},
      {"to", [](auto& m) { m.to = "Lead <lead@example.com>"; }},
      {"to", [](auto& m) { m.to = "not an address"; }},
      {"reply_to", [](auto& m) { m.reply_to = "owner@acme.example\rBcc: victim@example.com"; }},
      {"reply_to", [](auto& m) { m.reply_to = "owner@"; }},
      {"subject", [](auto& m) { m.subject = std::string("Hi\0there", 8); }},
  };
  for (const auto& a : attempts) {
    auto m = sample();
    a.spoil(m);
    auto r = send_and_wait(mailer, m);
    ASSERT_FALSE(r.ok()) << a.field;
    EXPECT_EQ(r.err().code, error_code::invalid) << r.err().message;
    EXPECT_EQ(r.err().subject, a.field) << r.err().message;
    EXPECT_NE(r.err().message.find(a.field), std::string::npos) << r.err().message;
  }
  // A good message afterwards is the only one that arrives. Sends are sequential and each one
  // ends after the sink's 250, so a refused message sent anyway would already be there.
  ASSERT_TRUE(send_and_wait(mailer, sample()).ok());
  auto got = sink.await(1);
  EXPECT_EQ(sink.messages().size(), 1u);
  EXPECT_EQ(got.at(0).parsed.at("rcpt_tos").as_array().size(), 1u);
}

TEST(smtp_mailer, relay_down_is_a_transient_unavailable) {
  int port = test::free_port();  // nothing listens there
  smtp_mailer mailer(settings_for("smtp://127.0.0.1:" + std::to_string(port)));
  auto r = send_and_wait(mailer, sample());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::unavailable) << r.err().message;
  EXPECT_TRUE(r.err().transient());
}

TEST(smtp_mailer, only_a_relay_on_loopback_may_go_without_tls) {
  EXPECT_TRUE(relay_on_loopback("smtp://127.0.0.1:25"));
  EXPECT_TRUE(relay_on_loopback("smtp://127.8.0.1"));
  EXPECT_TRUE(relay_on_loopback("smtp://user:p%40ss@localhost:587/ehlo.example"));
  EXPECT_TRUE(relay_on_loopback("smtp://[::1]:25"));
  EXPECT_FALSE(relay_on_loopback("smtp://192.0.2.10:25"));
  EXPECT_FALSE(relay_on_loopback("smtp://127.0.0.1@relay.example:25")) << "userinfo is not the host";
  EXPECT_FALSE(relay_on_loopback("smtp://relay.example"));
  EXPECT_FALSE(relay_on_loopback("smtp://[2001:db8::1]:25"));
}

TEST(smtp_mailer, a_relay_off_loopback_without_starttls_gets_nothing) {
  // A sink (no STARTTLS) on this machine's first address that is not loopback.
  std::string host;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (auto* a = list; a != nullptr && host.empty(); a = a->ifa_next) {
      if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof buf);
      if (std::string_view(buf).substr(0, 4) != "127.") host = buf;
    }
    freeifaddrs(list);
  }
  if (host.empty()) GTEST_SKIP() << "this machine has no IPv4 address besides loopback";
  smtp_sink sink(test::free_port(), host);
  smtp_mailer mailer(settings_for(sink.relay()));
  auto r = send_and_wait(mailer, sample());
  ASSERT_FALSE(r.ok()) << "sent in the clear to " << host;
  EXPECT_EQ(r.err().code, error_code::unavailable) << r.err().message;
  EXPECT_TRUE(sink.messages().empty());
}

TEST(smtp_mailer, permanent_rejection_is_invalid_with_the_servers_reply) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  auto m = sample();
  m.to = "reject-me@example.com";
  auto r = send_and_wait(mailer, m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid) << r.err().message;
  EXPECT_NE(r.err().message.find("550 5.1.1"), std::string::npos) << r.err().message;
  EXPECT_NE(r.err().message.find("Recipient address rejected"), std::string::npos) << r.err().message;
  // The session is still usable afterwards.
  ASSERT_TRUE(send_and_wait(mailer, sample()).ok());
  EXPECT_EQ(sink.await(1).size(), 1u);
}

TEST(smtp_mailer, temporary_rejection_is_unavailable) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  auto m = sample();
  m.to = "defer@example.com";
  auto r = send_and_wait(mailer, m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::unavailable) << r.err().message;
  EXPECT_NE(r.err().message.find("451"), std::string::npos) << r.err().message;
}

TEST(smtp_mailer, a_relay_slower_than_the_timeout_is_a_timeout) {
  smtp_sink sink;
  mailer_options opts;
  opts.timeout = 1s;
  smtp_mailer mailer(settings_for(sink.relay()), opts);
  auto m = sample();
  m.to = "slow@example.com";
  auto r = send_and_wait(mailer, m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::timeout) << r.err().message;  // the sink would have answered 250, late
}

TEST(smtp_mailer, long_lines_and_leading_dots_arrive_intact) {
  smtp_sink sink;
  smtp_mailer mailer(settings_for(sink.relay()));
  auto m = sample();
  std::string long_line;
  for (int i = 0; i < 600; ++i) long_line += "wörd" + std::to_string(i) + (i % 7 ? " " : "");
  m.text_body = long_line + "\n.\n..two dots\n. \ntrailing space \nend";
  ASSERT_TRUE(send_and_wait(mailer, m).ok());
  auto got = sink.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].part_content(0), m.text_body + "\n");
  std::istringstream lines(got[0].raw.substr(got[0].raw.find("\r\n\r\n")));
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 77u) << line;
}

TEST(smtp_mailer, many_concurrent_sends_all_arrive) {
  smtp_sink sink;
  mailer_options opts;
  opts.threads = 4;
  smtp_mailer mailer(settings_for(sink.relay()), opts);
  constexpr int n = 60;
  std::vector<std::future<result<std::string>>> futures;
  for (int i = 0; i < n; ++i) {
    auto promise = std::make_shared<std::promise<result<std::string>>>();
    futures.push_back(promise->get_future());
    auto m = sample("exec-" + std::to_string(i) + ":node");
    m.to = "lead" + std::to_string(i) + "@example.com";
    mailer.send(std::move(m), [promise](result<std::string> r) { promise->set_value(std::move(r)); });
  }
  std::set<std::string> ids;
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(60s), std::future_status::ready);
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.err().message;
    ids.insert(*r);
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(n));
  auto got = sink.await(n);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  std::set<std::string> arrived;
  for (const auto& msg : got) arrived.insert(msg.header("message-id"));
  EXPECT_EQ(arrived, ids);
}

TEST(smtp_mailer, a_relay_restart_between_messages_is_survived) {
  auto sink = std::make_unique<smtp_sink>();
  int port = sink->port();
  smtp_mailer mailer(settings_for(sink->relay()));
  ASSERT_TRUE(send_and_wait(mailer, sample("r:1")).ok());
  // The worker keeps its SMTP connection open; the relay goes away and comes back on the port.
  sink.reset();
  smtp_sink again(port);
  auto r = send_and_wait(mailer, sample("r:2"));
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(again.await(1).size(), 1u);
}

TEST(smtp_mailer, destruction_sends_what_was_queued) {
  smtp_sink sink;
  std::atomic<int> ok{0};
  {
    smtp_mailer mailer(settings_for(sink.relay()));
    for (int i = 0; i < 5; ++i)
      mailer.send(sample("q-" + std::to_string(i) + ":n"), [&ok](result<std::string> r) { ok += r.ok(); });
  }
  EXPECT_EQ(ok.load(), 5);
  EXPECT_EQ(sink.await(5).size(), 5u);
}

}  // namespace
}  // namespace flowtrack::mail
