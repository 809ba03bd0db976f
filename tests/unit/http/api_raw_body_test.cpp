// Routes that take a raw body of their own media type and a larger limit (route_options
// raw_body_type and body_limit, used by the lead CSV import): the pipeline hands the bytes over,
// refuses another Content-Type (415) and a body over the route's limit (413); the admission step
// and body_limit_for raise the limit for that route only and only for API paths.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "adapters/http/api/api.hpp"

namespace flowtrack::http::api {
namespace {
namespace json = boost::json;

constexpr std::size_t k_big = 5 * 1024 * 1024;

struct raw_body_api : ::testing::Test {
  api_service api{api_options{}};
  raw_body_api() {
    route_options csv;
    csv.raw_body_type = "text/csv";
    csv.body_limit = k_big;
    api.add(verb::post, "/things/{id}/import", csv, [](api_call&& c, responder reply) {
      reply(json_reply(bhttp::status::ok, json::object{{"bytes", c.raw_body.size()}, {"head", c.raw_body.substr(0, 5)}}));
    });
    api.add(verb::post, "/things/{id}", route_options{.body = true}, [](api_call&& c, responder reply) {
      reply(json_reply(bhttp::status::ok, json::object{{"raw", c.raw_body.size()}}));
    });
  }
  response send(std::string target, std::string body, std::string type) {
    request req{bhttp::verb::post, target, 11};
    req.set(bhttp::field::content_type, type);
    req.body() = std::move(body);
    req.prepare_payload();
    std::optional<response> out;
    api.handle(std::move(req), request_info{"203.0.113.9", "req-1", ""}, [&](response&& r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : response{};
  }
  // Whether the admission step lets a declared body of `bytes` through.
  bool admitted(std::string target, std::size_t bytes) {
    request_head head;
    head.method(bhttp::verb::post);
    head.target(target);
    head.set(bhttp::field::content_length, std::to_string(bytes));
    std::optional<bool> ok;
    api.admit(head, request_info{}, [&](admission a) { ok = !a.refusal.has_value(); });
    EXPECT_TRUE(ok.has_value());
    return ok.value_or(false);
  }
};

TEST_F(raw_body_api, hands_the_bytes_to_the_route_under_its_own_limit_and_media_type) {
  auto ok = send("/api/v1/things/1/import", "email\r\n" + std::string(2 * 1024 * 1024, 'a'), "text/csv; charset=utf-8");
  ASSERT_EQ(ok.result(), bhttp::status::ok) << ok.body();
  auto b = json::parse(ok.body());
  EXPECT_EQ(b.at("bytes").as_int64(), 2 * 1024 * 1024 + 7);
  EXPECT_EQ(b.at("head").as_string(), "email");
  auto json_type = send("/api/v1/things/1/import", "{}", "application/json");
  EXPECT_EQ(json_type.result(), bhttp::status::unsupported_media_type);
  EXPECT_NE(json_type.body().find("Content-Type"), std::string::npos);
  auto too_big = send("/api/v1/things/1/import", std::string(k_big + 1, 'a'), "text/csv");
  EXPECT_EQ(too_big.result(), bhttp::status::payload_too_large);
  auto json_route = send("/api/v1/things/1", std::string(k_body_limit + 1, ' '), "application/json");
  EXPECT_EQ(json_route.result(), bhttp::status::payload_too_large) << "other routes keep k_body_limit";
  auto small = send("/api/v1/things/1", "{}", "application/json");
  ASSERT_EQ(small.result(), bhttp::status::ok);
  EXPECT_EQ(json::parse(small.body()).at("raw").as_int64(), 0) << "a JSON route gets no raw body";
}

TEST_F(raw_body_api, admission_and_the_server_limit_rise_for_that_route_only) {
  EXPECT_TRUE(admitted("/api/v1/things/1/import?x=1", k_big));
  EXPECT_FALSE(admitted("/api/v1/things/1/import", k_big + 1));
  EXPECT_FALSE(admitted("/api/v1/things/1", k_body_limit + 1));
  EXPECT_TRUE(admitted("/api/v1/things/1", k_body_limit));
  EXPECT_EQ(api.body_limit_for("/api/v1/things/1/import"), k_big);
  EXPECT_EQ(api.body_limit_for("/api/v1/things/1"), 0u);
  EXPECT_EQ(api.body_limit_for("/xyzabc/things/1/import"), 0u) << "not an API path";
  EXPECT_EQ(api.body_limit_for("/api/v1x/things/1/import"), 0u);
}

}  // namespace
}  // namespace flowtrack::http::api
