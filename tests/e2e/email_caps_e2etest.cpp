// The hourly email cap against a running node: a public form whose workflow emails whoever
// submits it, in a workspace capped at 2 emails an hour, gets 3 submissions; 2 emails reach the
// relay (aiosmtpd) and the third execution waits, paused until the hour has room, its email step
// pending with the reason, no retry used up. Usage events and last_email_sent_at are kept.
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

const char* k_form = R"({"name":"Contact","status":"active",
 "nodes":[{"id":"t","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},
          {"id":"m","type":"ACTION_SEND_EMAIL","position":{"x":0,"y":1},"data":{"emailSubject":"Thanks for writing","emailBody":"We got it."}},
          {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"m"},{"id":"2","source":"m","target":"e"}],
 "formFields":[{"fieldKey":"email","label":"Email","fieldType":"EMAIL","isRequired":true,"displayOrder":1}]})";

class email_caps_e2etest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = pg::connection::open(pg::connect_options{test::database_url()});
    ASSERT_TRUE(c.ok());
    db_ = std::move(*c);
  }
  std::vector<std::vector<std::string>> rows(const std::string& sql, const std::string& a) {
    auto r = db_->exec(sql, pg::params{}.add(a));
    EXPECT_TRUE(r.ok()) << sql << (r.ok() ? "" : ": " + r.err().message);
    std::vector<std::vector<std::string>> out;
    if (!r.ok()) return out;
    for (int i = 0; i < r->size(); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < r->columns(); ++j) row.push_back(std::string(r->get_optional(i, j).value_or("NULL")));
      out.push_back(std::move(row));
    }
    return out;
  }
  std::string one(const std::string& sql, const std::string& a) {
    auto r = rows(sql, a);
    return r.size() == 1 && r[0].size() == 1 ? r[0][0] : std::string();
  }
  // Polls a one-value query until it gives `want` (or the deadline).
  std::string await(const std::string& sql, const std::string& a, const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    std::string got;
    while ((got = one(sql, a)) != want && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    return got;
  }
  std::unique_ptr<pg::connection> db_;
};

TEST_F(email_caps_e2etest, a_workspace_capped_at_two_an_hour_sends_two_and_the_third_run_waits) {
  std::string slug = test::unique_slug("cap");
  auto made = boost::json::parse(cli("workspace create --name Capped --slug " + slug + " --owner-email owner@" + slug + ".example.com"));
  std::string ws(made.at("id").as_string());
  std::string file = "/tmp/" + slug + ".json";
  std::ofstream(file) << k_form;
  cli("workflow import --workspace " + slug + " " + file);
  std::remove(file.c_str());
  auto set = db_->exec("UPDATE workspaces SET settings = settings || '{\"email_hourly_cap\": 2}'::jsonb WHERE id = $1::uuid",
                       pg::params{}.add(ws));
  ASSERT_TRUE(set.ok()) << set.err().message;

  test::smtp_sink relay;
  test::node_process node({}, {{"FLOWTRACK_MAIL_RELAY", relay.relay()}});
  for (int i = 1; i <= 3; ++i) {
    std::string body = R"({"email":"visitor)" + std::to_string(i) + "@" + slug + R"(.example.org"})";
    auto r = test::http_request(node.port, "POST", "/p/" + slug, body, {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 202) << r.body;
    // One after another, so the two that go first are the first two.
    EXPECT_EQ(await("SELECT count(*)::text FROM workflow_executions WHERE workspace_id = $1::uuid AND status IN ('completed', 'paused')", ws,
                    std::to_string(i)),
              std::to_string(i))
        << node.process->log();
  }

  auto mails = relay.await(2);
  ASSERT_EQ(mails.size(), 2u) << node.process->log();
  EXPECT_EQ(mails[0].header("to"), "visitor1@" + slug + ".example.org");
  EXPECT_EQ(mails[1].header("to"), "visitor2@" + slug + ".example.org");

  // The third waits: paused for about an hour, its email step pending with the reason.
  auto paused = rows("SELECT l.email, e.resume_at > now() + interval '50 minutes', e.resume_at <= now() + interval '61 minutes' "
                     "FROM workflow_executions e JOIN leads l ON l.id = e.lead_id WHERE e.workspace_id = $1::uuid AND e.status = 'paused'",
                     ws);
  ASSERT_EQ(paused.size(), 1u);
  EXPECT_EQ(paused[0], (std::vector<std::string>{"visitor3@" + slug + ".example.org", "t", "t"}));
  auto steps = rows("SELECT s.status, s.retry_count::text, s.output_data->>'waitingFor', (s.output_data->>'hourlyCap') "
                    "FROM execution_steps s JOIN workflow_executions e ON e.id = s.execution_id "
                    "JOIN workflow_nodes n ON n.id = s.workflow_node_id "
                    "WHERE e.workspace_id = $1::uuid AND e.status = 'paused' AND n.node_type = 'ACTION_SEND_EMAIL'",
                    ws);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0], (std::vector<std::string>{"pending", "0", "email_hourly_cap", "2"}));
  EXPECT_EQ(one("SELECT count(*)::text FROM execution_logs g JOIN workflow_executions e ON e.id = g.execution_id "
                "WHERE e.workspace_id = $1::uuid AND g.message LIKE '%hourly email cap (2 per hour) is reached%'", ws),
            "1");

  // Counted: two sends as usage events, each lead that got mail has last_email_sent_at.
  EXPECT_EQ(one("SELECT count(*)::text FROM usage_events WHERE workspace_id = $1::uuid AND event_type = 'EMAIL_SENT' "
                "AND event_category = 'communication'", ws),
            "2");
  EXPECT_EQ(one("SELECT count(*)::text FROM leads WHERE workspace_id = $1::uuid AND last_email_sent_at IS NOT NULL", ws), "2");
  // Nothing more arrives while the hour is full.
  EXPECT_EQ(relay.messages().size(), 2u);
}

}  // namespace
}  // namespace flowtrack
