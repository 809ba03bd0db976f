// The webhook adapter's pure parts: Standard Webhooks signatures, secrets, address ranges,
// the allow-list, and URL checks that need no network.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adapters/webhook/address_guard.hpp"
#include "adapters/webhook/endpoint_rules.hpp"
#include "adapters/webhook/signature.hpp"

namespace flowtrack::webhook {
namespace {

ip_address ip(const char* s) { return *ip_address::parse(s); }

TEST(signature, matches_the_standard_webhooks_test_vector) {
  auto key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key);
  EXPECT_EQ(sign(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(signature, a_secret_without_the_prefix_is_used_as_raw_bytes) {
  EXPECT_EQ(*signing_key("plain secret"), "plain secret");
  EXPECT_FALSE(signing_key("whsec_***"));
  EXPECT_NE(sign("a", "id", 1, "{}"), sign("b", "id", 1, "{}"));
  EXPECT_NE(sign("a", "id", 1, "{}"), sign("a", "id", 2, "{}"));
}

/// The Standard Webhooks signatures of (id, timestamp, body) under each key, computed by
/// Python's hmac (an implementation independent of ours), space-separated. Keys and body go
/// hex-encoded on the command line so any byte survives.
std::string python_signatures(const std::vector<std::string>& keys, const std::string& id, std::int64_t timestamp,
                              const std::string& body) {
  auto hex = [](const std::string& s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) out.append(1, digits[c >> 4]).append(1, digits[c & 15]);
    return out;
  };
  std::string cmd =
      "/usr/bin/python3 -c 'import base64,hashlib,hmac,sys; "
      "msg=bytes.fromhex(sys.argv[1]); "
      "print(\" \".join(\"v1,\"+base64.b64encode(hmac.new(bytes.fromhex(k),msg,hashlib.sha256).digest()).decode() "
      "for k in sys.argv[2:]))' " +
      hex(id + "." + std::to_string(timestamp) + "." + body);
  for (const auto& k : keys) cmd.append(" ").append(k.empty() ? std::string("''") : hex(k));
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) return "popen failed";
  std::string out;
  std::array<char, 256> buf{};
  while (auto n = fread(buf.data(), 1, buf.size(), pipe.get())) out.append(buf.data(), n);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(signature, sign_all_matches_an_independent_hmac_for_one_key) {
  auto key = *signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  std::string body = R"({"lead":{"name":"Zoë","note":"a.b.c"}})";
  auto ours = sign_all({key}, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1733184000, body);
  EXPECT_EQ(ours, python_signatures({key}, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1733184000, body));
  EXPECT_EQ(ours.rfind("v1,", 0), 0u) << ours;
  EXPECT_EQ(ours.find(' '), std::string::npos) << ours;
  EXPECT_EQ(ours, sign(key, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1733184000, body));
}

TEST(signature, sign_all_signs_with_both_keys_during_a_rotation) {
  std::vector<std::string> keys = {*signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                                   std::string("old\x00\xff raw key", 13)};
  std::string body = "{\"bytes\":\"\xc3\xa9\"}";
  auto ours = sign_all(keys, "msg_1", 1614265330, body);
  EXPECT_EQ(ours, python_signatures(keys, "msg_1", 1614265330, body));
  auto space = ours.find(' ');
  ASSERT_NE(space, std::string::npos) << ours;
  EXPECT_EQ(ours.substr(0, space), sign(keys[0], "msg_1", 1614265330, body));  // the current key first
  EXPECT_EQ(ours.substr(space + 1), sign(keys[1], "msg_1", 1614265330, body));
  EXPECT_NE(ours.substr(0, space), ours.substr(space + 1));
  EXPECT_EQ(sign_all({}, "msg_1", 1, "{}"), "");
}

TEST(signature, reveal_secret_decrypts_a_sealed_value_for_its_row_only) {
  auto keys = *crypto::keyring::from_hex(std::string(64, '1'));
  auto sealed = keys.seal("whsec_abc", "webhook_endpoints.secret_key:e1");
  ASSERT_TRUE(sealed);
  auto opened = reveal_secret(keys, *sealed, "webhook_endpoints.secret_key:e1");
  ASSERT_TRUE(opened.ok()) << opened.err().message;
  EXPECT_EQ(*opened, "whsec_abc");
  // Another row, a plaintext value, and a node without the key: errors without the value.
  auto moved = reveal_secret(keys, *sealed, "webhook_endpoints.secret_key:e2");
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.err().code, error_code::invalid);
  auto plain = reveal_secret(keys, "whsec_abc", "webhook_endpoints.secret_key:e1");
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.err().code, error_code::invalid);
  EXPECT_EQ(plain.err().message.find("whsec_abc"), std::string::npos);
  auto keyless = reveal_secret(crypto::keyring{}, *sealed, "webhook_endpoints.secret_key:e1");
  ASSERT_FALSE(keyless.ok());
  EXPECT_EQ(keyless.err().code, error_code::unavailable);
  EXPECT_NE(keyless.err().message.find("encryption_key"), std::string::npos);
  auto other = reveal_secret(*crypto::keyring::from_hex(std::string(64, '2')), *sealed, "webhook_endpoints.secret_key:e1");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.err().code, error_code::unavailable);
  EXPECT_NE(other.err().message.find(keys.current_id()), std::string::npos) << other.err().message;
}

TEST(base64, round_trips_with_and_without_padding) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)}) {
    auto enc = base64_encode(s);
    EXPECT_EQ(*base64_decode(enc), s) << enc;
    while (!enc.empty() && enc.back() == '=') enc.pop_back();
    EXPECT_EQ(*base64_decode(enc), s) << enc;
  }
  EXPECT_FALSE(base64_decode("ab$d"));
  EXPECT_FALSE(base64_decode("a"));
}

TEST(address_ranges, classifies_private_and_special_ranges) {
  struct c {
    const char* addr;
    const char* why;  // nullptr: public
  };
  for (auto [addr, why] : std::vector<c>{
           {"127.0.0.1", "loopback"},        {"127.255.0.9", "loopback"},      {"10.0.0.1", "private"},
           {"172.16.0.1", "private"},        {"172.31.255.255", "private"},    {"172.32.0.1", nullptr},
           {"192.168.1.1", "private"},       {"169.254.169.254", "link-local"}, {"100.64.0.1", "shared (CGNAT)"},
           {"100.127.255.255", "shared (CGNAT)"}, {"100.128.0.1", nullptr},    {"0.0.0.0", "unspecified"},
           {"224.0.0.1", "multicast"},       {"255.255.255.255", "reserved"},  {"8.8.8.8", nullptr},
           {"93.184.216.34", nullptr},       {"::1", "loopback"},              {"::", "unspecified"},
           {"fd12:3456::1", "private (unique local)"}, {"fe80::1", "link-local"}, {"ff02::1", "multicast"},
           {"::ffff:127.0.0.1", "loopback"}, {"::ffff:8.8.8.8", "IPv4-mapped"},      {"64:ff9b::a00:1", "private"},
           {"2002:7f00:1::", "loopback"},    {"2001:4860:4860::8888", nullptr}, {"::127.0.0.1", "reserved"}}) {
    auto got = restricted_range(ip(addr));
    if (why) {
      ASSERT_TRUE(got) << addr;
      EXPECT_EQ(*got, why) << addr;
    } else {
      EXPECT_FALSE(got) << addr << " is " << *got;
    }
  }
}

TEST(address_ranges, refuses_documentation_teredo_and_other_special_ranges) {
  struct c {
    const char* addr;
    const char* why;  // nullptr: public
  };
  for (auto [addr, why] : std::vector<c>{
           {"192.0.2.1", "documentation"},       {"198.51.100.200", "documentation"}, {"203.0.113.9", "documentation"},
           {"192.0.1.255", nullptr},             {"198.51.101.0", nullptr},           {"203.0.114.1", nullptr},
           {"192.88.99.1", "reserved"},          {"198.19.255.255", "reserved"},      {"2001:db8::1", "documentation"},
           {"2001:db8:ffff::1", "documentation"}, {"3fff::1", "documentation"},       {"3fff:fff:ffff::1", "documentation"},
           {"3fff:1000::1", nullptr},            {"2001::1", "Teredo"},               {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
           {"2001:2::1", "reserved"},            {"2001:10::1", "reserved"},          {"2001:200::1", nullptr},
           {"::ffff:0:0", "unspecified"},        {"::ffff:1.1.1.1", "IPv4-mapped"},   {"::ffff:0:8.8.8.8", "reserved"},
           {"100::1", "reserved"},               {"5f00::1", "reserved"},             {"2606:4700::1111", nullptr},
           {"64:ff9b::c000:201", "documentation"}, {"2002:c633:6401::", "documentation"}}) {
    auto got = restricted_range(ip(addr));
    if (why) {
      ASSERT_TRUE(got) << addr;
      EXPECT_EQ(*got, why) << addr;
    } else {
      EXPECT_FALSE(got) << addr << " is " << *got;
    }
  }
}

TEST(cidr, parses_and_matches) {
  auto net = cidr::parse("127.0.0.0/8");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(ip("127.9.9.9")));
  EXPECT_TRUE(net->contains(ip("::ffff:127.0.0.1")));
  EXPECT_FALSE(net->contains(ip("128.0.0.1")));
  EXPECT_FALSE(net->contains(ip("::1")));
  EXPECT_TRUE(cidr::parse("10.1.2.0/23")->contains(ip("10.1.3.255")));
  EXPECT_FALSE(cidr::parse("10.1.2.0/23")->contains(ip("10.1.4.0")));
  EXPECT_TRUE(cidr::parse("fd00::/8")->contains(ip("fd12::1")));
  EXPECT_TRUE(cidr::parse("192.168.1.7")->contains(ip("192.168.1.7")));
  EXPECT_TRUE(cidr::parse("0.0.0.0/0")->contains(ip("1.2.3.4")));
  for (const char* bad : {"", "/8", "127.0.0.0/33", "::/129", "127.0.0.0/", "127.0.0.0/x", "localhost/8", "1.2.3/8"})
    EXPECT_FALSE(cidr::parse(bad)) << bad;
}

TEST(address_policy, allows_public_and_allow_listed_addresses_only) {
  address_policy strict;
  EXPECT_FALSE(strict.refusal(ip("8.8.8.8")));
  auto why = strict.refusal(ip("127.0.0.1"));
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "loopback");
  auto relaxed = address_policy::from_strings({"127.0.0.0/8", "fd00::/8"});
  ASSERT_TRUE(relaxed.ok());
  EXPECT_FALSE(relaxed->refusal(ip("127.0.0.1")));
  EXPECT_FALSE(relaxed->refusal(ip("::ffff:127.0.0.1")));
  EXPECT_FALSE(relaxed->refusal(ip("fd00::5")));
  EXPECT_TRUE(relaxed->refusal(ip("10.0.0.1")));
  EXPECT_TRUE(relaxed->refusal(ip("::1")));
  auto bad = address_policy::from_strings({"127.0.0.0/8", "nonsense"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().subject, "webhook_allow");
}

TEST(check_target, takes_http_and_https_urls_apart) {
  auto t = check_target("https://93.184.216.34/hook?x=1", address_policy{});
  ASSERT_TRUE(t.ok()) << t.err().message;
  EXPECT_EQ(t->scheme, "https");
  EXPECT_EQ(t->port, 443);
  EXPECT_EQ(t->origin, "https://93.184.216.34:443");
  EXPECT_TRUE(t->literal);
  EXPECT_TRUE(t->pins().empty());
  auto v6 = check_target("http://[2001:4860:4860::8888]:8080/", address_policy{});
  ASSERT_TRUE(v6.ok()) << v6.err().message;
  EXPECT_EQ(v6->port, 8080);
  EXPECT_EQ(v6->addresses.at(0), ip("2001:4860:4860::8888"));
}

TEST(check_target, refuses_other_schemes_credentials_and_private_addresses) {
  for (const char* url : {"ftp://93.184.216.34/", "file:///etc/passwd", "http://u:p@93.184.216.34/", "http://",
                          "//93.184.216.34/", "93.184.216.34", "http://93.184.216.34:0/", "http://[fe80::1%25eth0]/"}) {
    auto t = check_target(url, address_policy{});
    ASSERT_FALSE(t.ok()) << url;
    EXPECT_EQ(t.err().code, error_code::invalid) << url;
  }
  for (const char* url : {"http://127.0.0.1/", "http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/",
                          "http://[::1]/", "http://[::ffff:10.0.0.1]/", "http://localhost/"}) {
    auto t = check_target(url, address_policy{});
    ASSERT_FALSE(t.ok()) << url;
    EXPECT_EQ(t.err().code, error_code::invalid) << url;
    EXPECT_NE(t.err().message.find("address not allowed"), std::string::npos) << t.err().message;
  }
  for (const char* url : {"http://192.0.2.10/", "https://[2001:db8::5]/", "http://[3fff::1]/", "http://[2001::53]/",
                          "http://[::ffff:8.8.8.8]/", "http://198.51.100.1:8443/x"}) {
    auto t = check_target(url, address_policy{});
    ASSERT_FALSE(t.ok()) << url;
    EXPECT_EQ(t.err().code, error_code::invalid) << url;
  }
}

TEST(check_target, a_refused_name_does_not_say_where_it_resolved) {
  auto t = check_target("http://localhost:9/secret-path?token=abc", address_policy{});
  ASSERT_FALSE(t.ok());
  const auto& m = t.err().message;
  EXPECT_NE(m.find("address not allowed for http://localhost:9"), std::string::npos) << m;
  for (const char* leak : {"127.", "::1", "loopback", "secret-path", "token"}) EXPECT_EQ(m.find(leak), std::string::npos) << leak << " in " << m;
  // A literal address is the user's own text: its range may be named.
  auto literal = check_target("http://10.1.2.3/", address_policy{});
  ASSERT_FALSE(literal.ok());
  EXPECT_NE(literal.err().message.find("private"), std::string::npos) << literal.err().message;
}

TEST(check_target, pins_a_resolved_name_to_the_addresses_it_checked) {
  auto allow = *address_policy::from_strings({"127.0.0.0/8"});
  auto t = check_target("http://localhost:8080/x", allow);
  ASSERT_TRUE(t.ok()) << t.err().message;
  EXPECT_FALSE(t->literal);
  ASSERT_FALSE(t->addresses.empty());
  for (const auto& a : t->addresses) EXPECT_TRUE(a.unmapped().v4) << a.to_string() << " (::1 is not allowed)";
  ASSERT_EQ(t->pins().size(), 1u);
  EXPECT_EQ(t->pins()[0].rfind("localhost:8080:127.0.0.1", 0), 0u) << t->pins()[0];
}

storage::new_webhook_endpoint good_endpoint() {
  storage::new_webhook_endpoint e;
  e.url = "https://93.184.216.34/hooks";
  e.events = {"lead.created", "execution.failed"};
  return e;
}

TEST(endpoint_rules, accepts_the_issue_12_events_and_star) {
  auto e = good_endpoint();
  EXPECT_TRUE(check_new_endpoint(e, address_policy{}).ok());
  e.events.clear();
  for (auto n : webhook_event_names()) e.events.emplace_back(n);
  EXPECT_EQ(e.events.size(), 9u);
  EXPECT_TRUE(check_new_endpoint(e, address_policy{}).ok());
}

TEST(endpoint_rules, names_the_field_that_is_wrong) {
  struct c {
    std::function<void(storage::new_webhook_endpoint&)> spoil;
    const char* field;
  };
  for (const auto& [spoil, field] : std::vector<c>{
           {[](auto& e) { e.events = {}; }, "events"},
           {[](auto& e) { e.events = {"lead.deleted"}; }, "events"},
           {[](auto& e) { e.events = {"lead.created", "lead.created"}; }, "events"},
           {[](auto& e) { e.max_retries = -1; }, "max-retries"},
           {[](auto& e) { e.max_retries = 51; }, "max-retries"},
           {[](auto& e) { e.retry_delay_seconds = 0; }, "retry-delay"},
           {[](auto& e) { e.description = std::string(256, 'd'); }, "description"},
           {[](auto& e) { e.auth_header_name = "webhook-signature"; e.auth_header_value = "x"; }, "auth-header"},
           {[](auto& e) { e.auth_header_name = "Bad Name"; e.auth_header_value = "x"; }, "auth-header"},
           {[](auto& e) { e.auth_header_name = "Authorization"; e.auth_header_value = "a\r\nb"; }, "auth-header"},
           {[](auto& e) { e.auth_header_name = "Authorization"; e.auth_header_value = ""; }, "auth-header"},
           {[](auto& e) { e.url = "ftp://93.184.216.34/"; }, "url"},
           {[](auto& e) { e.url = "http://192.0.2.1/"; }, "url"},
       }) {
    auto e = good_endpoint();
    spoil(e);
    auto r = check_new_endpoint(e, address_policy{});
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.err().code, error_code::invalid) << field;
    EXPECT_EQ(r.err().subject, field) << r.err().message;
  }
  auto e = good_endpoint();
  e.description = std::string(255, 'd');
  e.max_retries = 0;
  e.retry_delay_seconds = 86400;
  e.auth_header_name = "X-Api-Key";
  e.auth_header_value = "k";
  EXPECT_TRUE(check_new_endpoint(e, address_policy{}).ok());
  e.url = "http://127.0.0.1:8080/";
  EXPECT_FALSE(check_new_endpoint(e, address_policy{}).ok());
  EXPECT_TRUE(check_new_endpoint(e, *address_policy::from_strings({"127.0.0.0/8"})).ok());
}

TEST(endpoint_rules, new_secrets_are_whsec_and_32_random_bytes) {
  auto a = new_webhook_secret(), b = new_webhook_secret();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->rfind("whsec_", 0), 0u);
  auto key = signing_key(*a);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), 32u);
}

}  // namespace
}  // namespace flowtrack::webhook
