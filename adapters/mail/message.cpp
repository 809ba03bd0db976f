// RFC 5322 / MIME composition for outbound email. Knows nothing of SMTP or threads.
#include "adapters/mail/message.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include <openssl/evp.h>

#include "domain/tracking.hpp"

namespace flowtrack::mail {
namespace {

// Recommended header line length (RFC 5322 2.1.1); 998 is the hard limit.
constexpr std::size_t k_fold_at = 78;
constexpr std::size_t k_hard_limit = 998;
// Raw bytes per encoded-word: 39 bytes -> 52 base64 characters -> 64-character word, so
// "Subject: " + one word stays under 78.
constexpr std::size_t k_word_bytes = 39;
// Longer sanitised idempotency keys are replaced by their SHA-256 in the Message-ID.
constexpr std::size_t k_max_id_left = 128;

constexpr std::string_view k_hex = "0123456789ABCDEF";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

error invalid_field(std::string_view field, const std::string& what) {
  return make_error(error_code::invalid, std::string(field) + " " + what, std::string(field));
}

/// Rejects what could end a header or smuggle one in: CR, LF, other control characters and
/// malformed UTF-8. TAB is allowed (it is folding white space).
result<void> check_header_text(std::string_view value, std::string_view field) {
  if (value.find_first_of("\r\n") != std::string_view::npos)
    return invalid_field(field, "contains a line break (CR or LF), which is not allowed in a header");
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return invalid_field(field, "contains a control character");
  if (!valid_utf8(value)) return invalid_field(field, "is not valid UTF-8");
  return {};
}

bool is_atext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool valid_local_part(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (s[i + 1] == '.') return false;  // i + 1 < size: the last character is not a dot
    } else if (!is_atext(c)) {
      return false;
    }
  }
  return true;
}

bool valid_domain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  for (;;) {
    auto dot = s.find('.', start);
    auto label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += static_cast<char>(std::tolower(k_hex[md[i] >> 4]));
    out += static_cast<char>(std::tolower(k_hex[md[i] & 15]));
  }
  return out;
}

/// Length of the UTF-8 sequence starting with lead byte `c` (1 for anything unexpected).
std::size_t utf8_length(unsigned char c) {
  if (c >= 0xf0) return 4;
  if (c >= 0xe0) return 3;
  if (c >= 0xc0) return 2;
  return 1;
}

/// RFC 2047 encoded-words, each holding whole UTF-8 characters, joined by folding.
std::string encoded_words(std::string_view utf8) {
  std::string out;
  std::size_t i = 0;
  while (i < utf8.size()) {
    std::size_t end = i;
    while (end < utf8.size()) {
      std::size_t n = utf8_length(static_cast<unsigned char>(utf8[end]));
      if (end + n - i > k_word_bytes && end > i) break;
      end += n;
    }
    end = std::min(end, utf8.size());
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(utf8.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

/// Lone LF or CR become CRLF, so every line of the body ends as SMTP expects.
std::string normalise_line_ends(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 32);
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

void append_part_headers(std::string& out, std::string_view subtype) {
  out += "Content-Type: text/";
  out += subtype;
  out += "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n";
}

/// The body, quoted-printable. In a multipart the CRLF before the next boundary belongs to the
/// boundary (RFC 2046 5.1.1), so one is always added there; a single part only needs its last
/// line ended.
void append_body(std::string& out, std::string_view body, bool before_boundary) {
  std::string qp = quoted_printable(normalise_line_ends(body));
  out += qp;
  if (before_boundary || qp.size() < 2 || qp.compare(qp.size() - 2, 2, "\r\n") != 0) out += "\r\n";
}

}  // namespace

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n;
  }
  return true;
}

result<std::string> check_address(std::string_view address, std::string_view field) {
  if (address.find_first_of("\r\n") != std::string_view::npos)
    return invalid_field(field, "contains a line break (CR or LF), which is not allowed in a header");
  auto a = trim(address);
  if (a.empty()) return invalid_field(field, "is empty; give an email address such as name@example.com");
  auto at = a.rfind('@');
  bool ok = a.size() <= 254 && at != std::string_view::npos && valid_local_part(a.substr(0, at)) &&
            valid_domain(a.substr(at + 1));
  if (!ok) {
    // Built by appending: GCC 12 warns falsely (-Wrestrict) on "'" + std::string(...).
    std::string shown;
    if (is_ascii(a) && a.size() <= 100) shown.append(1, '\'').append(a).append("' ");
    for (auto& c : shown)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return invalid_field(field, shown + "is not an email address such as name@example.com"
                                        " (plain ASCII local part and domain, no display name)");
  }
  return std::string(a);
}

std::string message_id_for(std::string_view idempotency_key, std::string_view domain) {
  // Letters, digits, '-' and '_' stay; every other byte becomes "=XX". '=' is escaped too, so
  // the mapping is one-to-one, and the result is a valid dot-atom-text (RFC 5322 3.6.4).
  std::string left;
  for (unsigned char c : idempotency_key) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      left += static_cast<char>(c);
    } else {
      left += '=';
      left += k_hex[c >> 4];
      left += k_hex[c & 15];
    }
  }
  if (left.size() > k_max_id_left) left = "sha256-" + sha256_hex(idempotency_key);
  return "<" + left + "@" + std::string(domain) + ">";
}

std::string encode_unstructured(std::string_view utf8, std::size_t name_length) {
  // "=?" in plain text could be read back as an encoded-word, so such text is encoded too.
  if (!is_ascii(utf8) || utf8.find("=?") != std::string_view::npos) return encoded_words(utf8);
  std::string out;
  std::size_t line = name_length + 2;  // "Name: "
  std::size_t longest = 0;
  std::size_t i = 0;
  while (i < utf8.size()) {
    // A segment is a run of spaces and the word after it; folding goes before its spaces.
    std::size_t j = i;
    while (j < utf8.size() && (utf8[j] == ' ' || utf8[j] == '\t')) ++j;
    bool has_space = j > i;
    while (j < utf8.size() && utf8[j] != ' ' && utf8[j] != '\t') ++j;
    auto segment = utf8.substr(i, j - i);
    bool has_word = segment.find_first_not_of(" \t") != std::string_view::npos;
    if (has_space && has_word && line + segment.size() > k_fold_at && line > name_length + 2) {
      out += "\r\n";
      line = 0;
    }
    out += segment;
    line += segment.size();
    longest = std::max(longest, line);
    i = j;
  }
  if (longest > k_hard_limit) return encoded_words(utf8);
  return out;
}

std::string encode_phrase(std::string_view utf8) {
  if (!is_ascii(utf8) || utf8.size() > 200) return encoded_words(utf8);
  std::string out = "\"";
  for (char c : utf8) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string quoted_printable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t start = 0;
  for (;;) {
    auto end = text.find("\r\n", start);
    auto line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::size_t width = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      bool last = i + 1 == line.size();
      char token[3];
      std::size_t n = 1;
      bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
      // A dot opening a line is escaped so no relay can take the line for end-of-data.
      if (c == '.' && width == 0) literal = false;
      if (literal) {
        token[0] = static_cast<char>(c);
      } else {
        token[0] = '=', token[1] = k_hex[c >> 4], token[2] = k_hex[c & 15], n = 3;
      }
      // Soft line break: an encoded line never passes 76 characters, '=' included.
      if (width + n > 75) {
        out += "=\r\n";
        width = 0;
        if (c == '.') token[0] = '=', token[1] = '2', token[2] = 'E', n = 3;
      }
      out.append(token, n);
      width += n;
    }
    if (end == std::string_view::npos) break;
    out += "\r\n";
    start = end + 2;
  }
  return out;
}

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

result<composed_message> compose(const actors::email_message& m, const sender_identity& from,
                                 std::chrono::system_clock::time_point now, const tracking_links* links) {
  if (m.idempotency_key.empty())
    return invalid_field("idempotency_key", "is empty; it becomes the Message-ID that makes a resend recognisable");
  auto sender = check_address(from.address, "sender");
  if (!sender) return sender.err();
  auto to = check_address(m.to, "to");
  if (!to) return to.err();
  std::string reply_to;
  if (!trim(m.reply_to).empty() || m.reply_to.find_first_of("\r\n") != std::string::npos) {
    auto r = check_address(m.reply_to, "reply_to");
    if (!r) return r.err();
    reply_to = std::move(*r);
  }
  if (auto r = check_header_text(m.from_name, "from_name"); !r) return r.err();
  if (auto r = check_header_text(m.subject, "subject"); !r) return r.err();
  if (m.text_body.empty() && m.html_body.empty())
    return invalid_field("text_body", "and html_body are both empty; give at least one");
  if (!valid_utf8(m.text_body)) return invalid_field("text_body", "is not valid UTF-8");
  if (!valid_utf8(m.html_body)) return invalid_field("html_body", "is not valid UTF-8");

  std::string text_body = m.text_body, html_body = m.html_body;
  if (links) {
    if (links->unsubscribe.find_first_of("\r\n<>\" ") != std::string::npos)
      return invalid_field("unsubscribe", "is not a URL");
    if (!text_body.empty()) text_body += "\r\n\r\n--\r\nUnsubscribe: " + links->unsubscribe + "\r\n";
    if (!html_body.empty()) {
      // Links become click links first, so the unsubscribe link added after is not one.
      html_body = domain::track_html(html_body, links->click, links->open_pixel);
      std::string footer = "<p style=\"font-size:12px;color:#666\"><a href=\"" + links->unsubscribe + "\">Unsubscribe</a></p>";
      auto body_end = html_body.rfind("</body>");
      if (body_end == std::string::npos) html_body += footer;
      else html_body.insert(body_end, footer);
    }
  }
  composed_message out;
  out.sender = std::move(*sender);
  out.recipient = std::move(*to);
  out.message_id = message_id_for(m.idempotency_key, from.domain);

  std::string& t = out.text;
  t += "Date: " + rfc5322_date(now) + "\r\n";
  auto name = trim(m.from_name);
  t += "From: ";
  t += name.empty() ? out.sender : encode_phrase(name) + " <" + out.sender + ">";
  t += "\r\n";
  t += "To: " + out.recipient + "\r\n";
  if (!reply_to.empty()) t += "Reply-To: " + reply_to + "\r\n";
  t += "Subject: " + encode_unstructured(m.subject, 7) + "\r\n";
  t += "Message-ID: " + out.message_id + "\r\n";
  // RFC 3834: tells vacation responders not to answer an automated message.
  t += "Auto-Submitted: auto-generated\r\n";
  if (links) {
    // RFC 2369 and RFC 8058: mail clients offer the one-click unsubscribe.
    t += "List-Unsubscribe: <" + links->unsubscribe + ">\r\n";
    t += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
  }
  t += "MIME-Version: 1.0\r\n";
  if (!text_body.empty() && !html_body.empty()) {
    // "=_" never occurs in quoted-printable output, so the boundary cannot clash with a body.
    std::string boundary = "=_ft_" + sha256_hex(out.message_id).substr(0, 24);
    t += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
    t += "--" + boundary + "\r\n";
    append_part_headers(t, "plain");
    t += "\r\n";
    append_body(t, text_body, true);
    t += "--" + boundary + "\r\n";
    append_part_headers(t, "html");
    t += "\r\n";
    append_body(t, html_body, true);
    t += "--" + boundary + "--\r\n";
  } else {
    append_part_headers(t, html_body.empty() ? "plain" : "html");
    t += "\r\n";
    append_body(t, html_body.empty() ? text_body : html_body, false);
  }
  return out;
}

std::optional<tracking_links> tracking_links_for(const actors::email_message& m, const crypto::keyring& keys,
                                                 const std::string& public_url) {
  if (m.lead_id.empty()) return std::nullopt;
  auto url = [&keys, public_url](domain::track_ref r) {
    auto token = keys.sign(domain::encode_track_ref(r), domain::k_tracking_purpose);
    return token ? public_url + domain::tracking_path(r.kind, *token) : std::string();
  };
  domain::track_ref base{domain::track_kind::open, m.workspace_id, m.lead_id, m.execution_id, ""};
  tracking_links links;
  links.open_pixel = url(base);
  base.kind = domain::track_kind::unsubscribe;
  links.unsubscribe = url(base);
  links.click = [url, base](std::string_view target) mutable {
    base.kind = domain::track_kind::click;
    base.url = std::string(target);
    return url(base);
  };
  return links;
}

}  // namespace flowtrack::mail
