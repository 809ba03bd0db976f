// PostgreSQL stopped while a message is being delivered: the sender gets 451 (never a 250 for
// mail that was not kept), and the same message sent again once the database is back gives one
// lead and one run. Serial: it stops the shared test server.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
using test::cli;

const char* k_graph = R"({"name":"Mail","status":"active","nodes":[
  {"id":"m","type":"TRIGGER_EMAIL","position":{"x":0,"y":0},"data":{}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":1},"data":{}}],
 "edges":[{"id":"1","source":"m","target":"e"}]})";

TEST(email_outage_e2etest, the_database_down_at_end_of_data_gives_451_and_the_retry_one_lead) {
  std::string ctl = test::require_env("FLOWTRACK_TEST_PG_CTL");
  std::string slug = test::unique_slug("mailout");
  auto made = boost::json::parse(cli("workspace create --name Outage --slug " + slug + " --owner-email owner@" + slug + ".example.com"));
  std::string ws = std::string(made.at("id").as_string()), intake = std::string(made.at("intakeEmail").as_string());
  std::string graph = "/tmp/" + slug + ".json", msg = "/tmp/" + slug + ".eml";
  std::ofstream(graph) << k_graph;
  std::string wf = cli("workflow import --workspace " + slug + " " + graph);
  std::ofstream(msg) << "From: Ola <ola@buyer.example>\r\nTo: " << intake << "\r\nSubject: offer\r\nMessage-ID: <outage-" << slug
                     << "@buyer.example>\r\n\r\nPlease call me.\r\n";
  // A short engine deadline so the 451 comes within the test, not after 30 s.
  test::node_process node(test::node_process::settings{{"FLOWTRACK_SMTP_HANDLER_TIMEOUT_MS", "20000"}});
  auto swaks = [&] {
    return test::run_command("swaks --server 127.0.0.1:" + std::to_string(node.smtp_port) + " --timeout 60 --from fwd@example.com --to " +
                             test::shell_quote(intake) + " --data " + test::shell_quote("@" + msg));
  };
  // The workspace is loaded and RCPT works while the database is up.
  auto warm = test::run_command("swaks --server 127.0.0.1:" + std::to_string(node.smtp_port) + " --quit-after RCPT --to " +
                                test::shell_quote(intake));
  ASSERT_EQ(warm.exit_code, 0) << warm.out;

  ASSERT_EQ(test::run_command(ctl + " stop").exit_code, 0);
  struct restart_guard {
    std::string ctl;
    ~restart_guard() { test::run_command(ctl + " start"); }
  } guard{ctl};
  auto down = swaks();
  EXPECT_EQ(down.exit_code, 26) << "refused at the end of DATA: " << down.out;
  EXPECT_NE(down.out.find("<** 451 4."), std::string::npos) << down.out;

  ASSERT_EQ(test::run_command(ctl + " start").exit_code, 0);
  // The sender retries until the node has its database back.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  test::command_result up;
  while ((up = swaks()).exit_code != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(200ms);
  ASSERT_EQ(up.exit_code, 0) << up.out << node.process->log();
  // Once more: the same Message-ID starts nothing new.
  ASSERT_EQ(swaks().exit_code, 0);

  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  ASSERT_TRUE(c.ok());
  auto r = (*c)->exec("SELECT (SELECT count(*) FROM leads WHERE workspace_id = $1::uuid),"
                      " (SELECT count(*) FROM workflow_executions WHERE workflow_id = $2::uuid)",
                      pg::params{}.add(ws).add(wf));
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->get(0, 0), "1");
  EXPECT_EQ(r->get(0, 1), "1");
  std::remove(graph.c_str());
  std::remove(msg.c_str());
}

}  // namespace
}  // namespace flowtrack
