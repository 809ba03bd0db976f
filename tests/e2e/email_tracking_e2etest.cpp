// Mail in, mail out, and the links in it, against a running node: a forwarded enquiry (swaks)
// starts a workflow that emails the lead through a real SMTP relay (aiosmtpd), whose MIME Python
// parses; the email's open pixel, click link and one-click unsubscribe are followed over HTTP;
// the next email workflow run for the unsubscribed lead skips its email. Also raw mail over
// POST /inbound/email with the workspace's inbound token.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <thread>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
using test::cli;

const char* k_graph = R"({"name":"Reply to mail","status":"active","nodes":[
  {"id":"m","type":"TRIGGER_EMAIL","position":{"x":0,"y":0},"data":{}},
  {"id":"r","type":"ACTION_SEND_EMAIL","position":{"x":0,"y":1},"data":{"emailSubject":"Thanks {{lead.name}}",
    "emailBody":"We got your message.","emailHtmlBody":"<html><body><p>See <a href=\"https://offers.example/spring?a=1&amp;b=2\">our offer</a></p></body></html>"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"m","target":"r"},{"id":"2","source":"r","target":"e"}]})";

struct setup {
  std::string slug, ws, intake, wf;
};

setup make(const std::string& prefix) {
  setup s;
  s.slug = test::unique_slug(prefix);
  auto made = boost::json::parse(cli("workspace create --name Tracked --slug " + s.slug + " --owner-email owner@" + s.slug + ".example.com"));
  s.ws = std::string(made.at("id").as_string());
  s.intake = std::string(made.at("intakeEmail").as_string());
  std::string file = "/tmp/" + s.slug + ".json";
  std::ofstream(file) << k_graph;
  s.wf = cli("workflow import --workspace " + s.slug + " " + file);
  std::remove(file.c_str());
  return s;
}

std::string write_message(const std::string& name, const std::string& text) {
  std::string file = "/tmp/" + test::unique_name(name) + ".eml";
  std::ofstream(file) << text;
  return file;
}

std::string mail_from(const std::string& sender, const std::string& id) {
  return "From: Nina Park <" + sender + ">\r\nTo: someone\r\nSubject: Question\r\nMessage-ID: <" + id + ">\r\n\r\nHello, what does it cost?\r\n";
}

// The path and query of a URL on the node.
std::string target_of(const std::string& url, int port) {
  auto at = url.find("127.0.0.1:" + std::to_string(port));
  return at == std::string::npos ? std::string() : url.substr(at + std::string("127.0.0.1:" + std::to_string(port)).size());
}

class email_tracking_e2etest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = pg::connection::open(pg::connect_options{test::database_url()});
    ASSERT_TRUE(c.ok());
    db_ = std::move(*c);
  }
  std::string one(const std::string& sql, const std::string& a, const std::string& b = "") {
    auto p = pg::params{}.add(a);
    if (!b.empty()) p.add(b);
    auto r = db_->exec(sql, p);
    EXPECT_TRUE(r.ok()) << sql << (r.ok() ? "" : ": " + r.err().message);
    return r.ok() && r->size() == 1 && r->get_optional(0, 0) ? std::string(*r->get_optional(0, 0)) : std::string();
  }
  // Polls a one-value query until it gives `want` (or the deadline).
  std::string await(const std::string& sql, const std::string& a, const std::string& want, const std::string& b = "") {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    std::string got;
    while ((got = one(sql, a, b)) != want && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    return got;
  }
  std::unique_ptr<pg::connection> db_;
};

TEST_F(email_tracking_e2etest, the_lead_gets_a_tracked_email_and_can_unsubscribe_in_one_click) {
  auto s = make("track");
  test::smtp_sink relay;
  // No public_url: the links point at http_listen, so a send never fails for want of it.
  test::node_process node({}, {{"FLOWTRACK_MAIL_RELAY", relay.relay()}});
  int http_port = node.port;
  std::string lead_email = "nina@" + s.slug + ".example.org";
  auto first = write_message("first", mail_from(lead_email, "first-" + s.slug + "@example.org"));
  auto sent = test::run_command("swaks --server 127.0.0.1:" + std::to_string(node.smtp_port) + " --from fwd@example.com --to " +
                                test::shell_quote(s.intake) + " --data " + test::shell_quote("@" + first));
  ASSERT_EQ(sent.exit_code, 0) << sent.out;

  auto mails = relay.await(1);
  ASSERT_EQ(mails.size(), 1u) << node.process->log();
  const auto& mail = mails[0];
  EXPECT_EQ(mail.header("to"), lead_email);
  std::string unsubscribe = mail.header("list-unsubscribe");
  ASSERT_EQ(unsubscribe.front(), '<') << unsubscribe;
  unsubscribe = unsubscribe.substr(1, unsubscribe.size() - 2);
  EXPECT_EQ(mail.header("list-unsubscribe-post"), "List-Unsubscribe=One-Click");
  std::string html;
  for (std::size_t i = 0; i < mail.parts().size(); ++i)
    if (mail.parts()[i].at("content_type").as_string() == "text/html") html = mail.part_content(i);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(html, m, std::regex(R"re(<a href="([^"]*/t/c/[^"]*)">our offer</a>)re"))) << html;
  std::string click = m[1];
  ASSERT_TRUE(std::regex_search(html, m, std::regex(R"re(<img src="([^"]*/t/o/[^"]*\.gif)")re"))) << html;
  std::string pixel = m[1];
  EXPECT_EQ(html.find("offers.example"), std::string::npos) << "the offer only through the click link";

  // Opened: the pixel, twice (counted once).
  for (int i = 0; i < 2; ++i) {
    auto r = test::http_request(http_port, "GET", target_of(pixel, http_port));
    EXPECT_EQ(r.status, 200);
  }
  std::string lead = one("SELECT id::text FROM leads WHERE workspace_id = $1::uuid AND email = $2::citext", s.ws, lead_email);
  ASSERT_FALSE(lead.empty());
  EXPECT_EQ(await("SELECT count(*)::text FROM lead_events WHERE lead_id = $1::uuid AND event_type = 'EMAIL_OPENED'", lead, "1"), "1");
  EXPECT_EQ(one("SELECT (last_email_opened_at IS NOT NULL)::text FROM leads WHERE id = $1::uuid", lead), "true");

  // Clicked: redirected to the URL that was in the email, entities decoded.
  auto clicked = test::http_request(http_port, "GET", target_of(click, http_port));
  EXPECT_EQ(clicked.status, 302);
  EXPECT_EQ(clicked.headers["location"], "https://offers.example/spring?a=1&b=2");
  EXPECT_EQ(await("SELECT count(*)::text FROM lead_events WHERE lead_id = $1::uuid AND event_type = 'EMAIL_CLICKED'", lead, "1"), "1");
  // A forged or altered link goes nowhere.
  std::string forged = target_of(click, http_port);
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(test::http_request(http_port, "GET", forged).status, 404);

  // One-click unsubscribe (RFC 8058), as a mail provider sends it.
  auto page = test::http_request(http_port, "GET", target_of(unsubscribe, http_port));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<form method=\"post\">"), std::string::npos);
  auto unsub = test::http_request(http_port, "POST", target_of(unsubscribe, http_port), "List-Unsubscribe=One-Click",
                                  {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(unsub.status, 200) << unsub.body;
  EXPECT_EQ(one("SELECT (unsubscribed_at IS NOT NULL)::text FROM leads WHERE id = $1::uuid", lead), "true");
  EXPECT_EQ(one("SELECT count(*)::text FROM lead_events WHERE lead_id = $1::uuid AND event_type = 'UNSUBSCRIBED'", lead), "1");

  // The lead writes again: the workflow runs, its email step is skipped with the reason.
  auto second = write_message("second", mail_from(lead_email, "second-" + s.slug + "@example.org"));
  auto again = test::run_command("swaks --server 127.0.0.1:" + std::to_string(node.smtp_port) + " --from fwd@example.com --to " +
                                 test::shell_quote(s.intake) + " --data " + test::shell_quote("@" + second));
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(await("SELECT count(*)::text FROM workflow_executions WHERE workflow_id = $1::uuid AND status = 'completed'", s.wf, "2"), "2")
      << node.process->log();
  EXPECT_EQ(one("SELECT s.output_data->>'skipped' FROM execution_steps s JOIN workflow_executions e ON e.id = s.execution_id"
                " WHERE e.workflow_id = $1::uuid AND s.status = 'skipped'", s.wf),
            "the lead unsubscribed from emails");
  EXPECT_EQ(relay.messages().size(), 1u) << "no second email";
  std::remove(first.c_str());
  std::remove(second.c_str());
}

TEST_F(email_tracking_e2etest, raw_mail_over_http_with_the_workspace_inbound_token) {
  auto s = make("inbound");
  test::smtp_sink relay;
  test::node_process node({}, {{"FLOWTRACK_MAIL_RELAY", relay.relay()}});
  std::string token = cli("workspace inbound-token " + s.slug);
  ASSERT_EQ(token.rfind("ftin_", 0), 0u) << token;
  std::string lead_email = "omar@" + s.slug + ".example.org";
  std::string raw = mail_from(lead_email, "http-" + s.slug + "@example.org");
  std::map<std::string, std::string> headers{{"Content-Type", "message/rfc822"}, {"X-FlowTrack-Token", token}};

  auto ok = test::http_request(node.port, "POST", "/inbound/email", raw, headers);
  EXPECT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(one("SELECT l.source || ' ' || (l.source_metadata->>'channel') FROM leads l WHERE l.workspace_id = $1::uuid"
                " AND l.email = $2::citext", s.ws, lead_email),
            "EMAIL_FORWARD http");
  auto again = test::http_request(node.port, "POST", "/inbound/email", raw, {{"Content-Type", "message/rfc822"}, {"Authorization", "Bearer " + token}});
  EXPECT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(one("SELECT count(*)::text FROM workflow_executions WHERE workflow_id = $1::uuid", s.wf), "1") << "the same Message-ID";

  EXPECT_EQ(test::http_request(node.port, "POST", "/inbound/email", raw, {{"Content-Type", "message/rfc822"}}).status, 401);
  EXPECT_EQ(test::http_request(node.port, "POST", "/inbound/email", raw,
                               {{"Content-Type", "message/rfc822"}, {"X-FlowTrack-Token", "ftin_nope"}}).status, 401);
  EXPECT_EQ(test::http_request(node.port, "POST", "/inbound/email", raw, {{"Content-Type", "text/plain"}, {"X-FlowTrack-Token", token}}).status, 415);
  // Nothing a lead can be read from: kept for the owner, as over SMTP.
  auto junk = test::http_request(node.port, "POST", "/inbound/email", "no headers at all", headers);
  EXPECT_EQ(junk.status, 202) << junk.body;
  EXPECT_EQ(one("SELECT channel || ' ' || size_bytes FROM unparsed_mail WHERE workspace_id = $1::uuid", s.ws, ""), "http 17");
  EXPECT_EQ(test::http_request(node.port, "GET", "/inbound/email").status, 405);
  // A new token: the old one stops working.
  std::string rotated = cli("workspace inbound-token " + s.slug);
  EXPECT_NE(rotated, token);
  EXPECT_EQ(test::http_request(node.port, "POST", "/inbound/email", raw, headers).status, 401);
}

}  // namespace
}  // namespace flowtrack
