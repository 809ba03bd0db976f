// The SPF, DKIM and DMARC verdicts a receiving mail server wrote into an Authentication-Results
// header (RFC 8601), read only from a header whose authserv-id is one the operator trusts: anyone
// can put such a header into a message, only the trusted border server's own is worth recording.
// Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/mail/message.hpp"

namespace flowtrack::domain::mail {

/// One method's verdict, e.g. dkim=pass header.d=example.com.
struct auth_verdict {
  std::string method;  ///< lower case: "spf", "dkim", "dmarc", ...
  std::string result;  ///< lower case: "pass", "fail", "softfail", "neutral", "none", ...
  std::string domain;  ///< the domain it speaks for (header.d, smtp.mailfrom's domain, header.from); may be empty
};

/// An Authentication-Results header, parsed.
struct auth_results {
  std::string authserv_id;  ///< lower case
  std::vector<auth_verdict> verdicts;
};

/// Parses one header value (comments and quoted strings allowed); nullopt when there is no
/// authserv-id. Malformed resinfo entries are skipped, never guessed.
std::optional<auth_results> parse_auth_results(std::string_view value);

/// The first of the message's Authentication-Results headers (topmost: added by the last hop)
/// whose authserv-id is in `trusted` (compared case-insensitively); nullopt when none is.
std::optional<auth_results> trusted_auth_results(const message& m, const std::vector<std::string>& trusted);

}  // namespace flowtrack::domain::mail
