// Address ranges, the allow-list, and URL checking with libcurl's URL parser and getaddrinfo.
#include "adapters/webhook/address_guard.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

namespace flowtrack::webhook {
namespace {

struct range {
  cidr net;
  std::string_view name;
};

cidr must_parse(std::string_view text) { return *cidr::parse(text); }

// Ranges webhooks may not reach unless allow-listed. Order matters only for the name shown.
const std::vector<range>& v4_ranges() {
  static const std::vector<range> r = {
      {must_parse("0.0.0.0/8"), "unspecified"},
      {must_parse("10.0.0.0/8"), "private"},
      {must_parse("100.64.0.0/10"), "shared (CGNAT)"},
      {must_parse("127.0.0.0/8"), "loopback"},
      {must_parse("169.254.0.0/16"), "link-local"},
      {must_parse("172.16.0.0/12"), "private"},
      {must_parse("192.0.0.0/24"), "reserved"},
      {must_parse("192.0.2.0/24"), "documentation"},
      {must_parse("192.88.99.0/24"), "reserved"},  // 6to4 relay anycast, deprecated
      {must_parse("192.168.0.0/16"), "private"},
      {must_parse("198.18.0.0/15"), "reserved"},  // benchmarking
      {must_parse("198.51.100.0/24"), "documentation"},
      {must_parse("203.0.113.0/24"), "documentation"},
      {must_parse("224.0.0.0/4"), "multicast"},
      {must_parse("240.0.0.0/4"), "reserved"},  // includes 255.255.255.255
  };
  return r;
}

const std::vector<range>& v6_ranges() {
  static const std::vector<range> r = {
      {must_parse("::/128"), "unspecified"},
      {must_parse("::1/128"), "loopback"},
      {must_parse("::/96"), "reserved"},  // IPv4-compatible, deprecated
      {must_parse("::ffff:0:0/96"), "IPv4-mapped"},
      {must_parse("::ffff:0:0:0/96"), "reserved"},  // IPv4-translated (SIIT)
      {must_parse("64:ff9b:1::/48"), "private"},
      {must_parse("100::/64"), "reserved"},  // discard
      {must_parse("2001::/32"), "Teredo"},
      {must_parse("2001::/23"), "reserved"},  // IETF protocol assignments (benchmarking, ORCHID, ...)
      {must_parse("2001:db8::/32"), "documentation"},
      {must_parse("3fff::/20"), "documentation"},
      {must_parse("5f00::/16"), "reserved"},  // SRv6 SIDs
      {must_parse("fc00::/7"), "private (unique local)"},
      {must_parse("fe80::/10"), "link-local"},
      {must_parse("fec0::/10"), "private (site-local)"},
      {must_parse("ff00::/8"), "multicast"},
  };
  return r;
}

ip_address v4_from(const std::uint8_t* b) {
  ip_address a;
  a.v4 = true;
  std::copy_n(b, 4, a.bytes.begin());
  return a;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct curl_url_deleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

/// One part of a parsed URL, or nullopt when it is absent.
std::optional<std::string> url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* out = nullptr;
  if (curl_url_get(u, part, &out, flags) != CURLUE_OK || !out) return std::nullopt;
  std::string s(out);
  curl_free(out);
  return s;
}

error bad_url(const std::string& what) {
  return make_error(error_code::invalid, "webhook url " + what, "url");
}

}  // namespace

std::optional<ip_address> ip_address::parse(std::string_view text) {
  std::string s(text);
  ip_address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.v4 = true;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) return a;
  return std::nullopt;
}

std::optional<ip_address> ip_address::from_sockaddr(const sockaddr* sa) {
  if (!sa) return std::nullopt;
  ip_address a;
  if (sa->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    a.v4 = true;
    std::memcpy(a.bytes.data(), &in.sin_addr, 4);
    return a;
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    std::memcpy(a.bytes.data(), &in6.sin6_addr, 16);
    return a;
  }
  return std::nullopt;
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(v4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

ip_address ip_address::unmapped() const {
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!v4 && std::equal(bytes.begin(), bytes.begin() + 12, mapped)) return v4_from(bytes.data() + 12);
  return *this;
}

std::optional<cidr> cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = ip_address::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  int max = addr->v4 ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    prefix = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > max) return std::nullopt;
  }
  return cidr{*addr, prefix};
}

bool cidr::contains(const ip_address& a) const {
  ip_address x = a.unmapped();
  if (x.v4 != base.v4) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (!std::equal(x.bytes.begin(), x.bytes.begin() + full, base.bytes.begin())) return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (x.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::optional<std::string_view> restricted_range(const ip_address& address) {
  ip_address a = address.unmapped();
  if (a.v4) {
    for (const auto& r : v4_ranges())
      if (r.net.contains(a)) return r.name;
    // An IPv4-mapped IPv6 address is refused even for a public IPv4 address: a receiver is
    // reached by its own address family, and mapped forms are a classic way around filters.
    if (!address.v4) return "IPv4-mapped";
    return std::nullopt;
  }
  // IPv6 forms that carry an IPv4 address reach it: judge them by it.
  static const cidr nat64 = must_parse("64:ff9b::/96");
  static const cidr six_to_four = must_parse("2002::/16");
  if (nat64.contains(a)) return restricted_range(v4_from(a.bytes.data() + 12));
  if (six_to_four.contains(a)) return restricted_range(v4_from(a.bytes.data() + 2));
  for (const auto& r : v6_ranges())
    if (r.net.contains(a)) return r.name;
  return std::nullopt;
}

result<address_policy> address_policy::from_strings(const std::vector<std::string>& allow) {
  std::vector<cidr> nets;
  for (const auto& s : allow) {
    auto c = cidr::parse(s);
    if (!c) return make_error(error_code::invalid, "'" + s + "' is not a CIDR such as 127.0.0.0/8", "webhook_allow");
    nets.push_back(*c);
  }
  return address_policy(std::move(nets));
}

std::optional<std::string> address_policy::refusal(const ip_address& a) const {
  for (const auto& net : allow_)
    if (net.contains(a)) return std::nullopt;
  if (auto why = restricted_range(a)) return std::string(*why);
  return std::nullopt;
}

std::vector<std::string> checked_target::pins() const {
  if (literal || addresses.empty()) return {};
  std::string list;
  for (const auto& a : addresses) {
    if (!list.empty()) list += ',';
    if (a.v4)
      list += a.to_string();
    else
      list.append(1, '[').append(a.to_string()).append(1, ']');
  }
  std::vector<std::string> out{host + ":" + std::to_string(port) + ":" + list};
  // libcurl may look a name up with or without its trailing dot: pin both spellings.
  if (host.size() > 1 && host.back() == '.')
    out.push_back(host.substr(0, host.size() - 1) + ":" + std::to_string(port) + ":" + list);
  return out;
}

result<checked_target> check_target(std::string_view url, const address_policy& policy) {
  std::unique_ptr<CURLU, curl_url_deleter> u(curl_url());
  if (!u) return make_error(error_code::internal, "could not allocate a URL parser");
  if (url.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos)
    return bad_url("contains a control character");
  if (curl_url_set(u.get(), CURLUPART_URL, std::string(url).c_str(), 0) != CURLUE_OK)
    return bad_url("is not an absolute http:// or https:// URL");

  checked_target t;
  t.scheme = lower(url_part(u.get(), CURLUPART_SCHEME).value_or(""));
  if (t.scheme != "http" && t.scheme != "https") return bad_url("must use http or https");
  if (url_part(u.get(), CURLUPART_USER) || url_part(u.get(), CURLUPART_PASSWORD))
    return bad_url("must not carry user:password; set the endpoint's auth header instead");
  if (url_part(u.get(), CURLUPART_ZONEID)) return bad_url("must not name an IPv6 zone");
  t.host = lower(url_part(u.get(), CURLUPART_HOST).value_or(""));
  if (t.host.empty()) return bad_url("has no host");
  auto port = url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  t.port = port ? std::atoi(port->c_str()) : 0;
  if (t.port <= 0 || t.port > 65535) return bad_url("has no usable port");
  t.origin = t.scheme + "://" + t.host + ":" + std::to_string(t.port);
  auto normalised = url_part(u.get(), CURLUPART_URL);
  if (!normalised) return bad_url("is not an absolute http:// or https:// URL");
  t.url = std::move(*normalised);

  std::string bare = t.host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  std::vector<ip_address> found;
  if (auto literal = ip_address::parse(bare)) {
    t.literal = true;
    found.push_back(*literal);
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(bare.c_str(), std::to_string(t.port).c_str(), &hints, &res);
    if (rc != 0 || !res)
      return make_error(error_code::unavailable, "webhook host of " + t.origin + " does not resolve (" +
                                                     gai_strerror(rc) + ")");
    for (addrinfo* ai = res; ai; ai = ai->ai_next)
      if (auto a = ip_address::from_sockaddr(ai->ai_addr); a && std::find(found.begin(), found.end(), *a) == found.end())
        found.push_back(*a);
    freeaddrinfo(res);
  }

  std::optional<std::string> first_refusal;
  for (const auto& a : found) {
    if (auto why = policy.refusal(a)) {
      if (!first_refusal) first_refusal = std::move(why);
    } else {
      t.addresses.push_back(a);
    }
  }
  // Where a name resolved is not shown (it would map internal names for whoever may set a URL).
  if (t.addresses.empty())
    return make_error(error_code::invalid,
                      "address not allowed for " + t.origin + ": " +
                          (t.literal ? "it is a " + first_refusal.value_or("restricted") + " address"
                                     : std::string("the name resolves to no public address")) +
                          "; webhooks may only reach public addresses unless webhook_allow lists the range",
                      "url");
  return t;
}

}  // namespace flowtrack::webhook
