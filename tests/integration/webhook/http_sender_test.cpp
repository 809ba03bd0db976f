// http_sender against real HTTP receivers on loopback (tests/integration/webhook/test_receiver.hpp):
// what is sent and returned (POST, GET, DELETE), the body limit, a hanging receiver beside a fast one, the SSRF
// guard, failures, throughput, shutdown. Needs no servers but its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <netdb.h>
#include <unistd.h>

#include "adapters/webhook/http_sender.hpp"
#include "tests/integration/webhook/test_receiver.hpp"
#include "tests/support/process.hpp"

namespace flowtrack::webhook {
namespace {

using namespace std::chrono_literals;
using actors::outgoing_post;
using actors::post_answer;
using test::await_condition;
using test::test_receiver;
using clock_type = std::chrono::steady_clock;

address_policy loopback_allowed() { return *address_policy::from_strings({"127.0.0.0/8", "::1/128"}); }

outgoing_post post_to(std::string url, std::string body = "{}") {
  return outgoing_post{std::move(url), {{"content-type", "application/json"}}, std::move(body)};
}

/// One post, waited for (at most 20 s).
post_answer send(http_sender& sender, outgoing_post request) {
  auto promise = std::make_shared<std::promise<post_answer>>();
  auto answer = promise->get_future();
  sender.post(std::move(request), [promise](post_answer a) { promise->set_value(std::move(a)); });
  if (answer.wait_for(20s) != std::future_status::ready) {
    post_answer none;
    none.failure = make_error(error_code::internal, "the test got no answer within 20 s");
    return none;
  }
  return answer.get();
}

std::string failure_text(const post_answer& a) {
  return a.failure ? std::string(to_string(a.failure->code)) + ": " + a.failure->message : "status " + std::to_string(a.status);
}

TEST(http_sender, posts_exactly_the_given_headers_and_body_and_returns_the_answer) {
  test_receiver receiver;
  http_sender sender(loopback_allowed());
  std::string body = R"({"type":"lead.created","data":{"name":"Zoë"}})";
  outgoing_post request{receiver.url("/echo?x=1"),
                        {{"Content-Type", "application/json"}, {"webhook-id", "msg_1"}, {"X-Empty", ""}, {"Authorization", "Bearer t"}},
                        body};
  auto a = send(sender, request);
  ASSERT_FALSE(a.failure) << failure_text(a);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "received:" + body);
  EXPECT_FALSE(a.body_truncated);
  EXPECT_EQ(a.header("x-reply"), "padded value");
  std::vector<std::string> multi;
  for (const auto& [name, value] : a.headers) {
    for (char c : name) EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << name;
    if (name == "x-multi") multi.push_back(value);
  }
  EXPECT_EQ(multi, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(a.header("content-length"), std::to_string(a.body.size()));

  auto seen = receiver.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/echo?x=1");
  EXPECT_EQ(seen[0].body, body);
  std::map<std::string, std::string> got(seen[0].headers.begin(), seen[0].headers.end());
  EXPECT_EQ(got.size(), seen[0].headers.size()) << "no header sent twice";
  std::map<std::string, std::string> want = {{"content-type", "application/json"},
                                             {"webhook-id", "msg_1"},
                                             {"x-empty", ""},
                                             {"authorization", "Bearer t"},
                                             {"user-agent", "FlowTrack-Webhooks/1.0"},
                                             {"host", "127.0.0.1:" + std::to_string(receiver.port())},
                                             {"content-length", std::to_string(body.size())}};
  EXPECT_EQ(got, want);

  // The caller's own User-Agent replaces the default; a body-less post has no content-type.
  auto b = send(sender, outgoing_post{receiver.url("/echo"), {{"User-Agent", "custom/2"}}, ""});
  ASSERT_FALSE(b.failure) << failure_text(b);
  seen = receiver.requests();
  ASSERT_EQ(seen.size(), 2u);
  std::map<std::string, std::string> second(seen[1].headers.begin(), seen[1].headers.end());
  EXPECT_EQ(second, (std::map<std::string, std::string>{
                        {"user-agent", "custom/2"}, {"host", "127.0.0.1:" + std::to_string(receiver.port())}, {"content-length", "0"}}));
}

TEST(http_sender, cuts_a_body_beyond_the_limit_and_keeps_the_status) {
  test_receiver receiver;
  http_sender sender(loopback_allowed());
  auto big = send(sender, post_to(receiver.url("/big")));
  ASSERT_FALSE(big.failure) << failure_text(big);
  EXPECT_EQ(big.status, 200);
  EXPECT_TRUE(big.body_truncated);
  EXPECT_EQ(big.body, std::string(64 * 1024, 'x'));
  // Any status is an answer, not a failure.
  auto unavailable = send(sender, post_to(receiver.url("/status/503")));
  EXPECT_FALSE(unavailable.failure) << failure_text(unavailable);
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.body, "status 503");
  EXPECT_FALSE(unavailable.body_truncated);
}

TEST(http_sender, a_body_cut_short_by_the_timeout_keeps_its_status) {
  test_receiver receiver;
  http_sender_options opts;
  opts.total_timeout = 1s;
  http_sender sender(loopback_allowed(), opts);
  auto a = send(sender, post_to(receiver.url("/stall")));
  EXPECT_FALSE(a.failure) << failure_text(a);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "0123456789");
  EXPECT_TRUE(a.body_truncated);
  EXPECT_GE(a.duration, opts.total_timeout - 100ms);
}

TEST(http_sender, a_done_callback_may_post_again) {
  test_receiver receiver;
  http_sender sender(loopback_allowed());
  std::promise<post_answer> second;
  sender.post(post_to(receiver.url("/echo"), "first"), [&](post_answer first) {
    EXPECT_EQ(first.body, "received:first");
    sender.post(post_to(receiver.url("/echo"), "second"), [&](post_answer a) { second.set_value(std::move(a)); });
  });
  auto f = second.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  auto a = f.get();
  EXPECT_FALSE(a.failure) << failure_text(a);
  EXPECT_EQ(a.body, "received:second");
}

TEST(http_sender, a_hanging_receiver_delays_no_one_else) {
  test_receiver hanging, fast;
  http_sender_options opts;
  opts.connect_timeout = 2s;
  opts.total_timeout = 3s;
  http_sender sender(loopback_allowed(), opts);

  struct outcome {
    post_answer answer;
    clock_type::time_point at;
  };
  std::mutex mutex;
  std::vector<outcome> hung, quick;
  auto record = [&](std::vector<outcome>& into) {
    return [&mutex, &into](post_answer a) {
      std::lock_guard lock(mutex);
      into.push_back({std::move(a), clock_type::now()});
    };
  };
  constexpr std::size_t n_hanging = 50, n_fast = 200;
  for (std::size_t i = 0; i < n_hanging; ++i) sender.post(post_to(hanging.url("/hang")), record(hung));
  // Every hanging request is in flight (the receiver holds it) before the fast ones start.
  ASSERT_TRUE(await_condition([&] { return hanging.request_count() == n_hanging; }, 10s)) << hanging.request_count();
  for (std::size_t i = 0; i < n_fast; ++i) sender.post(post_to(fast.url("/echo"), std::to_string(i)), record(quick));
  auto all_done = [&] {
    std::lock_guard lock(mutex);
    return hung.size() == n_hanging && quick.size() == n_fast;
  };
  ASSERT_TRUE(await_condition(all_done, 30s));

  auto first_hung = std::min_element(hung.begin(), hung.end(), [](auto& a, auto& b) { return a.at < b.at; })->at;
  auto last_quick = std::max_element(quick.begin(), quick.end(), [](auto& a, auto& b) { return a.at < b.at; })->at;
  EXPECT_LT(last_quick, first_hung) << "a fast request finished after a hanging one timed out";
  for (const auto& q : quick) {
    ASSERT_FALSE(q.answer.failure) << failure_text(q.answer);
    EXPECT_EQ(q.answer.status, 200);
    EXPECT_LT(q.answer.duration, opts.total_timeout);
  }
  for (const auto& h : hung) {
    ASSERT_TRUE(h.answer.failure);
    EXPECT_EQ(h.answer.failure->code, error_code::timeout) << failure_text(h.answer);
    EXPECT_EQ(h.answer.status, 0);
    EXPECT_GE(h.answer.duration, opts.total_timeout - 100ms);  // they did wait for the timeout
  }
  auto slowest = std::max_element(quick.begin(), quick.end(), [](auto& a, auto& b) { return a.answer.duration < b.answer.duration; });
  std::printf("http_sender: slowest of %zu fast requests beside %zu hanging: %lld ms (hanging timeout %lld ms)\n", n_fast,
              n_hanging, static_cast<long long>(slowest->answer.duration.count()),
              static_cast<long long>(opts.total_timeout.count()));
}

/// The machine's own name when it resolves to loopback only (as /etc/hosts often has it).
std::optional<std::string> host_name_on_loopback() {
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) != 0 || !*name) return std::nullopt;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(name, nullptr, &hints, &res) != 0 || !res) return std::nullopt;
  bool loopback = true;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    auto ip = ip_address::from_sockaddr(ai->ai_addr);
    loopback = loopback && ip && restricted_range(*ip) == "loopback";
  }
  freeaddrinfo(res);
  if (!loopback) return std::nullopt;
  return std::string(name);
}

TEST(http_sender, refuses_private_addresses_before_any_connection) {
  test_receiver receiver;
  std::string port = std::to_string(receiver.port());
  std::vector<std::string> local_urls = {"http://127.0.0.1:" + port + "/echo", "http://localhost:" + port + "/echo",
                                         "http://app.localhost:" + port + "/echo"};
  if (auto p6 = receiver.v6_port()) local_urls.push_back("http://[::1]:" + std::to_string(*p6) + "/echo");
  if (auto name = host_name_on_loopback()) local_urls.push_back("http://" + *name + ":" + port + "/echo");
  {
    http_sender sender(address_policy{});
    for (const auto& url : local_urls) {
      auto a = send(sender, post_to(url));
      ASSERT_TRUE(a.failure) << url;
      EXPECT_EQ(a.failure->code, error_code::invalid) << url << ": " << failure_text(a);
      const auto& m = a.failure->message;
      EXPECT_NE(m.find("address not allowed for http://"), std::string::npos) << m;
      EXPECT_EQ(m.find("/echo"), std::string::npos) << "the path is not shown: " << m;
      bool literal = url.find("//127.") != std::string::npos || url.find("[::1]") != std::string::npos;
      if (literal) {
        EXPECT_NE(m.find("loopback"), std::string::npos) << m;
      } else {
        for (const char* leak : {"127.", "::1", "loopback"}) EXPECT_EQ(m.find(leak), std::string::npos) << leak << " in " << m;
      }
    }
    std::vector<std::pair<std::string, std::string>> literals = {{"http://127.1.2.3:" + port + "/", "loopback"},
                                                                 {"http://10.0.0.1/", "private"},
                                                                 {"http://192.168.1.1:8080/x", "private"},
                                                                 {"http://[fd00::1]/", "private (unique local)"},
                                                                 {"http://169.254.169.254/latest", "link-local"},
                                                                 {"http://[::ffff:127.0.0.1]:" + port + "/", "loopback"}};
    for (const auto& [url, range] : literals) {
      auto a = send(sender, post_to(url));
      ASSERT_TRUE(a.failure) << url;
      EXPECT_EQ(a.failure->code, error_code::invalid) << url << ": " << failure_text(a);
      EXPECT_NE(a.failure->message.find("it is a " + range + " address"), std::string::npos) << a.failure->message;
      EXPECT_LT(a.duration, 1ms) << "refused before any transfer: " << url;
    }
  }
  EXPECT_EQ(receiver.accepts(), 0) << "the guard let a connection through";
  EXPECT_EQ(receiver.request_count(), 0u);

  // Allow-listed, the same URLs go through.
  http_sender allowed(loopback_allowed());
  for (const auto& url : local_urls) {
    auto a = send(allowed, post_to(url, "hello"));
    EXPECT_FALSE(a.failure) << url << ": " << failure_text(a);
    EXPECT_EQ(a.status, 200) << url;
    EXPECT_EQ(a.body, "received:hello") << url;
  }
  EXPECT_GT(receiver.accepts(), 0);
  EXPECT_EQ(receiver.request_count(), local_urls.size());

  // No redirect is followed: the 302 is the answer.
  auto redirected = send(allowed, post_to(receiver.url("/redirect")));
  ASSERT_FALSE(redirected.failure) << failure_text(redirected);
  EXPECT_EQ(redirected.status, 302);
  EXPECT_EQ(redirected.header("location"), "/echo");
  EXPECT_EQ(receiver.request_count(), local_urls.size() + 1);
}

/// A request with `method` and no body.
outgoing_post request_to(std::string method, std::string url, std::vector<std::pair<std::string, std::string>> headers = {}) {
  outgoing_post r{std::move(url), std::move(headers), ""};
  r.method = std::move(method);
  return r;
}

TEST(http_sender, gets_and_deletes_without_a_body_and_returns_the_answer) {
  test_receiver receiver;
  http_sender sender(loopback_allowed());
  auto got = send(sender, request_to("GET", receiver.url("/me?x=1"), {{"Authorization", "Bearer t"}, {"Accept", "application/json"}}));
  ASSERT_FALSE(got.failure) << failure_text(got);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "received:");
  EXPECT_EQ(got.header("x-reply"), "padded value");
  auto deleted = send(sender, request_to("DELETE", receiver.url("/status/202"), {{"Authorization", "Bearer t"}}));
  ASSERT_FALSE(deleted.failure) << failure_text(deleted);
  EXPECT_EQ(deleted.status, 202);
  // A DELETE's answer body is read like a GET's (not a HEAD).
  auto deleted_with_body = send(sender, request_to("DELETE", receiver.url("/status/404")));
  ASSERT_FALSE(deleted_with_body.failure) << failure_text(deleted_with_body);
  EXPECT_EQ(deleted_with_body.status, 404);
  EXPECT_EQ(deleted_with_body.body, "status 404");
  // The same handles serve a POST afterwards: no method or body-lessness stays set.
  auto posted = send(sender, post_to(receiver.url("/echo"), "after"));
  ASSERT_FALSE(posted.failure) << failure_text(posted);
  EXPECT_EQ(posted.body, "received:after");

  auto seen = receiver.requests();
  ASSERT_EQ(seen.size(), 4u);
  const std::string host = "127.0.0.1:" + std::to_string(receiver.port());
  auto headers_of = [](const test::seen_request& r) { return std::map<std::string, std::string>(r.headers.begin(), r.headers.end()); };
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/me?x=1");
  EXPECT_EQ(seen[0].body, "");
  EXPECT_EQ(headers_of(seen[0]), (std::map<std::string, std::string>{{"authorization", "Bearer t"},
                                                                     {"accept", "application/json"},
                                                                     {"user-agent", "FlowTrack-Webhooks/1.0"},
                                                                     {"host", host}}))
      << "no Content-Length, no Content-Type";
  EXPECT_EQ(seen[1].method, "DELETE");
  EXPECT_EQ(seen[1].target, "/status/202");
  EXPECT_EQ(seen[1].body, "");
  EXPECT_EQ(headers_of(seen[1]),
            (std::map<std::string, std::string>{{"authorization", "Bearer t"}, {"user-agent", "FlowTrack-Webhooks/1.0"}, {"host", host}}));
  EXPECT_EQ(seen[2].method, "DELETE");
  EXPECT_EQ(seen[3].method, "POST");
  EXPECT_EQ(seen[3].body, "after");
  EXPECT_EQ(headers_of(seen[3]).at("content-length"), "5");
}

TEST(http_sender, a_get_or_delete_keeps_the_guard_the_body_limit_and_the_timeout) {
  test_receiver receiver;
  {
    http_sender guarded(address_policy{});
    for (const char* method : {"GET", "DELETE"}) {
      auto a = send(guarded, request_to(method, receiver.url("/echo")));
      ASSERT_TRUE(a.failure) << method;
      EXPECT_EQ(a.failure->code, error_code::invalid) << method << ": " << failure_text(a);
      EXPECT_NE(a.failure->message.find("it is a loopback address"), std::string::npos) << a.failure->message;
    }
    EXPECT_EQ(receiver.accepts(), 0) << "the guard let a connection through";
  }
  http_sender_options opts;
  opts.total_timeout = 1s;
  http_sender sender(loopback_allowed(), opts);
  auto big = send(sender, request_to("GET", receiver.url("/big")));
  ASSERT_FALSE(big.failure) << failure_text(big);
  EXPECT_EQ(big.status, 200);
  EXPECT_TRUE(big.body_truncated);
  EXPECT_EQ(big.body.size(), 64u * 1024);
  auto redirected = send(sender, request_to("GET", receiver.url("/redirect")));
  EXPECT_EQ(redirected.status, 302) << failure_text(redirected) << ": no redirect is followed";
  for (const char* method : {"GET", "DELETE"}) {
    auto hung = send(sender, request_to(method, receiver.url("/hang")));
    ASSERT_TRUE(hung.failure) << method;
    EXPECT_EQ(hung.failure->code, error_code::timeout) << method << ": " << failure_text(hung);
  }
}

TEST(http_sender, refuses_a_body_on_a_get_or_delete_and_other_methods) {
  test_receiver receiver;
  http_sender sender(loopback_allowed());
  for (const char* method : {"GET", "DELETE"}) {
    auto r = request_to(method, receiver.url("/echo"));
    r.body = "{}";
    auto a = send(sender, r);
    ASSERT_TRUE(a.failure) << method;
    EXPECT_EQ(a.failure->code, error_code::invalid) << failure_text(a);
    EXPECT_NE(a.failure->message.find("carries no body"), std::string::npos) << a.failure->message;
  }
  for (const char* method : {"PUT", "PATCH", "get", "HEAD", "GET\r\nX: 1", ""}) {
    auto a = send(sender, request_to(method, receiver.url("/echo")));
    ASSERT_TRUE(a.failure) << method;
    EXPECT_EQ(a.failure->code, error_code::invalid) << method << ": " << failure_text(a);
  }
  EXPECT_EQ(receiver.accepts(), 0);
}

TEST(http_sender, refuses_unusable_urls_and_headers_at_once) {
  test_receiver receiver;
  http_sender sender(loopback_allowed());
  for (const char* url : {"ftp://example.com/x", "file:///etc/passwd", "not a url", "http://user:pw@example.com/", "", "//example.com/",
                          "gopher://127.0.0.1/"}) {
    auto a = send(sender, post_to(url));
    ASSERT_TRUE(a.failure) << url;
    EXPECT_EQ(a.failure->code, error_code::invalid) << url << ": " << failure_text(a);
  }
  std::vector<std::vector<std::pair<std::string, std::string>>> bad_headers = {
      {{"X-Injected", "a\r\nX-Evil: 1"}}, {{"Bad Name", "v"}}, {{"", "v"}}, {{"Content-Length", "5"}}, {{"Host", "other"}},
      {{"Transfer-Encoding", "chunked"}}};
  for (auto& headers : bad_headers) {
    auto a = send(sender, outgoing_post{receiver.url("/echo"), headers, "{}"});
    ASSERT_TRUE(a.failure) << headers[0].first;
    EXPECT_EQ(a.failure->code, error_code::invalid) << failure_text(a);
  }
  EXPECT_EQ(receiver.accepts(), 0);
}

TEST(http_sender, a_refused_connection_or_unknown_host_is_unavailable) {
  http_sender sender(loopback_allowed());
  int closed = test::free_port();  // bound and released: nothing listens
  auto refused = send(sender, post_to("http://127.0.0.1:" + std::to_string(closed) + "/"));
  ASSERT_TRUE(refused.failure);
  EXPECT_EQ(refused.failure->code, error_code::unavailable) << failure_text(refused);
  EXPECT_EQ(refused.status, 0);
  EXPECT_EQ(refused.failure->message.find("127.0.0.1 port"), std::string::npos) << refused.failure->message;

  auto unknown = send(sender, post_to("http://no-such-host.invalid/"));
  ASSERT_TRUE(unknown.failure);
  // The .invalid TLD never resolves; a resolver that does not answer in time is a timeout.
  EXPECT_TRUE(unknown.failure->code == error_code::unavailable || unknown.failure->code == error_code::timeout)
      << failure_text(unknown);
}

TEST(http_sender, completes_two_thousand_posts) {
  test_receiver receiver;
  http_sender sender(loopback_allowed());
  constexpr int n = 2000;
  std::atomic<int> ok{0}, failed{0};
  std::mutex mutex;
  std::set<std::string> bodies;
  auto started = clock_type::now();
  for (int i = 0; i < n; ++i)
    sender.post(post_to(receiver.url("/echo"), std::to_string(i)), [&](post_answer a) {
      if (a.failure || a.status != 200) {
        ++failed;
        return;
      }
      {
        std::lock_guard lock(mutex);
        bodies.insert(a.body);
      }
      ++ok;
    });
  ASSERT_TRUE(await_condition([&] { return ok + failed == n; }, 60s)) << ok << " ok, " << failed << " failed";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started).count();
  EXPECT_EQ(ok, n);
  EXPECT_EQ(bodies.size(), static_cast<std::size_t>(n)) << "every answer belongs to its own request";
  EXPECT_LE(receiver.accepts(), 64) << "connections are reused, at most 64 to one host";
  std::printf("http_sender: %d posts in %lld ms (%.0f/s) over %d connections\n", n, static_cast<long long>(ms),
              n * 1000.0 / static_cast<double>(std::max<long long>(ms, 1)), receiver.accepts());
}

TEST(http_sender, runs_at_most_max_transfers_and_the_rest_in_order) {
  test_receiver receiver;
  http_sender_options opts;
  opts.max_transfers = 1;
  http_sender sender(loopback_allowed(), opts);
  std::mutex mutex;
  std::vector<std::string> order;
  constexpr int n = 20;
  for (int i = 0; i < n; ++i)
    sender.post(post_to(receiver.url("/echo"), std::to_string(i)), [&](post_answer a) {
      std::lock_guard lock(mutex);
      order.push_back(a.body);
    });
  ASSERT_TRUE(await_condition([&] { std::lock_guard lock(mutex); return order.size() == n; }, 20s));
  for (int i = 0; i < n; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], "received:" + std::to_string(i));
  EXPECT_EQ(receiver.accepts(), 1) << "one transfer at a time reuses one connection";
}

TEST(http_sender, destruction_answers_every_pending_post_once) {
  test_receiver receiver;
  http_sender_options opts;
  opts.max_transfers = 10;  // 10 in flight, the rest waiting
  constexpr int n = 30;
  std::vector<std::atomic<int>> calls(n), nested_calls(n);
  std::vector<std::optional<error>> failures(n);
  std::mutex mutex;
  {
    auto sender = std::make_unique<http_sender>(loopback_allowed(), opts);
    for (int i = 0; i < n; ++i)
      sender->post(post_to(receiver.url("/hang")), [&, i, s = sender.get()](post_answer a) {
        ++calls[static_cast<std::size_t>(i)];
        {
          std::lock_guard lock(mutex);
          failures[static_cast<std::size_t>(i)] = a.failure;
        }
        // A done callback posting again while the sender closes: answered, not deadlocked.
        s->post(post_to(receiver.url("/echo")), [&, i](post_answer) { ++nested_calls[static_cast<std::size_t>(i)]; });
      });
    ASSERT_TRUE(await_condition([&] { return receiver.request_count() == 10; }, 10s)) << receiver.request_count();
    sender.reset();
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(calls[static_cast<std::size_t>(i)], 1) << i;
    EXPECT_EQ(nested_calls[static_cast<std::size_t>(i)], 1) << i;
    ASSERT_TRUE(failures[static_cast<std::size_t>(i)]) << i;
    EXPECT_EQ(failures[static_cast<std::size_t>(i)]->code, error_code::unavailable);
    EXPECT_NE(failures[static_cast<std::size_t>(i)]->message.find("shutting down"), std::string::npos);
  }
  EXPECT_EQ(receiver.request_count(), 10u) << "the waiting posts were never started";
}

}  // namespace
}  // namespace flowtrack::webhook
