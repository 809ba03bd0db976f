// The integration tokens' refresh job: credentials whose access token expires within a window are
// refreshed (grant_type=refresh_token, a rotated refresh token kept) under their row lock, so a
// refresh racing a send or another node's job calls the provider once. A revoked grant makes the
// credential inactive and tells the owner. Runs on a timer thread of its own, its work on the
// PostgreSQL pool; knows no actors.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

#include "actors/ports.hpp"
#include "adapters/oauth/provider_client.hpp"
#include "crypto/secret_box.hpp"
#include "storage/pg/pool.hpp"

namespace flowtrack::oauth {

/// What one pass did.
struct refresh_report {
  std::size_t due = 0, refreshed = 0, revoked = 0, failed = 0;
};

/// One pass on `c` (a pool thread: it waits on the provider while a row is locked): up to
/// `limit` credentials expiring within `window` refreshed. A revoked grant: inactive, owner told
/// through `owner_mail`. Failures are logged (never a token) and counted; the pass goes on.
result<refresh_report> refresh_expiring(pg::connection& c, const crypto::keyring& keys, provider_client& client,
                                        actors::mailer_port& owner_mail, std::chrono::seconds window, int limit = 50);

/// Runs refresh_expiring every `interval` on the pool until destroyed.
class token_refresh_timer {
 public:
  /// Borrowed references outlive the timer. The first pass runs after `interval`.
  token_refresh_timer(pg::pool& postgres, const crypto::keyring& keys, provider_client& client, actors::mailer_port& owner_mail,
                      std::chrono::seconds interval, std::chrono::seconds window);
  /// Stops the timer (waits for a pass under way).
  ~token_refresh_timer();
  token_refresh_timer(const token_refresh_timer&) = delete;
  token_refresh_timer& operator=(const token_refresh_timer&) = delete;

 private:
  void loop();
  pg::pool& postgres_;
  const crypto::keyring& keys_;
  provider_client& client_;
  actors::mailer_port& owner_mail_;
  std::chrono::seconds interval_, window_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;  // last: started once everything above is set
};

}  // namespace flowtrack::oauth
