// PKCE: the S256 challenge of RFC 7636 appendix B, and random verifiers the RFC allows.
#include <gtest/gtest.h>

#include <set>

#include "crypto/pkce.hpp"

namespace flowtrack::crypto {
namespace {

TEST(pkce, the_s256_challenge_matches_rfc_7636_appendix_b) {
  EXPECT_EQ(pkce_s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(pkce, random_verifiers_are_valid_and_distinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto v = random_url_token(32);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->size(), 43u);
    EXPECT_TRUE(valid_code_verifier(*v)) << *v;
    seen.insert(*v);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(random_url_token(96)->size(), 128u);
}

TEST(pkce, verifiers_outside_the_rfc_are_refused) {
  EXPECT_FALSE(valid_code_verifier(std::string(42, 'a')));
  EXPECT_FALSE(valid_code_verifier(std::string(129, 'a')));
  EXPECT_FALSE(valid_code_verifier(std::string(42, 'a') + "+"));
  EXPECT_TRUE(valid_code_verifier(std::string(40, 'a') + "-._~"));
}

}  // namespace
}  // namespace flowtrack::crypto
