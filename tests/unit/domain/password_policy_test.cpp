// The password policy: each problem code and its boundaries (code points, bytes), UTF-8
// validity, the compiled-in common-password list (checked entry by entry against the file in
// the repository), and the email. No servers.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "domain/password_policy.hpp"

namespace flowtrack::domain {
namespace {

constexpr std::string_view k_email = "dana.fischer@example.com";

/// The code of the problem, or "" when the password is accepted.
std::string code_of(std::string_view password, std::string_view email = k_email) {
  auto p = check_password(password, email);
  if (p) {
    EXPECT_FALSE(p->message.empty()) << p->code;
  }
  return p ? p->code : std::string();
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

TEST(password_policy, accepts_an_uncommon_password_of_ten_or_more_characters) {
  EXPECT_EQ(code_of("violet kettle"), "");
  EXPECT_EQ(code_of("xq7#Lp2vRz"), "");  // exactly 10
  EXPECT_EQ(code_of("onlylowercaseletters"), "");  // no composition rules
  EXPECT_EQ(code_of("a long passphrase with spaces in it"), "");
}

TEST(password_policy, too_short_below_ten_code_points) {
  EXPECT_EQ(code_of(""), "too_short");
  EXPECT_EQ(code_of("x"), "too_short");
  EXPECT_EQ(code_of("xq7#Lp2vR"), "too_short");  // 9
  EXPECT_EQ(code_of("xq7#Lp2vRz"), "");          // 10
  auto p = check_password("short", k_email);
  ASSERT_TRUE(p);
  EXPECT_NE(p->message.find("10"), std::string::npos) << p->message;
}

TEST(password_policy, multibyte_characters_count_once) {
  const std::string e_acute = "\xc3\xa9";           // é, 2 bytes
  const std::string euro = "\xe2\x82\xac";          // €, 3 bytes
  const std::string emoji = "\xf0\x9f\x94\x91";     // U+1F511, 4 bytes
  EXPECT_EQ(code_of(repeat(e_acute, 9)), "too_short");  // 18 bytes, 9 characters
  EXPECT_EQ(code_of(repeat(e_acute, 10)), "");
  EXPECT_EQ(code_of(repeat(euro, 9)), "too_short");
  EXPECT_EQ(code_of(repeat(euro, 10)), "");
  EXPECT_EQ(code_of(repeat(emoji, 9)), "too_short");  // 36 bytes, 9 characters
  EXPECT_EQ(code_of(repeat(emoji, 10)), "");
  EXPECT_EQ(code_of("caf" + e_acute + "-au-l"), "too_short");  // 9 characters, 10 bytes
  EXPECT_EQ(code_of("caf" + e_acute + "-au-la"), "");
}

TEST(password_policy, long_passwords_are_accepted_up_to_1024_bytes) {
  EXPECT_EQ(code_of(repeat("q7", 64)), "");                      // 128 characters
  EXPECT_EQ(code_of(repeat("\xe2\x82\xac", 128)), "");           // 128 characters, 384 bytes
  EXPECT_EQ(code_of(repeat("\xf0\x9f\x94\x91", 128)), "");       // 128 characters, 512 bytes
  EXPECT_EQ(code_of(repeat("\xf0\x9f\x94\x91", 256)), "");       // 1024 bytes
  EXPECT_EQ(code_of(std::string(1024, 'q')), "");
  EXPECT_EQ(code_of(std::string(1025, 'q')), "too_long");
  EXPECT_EQ(code_of(repeat("\xf0\x9f\x94\x91", 256) + "q"), "too_long");
  EXPECT_EQ(code_of(std::string(100000, 'q')), "too_long");
}

TEST(password_policy, invalid_utf8_is_refused) {
  const std::string pad = "abcdefghijkl";
  for (std::string bad : {std::string("\x80"), std::string("\xbf"),           // lone continuation bytes
                          std::string("\xc0\xaf"), std::string("\xc1\xbf"),   // overlong 2-byte
                          std::string("\xe0\x80\xaf"),                        // overlong 3-byte
                          std::string("\xf0\x80\x80\xaf"),                    // overlong 4-byte
                          std::string("\xed\xa0\x80"), std::string("\xed\xbf\xbf"),  // surrogates
                          std::string("\xf4\x90\x80\x80"), std::string("\xf5\x80\x80\x80"),  // above U+10FFFF
                          std::string("\xfe"), std::string("\xff"),
                          std::string("\xc3"), std::string("\xe2\x82"), std::string("\xf0\x9f\x94"),  // cut short
                          std::string("\xc3\x28")}) {                          // bad continuation
    EXPECT_EQ(code_of(pad + bad), "invalid_utf8") << "trailing";
    EXPECT_EQ(code_of(bad + pad), "invalid_utf8") << "leading";
  }
  // The edges of the valid ranges are accepted.
  EXPECT_EQ(code_of(pad + "\xed\x9f\xbf" + "\xee\x80\x80" + "\xf4\x8f\xbf\xbf" + "\xc2\x80"), "");
  EXPECT_EQ(code_of(std::string("abcdefghij\0k", 12)), "");  // NUL is a character
}

TEST(password_policy, too_long_is_reported_before_invalid_utf8_and_invalid_utf8_before_too_short) {
  EXPECT_EQ(code_of(std::string(1025, '\xff')), "too_long");
  EXPECT_EQ(code_of("\xff"), "invalid_utf8");
}

TEST(password_policy, entries_of_the_common_list_are_refused_in_any_case) {
  // Entries of domain/data/common-passwords.txt with at least 10 characters.
  for (std::string pw : {"qwertyuiop", "1234567890", "password123", "1q2w3e4r5t", "basketball", "harrypotter"}) {
    EXPECT_EQ(code_of(pw), "common") << pw;
    std::string upper = pw;
    for (char& c : upper)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    EXPECT_EQ(code_of(upper), "common") << upper;
  }
  EXPECT_EQ(code_of("QwErTyUiOp"), "common");
  EXPECT_EQ(code_of("PASSWORD12"), "common");
  EXPECT_EQ(code_of("sojdlg123aljg"), "common");  // listed as Sojdlg123aljg
  EXPECT_EQ(code_of("iloveyou12"), "");           // not listed
  EXPECT_EQ(code_of("qwertyuiop!"), "");          // not equal to an entry
  EXPECT_EQ(code_of(" qwertyuiop"), "");
  // Short entries are in the list too, but too_short is what their owner hears.
  EXPECT_TRUE(is_common_password("123456"));
  EXPECT_TRUE(is_common_password("PASSWORD"));
  EXPECT_EQ(code_of("password"), "too_short");
  EXPECT_FALSE(is_common_password(""));
}

TEST(password_policy, every_entry_of_the_file_is_compiled_in) {
  std::ifstream file(FLOWTRACK_COMMON_PASSWORDS_FILE);
  ASSERT_TRUE(file) << FLOWTRACK_COMMON_PASSWORDS_FILE;
  std::string line;
  ASSERT_TRUE(std::getline(file, line));
  EXPECT_EQ(line.rfind("# ", 0), 0u) << "the first line names the source and licence";
  EXPECT_NE(line.find("MIT"), std::string::npos);
  std::size_t entries = 0, long_entries = 0;
  while (std::getline(file, line)) {
    ASSERT_FALSE(line.empty()) << "after entry " << entries;
    ++entries;
    EXPECT_TRUE(is_common_password(line)) << line;
    if (line.size() >= 10) {
      ++long_entries;
      EXPECT_EQ(code_of(line), "common") << line;
    }
  }
  EXPECT_EQ(entries, 10000u);
  EXPECT_GT(long_entries, 100u);
  // 10,000 entries, 87 of them differing from another only in case ("password123", "Password123").
  EXPECT_EQ(common_password_count(), 9913u);
}

TEST(password_policy, the_email_and_its_local_part_are_refused_in_any_case) {
  EXPECT_EQ(code_of("dana.fischer@example.com"), "same_as_email");
  EXPECT_EQ(code_of("Dana.Fischer@Example.COM"), "same_as_email");
  EXPECT_EQ(code_of("dana.fischer"), "same_as_email");
  EXPECT_EQ(code_of("DANA.FISCHER"), "same_as_email");
  EXPECT_EQ(code_of("dana.fischer@example.org"), "");  // another address
  EXPECT_EQ(code_of("dana.fischer!"), "");             // not equal
  EXPECT_EQ(code_of("example.com"), "");               // the domain is not the local part
  // A short local part is refused as too short first; the last @ splits a quoted local part.
  EXPECT_EQ(code_of("abc", "abc@example.com"), "too_short");
  EXPECT_EQ(code_of("\"a@b\".longname", "\"a@b\".longname@example.com"), "same_as_email");
  // No email: nothing to compare; an email without @ is compared whole.
  EXPECT_EQ(code_of("dana.fischer", ""), "");
  EXPECT_EQ(code_of("localonlyname", "localonlyname"), "same_as_email");
  // A listed password that is also the local part is reported as same_as_email.
  EXPECT_EQ(code_of("basketball", "basketball@example.com"), "same_as_email");
}

}  // namespace
}  // namespace flowtrack::domain
