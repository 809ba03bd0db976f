// SMTP intake benchmark: a closed-loop load generator sending forwarded Gmail-style messages to a
// workspace's intake address (one SMTP session per connection, one message in flight each, one
// io_context thread), then a check in PostgreSQL that every 250'd Message-ID has its EMAIL
// execution and that it ended. Links no FlowTrack library: it sees the node only as SMTP, its
// database and /proc.
//   smtp_bench --port P --to ADDRESS [--host 127.0.0.1] [--connections 64] [--seconds 20]
//              [--warmup 2] [--database-url URL] [--server-pid PID] [--pipelining on|off]
// Each session sends EHLO once, then per message MAIL, RCPT, DATA (pipelined in one write when
// the server offers PIPELINING, as Postfix does; --pipelining off sends them in lockstep), the
// ~2 KB message and the final "."; the latency is from the write of the message (one write on
// loopback, whose last line is the ".") to reading the reply. Every message has a unique Message-ID and a unique original
// sender, so each is a new lead. Prints one JSON line. A 4xx/5xx reply at any step is counted
// (rejected_4xx / rejected_5xx); a 4xx/5xx before the message was sent also restarts the session.
// errors counts I/O failures and unexpected replies. node_cpu_us_per_accepted is the node's
// user+system CPU time (/proc/PID/stat) over the measured window per accepted message. 250s
// arriving during the warmup or after the window (the drain) are checked in the database but
// count in no rate. Exits 1 when a 250'd message has no execution or when nothing was accepted.
#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "bench/proc_stats.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
using clk = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

namespace {
using namespace flowtrack::bench;

constexpr double k_target_per_s = 1000;
constexpr double k_target_p99_ms = 50;
constexpr auto k_io_timeout = std::chrono::seconds(10);  // a reply awaited this long is an error
constexpr auto k_reconnect_pause = std::chrono::milliseconds(20);
constexpr auto k_completion_wait = std::chrono::seconds(60);
constexpr std::size_t k_id_chunk = 5000;  // keys per `= ANY($1)` query
constexpr std::size_t k_max_reply = 64 * 1024;

struct options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string to;
  int connections = 64;
  double seconds = 20;
  double warmup = 2;
  std::string database_url;
  long server_pid = 0;
  bool pipelining = true;
};

/// What the load phase collected. Only the io_context thread touches it, so no locks.
struct tally {
  std::string run_id;  // makes every Message-ID and sender of this run new
  std::uint64_t next_message = 0;
  clk::time_point warm_end, end;            // the measured window is [warm_end, end)
  std::vector<std::uint32_t> latencies_us;  // "." to 250, inside the window only
  std::vector<std::string> warmup_ids, measured_ids, drain_ids;  // Message-IDs without <>
  std::uint64_t errors = 0, rejected_4xx = 0, rejected_5xx = 0;
  std::map<std::string, std::uint64_t> error_kinds;  // "RCPT 451", "read: ..." -> count
  std::string first_error;
  std::size_t message_bytes = 0;  // the size of one message on the wire (the last one built)
};

/// A forwarded Gmail message (multipart/alternative, text and HTML) from a forwarder to the intake
/// address; the original sender, the Message-ID and the subject's wording vary per message. Half
/// the subjects ask for a quote, so both branches of bench/email_workflow.json run. Returns the
/// DATA text dot-stuffed and ending with the final "." line.
std::string forwarded_message(const std::string& to, const std::string& message_id, const std::string& run_id, std::uint64_t n) {
  std::string k = std::to_string(n);
  std::string sender = "Morgan Reyes " + k, address = "morgan.reyes." + run_id + "." + k + "@reyes-build" + std::to_string(n % 97) + ".com";
  std::string subject = n % 2 ? "Quote for a new warehouse roof " + k : "Question about roof insulation " + k;
  std::string boundary = "000000000000b7e4" + run_id.substr(0, 8) + k;
  std::string text =
      "---------- Forwarded message ---------\r\n"
      "From: " + sender + " <" + address + ">\r\n"
      "Date: Wed, 2 Dec 2026 at 09:14\r\n"
      "Subject: " + subject + "\r\n"
      "To: <tom.harris@nordlicht-solar.com>\r\n"
      "\r\n\r\n"
      "Hi Tom,\r\n\r\n"
      "we are extending our warehouse in Leeds (about 1,400 m2 of flat roof) and would like\r\n"
      "a quote for solar panels, including storage and the grid connection.\r\n"
      "Could you call me this week? Mornings suit me best.\r\n\r\n"
      "Best regards,\r\n" + sender + "\r\nReyes Build Ltd\r\nTel: +44 20 7946 " + std::to_string(1000 + n % 9000) + "\r\n";
  std::string html =
      "<div dir=\"ltr\"><br><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">---------- Forwarded message"
      " ---------<br>From: <strong class=\"gmail_sendername\" dir=\"auto\">" + sender + "</strong> <span dir=\"auto\">&lt;<a href=\"mailto:" +
      address + "\">" + address + "</a>&gt;</span><br>\r\nDate: Wed, 2 Dec 2026 at 09:14<br>Subject: " + subject +
      "<br>To: &lt;<a href=\"mailto:tom.harris@nordlicht-solar.com\">tom.harris@nordlicht-solar.com</a>&gt;<br></div><br><br>\r\n"
      "<div dir=\"ltr\">Hi Tom,<div><br></div><div>we are extending our warehouse in Leeds (about 1,400 m2 of flat roof) and would"
      " like a quote for solar panels, including storage and the grid connection.</div>\r\n<div>Could you call me this week?"
      " Mornings suit me best.</div><div><br></div><div>Best regards,</div><div>" + sender + "</div></div></div></div>\r\n";
  std::string m =
      "Return-Path: <tom.harris@nordlicht-solar.com>\r\n"
      "MIME-Version: 1.0\r\n"
      "From: Tom Harris <tom.harris@nordlicht-solar.com>\r\n"
      "Date: Wed, 2 Dec 2026 10:20:55 +0100\r\n"
      "Message-ID: <" + message_id + ">\r\n"
      "Subject: Fwd: " + subject + "\r\n"
      "To: " + to + "\r\n"
      "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n"
      "\r\n"
      "--" + boundary + "\r\n"
      "Content-Type: text/plain; charset=\"UTF-8\"\r\n\r\n" + text + "\r\n"
      "--" + boundary + "\r\n"
      "Content-Type: text/html; charset=\"UTF-8\"\r\n\r\n" + html + "\r\n"
      "--" + boundary + "--\r\n";
  std::string out;  // dot-stuffing (RFC 5321 4.5.2); nothing above starts a line with ".", but be exact
  out.reserve(m.size() + 8);
  bool line_start = true;
  for (char c : m) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  out += ".\r\n";
  return out;
}

/// A reply's or a detail's text for stderr: the first 300 octets, its lines joined by " | ".
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 300)) {
    if (c == '\n') out += " | ";
    else if (c != '\r') out += c;
  }
  while (out.ends_with(" | ")) out.resize(out.size() - 3);
  return out;
}

/// One SMTP session with one message in flight; reconnects after any error until the window
/// ends. Owns itself through shared_from_this, like Beast's example sessions.
class session : public std::enable_shared_from_this<session> {
 public:
  session(asio::io_context& ioc, tcp::endpoint endpoint, const options& o, tally& t)
      : stream_(ioc), pause_(ioc), endpoint_(endpoint), opts_(o), tally_(t) {}

  void start() { do_connect(); }

 private:
  /// What the next reply answers.
  enum class phase { greeting, ehlo, mail, rcpt, data, message, quit };

  void do_connect() {
    if (clk::now() >= tally_.end) return;
    in_.clear();
    phase_ = phase::greeting;
    stream_.expires_after(k_io_timeout);
    stream_.async_connect(endpoint_, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect", ec);
    stream_.socket().set_option(tcp::no_delay(true));
    do_read();
  }

  /// Sends `out_` (replies are read afterwards, in order).
  void do_write() {
    stream_.expires_after(k_io_timeout);
    asio::async_write(stream_, asio::buffer(out_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("write", ec);
      self->do_read();
    });
  }

  /// Handles every complete reply already read, then reads more if the phase still waits.
  void do_read() {
    for (;;) {
      int code = 0;
      std::string text;
      auto got = take_reply(code, text);
      if (got < 0) return protocol_error("malformed reply: " + in_.substr(0, 200));
      if (got == 0) break;
      if (!on_reply(code, text)) return;  // the session wrote, closed or restarted: it reads again itself
    }
    if (in_.size() > k_max_reply) return protocol_error("reply too long");
    stream_.expires_after(k_io_timeout);
    stream_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->fail("read", ec);
      self->in_.append(self->chunk_.data(), n);
      self->do_read();
    });
  }

  /// Takes one whole (possibly multi-line) reply off `in_`: 1 taken, 0 incomplete, -1 malformed.
  int take_reply(int& code, std::string& text) {
    std::size_t pos = 0;
    for (;;) {
      auto crlf = in_.find("\r\n", pos);
      if (crlf == std::string::npos) return 0;
      std::string_view line(in_.data() + pos, crlf - pos);
      if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !std::isdigit(static_cast<unsigned char>(line[1])) ||
          !std::isdigit(static_cast<unsigned char>(line[2])) || (line.size() > 3 && line[3] != ' ' && line[3] != '-'))
        return -1;
      text.append(line.substr(std::min<std::size_t>(4, line.size())));
      text += '\n';
      pos = crlf + 2;
      if (line.size() == 3 || line[3] == ' ') {
        code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        in_.erase(0, pos);
        return 1;
      }
    }
  }

  /// One reply for the current phase; false when the session must not read on (it wrote, closed
  /// or restarts).
  bool on_reply(int code, const std::string& text) {
    auto now = clk::now();
    switch (phase_) {
      case phase::greeting:
        if (code != 220) return refused("greeting", code, text);
        phase_ = phase::ehlo;
        out_ = "EHLO bench.flowtrack.example\r\n";
        do_write();
        return false;
      case phase::ehlo:
        if (code != 250) return refused("EHLO", code, text);
        pipelining_ = opts_.pipelining && text.find("\nPIPELINING\n") != std::string::npos;
        return start_message();
      case phase::mail:
        if (code != 250) return refused("MAIL", code, text);
        phase_ = phase::rcpt;
        if (pipelining_) return true;
        out_ = "RCPT TO:<" + opts_.to + ">\r\n";
        do_write();
        return false;
      case phase::rcpt:
        if (code != 250) return refused("RCPT", code, text);
        phase_ = phase::data;
        if (pipelining_) return true;
        out_ = "DATA\r\n";
        do_write();
        return false;
      case phase::data:
        if (code != 354) return refused("DATA", code, text);
        phase_ = phase::message;
        out_ = std::move(message_);
        sent_ = clk::now();
        do_write();
        return false;
      case phase::message: {
        if (code == 250) {
          auto* ids = now < tally_.warm_end ? &tally_.warmup_ids : now < tally_.end ? &tally_.measured_ids : &tally_.drain_ids;
          ids->push_back(std::move(message_id_));
          if (ids == &tally_.measured_ids)
            tally_.latencies_us.push_back(
                static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - sent_).count()));
        } else {
          count_reply("end of DATA", code, text);
          if (code < 400) count_error("end of DATA " + std::to_string(code), text);
        }
        if (code == 421) return restart();  // the server closes after 421
        return start_message();
      }
      case phase::quit:
        close();
        return false;
    }
    return false;
  }

  /// The next transaction, or QUIT once the window is over.
  bool start_message() {
    if (clk::now() >= tally_.end) {
      phase_ = phase::quit;
      out_ = "QUIT\r\n";
      do_write();
      return false;
    }
    std::uint64_t n = tally_.next_message++;
    message_id_ = "bench-" + tally_.run_id + "-" + std::to_string(n) + "@mail.gmail.com";
    message_ = forwarded_message(opts_.to, message_id_, tally_.run_id, n);
    tally_.message_bytes = message_.size();
    phase_ = phase::mail;
    out_ = "MAIL FROM:<tom.harris@nordlicht-solar.com> SIZE=" + std::to_string(message_.size()) + "\r\n";
    if (pipelining_) out_ += "RCPT TO:<" + opts_.to + ">\r\nDATA\r\n";  // RFC 2920: DATA may end the group
    do_write();
    return false;
  }

  /// A reply other than the one the phase needs: counted, then a fresh session (a pipelined group
  /// leaves the server mid-transaction, so start over rather than guess its state).
  bool refused(const char* step, int code, const std::string& text) {
    count_reply(step, code, text);
    if (code < 400) count_error(std::string(step) + " " + std::to_string(code), text);
    return restart();
  }

  bool restart() {
    close();
    pause_.expires_after(k_reconnect_pause);
    pause_.async_wait([self = shared_from_this()](beast::error_code) { self->do_connect(); });
    return false;
  }

  void count_reply(const std::string& step, int code, const std::string& text) {
    if (code >= 400 && code < 500) ++tally_.rejected_4xx;
    else if (code >= 500) ++tally_.rejected_5xx;
    else return;
    std::string kind = step + " " + std::to_string(code);
    ++tally_.error_kinds[kind];
    if (tally_.first_error.empty()) tally_.first_error = kind + ": " + one_line(text);
  }

  void count_error(const std::string& kind, const std::string& detail = {}) {
    ++tally_.errors;
    ++tally_.error_kinds[kind];
    if (tally_.first_error.empty()) tally_.first_error = detail.empty() ? kind : kind + ": " + one_line(detail);
  }

  void protocol_error(const std::string& what) {
    count_error("protocol", what);
    restart();
  }

  /// An I/O error: counted (unless the window is over and the session was quitting), then a
  /// fresh connection after a short pause.
  void fail(const char* what, beast::error_code ec) {
    if (phase_ == phase::quit) return close();
    count_error(std::string(what) + ": " + ec.message());
    restart();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  asio::steady_timer pause_;
  tcp::endpoint endpoint_;
  const options& opts_;
  tally& tally_;
  phase phase_ = phase::greeting;
  bool pipelining_ = false;
  std::string in_, out_, message_, message_id_;
  std::array<char, 4096> chunk_{};
  clk::time_point sent_;
};

// --- after the run: PostgreSQL -------------------------------------------------------------

using pg_result = std::unique_ptr<PGresult, decltype(&PQclear)>;

/// "mail:" + the Message-ID without <>: the idempotency key the node gives an email trigger.
std::string key_of(const std::string& message_id) { return "mail:" + message_id; }

/// Runs `sql` with $1 = the keys as a text[] literal; throws on any error (the check must not
/// pass by accident).
pg_result query_keys(PGconn* c, const char* sql, std::span<const std::string> keys) {
  std::string array = "{";
  for (const auto& k : keys) {
    array += '"';
    for (char ch : k) {
      if (ch == '"' || ch == '\\') array += '\\';
      array += ch;
    }
    array += "\",";
  }
  array.back() = '}';
  const char* values[] = {array.c_str()};
  pg_result r(PQexecParams(c, sql, 1, nullptr, values, nullptr, nullptr, 0), &PQclear);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) throw std::runtime_error(std::string("query: ") + PQerrorMessage(c));
  return r;
}

template <class F>
void in_chunks(const std::vector<std::string>& keys, F&& f) {
  for (std::size_t i = 0; i < keys.size(); i += k_id_chunk)
    f(std::span<const std::string>(keys).subspan(i, std::min(k_id_chunk, keys.size() - i)));
}

std::vector<std::string> keys_of(const std::vector<std::string>& message_ids) {
  std::vector<std::string> out;
  out.reserve(message_ids.size());
  for (const auto& id : message_ids) out.push_back(key_of(id));
  return out;
}

/// Keys with no EMAIL execution (-> `missing`), and the keys whose run has not ended.
std::pair<std::uint64_t, std::vector<std::string>> check_rows(PGconn* c, const std::vector<std::string>& keys) {
  std::uint64_t found = 0;
  std::vector<std::string> running;
  in_chunks(keys, [&](std::span<const std::string> chunk) {
    auto r = query_keys(c, "SELECT idempotency_key, bool_and(status IN ('completed','failed','cancelled')) FROM workflow_executions"
                           " WHERE idempotency_key = ANY($1::text[]) AND trigger_type = 'EMAIL' GROUP BY idempotency_key", chunk);
    found += static_cast<std::uint64_t>(PQntuples(r.get()));
    for (int i = 0; i < PQntuples(r.get()); ++i)
      if (PQgetvalue(r.get(), i, 1)[0] != 't') running.emplace_back(PQgetvalue(r.get(), i, 0));
  });
  return {keys.size() - found, std::move(running)};
}

/// Polls the executions still running until they end or the wait is over; returns how many
/// have not ended. Only the unfinished ones are queried, so polling stays cheap for the node.
std::size_t wait_until_ended(PGconn* c, std::vector<std::string> running) {
  auto deadline = clk::now() + k_completion_wait;
  while (!running.empty() && clk::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<std::string> still;
    in_chunks(running, [&](std::span<const std::string> chunk) {
      auto r = query_keys(c, "SELECT DISTINCT idempotency_key FROM workflow_executions WHERE idempotency_key = ANY($1::text[])"
                             " AND trigger_type = 'EMAIL' AND status NOT IN ('completed','failed','cancelled')", chunk);
      for (int i = 0; i < PQntuples(r.get()); ++i) still.emplace_back(PQgetvalue(r.get(), i, 0));
    });
    running = std::move(still);
  }
  return running.size();
}

struct completion {
  std::uint64_t completed = 0;
  double last_completed_epoch_s = 0;  // completed_at is UTC written by the node
};

completion completion_of(PGconn* c, const std::vector<std::string>& keys) {
  completion out;
  in_chunks(keys, [&](std::span<const std::string> chunk) {
    auto r = query_keys(c, "SELECT count(*), COALESCE(extract(epoch FROM max(completed_at)), 0)::float8 FROM workflow_executions"
                           " WHERE idempotency_key = ANY($1::text[]) AND trigger_type = 'EMAIL' AND status = 'completed'", chunk);
    out.completed += std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
    out.last_completed_epoch_s = std::max(out.last_completed_epoch_s, std::strtod(PQgetvalue(r.get(), 0, 1), nullptr));
  });
  return out;
}

// --- reporting -----------------------------------------------------------------------------


// The address goes into RCPT TO:<...> and the To: header verbatim: nothing that could end a line.
bool plain_address(const std::string& a) {
  return a.find('@') != std::string::npos && a.find_first_of("<>\r\n \t\"") == std::string::npos;
}

int usage() {
  std::cerr << "usage: smtp_bench --port P --to ADDRESS [--host H] [--connections N] [--seconds S] [--warmup S]"
               " [--database-url URL] [--server-pid PID] [--pipelining on|off]\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = static_cast<unsigned short>(std::atoi(v.c_str()));
    else if (k == "--to") o.to = v;
    else if (k == "--connections") o.connections = std::atoi(v.c_str());
    else if (k == "--seconds") o.seconds = std::atof(v.c_str());
    else if (k == "--warmup") o.warmup = std::atof(v.c_str());
    else if (k == "--database-url") o.database_url = v;
    else if (k == "--server-pid") o.server_pid = std::atol(v.c_str());
    else if (k == "--pipelining" && (v == "on" || v == "off")) o.pipelining = v == "on";
    else return usage();
  }
  if (argc % 2 == 0 || o.port == 0 || !plain_address(o.to) || o.connections < 1 || o.seconds <= 0 || o.warmup < 0) return usage();

  try {
    // Load: one thread, one io_context, like http_bench.
    asio::io_context ioc(1);
    tcp::endpoint endpoint(asio::ip::make_address(o.host), o.port);
    tally t;
    t.run_id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000000000) + "-" +
               std::to_string(::getpid());
    t.latencies_us.reserve(static_cast<std::size_t>(o.seconds * 5000));
    t.measured_ids.reserve(static_cast<std::size_t>(o.seconds * 5000));
    auto start = clk::now();
    t.warm_end = start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.warmup));
    t.end = t.warm_end + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.seconds));
    // The wall clock at the window's start, to compare with completed_at written by the node.
    double window_start_wall = wall_now_s() + o.warmup;
    for (int i = 0; i < o.connections; ++i) std::make_shared<session>(ioc, endpoint, o, t)->start();
    // The node's CPU time over the measured window, read at its two ends.
    double cpu_start = -1, cpu_end = -1;
    asio::steady_timer at_start(ioc, t.warm_end), at_end(ioc, t.end);
    if (o.server_pid) {
      at_start.async_wait([&](beast::error_code) { cpu_start = cpu_seconds(o.server_pid); });
      at_end.async_wait([&](beast::error_code) { cpu_end = cpu_seconds(o.server_pid); });
    }
    ioc.run();  // returns when every session has stopped after the window (the drain included)
    double rss_mb = o.server_pid ? memory_mb(o.server_pid, "VmRSS:") : -1;

    std::sort(t.latencies_us.begin(), t.latencies_us.end());
    std::uint64_t accepted = t.measured_ids.size();
    std::int64_t missing = -1, not_completed = -1;
    double completed = -1, completed_per_s = -1;
    std::size_t unfinished = 0;
    if (!o.database_url.empty()) {
      std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(o.database_url.c_str()), &PQfinish);
      if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(std::string("database: ") + PQerrorMessage(c.get()));
      // 250 -> an EMAIL execution keyed by the Message-ID: every accepted message, in any phase.
      auto measured = keys_of(t.measured_ids);
      auto all = keys_of(t.warmup_ids);
      all.insert(all.end(), measured.begin(), measured.end());
      auto drained = keys_of(t.drain_ids);
      all.insert(all.end(), drained.begin(), drained.end());
      auto [lost, running] = check_rows(c.get(), all);
      missing = static_cast<std::int64_t>(lost);
      unfinished = wait_until_ended(c.get(), std::move(running));
      auto done = completion_of(c.get(), measured);
      completed = static_cast<double>(done.completed);
      double span = done.last_completed_epoch_s - window_start_wall;
      completed_per_s = done.completed && span > 0 ? completed / span : 0;
      not_completed = static_cast<std::int64_t>(all.size() - completion_of(c.get(), all).completed);
    }
    double rss_peak_mb = o.server_pid ? memory_mb(o.server_pid, "VmHWM:") : -1;
    double cpu_us_per_accepted =
        cpu_start >= 0 && cpu_end >= cpu_start && accepted ? (cpu_end - cpu_start) * 1e6 / static_cast<double>(accepted) : -1;

    double max_ms = t.latencies_us.empty() ? 0 : t.latencies_us.back() / 1000.0;
    std::printf(R"({"bench":"smtp_intake","connections":%d,"seconds":%.2f,"message_bytes":%zu,"accepted":%llu,"accepted_per_s":%.0f,)"
                R"("completed":%s,"completed_per_s":%s,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"rejected_4xx":%llu,)"
                R"("rejected_5xx":%llu,"errors":%llu,"node_cpu_us_per_accepted":%s,"missing":%s,"not_completed":%s,)"
                R"("rss_mb":%s,"rss_peak_mb":%s,"target_per_s":%.0f,"target_p99_ms":%.0f})" "\n",
                o.connections, o.seconds, t.message_bytes, static_cast<unsigned long long>(accepted),
                static_cast<double>(accepted) / o.seconds, number_or_null(completed, "%.0f").c_str(),
                number_or_null(completed_per_s, "%.0f").c_str(), percentile_ms(t.latencies_us, 0.50),
                percentile_ms(t.latencies_us, 0.99), max_ms, static_cast<unsigned long long>(t.rejected_4xx),
                static_cast<unsigned long long>(t.rejected_5xx), static_cast<unsigned long long>(t.errors),
                number_or_null(cpu_us_per_accepted, "%.0f").c_str(), number_or_null(static_cast<double>(missing), "%.0f").c_str(),
                number_or_null(static_cast<double>(not_completed), "%.0f").c_str(), number_or_null(rss_mb, "%.1f").c_str(),
                number_or_null(rss_peak_mb, "%.1f").c_str(), k_target_per_s, k_target_p99_ms);
    std::fflush(stdout);
    // The line stays one line; what explains a bad figure goes to stderr.
    if (!t.error_kinds.empty()) {
      std::cerr << "smtp_bench: refusals and errors by kind:";
      for (const auto& [kind, n] : t.error_kinds) std::cerr << " [" << kind << "] " << n;
      std::cerr << "\nsmtp_bench: first: " << t.first_error << "\n";
    }
    if (unfinished) std::cerr << "smtp_bench: " << unfinished << " executions had not ended after 60 s\n";
    if (not_completed > 0)
      std::cerr << "smtp_bench: " << not_completed << " accepted messages' executions did not complete (failed, cancelled or still running)\n";
    if (missing > 0) std::cerr << "smtp_bench: " << missing << " accepted messages have no EMAIL execution keyed by their Message-ID\n";
    if (accepted == 0) std::cerr << "smtp_bench: nothing was accepted in the window: no measurement\n";
    return missing > 0 || accepted == 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "smtp_bench: " << e.what() << "\n";
    return 1;
  }
}
