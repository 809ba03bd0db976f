// Webhook secrets end to end: an endpoint made with `flowtrackd webhook create`, a workflow that
// sends to it, a running node that opens the sealed secret to sign and send. The signature is
// checked here with OpenSSL's HMAC; the node's log, /metrics and the delivery row hold no secret.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "storage/pg/connection.hpp"
#include "storage/redis/connection.hpp"
#include "tests/support/http_receiver.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// The node's scheduler claims due executions from Redis: this suite keeps its own index (and
// database) so it never claims another suite's entries.
constexpr int k_redis_db = 12;
const std::string k_key = "e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0";

template <class Pred>
bool await(std::chrono::milliseconds limit, Pred done) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                                       reinterpret_cast<const unsigned char*>(bytes.data()),
                                                       static_cast<int>(bytes.size()))));
  return out;
}

std::string unbase64(const std::string& text) {
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n));
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t pad = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  out.resize(out.size() - pad);
  return out;
}

class webhook_secrets_e2etest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "ft_secrets_e2e_" + std::to_string(::getpid());
    auto admin = pg::connection::open(pg::connect_options{test::require_env("FLOWTRACK_TEST_ADMIN_URL")});
    ASSERT_TRUE(admin.ok()) << admin.err().message;
    ASSERT_TRUE((*admin)->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").ok());
    ASSERT_TRUE((*admin)->exec_script("CREATE DATABASE " + name_).ok());
    db_url_ = test::database_url_for(name_);
    std::string redis = test::redis_url();
    redis_url_ = redis.substr(0, redis.find('/', redis.find("://") + 3)) + "/" + std::to_string(k_redis_db);
    auto r = redis::connection::open(redis_url_, 2s);
    ASSERT_TRUE(r.ok()) << r.err().message;
    ASSERT_TRUE(r->command({"FLUSHDB"}).ok());
    auto m = cli("migrate");
    ASSERT_EQ(m.exit_code, 0) << m.err;
  }
  void TearDown() override {
    auto admin = pg::connection::open(pg::connect_options{test::require_env("FLOWTRACK_TEST_ADMIN_URL")});
    if (admin.ok()) (void)(*admin)->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }

  std::map<std::string, std::string> env() const {
    return {{"FLOWTRACK_DATABASE_URL", db_url_},
            {"FLOWTRACK_REDIS_URL", redis_url_},
            {"FLOWTRACK_WEBHOOK_ALLOW", "127.0.0.0/8"},
            {"FLOWTRACK_ENCRYPTION_KEY", k_key},
            {"FLOWTRACK_LOG_LEVEL", "debug"}};
  }

  test::command_result cli(const std::string& args) const {
    std::string line = "env";
    for (const auto& [k, v] : env()) line += " " + k + "=" + test::shell_quote(v);
    return test::run_command(line + " " + test::shell_quote(test::flowtrackd()) + " " + args + " </dev/null");
  }

  std::string name_, db_url_, redis_url_;
};

TEST_F(webhook_secrets_e2etest, a_cli_made_endpoint_gets_deliveries_signed_with_its_secret_and_nothing_leaks) {
  test::http_receiver in;
  std::string slug = test::unique_slug("secrets");
  auto ws = cli("workspace create --name Secrets --slug " + slug + " --owner-email owner@" + slug + ".example.com");
  ASSERT_EQ(ws.exit_code, 0) << ws.err;
  const std::string token = "Bearer e2e-token-that-must-not-leak";
  auto made = cli("webhook create --workspace " + slug + " --url " + test::shell_quote(in.url()) +
                  " --events execution.completed --auth-header " + test::shell_quote("Authorization: " + token));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto endpoint = json::parse(made.out).as_object();
  const std::string endpoint_id(endpoint.at("id").as_string()), secret(endpoint.at("secret").as_string());
  ASSERT_EQ(secret.rfind("whsec_", 0), 0u);
  const std::string key_bytes = unbase64(secret.substr(6));
  ASSERT_EQ(key_bytes.size(), 32u);

  std::string file = "/tmp/" + slug + ".json";
  std::ofstream(file) << json::serialize(json::object{
      {"name", "Send"},
      {"status", "active"},
      {"nodes", json::array{{{"id", "t"}, {"type", "TRIGGER_MANUAL"}, {"position", {{"x", 0}, {"y", 0}}}, {"data", json::object{}}},
                            {{"id", "w"}, {"type", "ACTION_SEND_WEBHOOK"}, {"position", {{"x", 0}, {"y", 1}}},
                             {"data", {{"endpointId", endpoint_id}}}},
                            {{"id", "e"}, {"type", "LOGIC_END"}, {"position", {{"x", 0}, {"y", 2}}}, {"data", json::object{}}}}},
      {"edges", json::array{{{"id", "1"}, {"source", "t"}, {"target", "w"}}, {{"id", "2"}, {"source", "w"}, {"target", "e"}}}}});
  auto wf = cli("workflow import --workspace " + slug + " " + file);
  ASSERT_EQ(wf.exit_code, 0) << wf.err;
  std::string workflow_id = wf.out.substr(0, wf.out.find('\n'));

  int port = test::free_port(), admin_port = test::free_port();
  auto node_env = env();
  node_env["FLOWTRACK_HTTP_LISTEN"] = "127.0.0.1:" + std::to_string(port);
  node_env["FLOWTRACK_SMTP_LISTEN"] = "127.0.0.1:" + std::to_string(test::free_port());
  node_env["FLOWTRACK_ADMIN_LISTEN"] = "127.0.0.1:" + std::to_string(admin_port);
  test::child_process node({test::flowtrackd(), "serve"}, node_env);
  ASSERT_TRUE(test::await_http_status(port, "/readyz", 200, 20s)) << node.log();

  std::ofstream("/tmp/" + slug + "-lead.json") << R"({"email":"ada@example.com","name":"Ada"})";
  auto run = cli("workflow run " + workflow_id + " --lead /tmp/" + slug + "-lead.json");
  std::remove(file.c_str());
  std::remove(("/tmp/" + slug + "-lead.json").c_str());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_TRUE(await(30s, [&] { return !in.requests().empty(); })) << "nothing delivered\n" << node.log();
  auto got = in.requests().at(0);

  // The receiver verifies the Standard Webhooks signature with the secret it was given.
  std::string content = got.headers.at("webhook-id") + "." + got.headers.at("webhook-timestamp") + "." + got.body;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_bytes.data(), static_cast<int>(key_bytes.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), md, &len);
  EXPECT_EQ(got.headers.at("webhook-signature"), "v1," + base64(std::string(reinterpret_cast<char*>(md), len)));
  EXPECT_EQ(got.headers.at("authorization"), token);

  // No secret in the database's delivery rows or endpoint row, the node's log or /metrics.
  auto c = pg::connection::open(pg::connect_options{db_url_});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(await(10s, [&] {
    auto r = (*c)->exec("SELECT count(*) FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid", pg::params{}.add(endpoint_id));
    return r.ok() && r->get_int(0, 0) == 2;  // the workflow's message and its execution.completed event
  }));
  auto rows = (*c)->exec("SELECT (SELECT json_agg(d)::text FROM webhook_deliveries d WHERE webhook_endpoint_id = e.id),"
                         " row_to_json(e)::text FROM webhook_endpoints e WHERE e.id = $1::uuid",
                         pg::params{}.add(endpoint_id));
  ASSERT_TRUE(rows.ok() && rows->size() == 1);
  auto metrics = test::http_request(admin_port, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  for (const auto& [where, text] : std::vector<std::pair<std::string, std::string>>{
           {"delivery rows", std::string(rows->get(0, 0))}, {"endpoint row", std::string(rows->get(0, 1))},
           {"node log", node.log()}, {"metrics", metrics.body}}) {
    EXPECT_EQ(text.find(secret.substr(6)), std::string::npos) << "secret in the " << where;
    EXPECT_EQ(text.find(base64(key_bytes).substr(0, 20)), std::string::npos) << "secret in the " << where;
    EXPECT_EQ(text.find("e2e-token-that-must-not-leak"), std::string::npos) << "auth value in the " << where;
    EXPECT_EQ(text.find(k_key), std::string::npos) << "encryption key in the " << where;
  }
}

}  // namespace
}  // namespace flowtrack
