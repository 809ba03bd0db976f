// The refresh job's pass and its timer.
#include "adapters/oauth/token_refresh.hpp"

#include <spdlog/spdlog.h>

#include "adapters/oauth/provider_mailer.hpp"
#include "storage/oauth.hpp"

namespace flowtrack::oauth {

result<refresh_report> refresh_expiring(pg::connection& c, const crypto::keyring& keys, provider_client& client,
                                        actors::mailer_port& owner_mail, std::chrono::seconds window, int limit) {
  const auto window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(window).count();
  auto due = storage::oauth::expiring_credentials(c, window_ms, limit);
  if (!due) return due.err();
  refresh_report report;
  report.due = due->size();
  for (const auto& d : *due) {
    auto p = from_provider_type(d.provider_type);
    if (!p) continue;
    storage::oauth::refresh_policy policy;
    policy.min_valid_ms = window_ms;  // another pass or a send that refreshed meanwhile leaves nothing to do
    auto r = storage::oauth::refresh_credential(c, keys, d.workspace_id, d.provider_type, policy,
                                                [&](const std::string& rt) { return client.refresh_blocking(*p, rt); });
    if (r) {
      if (r->refreshed) ++report.refreshed;
      continue;
    }
    if (r.err().subject == "invalid_grant") {
      ++report.revoked;
      tell_owner_revoked(c, owner_mail, d.workspace_id, *p);
    } else if (r.err().subject != "inactive" && r.err().code != error_code::not_found) {  // gone meanwhile: nothing to do
      ++report.failed;
      spdlog::warn("oauth-refresh: credential {} of workspace {} not refreshed: {}", d.id, d.workspace_id, r.err().message);
    }
  }
  if (auto purged = storage::oauth::purge_authorizations(c); !purged)
    spdlog::warn("oauth-refresh: old authorizations not purged: {}", purged.err().message);
  return report;
}

token_refresh_timer::token_refresh_timer(pg::pool& postgres, const crypto::keyring& keys, provider_client& client,
                                         actors::mailer_port& owner_mail, std::chrono::seconds interval, std::chrono::seconds window)
    : postgres_(postgres), keys_(keys), client_(client), owner_mail_(owner_mail), interval_(interval), window_(window),
      thread_([this] { loop(); }) {}

token_refresh_timer::~token_refresh_timer() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void token_refresh_timer::loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    auto pass = postgres_.run([this](pg::connection& c) { return refresh_expiring(c, keys_, client_, owner_mail_, window_); });
    auto r = pass.get();
    if (!r)
      spdlog::warn("oauth-refresh: the pass failed: {}", r.err().message);
    else if (r->due > 0)
      spdlog::info("oauth-refresh: {} due, {} refreshed, {} revoked, {} failed", r->due, r->refreshed, r->revoked, r->failed);
    lock.lock();
  }
}

}  // namespace flowtrack::oauth
