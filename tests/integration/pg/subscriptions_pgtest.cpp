// Subscriptions following Stripe against real PostgreSQL (storage/subscriptions, migration 026):
// every new workspace starts on free (both ways of making one), an event moves the workspace to
// its plan with its quota rows at once, replays change nothing, older events lose to newer ones,
// invoices move a subscription between active and past_due, past_due beyond the grace period
// refuses new triggers, a cancellation returns the workspace to its own plan, downgrades and
// unlimited plans keep the quota rows valid, unknown plans and workspaces are refused unrecorded,
// and a plan change while several threads write triggers leaves the quota rows right.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <boost/json.hpp>

#include "domain/ids.hpp"
#include "domain/stripe_event.hpp"
#include "storage/ingest.hpp"
#include "storage/subscriptions.hpp"
#include "storage/workspace_members.hpp"
#include "storage/workspaces.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

std::unique_ptr<pg::connection> connect() {
  auto opened = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.err().message);
  return opened.ok() ? std::move(*opened) : nullptr;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr std::int64_t k_day = 86400;

// The fields of a customer.subscription.* event that the tests vary.
struct sub_spec {
  std::string event_id = domain::new_uuid();
  std::string type = "customer.subscription.updated";
  std::int64_t created = now_s();
  std::string stripe_id;
  std::string workspace_id;
  std::string lookup_key = "pro";
  std::string status = "active";
  std::int64_t period_start = now_s() - 2 * k_day;
  std::int64_t period_end = now_s() + 28 * k_day;
};

domain::stripe::event sub_event(const sub_spec& s) {
  json::object price{{"id", "price_x"}, {"recurring", json::object{{"interval", "month"}}}};
  if (!s.lookup_key.empty()) price["lookup_key"] = s.lookup_key;
  json::object sub{{"id", s.stripe_id},   {"customer", "cus_" + s.stripe_id}, {"status", s.status},
                   {"current_period_start", s.period_start}, {"current_period_end", s.period_end},
                   {"items", json::object{{"data", json::array{json::object{{"id", "si_x"}, {"price", price}}}}}}};
  if (!s.workspace_id.empty()) sub["metadata"] = json::object{{"workspace_id", s.workspace_id}};
  auto r = domain::stripe::parse_event(json::serialize(json::object{
      {"id", "evt_" + s.event_id}, {"type", s.type}, {"created", s.created}, {"data", json::object{{"object", sub}}}}));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
  return r.ok() ? *r : domain::stripe::event{};
}

domain::stripe::event invoice_event(const std::string& stripe_id, bool paid, std::int64_t created) {
  auto r = domain::stripe::parse_event(json::serialize(json::object{
      {"id", "evt_" + domain::new_uuid()}, {"type", paid ? "invoice.payment_succeeded" : "invoice.payment_failed"}, {"created", created},
      {"data", json::object{{"object", json::object{{"id", "in_x"}, {"subscription", stripe_id}}}}}}));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
  return r.ok() ? *r : domain::stripe::event{};
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect();
  std::string workspace_id;
  std::string stripe_id = "sub_" + test::unique_name("s");

  fixture() {
    std::string slug = test::unique_slug("bill");
    auto ws = create_workspace(*c, new_workspace{"Billing", slug, "owner@" + slug + ".example.com", "free", "UTC", ""});
    EXPECT_TRUE(ws.ok()) << (ws.ok() ? "" : ws.err().message);
    if (ws.ok()) workspace_id = ws->id;
  }

  std::string text(const std::string& sql, const pg::params& p) {
    auto r = c->exec(sql, p);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->empty() || r->is_null(0, 0)) return "NULL";
    return std::string(r->get(0, 0));
  }
  std::string text(const std::string& sql) { return text(sql, pg::params{}.add(workspace_id)); }

  // usage_quotas of the workspace as "key:limit:used:start:end" lines, ordered.
  std::string quotas() {
    return text("SELECT string_agg(quota_key || ':' || quota_limit || ':' || quota_used || ':' || period_start || ':' || period_end, ' '"
                " ORDER BY period_start, quota_key) FROM usage_quotas WHERE workspace_id = $1");
  }

  result<stripe_applied> apply(const domain::stripe::event& e, int grace_days = 7) { return apply_stripe_event(*c, e, grace_days); }

  sub_spec spec() {
    sub_spec s;
    s.stripe_id = stripe_id;
    s.workspace_id = workspace_id;
    return s;
  }

  stripe_outcome outcome(const result<stripe_applied>& r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    return r.ok() ? r->outcome : stripe_outcome::ignored;
  }
};

std::string date_of(std::int64_t t) { return domain::stripe::utc_date(t); }

TEST(subscriptions, every_new_workspace_starts_on_the_free_plan) {
  auto c = connect();
  // The CLI's way (flowtrackd workspace create) and the API's (POST /workspaces).
  std::string slug = test::unique_slug("cli");
  auto cli = create_workspace(*c, new_workspace{"Cli", slug, "owner@" + slug + ".example.com", "free", "UTC", ""});
  ASSERT_TRUE(cli.ok()) << cli.err().message;
  auto user = c->exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(test::unique_name("api") + "@example.com"));
  ASSERT_TRUE(user.ok()) << user.err().message;
  auto api = create_workspace_for_user(*c, user->get(0, 0), "Api", test::unique_slug("api"));
  ASSERT_TRUE(api.ok()) << api.err().message;
  for (const std::string& id : {cli->id, api->id}) {
    auto r = c->exec("SELECT p.slug, s.status, s.billing_cycle, s.current_period_start = date_trunc('month', now())::date,"
                     " s.current_period_end = (date_trunc('month', now()) + interval '1 month - 1 day')::date, s.stripe_subscription_id IS NULL"
                     " FROM subscriptions s JOIN subscription_plans p ON p.id = s.subscription_plan_id WHERE s.workspace_id = $1",
                     pg::params{}.add(id));
    ASSERT_TRUE(r.ok()) << r.err().message;
    ASSERT_EQ(r->size(), 1) << "one subscription row for " << id;
    EXPECT_EQ(r->get(0, 0), "free");
    EXPECT_EQ(r->get(0, 1), "active");
    EXPECT_EQ(r->get(0, 2), "monthly");
    EXPECT_TRUE(r->get_bool(0, 3) && r->get_bool(0, 4)) << "this calendar month";
    EXPECT_TRUE(r->get_bool(0, 5));
    auto ws = find_workspace(*c, id);
    ASSERT_TRUE(ws.ok());
    EXPECT_EQ(ws->plan_slug, "free");
  }
}

TEST(subscriptions, an_event_moves_the_workspace_to_its_plan_with_its_quota_rows_at_once) {
  fixture f;
  auto before = find_workspace(*f.c, f.workspace_id);
  ASSERT_TRUE(before.ok());
  auto s = f.spec();
  s.type = "customer.subscription.created";
  auto r = f.apply(sub_event(s));
  ASSERT_EQ(f.outcome(r), stripe_outcome::applied);
  EXPECT_EQ(r->workspace_id, f.workspace_id);
  EXPECT_EQ(r->status, "active");

  EXPECT_EQ(f.text("SELECT p.slug || ' ' || s.status || ' ' || s.billing_cycle || ' ' || s.current_period_start || ' ' || s.current_period_end"
                   " || ' ' || s.stripe_customer_id || ' ' || (s.metadata->>'stripeStatus')"
                   " FROM subscriptions s JOIN subscription_plans p ON p.id = s.subscription_plan_id WHERE s.stripe_subscription_id = $1",
                   pg::params{}.add(f.stripe_id)),
            "pro active monthly " + date_of(s.period_start) + " " + domain::stripe::inclusive_end_date(s.period_end) + " cus_" +
                f.stripe_id + " active");
  // Every quota pro limits, for the new period, before any use.
  std::string p = date_of(s.period_start) + ":" + domain::stripe::inclusive_end_date(s.period_end);
  std::string this_month_rows = f.text("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1 AND period_start <> $2::date",
                                       pg::params{}.add(f.workspace_id).add(date_of(s.period_start)));
  EXPECT_EQ(this_month_rows, "0") << "no rows of another period existed";
  EXPECT_EQ(f.quotas(), "email_sends:20000:0:" + p + " executions:50000:0:" + p + " leads:10000:0:" + p + " workflows:50:0:" + p);

  auto after = find_workspace(*f.c, f.workspace_id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->plan_slug, "pro");
  EXPECT_EQ(after->period_start, date_of(s.period_start));
  EXPECT_NE(after->fingerprint, before->fingerprint) << "nodes see the workspace changed and reload it";
  EXPECT_EQ(f.text("SELECT outcome FROM stripe_events WHERE id = $1", pg::params{}.add("evt_" + s.event_id)), "applied");
}

TEST(subscriptions, a_plan_change_marks_the_workspace_for_the_tenant_poll) {
  fixture f;
  auto since = f.text("SELECT (clock_timestamp() - interval '1 millisecond')::text", {});
  ASSERT_EQ(f.outcome(f.apply(sub_event(f.spec()))), stripe_outcome::applied);
  auto polled = poll_tenant_changes(*f.c, since);
  ASSERT_TRUE(polled.ok()) << polled.err().message;
  auto ws = find_workspace(*f.c, f.workspace_id);
  bool seen = false;
  for (const auto& ch : polled->changes)
    if (ch.what == tenant_change::kind::workspace && ch.id == f.workspace_id) {
      seen = true;
      EXPECT_EQ(ch.fingerprint, ws->fingerprint) << "the poll reports what a load reads";
    }
  EXPECT_TRUE(seen);
}

TEST(subscriptions, a_replayed_event_changes_nothing) {
  fixture f;
  auto e = sub_event(f.spec());
  ASSERT_EQ(f.outcome(f.apply(e)), stripe_outcome::applied);
  std::string row = f.text("SELECT row(s.*)::text FROM subscriptions s WHERE stripe_subscription_id = $1", pg::params{}.add(f.stripe_id));
  std::string quotas = f.quotas();
  // A newer event, then the first one again: still a replay, not an older event to weigh.
  auto newer = f.spec();
  newer.created += 5;
  newer.status = "past_due";
  ASSERT_EQ(f.outcome(f.apply(sub_event(newer))), stripe_outcome::applied);
  std::string row_after_newer = f.text("SELECT row(s.*)::text FROM subscriptions s WHERE stripe_subscription_id = $1", pg::params{}.add(f.stripe_id));
  auto again = f.apply(e);
  EXPECT_EQ(f.outcome(again), stripe_outcome::duplicate);
  EXPECT_EQ(f.outcome(f.apply(sub_event(newer))), stripe_outcome::duplicate);
  EXPECT_NE(row, row_after_newer);
  EXPECT_EQ(f.text("SELECT row(s.*)::text FROM subscriptions s WHERE stripe_subscription_id = $1", pg::params{}.add(f.stripe_id)),
            row_after_newer);
  EXPECT_EQ(f.quotas(), quotas);
  EXPECT_EQ(f.text("SELECT count(*) FROM stripe_events WHERE workspace_id = $1"), "2");
}

TEST(subscriptions, events_out_of_order_the_newer_created_wins) {
  fixture f;
  auto late = f.spec();
  late.type = "customer.subscription.created";
  late.created = now_s() - 100;
  auto update = f.spec();
  update.created = now_s() - 50;
  update.status = "past_due";
  // The update arrives before the creation it follows.
  ASSERT_EQ(f.outcome(f.apply(sub_event(update))), stripe_outcome::applied);
  EXPECT_EQ(f.outcome(f.apply(sub_event(late))), stripe_outcome::stale);
  EXPECT_EQ(f.text("SELECT status FROM subscriptions WHERE stripe_subscription_id = $1", pg::params{}.add(f.stripe_id)), "past_due");
  EXPECT_EQ(f.text("SELECT outcome FROM stripe_events WHERE id = $1", pg::params{}.add("evt_" + late.event_id)), "stale");
  // Another event of the same second applies (Stripe's seconds cannot order them; the later one seen wins).
  auto same_second = f.spec();
  same_second.created = update.created;
  same_second.status = "active";
  same_second.lookup_key = "business";
  EXPECT_EQ(f.outcome(f.apply(sub_event(same_second))), stripe_outcome::applied);
  EXPECT_EQ(f.text("SELECT p.slug || ' ' || s.status FROM subscriptions s JOIN subscription_plans p ON p.id = s.subscription_plan_id"
                   " WHERE s.stripe_subscription_id = $1", pg::params{}.add(f.stripe_id)),
            "business active");
  // An invoice must be strictly newer than the subscription event it would override.
  EXPECT_EQ(f.outcome(f.apply(invoice_event(f.stripe_id, false, update.created))), stripe_outcome::stale);
  EXPECT_EQ(f.text("SELECT status FROM subscriptions WHERE stripe_subscription_id = $1", pg::params{}.add(f.stripe_id)), "active");
  auto ws = find_workspace(*f.c, f.workspace_id);
  EXPECT_EQ(ws->plan_slug, "business");
}

TEST(subscriptions, invoices_move_a_subscription_between_active_and_past_due) {
  fixture f;
  auto s = f.spec();
  s.created = now_s() - 1000;
  ASSERT_EQ(f.outcome(f.apply(sub_event(s))), stripe_outcome::applied);
  auto sql_row = "SELECT status || ' ' || COALESCE(extract(epoch FROM payment_grace_ends_at)::bigint::text, '-') FROM subscriptions"
                 " WHERE stripe_subscription_id = $1";
  std::int64_t failed_at = now_s() - 900;
  EXPECT_EQ(f.outcome(f.apply(invoice_event(f.stripe_id, false, failed_at), 3)), stripe_outcome::applied);
  std::string grace = std::to_string(failed_at + 3 * k_day);
  EXPECT_EQ(f.text(sql_row, pg::params{}.add(f.stripe_id)), "past_due " + grace);
  // The grace period runs from the first failure: later failures and past_due updates keep it.
  EXPECT_EQ(f.outcome(f.apply(invoice_event(f.stripe_id, false, now_s() - 800), 3)), stripe_outcome::ignored);
  auto update = f.spec();
  update.created = now_s() - 700;
  update.status = "past_due";
  EXPECT_EQ(f.outcome(f.apply(sub_event(update), 3)), stripe_outcome::applied);
  EXPECT_EQ(f.text(sql_row, pg::params{}.add(f.stripe_id)), "past_due " + grace);
  // Paid: active again, no grace deadline left.
  EXPECT_EQ(f.outcome(f.apply(invoice_event(f.stripe_id, true, now_s() - 600))), stripe_outcome::applied);
  EXPECT_EQ(f.text(sql_row, pg::params{}.add(f.stripe_id)), "active -");
  // Unpaid again later: a new grace period.
  std::int64_t again = now_s() - 500;
  EXPECT_EQ(f.outcome(f.apply(invoice_event(f.stripe_id, false, again), 3)), stripe_outcome::applied);
  EXPECT_EQ(f.text(sql_row, pg::params{}.add(f.stripe_id)), "past_due " + std::to_string(again + 3 * k_day));

  // An invoice of a subscription never seen changes nothing, once.
  auto unknown = invoice_event("sub_" + test::unique_name("never"), false, now_s());
  auto r = f.apply(unknown);
  EXPECT_EQ(f.outcome(r), stripe_outcome::ignored);
  EXPECT_TRUE(r->workspace_id.empty());
  EXPECT_EQ(f.outcome(f.apply(unknown)), stripe_outcome::duplicate);
}

// A workspace with an active form-like workflow, for triggers.
struct trigger_fixture : fixture {
  std::string workflow_id;
  trigger_fixture() {
    workflow_id = text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id");
  }
  domain::trigger_record trigger(const std::string& email, const domain::workspace_info& ws) const {
    domain::trigger_record t;
    t.workspace_id = workspace_id;
    t.workflow_id = workflow_id;
    t.trigger_type = "FORM_SUBMIT";
    t.event_type = "FORM_SUBMITTED";
    t.source = "FORM";
    t.email = email;
    t.quotas = domain::quota_limits_from_plan(ws.plan_quotas, ws.period_start, ws.period_end);
    t.execution_id = domain::new_uuid();
    return t;
  }
  result<ingest_outcome> submit(const std::string& email, std::optional<std::string> key = std::nullopt) {
    auto ws = find_workspace(*c, workspace_id);
    EXPECT_TRUE(ws.ok());
    auto t = trigger(email, *ws);
    t.idempotency_key = std::move(key);
    return std::move(ingest_batch(*c, {t})[0]);
  }
};

TEST(subscriptions, past_due_beyond_the_grace_period_refuses_new_triggers) {
  trigger_fixture f;
  auto s = f.spec();
  s.created = now_s() - 3 * k_day;
  ASSERT_EQ(f.outcome(f.apply(sub_event(s))), stripe_outcome::applied);
  auto first = f.submit("first@example.com", "key-1");
  ASSERT_TRUE(first.ok()) << first.err().message;

  // Failed two days ago with a one-day grace: over.
  ASSERT_EQ(f.outcome(f.apply(invoice_event(f.stripe_id, false, now_s() - 2 * k_day), 1)), stripe_outcome::applied);
  std::string leads = f.text("SELECT count(*) FROM leads WHERE workspace_id = $1");
  auto refused = f.submit("late@example.com");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.err().code, error_code::quota_exceeded);
  EXPECT_EQ(refused.err().subject, "subscription");
  EXPECT_NE(refused.err().message.find("past due"), std::string::npos) << refused.err().message;
  EXPECT_EQ(f.text("SELECT count(*) FROM leads WHERE workspace_id = $1"), leads) << "a refused trigger writes nothing";
  // A repeat of a trigger accepted before still finds its execution.
  auto repeat = f.submit("first@example.com", "key-1");
  ASSERT_TRUE(repeat.ok()) << repeat.err().message;
  EXPECT_TRUE(repeat->duplicate);
  EXPECT_EQ(repeat->execution_id, first->execution_id);

  // Paid: taken again at once (the check reads the database, not a node's cache).
  ASSERT_EQ(f.outcome(f.apply(invoice_event(f.stripe_id, true, now_s() - k_day))), stripe_outcome::applied);
  EXPECT_TRUE(f.submit("paid@example.com").ok());
}

TEST(subscriptions, past_due_within_the_grace_period_keeps_service) {
  trigger_fixture f;
  auto s = f.spec();
  s.created = now_s() - 3 * k_day;
  ASSERT_EQ(f.outcome(f.apply(sub_event(s))), stripe_outcome::applied);
  ASSERT_EQ(f.outcome(f.apply(invoice_event(f.stripe_id, false, now_s() - 2 * k_day), 7)), stripe_outcome::applied);
  auto r = f.submit("grace@example.com");
  EXPECT_TRUE(r.ok()) << r.err().message;
  // A cancelled subscription is not past due: the workspace is back on its own plan.
  auto del = f.spec();
  del.type = "customer.subscription.deleted";
  del.status = "canceled";
  ASSERT_EQ(f.outcome(f.apply(sub_event(del))), stripe_outcome::applied);
  EXPECT_TRUE(f.submit("after@example.com").ok());
}

TEST(subscriptions, a_cancellation_returns_the_workspace_to_its_own_plan_from_today) {
  fixture f;
  ASSERT_EQ(f.outcome(f.apply(sub_event(f.spec()))), stripe_outcome::applied);
  auto del = f.spec();
  del.type = "customer.subscription.deleted";
  del.status = "canceled";
  del.created += 10;
  ASSERT_EQ(f.outcome(f.apply(sub_event(del))), stripe_outcome::applied);
  EXPECT_EQ(f.text("SELECT status FROM subscriptions WHERE stripe_subscription_id = $1", pg::params{}.add(f.stripe_id)), "cancelled");
  // The own rows: the first one superseded, a new one on free from today.
  EXPECT_EQ(f.text("SELECT string_agg(p.slug || ' ' || s.status, ', ' ORDER BY s.created_at)"
                   " FROM subscriptions s JOIN subscription_plans p ON p.id = s.subscription_plan_id"
                   " WHERE s.workspace_id = $1 AND s.stripe_subscription_id IS NULL"),
            "free expired, free active");
  EXPECT_EQ(f.text("SELECT (current_period_start = current_date AND current_period_end = (current_date + interval '1 month - 1 day')::date)::text"
                   " FROM subscriptions WHERE workspace_id = $1 AND stripe_subscription_id IS NULL AND status = 'active'"),
            "true");
  auto ws = find_workspace(*f.c, f.workspace_id);
  EXPECT_EQ(ws->plan_slug, "free");
  EXPECT_EQ(ws->period_start, f.text("SELECT current_date::text", {}));
  // Free's limits from today; pro's rows end yesterday.
  EXPECT_EQ(f.text("SELECT string_agg(quota_key || ':' || quota_limit, ' ' ORDER BY quota_key) FROM usage_quotas"
                   " WHERE workspace_id = $1 AND period_start = current_date"),
            "email_sends:200 executions:500 leads:100 workflows:3");
  EXPECT_EQ(f.text("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1 AND period_start < current_date AND period_end = current_date - 1"),
            "4");
  // A late update of the cancelled subscription is older: nothing moves back.
  auto late = f.spec();
  EXPECT_EQ(f.outcome(f.apply(sub_event(late))), stripe_outcome::stale);
  EXPECT_EQ(find_workspace(*f.c, f.workspace_id)->plan_slug, "free");
}

TEST(subscriptions, a_downgrade_after_heavy_use_keeps_the_rows_valid) {
  fixture f;
  ASSERT_EQ(f.outcome(f.apply(sub_event(f.spec()))), stripe_outcome::applied);
  f.text("UPDATE usage_quotas SET quota_used = 1000 WHERE workspace_id = $1 AND quota_key = 'executions' RETURNING 1");
  auto down = f.spec();
  down.created += 10;
  down.lookup_key = "free";
  ASSERT_EQ(f.outcome(f.apply(sub_event(down))), stripe_outcome::applied);
  // 500 would break quota_used <= limit * 1.2: the least limit that keeps it, 834.
  EXPECT_EQ(f.text("SELECT quota_limit || ':' || quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'executions'"), "834:1000");
  EXPECT_EQ(f.text("SELECT quota_limit FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'leads'"), "100");
}

TEST(subscriptions, an_unlimited_plan_keeps_no_quota_rows_for_its_period) {
  fixture f;
  ASSERT_EQ(f.outcome(f.apply(sub_event(f.spec()))), stripe_outcome::applied);
  ASSERT_EQ(f.text("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1"), "4");
  auto up = f.spec();
  up.created += 10;
  up.lookup_key = "enterprise";
  ASSERT_EQ(f.outcome(f.apply(sub_event(up))), stripe_outcome::applied);
  EXPECT_EQ(f.text("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1"), "0");
  EXPECT_EQ(find_workspace(*f.c, f.workspace_id)->plan_quotas, "{}");
}

TEST(subscriptions, unknown_plans_and_workspaces_are_refused_and_not_recorded) {
  fixture f;
  auto s = f.spec();
  s.lookup_key = "platinum";
  auto r = f.apply(sub_event(s));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);
  EXPECT_EQ(r.err().subject, "data.object.items.data[0].price.lookup_key");
  EXPECT_NE(r.err().message.find("platinum"), std::string::npos);
  EXPECT_EQ(f.text("SELECT count(*) FROM stripe_events WHERE id = $1", pg::params{}.add("evt_" + s.event_id)), "0")
      << "Stripe's retry applies it once the plan exists";

  auto nobody = f.spec();
  nobody.workspace_id = "00000000-0000-4000-8000-000000000000";
  auto n = f.apply(sub_event(nobody));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.err().subject, "data.object.metadata.workspace_id");
  auto no_metadata = f.spec();
  no_metadata.workspace_id.clear();
  EXPECT_FALSE(f.apply(sub_event(no_metadata)).ok()) << "a subscription never seen needs its workspace";
  auto no_key = f.spec();
  no_key.lookup_key.clear();
  EXPECT_FALSE(f.apply(sub_event(no_key)).ok()) << "and its plan";
  EXPECT_EQ(f.text("SELECT count(*) FROM subscriptions WHERE stripe_subscription_id = $1", pg::params{}.add(f.stripe_id)), "0");

  // Once seen, a later event without metadata or lookup_key keeps the row's workspace and plan.
  ASSERT_EQ(f.outcome(f.apply(sub_event(f.spec()))), stripe_outcome::applied);
  auto bare = f.spec();
  bare.created += 10;
  bare.workspace_id.clear();
  bare.lookup_key.clear();
  bare.status = "trialing";
  ASSERT_EQ(f.outcome(f.apply(sub_event(bare))), stripe_outcome::applied);
  EXPECT_EQ(f.text("SELECT p.slug || ' ' || s.status || ' ' || s.workspace_id FROM subscriptions s JOIN subscription_plans p"
                   " ON p.id = s.subscription_plan_id WHERE s.stripe_subscription_id = $1", pg::params{}.add(f.stripe_id)),
            "pro trial " + f.workspace_id);
}

TEST(subscriptions, a_plan_change_while_triggers_are_written_leaves_the_quota_rows_right) {
  trigger_fixture f;
  // The triggers carry the plan a workspace actor cached before the change, all along: the worst
  // case of a node that has not reloaded yet. Ingestion counts by the plan in force anyway.
  auto before = find_workspace(*f.c, f.workspace_id);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->plan_slug, "free");
  std::atomic<int> accepted{0}, failed{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&, w] {
      auto c = connect();
      if (!c) return;
      auto cached = find_workspace(*c, f.workspace_id);
      for (int i = 0; i < 60 && cached.ok(); ++i) {
        std::vector<domain::trigger_record> batch;
        for (int k = 0; k < 2; ++k) {
          // Appended, not `"w" + ...`: GCC 12's -Wrestrict misreads that as an overlapping copy.
          std::string email = "w";
          email.append(std::to_string(w)).append("-").append(std::to_string(i)).append("-").append(std::to_string(k)).append("@example.com");
          batch.push_back(f.trigger(email, *cached));
        }
        for (auto& r : ingest_batch(*c, batch)) {
          (r.ok() ? accepted : failed)++;
          if (!r.ok()) ADD_FAILURE() << r.err().message;
        }
      }
    });
  // Change the plan once some triggers are in.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::stoi(f.text("SELECT count(*) FROM workflow_executions WHERE workspace_id = $1")) < 10 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  auto s = f.spec();
  s.period_start = now_s() - 60;  // a new period from today
  s.lookup_key = "starter";
  auto applied = f.apply(sub_event(s));
  ASSERT_EQ(f.outcome(applied), stripe_outcome::applied);
  const std::string start = date_of(s.period_start);
  std::string limits_sql = "SELECT string_agg(quota_key || ':' || quota_limit, ' ' ORDER BY quota_key) FROM usage_quotas"
                           " WHERE workspace_id = $1 AND period_start = $2::date";
  const std::string starter = "email_sends:2000 executions:5000 leads:1000 workflows:10";
  EXPECT_EQ(f.text(limits_sql, pg::params{}.add(f.workspace_id).add(start)), starter) << "right after the change";
  for (auto& t : writers) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(accepted.load(), 10);

  // The writers' stale plan wrote no limit back.
  EXPECT_EQ(f.text(limits_sql, pg::params{}.add(f.workspace_id).add(start)), starter) << "after the writers";
  // Every execution and lead is counted once, in one period's row or the other; those after
  // the change in the new one, whatever the writers had cached.
  EXPECT_NE(f.text("SELECT quota_used FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'executions' AND period_start = $2::date",
                   pg::params{}.add(f.workspace_id).add(start)),
            "0");
  EXPECT_EQ(f.text("SELECT sum(quota_used) FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'executions'"),
            f.text("SELECT count(*) FROM workflow_executions WHERE workspace_id = $1"));
  EXPECT_EQ(f.text("SELECT sum(quota_used) FROM usage_quotas WHERE workspace_id = $1 AND quota_key = 'leads'"),
            f.text("SELECT count(*) FROM leads WHERE workspace_id = $1"));
  EXPECT_EQ(f.text("SELECT count(*) FROM usage_quotas WHERE workspace_id = $1 AND quota_used > quota_limit * 1.2"), "0");
  // What a node loads now is the new plan and period.
  auto now = find_workspace(*f.c, f.workspace_id);
  EXPECT_EQ(now->plan_slug, "starter");
  EXPECT_EQ(now->period_start, start);
}

}  // namespace
}  // namespace flowtrack::storage
