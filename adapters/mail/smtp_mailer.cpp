// The SMTP side of outbound email: one libcurl easy handle per worker thread, reused so a
// session keeps its relay connection. Message text comes from adapters/mail/message.hpp.
#include "adapters/mail/smtp_mailer.hpp"

#include <algorithm>
#include <mutex>

#include <arpa/inet.h>
#include <curl/curl.h>

#include "domain/tracking.hpp"
#include "storage/worker_pool.hpp"

namespace flowtrack::mail {
namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct curl_deleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};

/// The message text handed to libcurl piece by piece.
struct upload {
  std::string_view data;
  std::size_t pos = 0;
};

std::size_t read_upload(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* u = static_cast<upload*>(user);
  std::size_t len = std::min(size * n, u->data.size() - u->pos);
  std::copy_n(u->data.data() + u->pos, len, buf);
  u->pos += len;
  return len;
}

/// The relay's replies, for error messages: the latest one, and the latest refusal (4xx/5xx),
/// which the QUIT after a failure would otherwise replace with "221 Bye". Only what the server
/// says is kept: our own commands (AUTH among them) are never stored.
struct reply_capture {
  std::string latest;
  std::string refusal;
  bool next_replaces = true;
};

int on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
  auto* r = static_cast<reply_capture*>(user);
  if (type == CURLINFO_HEADER_OUT) {
    r->next_replaces = true;
  } else if (type == CURLINFO_HEADER_IN) {
    if (r->next_replaces) r->latest.clear(), r->next_replaces = false;
    constexpr std::size_t k_cap = 1024;
    if (r->latest.size() < k_cap) r->latest.append(data, std::min(size, k_cap - r->latest.size()));
    if (r->latest[0] == '4' || r->latest[0] == '5') r->refusal = r->latest;
  }
  return 0;
}

/// One printable line out of a (possibly multi-line) server reply.
std::string printable_reply(std::string_view raw) {
  std::string out;
  for (unsigned char c : raw) {
    if (c == '\r') continue;
    if (c == '\n') c = ' ';
    out += (c < 0x20 || c >= 0x7f) ? '?' : static_cast<char>(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

/// The relay URL with the EHLO domain as its path ("smtp://host:port/domain"), as libcurl
/// takes it; a path given in the setting is kept.
std::string relay_url_with_domain(const std::string& relay, const std::string& domain) {
  auto scheme_end = relay.find("://");
  auto path = relay.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path == std::string::npos) return relay + "/" + domain;
  if (path + 1 == relay.size()) return relay + domain;
  return relay;
}

}  // namespace

bool relay_on_loopback(std::string_view relay_url) {
  auto scheme_end = relay_url.find("://");
  std::string_view rest = scheme_end == std::string_view::npos ? relay_url : relay_url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);  // user:password@
  std::string_view host;
  if (rest.starts_with("[")) {
    host = rest.substr(1, rest.find(']') == std::string_view::npos ? std::string_view::npos : rest.find(']') - 1);
  } else {
    host = rest.substr(0, rest.find(':'));
  }
  if (host == "localhost" || host == "::1") return true;
  unsigned char v4[4];
  std::string h(host);
  return inet_pton(AF_INET, h.c_str(), v4) == 1 && v4[0] == 127;
}

struct smtp_mailer::session {
  std::unique_ptr<CURL, curl_deleter> handle{curl_easy_init()};
};

struct smtp_mailer::workers {
  storage::worker_pool<session> pool;
  explicit workers(int threads) : pool(threads, [] { return session{}; }) {}
};

smtp_mailer::smtp_mailer(const config::settings& s, mailer_options opts)
    : relay_url_(relay_url_with_domain(s.mail_relay, s.mail_domain)), relay_on_loopback_(relay_on_loopback(s.mail_relay)),
      opts_(std::move(opts)) {
  init_curl_once();
  identity_.domain = s.mail_domain;
  auto sender = check_address(opts_.sender.empty() ? "noreply@" + s.mail_domain : opts_.sender, "mail_sender");
  if (!sender) throw config::config_error("mail_sender", sender.err().message);
  identity_.address = std::move(*sender);
  if (auto keys = crypto::keyring::from_hex(s.encryption_key, s.encryption_old_keys); keys && keys->can_seal()) keys_ = std::move(*keys);
  public_url_ = s.public_base_url();
  opts_.connect_timeout = std::min(opts_.connect_timeout, opts_.timeout);
  workers_ = std::make_unique<workers>(opts_.threads);
}

smtp_mailer::~smtp_mailer() = default;

void smtp_mailer::send(actors::email_message message, std::function<void(result<std::string>)> done) {
  workers_->pool.submit([this, m = std::move(message), done = std::move(done)](session& s) { done(transmit(s, m)); });
}

result<std::string> smtp_mailer::transmit(session& s, const actors::email_message& m) const {
  auto links = keys_ ? tracking_links_for(m, *keys_, public_url_) : std::nullopt;
  auto composed = compose(m, identity_, std::chrono::system_clock::now(), links ? &*links : nullptr);
  if (!composed) return composed.err();
  CURL* h = s.handle.get();
  if (!h) return make_error(error_code::internal, "could not create a libcurl handle");

  // reset keeps the handle's open connection, so the next message reuses the SMTP session.
  curl_easy_reset(h);
  upload body{composed->text};
  reply_capture reply;
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string mail_from = "<" + composed->sender + ">";
  std::string rcpt = "<" + composed->recipient + ">";
  curl_slist* recipients = curl_slist_append(nullptr, rcpt.c_str());

  curl_easy_setopt(h, CURLOPT_URL, relay_url_.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // never through a proxy from the environment
  // Off loopback the relay must speak TLS (STARTTLS, or smtps:// from the first byte); a relay
  // on this machine may, when it offers it.
  curl_easy_setopt(h, CURLOPT_USE_SSL, relay_on_loopback_ ? CURLUSESSL_TRY : CURLUSESSL_ALL);
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(h, CURLOPT_READDATA, &body);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(composed->text.size()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);  // feeds on_debug; nothing is printed
  curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
  curl_easy_setopt(h, CURLOPT_DEBUGDATA, &reply);

  CURLcode rc = curl_easy_perform(h);
  long smtp_code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &smtp_code);
  curl_slist_free_all(recipients);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_DEBUGDATA, nullptr);
  curl_easy_setopt(h, CURLOPT_READDATA, nullptr);

  if (rc == CURLE_OK) return std::move(composed->message_id);

  std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  std::string said = printable_reply(reply.refusal.empty() ? reply.latest : reply.refusal);
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return make_error(error_code::timeout, "mail relay did not finish within " + std::to_string(opts_.timeout.count()) +
                                               " ms (" + detail + ")");
  if (smtp_code >= 500 && smtp_code < 600)
    return make_error(error_code::invalid, "mail relay refused the message: " + (said.empty() ? detail : said));
  if (smtp_code >= 400 && smtp_code < 500)
    return make_error(error_code::unavailable, "mail relay deferred the message: " + (said.empty() ? detail : said));
  switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return make_error(error_code::invalid, "mail_relay is not a usable smtp:// or smtps:// URL (" + detail + ")",
                        "mail_relay");
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
      return make_error(error_code::unavailable, "mail relay unreachable: " + detail);
    default:
      return make_error(error_code::unavailable, "mail relay exchange failed: " + detail +
                                                     (said.empty() ? "" : " (last reply: " + said + ")"));
  }
}

}  // namespace flowtrack::mail
