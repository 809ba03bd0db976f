// The last step of a webhook attempt: open the endpoint's sealed secrets (only here, only now),
// sign the message to the Standard Webhooks specification (both secrets during a rotation), add
// the endpoint's auth header, and post it through a post_port; the answer comes back cleaned to
// valid UTF-8 with the sent headers recorded, secrets redacted. Implements
// actors::webhook_send_port; knows crypto and HTTP headers, no actors.
#pragma once

#include "actors/ports.hpp"
#include "config/settings.hpp"
#include "crypto/secret_box.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::webhook {

class signed_sender final : public actors::webhook_send_port {
 public:
  /// `post` must outlive the sender.
  signed_sender(crypto::keyring keys, actors::post_port& post) : keys_(std::move(keys)), post_(post) {}
  void send(actors::webhook_send message, std::function<void(actors::webhook_sent)> done) override;

 private:
  crypto::keyring keys_;
  actors::post_port& post_;
};

/// The secret key ring from the settings; a malformed key throws config::config_error naming
/// its setting (a start-up error).
crypto::keyring keyring_of(const config::settings& s);

/// Says in the log, at start-up, which stored secrets this node cannot open or should rotate
/// (key ids and counts only). Never fails the start.
void report_keys_in_use(pg::pool& db, const crypto::keyring& keys);

/// Valid UTF-8 without NUL (bad bytes become U+FFFD), at most `limit` bytes, cut on a
/// character boundary: text PostgreSQL takes.
std::string clean_utf8(std::string_view s, std::size_t limit = std::string::npos);

}  // namespace flowtrack::webhook
