// TOTP: the RFC 6238 and RFC 4226 vectors, RFC 4648 base32, the matching window and the counter
// it returns, malformed codes, otpauth URIs and recovery codes. No servers.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "crypto/totp.hpp"

namespace flowtrack::crypto {
namespace {

const std::string k_rfc_secret = "12345678901234567890";

TEST(totp, matches_the_rfc6238_sha1_vectors) {
  const std::pair<std::int64_t, const char*> vectors[] = {
      {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
      {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
  };
  for (const auto& [t, code] : vectors) EXPECT_EQ(totp_code(k_rfc_secret, t, 8), code) << t;
  // The 6-digit codes are the last six digits.
  EXPECT_EQ(totp_code(k_rfc_secret, 59), "287082");
  EXPECT_EQ(totp_code(k_rfc_secret, 1111111109), "081804");
}

TEST(totp, matches_the_rfc4226_hotp_vectors_with_a_one_second_step) {
  const char* codes[] = {"755224", "287082", "359152", "969429", "338314",
                         "254676", "287922", "162583", "399871", "520489"};
  for (int counter = 0; counter < 10; ++counter) EXPECT_EQ(totp_code(k_rfc_secret, counter, 6, 1), codes[counter]);
}

TEST(totp, code_refuses_impossible_parameters_and_floors_negative_times) {
  EXPECT_EQ(totp_code(k_rfc_secret, 59, 0), "");
  EXPECT_EQ(totp_code(k_rfc_secret, 59, 10), "");
  EXPECT_EQ(totp_code(k_rfc_secret, 59, 6, 0), "");
  EXPECT_EQ(totp_code(k_rfc_secret, 59, 6, -30), "");
  EXPECT_EQ(totp_code(k_rfc_secret, 59, 9).size(), 9u);
  // -1 s lies in step -1, not step 0.
  EXPECT_EQ(totp_code(k_rfc_secret, -1), totp_code(k_rfc_secret, -30));
  EXPECT_NE(totp_code(k_rfc_secret, -1), totp_code(k_rfc_secret, 0));
}

TEST(totp, base32_matches_rfc4648_vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},           {"f", "MY======"},         {"fo", "MZXQ===="},        {"foo", "MZXW6==="},
      {"foob", "MZXW6YQ="}, {"fooba", "MZXW6YTB"}, {"foobar", "MZXW6YTBOI======"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base32_encode(plain), encoded);
    EXPECT_EQ(base32_decode(encoded), plain) << encoded;
    std::string bare = encoded.substr(0, encoded.find('='));
    EXPECT_EQ(base32_decode(bare), plain) << bare;
  }
  EXPECT_EQ(base32_encode(k_rfc_secret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

TEST(totp, base32_decodes_what_people_type_and_refuses_the_rest) {
  EXPECT_EQ(base32_decode("mzxw 6ytb oi"), "foobar");
  EXPECT_EQ(base32_decode("  gezd gnbv gy3t qojq gezd gnbv gy3t qojq  "), k_rfc_secret);
  EXPECT_EQ(base32_decode("MZXW6YTBOI== ===="), "foobar");
  for (const char* bad : {"M", "MZX", "MZXW6Y", "MZ", "MY=====", "MY=======", "MY=A", "MY======M", "M1", "MY0=====",
                          "MZXW6YTB========", "MZXW-6YTB", "MZXW\t6YTB", "========"})
    EXPECT_FALSE(base32_decode(bad)) << bad;
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(base32_decode(base32_encode(all)), all);
}

TEST(totp, match_accepts_one_step_either_side_and_returns_the_codes_counter) {
  const std::int64_t t = 1'800'000'015;  // step 60000000
  const std::int64_t step = t / 30;
  for (int d : {-1, 0, 1}) {
    std::string code = totp_code(k_rfc_secret, t + d * 30);
    auto m = totp_match(k_rfc_secret, code, t);
    ASSERT_TRUE(m) << d;
    EXPECT_EQ(*m, step + d);
  }
  for (int d : {-2, 2}) {
    std::string code = totp_code(k_rfc_secret, t + d * 30);
    EXPECT_FALSE(totp_match(k_rfc_secret, code, t)) << d;
    EXPECT_EQ(totp_match(k_rfc_secret, code, t, 2), step + d) << d;
  }
  std::string now_code = totp_code(k_rfc_secret, t);
  EXPECT_EQ(totp_match(k_rfc_secret, now_code, t, 0), step);
  EXPECT_FALSE(totp_match(k_rfc_secret, totp_code(k_rfc_secret, t + 30), t, 0));
  EXPECT_FALSE(totp_match(k_rfc_secret, totp_code(k_rfc_secret, t + 30), t, -5));  // negative window = 0
  EXPECT_FALSE(totp_match("another secret......", now_code, t));
}

TEST(totp, match_refuses_codes_that_are_not_six_digits) {
  const std::int64_t t = 1'111'111'109;
  std::string code = totp_code(k_rfc_secret, t);
  ASSERT_EQ(code, "081804");
  ASSERT_TRUE(totp_match(k_rfc_secret, code, t));
  for (std::string bad : {std::string(""), std::string("81804"), std::string("0818040"), std::string("07081804"),
                          std::string(" 081804"), std::string("081804 "), std::string("08180a"), std::string("08-804"),
                          std::string("+81804"), std::string("081804\n"), std::string("08180\0" "4", 6)})
    EXPECT_FALSE(totp_match(k_rfc_secret, bad, t)) << bad;
}

TEST(totp, secrets_are_20_random_bytes) {
  std::string a = totp_secret(), b = totp_secret();
  EXPECT_EQ(a.size(), 20u);
  EXPECT_EQ(b.size(), 20u);
  EXPECT_NE(a, b);
  EXPECT_EQ(base32_decode(base32_encode(a)), a);
}

TEST(totp, otpauth_uri_has_the_authenticator_shape_and_encodes_issuer_and_account) {
  EXPECT_EQ(otpauth_uri("FlowTrack", "ada@example.com", k_rfc_secret),
            "otpauth://totp/FlowTrack:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=FlowTrack"
            "&algorithm=SHA1&digits=6&period=30");
  // The secret loses its padding; ':' in the issuer cannot pass for the label's separator.
  EXPECT_EQ(otpauth_uri("Acme Co:1", "zoë&x=y?", "foobar"),
            "otpauth://totp/Acme%20Co%3A1:zo%C3%AB%26x%3Dy%3F?secret=MZXW6YTBOI&issuer=Acme%20Co%3A1"
            "&algorithm=SHA1&digits=6&period=30");
}

TEST(totp, recovery_codes_are_distinct_and_well_formed) {
  auto codes = recovery_codes();
  ASSERT_EQ(codes.size(), 10u);
  const std::regex shape("[23456789abcdefghjkmnpqrstuvwxyz]{5}-[23456789abcdefghjkmnpqrstuvwxyz]{5}");
  for (const auto& c : codes) EXPECT_TRUE(std::regex_match(c, shape)) << c;
  EXPECT_EQ(std::set<std::string>(codes.begin(), codes.end()).size(), codes.size());
  auto more = recovery_codes(500);
  ASSERT_EQ(more.size(), 500u);
  EXPECT_EQ(std::set<std::string>(more.begin(), more.end()).size(), 500u);
  // Every character of the alphabet turns up (5,000 draws of 31), and nothing else does.
  std::set<char> seen;
  for (const auto& c : more)
    for (char ch : c)
      if (ch != '-') seen.insert(ch);
  EXPECT_EQ(std::string(seen.begin(), seen.end()), std::string(k_recovery_alphabet));
  EXPECT_TRUE(recovery_codes(0).empty());
  EXPECT_TRUE(recovery_codes(-3).empty());
  EXPECT_NE(recovery_codes(1), recovery_codes(1));
}

}  // namespace
}  // namespace flowtrack::crypto
