// Fuzzes the SMTP session state machine with arbitrary byte streams, split into reads at
// arbitrary points, with handler answers drawn from the input. Invariants: no crash; every
// reply line is "ddd" then ' ' or '-', printable, CRLF-terminated; a multi-line reply keeps
// one code; nothing comes out after close; limits hold (recipients, kept message size).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "adapters/smtp/session.hpp"

namespace {

using namespace flowtrack::smtp;

void check_output(const std::string& out) {
  std::size_t at = 0;
  int multi_code = -1;
  while (at < out.size()) {
    auto end = out.find("\r\n", at);
    if (end == std::string::npos) std::abort();  // not CRLF-terminated
    std::string_view line(out.data() + at, end - at);
    if (line.size() < 4) std::abort();
    for (int i = 0; i < 3; ++i)
      if (line[i] < '0' || line[i] > '9') std::abort();
    if (line[0] < '2' || line[0] > '5') std::abort();
    if (line[3] != ' ' && line[3] != '-') std::abort();
    for (unsigned char c : line)
      if (c < 32 || c == 127) std::abort();  // a CR or LF inside a line would split the reply
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (multi_code >= 0 && code != multi_code) std::abort();
    multi_code = line[3] == '-' ? code : -1;
    at = end + 2;
  }
  if (multi_code >= 0) std::abort();  // a reply left unfinished
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // The first octets choose the limits and the handler's answers.
  session_limits limits;
  limits.max_message_bytes = 64 + data[0] * 16;
  limits.max_discard_bytes = 256;
  limits.max_recipients = 1 + data[0] % 5;
  limits.max_errors = 3 + data[1] % 20;
  bool tls = data[1] & 0x80;
  std::uint8_t policy = data[1];
  data += 2;
  size -= 2;

  session s(limits, "mx.fuzz", "192.0.2.9", tls);
  s.greet();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t at = 0, answers = 0;
  bool closed = false;
  while (true) {
    step st = s.run();
    std::string out = s.take_output();
    check_output(out);
    if (closed && !out.empty()) std::abort();  // a reply after close
    if (st == step::close) {
      if (!s.closed()) std::abort();
      closed = true;
    }
    if (s.current().recipients.size() > limits.max_recipients) std::abort();
    switch (st) {
      case step::check_sender:
      case step::check_recipient:
      case step::deliver: {
        if (st == step::deliver && s.take_message().size() > limits.max_message_bytes) std::abort();
        if (st == step::check_recipient && s.candidate().text.empty()) std::abort();
        int pick = (policy >> (answers++ % 7)) & 3;
        static const reply answers_by_pick[] = {{250, "2.0.0", "ok"}, {550, "5.1.1", "no\r\nsuch"}, {451, "4.3.0", "later"}, {999, "x", "bad"}};
        s.resolve(answers_by_pick[pick]);
        continue;
      }
      case step::start_tls:
        if ((policy & 1) == 0) {
          s.tls_started();
          if (!s.current().tls) std::abort();
          continue;
        }
        return 0;  // the handshake failed: the server closes
      case step::close:
      case step::read:
        break;
    }
    if (at >= input.size()) break;
    // Reads of 1..64 octets, sized by the data itself.
    std::size_t n = 1 + static_cast<unsigned char>(input[at]) % 64;
    n = std::min(n, input.size() - at);
    s.receive(input.substr(at, n));
    at += n;
    if (closed) {
      if (s.run() != step::close || s.has_output()) std::abort();
      break;
    }
  }
  s.timed_out();
  check_output(s.take_output());
  return 0;
}
