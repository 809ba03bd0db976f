// The SSRF guard for outgoing webhooks: which IP addresses FlowTrack may connect to, and a
// webhook URL checked and resolved against that rule. Knows URLs, DNS and address ranges; no HTTP.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"

struct sockaddr;

namespace flowtrack::webhook {

/// An IPv4 or IPv6 address. IPv4 uses the first 4 bytes.
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;

  /// "10.0.0.1" or "fd00::1" (no brackets, no zone); nullopt for anything else.
  static std::optional<ip_address> parse(std::string_view text);
  /// An AF_INET or AF_INET6 socket address; nullopt for other families.
  static std::optional<ip_address> from_sockaddr(const sockaddr* sa);
  std::string to_string() const;
  /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it stands for; any
  /// other address unchanged.
  ip_address unmapped() const;
  bool operator==(const ip_address&) const = default;
};

/// An address range such as 127.0.0.0/8 or fd00::/8.
struct cidr {
  ip_address base;
  int prefix = 0;

  /// "a.b.c.d/n" or "x::y/n"; a bare address is a /32 or /128. Nullopt when malformed.
  static std::optional<cidr> parse(std::string_view text);
  /// Whether `a` (unmapped first) lies in the range.
  bool contains(const ip_address& a) const;
};

/// Why webhooks may not reach `a` by default ("loopback", "private", "link-local",
/// "shared (CGNAT)", "multicast", "unspecified", "reserved", "documentation", "Teredo",
/// "IPv4-mapped", ...), or nullopt for a public address. IPv6 forms that carry an IPv4 address
/// (mapped, NAT64, 6to4) are judged by it first; a mapped public address is "IPv4-mapped".
std::optional<std::string_view> restricted_range(const ip_address& a);

/// Which addresses outgoing webhooks may reach: public ones, plus any inside the allow-list
/// (settings.webhook_allow).
class address_policy {
 public:
  address_policy() = default;
  explicit address_policy(std::vector<cidr> allow) : allow_(std::move(allow)) {}
  /// Parses CIDR strings; `invalid` naming the first malformed one.
  static result<address_policy> from_strings(const std::vector<std::string>& allow);

  /// Nullopt when `a` may be reached; otherwise the range's name (e.g. "loopback"), never the
  /// address itself.
  std::optional<std::string> refusal(const ip_address& a) const;

 private:
  std::vector<cidr> allow_;
};

/// A webhook URL taken apart by libcurl's own URL parser (so FlowTrack and libcurl agree on
/// the host), checked, and its host resolved to addresses the policy allows.
struct checked_target {
  std::string url;      ///< normalised by libcurl; what the request is made to
  std::string scheme;   ///< "http" or "https"
  std::string host;     ///< lower case; an IPv6 literal in brackets, as in the URL
  int port = 0;
  std::string origin;   ///< scheme://host:port: safe to show (no path, query or credentials)
  bool literal = false; ///< the host is an IP address: nothing to resolve or pin
  std::vector<ip_address> addresses;  ///< where the request may connect

  /// CURLOPT_RESOLVE entries pinning host:port to `addresses` (none for a literal host).
  std::vector<std::string> pins() const;
};

/// Checks `url`: absolute, http or https, a host, no user:password. Resolves a host name
/// (blocking: call on a worker thread) and keeps the addresses `policy` allows.
/// Errors: `invalid` for an unusable URL or "address not allowed ..." when no address may be
/// reached; `unavailable` when the name does not resolve. Messages show the origin only: never
/// the addresses a name resolved to (a literal address's range is named).
result<checked_target> check_target(std::string_view url, const address_policy& policy);

}  // namespace flowtrack::webhook
