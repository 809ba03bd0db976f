// connection against a real Redis: replies, errors, timeouts, scripts and reconnection after the
// server drops the connection or restarts.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "storage/redis/connection.hpp"
#include "tests/integration/redis/redis_fixture.hpp"

namespace flowtrack::redis {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using testing::await;
using testing::connect_or_fail;

class redis_connection : public testing::redis_test {};

endpoint test_endpoint() {
  auto ep = parse_url(flowtrack::test::redis_url());
  EXPECT_TRUE(ep.ok());
  return ep.ok() ? *ep : endpoint{};
}

std::int64_t client_id(connection& c) {
  auto r = c.command({"CLIENT", "ID"});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
  return r.ok() && r->is_integer() ? r->integer : -1;
}

// A TCP port nobody listens on (bound, read, released).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ADD_FAILURE() << "cannot find a free port";
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST_F(redis_connection, round_trips_binary_keys_and_values) {
  const std::string key = prefix() + "bin key\r\n\0x"s;
  const std::string value = "a\0b\r\n\xff\xfe end"s;
  auto set = conn().command({"SET", key, value});
  ASSERT_TRUE(set.ok()) << set.err().message;
  EXPECT_TRUE(set->is_status());
  EXPECT_EQ(set->text, "OK");
  auto get = conn().command(std::vector<std::string>{"GET", key});
  ASSERT_TRUE(get.ok()) << get.err().message;
  ASSERT_TRUE(get->is_string());
  EXPECT_EQ(get->text, value);
  auto missing = conn().command({"GET", prefix() + "missing"});
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->is_nil());
}

TEST_F(redis_connection, copies_nested_replies) {
  script s("return {1, 'two', {3, false, 'x'}, redis.status_reply('FINE'), redis.error_reply('BAD thing')}");
  auto r = conn().eval(s, {}, {});
  ASSERT_TRUE(r.ok()) << r.err().message;
  ASSERT_TRUE(r->is_array());
  ASSERT_EQ(r->elements.size(), 5u);
  EXPECT_EQ(r->elements[0].integer, 1);
  EXPECT_EQ(r->elements[1].text, "two");
  ASSERT_EQ(r->elements[2].elements.size(), 3u);
  EXPECT_TRUE(r->elements[2].elements[1].is_nil());
  EXPECT_EQ(r->elements[2].elements[2].text, "x");
  EXPECT_TRUE(r->elements[3].is_status());
  EXPECT_EQ(r->elements[3].text, "FINE");
  EXPECT_EQ(r->elements[4].type, reply::kind::error);
  EXPECT_EQ(r->elements[4].text, "BAD thing");
}

TEST_F(redis_connection, turns_error_replies_into_internal_errors_and_stays_usable) {
  const std::string key = prefix() + "text";
  ASSERT_TRUE(conn().command({"SET", key, "abc"}).ok());
  auto r = conn().command({"incr", key});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::internal);
  EXPECT_EQ(r.err().subject, "INCR");
  EXPECT_NE(r.err().message.find("not an integer"), std::string::npos) << r.err().message;
  EXPECT_TRUE(conn().connected());
  EXPECT_TRUE(conn().ping().ok());
}

TEST(redis_connection_unreachable, reports_unavailable_and_connects_lazily) {
  auto c = connection::open("redis://127.0.0.1:" + std::to_string(free_port()) + "/0", 500ms);
  ASSERT_TRUE(c.ok());  // nothing is attempted before the first command
  EXPECT_FALSE(c->connected());
  auto p = c->ping();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.err().code, error_code::unavailable);
  EXPECT_TRUE(p.err().transient());
  EXPECT_NE(p.err().message.find("cannot connect"), std::string::npos) << p.err().message;
  EXPECT_FALSE(c->connected());
}

TEST(redis_connection_auth, reports_a_refused_password_without_repeating_it) {
  endpoint ep = test_endpoint();
  ep.password = "hunter2-not-the-password";
  connection c(ep, 1000ms);
  auto p = c.ping();
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.err().message.find("cannot authenticate"), std::string::npos) << p.err().message;
  EXPECT_EQ(p.err().message.find("hunter2"), std::string::npos) << p.err().message;
}

TEST_F(redis_connection, selects_the_database_named_in_the_url) {
  endpoint ep = test_endpoint();
  ep.db = 2;
  connection db2(ep, 1000ms);
  const std::string key = prefix() + "in-db-2";
  ASSERT_TRUE(db2.command({"SET", key, "2"}).ok());
  auto here = db2.command({"GET", key});
  ASSERT_TRUE(here.ok());
  EXPECT_EQ(here->text, "2");
  ep.db = 3;
  connection db3(ep, 1000ms);
  auto there = db3.command({"GET", key});
  ASSERT_TRUE(there.ok());
  EXPECT_TRUE(there->is_nil());
  (void)db2.command({"DEL", key});
}

TEST_F(redis_connection, reconnects_after_client_kill_and_selects_the_database_again) {
  endpoint ep = test_endpoint();
  ep.db = 1;
  connection c(ep, 1000ms);
  const std::string key = prefix() + "db1";
  ASSERT_TRUE(c.command({"SET", key, "kept", "PX", "60000"}).ok());
  const std::int64_t before = client_id(c);

  auto killer = connect_or_fail();
  ASSERT_NE(killer, nullptr);
  auto kill = killer->command({"CLIENT", "KILL", "ID", std::to_string(before)});
  ASSERT_TRUE(kill.ok()) << kill.err().message;
  ASSERT_EQ(kill->integer, 1);

  // The closed socket is noticed before anything is sent, so this first command just works,
  // on a new connection to the same database.
  auto get = c.command({"GET", key});
  ASSERT_TRUE(get.ok()) << get.err().message;
  EXPECT_EQ(get->text, "kept");
  EXPECT_NE(client_id(c), before);
  (void)c.command({"DEL", key});
}

TEST_F(redis_connection, does_not_resend_a_command_lost_after_sending) {
  auto c = connect_or_fail(10000ms);
  ASSERT_NE(c, nullptr);
  const std::int64_t id = client_id(*c);
  std::thread killer([id] {
    auto k = connect_or_fail();
    if (!k) return;
    // Kill the client once it is blocked in BLPOP, i.e. after the command was sent.
    bool blocked = await(5000ms, [&] {
      auto r = k->command({"CLIENT", "LIST", "ID", std::to_string(id)});
      return r.ok() && r->text.find("cmd=blpop") != std::string::npos;
    });
    EXPECT_TRUE(blocked);
    (void)k->command({"CLIENT", "KILL", "ID", std::to_string(id)});
  });
  // Sent again on a new connection, the BLPOP would block its 8 s and answer an empty reply: an
  // error here is the lost connection, reported, not hidden by a resend.
  auto r = c->command({"BLPOP", prefix() + "never-filled", "8"});
  killer.join();
  ASSERT_FALSE(r.ok()) << "the BLPOP was sent again after the connection was lost";
  EXPECT_EQ(r.err().code, error_code::unavailable) << r.err().message;
  EXPECT_TRUE(c->ping().ok());
}

TEST_F(redis_connection, times_out_when_no_reply_comes_and_recovers) {
  auto c = connection::open(flowtrack::test::redis_url(), 200ms);
  ASSERT_TRUE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  auto r = c->command({"BLPOP", prefix() + "never-filled", "3"});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::timeout) << r.err().message;
  EXPECT_GE(took, 150ms);  // the timeout, not the server's 3 s, ended the wait: `timeout` above says so
  EXPECT_FALSE(c->connected());  // a late BLPOP reply must not be read as the next answer
  EXPECT_TRUE(c->ping().ok());
}

TEST_F(redis_connection, runs_scripts_by_sha_after_loading_them_once) {
  // A source no other test uses, so the server has not seen it: EVALSHA gets NOSCRIPT first.
  script s("-- " + prefix() + "\nreturn {KEYS[1], ARGV[1], ARGV[2]}");
  auto exists = conn().command({"SCRIPT", "EXISTS", s.sha1()});
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(exists->elements.at(0).integer, 0);

  auto first = conn().eval(s, {"k"}, {"a", "b\0c"s});
  ASSERT_TRUE(first.ok()) << first.err().message;
  ASSERT_EQ(first->elements.size(), 3u);
  EXPECT_EQ(first->elements[2].text, "b\0c"s);

  exists = conn().command({"SCRIPT", "EXISTS", s.sha1()});
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(exists->elements.at(0).integer, 1);
  auto second = conn().eval(s, {"k2"}, {"x", "y"});
  ASSERT_TRUE(second.ok()) << second.err().message;
  EXPECT_EQ(second->elements[0].text, "k2");
}

TEST_F(redis_connection, reports_script_errors_as_internal) {
  script s("return redis.call('NO_SUCH_COMMAND')");
  auto r = conn().eval(s, {}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::internal);
  EXPECT_TRUE(conn().ping().ok());
}

// A redis-server of this test's own, on a free port, so that it can be stopped and restarted.
class own_server {
 public:
  own_server() : port_(free_port()) {}
  own_server(const own_server&) = delete;
  own_server& operator=(const own_server&) = delete;
  ~own_server() { stop(); }

  static bool available() { return std::system("command -v redis-server >/dev/null 2>&1") == 0; }

  bool start() {
    const std::string p = std::to_string(port_);
    const std::string cmd = "redis-server --port " + p +
                            " --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir /tmp"
                            " --logfile /dev/null --pidfile /tmp/flowtrack-test-redis-" +
                            p + ".pid";
    if (std::system(cmd.c_str()) != 0) return false;
    return await(10000ms, [&] { return probe(); });
  }

  void stop() {
    if (!probe()) return;
    connection c(where(), 1000ms);
    (void)c.command({"SHUTDOWN", "NOSAVE"});  // the server closes the connection: no reply
    EXPECT_TRUE(await(10000ms, [&] { return !probe(); }));
  }

  endpoint where() const { return endpoint{"127.0.0.1", port_, 0, {}, {}}; }

 private:
  bool probe() const {
    connection c(where(), 500ms);
    return c.ping().ok();
  }

  std::uint16_t port_;
};

TEST(redis_connection_restart, reconnects_after_the_server_restarts) {
  if (!own_server::available()) GTEST_SKIP() << "redis-server is not on PATH";
  own_server server;
  ASSERT_TRUE(server.start());

  connection asks_while_down(server.where(), 1000ms);
  connection idle_while_down(server.where(), 1000ms);
  script s("return 'up ' .. ARGV[1]");
  ASSERT_TRUE(asks_while_down.eval(s, {}, {"1"}).ok());
  ASSERT_TRUE(idle_while_down.eval(s, {}, {"1"}).ok());

  server.stop();
  auto down = asks_while_down.ping();
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.err().code, error_code::unavailable) << down.err().message;

  ASSERT_TRUE(server.start());
  // Both recover on their first call. The restarted server has forgotten the script, so this
  // also goes through the NOSCRIPT -> EVAL fallback.
  auto a = asks_while_down.eval(s, {}, {"2"});
  ASSERT_TRUE(a.ok()) << a.err().message;
  EXPECT_EQ(a->text, "up 2");
  auto b = idle_while_down.eval(s, {}, {"3"});
  ASSERT_TRUE(b.ok()) << b.err().message;
  EXPECT_EQ(b->text, "up 3");
}

}  // namespace
}  // namespace flowtrack::redis
