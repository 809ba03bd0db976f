// signed_sender: sealed secrets opened at send time only, Standard Webhooks headers, both
// signatures during a rotation, the auth header sent but recorded redacted, a secret that cannot
// be opened sending nothing, and answers cleaned to UTF-8. The post_port is a recorder.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "adapters/webhook/signature.hpp"
#include "adapters/webhook/signed_sender.hpp"
#include "storage/webhooks.hpp"

namespace flowtrack::webhook {
namespace {

struct recorder final : actors::post_port {
  std::vector<actors::outgoing_post> posts;
  actors::post_answer answer;
  void post(actors::outgoing_post p, std::function<void(actors::post_answer)> done) override {
    posts.push_back(std::move(p));
    done(answer);
  }
};

std::string header(const actors::outgoing_post& p, const std::string& name) {
  for (const auto& [k, v] : p.headers)
    if (k == name) return v;
  return "(none)";
}

const std::string k_endpoint = "6f1c0a52-3b1e-4c61-9d4a-0d5e7a1b2c3d";

struct fixture {
  crypto::keyring keys = *crypto::keyring::from_hex(std::string(64, 'a'));
  recorder post;
  std::string seal(const std::string& column, const std::string& value) {
    return *keys.seal(value, storage::secret_context(column, k_endpoint));
  }
  actors::webhook_send message() {
    actors::webhook_send m;
    m.endpoint_id = k_endpoint;
    m.url = "https://receiver.example/in";
    m.webhook_id = "msg_1";
    m.timestamp_s = 1700000000;
    m.body = R"({"type":"lead.created"})";
    return m;
  }
  actors::webhook_sent send(actors::webhook_send m) {
    signed_sender sender(keys, post);
    std::optional<actors::webhook_sent> got;
    sender.send(std::move(m), [&](actors::webhook_sent s) { got = std::move(s); });
    EXPECT_TRUE(got.has_value());
    return got ? std::move(*got) : actors::webhook_sent{};
  }
};

TEST(signed_sender, signs_with_the_current_and_the_previous_secret_and_redacts_the_auth_value) {
  fixture f;
  const std::string current = "whsec_" + base64_encode("current-key-0123456789abcdef"), previous = "raw previous key";
  auto m = f.message();
  m.sealed_secret = f.seal("secret_key", current);
  m.sealed_previous_secret = f.seal("secret_key", previous);  // moved as sealed by rotate-secret
  m.auth_header_name = "Authorization";
  m.sealed_auth_value = f.seal("auth_header_value", "Bearer do-not-record");
  auto sent = f.send(m);
  ASSERT_EQ(f.post.posts.size(), 1u);
  const auto& p = f.post.posts[0];
  EXPECT_EQ(p.body, m.body) << "byte for byte";
  EXPECT_EQ(header(p, "webhook-id"), "msg_1");
  EXPECT_EQ(header(p, "webhook-timestamp"), "1700000000");
  EXPECT_EQ(header(p, "content-type"), "application/json");
  EXPECT_EQ(header(p, "webhook-signature"),
            sign(*signing_key(current), "msg_1", 1700000000, m.body) + " " + sign(previous, "msg_1", 1700000000, m.body));
  EXPECT_EQ(header(p, "Authorization"), "Bearer do-not-record");
  EXPECT_EQ(sent.request_headers_json.find("do-not-record"), std::string::npos) << sent.request_headers_json;
  auto recorded = boost::json::parse(sent.request_headers_json).as_object();
  EXPECT_EQ(recorded.at("Authorization").as_string(), "[redacted]");
  EXPECT_EQ(recorded.at("webhook-id").as_string(), "msg_1");
}

TEST(signed_sender, without_a_secret_nothing_is_signed) {
  fixture f;
  f.send(f.message());
  ASSERT_EQ(f.post.posts.size(), 1u);
  EXPECT_EQ(header(f.post.posts[0], "webhook-signature"), "(none)");
}

TEST(signed_sender, a_secret_that_cannot_be_opened_sends_nothing) {
  fixture f;
  auto moved = f.message();
  moved.sealed_secret = *f.keys.seal("whsec_AAAA", storage::secret_context("secret_key", "another-endpoint"));
  auto sent = f.send(moved);
  ASSERT_TRUE(sent.answer.failure);
  EXPECT_EQ(sent.answer.failure->code, error_code::invalid) << "bound to another row";
  auto keyless = f.message();
  keyless.sealed_secret = f.seal("secret_key", "whsec_AAAA");
  f.keys = crypto::keyring{};
  sent = f.send(keyless);
  ASSERT_TRUE(sent.answer.failure);
  EXPECT_EQ(sent.answer.failure->code, error_code::unavailable) << "a node without the key: another may send it";
  EXPECT_NE(sent.answer.failure->message.find("encryption"), std::string::npos) << sent.answer.failure->message;
  auto bad_auth = f.message();
  bad_auth.auth_header_name = "X-Key";
  bad_auth.sealed_auth_value = "not sealed at all";
  sent = f.send(bad_auth);
  EXPECT_TRUE(sent.answer.failure);
  EXPECT_TRUE(f.post.posts.empty()) << "no request without its secrets";
}

TEST(signed_sender, answers_come_back_as_valid_utf8) {
  fixture f;
  f.post.answer.status = 500;
  f.post.answer.body = std::string("bad \xff\xfe bytes\0end", 16);
  f.post.answer.headers = {{"x-odd", "caf\xe9"}};
  auto sent = f.send(f.message());
  EXPECT_EQ(sent.answer.status, 500);
  EXPECT_EQ(sent.answer.body, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes\xEF\xBF\xBD" "end");
  EXPECT_EQ(sent.answer.header("x-odd"), "caf\xEF\xBF\xBD");
  EXPECT_EQ(clean_utf8("\xe2\x82\xac\xe2\x82\xac", 4), "\xe2\x82\xac") << "cut on a character boundary";
}

}  // namespace
}  // namespace flowtrack::webhook
