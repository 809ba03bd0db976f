// redis:// URL parsing and script hashing, without a server.
#include <string>

#include <gtest/gtest.h>

#include "storage/redis/connection.hpp"

namespace flowtrack::redis {
namespace {

TEST(redis_url, parses_host_port_and_db) {
  auto ep = parse_url("redis://127.0.0.1:56379/3");
  ASSERT_TRUE(ep.ok()) << ep.err().message;
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 56379);
  EXPECT_EQ(ep->db, 3);
  EXPECT_TRUE(ep->password.empty());
}

TEST(redis_url, defaults_port_to_6379_and_db_to_0) {
  for (const char* url : {"redis://cache.internal", "redis://cache.internal/", "redis://cache.internal:6379"}) {
    auto ep = parse_url(url);
    ASSERT_TRUE(ep.ok()) << url << ": " << ep.err().message;
    EXPECT_EQ(ep->host, "cache.internal");
    EXPECT_EQ(ep->port, 6379);
    EXPECT_EQ(ep->db, 0);
  }
}

TEST(redis_url, parses_user_and_percent_encoded_password) {
  auto ep = parse_url("redis://flowtrack:p%40ss%3Aw0rd@10.0.0.5:7000/1");
  ASSERT_TRUE(ep.ok()) << ep.err().message;
  EXPECT_EQ(ep->user, "flowtrack");
  EXPECT_EQ(ep->password, "p@ss:w0rd");
  EXPECT_EQ(ep->host, "10.0.0.5");
  EXPECT_EQ(ep->port, 7000);
}

TEST(redis_url, parses_password_without_user_and_unencoded_at_sign) {
  auto ep = parse_url("redis://:se@cret@localhost/2");
  ASSERT_TRUE(ep.ok()) << ep.err().message;
  EXPECT_EQ(ep->user, "");
  EXPECT_EQ(ep->password, "se@cret");
  EXPECT_EQ(ep->host, "localhost");
  EXPECT_EQ(ep->db, 2);
}

TEST(redis_url, parses_bracketed_ipv6_host) {
  auto ep = parse_url("redis://[::1]:6380/4");
  ASSERT_TRUE(ep.ok()) << ep.err().message;
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 6380);
  EXPECT_EQ(ep->db, 4);
  EXPECT_EQ(ep->redacted(), "redis://[::1]:6380/4");
}

TEST(redis_url, redacted_form_leaves_out_user_and_password) {
  auto ep = parse_url("redis://admin:hunter2@db.example:6379/5");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->redacted(), "redis://db.example:6379/5");
}

struct bad_url {
  const char* url;
  const char* says;  // a fragment the message must contain
};

class redis_url_rejects : public ::testing::TestWithParam<bad_url> {};

TEST_P(redis_url_rejects, with_invalid_naming_the_problem) {
  auto ep = parse_url(GetParam().url);
  ASSERT_FALSE(ep.ok()) << GetParam().url << " was accepted";
  EXPECT_EQ(ep.err().code, error_code::invalid);
  EXPECT_EQ(ep.err().subject, "redis_url");
  EXPECT_NE(ep.err().message.find(GetParam().says), std::string::npos)
      << "message for " << GetParam().url << ": " << ep.err().message;
  // Passwords in these URLs are "hunter2": no message may repeat them.
  EXPECT_EQ(ep.err().message.find("hunter2"), std::string::npos) << ep.err().message;
}

INSTANTIATE_TEST_SUITE_P(
    redis_url, redis_url_rejects,
    ::testing::Values(bad_url{"", "must start with redis://"}, bad_url{"http://h:1/0", "must start with redis://"},
                      bad_url{"REDIS://h", "must start with redis://"}, bad_url{"rediss://h:6380/0", "TLS"},
                      bad_url{"redis://", "no host"}, bad_url{"redis://:6379/0", "no host"},
                      bad_url{"redis://:hunter2@:6379/0", "no host"}, bad_url{"redis://h:abc/0", "port 'abc'"},
                      bad_url{"redis://h:/0", "port ''"}, bad_url{"redis://h:0/0", "port '0'"},
                      bad_url{"redis://h:65536", "port '65536'"}, bad_url{"redis://h:-1", "port '-1'"},
                      bad_url{"redis://h:+80", "port '+80'"}, bad_url{"redis://h:1/x", "database 'x'"},
                      bad_url{"redis://h:1/-1", "database '-1'"}, bad_url{"redis://h:1/0/1", "database '0/1'"},
                      bad_url{"redis://h:1/99999999999", "database '99999999999'"},
                      bad_url{"redis://h:1/0?timeout=5", "query"}, bad_url{"redis://h:1/0#x", "fragment"},
                      bad_url{"redis://hunter2@h:1/0", "without a ':'"},
                      bad_url{"redis://user:@h:1/0", "empty password"},
                      bad_url{"redis://user:hunter2%zz@h:1/0", "%-escape"},
                      bad_url{"redis://user:hunter2%4@h:1/0", "%-escape"},
                      bad_url{"redis://[::1:6379/0", "closing ']'"}, bad_url{"redis://[::1]x/0", "after the IPv6"},
                      bad_url{"redis://::1:6379/0", "more than one ':'"},
                      bad_url{"redis://:hunter2@h:99999/0", "port '99999'"}));

TEST(redis_connection_open, rejects_a_bad_url_or_timeout_without_connecting) {
  auto bad = connection::open("redis://h:port/0", std::chrono::milliseconds{100});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, error_code::invalid);

  auto zero = connection::open("redis://h:1/0", std::chrono::milliseconds{0});
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.err().code, error_code::invalid);

  // Lazy: a host that does not exist is not looked up until the first command.
  auto lazy = connection::open("redis://no-such-host.invalid:1/0", std::chrono::milliseconds{100});
  ASSERT_TRUE(lazy.ok());
  EXPECT_FALSE(lazy->connected());
}

TEST(redis_script, carries_the_sha1_redis_computes) {
  // printf 'return 1' | sha1sum
  EXPECT_EQ(script("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  EXPECT_EQ(script("").sha1(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

}  // namespace
}  // namespace flowtrack::redis
