// The management API's framework without a database: the router (parameters, literal over
// parameter, 405's Allow), strict JSON bodies (types, unknown fields, not JSON), CORS from the
// allow-list, the Bearer check (ours, expired, tampered, alg none, RS256 without Clerk keys), and
// the pipeline of api_service on requests handed to it directly (404/405/415/413/422, CORS).
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <future>
#include <optional>

#include "adapters/http/api/api.hpp"
#include "adapters/http/api/cors.hpp"
#include "adapters/http/api/json_body.hpp"
#include "adapters/http/api/router.hpp"
#include "adapters/http/api/tokens.hpp"

namespace flowtrack::http::api {
namespace {
namespace json = boost::json;

TEST(api_router, matches_parameters_and_prefers_literal_segments) {
  router<int> r;
  ASSERT_TRUE(r.add(verb::get, "/workspaces/{id}", 1));
  ASSERT_TRUE(r.add(verb::get, "/workspaces/templates", 2));
  ASSERT_TRUE(r.add(verb::delete_, "/workspaces/{id}/members/{userId}", 3));
  EXPECT_FALSE(r.add(verb::get, "/workspaces/{id}", 9)) << "the same method and pattern twice";
  EXPECT_FALSE(r.add(verb::get, "no-slash", 9));
  EXPECT_FALSE(r.add(verb::get, "/a/{}", 9));

  auto m = r.find(verb::get, "/workspaces/abc");
  ASSERT_NE(m.target, nullptr);
  EXPECT_EQ(*m.target, 1);
  EXPECT_EQ(m.params.at("id"), "abc");
  EXPECT_EQ(*r.find(verb::get, "/workspaces/templates").target, 2);
  auto d = r.find(verb::delete_, "/workspaces/w1/members/u2");
  ASSERT_NE(d.target, nullptr);
  EXPECT_EQ(d.params.at("id"), "w1");
  EXPECT_EQ(d.params.at("userId"), "u2");
  EXPECT_EQ(*r.find(verb::head, "/workspaces/x").target, 1) << "HEAD is served by GET";
}

TEST(api_router, names_the_allowed_methods_for_a_known_path_and_nothing_for_an_unknown_one) {
  router<int> r;
  ASSERT_TRUE(r.add(verb::get, "/me", 1));
  ASSERT_TRUE(r.add(verb::patch, "/me", 2));
  auto m = r.find(verb::delete_, "/me");
  EXPECT_EQ(m.target, nullptr);
  EXPECT_EQ(m.allow, "GET, PATCH");
  auto none = r.find(verb::get, "/nope");
  EXPECT_EQ(none.target, nullptr);
  EXPECT_TRUE(none.allow.empty());
  EXPECT_EQ(r.find(verb::get, "/me/").target, nullptr) << "a trailing slash is another path";
  EXPECT_EQ(r.find(verb::get, "/workspaces//members").target, nullptr);
  EXPECT_EQ(r.routes().size(), 2u);
}

TEST(api_json_body, reads_typed_fields_and_names_the_one_at_fault) {
  auto body = std::get<json::object>(parse_body(R"({"email":"a@b.c","password":12,"extra":true})"));
  body_reader b(body);
  EXPECT_EQ(b.string("email", true).value(), "a@b.c");
  EXPECT_FALSE(b.string("password", true).has_value());
  auto p = b.finish();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, bhttp::status::unprocessable_entity);
  EXPECT_EQ(p->field, "password");
  EXPECT_EQ(p->code, "wrong_type");
}

TEST(api_json_body, refuses_unknown_fields_and_reports_missing_required_ones) {
  auto body = std::get<json::object>(parse_body(R"({"email":"a@b.c","emial":"typo"})"));
  body_reader b(body);
  (void)b.string("email", true);
  auto p = b.finish();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->field, "emial");
  EXPECT_EQ(p->code, "unknown_field");

  auto empty = std::get<json::object>(parse_body(""));
  body_reader r(empty);
  (void)r.string("token", true);
  (void)r.string("optional", false);
  auto q = r.finish();
  ASSERT_TRUE(q);
  EXPECT_EQ(q->field, "token");
  EXPECT_EQ(q->code, "required");

  auto ok = std::get<json::object>(parse_body(R"({"flag":false,"name":null})"));
  body_reader s(ok);
  EXPECT_EQ(s.boolean("flag", true), false);
  EXPECT_FALSE(s.string("name", false).has_value()) << "null is absent";
  EXPECT_FALSE(s.finish().has_value());
}

TEST(api_json_body, answers_400_for_text_that_is_not_json_and_422_for_json_that_is_not_an_object) {
  for (const char* bad : {"{", "{\"a\":1,}", "{'a':1}", "{\"a\":1} // c", "\xff"}) {
    auto r = parse_body(bad);
    ASSERT_TRUE(std::holds_alternative<api_error>(r)) << bad;
    EXPECT_EQ(std::get<api_error>(r).status, bhttp::status::bad_request) << bad;
    EXPECT_EQ(std::get<api_error>(r).field, "body");
  }
  for (const char* not_object : {"[]", "12", "\"x\"", "null"}) {
    auto r = parse_body(not_object);
    ASSERT_TRUE(std::holds_alternative<api_error>(r)) << not_object;
    EXPECT_EQ(std::get<api_error>(r).status, bhttp::status::unprocessable_entity) << not_object;
  }
  auto too_long = std::get<json::object>(parse_body(R"({"s":"abcdef"})"));
  body_reader b(too_long);
  (void)b.string("s", true, 3);
  EXPECT_EQ(b.finish()->code, "too_long");
}

TEST(api_json_body, error_shape_is_the_servers_with_the_field_at_fault) {
  auto with = json::parse(error_response(api_error::invalid("password", "too short")).body()).as_object();
  EXPECT_EQ(with.at("error").at("field"), "password");
  EXPECT_EQ(with.at("error").at("code"), "invalid");
  EXPECT_EQ(with.at("error").at("fields"), json::parse(R"([{"field":"password","message":"too short"}])"));
  // The HTTP server's own errors (a 413 before the API runs) have the same keys.
  auto server_own = json::parse(json_error(bhttp::status::payload_too_large, "too_large", "big", {{"body", "big"}}).body());
  EXPECT_EQ(server_own.at("error").at("fields"), json::parse(R"([{"field":"body","message":"big"}])"));
  EXPECT_EQ(server_own.at("error").at("code"), "too_large");
  EXPECT_EQ(server_own.at("error").at("field"), "body");
  auto without = error_response(api_error::unavailable("busy", 3));
  EXPECT_EQ(without[bhttp::field::retry_after], "3");
  EXPECT_FALSE(json::parse(without.body()).at("error").as_object().contains("field"));
  EXPECT_TRUE(json::parse(without.body()).at("error").at("fields").as_array().empty());
  EXPECT_EQ(error_response(api_error::unauthorized("x", "y"))[bhttp::field::www_authenticate], "Bearer");
  auto quota = from_error(make_error(error_code::quota_exceeded, "monthly executions used up", "executions"));
  EXPECT_EQ(quota.status, bhttp::status::too_many_requests);
  EXPECT_EQ(quota.retry_after_s, 60);
  auto unpaid = from_error(make_error(error_code::quota_exceeded, "payment is past due", "subscription"));
  EXPECT_EQ(unpaid.status, bhttp::status::payment_required);
  EXPECT_EQ(unpaid.code, "payment_required");
  EXPECT_EQ(unpaid.field, "subscription");
}

TEST(api_cors, allows_listed_origins_only_and_never_a_wildcard) {
  cors_policy c({"https://app.example.com"});
  EXPECT_TRUE(c.allows("https://app.example.com"));
  EXPECT_TRUE(c.allows("HTTPS://APP.example.com"));
  EXPECT_FALSE(c.allows("https://evil.example.com"));
  EXPECT_FALSE(c.allows(""));
  auto ok = c.preflight("https://app.example.com", "POST");
  EXPECT_EQ(ok.result(), bhttp::status::no_content);
  EXPECT_EQ(ok[bhttp::field::access_control_allow_origin], "https://app.example.com");
  EXPECT_NE(ok[bhttp::field::access_control_allow_headers].find("Authorization"), std::string::npos);
  EXPECT_EQ(ok[bhttp::field::vary], "Origin");
  auto no = c.preflight("https://evil.example.com", "POST");
  EXPECT_EQ(no.result(), bhttp::status::forbidden);
  EXPECT_TRUE(no[bhttp::field::access_control_allow_origin].empty());
  response r{bhttp::status::ok, 11};
  c.decorate(r, "https://evil.example.com");
  EXPECT_EQ(r[bhttp::field::vary], "Origin");
  EXPECT_TRUE(r[bhttp::field::access_control_allow_origin].empty());
}

const std::string k_key(32, 'k');
constexpr std::int64_t k_now = 1'800'000'000;

TEST(api_tokens, accepts_our_access_token_and_refuses_expired_tampered_none_and_other_algorithms) {
  auto token = issue_access_token(k_key, "user-1", "session-1", k_now * 1000);
  auto ok = check_bearer("Bearer " + token, k_key, std::nullopt, k_now + 60);
  ASSERT_TRUE(std::holds_alternative<principal>(ok));
  EXPECT_EQ(std::get<principal>(ok).user_id, "user-1");
  EXPECT_EQ(std::get<principal>(ok).session_id, "session-1");

  auto expired = check_bearer("Bearer " + token, k_key, std::nullopt, k_now + k_access_ttl_s);
  ASSERT_TRUE(std::holds_alternative<api_error>(expired));
  EXPECT_EQ(std::get<api_error>(expired).code, "token_expired");
  EXPECT_EQ(std::get<api_error>(expired).status, bhttp::status::unauthorized);

  auto tampered = token;
  tampered[token.find('.') + 5] ^= 1;
  EXPECT_TRUE(std::holds_alternative<api_error>(check_bearer("Bearer " + tampered, k_key, std::nullopt, k_now)));

  auto payload = token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1);
  auto none = crypto::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + payload + ".";
  auto r = check_bearer("Bearer " + none, k_key, std::nullopt, k_now);
  ASSERT_TRUE(std::holds_alternative<api_error>(r));
  EXPECT_EQ(std::get<api_error>(r).status, bhttp::status::unauthorized);
  auto rs = crypto::base64url_encode(R"({"alg":"RS256","typ":"JWT"})") + "." + payload + ".c2ln";
  EXPECT_TRUE(std::holds_alternative<api_error>(check_bearer("Bearer " + rs, k_key, std::nullopt, k_now)))
      << "RS256 without Clerk keys";

  auto missing = check_bearer("", k_key, std::nullopt, k_now);
  EXPECT_EQ(std::get<api_error>(missing).code, "missing_token");
  EXPECT_EQ(std::get<api_error>(check_bearer("Basic abc", k_key, std::nullopt, k_now)).code, "missing_token");
  auto other_key = check_bearer("Bearer " + issue_access_token(std::string(32, 'x'), "u", "s", k_now * 1000), k_key, std::nullopt, k_now);
  EXPECT_TRUE(std::holds_alternative<api_error>(other_key));
  auto off = check_bearer("Bearer " + token, "", std::nullopt, k_now);
  EXPECT_EQ(std::get<api_error>(off).status, bhttp::status::service_unavailable);
}

TEST(api_sessions, an_ended_session_or_user_cut_refuses_older_tokens_and_keeps_the_callers_own) {
  session_denylist d;
  principal a{"user-1", "session-a", "local", 1000}, b{"user-1", "session-b", "local", 1000};
  EXPECT_FALSE(d.ended(a, 2000));
  d.end_session("session-a", 2000);
  EXPECT_TRUE(d.ended(a, 2001));
  EXPECT_FALSE(d.ended(b, 2001));
  d.end_user_sessions("user-1", std::string("session-b"), 3000);
  EXPECT_FALSE(d.ended(b, 3001)) << "the caller's own session stays";
  principal c{"user-1", "session-c", "local", 2500}, later{"user-1", "session-d", "local", 3500};
  EXPECT_TRUE(d.ended(c, 3001));
  EXPECT_FALSE(d.ended(later, 3600)) << "a login after the cut";
  principal clerk{"user-1", "", "clerk", 0};
  EXPECT_FALSE(d.ended(clerk, 3600));
  // After an access token's lifetime the entries are gone (their tokens expired anyway).
  d.end_session("other", 3000 + (k_access_ttl_s + 120) * 1000);
  EXPECT_FALSE(d.ended(a, 3000 + (k_access_ttl_s + 120) * 1000));
}

TEST(api_tokens, random_tokens_are_32_bytes_of_base64url_and_differ) {
  auto a = random_token(), b = random_token();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, b);
  EXPECT_EQ(crypto::base64url_decode(a)->size(), 32u);
}

// The pipeline, with routes of the test's own that echo what they were given.
struct api_pipeline : ::testing::Test {
  api_options options() {
    api_options o;
    o.jwt_key = k_key;
    o.cors_allowed_origins = {"https://app.example.com"};
    o.now_ms = [] { return k_now * 1000; };
    return o;
  }
  api_service api{options()};
  api_pipeline() {
    api.add(verb::post, "/echo/{id}", {true, false, false}, [](api_call&& c, responder reply) {
      body_reader b(c.body);
      auto name = b.string("name", true);
      if (auto p = b.finish()) return reply(error_response(*p));
      reply(json_reply(bhttp::status::ok, json::object{{"id", c.params.at("id")}, {"name", *name}, {"ip", c.client_ip}, {"ua", c.user_agent},
                                                       {"q", c.query_value("q").value_or("")}}));
    });
    api.add(verb::get, "/whoami", {false, true, true}, [](api_call&& c, responder reply) {
      reply(json_reply(bhttp::status::ok, json::object{{"user", c.user->user_id}}));
    });
  }
  response send(bhttp::verb method, std::string target, std::string body = {}, std::map<std::string, std::string> headers = {}) {
    request req{method, target, 11};
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    std::optional<response> out;
    api.handle(std::move(req), request_info{"203.0.113.9", "req-1", ""}, [&](response&& r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : response{};
  }
  static json::object error_of(const response& r) { return json::parse(r.body()).at("error").as_object(); }
};

TEST_F(api_pipeline, routes_with_parameters_and_gives_the_client_address_and_user_agent) {
  auto r = send(bhttp::verb::post, "/api/v1/echo/42", R"({"name":"x"})", {{"Content-Type", "application/json"}, {"User-Agent", "ua/1"}});
  ASSERT_EQ(r.result(), bhttp::status::ok) << r.body();
  auto b = json::parse(r.body());
  EXPECT_EQ(b.at("id"), "42");
  EXPECT_EQ(b.at("ip"), "203.0.113.9");
  EXPECT_EQ(b.at("ua"), "ua/1");
  auto q = send(bhttp::verb::post, "/api/v1/echo/42?q=a%20b&x=1", R"({"name":"x"})", {{"Content-Type", "application/json"}});
  EXPECT_EQ(json::parse(q.body()).at("q"), "a b");
  auto bad = send(bhttp::verb::post, "/api/v1/echo/42?q=%zz", R"({"name":"x"})", {{"Content-Type", "application/json"}});
  EXPECT_EQ(bad.result(), bhttp::status::bad_request);
  EXPECT_EQ(error_of(bad).at("field"), "query");
}

TEST_F(api_pipeline, answers_404_405_415_400_and_422_in_the_one_error_shape) {
  auto nf = send(bhttp::verb::get, "/api/v1/nope");
  EXPECT_EQ(nf.result(), bhttp::status::not_found);
  EXPECT_EQ(error_of(nf).at("code"), "not_found");
  auto na = send(bhttp::verb::get, "/api/v1/echo/1");
  EXPECT_EQ(na.result(), bhttp::status::method_not_allowed);
  EXPECT_EQ(na[bhttp::field::allow], "POST");
  auto media = send(bhttp::verb::post, "/api/v1/echo/1", R"({"name":"x"})", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(media.result(), bhttp::status::unsupported_media_type);
  EXPECT_EQ(error_of(media).at("field"), "Content-Type");
  auto bad = send(bhttp::verb::post, "/api/v1/echo/1", "{", {{"Content-Type", "application/json"}});
  EXPECT_EQ(bad.result(), bhttp::status::bad_request);
  EXPECT_EQ(error_of(bad).at("code"), "invalid_json");
  auto typed = send(bhttp::verb::post, "/api/v1/echo/1", R"({"name":[]})", {{"Content-Type", "application/json; charset=utf-8"}});
  EXPECT_EQ(typed.result(), bhttp::status::unprocessable_entity);
  EXPECT_EQ(error_of(typed).at("field"), "name");
  auto big = send(bhttp::verb::post, "/api/v1/echo/1", std::string(k_body_limit + 1, ' '), {{"Content-Type", "application/json"}});
  EXPECT_EQ(big.result(), bhttp::status::payload_too_large);
  EXPECT_EQ(error_of(big).at("field"), "body");
}

TEST_F(api_pipeline, signed_in_routes_need_a_bearer_token_in_the_authorization_header_only) {
  auto token = issue_access_token(k_key, "user-7", "s", k_now * 1000);
  auto ok = send(bhttp::verb::get, "/api/v1/whoami", {}, {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(ok.result(), bhttp::status::ok) << ok.body();
  EXPECT_EQ(json::parse(ok.body()).at("user"), "user-7");
  auto cookie = send(bhttp::verb::get, "/api/v1/whoami", {}, {{"Cookie", "accessToken=" + token}});
  EXPECT_EQ(cookie.result(), bhttp::status::unauthorized);
  EXPECT_EQ(cookie[bhttp::field::www_authenticate], "Bearer");
  auto query = send(bhttp::verb::get, "/api/v1/whoami?access_token=" + token);
  EXPECT_EQ(query.result(), bhttp::status::bad_request);
  EXPECT_EQ(error_of(query).at("code"), "credential_in_query");
}

TEST_F(api_pipeline, cors_preflight_and_answers_follow_the_allow_list) {
  auto pre = send(bhttp::verb::options, "/api/v1/echo/1", {},
                  {{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.result(), bhttp::status::no_content);
  EXPECT_EQ(pre[bhttp::field::access_control_allow_origin], "https://app.example.com");
  EXPECT_NE(pre[bhttp::field::access_control_allow_methods].find("POST"), std::string::npos);
  auto denied = send(bhttp::verb::options, "/api/v1/echo/1", {},
                     {{"Origin", "https://evil.example.com"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(denied.result(), bhttp::status::forbidden);
  EXPECT_TRUE(denied[bhttp::field::access_control_allow_origin].empty());
  auto answer = send(bhttp::verb::get, "/api/v1/nope", {}, {{"Origin", "https://app.example.com"}});
  EXPECT_EQ(answer[bhttp::field::access_control_allow_origin], "https://app.example.com");
  EXPECT_EQ(answer[bhttp::field::vary], "Origin");
  auto other = send(bhttp::verb::get, "/api/v1/nope", {}, {{"Origin", "https://evil.example.com"}});
  EXPECT_TRUE(other[bhttp::field::access_control_allow_origin].empty());
}

TEST(api_hashing_pool, refuses_work_beyond_its_bounded_queue_with_503_and_retry_after) {
  api_options o;
  o.password_threads = 1;
  o.password_queue = 1;
  api_service api(o);
  api.add(verb::post, "/hash", {false, false, false}, [&api](api_call&&, responder reply) {
    if (!api.run_blocking([] {})) return reply(error_response(api_service::busy()));
    reply(no_content());
  });
  std::promise<void> started, release;
  auto released = release.get_future().share();
  ASSERT_TRUE(api.run_blocking([&started, released] {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();            // the only thread is busy
  ASSERT_TRUE(api.run_blocking([] {}));   // the one queue place is taken
  std::optional<response> out;
  api.handle(request{bhttp::verb::post, "/api/v1/hash", 11}, request_info{"127.0.0.1", "r", ""}, [&](response&& r) { out = std::move(r); });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->result(), bhttp::status::service_unavailable);
  EXPECT_FALSE((*out)[bhttp::field::retry_after].empty());
  release.set_value();
}

TEST(api_hashing_pool, hashes_below_the_priority_of_ingress) {
  api_service api(api_options{});
  std::promise<int> nice_of_job;
  ASSERT_TRUE(api.run_blocking([&nice_of_job] {
    nice_of_job.set_value(getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))));
  }));
  auto f = nice_of_job.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(f.get(), std::min(19, getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))) + 10))
      << "a hashing thread runs at nice +10 from the node's";
}

TEST(api_route_label, names_the_auth_and_profile_routes) {
  EXPECT_EQ(route_label("/api/v1/auth/login"), "api_auth");
  EXPECT_EQ(route_label("/api/v1/me"), "api_me");
  EXPECT_EQ(route_label("/api/v1/workspaces"), "api");
}

}  // namespace
}  // namespace flowtrack::http::api
