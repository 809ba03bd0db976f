// Unreadable intake mail kept raw (migration 020): stored once per workspace and message, marked
// when the owner was told, removed when it expires. Knows SQL only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "domain/intake.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// What keeping a message gave: its row, and whether it was new (a resend finds the first).
struct kept_mail {
  std::string id;
  bool created = false;
  bool owner_notified = false;  ///< the owner needs no notice: told of this message, or of another within the hour
};

/// Keeps the message for `workspace_id` for 30 days.
result<kept_mail> keep_unparsed_mail(pg::connection& c, const std::string& workspace_id, const domain::unparsed_mail& m);

/// Records that the owner was told about the row.
result<void> mark_unparsed_mail_notified(pg::connection& c, const std::string& workspace_id, const std::string& id);

/// The workspace's kept mail (slug or id), newest first, as JSON objects (id, receivedAt,
/// expiresAt, reason, channel, envelopeFrom, clientIp, sizeBytes, ownerNotifiedAt); at most `limit`.
result<std::vector<std::string>> list_unparsed_mail(pg::connection& c, std::string_view workspace, std::size_t limit);

/// One kept message's bytes, as received; `not_found` unless it is the workspace's.
result<std::string> unparsed_mail_raw(pg::connection& c, std::string_view workspace, const std::string& id);

/// Expired rows removed by one purge_unparsed_mail.
inline constexpr std::size_t unparsed_purge_batch = 1000;

/// Removes up to `limit` expired rows; how many went.
result<std::size_t> purge_unparsed_mail(pg::connection& c, std::size_t limit = unparsed_purge_batch);

}  // namespace flowtrack::storage
