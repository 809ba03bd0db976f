// POST /hooks/{workflow_id} against a running node: token, JSON body, idempotency, errors.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
using test::cli;

const char* k_graph = R"({"name":"Partner leads","status":"active","nodes":[
  {"id":"h","type":"TRIGGER_WEBHOOK","position":{"x":0,"y":0},"data":{}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":1},"data":{"status":"FROM_PARTNER"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"h","target":"s"},{"id":"2","source":"s","target":"e"}]})";

TEST(hooks_e2etest, a_partner_posts_leads_with_the_workflow_token) {
  std::string slug = test::unique_slug("hooks");
  cli("workspace create --name Hooks --slug " + slug + " --owner-email owner@" + slug + ".example.com");
  std::string file = "/tmp/" + slug + ".json";
  std::ofstream(file) << k_graph;
  std::string wf = cli("workflow import --workspace " + slug + " " + file);
  std::string token = cli("workflow token " + wf);
  ASSERT_EQ(token.rfind("ftwh_", 0), 0u) << token;

  int port = test::free_port();
  test::child_process node({test::flowtrackd(), "serve"}, {{"FLOWTRACK_DATABASE_URL", test::database_url()},
                                                          {"FLOWTRACK_REDIS_URL", test::redis_url()},
                                                          {"FLOWTRACK_HTTP_LISTEN", "127.0.0.1:" + std::to_string(port)},
                                                          {"FLOWTRACK_ADMIN_LISTEN", "127.0.0.1:" + std::to_string(test::free_port())},
                                                          {"FLOWTRACK_SMTP_LISTEN", "127.0.0.1:" + std::to_string(test::free_port())}});
  ASSERT_TRUE(test::await_http_status(port, "/healthz", 200, 20s)) << node.log();
  std::string target = "/hooks/" + wf;
  std::map<std::string, std::string> json_headers{{"Content-Type", "application/json"}, {"X-FlowTrack-Token", token}};

  auto ok = test::http_request(port, "POST", target, R"({"email":"partner@example.com","name":"Pat","source":"crm"})", json_headers);
  ASSERT_EQ(ok.status, 202) << ok.body;
  auto body = boost::json::parse(ok.body).as_object();
  std::string execution = std::string(body.at("executionId").as_string());
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  ASSERT_TRUE(c.ok());
  auto deadline = std::chrono::steady_clock::now() + 15s;
  std::string status;
  while (status != "completed" && std::chrono::steady_clock::now() < deadline) {
    auto r = (*c)->exec("SELECT status FROM workflow_executions WHERE id = $1::uuid", pg::params{}.add(execution));
    if (r.ok() && r->size() == 1) status = r->get(0, 0);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, "completed");
  auto lead = (*c)->exec("SELECT l.status, l.source, e.trigger_type FROM workflow_executions e JOIN leads l ON l.id = e.lead_id WHERE e.id = $1::uuid",
                         pg::params{}.add(execution));
  ASSERT_TRUE(lead.ok() && lead->size() == 1);
  EXPECT_EQ(lead->get(0, 0), "FROM_PARTNER");
  EXPECT_EQ(lead->get(0, 1), "API");
  EXPECT_EQ(lead->get(0, 2), "WEBHOOK");

  // The same Idempotency-Key twice: one execution.
  auto keyed = json_headers;
  keyed["Idempotency-Key"] = "order-17";
  auto first = test::http_request(port, "POST", target, R"({"email":"k1@example.com"})", keyed);
  auto second = test::http_request(port, "POST", target, R"({"email":"k2@example.com"})", keyed);
  ASSERT_EQ(first.status, 202) << first.body;
  ASSERT_EQ(second.status, 202) << second.body;
  EXPECT_EQ(boost::json::parse(first.body).at("executionId"), boost::json::parse(second.body).at("executionId"));
  EXPECT_TRUE(boost::json::parse(second.body).at("duplicate").as_bool());

  // Wrong or missing token, bad bodies, unknown workflows, wrong methods.
  auto wrong = json_headers;
  wrong["X-FlowTrack-Token"] = "ftwh_nope";
  EXPECT_EQ(test::http_request(port, "POST", target, R"({"email":"x@example.com"})", wrong).status, 401);
  EXPECT_EQ(test::http_request(port, "POST", target, R"({"email":"x@example.com"})", {{"Content-Type", "application/json"}}).status, 401);
  auto malformed = test::http_request(port, "POST", target, R"({"email": )", json_headers);
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.body.find(R"("code":"invalid")"), std::string::npos) << malformed.body;
  auto no_email = test::http_request(port, "POST", target, R"({"name":"No Email"})", json_headers);
  EXPECT_EQ(no_email.status, 422) << no_email.body;
  EXPECT_NE(no_email.body.find(R"("field":"email")"), std::string::npos) << no_email.body;
  EXPECT_EQ(test::http_request(port, "POST", target, "email=x@example.com", {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-FlowTrack-Token", token}}).status, 415);
  EXPECT_EQ(test::http_request(port, "POST", "/hooks/00000000-0000-4000-8000-000000000000", R"({"email":"x@example.com"})", json_headers).status, 404);
  EXPECT_EQ(test::http_request(port, "POST", "/hooks/not-a-uuid", R"({"email":"x@example.com"})", json_headers).status, 404);
  EXPECT_EQ(test::http_request(port, "GET", target).status, 405);

  node.signal(SIGTERM);
  EXPECT_EQ(node.wait(15s).value_or(-1), 0) << node.log();
  std::remove(file.c_str());
}

}  // namespace
}  // namespace flowtrack
