// POST /billing/stripe/webhook against a running node (a database of this suite's own): the test
// acts as Stripe and signs each event with the node's secret. Without the secret the route does
// not exist; signed events move a workspace to its plan (subscriptions and usage_quotas rows,
// and the management API's GET .../subscription); bad, stale and replayed deliveries and events
// out of order change nothing; a plan change while forms are submitted from several threads
// leaves the quota rows right and the node picks the plan up; past_due beyond the grace period
// answers forms and hooks 402 payment_required until the invoice is paid.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <boost/json.hpp>

#include "crypto/stripe_signature.hpp"
#include "domain/stripe_event.hpp"
#include "tests/support/api_session.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string k_jwt_key_hex = "2e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f";
const std::string k_secret = "whsec_e2e_" + std::string(32, 'k');
constexpr std::int64_t k_day = 86400;

scratch_database& database() {
  static scratch_database db("ft_stripe_e2e");
  return db;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A form and a webhook trigger, both active, each ending at once.
const char* k_form = R"({"name":"Contact","status":"active","settings":{"form":{"slug":"contact"}},
 "nodes":[{"id":"t","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},{"id":"e","type":"LOGIC_END","position":{"x":0,"y":1},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"e"}],
 "formFields":[{"fieldKey":"email","label":"Email","fieldType":"EMAIL","isRequired":true,"displayOrder":1}]})";
const char* k_hook = R"({"name":"Partner","status":"active",
 "nodes":[{"id":"h","type":"TRIGGER_WEBHOOK","position":{"x":0,"y":0},"data":{}},{"id":"e","type":"LOGIC_END","position":{"x":0,"y":1},"data":{}}],
 "edges":[{"id":"1","source":"h","target":"e"}]})";

// What the tests vary in a customer.subscription.* event.
struct sub_spec {
  std::string type = "customer.subscription.updated";
  std::int64_t created = now_s();
  std::string stripe_id;
  std::string workspace_id;
  std::string lookup_key = "pro";
  std::string status = "active";
  std::int64_t period_start = now_s() - 2 * k_day;
  std::int64_t period_end = now_s() + 28 * k_day;
};

std::string sub_body(const sub_spec& s) {
  static std::atomic<int> n{0};
  json::object price{{"id", "price_" + s.lookup_key}, {"lookup_key", s.lookup_key}, {"recurring", json::object{{"interval", "month"}}}};
  json::object sub{{"id", s.stripe_id},
                   {"object", "subscription"},
                   {"customer", "cus_e2e"},
                   {"status", s.status},
                   {"cancel_at_period_end", false},
                   {"metadata", json::object{{"workspace_id", s.workspace_id}}},
                   // Newer API versions: the periods on the item.
                   {"items", json::object{{"data", json::array{json::object{{"id", "si_1"}, {"price", price},
                                                                            {"current_period_start", s.period_start},
                                                                            {"current_period_end", s.period_end}}}}}}};
  return json::serialize(json::object{{"id", "evt_" + unique_name("e2e") + "_" + std::to_string(++n)},
                                      {"object", "event"},
                                      {"type", s.type},
                                      {"created", s.created},
                                      {"data", json::object{{"object", sub}}}});
}

std::string invoice_body(const std::string& stripe_id, bool paid, std::int64_t created) {
  return json::serialize(json::object{
      {"id", "evt_" + unique_name("inv")}, {"type", paid ? "invoice.payment_succeeded" : "invoice.payment_failed"}, {"created", created},
      {"data", json::object{{"object", json::object{{"id", "in_1"}, {"parent", json::object{{"subscription_details",
                                                                                            json::object{{"subscription", stripe_id}}}}}}}}}});
}

class stripe_webhook_e2e : public api_session {
 protected:
  void SetUp() override { ASSERT_TRUE(use_database(database())); }

  void start(bool with_secret = true) {
    node_process::settings s{{"FLOWTRACK_JWT_KEY", k_jwt_key_hex}, {"FLOWTRACK_FORM_RATE_LIMIT", "0"}, {"FLOWTRACK_BILLING_GRACE_DAYS", "1"}};
    if (with_secret) s["FLOWTRACK_STRIPE_WEBHOOK_SECRET"] = k_secret;
    start_node(s);
  }

  // Stripe's delivery: the body signed now (or at `signed_at`) under the node's secret.
  http_reply deliver(const std::string& body, std::optional<std::int64_t> signed_at = std::nullopt, const std::string& secret = k_secret) {
    return http_request(node->port, "POST", "/billing/stripe/webhook", body,
                        {{"Content-Type", "application/json; charset=utf-8"},
                         {"Stripe-Signature", crypto::stripe_signature_header(secret, signed_at.value_or(now_s()), body)}});
  }
  std::string outcome(const http_reply& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    return std::string(json::parse(r.body).at("outcome").as_string());
  }

  struct tenant {
    std::string id, slug;
    api_user owner;
  };
  // A workspace made through the API (so its owner can read it there), its workflows by the CLI.
  tenant workspace(bool with_workflows = true) {
    tenant t;
    t.owner = new_user("owner");
    t.slug = unique_slug("bill");
    auto r = send("POST", "/workspaces", {{"name", "Billing"}, {"slug", t.slug}}, t.owner.token);
    EXPECT_EQ(r.status, 201) << r.text;
    if (r.status == 201) t.id = r.str("id");
    if (with_workflows) {
      import(t.slug, k_form);
      // The node learns of the form through its tenant poll.
      auto deadline = std::chrono::steady_clock::now() + 15s;
      while (http_request(node->port, "GET", "/p/" + t.slug).status != 200 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    }
    return t;
  }
  std::string import(const std::string& slug, const char* doc) {
    std::string file = "/tmp/" + unique_name("stripe-wf") + ".json";
    std::ofstream(file) << doc;
    std::string id = cli("workflow import --workspace " + slug + " " + file);
    std::remove(file.c_str());
    return id;
  }
  http_reply submit(const tenant& t, const std::string& email) {
    return http_request(node->port, "POST", "/p/" + t.slug, json::serialize(json::object{{"email", email}}),
                        {{"Content-Type", "application/json"}});
  }
  std::string one(const std::string& sql) {
    auto c = column(sql);
    return c.empty() ? "" : c.front();
  }
};

TEST_F(stripe_webhook_e2e, without_the_secret_the_route_does_not_exist) {
  start(false);
  std::string body = sub_body(sub_spec{});
  auto r = deliver(body);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(http_request(node->port, "GET", "/billing/stripe/webhook").status, 404);
  EXPECT_EQ(node->process->log().find(k_secret), std::string::npos);
}

TEST_F(stripe_webhook_e2e, signed_events_move_the_workspace_and_bad_stale_replayed_and_older_ones_change_nothing) {
  start();
  auto t = workspace(false);
  // A new workspace is on free.
  auto before = call("GET", "/workspaces/" + t.id + "/subscription", "", t.owner.token);
  ASSERT_EQ(before.status, 200) << before.text;
  EXPECT_EQ(before.body.at("plan").at("slug").as_string(), "free");

  sub_spec s;
  s.type = "customer.subscription.created";
  s.stripe_id = "sub_" + unique_name("e2e");
  s.workspace_id = t.id;
  s.created = now_s() - 60;
  std::string created = sub_body(s);

  // Bad and stale signatures: 400, nothing stored.
  auto forged = deliver(created, std::nullopt, "whsec_guessed");
  EXPECT_EQ(forged.status, 400) << forged.body;
  EXPECT_NE(forged.body.find("invalid_signature"), std::string::npos) << forged.body;
  auto stale = deliver(created, now_s() - 600);
  EXPECT_EQ(stale.status, 400) << stale.body;
  auto unsigned_ = http_request(node->port, "POST", "/billing/stripe/webhook", created, {{"Content-Type", "application/json"}});
  EXPECT_EQ(unsigned_.status, 400);
  auto tampered = http_request(node->port, "POST", "/billing/stripe/webhook", created + " ",
                               {{"Content-Type", "application/json"},
                                {"Stripe-Signature", crypto::stripe_signature_header(k_secret, now_s(), created)}});
  EXPECT_EQ(tampered.status, 400) << "the signature covers the raw body";
  EXPECT_EQ(one("SELECT count(*) FROM subscriptions WHERE workspace_id = '" + t.id + "'"), "1");

  // The good delivery: pro from its period, every quota row at once, the API shows it.
  ASSERT_EQ(outcome(deliver(created)), "applied");
  EXPECT_EQ(one("SELECT p.slug || ' ' || s.status || ' ' || s.current_period_start FROM subscriptions s JOIN subscription_plans p"
                " ON p.id = s.subscription_plan_id WHERE s.stripe_subscription_id = '" + s.stripe_id + "'"),
            "pro active " + domain::stripe::utc_date(s.period_start));
  std::string rows_sql = "SELECT string_agg(quota_key || ':' || quota_limit || ':' || quota_used, ' ' ORDER BY quota_key) FROM usage_quotas"
                         " WHERE workspace_id = '" + t.id + "' AND period_start = '" + domain::stripe::utc_date(s.period_start) + "'";
  EXPECT_EQ(one(rows_sql), "email_sends:20000:0 executions:50000:0 leads:10000:0 workflows:50:0");
  auto sub = call("GET", "/workspaces/" + t.id + "/subscription", "", t.owner.token);
  ASSERT_EQ(sub.status, 200) << sub.text;
  EXPECT_EQ(sub.body.at("plan").at("slug").as_string(), "pro");
  EXPECT_EQ(sub.str("status"), "active");
  EXPECT_EQ(sub.str("currentPeriodStart"), domain::stripe::utc_date(s.period_start));
  auto usage = call("GET", "/workspaces/" + t.id + "/usage", "", t.owner.token);
  ASSERT_EQ(usage.status, 200) << usage.text;
  EXPECT_EQ(usage.body.at("quotas").as_array().size(), 4u) << usage.text;

  std::string row_sql = "SELECT row(s.*)::text FROM subscriptions s WHERE s.stripe_subscription_id = '" + s.stripe_id + "'";
  std::string row = one(row_sql);
  // Replayed: the same delivery again, and the same event signed anew (Stripe's retry).
  EXPECT_EQ(outcome(deliver(created)), "duplicate");
  EXPECT_EQ(one(row_sql), row);
  // Out of order: an update Stripe made before the creation arrives after it.
  sub_spec older = s;
  older.created = s.created - 30;
  older.status = "canceled";
  older.type = "customer.subscription.updated";
  EXPECT_EQ(outcome(deliver(sub_body(older))), "stale");
  EXPECT_EQ(one(row_sql), row);
  EXPECT_EQ(one(rows_sql), "email_sends:20000:0 executions:50000:0 leads:10000:0 workflows:50:0");
  EXPECT_EQ(one("SELECT string_agg(outcome, ',' ORDER BY processed_at) FROM stripe_events WHERE workspace_id = '" + t.id + "'"),
            "applied,stale");

  // An event type not handled: received, nothing stored.
  EXPECT_EQ(outcome(deliver(R"({"id":"evt_other","type":"charge.succeeded","created":1760000000,"data":{"object":{}}})")), "ignored");
  // A plan that does not exist: 422, so Stripe retries once it does.
  sub_spec unknown = s;
  unknown.created = now_s();
  unknown.lookup_key = "platinum";
  auto refused = deliver(sub_body(unknown));
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_NE(refused.body.find("platinum"), std::string::npos) << refused.body;
  EXPECT_EQ(node->process->log().find(k_secret), std::string::npos) << "the secret is never logged";
}

TEST_F(stripe_webhook_e2e, a_plan_change_while_forms_are_submitted_leaves_the_quota_rows_right) {
  start();
  auto t = workspace();
  ASSERT_EQ(submit(t, "first@example.com").status, 202);
  std::atomic<int> accepted{0};
  std::atomic<int> other{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      for (int i = 0; i < 400 && !stop; ++i) {
        std::string email = "c";  // appended: GCC 12's -Wrestrict misreads `"c" + ...` as an overlapping copy
        email.append(std::to_string(c)).append("-").append(std::to_string(i)).append("@example.com");
        auto r = submit(t, email);
        (r.status == 202 ? accepted : other)++;
      }
    });
  // The change lands while the clients are submitting.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (accepted < 20 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  sub_spec s;
  s.type = "customer.subscription.created";
  s.stripe_id = "sub_" + unique_name("load");
  s.workspace_id = t.id;
  s.lookup_key = "starter";
  s.period_start = now_s() - 60;  // a new period from today
  ASSERT_EQ(outcome(deliver(sub_body(s))), "applied");
  const std::string start = domain::stripe::utc_date(s.period_start);
  std::string limits_sql = "SELECT string_agg(quota_key || ':' || quota_limit, ' ' ORDER BY quota_key) FROM usage_quotas WHERE workspace_id = '" +
                           t.id + "' AND period_start = '" + start + "'";
  const std::string starter = "email_sends:2000 executions:5000 leads:1000 workflows:10";
  EXPECT_EQ(one(limits_sql), starter) << "right after the change";
  // The node picks the new plan up: submissions count in the new period's row.
  std::string used_sql = "SELECT COALESCE(sum(quota_used), 0) FROM usage_quotas WHERE workspace_id = '" + t.id +
                         "' AND quota_key = 'executions' AND period_start = '" + start + "'";
  deadline = std::chrono::steady_clock::now() + 20s;
  while (one(used_sql) == "0" && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_NE(one(used_sql), "0") << "the node never counted in the new period";
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(other.load(), 0) << "every submission was accepted";
  EXPECT_GT(accepted.load(), 20);

  EXPECT_EQ(one(limits_sql), starter) << "after the submissions";
  EXPECT_EQ(one("SELECT sum(quota_used) FROM usage_quotas WHERE workspace_id = '" + t.id + "' AND quota_key = 'executions'"),
            one("SELECT count(*) FROM workflow_executions WHERE workspace_id = '" + t.id + "'"))
      << "each execution counted once, in one period or the other";
  EXPECT_EQ(one("SELECT count(*) FROM usage_quotas WHERE workspace_id = '" + t.id + "' AND quota_used > quota_limit * 1.2"), "0");
  auto usage = call("GET", "/workspaces/" + t.id + "/usage", "", t.owner.token);
  ASSERT_EQ(usage.status, 200) << usage.text;
  for (const auto& q : usage.body.at("quotas").as_array()) EXPECT_EQ(q.at("periodStart").as_string(), start) << usage.text;
}

TEST_F(stripe_webhook_e2e, past_due_beyond_the_grace_period_answers_402_until_paid) {
  start();  // billing_grace_days = 1
  auto t = workspace();
  std::string hook = import(t.slug, k_hook);
  std::string token = cli("workflow token " + hook);
  sub_spec s;
  s.stripe_id = "sub_" + unique_name("due");
  s.workspace_id = t.id;
  s.created = now_s() - 3 * k_day;
  ASSERT_EQ(outcome(deliver(sub_body(s))), "applied");
  ASSERT_EQ(submit(t, "before@example.com").status, 202);

  // The payment failed two days ago: one day of grace is over.
  ASSERT_EQ(outcome(deliver(invoice_body(s.stripe_id, false, now_s() - 2 * k_day))), "applied");
  EXPECT_EQ(one("SELECT status FROM subscriptions WHERE stripe_subscription_id = '" + s.stripe_id + "'"), "past_due");
  std::string leads = one("SELECT count(*) FROM leads WHERE workspace_id = '" + t.id + "'");
  auto form = submit(t, "late@example.com");
  EXPECT_EQ(form.status, 402) << form.body;
  EXPECT_NE(form.body.find("\"payment_required\""), std::string::npos) << form.body;
  auto page = http_request(node->port, "POST", "/p/" + t.slug, "email=late%40example.com", {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(page.status, 402);
  EXPECT_NE(page.body.find("not taking submissions"), std::string::npos) << page.body;
  auto hooked = http_request(node->port, "POST", "/hooks/" + hook, R"({"email":"partner@example.com"})",
                             {{"Content-Type", "application/json"}, {"X-FlowTrack-Token", token}});
  EXPECT_EQ(hooked.status, 402) << hooked.body;
  EXPECT_NE(hooked.body.find("\"payment_required\""), std::string::npos) << hooked.body;
  EXPECT_EQ(one("SELECT count(*) FROM leads WHERE workspace_id = '" + t.id + "'"), leads) << "nothing stored";

  // Paid: taken again at once.
  ASSERT_EQ(outcome(deliver(invoice_body(s.stripe_id, true, now_s()))), "applied");
  EXPECT_EQ(submit(t, "paid@example.com").status, 202);
}

}  // namespace
}  // namespace flowtrack::test
