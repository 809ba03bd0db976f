#include "storage/workspaces.hpp"

#include <openssl/rand.h>

#include "domain/workspace_rules.hpp"
#include "runtime/text.hpp"
#include "runtime/tz.hpp"
#include "storage/pg/array.hpp"
#include "storage/subscriptions.hpp"
#include "storage/workflows.hpp"

namespace flowtrack::storage {
namespace {

// The columns a workspace actor caches, as one digest, so the poll's report can be compared
// with what was loaded (w: a workspaces row). The subscription in force is part of it (plan,
// status, period): a Stripe plan change marks the workspace changed (migration 026) and every
// node reloads it.
const std::string k_workspace_fingerprint =
    "md5(row(w.slug, w.is_active, w.deleted_at, w.timezone, w.name, w.settings, "
    "(SELECT row(f.id, f.subscription_plan_id, f.status, f.current_period_start, f.current_period_end) FROM (" +
    detail::subscription_in_force_sql("w.id") + ") f))::text)";

// Current billing period: the subscription's while it lasts, else the calendar month.
const std::string k_select_workspace = R"sql(
SELECT w.id, w.name, w.slug, w.intake_email_id, w.owner_user_id, u.email, COALESCE(w.timezone, 'UTC'), w.is_active,
       COALESCE(p.slug, 'free'), COALESCE(p.quotas, fp.quotas, '{}'::jsonb)::text,
       CASE WHEN s.current_period_end >= current_date THEN s.current_period_start
            ELSE date_trunc('month', now())::date END::text,
       CASE WHEN s.current_period_end >= current_date THEN s.current_period_end
            ELSE (date_trunc('month', now()) + interval '1 month - 1 day')::date END::text,
       )sql" + k_workspace_fingerprint + R"sql(, COALESCE(w.settings, '{}'::jsonb)::text
FROM workspaces w
JOIN users u ON u.id = w.owner_user_id
LEFT JOIN LATERAL ()sql" + detail::subscription_in_force_sql("w.id") + R"sql() s ON true
LEFT JOIN subscription_plans p ON p.id = s.subscription_plan_id
LEFT JOIN subscription_plans fp ON fp.slug = 'free'
WHERE w.deleted_at IS NULL AND )sql";

domain::workspace_info read_workspace(const pg::rows& r) {
  domain::workspace_info w;
  w.id = r.get(0, 0);
  w.name = r.get(0, 1);
  w.slug = r.get(0, 2);
  w.intake_email_id = r.get(0, 3);
  w.owner_user_id = r.get(0, 4);
  w.owner_email = r.get(0, 5);
  w.timezone = r.get(0, 6);
  w.is_active = r.get_bool(0, 7);
  w.plan_slug = r.get(0, 8);
  w.plan_quotas = r.get(0, 9);
  w.period_start = r.get(0, 10);
  w.settings = r.get(0, 13);
  w.period_end = r.get(0, 11);
  w.fingerprint = r.get(0, 12);
  return w;
}

std::string random_intake_id() {
  unsigned char bytes[6];
  RAND_bytes(bytes, sizeof bytes);
  static const char* alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  std::string out;
  for (unsigned char b : bytes) out += alphabet[b % 32];
  for (unsigned char b : bytes) out += alphabet[(b >> 3) % 32];
  return out;
}

}  // namespace

result<domain::workspace_info> find_workspace(pg::connection& c, std::string_view slug_or_id) {
  auto r = c.exec(std::string(k_select_workspace) + (runtime::is_uuid(slug_or_id) ? "w.id = $1::uuid" : "w.slug = $1"),
                  pg::params{}.add(slug_or_id));
  if (!r) return r.err();
  if (r->empty())
    return make_error(error_code::not_found, "no workspace '" + std::string(slug_or_id) + "'", "workspace");
  return read_workspace(*r);
}

namespace {

// Rows changed after $1 (changed_at: the moment of the write, see migration 015). The next poll
// starts a few seconds back, or at the start of the oldest transaction that has written something
// and is still open in this database (at most ten minutes back), so a row such a transaction
// wrote before this poll and commits after it is still seen. Other users' transactions show in
// pg_stat_activity only to roles allowed to see them; for them the 5 s margin holds.
const pg::statement k_poll_tenants{"ft_poll_tenants", R"sql(
WITH since AS (SELECT COALESCE($1::timestamptz, now() - interval '5 seconds') AS t),
wf AS (
  SELECT id FROM workflows, since WHERE changed_at > since.t
  UNION SELECT workflow_id FROM form_fields, since WHERE changed_at > since.t
)
SELECT 'f', f.id::text, f.workspace_id::text, '', )sql" + std::string(k_workflow_fingerprint_sql) + R"sql(, f.deleted_at IS NULL, ''
FROM workflows f JOIN wf ON wf.id = f.id
UNION ALL
SELECT 'w', w.id::text, w.id::text, w.slug, )sql" + k_workspace_fingerprint + R"sql(, w.is_active AND w.deleted_at IS NULL,
       w.intake_email_id
FROM workspaces w, since WHERE w.changed_at > since.t
UNION ALL
SELECT 'n', GREATEST(clock_timestamp() - interval '10 minutes',
                     LEAST(clock_timestamp() - interval '5 seconds',
                           (SELECT min(xact_start) - interval '1 second' FROM pg_stat_activity
                            WHERE datname = current_database() AND backend_xid IS NOT NULL)))::text,
       '', '', '', false, ''
)sql"};

const pg::statement k_find_tenants{"ft_find_tenants", R"sql(
SELECT 's', slug, id::text, is_active FROM workspaces WHERE deleted_at IS NULL AND slug = ANY($1::text[])
UNION ALL
SELECT 'f', f.id::text, f.workspace_id::text, true FROM workflows f JOIN workspaces w ON w.id = f.workspace_id
WHERE f.deleted_at IS NULL AND w.deleted_at IS NULL AND f.id = ANY($2::uuid[])
UNION ALL
SELECT 'i', intake_email_id, id::text, is_active FROM workspaces WHERE deleted_at IS NULL AND intake_email_id = ANY($3::text[])
)sql"};

}  // namespace

result<tenant_changes> poll_tenant_changes(pg::connection& c, const std::string& since) {
  pg::params p;
  if (since.empty()) p.add_null();
  else p.add(since);
  auto r = c.exec(k_poll_tenants, p);
  if (!r) return r.err();
  tenant_changes out;
  for (int i = 0; i < r->size(); ++i) {
    auto tag = r->get(i, 0);
    if (tag == "n") {
      out.next_since = r->get(i, 1);
      continue;
    }
    tenant_change ch;
    ch.what = tag == "w" ? tenant_change::kind::workspace : tenant_change::kind::workflow;
    ch.id = r->get(i, 1);
    ch.workspace_id = r->get(i, 2);
    ch.slug = r->get(i, 3);
    ch.fingerprint = r->get(i, 4);
    ch.usable = r->get_bool(i, 5);
    ch.intake_id = r->get(i, 6);
    out.changes.push_back(std::move(ch));
  }
  return out;
}

result<tenant_lookup> find_tenants(pg::connection& c, const std::vector<std::string>& slugs,
                                   const std::vector<std::string>& workflow_ids, const std::vector<std::string>& intake_ids) {
  pg::array_builder s, f, in;
  for (const auto& x : slugs) s.add(x);
  for (const auto& x : workflow_ids) f.add(x);
  for (const auto& x : intake_ids) in.add(x);
  auto r = c.exec(k_find_tenants, pg::params{s.finish(), f.finish(), in.finish()});
  if (!r) return r.err();
  tenant_lookup out;
  for (int i = 0; i < r->size(); ++i) {
    auto tag = r->get(i, 0);
    if (tag == "s") out.slugs[std::string(r->get(i, 1))] = {std::string(r->get(i, 2)), r->get_bool(i, 3)};
    else if (tag == "i") out.intakes[std::string(r->get(i, 1))] = {std::string(r->get(i, 2)), r->get_bool(i, 3)};
    else out.workflows[std::string(r->get(i, 1))] = std::string(r->get(i, 2));
  }
  return out;
}

result<void> check_timezone(pg::connection& c, std::string_view zone) {
  if (zone == "UTC") return {};
  if (!runtime::is_valid_zone_name(zone))
    return make_error(error_code::invalid, "timezone must be an IANA time zone name such as Europe/Berlin", "timezone");
  auto r = c.exec("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", pg::params{}.add(zone));
  if (!r) return r.err();
  if (!r->get_bool(0, 0))
    return make_error(error_code::invalid, "unknown time zone '" + std::string(zone) + "'; use an IANA name such as Europe/Berlin",
                      "timezone");
  return {};
}

result<domain::workspace_info> create_workspace(pg::connection& c, const new_workspace& w) {
  if (auto why = domain::check_workspace_name(w.name)) return make_error(error_code::invalid, *why, "name");
  if (auto why = domain::check_slug(w.slug)) return make_error(error_code::invalid, *why, "slug");
  if (auto tz = check_timezone(c, w.timezone); !tz) return tz.err();
  if (!w.owner_user_id.empty() && !runtime::is_uuid(w.owner_user_id))
    return make_error(error_code::not_found, "no user '" + w.owner_user_id + "'", "user");
  return pg::transact(c, [&](pg::connection& tx) -> result<domain::workspace_info> {
    auto plan = tx.exec("SELECT id FROM subscription_plans WHERE slug = $1 AND is_active", pg::params{}.add(w.plan_slug));
    if (!plan) return plan.err();
    if (plan->empty()) return make_error(error_code::not_found, "no active plan '" + w.plan_slug + "'", "plan");
    std::string owner;
    if (!w.owner_user_id.empty()) {
      auto user = tx.exec("SELECT id FROM users WHERE id = $1::uuid AND deleted_at IS NULL", pg::params{}.add(w.owner_user_id));
      if (!user) return user.err();
      if (user->empty()) return make_error(error_code::not_found, "no user '" + w.owner_user_id + "'", "user");
      owner = std::string(user->get(0, 0));
    } else {
      auto user = tx.exec(
          "WITH found AS (SELECT id FROM users WHERE email = $1::citext AND deleted_at IS NULL),"
          " made AS (INSERT INTO users (email, auth_provider) SELECT $1, 'local' WHERE NOT EXISTS (SELECT 1 FROM found) RETURNING id)"
          " SELECT id FROM found UNION ALL SELECT id FROM made",
          pg::params{}.add(w.owner_email));
      if (!user) {
        if (user.err().subject == "users_email_valid")
          return make_error(error_code::invalid, "'" + w.owner_email + "' is not a valid email address", "owner_email");
        return user.err();
      }
      owner = std::string(user->get(0, 0));
    }
    auto ws = tx.exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id, timezone) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                      pg::params{}.add(w.name).add(w.slug).add(random_intake_id()).add(owner).add(w.timezone));
    if (!ws) {
      auto e = ws.err();
      if (e.subject == "workspaces_slug_key") return make_error(error_code::conflict, "slug '" + w.slug + "' is taken", "slug");
      if (e.subject == "workspaces_slug_format" || e.code == error_code::invalid)
        return make_error(error_code::invalid, "slug must be lower-case letters, digits and hyphens, at most 50", "slug");
      return e;
    }
    std::string id = std::string(ws->get(0, 0));
    auto member = tx.exec("INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', now())",
                          pg::params{}.add(id).add(owner));
    if (!member) return member.err();
    auto sub = tx.exec(
        "INSERT INTO subscriptions (workspace_id, subscription_plan_id, status, billing_cycle, current_period_start, current_period_end)"
        " VALUES ($1, $2, 'active', 'monthly', date_trunc('month', now())::date,"
        " (date_trunc('month', now()) + interval '1 month - 1 day')::date)",
        pg::params{}.add(id).add(std::string(plan->get(0, 0))));
    if (!sub) return sub.err();
    return find_workspace(tx, id);
  });
}

result<std::string> rotate_inbound_token(pg::connection& c, std::string_view slug_or_id) {
  auto token = new_token("ftin_");
  if (!token) return token.err();
  auto r = c.exec(std::string("UPDATE workspaces w SET inbound_token_hash = $2 WHERE w.deleted_at IS NULL AND ") +
                      (runtime::is_uuid(slug_or_id) ? "w.id = $1::uuid" : "w.slug = $1"),
                  pg::params{}.add(slug_or_id).add(token_hash(*token)));
  if (!r) return r.err();
  if (r->affected() != 1) return make_error(error_code::not_found, "no workspace '" + std::string(slug_or_id) + "'", "workspace");
  return token;
}

result<std::string> intake_of_inbound_token(pg::connection& c, std::string_view token) {
  auto r = c.exec("SELECT intake_email_id FROM workspaces WHERE inbound_token_hash = $1 AND deleted_at IS NULL AND is_active",
                  pg::params{}.add(token_hash(token)));
  if (!r) return r.err();
  if (r->empty()) return make_error(error_code::unauthorized, "missing or unknown inbound token", "X-FlowTrack-Token");
  return std::string(r->get(0, 0));
}

}  // namespace flowtrack::storage
