// The client part of a form rate-limit key: IPv4 per address, IPv6 per prefix (/64 by default).
#include <gtest/gtest.h>

#include "domain/form.hpp"

namespace flowtrack::domain {
namespace {

TEST(rate_limit_client, ipv4_counts_each_address) {
  EXPECT_EQ(rate_limit_client("203.0.113.7", 64), "203.0.113.7");
  EXPECT_NE(rate_limit_client("203.0.113.7", 64), rate_limit_client("203.0.113.8", 64));
}

TEST(rate_limit_client, ipv6_addresses_of_one_slash_64_share_a_key) {
  auto a = rate_limit_client("2001:db8:1:2:aaaa::1", 64);
  EXPECT_EQ(a, "2001:db8:1:2::/64");
  EXPECT_EQ(rate_limit_client("2001:db8:1:2:ffff:ffff:ffff:ffff", 64), a);
  EXPECT_EQ(rate_limit_client("2001:DB8:1:2::9", 64), a) << "spelling does not matter";
  EXPECT_NE(rate_limit_client("2001:db8:1:3::1", 64), a) << "the next /64 is another client";
}

TEST(rate_limit_client, the_prefix_is_a_setting) {
  EXPECT_EQ(rate_limit_client("2001:db8:1:2:aaaa::1", 48), "2001:db8:1::/48");
  EXPECT_EQ(rate_limit_client("2001:db8:1:2:aaaa::1", 128), "2001:db8:1:2:aaaa::1/128");
  EXPECT_EQ(rate_limit_client("2001:db8:1:2:aaaa::1", 56), "2001:db8:1::/56");
  EXPECT_EQ(rate_limit_client("2001:db8:1:2ff:aaaa::1", 56), "2001:db8:1:200::/56");
}

TEST(rate_limit_client, a_mapped_ipv4_address_counts_as_that_address) {
  EXPECT_EQ(rate_limit_client("::ffff:198.51.100.4", 64), "198.51.100.4");
}

TEST(rate_limit_client, text_that_is_no_address_is_kept) {
  EXPECT_EQ(rate_limit_client("", 64), "");
  EXPECT_EQ(rate_limit_client("unix", 64), "unix");
}

}  // namespace
}  // namespace flowtrack::domain
