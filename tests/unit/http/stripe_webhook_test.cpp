// POST /billing/stripe/webhook without a database: the route exists only with a secret, takes
// POST only, refuses big bodies on the head, and answers bad, stale and missing signatures and
// unreadable events 400 before anything is applied; a type not handled is 200 at once.
#include <gtest/gtest.h>

#include <optional>

#include <boost/json.hpp>

#include "adapters/http/routes.hpp"
#include "adapters/http/stripe_webhook.hpp"
#include "crypto/stripe_signature.hpp"

namespace flowtrack::http {
namespace {

constexpr std::int64_t k_now = 1760000000;
const std::string k_secret = "whsec_unit_test_secret";

stripe_targets targets(std::string secret = k_secret) {
  stripe_targets t;
  t.secret = std::move(secret);
  t.now_s = [] { return k_now; };
  return t;
}

request_head head_of(bhttp::verb method) {
  request_head h;
  h.method(method);
  h.target(std::string(k_stripe_webhook_path));
  h.version(11);
  return h;
}

request make_request(bhttp::verb method, std::string body, std::optional<std::string> signature) {
  request req{method, std::string(k_stripe_webhook_path), 11};
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::content_type, "application/json");
  if (signature) req.set("Stripe-Signature", *signature);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

response answer(const stripe_targets& t, request req) {
  std::optional<response> out;
  request_info info;
  info.client_ip = "192.0.2.1";
  info.request_id = "req-1";
  stripe_webhook(t, std::move(req), info, [&out](response&& r) { out = std::move(r); });
  EXPECT_TRUE(out) << "answered at once";
  return out ? std::move(*out) : response{};
}

std::string code_of(const response& r) {
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body(), ec);
  if (ec || !v.is_object() || !v.as_object().contains("error")) return {};
  return std::string(v.at("error").at("code").as_string());
}

const std::string k_event =
    R"({"id":"evt_u1","type":"customer.subscription.updated","created":1760000000,"data":{"object":{"id":"sub_u1","status":"active",)"
    R"("current_period_start":1760000000,"current_period_end":1762600000,"metadata":{"workspace_id":"6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"},)"
    R"("items":{"data":[{"price":{"lookup_key":"pro","recurring":{"interval":"month"}}}]}}}})";

TEST(stripe_webhook_route, without_a_secret_the_route_does_not_exist) {
  auto t = targets("");
  auto body = k_event;
  auto r = answer(t, make_request(bhttp::verb::post, body, crypto::stripe_signature_header("", k_now, body)));
  EXPECT_EQ(r.result(), bhttp::status::not_found);
  auto head = head_of(bhttp::verb::post);
  auto a = admit_stripe_webhook(t, head);
  ASSERT_TRUE(a.refusal);
  EXPECT_EQ(a.refusal->result(), bhttp::status::not_found);
}

TEST(stripe_webhook_route, only_post_and_at_most_256_kib) {
  auto t = targets();
  auto get = answer(t, make_request(bhttp::verb::get, "", std::nullopt));
  EXPECT_EQ(get.result(), bhttp::status::method_not_allowed);
  EXPECT_EQ(get[bhttp::field::allow], "POST");

  auto head = head_of(bhttp::verb::post);
  head.set(bhttp::field::content_length, std::to_string(k_stripe_body_limit + 1));
  auto big = admit_stripe_webhook(t, head);
  ASSERT_TRUE(big.refusal) << "refused on the head, before the body is read";
  EXPECT_EQ(big.refusal->result(), bhttp::status::payload_too_large);
  head.set(bhttp::field::content_length, std::to_string(k_stripe_body_limit));
  EXPECT_FALSE(admit_stripe_webhook(t, head).refusal);
  auto get_head = head_of(bhttp::verb::get);
  ASSERT_TRUE(admit_stripe_webhook(t, get_head).refusal);
  EXPECT_EQ(admit_stripe_webhook(t, get_head).refusal->result(), bhttp::status::method_not_allowed);

  // A chunked body has no length on its head: its size is checked once read.
  std::string body(k_stripe_body_limit + 10, ' ');
  auto r = answer(t, make_request(bhttp::verb::post, body, crypto::stripe_signature_header(k_secret, k_now, body)));
  EXPECT_EQ(r.result(), bhttp::status::payload_too_large);
}

TEST(stripe_webhook_route, bad_stale_and_missing_signatures_are_400) {
  auto t = targets();
  const auto& body = k_event;
  struct want {
    std::optional<std::string> header;
    const char* why;
  };
  std::string good = crypto::stripe_signature_header(k_secret, k_now, body);
  std::string forged = crypto::stripe_signature_header("whsec_guess", k_now, body);
  std::string stale = crypto::stripe_signature_header(k_secret, k_now - 301, body);
  std::string other_body = crypto::stripe_signature_header(k_secret, k_now, body + " ");
  for (const auto& w : std::vector<want>{{std::nullopt, "missing"}, {std::string("t=abc"), "malformed"}, {forged, "other secret"},
                                         {stale, "stale"}, {other_body, "another body"}, {"t=" + std::to_string(k_now), "no v1"}}) {
    auto r = answer(t, make_request(bhttp::verb::post, body, w.header));
    EXPECT_EQ(r.result(), bhttp::status::bad_request) << w.why;
    EXPECT_EQ(code_of(r), "invalid_signature") << w.why << ": " << r.body();
    EXPECT_EQ(r.body().find(k_secret), std::string::npos);
  }
  // The same good signature passes the check: with no database the event cannot be stored (503).
  auto r = answer(t, make_request(bhttp::verb::post, body, good));
  EXPECT_EQ(r.result(), bhttp::status::service_unavailable) << r.body();
  EXPECT_EQ(r[bhttp::field::retry_after], "5");
}

TEST(stripe_webhook_route, a_signed_body_that_is_no_event_is_400_naming_the_field) {
  auto t = targets();
  for (const auto& [body, field] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "body"},
           {R"({"id":"evt_1","type":"customer.subscription.created","created":1760000000,"data":{"object":{"id":"sub_1"}}})",
            "data.object.status"}}) {
    auto r = answer(t, make_request(bhttp::verb::post, body, crypto::stripe_signature_header(k_secret, k_now, body)));
    EXPECT_EQ(r.result(), bhttp::status::bad_request) << body;
    EXPECT_EQ(code_of(r), "invalid_event") << r.body();
    EXPECT_NE(r.body().find(field), std::string::npos) << r.body();
  }
}

TEST(stripe_webhook_route, a_type_not_handled_is_received_and_ignored) {
  auto t = targets();
  std::string body = R"({"id":"evt_c","type":"charge.succeeded","created":1760000000,"data":{"object":{}}})";
  auto r = answer(t, make_request(bhttp::verb::post, body, crypto::stripe_signature_header(k_secret, k_now, body)));
  ASSERT_EQ(r.result(), bhttp::status::ok) << r.body();
  auto v = boost::json::parse(r.body());
  EXPECT_EQ(v.at("received"), true);
  EXPECT_EQ(v.at("outcome"), "ignored");
  EXPECT_EQ(route_of(k_stripe_webhook_path), "stripe_webhook");
}

}  // namespace
}  // namespace flowtrack::http
