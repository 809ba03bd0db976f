// Workspace slugs and names: shape, length, hyphens at the ends, reserved words.
#include <gtest/gtest.h>

#include <string>

#include "domain/workspace_rules.hpp"

namespace flowtrack::domain {
namespace {

TEST(workspace_rules, slugs_of_lower_case_letters_digits_and_inner_hyphens_pass) {
  for (const char* s : {"acme", "acme-co", "a1b", "123", "x-y-z", "abc"}) EXPECT_EQ(check_slug(s), std::nullopt) << s;
  EXPECT_EQ(check_slug(std::string(50, 'a')), std::nullopt);
}

TEST(workspace_rules, slugs_of_the_wrong_shape_are_refused_with_a_reason) {
  for (const char* s : {"", "ab", "Acme", "acme_co", "acme co", "acmé", "-acme", "acme-", "-", "---", "ac.me", "acme/x"}) {
    auto why = check_slug(s);
    ASSERT_TRUE(why.has_value()) << s;
    EXPECT_NE(why->find("slug"), std::string::npos) << *why;
  }
  EXPECT_TRUE(check_slug(std::string(51, 'a')).has_value());
  EXPECT_NE(check_slug("-abc")->find("hyphen"), std::string::npos);
}

TEST(workspace_rules, reserved_words_are_refused_whatever_their_length) {
  for (const char* s : {"api", "admin", "www", "hooks", "inbound", "healthz", "readyz", "metrics", "invitations"}) {
    EXPECT_TRUE(is_reserved_slug(s)) << s;
    auto why = check_slug(s);
    ASSERT_TRUE(why.has_value()) << s;
    EXPECT_NE(why->find("reserved"), std::string::npos) << *why;
  }
  EXPECT_TRUE(is_reserved_slug("p"));
  EXPECT_TRUE(is_reserved_slug("t"));
  EXPECT_FALSE(is_reserved_slug("apis"));
  EXPECT_FALSE(is_reserved_slug("my-admin"));
}

TEST(workspace_rules, names_are_one_to_a_hundred_characters_of_text) {
  EXPECT_EQ(check_workspace_name("Acme"), std::nullopt);
  EXPECT_EQ(check_workspace_name(std::string(100, 'x')), std::nullopt);
  std::string hundred_umlauts;
  for (int i = 0; i < 100; ++i) hundred_umlauts += "\xC3\xBC";
  EXPECT_EQ(check_workspace_name(hundred_umlauts), std::nullopt) << "characters, not bytes";
  EXPECT_TRUE(check_workspace_name("").has_value());
  EXPECT_TRUE(check_workspace_name("   ").has_value());
  EXPECT_TRUE(check_workspace_name(std::string(101, 'x')).has_value());
  EXPECT_TRUE(check_workspace_name("a\nb").has_value());
  EXPECT_TRUE(check_workspace_name("\xC3").has_value()) << "cut UTF-8";
  EXPECT_TRUE(check_workspace_name("\xC0\xAF").has_value()) << "overlong";
}

}  // namespace
}  // namespace flowtrack::domain
