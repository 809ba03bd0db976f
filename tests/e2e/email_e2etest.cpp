// Mail to a workspace's intake address against a running node, sent by swaks: direct and
// forwarded messages become leads (the original sender of a forward), the same Message-ID twice
// starts one run, `intake+{tag}` picks one workflow, and strangers, unknown or inactive
// workspaces are refused at RCPT with 550. Mail no lead can be read from is kept for the owner
// (and told to them); trusted Authentication-Results are recorded.
#include <gtest/gtest.h>

#include <fstream>
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

std::string email_graph(const std::string& name, const std::string& status) {
  return R"({"name":")" + name + R"(","status":"active","nodes":[
  {"id":"m","type":"TRIGGER_EMAIL","position":{"x":0,"y":0},"data":{}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":1},"data":{"status":")" + status + R"("}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"m","target":"s"},{"id":"2","source":"s","target":"e"}]})";
}

struct workspace {
  std::string slug, id, intake;  ///< intake: the address, intake@{intake_email_id}.{mail domain}
  std::vector<std::string> workflows;
};

workspace make_workspace(const std::string& prefix, int email_workflows) {
  workspace w;
  w.slug = test::unique_slug(prefix);
  auto made = boost::json::parse(cli("workspace create --name Mail --slug " + w.slug + " --owner-email owner@" + w.slug + ".example.com"));
  w.id = std::string(made.at("id").as_string());
  w.intake = std::string(made.at("intakeEmail").as_string());
  for (int i = 0; i < email_workflows; ++i) {
    std::string file = "/tmp/" + w.slug + "-" + std::to_string(i) + ".json";
    std::ofstream(file) << email_graph("Mail " + std::to_string(i), "MAILED_" + std::to_string(i));
    w.workflows.push_back(cli("workflow import --workspace " + w.slug + " " + file));
    std::remove(file.c_str());
  }
  return w;
}

struct swaks_result {
  int exit_code;
  std::string transcript;
};

// swaks exits 0 when the message was accepted; 23 (MAIL), 24 (RCPT), 25 (DATA) when refused.
swaks_result swaks(int port, const std::string& to, const std::string& data_file, const std::string& from = "fwd@forwarder.example") {
  auto r = test::run_command("swaks --server 127.0.0.1:" + std::to_string(port) + " --timeout 30 --from " + test::shell_quote(from) +
                             " --to " + test::shell_quote(to) + " --data " + test::shell_quote("@" + data_file));
  return {r.exit_code, r.out + r.err};
}

std::string corpus(const std::string& name) { return std::string(FLOWTRACK_MAIL_CORPUS) + "/" + name; }

std::string write_message(const std::string& slug, const std::string& text) {
  std::string file = "/tmp/" + slug + "-" + test::unique_name("msg") + ".eml";
  std::ofstream(file) << text;
  return file;
}

class email_e2etest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = pg::connection::open(pg::connect_options{test::database_url()});
    ASSERT_TRUE(c.ok());
    db_ = std::move(*c);
  }
  // One row's columns for the lead with this email in the workspace, awaited (a 250 means
  // committed, so the wait is for the run's status change only).
  std::vector<std::string> lead_row(const workspace& w, const std::string& email, const std::string& want_status = "") {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    std::vector<std::string> row;
    do {
      auto r = db_->exec(
          "SELECT l.status, l.source, l.name, COALESCE(l.phone, ''), COALESCE(l.company_name, ''), l.source_metadata::text"
          " FROM leads l WHERE l.workspace_id = $1::uuid AND l.email = $2::citext",
          pg::params{}.add(w.id).add(email));
      row.clear();
      if (r.ok() && r->size() == 1)
        for (int i = 0; i < 6; ++i) row.emplace_back(r->get(0, i));
      if (!row.empty() && (want_status.empty() || row[0] == want_status)) return row;
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return row;
  }
  long count(const std::string& sql, const std::string& arg) {
    auto r = db_->exec(sql, pg::params{}.add(arg));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    return r.ok() && r->size() == 1 ? std::stol(std::string(r->get(0, 0))) : -1;
  }
  std::unique_ptr<pg::connection> db_;
};

TEST_F(email_e2etest, direct_and_forwarded_mail_become_leads_once_per_message_id) {
  auto w = make_workspace("mail", 1);
  test::node_process node;

  // Sent straight to the address: the From header's sender is the lead, not the envelope's.
  std::string direct = write_message(w.slug, "From: Dana Cole <dana.cole@client.example>\r\nTo: " + w.intake +
                                                 "\r\nSubject: Quote for a kitchen\r\nMessage-ID: <direct-" + w.slug +
                                                 "@client.example>\r\nDate: Wed, 2 Dec 2026 10:00:00 +0000\r\n\r\n"
                                                 "Hello, could you send me a quote?\r\n\r\nDana\r\n");
  auto sent = swaks(node.smtp_port, w.intake, direct, "bounce@relay.example");
  ASSERT_EQ(sent.exit_code, 0) << sent.transcript;
  EXPECT_NE(sent.transcript.find("<-  250 2.0.0"), std::string::npos) << sent.transcript;
  auto row = lead_row(w, "dana.cole@client.example", "MAILED_0");
  ASSERT_EQ(row.size(), 6u) << node.process->log();
  EXPECT_EQ(row[0], "MAILED_0") << "the email workflow ran";
  EXPECT_EQ(row[1], "EMAIL_FORWARD");
  EXPECT_EQ(row[2], "Dana Cole");
  auto meta = boost::json::parse(row[5]).as_object();
  EXPECT_EQ(meta.at("format").as_string(), "direct");
  EXPECT_EQ(meta.at("envelopeFrom").as_string(), "bounce@relay.example");
  EXPECT_EQ(meta.at("messageId").as_string(), "direct-" + w.slug + "@client.example");
  EXPECT_EQ(count("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1::uuid AND trigger_type = 'EMAIL'", w.workflows[0]), 1);
  EXPECT_EQ(count("SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1::uuid"
                  " AND e.event_type = 'EMAIL_RECEIVED'", w.id), 1);

  // A Gmail forward: the ORIGINAL sender, with the phone and company of their signature.
  auto fwd = swaks(node.smtp_port, w.intake, corpus("gmail_en.eml"));
  ASSERT_EQ(fwd.exit_code, 0) << fwd.transcript;
  row = lead_row(w, "robert.miller@millerbuild.com", "MAILED_0");
  ASSERT_EQ(row.size(), 6u);
  EXPECT_EQ(row[2], "Robert Miller");
  EXPECT_EQ(row[3], "+44 20 7946 0958");
  EXPECT_EQ(row[4], "Miller Build Ltd");
  meta = boost::json::parse(row[5]).as_object();
  EXPECT_EQ(meta.at("format").as_string(), "gmail");
  EXPECT_EQ(meta.at("forwarder").at("email").as_string(), "tom.harris@nordlicht-solar.com");
  EXPECT_EQ(count("SELECT count(*) FROM leads WHERE workspace_id = $1::uuid AND email = 'tom.harris@nordlicht-solar.com'", w.id), 0)
      << "the forwarder is not a lead";

  // The same message again (a retry, a second delivery): accepted, nothing new starts.
  auto again = swaks(node.smtp_port, w.intake, corpus("gmail_en.eml"));
  ASSERT_EQ(again.exit_code, 0) << again.transcript;
  EXPECT_EQ(count("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1::uuid", w.workflows[0]), 2);

  // Upper case anywhere in the address is the same address.
  std::string upper = w.intake;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto shouted = swaks(node.smtp_port, upper, corpus("outlook_de.eml"));
  EXPECT_EQ(shouted.exit_code, 0) << shouted.transcript;

  // Without a Message-ID the message's bytes identify it; our Received: field (new on every
  // delivery) is not part of them, so a resend still starts nothing new.
  std::string anonymous = write_message(w.slug, "From: Ivo <ivo@" + w.slug + ".example>\r\nTo: " + w.intake +
                                                    "\r\nSubject: no id\r\n\r\nHello\r\n");
  ASSERT_EQ(swaks(node.smtp_port, w.intake, anonymous).exit_code, 0);
  ASSERT_EQ(swaks(node.smtp_port, w.intake, anonymous).exit_code, 0);
  EXPECT_EQ(count("SELECT count(*) FROM workflow_executions e JOIN leads l ON l.id = e.lead_id WHERE l.email = $1::citext",
                  "ivo@" + w.slug + ".example"), 1);
  std::remove(anonymous.c_str());
  std::remove(direct.c_str());
}

TEST_F(email_e2etest, a_tag_picks_one_workflow_and_strangers_are_refused_at_rcpt) {
  auto w = make_workspace("mailtag", 2);
  auto idle = make_workspace("mailidle", 0);
  test::node_process node;
  std::string domain = w.intake.substr(w.intake.find('@') + 1);
  std::string msg = write_message(w.slug, "From: Lee <lee@buyer.example>\r\nTo: x\r\nSubject: hi\r\nMessage-ID: <tag-" + w.slug +
                                              "@buyer.example>\r\n\r\nHello\r\n");

  auto tagged = swaks(node.smtp_port, "intake+" + w.workflows[1] + "@" + domain, msg);
  ASSERT_EQ(tagged.exit_code, 0) << tagged.transcript;
  auto row = lead_row(w, "lee@buyer.example", "MAILED_1");
  ASSERT_EQ(row.size(), 6u);
  EXPECT_EQ(row[0], "MAILED_1");
  EXPECT_EQ(count("SELECT count(*) FROM workflow_executions WHERE workflow_id = $1::uuid", w.workflows[0]), 0)
      << "the tag picked the other workflow";

  auto refused = [&](const std::string& to) {
    auto r = swaks(node.smtp_port, to, msg);
    EXPECT_EQ(r.exit_code, 24) << "refused at RCPT: " << r.transcript;
    EXPECT_NE(r.transcript.find("<** 550 5.1.1"), std::string::npos) << r.transcript;
  };
  refused("someone@" + domain);                              // not the intake mailbox
  refused("intake@elsewhere.example");                        // not our domain
  refused("intake@nosuchid." + domain.substr(domain.find('.') + 1));  // no such workspace
  refused("intake+no-such-form@" + domain);                   // a tag naming no workflow
  refused(idle.intake);                                       // a workspace without an email workflow

  // Deactivated: refused at RCPT within the tenant poll.
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->exec("UPDATE workspaces SET is_active = false WHERE id = $1::uuid", pg::params{}.add(w.id)).ok());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  swaks_result r{};
  while ((r = swaks(node.smtp_port, w.intake, msg)).exit_code == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(r.exit_code, 24) << r.transcript;
  std::remove(msg.c_str());
}

TEST_F(email_e2etest, only_allowed_forwarders_get_past_rcpt_when_the_workspace_lists_them) {
  auto w = make_workspace("mailfwd", 1);
  ASSERT_TRUE(db_->exec("UPDATE workspaces SET settings = '{\"allowedForwarders\":[\"boss@shop.example\",\"@team.example\"]}'"
                        " WHERE id = $1::uuid", pg::params{}.add(w.id)).ok());
  test::node_process node;
  std::string msg = write_message(w.slug, "From: Kim <kim@buyer.example>\r\nTo: x\r\nSubject: hi\r\nMessage-ID: <fwd-" + w.slug +
                                              "@buyer.example>\r\n\r\nHello\r\n");
  auto stranger = swaks(node.smtp_port, w.intake, msg, "someone@elsewhere.example");
  EXPECT_EQ(stranger.exit_code, 24) << stranger.transcript;
  EXPECT_NE(stranger.transcript.find("<** 550 5.7.1"), std::string::npos) << stranger.transcript;
  auto boss = swaks(node.smtp_port, w.intake, msg, "Boss@Shop.example");
  EXPECT_EQ(boss.exit_code, 0) << boss.transcript;
  auto colleague = swaks(node.smtp_port, w.intake, msg, "ann@team.example");
  EXPECT_EQ(colleague.exit_code, 0) << colleague.transcript;
  EXPECT_EQ(lead_row(w, "kim@buyer.example").size(), 6u);
  std::remove(msg.c_str());
}

TEST_F(email_e2etest, unreadable_mail_is_kept_and_the_owner_told_while_the_sender_gets_250) {
  auto w = make_workspace("mailjunk", 1);
  test::smtp_sink relay;
  test::node_process node({}, {{"FLOWTRACK_MAIL_RELAY", relay.relay()}});
  // No From header: nobody to make a lead of. The sender (maybe a machine forwarding whatever
  // arrives) is not refused, the message is not lost.
  std::string body = "Please call me back about the roof, " + w.slug + "\r\n";
  std::string junk = write_message(w.slug, "To: " + w.intake + "\r\nSubject: no sender\r\n\r\n" + body);
  auto sent = swaks(node.smtp_port, w.intake, junk);
  ASSERT_EQ(sent.exit_code, 0) << sent.transcript;
  EXPECT_NE(sent.transcript.find("<-  250 2.0.0"), std::string::npos) << sent.transcript;
  EXPECT_EQ(count("SELECT count(*) FROM unparsed_mail WHERE workspace_id = $1::uuid", w.id), 1) << "kept before the 250";
  EXPECT_EQ(count("SELECT count(*) FROM leads WHERE workspace_id = $1::uuid", w.id), 0);

  auto notices = relay.await(1);
  ASSERT_EQ(notices.size(), 1u) << node.process->log();
  EXPECT_EQ(notices[0].header("to"), "owner@" + w.slug + ".example.com");
  EXPECT_EQ(notices[0].header("subject"), "A message to your intake address could not be read");
  auto listed = test::run_command(test::flowtrackd() + " mail unparsed " + w.slug + " --database-url " +
                                  test::shell_quote(test::database_url()));
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto row = boost::json::parse(listed.out).as_object();
  std::string id(row.at("id").as_string());
  EXPECT_NE(notices[0].raw.find(id), std::string::npos) << "the notice names the kept message";
  EXPECT_EQ(row.at("channel").as_string(), "smtp");
  EXPECT_EQ(row.at("envelopeFrom").as_string(), "fwd@forwarder.example");
  EXPECT_NE(std::string(row.at("reason").as_string()).find("From"), std::string::npos) << row;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (count("SELECT count(*) FROM unparsed_mail WHERE id = $1::uuid AND owner_notified_at IS NOT NULL", id) != 1 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(count("SELECT count(*) FROM unparsed_mail WHERE id = $1::uuid AND owner_notified_at IS NOT NULL", id), 1);
  EXPECT_EQ(count("SELECT count(*) FROM unparsed_mail WHERE id = $1::uuid AND expires_at BETWEEN now() + interval '29 days'"
                  " AND now() + interval '31 days'", id), 1);

  // The bytes as they came, for the owner to read; only through the workspace they belong to.
  auto raw = test::run_command(test::flowtrackd() + " mail raw " + w.slug + " " + id + " --database-url " +
                               test::shell_quote(test::database_url()));
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_NE(raw.out.find("Subject: no sender\r\n"), std::string::npos) << raw.out;
  EXPECT_NE(raw.out.find(body), std::string::npos) << raw.out;
  auto other = make_workspace("mailjunk2", 1);
  auto foreign = test::run_command(test::flowtrackd() + " mail raw " + other.slug + " " + id + " --database-url " +
                                   test::shell_quote(test::database_url()));
  EXPECT_EQ(foreign.exit_code, 66) << "not found in another workspace: " << foreign.out;

  // The same bytes again (a retry): kept once. Another unreadable one within the hour is kept,
  // and the owner is not mailed once per message.
  ASSERT_EQ(swaks(node.smtp_port, w.intake, junk).exit_code, 0);
  EXPECT_EQ(count("SELECT count(*) FROM unparsed_mail WHERE workspace_id = $1::uuid", w.id), 1);
  std::string junk2 = write_message(w.slug, "To: " + w.intake + "\r\nSubject: still no sender\r\n\r\nhello\r\n");
  ASSERT_EQ(swaks(node.smtp_port, w.intake, junk2).exit_code, 0);
  EXPECT_EQ(count("SELECT count(*) FROM unparsed_mail WHERE workspace_id = $1::uuid", w.id), 2);
  EXPECT_EQ(count("SELECT count(*) FROM unparsed_mail WHERE workspace_id = $1::uuid AND owner_notified_at IS NULL", w.id), 1);
  std::remove(junk.c_str());
  std::remove(junk2.c_str());
}

TEST_F(email_e2etest, spf_and_dkim_verdicts_are_recorded_only_from_a_trusted_server) {
  auto w = make_workspace("mailauth", 1);
  test::node_process node({}, {{"FLOWTRACK_MAIL_TRUSTED_AUTHSERV_IDS", "mx.trusted.example, mx2.trusted.example"}});
  auto message = [&](const std::string& lead, const std::string& results) {
    return write_message(w.slug, results + "From: Lee <" + lead + ">\r\nTo: " + w.intake + "\r\nSubject: hi\r\nMessage-ID: <" +
                                     lead + ">\r\n\r\nHello\r\n");
  };
  std::string trusted = message("lee@" + w.slug + ".example",
                                "Authentication-Results: mx.trusted.example;\r\n spf=pass smtp.mailfrom=fwd@forwarder.example;\r\n"
                                " dkim=fail (bad signature) header.d=forwarder.example; dmarc=fail header.from=forwarder.example\r\n"
                                "Authentication-Results: mx.trusted.example; spf=fail; dkim=pass header.d=forged.example\r\n");
  ASSERT_EQ(swaks(node.smtp_port, w.intake, trusted).exit_code, 0);
  auto row = lead_row(w, "lee@" + w.slug + ".example");
  ASSERT_EQ(row.size(), 6u);
  auto meta = boost::json::parse(row[5]).as_object();
  ASSERT_TRUE(meta.contains("authentication")) << row[5];
  const auto& auth = meta.at("authentication").as_object();
  EXPECT_EQ(auth.at("authservId").as_string(), "mx.trusted.example");
  EXPECT_EQ(auth.at("spf").as_string(), "pass") << "the topmost header counts";
  EXPECT_EQ(auth.at("spfDomain").as_string(), "forwarder.example");
  EXPECT_EQ(auth.at("dkim").as_string(), "fail");
  EXPECT_EQ(auth.at("dkimDomain").as_string(), "forwarder.example");
  EXPECT_EQ(auth.at("dmarc").as_string(), "fail");

  // A header anyone could have written: nothing recorded.
  std::string untrusted = message("kai@" + w.slug + ".example", "Authentication-Results: mx.attacker.example; spf=pass; dkim=pass\r\n");
  ASSERT_EQ(swaks(node.smtp_port, w.intake, untrusted).exit_code, 0);
  row = lead_row(w, "kai@" + w.slug + ".example");
  ASSERT_EQ(row.size(), 6u);
  EXPECT_FALSE(boost::json::parse(row[5]).as_object().contains("authentication")) << row[5];
  std::remove(trusted.c_str());
  std::remove(untrusted.c_str());
}

}  // namespace
}  // namespace flowtrack
