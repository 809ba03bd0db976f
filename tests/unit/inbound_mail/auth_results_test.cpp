// Authentication-Results (RFC 8601): verdicts read from real-world header shapes, and only from a
// header whose authserv-id the operator trusts.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "domain/mail/auth_results.hpp"
#include "domain/mail/message.hpp"

namespace {

using namespace flowtrack::domain::mail;

const auth_verdict* find(const auth_results& r, const std::string& method) {
  for (const auto& v : r.verdicts)
    if (v.method == method) return &v;
  return nullptr;
}

TEST(inbound_mail_auth_results, reads_a_gmail_style_header) {
  auto r = parse_auth_results(
      "mx.google.com;\r\n       dkim=pass header.i=@brightpath.io header.s=s1 header.b=Abc123;\r\n"
      "       spf=pass (google.com: domain of nina@brightpath.io designates 1.2.3.4 as permitted sender) "
      "smtp.mailfrom=nina@BrightPath.io;\r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=brightpath.io");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->authserv_id, "mx.google.com");
  ASSERT_EQ(r->verdicts.size(), 3u);
  EXPECT_EQ(find(*r, "dkim")->result, "pass");
  EXPECT_EQ(find(*r, "dkim")->domain, "brightpath.io");  // header.i's domain when header.d is absent
  EXPECT_EQ(find(*r, "spf")->result, "pass");
  EXPECT_EQ(find(*r, "spf")->domain, "brightpath.io");
  EXPECT_EQ(find(*r, "dmarc")->domain, "brightpath.io");
}

TEST(inbound_mail_auth_results, handles_versions_spaces_quotes_and_comments) {
  auto r = parse_auth_results(
      "MX.Example.COM 1 (a comment; with a semicolon); spf = softfail reason=\"a; b\" smtp.helo=relay.other.org; "
      "dkim/1=fail (bad (nested) sig) header.d=Signer.example header.i=x@ignored.example; iprev=pass policy.iprev=1.2.3.4");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->authserv_id, "mx.example.com");
  ASSERT_EQ(r->verdicts.size(), 3u);
  EXPECT_EQ(find(*r, "spf")->result, "softfail");
  EXPECT_EQ(find(*r, "spf")->domain, "relay.other.org");
  EXPECT_EQ(find(*r, "dkim")->result, "fail");
  EXPECT_EQ(find(*r, "dkim")->domain, "signer.example");  // header.d wins over header.i
  EXPECT_EQ(find(*r, "iprev")->result, "pass");
}

TEST(inbound_mail_auth_results, none_and_malformed_entries_give_no_verdicts) {
  auto none = parse_auth_results("mx.example.com; none");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->verdicts.empty());
  auto broken = parse_auth_results("mx.example.com; =pass; spf=; dkim pass; dmarc=fail");
  ASSERT_TRUE(broken);
  ASSERT_EQ(broken->verdicts.size(), 1u);
  EXPECT_EQ(broken->verdicts[0].method, "dmarc");
  EXPECT_FALSE(parse_auth_results(""));
  EXPECT_FALSE(parse_auth_results("  (only a comment)  "));
  EXPECT_FALSE(parse_auth_results("= spf=pass"));
}

TEST(inbound_mail_auth_results, only_a_trusted_servers_topmost_header_counts) {
  message m;
  m.authentication_results = {
      "attacker.example; spf=pass smtp.mailfrom=ceo@bank.example",  // added by someone we do not trust
      "mx.trusted.example; spf=fail smtp.mailfrom=ceo@bank.example; dkim=none",
      "mx.trusted.example; spf=pass smtp.mailfrom=ceo@bank.example",  // lower: older, forged or stale
  };
  EXPECT_FALSE(trusted_auth_results(m, {}));
  EXPECT_FALSE(trusted_auth_results(m, {"other.example"}));
  auto r = trusted_auth_results(m, {"other.example", "MX.Trusted.Example"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->authserv_id, "mx.trusted.example");
  ASSERT_EQ(r->verdicts.size(), 2u);
  EXPECT_EQ(r->verdicts[0].method, "spf");
  EXPECT_EQ(r->verdicts[0].result, "fail");
  EXPECT_EQ(r->verdicts[1].result, "none");
}

TEST(inbound_mail_auth_results, survives_hostile_input) {
  std::string deep(5000, '(');
  EXPECT_FALSE(parse_auth_results(deep));
  std::string many = "mx.example.com";
  for (int i = 0; i < 2000; ++i) many += "; spf=pass";
  auto r = parse_auth_results(many);
  ASSERT_TRUE(r);
  EXPECT_LT(r->verdicts.size(), 2000u);  // the value is read up to its cap, not beyond
  EXPECT_TRUE(parse_auth_results("mx.example.com; spf=\"unterminated"));
}

}  // namespace
