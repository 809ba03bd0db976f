// Stripe event bodies to subscription changes: both places Stripe puts the periods, every status,
// the cycle, trial and cancellation fields, invoices (old and new shapes), types not handled, and
// refusals that name the field at fault.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "domain/stripe_event.hpp"

namespace flowtrack::domain::stripe {
namespace {
namespace json = boost::json;

constexpr const char* k_ws = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";

// A subscription event as Stripe sends it before API version 2025-03-31 (periods on the
// subscription): 2025-03-15 10:00:00Z to 2025-04-15 10:00:00Z.
json::object subscription_event(const std::string& type = "customer.subscription.updated", const std::string& status = "active") {
  json::object price{{"id", "price_1"}, {"lookup_key", "pro"}, {"recurring", json::object{{"interval", "month"}, {"interval_count", 1}}}};
  json::object item{{"id", "si_1"}, {"price", price}};
  json::object sub{{"id", "sub_1"},
                   {"object", "subscription"},
                   {"customer", "cus_9"},
                   {"status", status},
                   {"created", 1742032800},
                   {"current_period_start", 1742032800},
                   {"current_period_end", 1744711200},
                   {"cancel_at_period_end", false},
                   {"canceled_at", nullptr},
                   {"trial_start", nullptr},
                   {"trial_end", nullptr},
                   {"metadata", json::object{{"workspace_id", k_ws}}},
                   {"items", json::object{{"object", "list"}, {"data", json::array{item}}}}};
  return json::object{{"id", "evt_1"}, {"object", "event"}, {"type", type}, {"created", 1742032805},
                      {"data", json::object{{"object", sub}}}};
}

json::object& sub_of(json::object& e) { return e["data"].as_object()["object"].as_object(); }
json::object& item_of(json::object& e) { return sub_of(e)["items"].as_object()["data"].as_array()[0].as_object(); }

result<event> parse(const json::object& e) { return parse_event(json::serialize(e)); }

TEST(stripe_event, a_subscription_update_becomes_the_row_it_describes) {
  auto r = parse(subscription_event());
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->id, "evt_1");
  EXPECT_EQ(r->type, "customer.subscription.updated");
  EXPECT_EQ(r->created, 1742032805);
  EXPECT_EQ(r->kind, event_kind::subscription_updated);
  ASSERT_TRUE(r->subscription);
  const auto& s = *r->subscription;
  EXPECT_EQ(s.stripe_subscription_id, "sub_1");
  EXPECT_EQ(s.customer_id, "cus_9");
  EXPECT_EQ(s.workspace_id, k_ws);
  EXPECT_EQ(s.plan_slug, "pro");
  EXPECT_EQ(s.status, "active");
  EXPECT_EQ(s.stripe_status, "active");
  EXPECT_EQ(s.billing_cycle, "monthly");
  EXPECT_EQ(s.period_start, "2025-03-15");
  EXPECT_EQ(s.period_end, "2025-04-15") << "ends 10:00 on the 15th: that day is still in the period";
  EXPECT_FALSE(s.trial_start);
  EXPECT_FALSE(s.cancelled_at);
  EXPECT_FALSE(s.cancel_at_period_end);
  EXPECT_FALSE(r->invoice);
}

TEST(stripe_event, periods_come_from_the_first_item_in_newer_api_versions) {
  auto e = subscription_event();
  sub_of(e).erase("current_period_start");
  sub_of(e).erase("current_period_end");
  // 2025-03-01T00:00:00Z to 2026-03-01T00:00:00Z, yearly.
  item_of(e)["current_period_start"] = 1740787200;
  item_of(e)["current_period_end"] = 1772323200;
  item_of(e)["price"].as_object()["recurring"].as_object()["interval"] = "year";
  auto r = parse(e);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->subscription->period_start, "2025-03-01");
  EXPECT_EQ(r->subscription->period_end, "2026-02-28") << "a period ending at midnight ends the day before";
  EXPECT_EQ(r->subscription->billing_cycle, "yearly");

  // Neither place: the field is named.
  item_of(e).erase("current_period_end");
  auto missing = parse(e);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().code, error_code::invalid);
  EXPECT_EQ(missing.err().subject, "data.object.current_period_end");
}

TEST(stripe_event, every_stripe_status_maps_to_one_of_the_spec) {
  const std::vector<std::pair<std::string, std::string>> table{
      {"trialing", "trial"},      {"active", "active"},   {"past_due", "past_due"},           {"unpaid", "past_due"},
      {"canceled", "cancelled"},  {"incomplete", "expired"}, {"incomplete_expired", "expired"}, {"paused", "expired"}};
  for (const auto& [stripe, spec] : table) {
    EXPECT_EQ(spec_status(stripe), spec) << stripe;
    auto r = parse(subscription_event("customer.subscription.updated", stripe));
    ASSERT_TRUE(r.ok()) << stripe << ": " << r.err().message;
    EXPECT_EQ(r->subscription->status, spec) << stripe;
    EXPECT_EQ(r->subscription->stripe_status, stripe);
  }
  EXPECT_FALSE(spec_status("cancelled")) << "Stripe spells it canceled";
  auto unknown = parse(subscription_event("customer.subscription.updated", "dormant"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.err().subject, "data.object.status");
}

TEST(stripe_event, a_deleted_subscription_has_ended_and_its_cancellation_is_read) {
  auto e = subscription_event("customer.subscription.deleted", "active");
  sub_of(e)["canceled_at"] = 1743000000;
  sub_of(e)["cancel_at_period_end"] = true;
  auto r = parse(e);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->kind, event_kind::subscription_deleted);
  EXPECT_EQ(r->subscription->status, "cancelled");
  EXPECT_EQ(r->subscription->cancelled_at, 1743000000);
  EXPECT_TRUE(r->subscription->cancel_at_period_end);
  auto expired = parse(subscription_event("customer.subscription.deleted", "incomplete_expired"));
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->subscription->status, "expired") << "an ended status stays what it was";
}

TEST(stripe_event, a_trial_has_its_dates) {
  auto e = subscription_event("customer.subscription.created", "trialing");
  sub_of(e)["trial_start"] = 1742032800;  // 2025-03-15 10:00Z
  sub_of(e)["trial_end"] = 1743242400;    // 2025-03-29 10:00Z
  auto r = parse(e);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->kind, event_kind::subscription_created);
  EXPECT_EQ(r->subscription->trial_start, "2025-03-15");
  EXPECT_EQ(r->subscription->trial_end, "2025-03-29");
  EXPECT_EQ(r->subscription->status, "trial");
}

TEST(stripe_event, the_plan_and_workspace_are_optional_but_checked_when_present) {
  auto e = subscription_event();
  item_of(e)["price"].as_object().erase("lookup_key");
  sub_of(e)["metadata"] = json::object{};
  sub_of(e)["customer"] = json::object{{"id", "cus_expanded"}, {"object", "customer"}};
  auto r = parse(e);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_FALSE(r->subscription->plan_slug);
  EXPECT_FALSE(r->subscription->workspace_id);
  EXPECT_EQ(r->subscription->customer_id, "cus_expanded") << "an expanded object counts by its id";

  auto upper = subscription_event();
  sub_of(upper)["metadata"].as_object()["workspace_id"] = "6F1C2D3E-4B5A-4C6D-8E7F-0A1B2C3D4E5F";
  EXPECT_EQ(parse(upper)->subscription->workspace_id, k_ws) << "ids compare in lower case";

  auto bad_ws = subscription_event();
  sub_of(bad_ws)["metadata"].as_object()["workspace_id"] = "acme";
  ASSERT_FALSE(parse(bad_ws).ok());
  EXPECT_EQ(parse(bad_ws).err().subject, "data.object.metadata.workspace_id");
}

TEST(stripe_event, the_cycle_must_be_monthly_or_yearly) {
  auto weekly = subscription_event();
  item_of(weekly)["price"].as_object()["recurring"].as_object()["interval"] = "week";
  ASSERT_FALSE(parse(weekly).ok());
  EXPECT_EQ(parse(weekly).err().subject, "data.object.items.data[0].price.recurring.interval");

  auto legacy = subscription_event();
  item_of(legacy)["price"].as_object().erase("recurring");
  item_of(legacy)["plan"] = json::object{{"id", "plan_1"}, {"interval", "year"}};
  ASSERT_TRUE(parse(legacy).ok()) << parse(legacy).err().message;
  EXPECT_EQ(parse(legacy)->subscription->billing_cycle, "yearly") << "the item's legacy plan";

  auto none = subscription_event();
  item_of(none)["price"].as_object().erase("recurring");
  ASSERT_FALSE(parse(none).ok());
  EXPECT_EQ(parse(none).err().subject, "data.object.items.data[0].price.recurring.interval");

  auto no_items = subscription_event();
  sub_of(no_items)["items"].as_object()["data"] = json::array{};
  ASSERT_FALSE(parse(no_items).ok());
  EXPECT_EQ(parse(no_items).err().subject, "data.object.items.data");
}

TEST(stripe_event, invoices_name_their_subscription_in_either_shape) {
  json::object old_shape{{"id", "evt_2"}, {"type", "invoice.payment_failed"}, {"created", 1742032900},
                         {"data", json::object{{"object", json::object{{"id", "in_1"}, {"subscription", "sub_1"}}}}}};
  auto a = parse(old_shape);
  ASSERT_TRUE(a.ok()) << a.err().message;
  EXPECT_EQ(a->kind, event_kind::payment_failed);
  ASSERT_TRUE(a->invoice);
  EXPECT_EQ(a->invoice->stripe_subscription_id, "sub_1");
  EXPECT_FALSE(a->invoice->succeeded);

  json::object new_shape{{"id", "evt_3"}, {"type", "invoice.payment_succeeded"}, {"created", 1742032901},
                         {"data", json::object{{"object", json::object{{"id", "in_2"}, {"subscription", nullptr},
                                  {"parent", json::object{{"type", "subscription_details"},
                                                          {"subscription_details", json::object{{"subscription", "sub_7"}}}}}}}}}};
  auto b = parse(new_shape);
  ASSERT_TRUE(b.ok()) << b.err().message;
  EXPECT_EQ(b->invoice->stripe_subscription_id, "sub_7");
  EXPECT_TRUE(b->invoice->succeeded);

  json::object one_off{{"id", "evt_4"}, {"type", "invoice.payment_succeeded"}, {"created", 1742032902},
                       {"data", json::object{{"object", json::object{{"id", "in_3"}}}}}};
  auto c = parse(one_off);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->invoice) << "an invoice of no subscription applies to nothing";
}

TEST(stripe_event, types_not_handled_need_only_id_type_and_created) {
  auto r = parse_event(R"({"id":"evt_9","type":"charge.refunded","created":1742032999,"data":{"object":{"whatever":[1,2]}}})");
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->kind, event_kind::other);
  EXPECT_FALSE(r->subscription);
  EXPECT_EQ(kind_of("customer.subscription.paused"), event_kind::other);
  EXPECT_EQ(kind_of("invoice.paid"), event_kind::other);
}

TEST(stripe_event, malformed_bodies_name_what_is_wrong) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "body"},
      {"{\"id\":", "body"},
      {"[1,2]", "body"},
      {R"({"type":"ping","created":1})", "id"},
      {R"({"id":"","type":"ping","created":1})", "id"},
      {R"({"id":7,"type":"ping","created":1})", "id"},
      {R"({"id":"evt","created":1})", "type"},
      {R"({"id":"evt","type":"ping"})", "created"},
      {R"({"id":"evt","type":"ping","created":"yesterday"})", "created"},
      {R"({"id":"evt","type":"ping","created":-5})", "created"},
      {R"({"id":"evt","type":"ping","created":253402300800})", "created"},
      {R"({"id":"evt","type":"ping","created":1.5})", "created"},
      {R"({"id":"evt","type":"customer.subscription.updated","created":1})", "data.object"},
      {R"({"id":"evt","type":"customer.subscription.updated","created":1,"data":{"object":{"status":"active"}}})", "data.object.id"},
      {"{\"id\":\"e\\u0001\",\"type\":\"ping\",\"created\":1}", "id"},
      {R"({"id":")" + std::string(256, 'x') + R"(","type":"ping","created":1})", "id"},
  };
  for (const auto& [body, field] : cases) {
    auto r = parse_event(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.err().code, error_code::invalid) << body;
    EXPECT_EQ(r.err().subject, field) << body << ": " << r.err().message;
  }
}

TEST(stripe_event, dates_are_utc_days) {
  EXPECT_EQ(utc_date(0), "1970-01-01");
  EXPECT_EQ(utc_date(86399), "1970-01-01");
  EXPECT_EQ(utc_date(86400), "1970-01-02");
  EXPECT_EQ(utc_date(951782400), "2000-02-29");
  EXPECT_EQ(utc_date(4107542400), "2100-03-01") << "2100 is not a leap year";
  EXPECT_EQ(utc_date(253402300799), "9999-12-31");
  EXPECT_EQ(inclusive_end_date(1743465600), "2025-03-31") << "2025-04-01T00:00:00Z";
  EXPECT_EQ(inclusive_end_date(1743465601), "2025-04-01");
}

}  // namespace
}  // namespace flowtrack::domain::stripe
