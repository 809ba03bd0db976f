#include "adapters/webhook/signed_sender.hpp"

#include <future>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "adapters/webhook/signature.hpp"
#include "storage/webhooks.hpp"

namespace flowtrack::webhook {
namespace {

actors::webhook_sent refused(error e) {
  actors::webhook_sent out;
  out.answer.failure = std::move(e);
  out.request_headers_json = "{}";
  return out;
}

}  // namespace

/// The keys from the settings; a malformed key is a start-up error naming its setting.
crypto::keyring keyring_of(const config::settings& s) {
  auto keys = crypto::keyring::from_hex(s.encryption_key, s.encryption_old_keys);
  if (!keys) throw config::config_error(keys.err().setting, keys.err().message);
  return std::move(*keys);
}

/// Says in the log, at start-up, which stored secrets this node cannot open or should rotate
/// (key ids and counts only). Never fails the start: a database that does not answer in time
/// is only noted.
void report_keys_in_use(pg::pool& db, const crypto::keyring& keys) {
  auto found = db.run([](pg::connection& c) { return storage::secret_key_ids_in_use(c); }, /*retry_safe=*/true);
  if (found.wait_for(db.options().connection.connect_timeout + std::chrono::seconds(1)) != std::future_status::ready) {
    spdlog::warn("webhook secrets: could not check which keys the stored secrets use (no answer in time)");
    return;
  }
  auto ids = found.get();
  if (!ids) {
    spdlog::warn("webhook secrets: could not check which keys the stored secrets use: {}", ids.err().message);
    return;
  }
  for (const auto& [id, count] : *ids) {
    if (id.empty())
      spdlog::error("webhook secrets: {} stored value(s) are not encrypted; their endpoints' deliveries fail until the "
                    "endpoint is made again",
                    count);
    else if (!keys.holds(id))
      spdlog::error("webhook secrets: {} stored value(s) are under key {}, which neither encryption_key nor "
                    "encryption_old_keys holds; their deliveries fail until that key is configured",
                    count, id);
    else if (id != keys.current_id())
      spdlog::info("webhook secrets: {} stored value(s) are under the old key {}; run `flowtrackd secrets rotate`", count, id);
  }
}

std::string clean_utf8(std::string_view s, std::size_t limit) {
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(s.size(), limit));
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && c != 0;
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && n >= 3) {  // no overlong forms, surrogates or code points beyond U+10FFFF
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90)) ok = false;
    }
    std::string_view piece = ok ? s.substr(i, n) : replacement;
    if (out.size() + piece.size() > limit) break;
    out.append(piece);
    i += ok ? n : 1;
  }
  return out;
}

void signed_sender::send(actors::webhook_send m, std::function<void(actors::webhook_sent)> done) {
  // The signing keys: the current secret, and during a rotation the previous one too.
  std::vector<std::string> keys;
  for (const auto* sealed : {&m.sealed_secret, &m.sealed_previous_secret}) {
    if (!*sealed) continue;
    auto secret = reveal_secret(keys_, **sealed, storage::secret_context("secret_key", m.endpoint_id));
    if (!secret) return done(refused(secret.err()));
    auto key = signing_key(*secret);
    if (!key) return done(refused(make_error(error_code::invalid, "the endpoint's secret is not valid whsec_ base64", "secret_key")));
    keys.push_back(std::move(*key));
  }
  actors::outgoing_post post;
  post.url = std::move(m.url);
  boost::json::object recorded;
  auto add = [&](std::string name, std::string value, bool secret = false) {
    recorded[name] = secret ? "[redacted]" : value;
    post.headers.emplace_back(std::move(name), std::move(value));
  };
  add("content-type", "application/json");
  add("webhook-id", m.webhook_id);
  add("webhook-timestamp", std::to_string(m.timestamp_s));
  if (!keys.empty()) {
    std::string signatures;
    for (const auto& k : keys) signatures += (signatures.empty() ? "" : " ") + sign(k, m.webhook_id, m.timestamp_s, m.body);
    add("webhook-signature", std::move(signatures));
  }
  if (m.auth_header_name && m.sealed_auth_value) {
    auto value = reveal_secret(keys_, *m.sealed_auth_value, storage::secret_context("auth_header_value", m.endpoint_id));
    if (!value) return done(refused(value.err()));
    add(*m.auth_header_name, std::move(*value), true);
  }
  post.body = std::move(m.body);
  auto headers_json = boost::json::serialize(recorded);
  post_.post(std::move(post), [done = std::move(done), headers_json = std::move(headers_json)](actors::post_answer a) {
    actors::webhook_sent out;
    a.body = clean_utf8(a.body);
    for (auto& [k, v] : a.headers) {
      k = clean_utf8(k);
      v = clean_utf8(v);
    }
    out.answer = std::move(a);
    out.request_headers_json = headers_json;
    done(std::move(out));
  });
}

}  // namespace flowtrack::webhook
