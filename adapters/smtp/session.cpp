// The SMTP protocol state machine: command parsing, sequencing, limits, DATA unstuffing.
// Knows no sockets, clocks or handlers; see session.hpp for the decisions it makes.
#include "adapters/smtp/session.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <utility>

namespace flowtrack::smtp {
namespace {

constexpr std::size_t k_command_line_max = 512;  ///< RFC 5321 4.5.3.1.4, CRLF included
constexpr std::size_t k_text_line_max = 1000;     ///< RFC 5321 4.5.3.1.6, CRLF included
constexpr std::size_t k_local_max = 64, k_domain_max = 255, k_path_max = 256;
/// A message without SIZE takes its budget in steps of this, not per line.
constexpr std::size_t k_hold_step = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y)); });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_atext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
  return std::isalnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool non_ascii(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// Dot-string: atoms separated by single dots.
bool valid_dot_string(std::string_view s, bool utf8) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (s[i + 1] == '.') return false;
    } else if (!is_atext(c, utf8)) {
      return false;
    }
  }
  return true;
}

// A domain name (letters, digits, hyphens; U-labels with SMTPUTF8) or an address literal.
bool valid_domain(std::string_view d, bool utf8) {
  if (d.empty() || d.size() > k_domain_max) return false;
  if (d.front() == '[') {
    if (d.size() < 3 || d.back() != ']') return false;
    for (unsigned char c : d.substr(1, d.size() - 2))
      if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\') return false;
    return true;
  }
  std::size_t start = 0;
  while (start <= d.size()) {
    auto dot = d.find('.', start);
    auto label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label)
      if (!(std::isalnum(c) || c == '-' || (c >= 0x80 && utf8))) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

// The index of the '>' closing a path that starts at text[0] == '<', honouring a quoted local part.
std::size_t path_end(std::string_view text) {
  bool quoted = false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Replies built from a handler's answer must be one line of printable text.
std::string clean_text(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 400)) out += (c < 32 || c == 127) ? ' ' : static_cast<char>(c);
  return out;
}

bool valid_enhanced(std::string_view e, int code) {
  // class.subject.detail: 1 digit (matching the reply's class), 1-3 digits, 1-3 digits.
  if (e.size() < 5 || e[0] != static_cast<char>('0' + code / 100) || e[1] != '.') return false;
  int parts = 0;
  std::size_t i = 2;
  while (i < e.size() + 1) {
    auto dot = e.find('.', i);
    auto part = e.substr(i, dot == std::string_view::npos ? std::string_view::npos : dot - i);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  return parts == 2;
}

}  // namespace

std::string reply::render() const {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    auto nl = text.find('\n', start);
    bool last = nl == std::string::npos;
    out += std::to_string(code);
    out += last ? ' ' : '-';
    if (!enhanced.empty()) {
      out += enhanced;
      out += ' ';
    }
    out.append(text, start, last ? std::string::npos : nl - start);
    out += "\r\n";
    if (last) break;
    start = nl + 1;
  }
  return out;
}

std::optional<address> parse_path(std::string_view text, bool null_ok, bool utf8) {
  if (text.size() < 2 || text.front() != '<' || text.back() != '>' || text.size() > k_path_max + 2) return std::nullopt;
  auto inner = text.substr(1, text.size() - 2);
  if (inner.empty()) return null_ok ? std::optional<address>(address{}) : std::nullopt;
  // A source route (@a,@b:) is accepted and ignored (RFC 5321 4.1.2, C.).
  if (inner.front() == '@') {
    auto colon = inner.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    inner = inner.substr(colon + 1);
  }
  address a;
  a.text = std::string(inner);
  std::string_view domain;
  if (!inner.empty() && inner.front() == '"') {
    std::size_t i = 1;
    for (; i < inner.size() && inner[i] != '"'; ++i) {
      unsigned char c = static_cast<unsigned char>(inner[i]);
      if (c == '\\') {
        if (++i >= inner.size()) return std::nullopt;
        unsigned char q = static_cast<unsigned char>(inner[i]);
        if ((q < 32 || q > 126) && !(utf8 && q >= 0x80)) return std::nullopt;
        a.local += static_cast<char>(q);
      } else if ((c >= 32 && c <= 126) || (utf8 && c >= 0x80)) {
        a.local += static_cast<char>(c);
      } else {
        return std::nullopt;
      }
    }
    if (i >= inner.size() || i + 1 >= inner.size() || inner[i + 1] != '@') return std::nullopt;
    domain = inner.substr(i + 2);
    if (i + 1 > k_local_max) return std::nullopt;  // the quotes count
  } else {
    auto at = inner.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    auto local = inner.substr(0, at);
    if (local.size() > k_local_max || !valid_dot_string(local, utf8)) return std::nullopt;
    a.local = std::string(local);
    domain = inner.substr(at + 1);
  }
  if (!valid_domain(domain, utf8)) return std::nullopt;
  a.domain = std::string(domain);
  return a;
}

message_budget::message_budget(std::size_t limit, std::size_t max_message_bytes)
    : limit_(limit), per_peer_limit_(std::max(limit / 8, std::min(max_message_bytes, limit))) {}

bool message_budget::try_take(const std::string& peer, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  auto& mine = per_peer_[peer];
  if (held_ + bytes > limit_ || mine + bytes > per_peer_limit_) {
    if (mine == 0) per_peer_.erase(peer);
    return false;
  }
  mine += bytes;
  held_ += bytes;
  return true;
}

void message_budget::give_back(const std::string& peer, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  held_ -= std::min(bytes, held_);
  auto it = per_peer_.find(peer);
  if (it != per_peer_.end() && (it->second -= std::min(bytes, it->second)) == 0) per_peer_.erase(it);
}

std::size_t message_budget::held() const {
  std::lock_guard lock(mutex_);
  return held_;
}

session::session(session_limits limits, std::string hostname, std::string client_ip, bool tls_offered,
                 std::shared_ptr<message_budget> budget)
    : limits_(limits), hostname_(std::move(hostname)), tls_offered_(tls_offered), peer_(client_ip), budget_(std::move(budget)) {
  env_.client_ip = std::move(client_ip);
}

session::~session() { release(); }

bool session::hold(std::size_t bytes) {
  if (bytes <= held_) return true;
  if (!budget_) {
    held_ = bytes;
    return true;
  }
  // Ahead by a step when the budget allows, so the budget is not asked on every line; never
  // past the declared SIZE while the message keeps to it.
  std::size_t cap = limits_.max_message_bytes;
  if (env_.declared_size && bytes <= *env_.declared_size) cap = static_cast<std::size_t>(*env_.declared_size);
  std::size_t ahead = std::max(bytes, std::min(held_ + k_hold_step, cap));
  if (ahead > bytes && budget_->try_take(peer_, ahead - held_)) {
    held_ = ahead;
    return true;
  }
  if (!budget_->try_take(peer_, bytes - held_)) return false;
  held_ = bytes;
  return true;
}

void session::release() {
  if (budget_ && held_ > 0) budget_->give_back(peer_, held_);
  held_ = 0;
}

void session::greet() {
  if (state_ != state::start) return;
  // Bytes before the greeting: a client that does not wait for the server (an early talker).
  if (!in_.empty()) return close_with(554, "5.5.0", hostname_ + " protocol error: talking before the greeting");
  state_ = state::need_helo;
  send(reply{220, "", hostname_ + " ESMTP FlowTrack"});
}

void session::refuse(reply r) {
  if (state_ == state::closed) return;
  send(r);
  state_ = state::closed;
  in_.clear();
}

void session::receive(std::string_view bytes) {
  if (state_ == state::closed || want_tls_) return;  // after STARTTLS: injected, dropped
  in_.append(bytes);
}

bool session::idle() const {
  return !pending_ && !want_tls_ && in_.empty() && !skipping_line_ &&
         (state_ == state::need_helo || state_ == state::ready || state_ == state::mail);
}

std::string session::take_output() { return std::exchange(out_, {}); }

std::string session::take_message() { return std::exchange(message_, {}); }

void session::send(const reply& r) { out_ += r.render(); }

void session::send(int code, std::string_view enhanced, std::string_view text) {
  send(reply{code, std::string(enhanced), std::string(text)});
}

void session::fail(int code, std::string_view enhanced, std::string_view text) {
  send(code, enhanced, text);
  if (++errors_ >= limits_.max_errors) close_with(421, "4.7.0", hostname_ + " too many errors; closing");
}

void session::close_with(int code, std::string_view enhanced, std::string_view text) {
  if (state_ == state::closed) return;
  send(code, enhanced, text);
  state_ = state::closed;
  pending_.reset();
  want_tls_ = false;
  in_.clear();
  message_.clear();
  release();
}

void session::timed_out() {
  close_with(421, "4.4.2", hostname_ + " timeout exceeded; closing");
}

bool session::shut_down() {
  stopping_ = true;
  if (!idle()) return false;
  close_with(421, "4.3.2", hostname_ + " service shutting down; try again later");
  return true;
}

void session::reset_transaction() {
  env_.mail_from = {};
  env_.recipients.clear();
  env_.smtputf8 = false;
  env_.eight_bit = false;
  env_.declared_size.reset();
  rcpt_attempts_ = 0;
  message_.clear();
  message_size_ = line_length_ = 0;
  at_line_start_ = true;
  too_big_ = long_line_ = bare_newline_ = over_budget_ = false;
  release();
  if (state_ == state::mail || state_ == state::data) state_ = state::ready;
}

step session::run() {
  for (;;) {
    if (state_ == state::closed) return step::close;
    if (pending_) return *pending_;
    if (want_tls_) return step::start_tls;
    if (state_ == state::start) return step::read;
    if (state_ == state::data) {
      if (!data_bytes()) return step::read;
      continue;
    }
    auto lf = in_.find('\n');
    if (skipping_line_) {
      if (lf == std::string::npos) {
        in_.clear();
        return step::read;
      }
      in_.erase(0, lf + 1);
      skipping_line_ = false;
      continue;
    }
    if (lf == std::string::npos) {
      if (in_.size() < k_command_line_max) return step::read;
      in_.clear();
      skipping_line_ = true;
      fail(500, "5.5.2", "line too long (a command line is at most 512 octets)");
      continue;
    }
    if (lf + 1 > k_command_line_max) {
      in_.erase(0, lf + 1);
      fail(500, "5.5.2", "line too long (a command line is at most 512 octets)");
      continue;
    }
    std::string line = in_.substr(0, lf);
    in_.erase(0, lf + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // More input behind a command before PIPELINING was offered (RFC 2920 §3.1 needs EHLO).
    bool pipelining = env_.esmtp && state_ != state::need_helo;
    if (!in_.empty() && !pipelining) {
      close_with(554, "5.5.0", hostname_ + " protocol error: commands sent before their replies (no PIPELINING offered)");
      return step::close;
    }
    command(line);
  }
}

void session::command(std::string_view line) {
  if (line.find_first_of(std::string_view("\0\r", 2)) != std::string_view::npos)
    return fail(500, "5.5.2", "syntax error: control characters in the command line");
  auto space = line.find(' ');
  std::string verb = upper(line.substr(0, space));
  std::string_view arg = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  while (!arg.empty() && (arg.back() == ' ' || arg.back() == '\t')) arg.remove_suffix(1);
  if (stopping_ && verb != "QUIT") return close_with(421, "4.3.2", hostname_ + " service shutting down; try again later");
  if (verb == "EHLO") return on_helo(verb, arg, true);
  if (verb == "HELO") return on_helo(verb, arg, false);
  if (verb == "MAIL") return on_mail(arg);
  if (verb == "RCPT") return on_rcpt(arg);
  if (verb == "DATA") return on_data(arg);
  if (verb == "STARTTLS") return on_starttls(arg);
  if (verb == "RSET") {
    if (!arg.empty()) return fail(501, "5.5.4", "Syntax: RSET");
    reset_transaction();
    return send(250, "2.0.0", "OK");
  }
  if (verb == "NOOP") return send(250, "2.0.0", "OK");
  if (verb == "QUIT") return close_with(221, "2.0.0", hostname_ + " closing connection");
  if (verb == "VRFY") {
    if (arg.empty()) return fail(501, "5.5.4", "Syntax: VRFY address");
    return send(252, "2.5.0", "cannot VRFY a user; send mail and delivery will be attempted");
  }
  if (verb == "EXPN") return fail(502, "5.5.1", "EXPN is not available");
  if (verb == "HELP") return send(214, "2.0.0", "commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT STARTTLS");
  if (verb.empty()) return fail(500, "5.5.2", "syntax error: empty command");
  return fail(502, "5.5.2", "command not recognized");
}

std::string session::ehlo_text() const {
  std::string text = hostname_ + " greets [" + env_.client_ip + "]";
  text += "\nPIPELINING\nSIZE " + std::to_string(limits_.max_message_bytes) + "\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES";
  if (tls_offered_ && !env_.tls) text += "\nSTARTTLS";
  return text;
}

void session::on_helo(std::string_view verb, std::string_view arg, bool esmtp) {
  if (arg.empty() || arg.size() > k_domain_max || arg.find_first_of(" \t") != std::string_view::npos)
    return fail(501, "5.5.4", "Syntax: " + std::string(verb) + " hostname");
  reset_transaction();
  env_.helo = std::string(arg);
  env_.esmtp = esmtp;
  state_ = state::ready;
  // RFC 2034 §3: the EHLO/HELO answer carries no enhanced code.
  if (esmtp) return send(reply{250, "", ehlo_text()});
  send(reply{250, "", hostname_});
}

void session::on_mail(std::string_view arg) {
  if (state_ == state::need_helo) return fail(503, "5.5.1", "send EHLO or HELO first");
  if (state_ == state::mail) return fail(503, "5.5.1", "nested MAIL command; send RSET first");
  if (!istarts_with(arg, "FROM:")) return fail(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  arg.remove_prefix(5);
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  if (arg.empty() || arg.front() != '<') return fail(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  auto end = path_end(arg);
  if (end == std::string_view::npos) return fail(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  auto path = arg.substr(0, end + 1);
  auto params = arg.substr(end + 1);
  if (!params.empty() && params.front() != ' ') return fail(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]");
  bool utf8 = false, eight_bit = false, seen_body = false;
  std::optional<std::uint64_t> size;
  while (!params.empty()) {
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    if (params.empty()) break;
    auto sp = params.find(' ');
    auto param = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view() : params.substr(sp);
    if (!env_.esmtp) return fail(555, "5.5.4", "MAIL parameters need EHLO");
    auto eq = param.find('=');
    auto key = upper(param.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (key == "SIZE") {
      std::uint64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (size || value.empty() || ec == std::errc::invalid_argument || p != value.data() + value.size())
        return fail(501, "5.5.4", "Syntax: SIZE=<octets>");
      // A value too large for 64 bits is certainly too large for us.
      size = ec == std::errc::result_out_of_range ? UINT64_MAX : n;
    } else if (key == "BODY") {
      if (seen_body || eq == std::string_view::npos) return fail(501, "5.5.4", "Syntax: BODY=7BIT or BODY=8BITMIME");
      seen_body = true;
      if (iequals(value, "8BITMIME")) eight_bit = true;
      else if (!iequals(value, "7BIT")) return fail(501, "5.5.4", "Syntax: BODY=7BIT or BODY=8BITMIME");
    } else if (key == "SMTPUTF8") {
      if (utf8 || eq != std::string_view::npos) return fail(501, "5.5.4", "Syntax: SMTPUTF8 takes no value");
      utf8 = true;
    } else {
      return fail(555, "5.5.4", "unsupported MAIL parameter " + clean_text(key.substr(0, 32)));
    }
  }
  auto from = parse_path(path, /*null_ok=*/true, utf8);
  if (!from) {
    if (!utf8 && non_ascii(path) && parse_path(path, true, true))
      return fail(553, "5.6.7", "a non-ASCII address needs the SMTPUTF8 parameter");
    return fail(501, "5.1.7", "bad sender address syntax");
  }
  if (size && *size > limits_.max_message_bytes)
    return send(552, "5.3.4", "message size exceeds the fixed maximum of " + std::to_string(limits_.max_message_bytes) + " octets");
  env_.mail_from = std::move(*from);
  env_.smtputf8 = utf8;
  env_.eight_bit = eight_bit;
  env_.declared_size = size;
  pending_ = step::check_sender;
}

void session::on_rcpt(std::string_view arg) {
  if (state_ == state::need_helo) return fail(503, "5.5.1", "send EHLO or HELO first");
  if (state_ != state::mail) return fail(503, "5.5.1", "need MAIL before RCPT");
  if (!istarts_with(arg, "TO:")) return fail(501, "5.5.4", "Syntax: RCPT TO:<address>");
  arg.remove_prefix(3);
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  if (arg.empty() || arg.front() != '<') return fail(501, "5.5.4", "Syntax: RCPT TO:<address>");
  auto end = path_end(arg);
  if (end == std::string_view::npos) return fail(501, "5.5.4", "Syntax: RCPT TO:<address>");
  auto path = arg.substr(0, end + 1);
  auto params = arg.substr(end + 1);
  while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
  if (!params.empty()) {
    if (end + 1 < arg.size() && arg[end + 1] != ' ') return fail(501, "5.5.4", "Syntax: RCPT TO:<address>");
    auto name = params.substr(0, std::min<std::size_t>(32, params.find_first_of(" =")));
    return fail(555, "5.5.4", "unsupported RCPT parameter " + clean_text(upper(name)));
  }
  ++rcpt_attempts_;
  if (env_.recipients.size() >= limits_.max_recipients)
    return send(452, "4.5.3", "too many recipients; send the rest in another transaction");
  std::optional<address> to;
  if (iequals(path, "<postmaster>")) {
    to = address{std::string(path.substr(1, path.size() - 2)), "postmaster", ""};
  } else {
    to = parse_path(path, /*null_ok=*/false, env_.smtputf8);
  }
  if (!to) {
    if (!env_.smtputf8 && non_ascii(path) && parse_path(path, false, true))
      return fail(553, "5.6.7", "a non-ASCII address needs the SMTPUTF8 parameter");
    return fail(501, "5.1.3", "bad recipient address syntax");
  }
  candidate_ = std::move(*to);
  pending_ = step::check_recipient;
}

void session::on_data(std::string_view arg) {
  if (!arg.empty()) return fail(501, "5.5.4", "Syntax: DATA");
  if (state_ == state::need_helo) return fail(503, "5.5.1", "send EHLO or HELO first");
  if (state_ != state::mail) return fail(503, "5.5.1", "need MAIL command");
  if (env_.recipients.empty()) {
    if (rcpt_attempts_ > 0) return fail(554, "5.5.1", "no valid recipients");
    return fail(503, "5.5.1", "need RCPT command");
  }
  // The declared size (or, without SIZE, a first step) must fit the server's budget before 354:
  // refusing now costs the client nothing, refusing at the end costs it the whole upload.
  release();
  std::size_t first = env_.declared_size ? std::max<std::size_t>(1, *env_.declared_size) : 1;
  if (!hold(first)) {
    ++storage_refusals_;
    return send(452, "4.3.1", "insufficient system storage; try again later");
  }
  state_ = state::data;
  message_.clear();
  message_size_ = line_length_ = 0;
  at_line_start_ = true;
  too_big_ = long_line_ = bare_newline_ = over_budget_ = false;
  // 354 is an intermediate reply: RFC 3463 has no class 3, so no enhanced code.
  send(reply{354, "", "End data with <CR><LF>.<CR><LF>"});
}

void session::on_starttls(std::string_view arg) {
  if (!arg.empty()) return fail(501, "5.5.4", "Syntax: STARTTLS");
  if (env_.tls) return fail(503, "5.5.1", "TLS is already active");
  if (!tls_offered_) return fail(502, "5.5.1", "STARTTLS is not available");
  if (state_ == state::need_helo) return fail(503, "5.5.1", "send EHLO first");
  if (state_ == state::mail) return fail(503, "5.5.1", "a mail transaction is in progress; send RSET first");
  send(220, "2.0.0", "ready to start TLS");
  in_.clear();  // anything sent behind STARTTLS before the handshake is an injection: drop it
  want_tls_ = true;
}

void session::tls_started() {
  want_tls_ = false;
  in_.clear();
  reset_transaction();
  std::string ip = std::move(env_.client_ip);
  env_ = envelope{};
  env_.client_ip = std::move(ip);
  env_.tls = true;
  if (state_ != state::closed) state_ = state::need_helo;
}

// Consumes message text from in_; true when the message ended (or the session closed).
bool session::data_bytes() {
  while (!in_.empty()) {
    if (at_line_start_ && in_[0] == '.') {
      if (in_.size() < 3) {
        if (std::string_view(".\r\n").substr(0, in_.size()) == in_) return false;  // maybe the end
      } else if (in_.compare(0, 3, ".\r\n") == 0) {
        in_.erase(0, 3);
        end_of_data();
        return true;
      }
      in_.erase(0, 1);  // dot-unstuffing (RFC 5321 4.5.2)
      ++line_length_;
      at_line_start_ = false;
      continue;
    }
    auto lf = in_.find('\n');
    std::size_t take = lf == std::string::npos ? in_.size() : lf + 1;
    // A CR at the end of what has arrived may be the start of CRLF: wait for the next octet.
    if (lf == std::string::npos && in_.back() == '\r') --take;
    if (take == 0) return false;
    std::string_view chunk(in_.data(), take);
    bool line_ends = lf != std::string::npos;
    bool crlf = line_ends && take >= 2 && chunk[take - 2] == '\r';
    auto body = chunk.substr(0, take - (crlf ? 2 : line_ends ? 1 : 0));
    if (body.find('\r') != std::string_view::npos || (line_ends && !crlf)) bare_newline_ = true;
    line_length_ += take;
    if (line_length_ > k_text_line_max) long_line_ = true;
    message_size_ += take;
    if (!too_big_ && message_size_ > limits_.max_message_bytes) {
      too_big_ = true;
      message_.clear();
      message_.shrink_to_fit();
      release();
    }
    if (!too_big_ && !over_budget_ && !hold(message_.size() + take)) {
      // The budget ran out: keep reading to the end, holding nothing, then 452 4.3.1.
      over_budget_ = true;
      message_.clear();
      message_.shrink_to_fit();
      release();
    }
    if (!too_big_ && !over_budget_) message_.append(chunk);
    in_.erase(0, take);
    if (line_ends) {
      line_length_ = 0;
      // Only a real CRLF starts a line where "." CRLF may end the message (SMTP smuggling).
      at_line_start_ = crlf;
    }
    if (too_big_ && message_size_ > limits_.max_message_bytes + limits_.max_discard_bytes) {
      close_with(552, "5.3.4", "message size exceeds the fixed maximum of " + std::to_string(limits_.max_message_bytes) +
                                   " octets; closing");
      return true;
    }
  }
  return false;
}

void session::end_of_data() {
  state_ = state::mail;  // reset_transaction() takes it back to ready
  if (too_big_) {
    reset_transaction();
    return send(552, "5.3.4", "message size exceeds the fixed maximum of " + std::to_string(limits_.max_message_bytes) + " octets");
  }
  if (long_line_) {
    reset_transaction();
    return fail(500, "5.5.2", "a text line exceeds 1000 octets; message refused");
  }
  if (bare_newline_) {
    reset_transaction();
    return fail(554, "5.6.0", "message text has a bare CR or LF; lines must end with CRLF");
  }
  if (over_budget_) {
    // Not a client error: the message may be sent again once other messages are done.
    reset_transaction();
    ++storage_refusals_;
    return send(452, "4.3.1", "insufficient system storage; try again later");
  }
  pending_ = step::deliver;
}

void session::resolve(reply r) {
  if (!pending_ || state_ == state::closed) return;
  auto what = *pending_;
  pending_.reset();
  // A handler's answer is checked before it reaches the wire.
  if (r.code < 200 || r.code > 599 || (r.code >= 300 && r.code < 400)) r = reply{451, "4.3.0", "internal error; try again later"};
  r.text = clean_text(r.text);
  if (!valid_enhanced(r.enhanced, r.code)) r.enhanced = std::to_string(r.code / 100) + ".0.0";
  switch (what) {
    case step::check_sender:
      if (r.positive()) {
        state_ = state::mail;
        rcpt_attempts_ = 0;
        return send(250, "2.1.0", r.text.empty() ? "sender OK" : r.text);
      }
      reset_transaction();
      return send(r);
    case step::check_recipient:
      if (r.positive()) {
        env_.recipients.push_back(std::move(candidate_));
        candidate_ = {};
        return send(250, "2.1.5", r.text.empty() ? "recipient OK" : r.text);
      }
      candidate_ = {};
      if (r.code >= 500) return fail(r.code, r.enhanced, r.text);
      return send(r);
    case step::deliver:
      message_.clear();
      if (r.positive()) {
        ++delivered_;
        send(250, "2.0.0", r.text.empty() ? "message accepted" : r.text);
      } else {
        send(r);
      }
      return reset_transaction();
    default:
      return;
  }
}

std::string received_header(const envelope& env, std::string_view by, std::string_view id, std::time_t now) {
  // RFC 3848 / RFC 6531 protocol names.
  std::string with = env.smtputf8 ? "UTF8SMTP" : env.esmtp ? "ESMTP" : "SMTP";
  if (env.tls) with += 'S';
  std::tm tm{};
  gmtime_r(&now, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string h = "Received: from " + clean_text(env.helo) + " ([" + env.client_ip + "])\r\n\tby " + std::string(by) +
                  " (FlowTrack) with " + with + " id " + std::string(id);
  // Naming the recipient only when there is one keeps Bcc recipients private.
  if (env.recipients.size() == 1) h += "\r\n\tfor <" + clean_text(env.recipients.front().text) + ">";
  h += "; ";
  h += date;
  h += "\r\n";
  return h;
}

}  // namespace flowtrack::smtp
