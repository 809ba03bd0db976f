// Tenant state against two running nodes sharing PostgreSQL and Redis: a workspace deactivated
// or a workflow paused or deleted by a direct UPDATE stops taking triggers on every ingress path
// (public form, webhook trigger, CLI run) on both nodes within two seconds, and takes them again
// when restored; random workflow ids cost bounded look-ups; ids are compared in canonical form;
// the webhook token is checked before the body is read. Also: form rate limits per IPv6 /64.
#include <gtest/gtest.h>

#include <tuple>

#include <csignal>
#include <fstream>
#include <random>
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
namespace json = boost::json;

// One workflow with a public form and a webhook trigger.
const char* k_graph = R"({"name":"Tenant intake","status":"active","settings":{"form":{"slug":"join"}},
 "nodes":[{"id":"t","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},
          {"id":"h","type":"TRIGGER_WEBHOOK","position":{"x":1,"y":0},"data":{}},
          {"id":"e","type":"LOGIC_END","position":{"x":0,"y":1},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"e"},{"id":"2","source":"h","target":"e"}],
 "formFields":[{"fieldKey":"email","label":"Email","fieldType":"EMAIL","isRequired":true,"displayOrder":1}]})";

// This suite's node settings over the common ones (tests/support/node_process.hpp).
struct node_process : test::node_process {
  explicit node_process(const settings& extra = {}) : test::node_process({{"FLOWTRACK_FORM_RATE_LIMIT", "0"}}, extra) {}
};

class tenant_e2etest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    slug_ = new std::string(test::unique_slug("tenant"));
    cli("workspace create --name Tenant --slug " + *slug_ + " --owner-email owner@" + *slug_ + ".example.com --plan enterprise");
    std::string file = "/tmp/" + *slug_ + ".json";
    std::ofstream(file) << k_graph;
    workflow_ = new std::string(cli("workflow import --workspace " + *slug_ + " " + file));
    std::remove(file.c_str());
    token_ = new std::string(cli("workflow token " + *workflow_));
    lead_file_ = new std::string("/tmp/" + *slug_ + "-lead.json");
    std::ofstream(*lead_file_) << R"({"email":"cli@example.com"})";
    a_ = new node_process();
    b_ = new node_process();
    db_ = pg::connection::open(pg::connect_options{test::database_url()}).value().release();
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    delete db_;
    std::remove(lead_file_->c_str());
    for (auto* s : {slug_, workflow_, token_, lead_file_}) delete s;
  }

  void exec(const std::string& sql, const std::string& arg) {
    auto r = db_->exec(sql, pg::params{}.add(arg));
    ASSERT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
  }

  static int form_post(const node_process& n) {
    static std::atomic<int> seq{0};
    std::string body = R"({"email":"f)" + std::to_string(++seq) + R"(@example.com"})";
    return test::http_request(n.port, "POST", "/p/" + *slug_ + "/join", body, {{"Content-Type", "application/json"}}).status;
  }
  static int form_page(const node_process& n) { return test::http_request(n.port, "GET", "/p/" + *slug_ + "/join").status; }
  static int hook_post(const node_process& n, const std::string& id = *workflow_, const std::string& body = "") {
    static std::atomic<int> seq{0};
    std::string b = body.empty() ? R"({"email":"h)" + std::to_string(++seq) + R"(@example.com"})" : body;
    return test::http_request(n.port, "POST", "/hooks/" + id, b, {{"Content-Type", "application/json"}, {"X-FlowTrack-Token", *token_}})
        .status;
  }
  static int hook_default(const node_process& n) { return hook_post(n); }
  static int cli_run() {
    auto r = test::run_command(test::flowtrackd() + " workflow run " + *workflow_ + " --lead " + *lead_file_ + " --database-url " +
                               test::shell_quote(test::database_url()) + " --redis-url " + test::shell_quote(test::redis_url()));
    return r.exit_code;
  }

  /// Awaits `probe() == want` on both nodes, from `since`, up to two seconds; the time it took.
  template <class Probe>
  static std::optional<std::chrono::milliseconds> await_both(Probe probe, int want, std::chrono::steady_clock::time_point since) {
    auto deadline = since + 2s;
    bool a = false, b = false;
    while (std::chrono::steady_clock::now() < deadline) {
      a = a || probe(*a_) == want;
      b = b || probe(*b_) == want;
      if (a && b) return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since);
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  static inline std::string* slug_ = nullptr;
  static inline std::string* workflow_ = nullptr;
  static inline std::string* token_ = nullptr;
  static inline std::string* lead_file_ = nullptr;
  static inline node_process* a_ = nullptr;
  static inline node_process* b_ = nullptr;
  static inline pg::connection* db_ = nullptr;
};

TEST_F(tenant_e2etest, a_workspace_deactivated_by_a_direct_update_stops_every_ingress_on_every_node_and_comes_back) {
  ASSERT_EQ(form_post(*a_), 202);
  ASSERT_EQ(form_post(*b_), 202);
  ASSERT_EQ(hook_post(*a_), 202);
  ASSERT_EQ(hook_post(*b_), 202);

  exec("UPDATE workspaces SET is_active = false WHERE slug = $1", *slug_);
  auto since = std::chrono::steady_clock::now();
  auto took = await_both(form_post, 404, since);
  ASSERT_TRUE(took) << "form submissions still accepted 2 s after the workspace was deactivated";
  RecordProperty("deactivation_ms", static_cast<int>(took->count()));
  EXPECT_TRUE(await_both(hook_default, 404, since)) << "webhook triggers still accepted";
  EXPECT_EQ(form_page(*a_), 404);
  EXPECT_EQ(form_page(*b_), 404);
  EXPECT_EQ(cli_run(), 66) << "the CLI refuses a run of an inactive workspace (EX_NOINPUT)";

  exec("UPDATE workspaces SET is_active = true WHERE slug = $1", *slug_);
  since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 202, since)) << "a reactivated workspace takes submissions again";
  EXPECT_TRUE(await_both(hook_default, 202, since));
  EXPECT_EQ(cli_run(), 0);
}

TEST_F(tenant_e2etest, a_workflow_paused_then_deleted_by_a_direct_update_stops_taking_triggers_on_every_node) {
  ASSERT_EQ(form_post(*a_), 202);
  ASSERT_EQ(hook_post(*b_), 202);

  exec("UPDATE workflows SET status = 'paused' WHERE id = $1::uuid", *workflow_);
  auto since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 404, since)) << "a paused workflow's form still takes submissions";
  EXPECT_TRUE(await_both(hook_default, 422, since)) << "a paused workflow's webhook answers 422 naming its status";
  EXPECT_EQ(cli_run(), 65) << "the CLI refuses a run of a paused workflow (EX_DATAERR)";

  exec("UPDATE workflows SET status = 'active' WHERE id = $1::uuid", *workflow_);
  since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 202, since));
  EXPECT_TRUE(await_both(hook_default, 202, since));

  exec("UPDATE workflows SET deleted_at = now() WHERE id = $1::uuid", *workflow_);
  since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 404, since)) << "a deleted workflow's form still takes submissions";
  EXPECT_TRUE(await_both(hook_default, 404, since)) << "a deleted workflow still takes webhook triggers";
  EXPECT_EQ(cli_run(), 66);

  exec("UPDATE workflows SET deleted_at = NULL WHERE id = $1::uuid", *workflow_);
  since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 202, since));
  EXPECT_TRUE(await_both(hook_default, 202, since));
}

TEST_F(tenant_e2etest, a_change_committed_by_a_long_transaction_is_seen_too) {
  // A poll that looked only a few seconds back would miss a row written by a transaction that
  // stayed open longer than that and committed after the poll.
  auto tx = pg::connection::open(pg::connect_options{test::database_url()});
  ASSERT_TRUE(tx.ok());
  ASSERT_TRUE((*tx)->exec("BEGIN").ok());
  // (The workspace row: the node's counter fold would wait for a locked workflow row.)
  ASSERT_TRUE((*tx)->exec("UPDATE workspaces SET is_active = false WHERE slug = $1", pg::params{}.add(*slug_)).ok());
  std::this_thread::sleep_for(7s);  // the scenario (a transaction open for 7 s), not a synchronisation
  EXPECT_EQ(form_post(*a_), 202) << "not committed yet";
  ASSERT_TRUE((*tx)->exec("COMMIT").ok());
  auto since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 404, since)) << "a change committed after 7 s was missed";
  exec("UPDATE workspaces SET is_active = true WHERE slug = $1", *slug_);
  since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 202, since));
}

TEST_F(tenant_e2etest, a_change_from_a_session_in_another_time_zone_is_seen_too) {
  // updated_at is a TIMESTAMP in the writing session's zone: twelve hours behind, or fourteen
  // ahead, of the nodes'. The poll must not care.
  for (auto [zone, active, want] : {std::tuple{"Etc/GMT+12", "false", 404}, std::tuple{"Pacific/Kiritimati", "true", 202}}) {
    auto session = pg::connection::open(pg::connect_options{test::database_url()});
    ASSERT_TRUE(session.ok());
    ASSERT_TRUE((*session)->exec(std::string("SET TIME ZONE '") + zone + "'").ok());
    ASSERT_TRUE((*session)
                    ->exec(std::string("UPDATE workspaces SET is_active = ") + active + " WHERE slug = $1", pg::params{}.add(*slug_))
                    .ok());
    auto since = std::chrono::steady_clock::now();
    EXPECT_TRUE(await_both(form_post, want, since)) << "a change written from a session in " << zone << " was missed";
  }
}

TEST_F(tenant_e2etest, a_deleted_workspace_takes_nothing_and_its_ids_cost_no_load_per_request) {
  const std::string loads = "flowtrack_workspace_loads_total";
  ASSERT_EQ(hook_post(*a_), 202);
  exec("UPDATE workspaces SET deleted_at = now() WHERE slug = $1", *slug_);
  auto since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 404, since)) << "a deleted workspace's form still takes submissions";
  EXPECT_TRUE(await_both(hook_default, 404, since)) << "a deleted workspace's workflow still takes webhook triggers";
  double before = a_->metric(loads);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(hook_post(*a_), 404);
  EXPECT_LE(a_->metric(loads) - before, 1) << "its workflow id is remembered as unknown, not loaded again and again";
  EXPECT_EQ(cli_run(), 66);
  exec("UPDATE workspaces SET deleted_at = NULL WHERE slug = $1", *slug_);
  since = std::chrono::steady_clock::now();
  EXPECT_TRUE(await_both(form_post, 202, since));
  EXPECT_TRUE(await_both(hook_default, 202, since));
}

TEST_F(tenant_e2etest, workflow_ids_are_compared_in_canonical_form_and_the_token_comes_before_the_body) {
  std::string upper = *workflow_;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(hook_post(*a_, upper), 202) << "an upper-case id names the same workflow";
  EXPECT_EQ(test::http_request(a_->port, "GET", "/p/" + *slug_ + "/" + upper).status, 200) << "also as a form's address";
  // A wrong token is refused before the (malformed) body is read.
  auto r = test::http_request(a_->port, "POST", "/hooks/" + *workflow_, "{not json",
                              {{"Content-Type", "application/json"}, {"X-FlowTrack-Token", "ftwh_wrong"}});
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(hook_post(*a_, *workflow_, "{not json"), 400) << "with the right token, the malformed body is a 400";
}

TEST_F(tenant_e2etest, a_flood_of_random_workflow_ids_costs_few_lookups_and_reloads_nothing) {
  const std::string lookups = "flowtrack_tenant_queries_total{kind=\"lookup\"}", loads = "flowtrack_workspace_loads_total";
  ASSERT_EQ(hook_post(*a_), 202);  // the workspace actor is up
  double before = a_->metric(lookups), loads_before = a_->metric(loads);
  ASSERT_GE(before, 0) << "no look-up counter in /metrics";
  ASSERT_GE(loads_before, 1) << "no workspace load counter in /metrics";
  constexpr int k_threads = 32, k_each = 40;
  std::atomic<int> not_found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) * 7919 + 17);
      for (int i = 0; i < k_each; ++i) {
        char id[37];
        std::snprintf(id, sizeof id, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(rng()), static_cast<unsigned>(rng() & 0xffff),
                      static_cast<unsigned>(rng() & 0xfff), static_cast<unsigned>(rng() & 0xfff),
                      static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
        if (hook_post(*a_, id) == 404) ++not_found;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(not_found.load(), k_threads * k_each);
  double flood = a_->metric(lookups) - before;
  RecordProperty("lookups_for_random_ids", static_cast<int>(flood));
  EXPECT_LT(flood, k_threads * k_each / 4) << "random ids are looked up in batches, not one statement each";
  // The same unknown id again and again: remembered as unknown, no statement at all.
  before = a_->metric(lookups);
  const std::string same = "0f0f0f0f-0000-4000-8000-000000000001";
  for (int i = 0; i < 100; ++i) ASSERT_EQ(hook_post(*a_, same), 404);
  EXPECT_LE(a_->metric(lookups) - before, 1) << "an unknown id is cached as unknown";
  EXPECT_EQ(hook_post(*a_), 202) << "the real workflow still works";
  EXPECT_EQ(a_->metric(loads), loads_before) << "no unknown id made a workspace load again";
}

TEST_F(tenant_e2etest, a_flood_of_random_form_slugs_costs_few_lookups) {
  const std::string lookups = "flowtrack_tenant_queries_total{kind=\"lookup\"}";
  double before = a_->metric(lookups);
  ASSERT_GE(before, 0);
  constexpr int k_threads = 32, k_each = 20;
  std::atomic<int> not_found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < k_each; ++i)
        if (test::http_request(a_->port, "GET", "/p/no-such-" + std::to_string(t) + "-" + std::to_string(i)).status == 404) ++not_found;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(not_found.load(), k_threads * k_each);
  EXPECT_LT(a_->metric(lookups) - before, k_threads * k_each / 4) << "unknown slugs are looked up in batches";
  EXPECT_EQ(form_page(*a_), 200) << "the real form still shows";
}

// Public-form rate limits count an IPv6 client by its /64 (the client address comes from
// X-Forwarded-For, the node being behind a trusted proxy here); IPv4 clients per address.
TEST(form_rate_limit_e2etest, ipv6_clients_of_one_slash_64_share_a_limit_and_ipv4_clients_do_not) {
  std::string slug = test::unique_slug("rate6");
  cli("workspace create --name Rate --slug " + slug + " --owner-email owner@" + slug + ".example.com --plan enterprise");
  std::string file = "/tmp/" + slug + ".json";
  std::ofstream(file) << k_graph;
  cli("workflow import --workspace " + slug + " " + file);
  std::remove(file.c_str());
  node_process n({{"FLOWTRACK_FORM_RATE_LIMIT", "1"}, {"FLOWTRACK_TRUSTED_PROXIES", "127.0.0.1/32"}});
  int seq = 0;
  auto post_from = [&](const std::string& client) {
    std::string body = R"({"email":"r)" + std::to_string(++seq) + R"(@example.com"})";
    return test::http_request(n.port, "POST", "/p/" + slug + "/join", body,
                              {{"Content-Type", "application/json"}, {"X-Forwarded-For", client}})
        .status;
  };
  EXPECT_EQ(post_from("2001:db8:1:2::1"), 202);
  EXPECT_EQ(post_from("2001:db8:1:2:ffff:ffff:ffff:fffe"), 429) << "the same /64 is the same client";
  EXPECT_EQ(post_from("2001:db8:1:3::1"), 202) << "the next /64 is another client";
  EXPECT_EQ(post_from("198.51.100.1"), 202);
  EXPECT_EQ(post_from("198.51.100.2"), 202) << "IPv4 clients count per address";
  EXPECT_EQ(post_from("198.51.100.1"), 429);
}

}  // namespace
}  // namespace flowtrack
