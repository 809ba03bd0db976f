// POST /integrations/calendly/webhook/{workspace_id} without a database: the route exists only
// with a signing key, takes POST only, refuses big bodies on the head, answers bad, stale,
// replayed-late and missing signatures and unreadable events 400 before anything is applied,
// ignores other event types with 200 at once, and reaches the database (503 here) only for a
// signed invitee.created.
#include <gtest/gtest.h>

#include <optional>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "adapters/http/calendly_webhook.hpp"
#include "adapters/http/routes.hpp"
#include "crypto/calendly_signature.hpp"

namespace flowtrack::http {
namespace {

constexpr std::int64_t k_now = 1760000000;
const std::string k_key = "calendly_unit_test_signing_key";
const std::string k_path = std::string(k_calendly_webhook_prefix) + "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";

calendly_targets targets(std::string key = k_key) {
  calendly_targets t;
  t.signing_key = std::move(key);
  t.now_s = [] { return k_now; };
  return t;
}

request_head head_of(bhttp::verb method) {
  request_head h;
  h.method(method);
  h.target(k_path);
  h.version(11);
  return h;
}

request make_request(bhttp::verb method, std::string body, std::optional<std::string> signature, const std::string& path = k_path) {
  request req{method, path, 11};
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::content_type, "application/json");
  if (signature) req.set("Calendly-Webhook-Signature", *signature);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

response answer(const calendly_targets& t, request req) {
  std::optional<response> out;
  request_info info;
  info.client_ip = "192.0.2.1";
  info.request_id = "req-1";
  std::string path(req.target());
  calendly_webhook(t, path, std::move(req), info, [&out](response&& r) { out = std::move(r); });
  EXPECT_TRUE(out) << "answered at once";
  return out ? std::move(*out) : response{};
}

boost::json::object body_of(const response& r) {
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body(), ec);
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

std::string code_of(const response& r) {
  auto o = body_of(r);
  if (!o.contains("error")) return {};
  return std::string(o.at("error").at("code").as_string());
}

const std::string k_event =
    R"({"event":"invitee.created","created_at":"2026-12-03T10:00:00.000000Z","payload":{"email":"ada@example.com","name":"Ada",)"
    R"("uri":"https://api.calendly.com/scheduled_events/E1/invitees/I1","scheduled_event":{"start_time":"2026-12-10T15:00:00.000000Z",)"
    R"("uri":"https://api.calendly.com/scheduled_events/E1"},"tracking":{}}})";

TEST(calendly_webhook_route, without_a_signing_key_the_route_does_not_exist) {
  auto t = targets("");
  auto r = answer(t, make_request(bhttp::verb::post, k_event, crypto::calendly_signature_header("", k_now, k_event)));
  EXPECT_EQ(r.result(), bhttp::status::not_found);
  auto a = admit_calendly_webhook(t, head_of(bhttp::verb::post));
  ASSERT_TRUE(a.refusal);
  EXPECT_EQ(a.refusal->result(), bhttp::status::not_found);
  EXPECT_EQ(route_of(k_path), "calendly_webhook");
}

TEST(calendly_webhook_route, only_post_and_at_most_256_kib) {
  auto t = targets();
  EXPECT_EQ(answer(t, make_request(bhttp::verb::get, "", std::nullopt)).result(), bhttp::status::method_not_allowed);
  auto a = admit_calendly_webhook(t, head_of(bhttp::verb::put));
  ASSERT_TRUE(a.refusal);
  EXPECT_EQ(a.refusal->result(), bhttp::status::method_not_allowed);
  auto head = head_of(bhttp::verb::post);
  head.set(bhttp::field::content_length, std::to_string(k_calendly_body_limit + 1));
  auto big = admit_calendly_webhook(t, head);
  ASSERT_TRUE(big.refusal);
  EXPECT_EQ(big.refusal->result(), bhttp::status::payload_too_large);
  head.set(bhttp::field::content_length, "1000");
  EXPECT_FALSE(admit_calendly_webhook(t, head).refusal);
}

TEST(calendly_webhook_route, a_good_signature_reaches_the_database) {
  auto t = targets();  // no database: a verified, readable invitee.created is the only 503
  auto r = answer(t, make_request(bhttp::verb::post, k_event, crypto::calendly_signature_header(k_key, k_now - 60, k_event)));
  EXPECT_EQ(r.result(), bhttp::status::service_unavailable) << r.body();
  EXPECT_EQ(r[bhttp::field::retry_after], "5");
}

TEST(calendly_webhook_route, bad_missing_and_malformed_signatures_are_400) {
  auto t = targets();
  auto wrong_key = answer(t, make_request(bhttp::verb::post, k_event, crypto::calendly_signature_header("other", k_now, k_event)));
  EXPECT_EQ(wrong_key.result(), bhttp::status::bad_request);
  EXPECT_EQ(code_of(wrong_key), "invalid_signature");
  // Signed over another body (one byte changed).
  std::string tampered = k_event;
  tampered[tampered.find("ada@")] = 'e';
  auto changed = answer(t, make_request(bhttp::verb::post, tampered, crypto::calendly_signature_header(k_key, k_now, k_event)));
  EXPECT_EQ(code_of(changed), "invalid_signature");
  EXPECT_EQ(code_of(answer(t, make_request(bhttp::verb::post, k_event, std::nullopt))), "invalid_signature");
  EXPECT_EQ(code_of(answer(t, make_request(bhttp::verb::post, k_event, "v1=abc"))), "invalid_signature");
  EXPECT_EQ(code_of(answer(t, make_request(bhttp::verb::post, k_event, "t=" + std::to_string(k_now)))), "invalid_signature");
}

TEST(calendly_webhook_route, stale_and_replayed_late_signatures_are_400) {
  auto t = targets();
  // A genuine delivery replayed 6 minutes later: the signature matches, the time does not.
  auto header = crypto::calendly_signature_header(k_key, k_now - 360, k_event);
  auto late = answer(t, make_request(bhttp::verb::post, k_event, header));
  EXPECT_EQ(late.result(), bhttp::status::bad_request);
  EXPECT_EQ(code_of(late), "invalid_signature");
  EXPECT_EQ(std::string(body_of(late).at("error").at("fields").at(0).at("message").as_string()), "stale") << late.body();
  auto future = answer(t, make_request(bhttp::verb::post, k_event, crypto::calendly_signature_header(k_key, k_now + 360, k_event)));
  EXPECT_EQ(code_of(future), "invalid_signature");
  // Within 5 minutes either way it is taken (503: no database here).
  auto edge = answer(t, make_request(bhttp::verb::post, k_event, crypto::calendly_signature_header(k_key, k_now - 300, k_event)));
  EXPECT_EQ(edge.result(), bhttp::status::service_unavailable);
}

TEST(calendly_webhook_route, other_event_types_are_ignored_and_bad_events_named) {
  auto t = targets();
  auto sign = [](const std::string& body) { return crypto::calendly_signature_header(k_key, k_now, body); };
  std::string canceled = R"({"event":"invitee.canceled","payload":{"email":"a@example.com"}})";
  auto ignored = answer(t, make_request(bhttp::verb::post, canceled, sign(canceled)));
  EXPECT_EQ(ignored.result(), bhttp::status::ok);
  EXPECT_EQ(body_of(ignored).at("outcome").as_string(), "ignored");

  for (auto [body, field] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "body"},
           {R"({"payload":{}})", "event"},
           {R"({"event":"invitee.created"})", "payload"},
           {R"({"event":"invitee.created","payload":{"email":"a@example.com"}})", "payload.uri"},
           {R"({"event":"invitee.created","payload":{"uri":"https://api.calendly.com/x"}})", "payload.email"}}) {
    auto r = answer(t, make_request(bhttp::verb::post, body, sign(body)));
    EXPECT_EQ(r.result(), bhttp::status::bad_request) << body;
    EXPECT_EQ(code_of(r), "invalid_event") << body;
    EXPECT_EQ(std::string(body_of(r).at("error").at("fields").at(0).at("field").as_string()), field) << body;
  }
}

TEST(calendly_webhook_route, a_path_without_a_workspace_id_is_404) {
  auto t = targets();
  for (std::string path : {std::string(k_calendly_webhook_prefix), std::string(k_calendly_webhook_prefix) + "not-a-uuid"}) {
    auto r = answer(t, make_request(bhttp::verb::post, k_event, crypto::calendly_signature_header(k_key, k_now, k_event), path));
    EXPECT_EQ(r.result(), bhttp::status::not_found) << path;
  }
}

}  // namespace
}  // namespace flowtrack::http
