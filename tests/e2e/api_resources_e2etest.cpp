// A workspace's resources over the management API (issue #13 item 4) against a running node with
// real PostgreSQL (a database of this suite's own), Redis and an SMTP sink: workflows (create
// from the import format, 422 with the engine's problems, list pages, ETag / If-Match edits that
// bump the version, activate, pause, duplicate, archive, delete, runs that complete), executions
// (list, detail with steps and logs, cancel, retry), webhook endpoints (CRUD, secret only at
// creation and rotation, a test event delivered to a local receiver, deliveries, redelivery under
// the same webhook-id), the role matrix and tenant isolation on every route. Each test's node has
// a redis-server of its own.
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <csignal>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "storage/redis/connection.hpp"
#include "tests/support/api_session.hpp"
#include "tests/support/http_receiver.hpp"
#include "tests/support/own_redis.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string k_jwt_key_hex = "2f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a6978";
const std::string k_encryption_key = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

scratch_database& database() {
  static scratch_database db("ft_api_res");
  return db;
}

using reply = api_reply;
using user = api_user;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds within = 20s) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

/// Every key of `o` is camelCase: a lower-case letter first, no '_'.
void expect_camel_case_keys(const json::object& o, const std::string& where) {
  for (const auto& kv : o) {
    std::string k(kv.key());
    EXPECT_TRUE(!k.empty() && std::islower(static_cast<unsigned char>(k[0])) && k.find('_') == std::string::npos)
        << where << " has the key '" << k << "'";
  }
}

json::object graph_node(const std::string& id, const std::string& type, json::object data = {}) {
  return {{"id", id}, {"type", type}, {"position", {{"x", 0}, {"y", 0}}}, {"data", std::move(data)}};
}

/// A workflow document of the import format: nodes in a chain.
json::object chain(const std::string& name, std::vector<json::object> nodes) {
  json::array ns, es;
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    std::string id = std::to_string(i);
    id.insert(0, 1, 'e');  // not "e" + ...: GCC 12 warns a false -Wrestrict on it
    es.push_back(json::object{{"id", id}, {"source", nodes[i - 1].at("id")}, {"target", nodes[i].at("id")}});
  }
  for (auto& n : nodes) ns.push_back(std::move(n));
  return {{"name", name},
          {"nodes", std::move(ns)},
          {"edges", std::move(es)},
          {"formFields", json::array{json::object{{"fieldKey", "budget"}, {"label", "Budget"}, {"fieldType", "NUMBER"}}}}};
}

json::object simple(const std::string& name) {
  return chain(name, {graph_node("start", "TRIGGER_MANUAL"), graph_node("tag", "ACTION_ADD_TAG", {{"tag", "api"}}),
                      graph_node("end", "LOGIC_END")});
}

// Each test's node has a Redis of its own: nodes claim whatever execution the shared queue
// names, so a node of another test (another database) would take this one's runs.
class api_resources : public api_session {
 protected:
  own_redis redis;
  void SetUp() override {
    ASSERT_TRUE(use_database(database()));
    start_node({{"FLOWTRACK_JWT_KEY", k_jwt_key_hex},
                {"FLOWTRACK_ENCRYPTION_KEY", k_encryption_key},
                {"FLOWTRACK_WEBHOOK_ALLOW", "127.0.0.0/8"},
                {"FLOWTRACK_REDIS_URL", redis.url()}});
  }
  void TearDown() override { node.reset(); }  // the node stops before its Redis

  std::string workspace(const user& owner) {
    static int made = 0;
    auto slug = "res-" + std::to_string(::getpid()) + "-" + std::to_string(++made);
    auto r = send("POST", "/workspaces", {{"name", "Acme"}, {"slug", slug}}, owner.token);
    EXPECT_EQ(r.status, 201) << r.text;
    return r.status == 201 ? r.str("id") : "";
  }

  void join(const std::string& ws, const user& by, const user& u, const std::string& role) {
    auto inv = send("POST", "/workspaces/" + ws + "/members", {{"email", u.email}, {"role", role}}, by.token);
    ASSERT_EQ(inv.status, 201) << inv.text;
    auto a = send("POST", "/invitations/accept", {{"token", mailed(u.email, "invitation")}}, u.token);
    ASSERT_EQ(a.status, 200) << a.text;
  }

  std::string create_workflow(const std::string& ws, const user& u, const json::object& doc) {
    auto r = send("POST", "/workspaces/" + ws + "/workflows", doc, u.token);
    EXPECT_EQ(r.status, 201) << r.text;
    return r.status == 201 ? r.str("id") : "";
  }

  // Waits for an execution to reach `status`; the last detail seen.
  reply await_execution(const std::string& ws, const user& u, const std::string& ex, const std::string& status) {
    reply last;
    bool ok = eventually([&] {
      last = call("GET", "/workspaces/" + ws + "/executions/" + ex, "", u.token);
      return last.status == 200 && last.body.at("execution").at("status").as_string() == status;
    }, 30s);
    EXPECT_TRUE(ok) << "execution " << ex << " never became " << status << ": " << last.text << "\n" << node->process->log();
    return last;
  }
};

// A node that looks for stale executions only hourly: a run that starts was woken through Redis.
class api_resources_own_redis : public api_resources {
 protected:
  void SetUp() override {
    ASSERT_TRUE(use_database(database()));
    start_node({{"FLOWTRACK_JWT_KEY", k_jwt_key_hex},
                {"FLOWTRACK_REDIS_URL", redis.url()},
                {"FLOWTRACK_RECOVERY_INTERVAL_MS", "3600000"}});
  }
};

TEST_F(api_resources_own_redis, wakes_runs_through_the_nodes_redis_workers_and_answers_through_a_redis_outage) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto base = "/workspaces/" + ws;
  auto id = create_workflow(ws, owner, simple("Woken"));
  ASSERT_EQ(call("POST", base + "/workflows/" + id + "/activate", "", owner.token).status, 200);
  int n = 0;
  auto start_run = [&] {
    auto r = send("POST", base + "/workflows/" + id + "/run", {{"lead", json::object{{"email", "r" + std::to_string(++n) + "@example.com"}}}},
                  owner.token);
    EXPECT_EQ(r.status, 202) << r.text;
    return r.status == 202 ? r.str("executionId") : "";
  };
  // Warm: the node's Redis workers have their connections.
  for (int i = 0; i < 2; ++i) await_execution(ws, owner, start_run(), "completed");

  // Ten runs, each woken (they complete within the await, recovery being hourly) on the workers'
  // connections: no new connection per run (there was one per run).
  auto before = redis.connections();
  std::vector<std::string> runs;
  for (int i = 0; i < 10; ++i) runs.push_back(start_run());
  for (const auto& ex : runs) await_execution(ws, owner, ex, "completed");
  auto after = redis.connections();
  EXPECT_LT(after - before, 5) << "connections accepted while ten runs were woken (the probe counts one)";

  // Redis down: the run is still accepted (committed, queued in PostgreSQL); the wake is lost and logged.
  redis.stop();
  auto queued = start_run();
  ASSERT_FALSE(queued.empty());
  EXPECT_EQ(column("SELECT status FROM workflow_executions WHERE id = '" + queued + "'"), std::vector<std::string>{"queued"});
  EXPECT_TRUE(eventually([&] { return node->process->log().find("could not notify the nodes through Redis") != std::string::npos; }))
      << node->process->log();
  redis.start();  // back before the node stops
}

TEST_F(api_resources, creates_lists_reads_and_edits_workflows_with_etag_and_if_match) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto base = "/workspaces/" + ws + "/workflows";

  auto made = send("POST", base, simple("Welcome"), owner.token);
  ASSERT_EQ(made.status, 201) << made.text;
  auto id = made.str("id");
  EXPECT_EQ(made.body.at("version").as_int64(), 1);
  EXPECT_EQ(made.body.at("status").as_string(), "draft");
  EXPECT_EQ(made.body.at("nodes").as_array().size(), 3u);
  EXPECT_EQ(made.body.at("formFields").as_array().at(0).at("fieldKey").as_string(), "budget");

  // Invalid graph: 422 with the engine's problems, each naming its node or edge; nothing stored.
  auto broken = simple("Broken");
  broken["edges"].as_array().push_back(json::object{{"id", "e_bad"}, {"source", "start"}, {"target", "ghost"}});
  auto bad = send("POST", base, broken, owner.token);
  ASSERT_EQ(bad.status, 422) << bad.text;
  EXPECT_EQ(bad.error_code(), "invalid_graph");
  ASSERT_FALSE(bad.body.at("problems").as_array().empty());
  bool names_edge = false;
  for (const auto& p : bad.body.at("problems").as_array()) {
    EXPECT_TRUE(p.as_object().contains("code") && p.as_object().contains("message")) << json::serialize(p);
    names_edge = names_edge || (p.as_object().contains("edgeId") && p.at("edgeId").as_string() == "e_bad");
  }
  EXPECT_TRUE(names_edge) << bad.text;
  // Body rules name the field (camelCase as sent).
  auto no_name = simple("");
  EXPECT_EQ(send("POST", base, no_name, owner.token).error_field(), "name");
  auto bad_field = simple("x");
  bad_field["formFields"] = json::array{json::object{{"fieldKey", ""}, {"label", "L"}}};
  auto bf = send("POST", base, bad_field, owner.token);
  EXPECT_EQ(bf.status, 422);
  EXPECT_EQ(bf.error_field(), "formFields[0].fieldKey") << bf.text;
  auto unknown = simple("x");
  unknown["colour"] = "red";
  EXPECT_EQ(send("POST", base, unknown, owner.token).error_field(), "colour");

  // List pages: keyset by creation, stable while rows are added.
  for (int i = 0; i < 4; ++i) create_workflow(ws, owner, simple("More " + std::to_string(i)));
  auto p1 = call("GET", base + "?limit=2", "", owner.token);
  ASSERT_EQ(p1.status, 200) << p1.text;
  ASSERT_EQ(p1.data().size(), 2u);
  EXPECT_EQ(p1.data()[0].at("id").as_string(), id);
  ASSERT_TRUE(p1.body.at("nextCursor").is_string());
  create_workflow(ws, owner, simple("Inserted meanwhile"));
  std::set<std::string> seen{std::string(p1.data()[0].at("id").as_string()), std::string(p1.data()[1].at("id").as_string())};
  std::string cursor(p1.body.at("nextCursor").as_string());
  int pages = 1;
  while (!cursor.empty() && pages < 10) {
    auto p = call("GET", base + "?limit=2&cursor=" + cursor, "", owner.token);
    ASSERT_EQ(p.status, 200) << p.text;
    for (const auto& w : p.data()) EXPECT_TRUE(seen.insert(std::string(w.at("id").as_string())).second) << "a row twice";
    cursor = p.body.at("nextCursor").is_string() ? std::string(p.body.at("nextCursor").as_string()) : "";
    ++pages;
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(call("GET", base + "?cursor=nonsense", "", owner.token).error_field(), "cursor");
  EXPECT_EQ(call("GET", base + "?limit=0", "", owner.token).error_field(), "limit");

  // GET with ETag; edits need If-Match: 428 without, 412 with a stale one.
  auto got = call("GET", base + "/" + id, "", owner.token);
  ASSERT_EQ(got.status, 200) << got.text;
  EXPECT_EQ(got.headers["etag"], "\"1\"");
  auto missing = send("PATCH", base + "/" + id, {{"name", "Renamed"}}, owner.token);
  EXPECT_EQ(missing.status, 428) << missing.text;
  auto stale = send("PATCH", base + "/" + id, {{"name", "Renamed"}}, owner.token, {{"If-Match", "\"7\""}});
  EXPECT_EQ(stale.status, 412) << stale.text;
  auto renamed = send("PATCH", base + "/" + id, {{"name", "Renamed"}}, owner.token, {{"If-Match", "\"1\""}});
  ASSERT_EQ(renamed.status, 200) << renamed.text;
  EXPECT_EQ(renamed.body.at("name").as_string(), "Renamed");
  EXPECT_EQ(renamed.body.at("version").as_int64(), 1) << "a name is not a graph change";

  // A graph change bumps the version; the old ETag is then stale.
  auto graph = chain("ignored", {graph_node("start", "TRIGGER_MANUAL"), graph_node("tag", "ACTION_ADD_TAG", {{"tag", "v2"}}),
                                 graph_node("tag2", "ACTION_ADD_TAG", {{"tag", "more"}}), graph_node("end", "LOGIC_END")});
  json::object patch{{"nodes", graph["nodes"]}, {"edges", graph["edges"]}};
  auto v2 = send("PATCH", base + "/" + id, patch, owner.token, {{"If-Match", "\"1\""}});
  ASSERT_EQ(v2.status, 200) << v2.text;
  EXPECT_EQ(v2.body.at("version").as_int64(), 2);
  EXPECT_EQ(v2.headers["etag"], "\"2\"");
  EXPECT_EQ(v2.body.at("nodes").as_array().size(), 4u);
  EXPECT_EQ(send("PATCH", base + "/" + id, patch, owner.token, {{"If-Match", "\"1\""}}).status, 412);
  // An invalid graph in an edit: 422 with problems, the version unchanged.
  auto broken_patch = patch;
  broken_patch["edges"].as_array().push_back(json::object{{"id", "e_bad"}, {"source", "start"}, {"target", "ghost"}});
  auto bp = send("PATCH", base + "/" + id, broken_patch, owner.token, {{"If-Match", "\"2\""}});
  EXPECT_EQ(bp.status, 422) << bp.text;
  EXPECT_TRUE(bp.body.as_object().contains("problems"));
  // PUT replaces the whole document.
  auto put = send("PUT", base + "/" + id, simple("Replaced"), owner.token, {{"If-Match", "W/\"2\""}});
  ASSERT_EQ(put.status, 200) << put.text;
  EXPECT_EQ(put.body.at("version").as_int64(), 3);
  EXPECT_EQ(put.body.at("name").as_string(), "Replaced");
  EXPECT_EQ(put.body.at("nodes").as_array().size(), 3u);

  // Duplicate, archive, delete.
  auto dup = send("POST", base + "/" + id + "/duplicate", {{"name", "Copy"}}, owner.token);
  ASSERT_EQ(dup.status, 201) << dup.text;
  EXPECT_NE(dup.str("id"), id);
  EXPECT_EQ(dup.body.at("nodes").as_array().size(), 3u);
  auto archived = call("POST", base + "/" + dup.str("id") + "/archive", "", owner.token);
  ASSERT_EQ(archived.status, 200) << archived.text;
  EXPECT_EQ(archived.body.at("status").as_string(), "archived");
  EXPECT_EQ(call("POST", base + "/" + dup.str("id") + "/activate", "", owner.token).status, 409);
  EXPECT_EQ(call("DELETE", base + "/" + dup.str("id"), "", owner.token).status, 204);
  EXPECT_EQ(call("GET", base + "/" + dup.str("id"), "", owner.token).status, 404);
}

TEST_F(api_resources, lists_templates_and_creates_workflows_from_each) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  EXPECT_EQ(call("GET", "/templates").status, 401);
  auto list = call("GET", "/templates", "", owner.token);
  ASSERT_EQ(list.status, 200) << list.text;
  ASSERT_GE(list.data().size(), 3u);
  for (const auto& t : list.data()) {
    std::string tid(t.at("id").as_string());
    EXPECT_FALSE(t.at("nodes").as_array().empty()) << tid;
    auto made = send("POST", "/workspaces/" + ws + "/workflows", {{"templateId", tid}, {"name", "From " + tid}}, owner.token);
    ASSERT_EQ(made.status, 201) << tid << ": " << made.text;
    EXPECT_EQ(made.body.at("name").as_string(), "From " + tid);
    EXPECT_EQ(made.body.at("nodes").as_array().size(), t.at("nodes").as_array().size());
    EXPECT_EQ(made.body.at("version").as_int64(), 1);
  }
  auto unknown = send("POST", "/workspaces/" + ws + "/workflows", {{"templateId", "nope"}, {"name", "x"}}, owner.token);
  EXPECT_EQ(unknown.status, 422);
  EXPECT_EQ(unknown.error_field(), "templateId");
  auto mixed = send("POST", "/workspaces/" + ws + "/workflows", {{"templateId", "manual-tag"}, {"name", "x"}, {"nodes", json::array()}},
                    owner.token);
  EXPECT_EQ(mixed.error_field(), "nodes");
  // The manual template runs once activated.
  auto tag = send("POST", "/workspaces/" + ws + "/workflows", {{"templateId", "manual-tag"}, {"name", "Tagger"}, {"status", "active"}},
                  owner.token);
  ASSERT_EQ(tag.status, 201) << tag.text;
  auto run = send("POST", "/workspaces/" + ws + "/workflows/" + tag.str("id") + "/run", {{"lead", json::object{{"email", "t@example.com"}}}},
                  owner.token);
  ASSERT_EQ(run.status, 202) << run.text;
  await_execution(ws, owner, run.str("executionId"), "completed");
}

TEST_F(api_resources, runs_an_activated_workflow_and_cancels_and_retries_executions) {
  auto owner = new_user("owner");
  auto runner = new_user("member");
  auto ws = workspace(owner);
  join(ws, owner, runner, "member");
  auto base = "/workspaces/" + ws;
  auto id = create_workflow(ws, owner, simple("Run me"));

  // A draft takes no run; activated, a member starts one that completes.
  json::object lead{{"email", "ada@example.com"}, {"name", "Ada"}, {"fields", {{"budget", "10"}}}};
  auto draft = send("POST", base + "/workflows/" + id + "/run", {{"lead", lead}}, runner.token);
  EXPECT_GE(draft.status, 400) << draft.text;
  auto act = call("POST", base + "/workflows/" + id + "/activate", "", owner.token);
  ASSERT_EQ(act.status, 200) << act.text;
  EXPECT_EQ(act.body.at("status").as_string(), "active");
  EXPECT_EQ(send("POST", base + "/workflows/" + id + "/run", {{"lead", "x"}}, runner.token).error_field(), "lead");
  auto run = send("POST", base + "/workflows/" + id + "/run", {{"lead", lead}, {"idempotencyKey", "k1"}}, runner.token);
  ASSERT_EQ(run.status, 202) << run.text;
  auto ex = run.str("executionId");
  auto done = await_execution(ws, runner, ex, "completed");
  ASSERT_TRUE(done.body.as_object().contains("steps")) << done.text;
  EXPECT_FALSE(done.body.at("steps").as_array().empty()) << done.text;
  // The detail speaks camelCase everywhere, times in UTC as the lists, no engine bookkeeping.
  expect_camel_case_keys(done.body.as_object(), "detail");
  const auto& execution = done.body.at("execution").as_object();
  expect_camel_case_keys(execution, "execution");
  EXPECT_EQ(execution.at("id").as_string(), ex);
  EXPECT_EQ(execution.at("workflowId").as_string(), id);
  EXPECT_EQ(execution.at("triggerType").as_string(), "MANUAL") << done.text;
  EXPECT_EQ(execution.at("idempotencyKey").as_string(), "k1");
  EXPECT_EQ(execution.at("workflowName").as_string(), "Run me");
  EXPECT_EQ(std::string(execution.at("completedAt").as_string()).back(), 'Z') << done.text;
  for (const char* internal : {"checkpoint", "lockToken", "recordSeq", "workspaceId"})
    EXPECT_FALSE(execution.contains(internal)) << internal;
  std::set<std::string> node_ids;
  for (const auto& step : done.body.at("steps").as_array()) {
    expect_camel_case_keys(step.as_object(), "step");
    EXPECT_TRUE(step.at("stepNumber").is_int64()) << json::serialize(step);
    node_ids.insert(std::string(step.at("nodeId").as_string()));
  }
  EXPECT_TRUE(node_ids.count("tag")) << done.text;
  for (const auto& log : done.body.at("logs").as_array()) {
    expect_camel_case_keys(log.as_object(), "log");
    EXPECT_TRUE(log.at("logLevel").is_string()) << json::serialize(log);
  }
  // The same idempotency key: the same execution.
  auto again = send("POST", base + "/workflows/" + id + "/run", {{"lead", lead}, {"idempotencyKey", "k1"}}, runner.token);
  ASSERT_EQ(again.status, 202) << again.text;
  EXPECT_EQ(again.str("executionId"), ex);

  // The list, filtered.
  auto list = call("GET", base + "/executions?workflowId=" + id + "&status=completed", "", runner.token);
  ASSERT_EQ(list.status, 200) << list.text;
  ASSERT_EQ(list.data().size(), 1u);
  EXPECT_EQ(list.data()[0].at("id").as_string(), ex);
  expect_camel_case_keys(list.data()[0].as_object(), "listed execution");
  EXPECT_EQ(call("GET", base + "/executions?status=done", "", runner.token).error_field(), "status");
  EXPECT_EQ(call("GET", base + "/executions?status=failed", "", runner.token).data().size(), 0u);

  // A completed run cannot be cancelled or retried.
  EXPECT_EQ(call("POST", base + "/executions/" + ex + "/cancel", "", runner.token).status, 409);
  EXPECT_EQ(call("POST", base + "/executions/" + ex + "/retry", "", runner.token).status, 409);

  // A run waiting on a delay is cancelled.
  auto slow = create_workflow(ws, owner, chain("Slow", {graph_node("start", "TRIGGER_MANUAL"),
                                                        graph_node("wait", "LOGIC_DELAY", {{"delayMinutes", 10}}),
                                                        graph_node("end", "LOGIC_END")}));
  ASSERT_EQ(call("POST", base + "/workflows/" + slow + "/activate", "", owner.token).status, 200);
  auto parked = send("POST", base + "/workflows/" + slow + "/run", {{"lead", lead}}, runner.token);
  ASSERT_EQ(parked.status, 202) << parked.text;
  await_execution(ws, runner, parked.str("executionId"), "paused");
  auto cancelled = call("POST", base + "/executions/" + parked.str("executionId") + "/cancel", "", runner.token);
  ASSERT_EQ(cancelled.status, 200) << cancelled.text;
  await_execution(ws, runner, parked.str("executionId"), "cancelled");

  // A run that fails (its webhook endpoint is disabled) is retried after the endpoint is enabled.
  http_receiver in;
  auto ep = send("POST", base + "/webhook-endpoints", {{"url", in.url()}, {"events", json::array{"lead.created"}}}, owner.token);
  ASSERT_EQ(ep.status, 201) << ep.text;
  ASSERT_EQ(call("POST", base + "/webhook-endpoints/" + ep.str("id") + "/disable", "", owner.token).status, 200);
  auto hook = create_workflow(ws, owner, chain("Hook", {graph_node("start", "TRIGGER_MANUAL"),
                                                        graph_node("hook", "ACTION_SEND_WEBHOOK", {{"endpointId", ep.str("id")}}),
                                                        graph_node("end", "LOGIC_END")}));
  ASSERT_EQ(call("POST", base + "/workflows/" + hook + "/activate", "", owner.token).status, 200);
  auto failing = send("POST", base + "/workflows/" + hook + "/run", {{"lead", lead}}, runner.token);
  ASSERT_EQ(failing.status, 202) << failing.text;
  auto fx = failing.str("executionId");
  await_execution(ws, runner, fx, "failed");
  ASSERT_EQ(call("POST", base + "/webhook-endpoints/" + ep.str("id") + "/enable", "", owner.token).status, 200);
  auto retried = call("POST", base + "/executions/" + fx + "/retry", "", runner.token);
  ASSERT_EQ(retried.status, 202) << retried.text;
  await_execution(ws, runner, fx, "completed");
  EXPECT_TRUE(eventually([&] { return !in.requests().empty(); })) << "the retried step's webhook never arrived";

  // Paused: no new runs.
  ASSERT_EQ(call("POST", base + "/workflows/" + id + "/pause", "", owner.token).status, 200);
  EXPECT_GE(send("POST", base + "/workflows/" + id + "/run", {{"lead", lead}}, runner.token).status, 400);
}

TEST_F(api_resources, manages_webhook_endpoints_with_secrets_shown_once_and_redelivers_under_the_same_id) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto base = "/workspaces/" + ws + "/webhook-endpoints";
  http_receiver in;

  // Field rules name the field; the SSRF guard holds (only 127.0.0.0/8 is allowed on this node).
  EXPECT_EQ(send("POST", base, {{"url", in.url()}}, owner.token).error_field(), "events");
  EXPECT_EQ(send("POST", base, {{"url", in.url()}, {"events", json::array{"lead.nope"}}}, owner.token).error_field(), "events");
  EXPECT_EQ(send("POST", base, {{"url", in.url()}, {"events", json::array{"*"}}, {"maxRetries", 99}}, owner.token).error_field(),
            "maxRetries");
  auto ssrf = send("POST", base, {{"url", "http://10.1.2.3/in"}, {"events", json::array{"*"}}}, owner.token);
  EXPECT_EQ(ssrf.status, 422) << ssrf.text;
  EXPECT_EQ(ssrf.error_field(), "url");

  auto made = send("POST", base, {{"url", in.url()}, {"events", json::array{"lead.created"}}, {"description", "CRM"}}, owner.token);
  ASSERT_EQ(made.status, 201) << made.text;
  auto id = made.str("id");
  auto secret = made.str("secret");
  EXPECT_EQ(secret.rfind("whsec_", 0), 0u);
  auto got = call("GET", base + "/" + id, "", owner.token);
  ASSERT_EQ(got.status, 200) << got.text;
  EXPECT_FALSE(got.body.as_object().contains("secret"));
  EXPECT_EQ(got.text.find(secret), std::string::npos);
  EXPECT_TRUE(got.body.at("hasSecret").as_bool());
  auto list = call("GET", base, "", owner.token);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.data().size(), 1u);
  EXPECT_EQ(list.text.find(secret), std::string::npos);

  auto patched = send("PATCH", base + "/" + id, {{"description", "CRM 2"}, {"events", json::array{"*"}}}, owner.token);
  ASSERT_EQ(patched.status, 200) << patched.text;
  EXPECT_EQ(patched.body.at("description").as_string(), "CRM 2");
  EXPECT_EQ(patched.body.at("events").as_array().at(0).as_string(), "*");
  EXPECT_EQ(send("PATCH", base + "/" + id, {{"url", "ftp://x"}}, owner.token).error_field(), "url");

  // Rotation shows a new secret once.
  auto rotated = call("POST", base + "/" + id + "/rotate-secret", "", owner.token);
  ASSERT_EQ(rotated.status, 200) << rotated.text;
  EXPECT_NE(rotated.str("secret"), secret);
  EXPECT_EQ(call("GET", base + "/" + id, "", owner.token).text.find(rotated.str("secret")), std::string::npos);

  // A test event reaches the receiver; the deliveries list shows it delivered.
  auto test = call("POST", base + "/" + id + "/test", "", owner.token);
  ASSERT_EQ(test.status, 202) << test.text;
  auto delivery = test.str("deliveryId");
  ASSERT_TRUE(eventually([&] { return !in.requests().empty(); })) << node->process->log();
  auto first = in.requests().front();
  EXPECT_EQ(first.headers["webhook-id"], delivery);
  EXPECT_NE(first.body.find("webhook.test"), std::string::npos);
  reply deliveries;
  ASSERT_TRUE(eventually([&] {
    deliveries = call("GET", base + "/" + id + "/deliveries?status=delivered", "", owner.token);
    return deliveries.status == 200 && deliveries.data().size() == 1;
  })) << deliveries.text;
  EXPECT_EQ(deliveries.data()[0].at("id").as_string(), delivery);
  EXPECT_EQ(call("GET", base + "/" + id + "/deliveries?status=failed", "", owner.token).data().size(), 0u);
  EXPECT_EQ(call("GET", base + "/" + id + "/deliveries?since=yesterday", "", owner.token).error_field(), "since");

  // Redelivery: the same webhook-id again.
  auto again = call("POST", base + "/" + id + "/deliveries/" + delivery + "/redeliver", "", owner.token);
  ASSERT_EQ(again.status, 202) << again.text << node->process->log();
  ASSERT_TRUE(eventually([&] { return in.requests().size() >= 2; }));
  EXPECT_EQ(in.requests()[1].headers["webhook-id"], delivery);
  // Pages of deliveries, newest first, stable while more are queued.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(call("POST", base + "/" + id + "/test", "", owner.token).status, 202);
  auto d1 = call("GET", base + "/" + id + "/deliveries?limit=2", "", owner.token);
  ASSERT_EQ(d1.status, 200) << d1.text;
  ASSERT_EQ(d1.data().size(), 2u);
  ASSERT_TRUE(d1.body.at("nextCursor").is_string()) << d1.text;
  ASSERT_EQ(call("POST", base + "/" + id + "/test", "", owner.token).status, 202);
  std::set<std::string> pages_seen;
  for (const auto& x : d1.data()) pages_seen.insert(std::string(x.at("id").as_string()));
  auto d2 = call("GET", base + "/" + id + "/deliveries?limit=2&cursor=" + std::string(d1.body.at("nextCursor").as_string()), "", owner.token);
  ASSERT_EQ(d2.status, 200) << d2.text;
  ASSERT_EQ(d2.data().size(), 2u);
  EXPECT_TRUE(d2.body.at("nextCursor").is_null());
  for (const auto& x : d2.data()) EXPECT_TRUE(pages_seen.insert(std::string(x.at("id").as_string())).second);
  EXPECT_TRUE(pages_seen.count(delivery));
  EXPECT_EQ(call("GET", base + "/" + id + "/deliveries?cursor=zzz", "", owner.token).error_field(), "cursor");
  auto recovered = send("POST", base + "/" + id + "/recover", {{"since", "2020-01-01T00:00:00Z"}}, owner.token);
  ASSERT_EQ(recovered.status, 202) << recovered.text;
  EXPECT_EQ(recovered.body.at("recovered").as_int64(), 0) << "nothing failed";
  // A message that failed for good (nothing listens, no retries) is recovered: due again, same id.
  auto dead = send("POST", base, {{"url", "http://127.0.0.1:" + std::to_string(free_port()) + "/gone"}, {"events", json::array{"*"}},
                                  {"maxRetries", 0}},
                   owner.token);
  ASSERT_EQ(dead.status, 201) << dead.text;
  auto dead_base = base + "/" + dead.str("id");
  auto lost = call("POST", dead_base + "/test", "", owner.token);
  ASSERT_EQ(lost.status, 202) << lost.text;
  reply failed;
  ASSERT_TRUE(eventually([&] {
    failed = call("GET", dead_base + "/deliveries?status=failed", "", owner.token);
    return failed.status == 200 && failed.data().size() == 1 && failed.data()[0].at("nextRetryAt").is_null();
  })) << failed.text;
  EXPECT_EQ(failed.data()[0].at("id").as_string(), lost.str("deliveryId"));
  auto back = send("POST", dead_base + "/recover", {{"since", "2020-01-01T00:00:00Z"}}, owner.token);
  ASSERT_EQ(back.status, 202) << back.text;
  EXPECT_EQ(back.body.at("recovered").as_int64(), 1);
  EXPECT_EQ(send("POST", dead_base + "/recover", {{"since", "soon"}}, owner.token).error_field(), "since");
  EXPECT_EQ(send("POST", dead_base + "/recover", json::object{}, owner.token).error_field(), "since");

  // Disable / enable; a disabled endpoint takes no test.
  auto off = call("POST", base + "/" + id + "/disable", "", owner.token);
  ASSERT_EQ(off.status, 200) << off.text;
  EXPECT_TRUE(off.body.at("disabledAt").is_string());
  EXPECT_EQ(call("POST", base + "/" + id + "/test", "", owner.token).status, 409);
  auto on = call("POST", base + "/" + id + "/enable", "", owner.token);
  ASSERT_EQ(on.status, 200) << on.text;
  EXPECT_TRUE(on.body.at("disabledAt").is_null());

  EXPECT_EQ(call("DELETE", base + "/" + id, "", owner.token).status, 204);
  EXPECT_EQ(call("GET", base + "/" + id, "", owner.token).status, 404);
  auto left = call("GET", base, "", owner.token);
  ASSERT_EQ(left.data().size(), 1u) << left.text;
  EXPECT_EQ(left.data()[0].at("id").as_string(), dead.str("id"));
}

TEST_F(api_resources, pages_webhook_endpoints_oldest_first_stable_while_more_are_made) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto base = "/workspaces/" + ws + "/webhook-endpoints";
  http_receiver in;
  std::vector<std::string> made;
  auto make = [&] {
    auto r = send("POST", base, {{"url", in.url()}, {"events", json::array{"*"}}}, owner.token);
    EXPECT_EQ(r.status, 201) << r.text;
    if (r.status == 201) made.push_back(r.str("id"));
  };
  for (int i = 0; i < 5; ++i) make();

  auto first = call("GET", base + "?limit=2", "", owner.token);
  ASSERT_EQ(first.status, 200) << first.text;
  ASSERT_EQ(first.data().size(), 2u);
  ASSERT_TRUE(first.body.at("nextCursor").is_string()) << first.text;
  make();  // made while paging: after every page seen so far
  std::vector<std::string> seen;
  for (const auto& e : first.data()) seen.emplace_back(e.at("id").as_string());
  std::string cursor(first.body.at("nextCursor").as_string());
  for (int pages = 1; !cursor.empty() && pages < 10; ++pages) {
    auto p = call("GET", base + "?limit=2&cursor=" + cursor, "", owner.token);
    ASSERT_EQ(p.status, 200) << p.text;
    EXPECT_LE(p.data().size(), 2u);
    for (const auto& e : p.data()) seen.emplace_back(e.at("id").as_string());
    cursor = p.body.at("nextCursor").is_string() ? std::string(p.body.at("nextCursor").as_string()) : "";
  }
  EXPECT_EQ(seen, made) << "each endpoint once, oldest first";
  auto all = call("GET", base, "", owner.token);
  EXPECT_EQ(all.data().size(), 6u) << "50 a page by default";
  EXPECT_TRUE(all.body.at("nextCursor").is_null());
  EXPECT_EQ(call("GET", base + "?cursor=nonsense", "", owner.token).error_field(), "cursor");
  EXPECT_EQ(call("GET", base + "?limit=101", "", owner.token).error_field(), "limit");
}

TEST_F(api_resources, holds_the_role_matrix_viewer_reads_member_runs_admin_manages) {
  auto owner = new_user("owner");
  auto admin = new_user("admin");
  auto viewer = new_user("viewer");
  auto member = new_user("member");
  auto ws = workspace(owner);
  join(ws, owner, admin, "admin");
  join(ws, owner, viewer, "viewer");
  join(ws, owner, member, "member");
  auto base = "/workspaces/" + ws;
  auto id = create_workflow(ws, owner, simple("Roles"));
  auto wfp = base + "/workflows/" + id;
  ASSERT_EQ(call("POST", wfp + "/activate", "", owner.token).status, 200);
  http_receiver in;
  auto ep = send("POST", base + "/webhook-endpoints", {{"url", in.url()}, {"events", json::array{"*"}}, {"description", "Kept"}},
                 owner.token);
  ASSERT_EQ(ep.status, 201) << ep.text;
  auto epp = base + "/webhook-endpoints/" + ep.str("id");
  auto test = call("POST", epp + "/test", "", owner.token);
  ASSERT_EQ(test.status, 202) << test.text;
  json::object lead{{"email", "grace@example.com"}};
  auto first = send("POST", wfp + "/run", {{"lead", lead}}, owner.token);
  ASSERT_EQ(first.status, 202) << first.text;
  auto exp = base + "/executions/" + first.str("executionId");
  await_execution(ws, owner, first.str("executionId"), "completed");

  // Every route of the workspace's resources and the weakest role it takes.
  const std::string doc = json::serialize(simple("Nope"));
  struct route {
    const char* method;
    std::string path, body;
    const char* least;  // viewer, member or admin
  };
  const std::vector<route> routes = {
      {"GET", base + "/workflows", "", "viewer"},
      {"GET", wfp, "", "viewer"},
      {"GET", base + "/executions", "", "viewer"},
      {"GET", exp, "", "viewer"},
      {"GET", base + "/webhook-endpoints", "", "viewer"},
      {"GET", epp, "", "viewer"},
      {"GET", epp + "/deliveries", "", "viewer"},
      {"POST", base + "/workflows", doc, "admin"},
      {"PUT", wfp, doc, "admin"},
      {"PATCH", wfp, R"({"name":"Nope"})", "admin"},
      {"POST", wfp + "/pause", "", "admin"},
      {"POST", wfp + "/activate", "", "admin"},
      {"POST", wfp + "/archive", "", "admin"},
      {"POST", wfp + "/duplicate", "{}", "admin"},
      {"DELETE", wfp, "", "admin"},
      {"POST", wfp + "/run", R"({"lead":{"email":"x@example.com"}})", "member"},
      {"POST", exp + "/cancel", "", "member"},
      {"POST", exp + "/retry", "", "member"},
      {"POST", base + "/webhook-endpoints", json::serialize(json::object{{"url", in.url()}, {"events", json::array{"*"}}}), "admin"},
      {"PATCH", epp, R"({"description":"Nope"})", "admin"},
      {"POST", epp + "/rotate-secret", "", "admin"},
      {"POST", epp + "/test", "", "admin"},
      {"POST", epp + "/deliveries/" + test.str("deliveryId") + "/redeliver", "", "admin"},
      {"POST", epp + "/recover", R"({"since":"2020-01-01T00:00:00Z"})", "admin"},
      {"POST", epp + "/disable", "", "admin"},
      {"POST", epp + "/enable", "", "admin"},
      {"DELETE", epp, "", "admin"},
  };
  const std::vector<std::pair<const user*, std::string>> callers = {{&viewer, "viewer"}, {&member, "member"}};
  auto rank = [](const std::string& r) { return r == "viewer" ? 0 : r == "member" ? 1 : 2; };
  for (const auto& [who, role] : callers)
    for (const auto& r : routes) {
      auto got = call(r.method, r.path, r.body, who->token, {{"If-Match", "\"1\""}});
      if (rank(role) >= rank(r.least)) {
        EXPECT_NE(got.status, 403) << role << " " << r.method << " " << r.path << ": " << got.text;
        EXPECT_NE(got.status, 404) << role << " " << r.method << " " << r.path << ": " << got.text;
      } else {
        EXPECT_EQ(got.status, 403) << role << " " << r.method << " " << r.path << ": " << got.text;
        EXPECT_EQ(got.error_code(), "forbidden");
        EXPECT_NE(got.error_message().find(r.least), std::string::npos) << "names the role needed: " << got.text;
      }
    }
  // The refusals changed nothing.
  auto wf_now = call("GET", wfp, "", viewer.token);
  ASSERT_EQ(wf_now.status, 200) << wf_now.text;
  EXPECT_EQ(wf_now.body.at("name").as_string(), "Roles");
  EXPECT_EQ(wf_now.body.at("status").as_string(), "active");
  auto ep_now = call("GET", epp, "", viewer.token);
  ASSERT_EQ(ep_now.status, 200) << ep_now.text;
  EXPECT_EQ(ep_now.body.at("description").as_string(), "Kept");
  EXPECT_TRUE(ep_now.body.at("disabledAt").is_null());
  EXPECT_EQ(call("GET", base + "/workflows", "", viewer.token).data().size(), 1u) << "no workflow made or duplicated";
  // An admin manages.
  EXPECT_EQ(send("PATCH", epp, {{"description", "By the admin"}}, admin.token).status, 200);
  EXPECT_EQ(call("POST", wfp + "/pause", "", admin.token).status, 200);
  EXPECT_EQ(call("POST", wfp + "/duplicate", "{}", admin.token).status, 201);
}

TEST_F(api_resources, answers_404_for_another_workspaces_ids_on_every_route) {
  auto alice = new_user("alice");
  auto mallory = new_user("mallory");
  auto a_ws = workspace(alice);
  auto m_ws = workspace(mallory);
  auto a = "/workspaces/" + a_ws;
  auto wf = create_workflow(a_ws, alice, simple("Private"));
  ASSERT_EQ(call("POST", a + "/workflows/" + wf + "/activate", "", alice.token).status, 200);
  auto run = send("POST", a + "/workflows/" + wf + "/run", {{"lead", json::object{{"email", "x@example.com"}}}}, alice.token);
  ASSERT_EQ(run.status, 202) << run.text;
  auto ex = run.str("executionId");
  await_execution(a_ws, alice, ex, "completed");
  http_receiver in;
  auto ep = send("POST", a + "/webhook-endpoints", {{"url", in.url()}, {"events", json::array{"*"}}}, alice.token);
  ASSERT_EQ(ep.status, 201) << ep.text;
  auto test = call("POST", a + "/webhook-endpoints/" + ep.str("id") + "/test", "", alice.token);
  ASSERT_EQ(test.status, 202) << test.text;
  auto d = test.str("deliveryId");

  // Mallory, in her own workspace, names Alice's ids: 404 everywhere, nothing of Alice's data.
  auto m = "/workspaces/" + m_ws;
  auto wfp = m + "/workflows/" + wf, exp = m + "/executions/" + ex, epp = m + "/webhook-endpoints/" + ep.str("id");
  std::vector<std::tuple<std::string, std::string, std::string>> routes = {
      {"GET", wfp, ""},
      {"PUT", wfp, json::serialize(simple("x"))},
      {"PATCH", wfp, "{\"name\":\"x\"}"},
      {"DELETE", wfp, ""},
      {"POST", wfp + "/activate", ""},
      {"POST", wfp + "/pause", ""},
      {"POST", wfp + "/archive", ""},
      {"POST", wfp + "/duplicate", "{}"},
      {"POST", wfp + "/run", "{\"lead\":{\"email\":\"m@example.com\"}}"},
      {"GET", exp, ""},
      {"POST", exp + "/cancel", ""},
      {"POST", exp + "/retry", ""},
      {"GET", epp, ""},
      {"PATCH", epp, "{\"description\":\"x\"}"},
      {"DELETE", epp, ""},
      {"POST", epp + "/rotate-secret", ""},
      {"POST", epp + "/test", ""},
      {"GET", epp + "/deliveries", ""},
      {"POST", epp + "/deliveries/" + d + "/redeliver", ""},
      {"POST", epp + "/recover", "{\"since\":\"2020-01-01T00:00:00Z\"}"},
      {"POST", epp + "/disable", ""},
      {"POST", epp + "/enable", ""},
  };
  for (const auto& [method, path, body] : routes) {
    auto r = call(method, path, body, mallory.token, {{"If-Match", "\"1\""}});
    EXPECT_EQ(r.status, 404) << method << " " << path << ": " << r.text;
    EXPECT_EQ(r.text.find("Private"), std::string::npos);
    // Without If-Match, and with ids that are no ids at all: 404 as well (the resource is looked
    // for before the request's preconditions; a malformed id is no database error).
    auto bare = call(method, path, body, mallory.token);
    EXPECT_EQ(bare.status, 404) << method << " " << path << " without If-Match: " << bare.text;
    std::string mangled = path;
    for (const auto& id : {wf, ex, ep.str("id"), d})
      if (auto at = mangled.find(id); at != std::string::npos) mangled.replace(at, id.size(), "not-an-id");
    auto junk = call(method, mangled, body, mallory.token, {{"If-Match", "\"1\""}});
    EXPECT_EQ(junk.status, 404) << method << " " << mangled << ": " << junk.text;
  }
  // Her lists hold none of Alice's rows; filters by Alice's ids find nothing.
  EXPECT_EQ(call("GET", m + "/workflows", "", mallory.token).data().size(), 0u);
  EXPECT_EQ(call("GET", m + "/executions?workflowId=" + wf, "", mallory.token).data().size(), 0u);
  EXPECT_EQ(call("GET", m + "/webhook-endpoints", "", mallory.token).data().size(), 0u);
  // Alice's workspace itself: 404 for Mallory, a non-member.
  EXPECT_EQ(call("GET", a + "/workflows/" + wf, "", mallory.token).status, 404);
  EXPECT_EQ(call("GET", a + "/executions", "", mallory.token).status, 404);
  // A delivery of another endpoint of the same workspace is 404 under this one.
  auto ep2 = send("POST", a + "/webhook-endpoints", {{"url", in.url()}, {"events", json::array{"*"}}}, alice.token);
  ASSERT_EQ(ep2.status, 201);
  EXPECT_EQ(call("POST", a + "/webhook-endpoints/" + ep2.str("id") + "/deliveries/" + d + "/redeliver", "", alice.token).status, 404);
  // Alice's own rows are untouched.
  auto still = call("GET", a + "/workflows/" + wf, "", alice.token);
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(still.body.at("name").as_string(), "Private");
  EXPECT_EQ(still.body.at("status").as_string(), "active");
}

}  // namespace
}  // namespace flowtrack::test
