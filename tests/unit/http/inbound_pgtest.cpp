// POST /inbound/email on a real server and PostgreSQL: the token is checked on the request head,
// so a client without a valid token is answered 401 before it has sent a byte of its body; a
// known token lets the message through to the intake (a harness recording what it is handed).
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "adapters/http/inbound.hpp"
#include "storage/pg/pool.hpp"
#include "storage/workspaces.hpp"
#include "tests/support/test_env.hpp"
#include "tests/unit/http/raw_client.hpp"

namespace flowtrack::http {
namespace {

using namespace std::chrono_literals;

class inbound_pgtest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = pg::connection::open(pg::connect_options{flowtrack::test::database_url()});
    ASSERT_TRUE(opened.ok()) << opened.err().message;
    auto& c = **opened;
    slug = flowtrack::test::unique_slug("inb");
    auto user = c.exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(slug + "@example.com"));
    ASSERT_TRUE(user.ok()) << user.err().message;
    auto ws = c.exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                     pg::params{}.add(slug).add(std::string(user->get(0, 0))));
    ASSERT_TRUE(ws.ok()) << ws.err().message;
    auto made = storage::rotate_inbound_token(c, slug);
    ASSERT_TRUE(made.ok()) << made.err().message;
    token = *made;

    pg::pool_options po;
    po.connection.uri = flowtrack::test::database_url();
    po.size = 1;
    pool = std::make_unique<pg::pool>(po);
    targets.postgres = pool.get();
    targets.deliver = [this](std::string intake_id, std::string, std::string raw, std::function<void(int, std::string, std::string)> done) {
      {
        std::lock_guard lock(mutex);
        delivered.emplace_back(std::move(intake_id), std::move(raw));
      }
      done(250, "2.0.0", "kept");
    };
    server_options o;
    o.listen = config::endpoint{"127.0.0.1", 0};
    o.body_limit_for = [](std::string_view path) { return path == "/inbound/email" ? k_inbound_body_limit : 0; };
    o.admit = [this](const request_head& head, const request_info& info, admission_callback done) {
      admit_inbound_email(targets, head, info, std::move(done));
    };
    srv = std::make_unique<server>(o, [this](request&& req, const request_info& info, responder reply) {
      inbound_email(targets, std::move(req), info, std::move(reply));
    });
    auto started = srv->start();
    ASSERT_TRUE(started.ok()) << started.err().message;
  }
  void TearDown() override {
    if (srv) srv->stop(0ms);
    srv.reset();
    if (pool) pool->close();
  }

  // Sends only the head of a 20 MiB message and reads the answer before any of the body.
  // The status of a POST with a 20 MiB body of which only the headers were sent (0 when no
  // answer came); checks on the way that the server closed the connection and buffered nothing.
  int status_before_the_body(const std::string& auth_header) {
    test::raw_client c(srv->port());
    EXPECT_TRUE(c.connected());
    if (!c.send("POST /inbound/email HTTP/1.1\r\nHost: x\r\nContent-Type: message/rfc822\r\n" + auth_header +
                "Content-Length: 20971520\r\n\r\n"))
      return 0;
    auto r = c.read_response();
    EXPECT_NE(r.head.find("WWW-Authenticate: Bearer"), std::string::npos) << r.head;
    EXPECT_TRUE(c.closed_by_server());
    EXPECT_EQ(srv->buffered_body_bytes(), 0u);
    std::lock_guard lock(mutex);
    EXPECT_TRUE(delivered.empty());
    return r.status;
  }

  std::string slug, token;
  std::unique_ptr<pg::pool> pool;
  inbound_targets targets;
  std::unique_ptr<server> srv;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> delivered;
};

TEST_F(inbound_pgtest, no_token_is_answered_401_before_the_body_is_sent) { EXPECT_EQ(status_before_the_body(""), 401); }

TEST_F(inbound_pgtest, a_malformed_token_is_answered_401_before_the_body_is_sent) {
  EXPECT_EQ(status_before_the_body("X-FlowTrack-Token: ftin_nope\r\n"), 401);
}

TEST_F(inbound_pgtest, an_unknown_token_is_answered_401_after_its_look_up_before_the_body_is_sent) {
  EXPECT_EQ(status_before_the_body("X-FlowTrack-Token: ftin_" + std::string(64, '0') + "\r\n"), 401);
  EXPECT_EQ(status_before_the_body("Authorization: Bearer ftin_" + std::string(64, 'a') + "\r\n"), 401);
}

TEST_F(inbound_pgtest, a_known_token_lets_the_message_through_to_its_workspace_intake) {
  std::string raw = "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n";
  for (const std::string& auth : {"X-FlowTrack-Token: " + token, "Authorization: Bearer " + token}) {
    test::raw_client c(srv->port());
    ASSERT_TRUE(c.send("POST /inbound/email HTTP/1.1\r\nHost: x\r\nContent-Type: message/rfc822\r\n" + auth +
                       "\r\nContent-Length: " + std::to_string(raw.size()) + "\r\n\r\n" + raw));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 202) << r.head << r.body;
    EXPECT_EQ(r.body, R"({"status":"accepted"})");
  }
  std::lock_guard lock(mutex);
  ASSERT_EQ(delivered.size(), 2u);
  for (const auto& [intake, message] : delivered) {
    EXPECT_EQ(intake, slug);
    EXPECT_EQ(message, raw);
  }
}

TEST_F(inbound_pgtest, the_wrong_method_and_type_are_refused_from_the_head) {
  test::raw_client c(srv->port());
  ASSERT_TRUE(c.send("PUT /inbound/email HTTP/1.1\r\nHost: x\r\nX-FlowTrack-Token: " + token + "\r\nContent-Length: 20971520\r\n\r\n"));
  EXPECT_EQ(c.read_response().status, 405);
  test::raw_client t(srv->port());
  ASSERT_TRUE(t.send("POST /inbound/email HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nX-FlowTrack-Token: " + token +
                     "\r\nContent-Length: 20971520\r\n\r\n"));
  EXPECT_EQ(t.read_response().status, 415);
}

}  // namespace
}  // namespace flowtrack::http
