// The shard leases' SQL. See shard_leases.hpp for the protocol; the lock each statement takes is
// part of it (FOR UPDATE to take over, FOR NO KEY UPDATE to renew or release, FOR KEY SHARE to
// fence), always in shard order.
#include "storage/shard_leases.hpp"

#include <algorithm>
#include <set>

#include "domain/shard_ring.hpp"
#include "storage/pg/array.hpp"

namespace flowtrack::storage::shard_leases {
namespace {

// Unix ms of a timestamptz column; NULL for NULL and for +-infinity (a released lease).
std::string ms(const char* column) {
  return std::string("CASE WHEN isfinite(") + column + ") THEN (extract(epoch FROM " + column + ") * 1000)::bigint END";
}

// Takes what is free, expired or released, and extends what this node holds unexpired. The
// subquery locks the rows FOR UPDATE in shard order (the lock conflicts with the KEY SHARE of a
// fence, so a takeover waits for the old epoch's writes in flight) and re-checks its condition
// on the row as committed by whoever held the lock before (READ COMMITTED): of two takers, the
// second finds the row live and another's, and leaves it. The SET expressions read the row
// before this update. `began`: the epoch started with this statement.
const pg::statement k_acquire{"ft_shard_acquire", R"sql(
UPDATE shard_leases l SET
  epoch = CASE WHEN l.owner = $2 AND l.expires_at > statement_timestamp() THEN l.epoch ELSE l.epoch + 1 END,
  acquired_at = CASE WHEN l.owner = $2 AND l.expires_at > statement_timestamp() THEN l.acquired_at ELSE statement_timestamp() END,
  owner = $2,
  expires_at = statement_timestamp() + $3::bigint * interval '1 millisecond',
  renewed_at = statement_timestamp(),
  released_at = NULL
WHERE l.shard IN (
  SELECT x.shard FROM shard_leases x
  WHERE x.shard = ANY($1::int[]) AND (x.expires_at <= statement_timestamp() OR x.owner = $2)
  ORDER BY x.shard
  FOR UPDATE)
RETURNING l.shard, l.epoch, l.acquired_at = statement_timestamp(), )sql" + ms("l.expires_at")};

// Who holds the shards acquire did not get. A statement of its own, so its snapshot includes a
// takeover that acquire waited for and then lost to.
const pg::statement k_holders{"ft_shard_holders", R"sql(
SELECT shard, COALESCE(owner, ''), epoch, COALESCE()sql" + ms("expires_at") + R"sql(, 0)
FROM shard_leases WHERE shard = ANY($1::int[]) ORDER BY shard
)sql"};

// Extends the leases still this node's at the given epochs and unexpired. FOR NO KEY UPDATE:
// the same lock the UPDATE takes anyway, taken in shard order; it does not conflict with the
// KEY SHARE of the node's own fences.
const pg::statement k_renew{"ft_shard_renew", R"sql(
UPDATE shard_leases l SET
  expires_at = statement_timestamp() + $4::bigint * interval '1 millisecond',
  renewed_at = statement_timestamp()
WHERE l.shard IN (
  SELECT x.shard FROM shard_leases x
  JOIN unnest($2::int[], $3::bigint[]) AS h(shard, epoch) ON h.shard = x.shard AND h.epoch = x.epoch
  WHERE x.owner = $1 AND x.expires_at > statement_timestamp()
  ORDER BY x.shard
  FOR NO KEY UPDATE OF x)
RETURNING l.shard, l.epoch, )sql" + ms("l.expires_at")};

// -infinity rather than now: an acquire that started before this commit and waited for the row
// finds it expired by its own (earlier) statement time too.
const pg::statement k_release{"ft_shard_release", R"sql(
UPDATE shard_leases SET expires_at = '-infinity', released_at = statement_timestamp()
WHERE shard = $1 AND owner = $2 AND epoch = $3 AND expires_at > '-infinity'
RETURNING 1
)sql"};

// The fence is fence_shard_leases() of migration 031: it locks, checks and raises FTF01 with the
// constraint name "shard_lease" when fenced out, so it also stops a pipeline's transaction.
const pg::statement k_fence{"ft_shard_fence", "SELECT fence_shard_leases($1, $2::int[], $3::bigint[])"};

const pg::statement k_leases{"ft_shard_leases", R"sql(
SELECT shard, owner, epoch, )sql" + ms("expires_at") + R"sql(, expires_at <= clock_timestamp(),
       )sql" + ms("acquired_at") + ", " + ms("renewed_at") + ", " + ms("released_at") + R"sql(
FROM shard_leases ORDER BY shard
)sql"};

std::optional<error> check_shard(int shard) {
  if (shard < 0 || shard >= domain::k_shard_count)
    return make_error(error_code::invalid,
                      "shard " + std::to_string(shard) + " is outside 0.." + std::to_string(domain::k_shard_count - 1),
                      "shard");
  return std::nullopt;
}

std::optional<error> check_node(std::string_view node) {
  if (node.empty()) return make_error(error_code::invalid, "a shard lease needs the node's name", "node");
  return std::nullopt;
}

std::optional<error> check_lease(std::chrono::milliseconds lease) {
  if (lease.count() < 1) return make_error(error_code::invalid, "a shard lease lasts at least 1 ms", "lease");
  return std::nullopt;
}

std::optional<std::int64_t> optional_int(const pg::rows& r, int row, int col) {
  if (r.is_null(row, col)) return std::nullopt;
  return r.get_int(row, col);
}

}  // namespace

result<std::vector<acquisition>> acquire(pg::connection& c, const std::vector<int>& shards, std::string_view node,
                                         std::chrono::milliseconds lease) {
  if (auto e = check_node(node)) return *e;
  if (auto e = check_lease(lease)) return *e;
  std::set<int> wanted;
  for (int s : shards) {
    if (auto e = check_shard(s)) return *e;
    wanted.insert(s);
  }
  if (wanted.empty()) return std::vector<acquisition>{};
  pg::array_builder all;
  for (int s : wanted) all.add(static_cast<std::int64_t>(s));
  auto taken = c.exec(k_acquire, pg::params{}.add(all.finish()).add(node).add(static_cast<std::int64_t>(lease.count())));
  if (!taken) return taken.err();

  std::vector<acquisition> out;
  out.reserve(wanted.size());
  for (int i = 0; i < taken->size(); ++i) {
    acquisition a;
    a.shard = static_cast<int>(taken->get_int(i, 0));
    a.held = true;
    a.epoch = taken->get_int(i, 1);
    a.began = taken->get_bool(i, 2);
    a.expires_at_ms = taken->get_int(i, 3);
    wanted.erase(a.shard);
    out.push_back(std::move(a));
  }
  if (!wanted.empty()) {
    pg::array_builder rest;
    for (int s : wanted) rest.add(static_cast<std::int64_t>(s));
    auto holders = c.exec(k_holders, pg::params{}.add(rest.finish()));
    if (!holders) return holders.err();
    for (int i = 0; i < holders->size(); ++i) {
      acquisition a;
      a.shard = static_cast<int>(holders->get_int(i, 0));
      a.owner = std::string(holders->get(i, 1));
      a.epoch = holders->get_int(i, 2);
      a.expires_at_ms = holders->get_int(i, 3);
      out.push_back(std::move(a));
    }
  }
  std::sort(out.begin(), out.end(), [](const acquisition& a, const acquisition& b) { return a.shard < b.shard; });
  return out;
}

result<renewal> renew(pg::connection& c, std::string_view node, const std::vector<held_shard>& held,
                      std::chrono::milliseconds lease) {
  if (auto e = check_node(node)) return *e;
  if (auto e = check_lease(lease)) return *e;
  std::set<std::pair<int, std::int64_t>> asked;
  for (const auto& h : held) {
    if (auto e = check_shard(h.shard)) return *e;
    asked.emplace(h.shard, h.epoch);
  }
  renewal out;
  if (asked.empty()) return out;
  pg::array_builder shards, epochs;
  for (const auto& [s, e] : asked) {
    shards.add(static_cast<std::int64_t>(s));
    epochs.add(e);
  }
  auto r = c.exec(k_renew, pg::params{}
                               .add(node)
                               .add(shards.finish())
                               .add(epochs.finish())
                               .add(static_cast<std::int64_t>(lease.count())));
  if (!r) return r.err();
  for (int i = 0; i < r->size(); ++i) {
    held_shard h{static_cast<int>(r->get_int(i, 0)), r->get_int(i, 1)};
    asked.erase({h.shard, h.epoch});
    out.held.push_back(h);
    if (!out.expires_at_ms) out.expires_at_ms = optional_int(*r, i, 2);
  }
  std::sort(out.held.begin(), out.held.end(), [](const held_shard& a, const held_shard& b) { return a.shard < b.shard; });
  for (const auto& [s, e] : asked) out.lost.push_back({s, e});
  return out;
}

result<bool> release(pg::connection& c, std::string_view node, int shard, std::int64_t epoch) {
  if (auto e = check_node(node)) return *e;
  if (auto e = check_shard(shard)) return *e;
  auto r = c.exec(k_release, pg::params{}.add(shard).add(node).add(epoch));
  if (!r) return r.err();
  return !r->empty();
}

result<void> fence(pg::connection& c, std::string_view node, int shard, std::int64_t epoch) {
  return fence_many(c, node, {held_shard{shard, epoch}});
}

pg::pipelined fence_command(std::string_view node, const std::vector<held_shard>& held) {
  pg::array_builder shards, epochs;
  for (const auto& h : held) {
    shards.add(static_cast<std::int64_t>(h.shard));
    epochs.add(h.epoch);
  }
  return {&k_fence, pg::params{}.add(node).add(shards.finish()).add(epochs.finish())};
}

bool fenced_out(const error& e) { return e.subject == k_fenced_subject; }

error fence_error(error e) {
  if (fenced_out(e)) e.code = error_code::conflict;
  return e;
}

result<void> fence_many(pg::connection& c, std::string_view node, const std::vector<held_shard>& held) {
  if (auto e = check_node(node)) return *e;
  if (held.empty()) return {};
  for (const auto& h : held)
    if (auto e = check_shard(h.shard)) return *e;
  auto cmd = fence_command(node, held);
  auto r = c.exec(*cmd.stmt, cmd.args);
  if (!r) return fence_error(r.err());
  return {};
}

result<std::vector<lease>> leases(pg::connection& c) {
  auto r = c.exec(k_leases);
  if (!r) return r.err();
  std::vector<lease> out;
  out.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) {
    lease l;
    l.shard = static_cast<int>(r->get_int(i, 0));
    l.owner = r->get_optional(i, 1);
    l.epoch = r->get_int(i, 2);
    l.expires_at_ms = optional_int(*r, i, 3);
    l.expired = r->get_bool(i, 4);
    l.acquired_at_ms = optional_int(*r, i, 5);
    l.renewed_at_ms = optional_int(*r, i, 6);
    l.released_at_ms = optional_int(*r, i, 7);
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace flowtrack::storage::shard_leases
