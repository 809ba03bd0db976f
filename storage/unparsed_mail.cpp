#include "storage/unparsed_mail.hpp"

#include "runtime/text.hpp"
#include "storage/hash.hpp"

namespace flowtrack::storage {
namespace {

// $1 workspace, $2 digest, $3 raw (bytea, hex text), $4 size, $5 reason, $6 channel, $7 envelope
// sender, $8 client. A resend of the same bytes finds the row already there. The third column
// says whether the owner needs no notice: told of this one, or of another in the last hour (a
// flood of junk makes one email an hour, not one each).
const pg::statement k_keep{"ft_unparsed_keep", R"sql(
WITH ins AS (
  INSERT INTO unparsed_mail (workspace_id, digest, raw, size_bytes, reason, channel, envelope_from, client_ip)
  VALUES ($1::uuid, $2, $3::bytea, $4::int, $5, $6, NULLIF($7, ''), NULLIF($8, ''))
  ON CONFLICT (workspace_id, digest) DO NOTHING
  RETURNING id, owner_notified_at
), recent AS (
  SELECT EXISTS (SELECT 1 FROM unparsed_mail WHERE workspace_id = $1::uuid AND owner_notified_at > now() - interval '1 hour') AS told
)
SELECT id, true, owner_notified_at IS NOT NULL OR told FROM ins, recent
UNION ALL
SELECT id, false, owner_notified_at IS NOT NULL OR told FROM unparsed_mail, recent
WHERE workspace_id = $1::uuid AND digest = $2 AND NOT EXISTS (SELECT 1 FROM ins)
)sql"};

const pg::statement k_notified{"ft_unparsed_notified",
                               "UPDATE unparsed_mail SET owner_notified_at = now() WHERE id = $2::uuid AND workspace_id = $1::uuid"};

const pg::statement k_purge{"ft_unparsed_purge", R"sql(
DELETE FROM unparsed_mail WHERE id IN (SELECT id FROM unparsed_mail WHERE expires_at < now() ORDER BY expires_at LIMIT $1::int)
)sql"};

// The workspace by slug or id, as the other operator commands take it.
std::string workspace_match(std::string_view workspace) {
  return runtime::is_uuid(workspace) ? "w.id = $1::uuid" : "w.slug = $1";
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string bytea_hex(std::string_view raw) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 + raw.size() * 2);
  out += "\\x";
  for (unsigned char c : raw) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

}  // namespace

result<kept_mail> keep_unparsed_mail(pg::connection& c, const std::string& workspace_id, const domain::unparsed_mail& m) {
  auto rows = c.exec(k_keep, pg::params{}
                                 .add(workspace_id)
                                 .add(m.digest.empty() ? sha256_hex(m.raw) : m.digest)
                                 .add(bytea_hex(m.raw))
                                 .add(static_cast<std::int64_t>(m.raw.size()))
                                 .add(m.reason)
                                 .add(m.channel)
                                 .add(m.envelope_from)
                                 .add(m.client_ip));
  if (!rows) return rows.err();
  // Two deliveries at once: the loser's insert waited and found nothing to return, nor could its
  // snapshot see the winner's row. The winner keeps it; the sender's retry finds it.
  if (rows->empty()) return make_error(error_code::unavailable, "the same message is being kept right now; try again");
  return kept_mail{std::string(rows->get(0, 0)), rows->get_bool(0, 1), rows->get_bool(0, 2)};
}

result<void> mark_unparsed_mail_notified(pg::connection& c, const std::string& workspace_id, const std::string& id) {
  auto rows = c.exec(k_notified, pg::params{}.add(workspace_id).add(id));
  if (!rows) return rows.err();
  return {};
}

result<std::size_t> purge_unparsed_mail(pg::connection& c, std::size_t limit) {
  auto rows = c.exec(k_purge, pg::params{}.add(static_cast<std::int64_t>(limit)));
  if (!rows) return rows.err();
  return static_cast<std::size_t>(rows->affected());
}

result<std::vector<std::string>> list_unparsed_mail(pg::connection& c, std::string_view workspace, std::size_t limit) {
  auto rows = c.exec(
      "SELECT json_build_object('id', u.id, 'receivedAt', u.received_at, 'expiresAt', u.expires_at, 'reason', u.reason, "
      "'channel', u.channel, 'envelopeFrom', u.envelope_from, 'clientIp', u.client_ip, 'sizeBytes', u.size_bytes, "
      "'ownerNotifiedAt', u.owner_notified_at)::text "
      "FROM unparsed_mail u JOIN workspaces w ON w.id = u.workspace_id WHERE " + workspace_match(workspace) +
          " ORDER BY u.received_at DESC LIMIT $2::int",
      pg::params{}.add(workspace).add(static_cast<std::int64_t>(limit)));
  if (!rows) return rows.err();
  std::vector<std::string> out;
  for (int i = 0; i < rows->size(); ++i) out.emplace_back(rows->get(i, 0));
  return out;
}

result<std::string> unparsed_mail_raw(pg::connection& c, std::string_view workspace, const std::string& id) {
  if (!runtime::is_uuid(id)) return make_error(error_code::invalid, "'" + id + "' is not an id", "id");
  auto rows = c.exec("SELECT u.raw FROM unparsed_mail u JOIN workspaces w ON w.id = u.workspace_id WHERE u.id = $2::uuid AND " +
                         workspace_match(workspace),
                     pg::params{}.add(workspace).add(id));
  if (!rows) return rows.err();
  if (rows->empty()) return make_error(error_code::not_found, "no kept mail " + id + " in workspace '" + std::string(workspace) + "'", "id");
  std::string_view hex = rows->get(0, 0);  // bytea's text form: \x and two hex digits a byte
  if (hex.size() < 2 || hex[0] != '\\' || hex[1] != 'x' || hex.size() % 2 != 0)
    return make_error(error_code::internal, "unexpected bytea text form");
  std::string raw;
  raw.reserve((hex.size() - 2) / 2);
  for (std::size_t i = 2; i + 1 < hex.size(); i += 2) {
    int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return make_error(error_code::internal, "unexpected bytea text form");
    raw.push_back(static_cast<char>(hi * 16 + lo));
  }
  return raw;
}

}  // namespace flowtrack::storage
