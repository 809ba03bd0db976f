// The webhook outbox against real PostgreSQL: events written in the transaction of their cause
// (intake, run records, tracking), subscription filtering, idempotent enqueue and the 256 KiB
// limit, claims (order, lease, release, retries due only when their time came, two claimers
// never sharing a message), attempt batches (status transitions, repeats, failing_since,
// disabling with endpoint.disabled) and workspace scoping. Claims scan every workspace, so the
// claim tests run in a database of their own.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "domain/ids.hpp"
#include "domain/shard_ring.hpp"
#include "storage/ingest.hpp"
#include "storage/migrate.hpp"
#include "storage/runs.hpp"
#include "storage/tracking.hpp"
#include "storage/webhook_outbox.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

using namespace std::chrono_literals;
using domain::webhook::verdict;

std::unique_ptr<pg::connection> connect(const std::string& url) {
  auto c = pg::connection::open(pg::connect_options{url});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A database of its own, migrated, dropped at the end.
struct own_database {
  std::string name = "ft_outbox_" + std::to_string(::getpid()) + "_" + std::to_string(now_ms() % 100000000);
  std::string url;
  own_database() {
    auto admin = connect(test::database_url());
    auto r = admin->exec("CREATE DATABASE " + name);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    url = test::database_url_for(name);
    auto c = connect(url);
    auto m = migrate(*c, embedded_migrations());
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.err().message);
  }
  ~own_database() {
    auto admin = connect(test::database_url());
    if (admin) (void)admin->exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  }
};

// This suite's messages live in a database of their own: a node another suite runs on the shared
// test database would claim and attempt them while these tests look at them.
const std::string& suite_url() {
  static own_database db;
  return db.url;
}

struct fixture {
  std::unique_ptr<pg::connection> c;
  std::string ws, other_ws, workflow, other_workflow;

  explicit fixture(const std::string& url = suite_url()) : c(connect(url)) {
    std::string tag = test::unique_name("whx");
    std::string user(scalar_text("INSERT INTO users (email) VALUES ($1) RETURNING id", {tag + "@example.com"}));
    ws = make_ws(tag, user);
    other_ws = make_ws(test::unique_name("whx"), user);
    workflow = scalar_text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id", {ws});
    other_workflow =
        scalar_text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id", {other_ws});
  }

  std::string make_ws(const std::string& slug, const std::string& user) {
    return scalar_text("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                       {slug, user});
  }

  std::string scalar_text(const std::string& sql, std::initializer_list<std::optional<std::string>> args) {
    auto r = c->exec(sql, pg::params(args));
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->empty() || r->is_null(0, 0)) return {};
    return std::string(r->get(0, 0));
  }
  void run(const std::string& sql, const pg::params& args = {}) {
    auto r = c->exec(sql, args);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
  }
  std::int64_t scalar(const std::string& sql, std::initializer_list<std::optional<std::string>> args = {}) {
    auto s = scalar_text(sql, args);
    return s.empty() ? 0 : std::stoll(s);
  }

  // An endpoint; `state` is "" (active), "inactive", "deleted" or "disabled".
  std::string endpoint(const std::string& workspace, const std::string& events_json, const std::string& state = "",
                       int max_retries = 3) {
    return scalar_text(
        "INSERT INTO webhook_endpoints (workspace_id, url, secret_key, subscribed_events, max_retries, is_active, deleted_at,"
        " disabled_at) SELECT $1::uuid, 'https://hooks.example.com/' || $2, 'sealed-secret',"
        " ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4::int, $2 <> 'inactive',"
        " CASE WHEN $2 = 'deleted' THEN now() END, CASE WHEN $2 = 'disabled' THEN now() END RETURNING id",
        {workspace, state, events_json, std::to_string(max_retries)});
  }

  std::int64_t deliveries(const std::string& endpoint_id, const std::string& type = "") {
    return scalar("SELECT count(*) FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid AND ($2 = '' OR event_type = $2)",
                  {endpoint_id, type});
  }
  boost::json::object payload(const std::string& endpoint_id, const std::string& type) {
    auto text = scalar_text("SELECT payload::text FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid AND event_type = $2"
                            " ORDER BY created_at DESC LIMIT 1",
                            {endpoint_id, type});
    EXPECT_FALSE(text.empty()) << "no " << type << " message";
    if (text.empty()) return {};
    return boost::json::parse(text).as_object();
  }

  domain::trigger_record trigger(const std::string& email) const {
    domain::trigger_record t;
    t.workspace_id = ws;
    t.workflow_id = workflow;
    t.trigger_type = "FORM_SUBMIT";
    t.event_type = "FORM_SUBMITTED";
    t.source = "FORM";
    t.email = email;
    t.name = "Ada";
    t.quotas = {std::nullopt, std::nullopt, "2026-12-01", "2026-12-31"};
    t.execution_id = domain::new_uuid();
    return t;
  }
  ingest_outcome ingest(const domain::trigger_record& t) {
    auto out = ingest_batch(*c, {t});
    EXPECT_TRUE(out.at(0).ok()) << (out.at(0).ok() ? "" : out.at(0).err().message);
    return out.at(0).ok() ? *out.at(0) : ingest_outcome{};
  }

  std::string message(const std::string& endpoint_id, const std::string& key) {
    auto id = enqueue_webhook(*c, {ws, endpoint_id, key, "workflow.webhook", R"({"n":1})"});
    EXPECT_TRUE(id.ok()) << (id.ok() ? "" : id.err().message);
    return id.ok() ? *id : std::string();
  }
  std::string column(const std::string& delivery, const std::string& expr) {
    return scalar_text("SELECT (" + expr + ")::text FROM webhook_deliveries WHERE id = $1::uuid", {delivery});
  }
};

webhook_attempt_record attempt(const fixture& f, const std::string& endpoint, const std::string& delivery, int number,
                               verdict outcome, std::int64_t started_ms) {
  webhook_attempt_record r;
  r.delivery_id = delivery;
  r.endpoint_id = endpoint;
  r.workspace_id = f.ws;
  r.attempt_number = number;
  r.started_at_ms = started_ms;
  r.duration_ms = 40;
  r.http_status = outcome == verdict::delivered ? 200 : 500;
  r.request_headers_json = R"({"webhook-id":")" + delivery + R"(","authorization":"[redacted]"})";
  r.response_headers_json = R"({"content-type":"text/plain"})";
  r.response_body = outcome == verdict::delivered ? "ok" : "boom";
  if (outcome != verdict::delivered) r.error_message = "the receiver answered 500";
  r.outcome = outcome;
  if (outcome == verdict::retry) r.next_retry_at_ms = started_ms + 3600 * 1000;
  return r;
}

// --- events in the transaction of their cause -------------------------------------------------

TEST(webhook_outbox_pgtest, intake_writes_lead_events_in_its_transaction_and_a_rollback_writes_none) {
  fixture f;
  auto all = f.endpoint(f.ws, R"(["*"])", "", 5);

  // Rolled back: neither the lead nor its message stays.
  ASSERT_TRUE(f.c->begin().ok());
  auto rolled = ingest_batch(*f.c, {f.trigger("gone@example.com")});
  ASSERT_TRUE(rolled.at(0).ok()) << rolled.at(0).err().message;
  EXPECT_EQ(f.deliveries(all, "lead.created"), 1) << "written with the lead, inside the transaction";
  f.c->rollback();
  EXPECT_EQ(f.deliveries(all), 0);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM leads WHERE workflow_id = $1::uuid", {f.workflow}), 0);

  auto first = f.ingest(f.trigger("ada@example.com"));
  ASSERT_TRUE(first.lead_created);
  EXPECT_EQ(f.deliveries(all, "lead.created"), 1);
  auto p = f.payload(all, "lead.created");
  EXPECT_EQ(p["type"], "lead.created");
  auto ts = std::string(p["timestamp"].as_string());
  EXPECT_EQ(ts.size(), 24u) << ts;
  EXPECT_EQ(ts.back(), 'Z') << ts;
  auto& data = p["data"].as_object();
  EXPECT_EQ(data["id"], first.lead_id.c_str());
  EXPECT_EQ(data["email"], "ada@example.com");
  EXPECT_EQ(data["name"], "Ada");
  EXPECT_EQ(data["workflow_id"], f.workflow.c_str());
  EXPECT_EQ(data["status"], "NEW");
  EXPECT_TRUE(data.contains("created_at"));

  // The message row as a new message: pending, scoped, 0 attempts, endpoint retries + 1.
  auto row = f.scalar_text(
      "SELECT status || ',' || workspace_id || ',' || attempt_number || ',' || max_attempts || ',' ||"
      " (claimed_until IS NULL) || ',' || (idempotency_key IS NULL) FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid",
      {all});
  EXPECT_EQ(row, "pending," + f.ws + ",0,6,true,true");

  auto again = f.ingest(f.trigger("ada@example.com"));
  EXPECT_FALSE(again.lead_created);
  EXPECT_EQ(f.deliveries(all, "lead.updated"), 1) << "a resubmission updates the lead";
  EXPECT_EQ(f.payload(all, "lead.updated")["data"].as_object()["id"], first.lead_id.c_str());
  EXPECT_EQ(f.deliveries(all), 2);
}

TEST(webhook_outbox_pgtest, only_active_endpoints_subscribed_to_the_type_or_star_get_a_message) {
  fixture f;
  auto star = f.endpoint(f.ws, R"(["*"])");
  auto created = f.endpoint(f.ws, R"(["lead.created"])");
  auto other_type = f.endpoint(f.ws, R"(["email.sent","lead.updated"])");
  auto inactive = f.endpoint(f.ws, R"(["*"])", "inactive");
  auto deleted = f.endpoint(f.ws, R"(["*"])", "deleted");
  auto disabled = f.endpoint(f.ws, R"(["lead.created"])", "disabled");
  auto elsewhere = f.endpoint(f.other_ws, R"(["*"])");

  f.ingest(f.trigger("bea@example.com"));
  EXPECT_EQ(f.deliveries(star, "lead.created"), 1);
  EXPECT_EQ(f.deliveries(created, "lead.created"), 1);
  for (const auto& e : {other_type, inactive, deleted, disabled, elsewhere}) EXPECT_EQ(f.deliveries(e), 0) << e;

  // emit_webhook_event: the same rule; with one endpoint named, whatever it subscribes to.
  auto made = emit_webhook_event(*f.c, f.ws, "endpoint.disabled", R"({"endpoint_id":"x"})");
  ASSERT_TRUE(made.ok()) << made.err().message;
  EXPECT_EQ(*made, 1u) << "only the * endpoint subscribes to it";
  auto test = emit_webhook_event(*f.c, f.ws, "webhook.test", R"({"hello":true})", std::string_view(created));
  ASSERT_TRUE(test.ok()) << test.err().message;
  EXPECT_EQ(*test, 1u);
  EXPECT_EQ(f.deliveries(created, "webhook.test"), 1);
  EXPECT_EQ(f.deliveries(star, "webhook.test"), 0);
  EXPECT_EQ(*emit_webhook_event(*f.c, f.ws, "webhook.test", "{}", std::string_view(disabled)), 0u);
  EXPECT_EQ(*emit_webhook_event(*f.c, f.other_ws, "webhook.test", "{}", std::string_view(created)), 0u)
      << "another workspace's endpoint";
  auto bad = emit_webhook_event(*f.c, f.ws, "webhook.test", "{not json", std::string_view(created));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, error_code::invalid);
}

TEST(webhook_outbox_pgtest, a_workspace_without_endpoints_gets_nothing_and_loses_nothing) {
  fixture f;
  auto elsewhere = f.endpoint(f.other_ws, R"(["*"])");
  auto out = f.ingest(f.trigger("cy@example.com"));
  EXPECT_TRUE(out.lead_created);
  EXPECT_TRUE(out.execution_id.has_value());
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_deliveries WHERE workspace_id = $1::uuid", {f.ws}), 0);
  EXPECT_EQ(f.deliveries(elsewhere), 0);
}

TEST(webhook_outbox_pgtest, a_settled_intake_run_reports_its_end_and_its_lead_status) {
  fixture f;
  auto all = f.endpoint(f.ws, R"(["*"])");
  auto t = f.trigger("dee@example.com");
  domain::run_record settled;
  settled.execution_id = t.execution_id;
  settled.workspace_id = f.ws;
  settled.workflow_id = f.workflow;
  settled.status = domain::execution_status::completed;
  settled.started_at = domain::sql_timestamp(now_ms());
  settled.completed_at = settled.started_at;
  settled.duration_ms = 1;
  settled.lead.status = "QUALIFIED";
  t.settled = settled;
  auto out = f.ingest(t);
  ASSERT_TRUE(out.settled);
  EXPECT_EQ(f.deliveries(all, "lead.created"), 1);
  EXPECT_EQ(f.deliveries(all, "execution.completed"), 1);
  auto changed = f.payload(all, "lead.status_changed")["data"].as_object();
  EXPECT_EQ(changed["old_status"], "NEW");
  EXPECT_EQ(changed["new_status"], "QUALIFIED");
  EXPECT_EQ(f.payload(all, "execution.completed")["data"].as_object()["execution_id"], t.execution_id.c_str());
}

TEST(webhook_outbox_pgtest, run_records_report_status_changes_ends_and_sent_emails_once) {
  fixture f;
  auto all = f.endpoint(f.ws, R"(["*"])");
  auto ended_only = f.endpoint(f.ws, R"(["execution.failed"])");
  auto out = f.ingest(f.trigger("eve@example.com"));
  ASSERT_TRUE(out.execution_id);

  domain::run_record r;
  r.execution_id = *out.execution_id;
  r.workspace_id = f.ws;
  r.workflow_id = f.workflow;
  r.lead_id = out.lead_id;
  r.lock_token = 1;
  r.seq = 1;
  r.status = domain::execution_status::completed;
  r.started_at = domain::sql_timestamp(now_ms());
  r.completed_at = r.started_at;
  r.duration_ms = 5;
  r.lead.status = "QUALIFIED";
  r.lead.email_sent = true;
  r.emails_sent = 1;
  r.events.push_back({"EMAIL_SENT", "communication", "Email sent: Welcome aboard", R"({"to":"eve@example.com","output":{}})"});

  // Rolled back: nothing.
  ASSERT_TRUE(f.c->begin().ok());
  ASSERT_TRUE(*write_runs(*f.c, {r}).at(0));
  EXPECT_EQ(f.deliveries(all, "execution.completed"), 1);
  f.c->rollback();
  EXPECT_EQ(f.deliveries(all, "execution.completed"), 0);

  ASSERT_TRUE(*write_runs(*f.c, {r}).at(0));
  auto changed = f.payload(all, "lead.status_changed")["data"].as_object();
  EXPECT_EQ(changed["lead_id"], out.lead_id.c_str());
  EXPECT_EQ(changed["old_status"], "NEW");
  EXPECT_EQ(changed["new_status"], "QUALIFIED");
  auto done = f.payload(all, "execution.completed")["data"].as_object();
  EXPECT_EQ(done["execution_id"], out.execution_id->c_str());
  EXPECT_EQ(done["workflow_id"], f.workflow.c_str());
  EXPECT_EQ(done["status"], "completed");
  auto sent = f.payload(all, "email.sent")["data"].as_object();
  EXPECT_EQ(sent["to"], "eve@example.com");
  EXPECT_EQ(sent["subject"], "Welcome aboard");
  EXPECT_EQ(sent["execution_id"], out.execution_id->c_str());
  EXPECT_EQ(f.deliveries(ended_only), 0);

  // The same record again is fenced out: no second message.
  EXPECT_FALSE(*write_runs(*f.c, {r}).at(0));
  EXPECT_EQ(f.deliveries(all, "execution.completed"), 1);
  EXPECT_EQ(f.deliveries(all, "lead.status_changed"), 1);

  // A second run that fails and sets the same status: execution.failed, no status change.
  auto out2 = f.ingest([&] { auto t = f.trigger("eve@example.com"); t.rerun_on_resubmit = true; return t; }());
  ASSERT_TRUE(out2.execution_id);
  domain::run_record r2 = r;
  r2.execution_id = *out2.execution_id;
  r2.status = domain::execution_status::failed;
  r2.error_message = "the mail relay refused";
  r2.events.clear();
  r2.emails_sent = 0;
  r2.lead.email_sent = false;
  ASSERT_TRUE(*write_runs(*f.c, {r2}).at(0));
  EXPECT_EQ(f.deliveries(all, "lead.status_changed"), 1) << "QUALIFIED to QUALIFIED is no change";
  EXPECT_EQ(f.deliveries(ended_only, "execution.failed"), 1);
  EXPECT_EQ(f.payload(ended_only, "execution.failed")["data"].as_object()["error"], "the mail relay refused");
}

TEST(webhook_outbox_pgtest, tracking_reports_a_first_open_once_and_every_click) {
  fixture f;
  auto all = f.endpoint(f.ws, R"(["email.opened","email.clicked"])");
  auto out = f.ingest(f.trigger("fay@example.com"));
  std::string execution = domain::new_uuid();
  domain::track_ref open{domain::track_kind::open, f.ws, out.lead_id, execution, ""};
  EXPECT_TRUE(*record_tracking(*f.c, open));
  EXPECT_FALSE(*record_tracking(*f.c, open));
  EXPECT_EQ(f.deliveries(all, "email.opened"), 1);
  auto opened = f.payload(all, "email.opened")["data"].as_object();
  EXPECT_EQ(opened["lead_id"], out.lead_id.c_str());
  EXPECT_EQ(opened["execution_id"], execution.c_str());
  domain::track_ref click{domain::track_kind::click, f.ws, out.lead_id, execution, "https://example.com/offer"};
  EXPECT_TRUE(*record_tracking(*f.c, click));
  EXPECT_TRUE(*record_tracking(*f.c, click));
  EXPECT_EQ(f.deliveries(all, "email.clicked"), 2);
  EXPECT_EQ(f.payload(all, "email.clicked")["data"].as_object()["url"], "https://example.com/offer");
  // Another workspace's reference records nothing and says so.
  domain::track_ref wrong{domain::track_kind::click, f.other_ws, out.lead_id, execution, "https://example.com/"};
  EXPECT_FALSE(record_tracking(*f.c, wrong).ok());
  EXPECT_EQ(f.deliveries(all, "email.clicked"), 2);
}

// --- enqueue ------------------------------------------------------------------------------------

TEST(webhook_outbox_pgtest, enqueue_is_idempotent_per_endpoint_and_refuses_what_it_cannot_send) {
  fixture f;
  auto ep = f.endpoint(f.ws, R"(["lead.created"])", "", 2);
  webhook_enqueue m{f.ws, ep, "exec-1:node-1", "workflow.webhook", R"({"deal":42})"};
  auto first = enqueue_webhook(*f.c, m);
  ASSERT_TRUE(first.ok()) << first.err().message;
  auto second = enqueue_webhook(*f.c, m);
  ASSERT_TRUE(second.ok()) << second.err().message;
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(f.deliveries(ep), 1);
  EXPECT_EQ(f.column(*first, "max_attempts"), "3");
  EXPECT_EQ(f.column(*first, "payload->'data'->>'deal'"), "42");
  EXPECT_EQ(f.column(*first, "payload->>'type'"), "workflow.webhook");
  m.idempotency_key = "exec-1:node-2";
  auto other = enqueue_webhook(*f.c, m);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first);

  // Concurrent twins under one key: one message, both told its id.
  m.idempotency_key = "exec-2:node-1";
  std::string ids[2];
  std::thread racers[2];
  for (int i = 0; i < 2; ++i)
    racers[i] = std::thread([&, i] {
      auto c = connect(suite_url());
      auto id = enqueue_webhook(*c, m);
      EXPECT_TRUE(id.ok()) << (id.ok() ? "" : id.err().message);
      if (id.ok()) ids[i] = *id;
    });
  for (auto& t : racers) t.join();
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid AND idempotency_key = $2",
                     {ep, m.idempotency_key}),
            1);

  // 256 KiB: a body over it is refused whole, naming the payload; one just under is kept whole.
  std::string big(k_webhook_payload_max + 2, 'x');
  big.front() = big.back() = '"';
  auto refused = enqueue_webhook(*f.c, {f.ws, ep, "exec-3:node-1", "workflow.webhook", big});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.err().code, error_code::invalid);
  EXPECT_EQ(refused.err().subject, "payload");
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_deliveries WHERE idempotency_key = 'exec-3:node-1' AND webhook_endpoint_id = $1::uuid",
                     {ep}),
            0);
  std::string fits(k_webhook_payload_max - 198, 'y');
  fits.front() = fits.back() = '"';
  auto kept = enqueue_webhook(*f.c, {f.ws, ep, "exec-4:node-1", "workflow.webhook", fits});
  ASSERT_TRUE(kept.ok()) << kept.err().message;
  EXPECT_EQ(f.column(*kept, "length(payload->>'data')"), std::to_string(k_webhook_payload_max - 200));

  // Not this workspace's, deleted, inactive, disabled: not_found, nothing written.
  for (const auto& [workspace, endpoint] :
       std::vector<std::pair<std::string, std::string>>{{f.other_ws, ep},
                                                        {f.ws, f.endpoint(f.ws, R"(["*"])", "deleted")},
                                                        {f.ws, f.endpoint(f.ws, R"(["*"])", "inactive")},
                                                        {f.ws, f.endpoint(f.ws, R"(["*"])", "disabled")},
                                                        {f.ws, domain::new_uuid()}}) {
    auto r = enqueue_webhook(*f.c, {workspace, endpoint, "exec-5:node-1", "workflow.webhook", "{}"});
    ASSERT_FALSE(r.ok()) << endpoint;
    EXPECT_EQ(r.err().code, error_code::not_found);
    EXPECT_EQ(r.err().subject, "endpoint_id");
  }
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_deliveries WHERE idempotency_key = 'exec-5:node-1'"), 0);
}

// --- claims -------------------------------------------------------------------------------------

TEST(webhook_outbox_pgtest, claims_take_the_oldest_due_first_hold_a_lease_and_can_be_given_back) {
  own_database db;
  fixture f(db.url);
  auto ep = f.endpoint(f.ws, R"(["*"])");
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(f.message(ep, "k" + std::to_string(i)));
  // Due order (COALESCE(next_retry_at, created_at)): ids[2] (10 minutes ago), ids[0] (5 minutes),
  // ids[3] (a retry due a minute ago, made an hour ago), ids[1] (now).
  f.run("UPDATE webhook_deliveries SET created_at = now() - interval '10 minutes' WHERE id = $1::uuid", pg::params{}.add(ids[2]));
  f.run("UPDATE webhook_deliveries SET created_at = now() - interval '5 minutes' WHERE id = $1::uuid", pg::params{}.add(ids[0]));
  f.run("UPDATE webhook_deliveries SET status = 'failed', attempt_number = 2, next_retry_at = now() - interval '1 minute',"
            " created_at = now() - interval '1 hour' WHERE id = $1::uuid",
            pg::params{}.add(ids[3]));
  // Not due: a retry still waiting, an exhausted failure, a delivered and a cancelled message.
  auto waiting = f.message(ep, "waiting");
  f.run("UPDATE webhook_deliveries SET status = 'failed', attempt_number = 1, next_retry_at = now() + interval '1 hour'"
            " WHERE id = $1::uuid", pg::params{}.add(waiting));
  for (const auto& [key, status] : std::vector<std::pair<std::string, std::string>>{
           {"exhausted", "failed"}, {"done", "delivered"}, {"stopped", "cancelled"}}) {
    auto id = f.message(ep, key);
    f.run("UPDATE webhook_deliveries SET status = $2, created_at = now() - interval '1 day' WHERE id = $1::uuid",
              pg::params{}.add(id).add(status));
  }

  auto a = claim_webhook_deliveries(*f.c, 2, 60s);
  ASSERT_TRUE(a.ok()) << a.err().message;
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].id, ids[2]);
  EXPECT_EQ((*a)[1].id, ids[0]);
  EXPECT_EQ((*a)[0].attempts_made, 0);
  EXPECT_EQ((*a)[0].max_attempts, 4);
  EXPECT_EQ((*a)[0].endpoint_id, ep);
  EXPECT_EQ((*a)[0].workspace_id, f.ws);
  EXPECT_EQ((*a)[0].event_type, "workflow.webhook");
  EXPECT_EQ(boost::json::parse((*a)[0].payload).as_object()["data"].as_object()["n"], 1);
  EXPECT_GT((*a)[0].created_at_ms, 0);

  auto b = claim_webhook_deliveries(*f.c, 10, 60s);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 2u) << "the leased two are not claimed again; the waiting retry is not due";
  EXPECT_EQ((*b)[0].id, ids[3]) << "a retry is due by its next_retry_at";
  EXPECT_EQ((*b)[0].attempts_made, 2);
  EXPECT_EQ((*b)[1].id, ids[1]);
  EXPECT_TRUE(claim_webhook_deliveries(*f.c, 10, 60s)->empty());

  // Given back: claimable at once; given back until later: not yet.
  ASSERT_TRUE(release_webhook_claims(*f.c, {ids[0]}).ok());
  ASSERT_TRUE(release_webhook_claims(*f.c, {ids[1]}, now_ms() + 3600 * 1000).ok());
  auto c = claim_webhook_deliveries(*f.c, 10, 60s);
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].id, ids[0]);

  // A lease that ran out: claimable again.
  f.run("UPDATE webhook_deliveries SET claimed_until = now() - interval '1 second' WHERE id = $1::uuid", pg::params{}.add(ids[2]));
  auto d = claim_webhook_deliveries(*f.c, 10, 60s);
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].id, ids[2]);
  EXPECT_EQ(f.column(ids[2], "claimed_until > now() + interval '50 seconds'"), "true");

  // The waiting retry becomes due when its time comes.
  f.run("UPDATE webhook_deliveries SET next_retry_at = now() - interval '1 second' WHERE id = $1::uuid", pg::params{}.add(waiting));
  auto e = claim_webhook_deliveries(*f.c, 10, 60s);
  ASSERT_EQ(e->size(), 1u);
  EXPECT_EQ((*e)[0].id, waiting);
  EXPECT_EQ((*e)[0].attempts_made, 1);
}

TEST(webhook_outbox_pgtest, a_cluster_node_claims_only_its_shards_and_a_new_owner_frees_the_old_claims) {
  own_database db;
  fixture f(db.url);
  // SQL computes the node's shard function (migration 033).
  auto ids = f.c->exec("SELECT g::text, ft_shard_of(g) FROM (SELECT gen_random_uuid() AS g FROM generate_series(1, 1000)) x");
  ASSERT_TRUE(ids.ok()) << ids.err().message;
  for (int i = 0; i < ids->size(); ++i) ASSERT_EQ(domain::shard_of(ids->get(i, 0)), ids->get_int(i, 1)) << ids->get(i, 0);
  // Another workspace, of another shard than the fixture's.
  int mine = domain::shard_of(f.ws);
  EXPECT_EQ(f.scalar("SELECT ft_shard_of($1::uuid)", {f.ws}), mine);
  auto user = f.scalar_text("SELECT owner_user_id::text FROM workspaces WHERE id = $1::uuid", {f.ws});
  std::string other = f.other_ws;
  while (domain::shard_of(other) == mine) other = f.make_ws(test::unique_name("whx"), user);
  int theirs = domain::shard_of(other);

  auto ep = f.endpoint(f.ws, R"(["*"])");
  auto other_ep = f.endpoint(other, R"(["*"])");
  auto a = f.message(ep, "a");
  auto b = enqueue_webhook(*f.c, {other, other_ep, "b", "workflow.webhook", R"({"n":2})"});
  ASSERT_TRUE(b.ok()) << b.err().message;

  EXPECT_TRUE(claim_webhook_deliveries(*f.c, 10, 60s, std::vector<int>{})->empty()) << "a node holding no shard claims nothing";
  auto other_node = claim_webhook_deliveries(*f.c, 10, 60s, std::vector<int>{theirs});
  ASSERT_TRUE(other_node.ok()) << other_node.err().message;
  ASSERT_EQ(other_node->size(), 1u);
  EXPECT_EQ((*other_node)[0].id, *b);
  auto this_node = claim_webhook_deliveries(*f.c, 10, 60s, std::vector<int>{mine});
  ASSERT_EQ(this_node->size(), 1u);
  EXPECT_EQ((*this_node)[0].id, a);
  EXPECT_TRUE(claim_webhook_deliveries(*f.c, 10, 60s)->empty()) << "both leased";

  // This node dies; the next owner of its shard frees its claims: due again at once, the other
  // shard's claim untouched.
  auto freed = free_webhook_claims_of_shards(*f.c, {mine});
  ASSERT_TRUE(freed.ok()) << freed.err().message;
  EXPECT_EQ(*freed, 1u);
  EXPECT_EQ(f.column(*b, "claimed_until IS NOT NULL"), "true");
  auto again = claim_webhook_deliveries(*f.c, 10, 60s, std::vector<int>{mine, theirs});
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].id, a);
  EXPECT_EQ(*free_webhook_claims_of_shards(*f.c, {}), 0u);
}

TEST(webhook_outbox_pgtest, two_claimers_never_get_the_same_message) {
  own_database db;
  fixture f(db.url);
  auto ep = f.endpoint(f.ws, R"(["*"])");
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(emit_webhook_event(*f.c, f.ws, "lead.created", R"({"i":)" + std::to_string(i) + "}").ok());

  // A claim inside an open transaction holds its rows locked: another claimer skips them.
  auto other = connect(db.url);
  ASSERT_TRUE(other->begin().ok());
  auto held = claim_webhook_deliveries(*other, 50, 60s);
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->size(), 50u);
  auto beside = claim_webhook_deliveries(*f.c, 1000, 60s);
  ASSERT_TRUE(beside.ok()) << beside.err().message;
  EXPECT_EQ(beside->size(), 250u);
  std::set<std::string> seen;
  for (const auto& d : *held) seen.insert(d.id);
  for (const auto& d : *beside) EXPECT_TRUE(seen.insert(d.id).second) << d.id << " claimed twice";
  other->rollback();  // its leases never happened: those 50 are due again
  auto rest = claim_webhook_deliveries(*f.c, 1000, 60s);
  ASSERT_EQ(rest->size(), 50u);

  // Two threads claiming in small batches at once take every message exactly once.
  f.run("UPDATE webhook_deliveries SET claimed_until = NULL");
  std::vector<std::string> got[2];
  std::thread claimers[2];
  for (int t = 0; t < 2; ++t)
    claimers[t] = std::thread([&, t] {
      auto c = connect(db.url);
      for (;;) {
        auto r = claim_webhook_deliveries(*c, 7, 60s);
        EXPECT_TRUE(r.ok());
        if (!r.ok() || r->empty()) break;
        for (auto& d : *r) got[t].push_back(d.id);
      }
    });
  for (auto& t : claimers) t.join();
  std::set<std::string> all(got[0].begin(), got[0].end());
  for (const auto& id : got[1]) EXPECT_TRUE(all.insert(id).second) << id << " claimed by both";
  EXPECT_EQ(all.size(), 300u);
  EXPECT_EQ(f.deliveries(ep), 300);
}

// A large leased backlog costs a claim nothing: the lease end is the due key, so the index range
// ends before the leased rows (the claim used to read every one of them, quadratic overall), and
// the plan stays an ordered index walk even when the statistics are stale after a bulk insert
// (the planner then chose to read and sort every due row). Measured in buffers touched, which do
// not depend on the machine's speed.
TEST(webhook_outbox_pgtest, a_claim_reads_neither_leased_messages_nor_the_whole_backlog) {
  own_database db;
  fixture f(db.url);
  auto ep = f.endpoint(f.ws, R"(["*"])");
  auto bulk = [&](int n) {
    f.run("INSERT INTO webhook_deliveries (webhook_endpoint_id, workspace_id, event_type, payload, status, attempt_number,"
          " max_attempts) SELECT $1::uuid, $2::uuid, 'lead.created', jsonb_build_object('i', g), 'pending', 0, 4"
          " FROM generate_series(1, $3::int) g",
          pg::params{}.add(ep).add(f.ws).add(static_cast<std::int64_t>(n)));
  };
  auto buffers_of_claim = [&](int n) {
    auto r = f.c->exec("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM ft_claim_webhook_deliveries($1, 60000, NULL)",
                       pg::params{}.add(static_cast<std::int64_t>(n)));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    if (!r.ok()) return std::int64_t{-1};
    auto plan = boost::json::parse(r->get(0, 0)).as_array()[0].as_object()["Plan"].as_object();
    return plan["Shared Hit Blocks"].to_number<std::int64_t>() + plan["Shared Read Blocks"].to_number<std::int64_t>();
  };
  bulk(20000);
  f.run("ANALYZE webhook_deliveries");  // the statistics see 20,000 due rows...
  ASSERT_EQ(claim_webhook_deliveries(*f.c, 1000, 60s)->size(), 1000u);
  f.run("UPDATE webhook_deliveries SET claimed_until = now() + interval '5 minutes'");  // ...all leased now
  bulk(100);  // and 100 new ones the statistics do not know of
  // The leasing left the rows' old index entries (due at created_at) pointing at dead versions
  // until a vacuum; the first scan over them marks them dead in the index, once. Live leased rows
  // could never be skipped that way: the old key found them again on every claim.
  ASSERT_EQ(claim_webhook_deliveries(*f.c, 10, 60s)->size(), 10u);
  auto small = buffers_of_claim(10);
  ASSERT_GT(small, 0);
  // Ten messages cost the walk over the index's dead entries (~70 pages) and ten rows' updates
  // with their index entries (~150): about 200 buffer accesses. Reading the 20,000 leased rows
  // costs one access per row fetched from the heap: over 20,000.
  EXPECT_LT(small, 1000) << "a claim of 10 touched " << small << " buffers";
  // The two claims took twenty of the new messages (a 60 s lease; the backlog's run for 5 minutes).
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_deliveries WHERE claimed_until < now() + interval '2 minutes'"), 20);
}

// --- attempts -----------------------------------------------------------------------------------

TEST(webhook_outbox_pgtest, attempts_move_a_message_from_pending_to_failed_to_delivered_and_repeats_change_nothing) {
  fixture f;
  auto ep = f.endpoint(f.ws, R"(["*"])");
  auto id = f.message(ep, "m1");
  f.run("UPDATE webhook_deliveries SET claimed_until = now() + interval '1 minute' WHERE id = $1::uuid", pg::params{}.add(id));
  auto t0 = now_ms() - 60000;
  auto first = attempt(f, ep, id, 1, verdict::retry, t0);
  ASSERT_TRUE(record_webhook_attempts(*f.c, {first}).ok());
  EXPECT_EQ(f.column(id, "status"), "failed");
  EXPECT_EQ(f.column(id, "attempt_number"), "1");
  EXPECT_EQ(f.column(id, "http_status_code"), "500");
  EXPECT_EQ(f.column(id, "claimed_until IS NULL"), "true");
  EXPECT_EQ(f.column(id, "(extract(epoch FROM next_retry_at::timestamptz) * 1000)::bigint"), std::to_string(t0 + 3600 * 1000));
  EXPECT_EQ(f.column(id, "(extract(epoch FROM last_attempt_at::timestamptz) * 1000)::bigint"), std::to_string(t0));
  EXPECT_EQ(f.column(id, "request_headers->>'authorization'"), "[redacted]");
  EXPECT_EQ(f.column(id, "response_body"), "boom");
  EXPECT_EQ(f.column(id, "delivered_at IS NULL"), "true");
  auto failing = load_webhook_endpoint(*f.c, f.ws, ep);
  ASSERT_TRUE(failing.ok());
  EXPECT_EQ(failing->failing_since_ms, t0);
  EXPECT_TRUE(failing->active);

  // The same attempt again (a retried batch): no second row, nothing changed.
  auto repeat = first;
  repeat.outcome = verdict::delivered;
  repeat.next_retry_at_ms.reset();
  ASSERT_TRUE(record_webhook_attempts(*f.c, {repeat}).ok());
  EXPECT_EQ(f.column(id, "status"), "failed");
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_delivery_attempts WHERE delivery_id = $1::uuid", {id}), 1);

  ASSERT_TRUE(record_webhook_attempts(*f.c, {attempt(f, ep, id, 2, verdict::delivered, t0 + 30000)}).ok());
  EXPECT_EQ(f.column(id, "status"), "delivered");
  EXPECT_EQ(f.column(id, "attempt_number"), "2");
  EXPECT_EQ(f.column(id, "next_retry_at IS NULL AND delivered_at IS NOT NULL AND error_message IS NULL"), "true");
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_delivery_attempts WHERE delivery_id = $1::uuid", {id}), 2);
  EXPECT_EQ(f.scalar_text("SELECT string_agg(attempt_number || ':' || http_status_code || ':' || response_body, ',' ORDER BY"
                          " attempt_number) FROM webhook_delivery_attempts WHERE delivery_id = $1::uuid",
                          {id}),
            "1:500:boom,2:200:ok");
  auto healthy = load_webhook_endpoint(*f.c, f.ws, ep);
  EXPECT_FALSE(healthy->failing_since_ms) << "a success ends the failure run";
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_endpoints WHERE id = $1::uuid AND last_triggered_at IS NOT NULL", {ep}), 1);
}

TEST(webhook_outbox_pgtest, an_exhausted_message_fails_without_a_retry_and_a_cancelled_one_is_cancelled) {
  fixture f;
  auto ep = f.endpoint(f.ws, R"(["*"])");
  auto exhausted = f.message(ep, "x1");
  auto cancelled = f.message(ep, "x2");
  auto t0 = now_ms() - 1000;
  auto last = attempt(f, ep, exhausted, 4, verdict::failed, t0);
  auto stop = attempt(f, ep, cancelled, 1, verdict::cancelled, t0);
  ASSERT_TRUE(record_webhook_attempts(*f.c, {last, stop}).ok());
  EXPECT_EQ(f.column(exhausted, "status || ',' || (next_retry_at IS NULL)"), "failed,true");
  EXPECT_EQ(f.column(cancelled, "status || ',' || (next_retry_at IS NULL)"), "cancelled,true");
  // Neither is due any more.
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid AND (status = 'pending'"
                     " OR (status = 'failed' AND next_retry_at IS NOT NULL))",
                     {ep}),
            0);
  webhook_attempt_record no_time = attempt(f, ep, exhausted, 5, verdict::retry, t0);
  no_time.next_retry_at_ms.reset();
  auto refused = record_webhook_attempts(*f.c, {no_time});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.err().code, error_code::invalid);
}

TEST(webhook_outbox_pgtest, failing_since_is_the_first_failure_since_the_last_success) {
  fixture f;
  auto ep = f.endpoint(f.ws, R"(["*"])");
  std::vector<std::string> m;
  for (int i = 0; i < 5; ++i) m.push_back(f.message(ep, std::to_string(i) + "-f"));
  auto t0 = now_ms() - 600000;
  // One batch out of order: failures at t0+20s and t0+10s: the earlier one counts.
  ASSERT_TRUE(record_webhook_attempts(*f.c, {attempt(f, ep, m[0], 1, verdict::retry, t0 + 20000),
                                            attempt(f, ep, m[1], 1, verdict::retry, t0 + 10000)}).ok());
  EXPECT_EQ(load_webhook_endpoint(*f.c, f.ws, ep)->failing_since_ms, t0 + 10000);
  // A later failure keeps the start of the run.
  ASSERT_TRUE(record_webhook_attempts(*f.c, {attempt(f, ep, m[2], 1, verdict::retry, t0 + 30000)}).ok());
  EXPECT_EQ(load_webhook_endpoint(*f.c, f.ws, ep)->failing_since_ms, t0 + 10000);
  // A success then a failure in one batch: the run starts again at that failure.
  ASSERT_TRUE(record_webhook_attempts(*f.c, {attempt(f, ep, m[3], 1, verdict::delivered, t0 + 40000),
                                            attempt(f, ep, m[4], 1, verdict::retry, t0 + 50000)}).ok());
  EXPECT_EQ(load_webhook_endpoint(*f.c, f.ws, ep)->failing_since_ms, t0 + 50000);
  EXPECT_EQ(f.scalar("SELECT (extract(epoch FROM last_triggered_at::timestamptz) * 1000)::bigint FROM webhook_endpoints"
                     " WHERE id = $1::uuid", {ep}),
            t0 + 50040);
}

TEST(webhook_outbox_pgtest, a_disabling_attempt_disables_the_endpoint_and_tells_the_other_subscribers) {
  fixture f;
  auto dying = f.endpoint(f.ws, R"(["*"])");
  auto watcher = f.endpoint(f.ws, R"(["endpoint.disabled"])");
  auto star = f.endpoint(f.ws, R"(["*"])");
  auto deaf = f.endpoint(f.ws, R"(["lead.created"])");
  auto elsewhere = f.endpoint(f.other_ws, R"(["*"])");
  auto id = f.message(dying, "d1");
  auto r = attempt(f, dying, id, 1, verdict::failed, now_ms() - 1000);
  r.http_status = 410;
  r.disable_reason = "the receiver answered 410 Gone";
  ASSERT_TRUE(record_webhook_attempts(*f.c, {r}).ok());

  EXPECT_EQ(f.scalar_text("SELECT is_active || ',' || (disabled_at IS NOT NULL) || ',' || disabled_reason FROM webhook_endpoints"
                          " WHERE id = $1::uuid", {dying}),
            "true,true,the receiver answered 410 Gone");
  auto cfg = load_webhook_endpoint(*f.c, f.ws, dying);
  ASSERT_TRUE(cfg.ok());
  EXPECT_FALSE(cfg->active);
  EXPECT_EQ(f.deliveries(watcher, "endpoint.disabled"), 1);
  EXPECT_EQ(f.deliveries(star, "endpoint.disabled"), 1);
  EXPECT_EQ(f.deliveries(dying, "endpoint.disabled"), 0) << "not to the endpoint that was disabled";
  EXPECT_EQ(f.deliveries(deaf), 0);
  EXPECT_EQ(f.deliveries(elsewhere), 0);
  auto data = f.payload(watcher, "endpoint.disabled")["data"].as_object();
  EXPECT_EQ(data["endpoint_id"], dying.c_str());
  EXPECT_EQ(data["reason"], "the receiver answered 410 Gone");
  EXPECT_EQ(data["url"], ("https://hooks.example.com/"));

  // Disabled already: a second disabling attempt keeps the first reason and tells no one again.
  auto id2 = f.message(star, "d2");
  (void)id2;
  auto again = attempt(f, dying, id, 2, verdict::failed, now_ms() - 500);
  again.disable_reason = "failing for five days";
  ASSERT_TRUE(record_webhook_attempts(*f.c, {again}).ok());
  EXPECT_EQ(f.deliveries(watcher, "endpoint.disabled"), 1);
  EXPECT_EQ(f.scalar_text("SELECT disabled_reason FROM webhook_endpoints WHERE id = $1::uuid", {dying}),
            "the receiver answered 410 Gone");
}

// --- scoping and endpoint reads ---------------------------------------------------------------

TEST(webhook_outbox_pgtest, everything_is_scoped_by_workspace) {
  fixture f;
  auto ep = f.endpoint(f.ws, R"(["*"])");
  auto id = f.message(ep, "s1");
  auto r = attempt(f, ep, id, 1, verdict::delivered, now_ms());
  r.workspace_id = f.other_ws;
  ASSERT_TRUE(record_webhook_attempts(*f.c, {r}).ok());
  EXPECT_EQ(f.column(id, "status"), "pending") << "a record naming another workspace changes nothing";
  EXPECT_EQ(f.scalar("SELECT count(*) FROM webhook_delivery_attempts WHERE delivery_id = $1::uuid", {id}), 0);
  auto other = load_webhook_endpoint(*f.c, f.other_ws, ep);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.err().code, error_code::not_found);
  EXPECT_EQ(*emit_webhook_event(*f.c, f.other_ws, "lead.created", "{}"), 0u);
  EXPECT_EQ(f.deliveries(ep), 1);
}

TEST(webhook_outbox_pgtest, an_endpoint_is_read_with_its_secrets_sealed_and_the_previous_one_only_until_it_expires) {
  fixture f;
  auto ep = f.endpoint(f.ws, R"(["*"])", "", 7);
  f.run("UPDATE webhook_endpoints SET previous_secret_key = 'sealed-old', previous_secret_expires_at = now() + interval '1 hour',"
            " auth_header_name = 'Authorization', auth_header_value = 'sealed-auth', retry_delay_seconds = 30, max_in_flight = 9"
            " WHERE id = $1::uuid", pg::params{}.add(ep));
  auto upper = ep;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  auto e = load_webhook_endpoint(*f.c, f.ws, upper);
  ASSERT_TRUE(e.ok()) << e.err().message;
  EXPECT_EQ(e->id, ep) << "canonical lower case";
  EXPECT_EQ(e->workspace_id, f.ws);
  EXPECT_EQ(e->url, "https://hooks.example.com/");
  EXPECT_EQ(e->sealed_secret, "sealed-secret");
  EXPECT_EQ(e->sealed_previous_secret, "sealed-old");
  EXPECT_EQ(e->auth_header_name, "Authorization");
  EXPECT_EQ(e->sealed_auth_value, "sealed-auth");
  EXPECT_EQ(e->max_retries, 7);
  EXPECT_EQ(e->retry_delay_seconds, 30);
  EXPECT_EQ(e->max_in_flight, 9);
  EXPECT_TRUE(e->active);
  EXPECT_FALSE(e->failing_since_ms);
  f.run("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second', deleted_at = now()"
            " WHERE id = $1::uuid", pg::params{}.add(ep));
  auto later = load_webhook_endpoint(*f.c, f.ws, ep);
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->sealed_previous_secret);
  EXPECT_FALSE(later->active) << "deleted";
}

}  // namespace
}  // namespace flowtrack::storage
