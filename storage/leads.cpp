#include "storage/leads.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <set>

#include <boost/json.hpp>

#include "crypto/jwt.hpp"
#include "domain/csv.hpp"
#include "runtime/text.hpp"
#include "storage/hash.hpp"
#include "storage/pg/array.hpp"
#include "storage/webhook_outbox.hpp"

namespace flowtrack::storage {
namespace {

namespace json = boost::json;

std::string lower_copy(std::string s) {
  runtime::to_lower_ascii(s);
  return s;
}

// --- SQL pieces ---------------------------------------------------------------------------------

// Times cross as epoch ms through the session's zone both ways (as storage/accounts), except the
// keyset keys: those are the stored TIMESTAMP's exact microseconds, read and written without any
// zone, so a cursor compares equal to the row it came from.
std::string ms(std::string_view column) {
  return "(extract(epoch FROM " + std::string(column) + "::timestamptz) * 1000)::bigint";
}
std::string ts(std::string_view ms_param) {
  return "to_timestamp(" + std::string(ms_param) + "::bigint / 1000.0)::timestamp";
}
std::string us(std::string_view column) { return "(extract(epoch FROM " + std::string(column) + ") * 1000000)::bigint"; }
std::string us_to_ts(std::string_view p) {
  const std::string v = std::string(p) + "::bigint";
  return "('epoch'::timestamp + (" + v + " / 1000000) * interval '1 second' + (" + v +
         " % 1000000) * interval '1 microsecond')";
}

// Written exactly as idx_leads_ws_search's expression (migration 025).
constexpr std::string_view k_search_expr =
    "lower(l.email::text || ' ' || COALESCE(l.name, '') || ' ' || COALESCE(l.company_name, '') || ' ' || "
    "COALESCE(l.phone, ''))";

const std::string k_cols = "l.id::text, l.workflow_id::text, l.email::text, COALESCE(l.name, ''), COALESCE(l.company_name, ''), "
                           "COALESCE(l.phone, ''), l.status, l.source, l.source_metadata::text, l.assigned_to_user_id::text, "
                           "COALESCE(l.score, 0), to_json(COALESCE(l.tags, '{}'::text[]))::text, " +
                           ms("l.last_activity_at") + ", " + ms("l.last_email_sent_at") + ", " + ms("l.last_email_opened_at") +
                           ", " + ms("l.created_at") + ", " + ms("l.updated_at") + ", " + us("l.updated_at");
constexpr int k_ncols = 18;

std::optional<std::int64_t> opt_int(const pg::rows& r, int i, int col) {
  if (r.is_null(i, col)) return std::nullopt;
  return r.get_int(i, col);
}

lead_row read_lead(const pg::rows& r, int i) {
  lead_row l;
  l.id = r.get(i, 0);
  l.workflow_id = r.get(i, 1);
  l.email = r.get(i, 2);
  l.name = r.get(i, 3);
  l.company_name = r.get(i, 4);
  l.phone = r.get(i, 5);
  l.status = r.get(i, 6);
  l.source = r.get(i, 7);
  l.source_metadata = r.get_optional(i, 8);
  l.assigned_to = r.get_optional(i, 9);
  l.score = r.get_int(i, 10);
  boost::system::error_code ec;
  auto tags = json::parse(r.get(i, 11), ec);
  if (!ec && tags.is_array())
    for (const auto& t : tags.as_array())
      if (t.is_string()) l.tags.emplace_back(t.as_string());
  l.last_activity_at_ms = opt_int(r, i, 12);
  l.last_email_sent_at_ms = opt_int(r, i, 13);
  l.last_email_opened_at_ms = opt_int(r, i, 14);
  l.created_at_ms = r.get_int(i, 15);
  l.updated_at_ms = r.get_int(i, 16);
  l.version = r.get_int(i, 17);
  return l;
}

std::string iso_ms(std::int64_t ms_value) {
  std::int64_t s = ms_value / 1000, frac = ms_value % 1000;
  if (frac < 0) {
    frac += 1000;
    --s;
  }
  std::time_t t = static_cast<std::time_t>(s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf, static_cast<int>(frac));
  return out;
}

json::value text_or_null(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

// The lead as ingest's lead.created / lead.updated messages carry it.
std::string lead_json(const lead_row& l) {
  json::object o;
  o["id"] = l.id;
  o["workflow_id"] = l.workflow_id;
  o["email"] = l.email;
  o["name"] = text_or_null(l.name);
  o["company_name"] = text_or_null(l.company_name);
  o["phone"] = text_or_null(l.phone);
  o["status"] = l.status;
  o["source"] = l.source;
  o["created_at"] = iso_ms(l.created_at_ms);
  return json::serialize(o);
}

error invalid(std::string message, std::string subject) {
  return make_error(error_code::invalid, std::move(message), std::move(subject));
}
error no_lead() { return make_error(error_code::not_found, "no such lead in this workspace", "lead"); }

// --- input rules --------------------------------------------------------------------------------

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
}

// A short text column: at most `max` characters (the column's VARCHAR length), no control characters.
std::optional<error> check_text(std::string_view v, std::size_t max, const std::string& subject) {
  if (code_points(v) > max) return invalid(subject + " must be at most " + std::to_string(max) + " characters", subject);
  if (has_control(v)) return invalid(subject + " must not contain control characters", subject);
  return std::nullopt;
}

std::optional<error> check_email(std::string_view e, const std::string& subject = "email") {
  const auto at = e.find('@');
  if (e.empty()) return invalid("email is required", subject);
  if (e.size() > 254 || has_control(e) || e.find(' ') != std::string_view::npos || at == 0 ||
      at == std::string_view::npos || e.find('@', at + 1) != std::string_view::npos ||
      e.find('.', at) == std::string_view::npos || e.back() == '.' || e.back() == '@')
    return invalid("'" + std::string(e.substr(0, 80)) + "' is not an email address", subject);
  return std::nullopt;
}

std::optional<error> check_status(std::string_view s, const std::string& subject = "status") {
  if (runtime::trim(s).empty()) return invalid("status must not be empty", subject);
  return check_text(s, 50, subject);
}

constexpr std::size_t k_max_tags = 50;
constexpr std::size_t k_max_tag_chars = 100;

// Tags as stored: trimmed, non-empty, each once, in the order given.
result<std::vector<std::string>> clean_tags(const std::vector<std::string>& in, const std::string& subject = "tags") {
  std::vector<std::string> out;
  for (const auto& raw : in) {
    std::string t(runtime::trim(raw));
    if (t.empty()) return invalid("a tag must not be empty", subject);
    if (auto e = check_text(t, k_max_tag_chars, subject)) return *e;
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
  }
  if (out.size() > k_max_tags) return invalid("a lead has at most " + std::to_string(k_max_tags) + " tags", subject);
  return out;
}

std::optional<error> check_score(std::int64_t s, const std::string& subject = "score") {
  if (s < -1'000'000'000 || s > 1'000'000'000) return invalid("score must be between -1000000000 and 1000000000", subject);
  return std::nullopt;
}

std::optional<error> check_user_id(std::string_view id) {
  if (!runtime::is_uuid(id)) return invalid("the acting user id must be a UUID", "userId");
  return std::nullopt;
}

// --- cursors ------------------------------------------------------------------------------------

// A cursor is base64url(checksum16 + payload) with payload "<kind>|<workspace>|<scope>|<id>|<key>":
// the workspace and the scope (the list's filters and sort, or the lead of a timeline) must match
// the request; the checksum makes any edited byte an invalid cursor. (It is a checksum, not a MAC:
// a forged cursor can only name a position in the caller's own list, which every filter of the
// statement still scopes to the workspace.)
std::string make_cursor(std::string_view kind, std::string_view ws, std::string_view scope, std::string_view id,
                        std::string_view key) {
  std::string payload = std::string(kind) + "|" + lower_copy(std::string(ws)) + "|" + std::string(scope) + "|" +
                        std::string(id) + "|" + std::string(key);
  return crypto::base64url_encode(sha256_hex(payload).substr(0, 16) + payload);
}

struct cursor_position {
  std::string id, key;
};

error bad_cursor() {
  return invalid("the cursor does not belong to this list (another workspace, filter or sort, or edited); start again "
                 "from the first page",
                 "cursor");
}

result<cursor_position> read_cursor(std::string_view cursor, std::string_view kind, std::string_view ws,
                                    std::string_view scope) {
  if (cursor.size() > 2048) return bad_cursor();
  auto raw = crypto::base64url_decode(cursor);
  if (!raw || raw->size() < 17) return bad_cursor();
  const std::string payload = raw->substr(16);
  if (sha256_hex(payload).substr(0, 16) != raw->substr(0, 16)) return bad_cursor();
  std::vector<std::string> parts;
  std::size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    auto bar = payload.find('|', pos);
    if (bar == std::string::npos) return bad_cursor();
    parts.push_back(payload.substr(pos, bar - pos));
    pos = bar + 1;
  }
  if (parts[0] != kind || parts[1] != lower_copy(std::string(ws)) || parts[2] != scope || !runtime::is_uuid(parts[3]))
    return bad_cursor();
  return cursor_position{parts[3], payload.substr(pos)};
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// --- list ---------------------------------------------------------------------------------------

struct sort_spec {
  std::string key;     // the ORDER BY expression (an index column of migration 025)
  std::string key_out; // the key as the cursor carries it
  bool integer;        // the cursor key is an integer (µs or score)
};

sort_spec spec_of(lead_sort s) {
  switch (s) {
    case lead_sort::created_at: return {"l.created_at", us("l.created_at") + "::text", true};
    case lead_sort::updated_at: return {"l.updated_at", us("l.updated_at") + "::text", true};
    case lead_sort::score: return {"COALESCE(l.score, 0)", "COALESCE(l.score, 0)::text", true};
    case lead_sort::name: return {"lower(COALESCE(l.name, ''))", "lower(COALESCE(l.name, ''))", false};
  }
  return spec_of(lead_sort::created_at);
}

// The list's identity for its cursors: filters and sort, normalised.
std::string scope_of(const lead_query& q) {
  std::vector<std::string> tags = q.tags;
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  std::string s = "s=" + q.status.value_or("\x01") + "\x1f" + "src=" + q.source.value_or("\x01") + "\x1f" +
                  "a=" + lower_copy(q.assigned_to.value_or("\x01")) + "\x1f" + "q=" + q.text.value_or("\x01") +
                  "\x1f" + "f=" + (q.created_from_ms ? std::to_string(*q.created_from_ms) : "-") + "\x1f" +
                  "t=" + (q.created_to_ms ? std::to_string(*q.created_to_ms) : "-") + "\x1f" +
                  "o=" + std::string(to_string(q.sort)) + (q.descending ? ":desc" : ":asc") + "\x1f" + "tags=";
  for (const auto& t : tags) s += t + "\x1e";
  return sha256_hex(s).substr(0, 16);
}

std::string like_pattern(std::string_view text) {
  std::string out = "%";
  for (char ch : text) {
    if (ch == '%' || ch == '_' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  out.push_back('%');
  return out;
}

std::optional<error> check_query(const lead_query& q, bool for_export) {
  if (q.status)
    if (auto e = check_status(*q.status)) return e;
  if (q.tags.size() > 20) return invalid("at most 20 tags may be asked for at once", "tag");
  for (const auto& t : q.tags) {
    if (t.empty()) return invalid("a tag must not be empty", "tag");
    if (auto e = check_text(t, k_max_tag_chars, "tag")) return e;
  }
  if (q.source)
    if (auto e = check_text(*q.source, 50, "source")) return e;
  if (q.assigned_to && !runtime::is_uuid(*q.assigned_to)) return invalid("assignedTo must be a user id (a UUID)", "assignedTo");
  if (q.text) {
    const std::size_t n = code_points(runtime::trim(*q.text));
    if (n < 3) return invalid("q must have at least 3 characters", "q");
    if (n > 200) return invalid("q must have at most 200 characters", "q");
    if (has_control(*q.text)) return invalid("q must not contain control characters", "q");
  }
  if (q.created_from_ms && q.created_to_ms && *q.created_from_ms >= *q.created_to_ms)
    return invalid("createdTo must be after createdFrom", "createdTo");
  if (!for_export && (q.limit < 1 || q.limit > 100)) return invalid("limit must be between 1 and 100", "limit");
  return std::nullopt;
}

// The list statement. Export adds the assignee's email and the custom fields as columns 19, 20.
//
// A text filter has two forms. Plain, the condition is in the WHERE clause and the planner reads
// the trigram index, then sorts the matches: quick for a rare text, but a text in 10% of a
// million leads sorts 100,000 rows. Windowed (`window` > 0), the statement walks the sort's own
// index from the cursor for at most `window` leads and keeps the matches: when they fill the
// page, they are exactly the plain form's first rows (the window is a prefix of the same order);
// when they do not, the caller runs the plain form. run_list picks (below).
result<std::pair<std::string, pg::params>> build_list(std::string_view ws, const lead_query& q, int fetch,
                                                      bool for_export, int window = 0) {
  if (!runtime::is_uuid(ws)) return make_error(error_code::not_found, "no such workspace", "workspace");
  if (auto e = check_query(q, for_export)) return *e;
  const sort_spec spec = spec_of(q.sort);
  pg::params p;
  auto arg = [&p](auto&& v) {
    p.add(std::forward<decltype(v)>(v));
    return "$" + std::to_string(p.size());
  };
  std::string select = "SELECT " + k_cols + ", " + spec.key_out;
  if (for_export)
    select += ", (SELECT u.email::text FROM users u WHERE u.id = l.assigned_to_user_id), "
              "(SELECT jsonb_object_agg(ff.field_key, d.value) FROM lead_field_data d JOIN form_fields ff ON ff.id = "
              "d.form_field_id WHERE d.lead_id = l.id)::text";
  const bool windowed = window > 0 && q.text.has_value();
  std::string text_cond;
  if (q.text)
    text_cond = std::string(k_search_expr) + " LIKE lower(" + arg(like_pattern(runtime::trim(*q.text))) + "::text)";
  // Windowed, the inner statement returns whole rows (no output expression is computed for a
  // lead the text does not match) and the outer one keeps the matches in order.
  std::string sql = windowed ? std::string("SELECT l.*") : select;
  sql += "\nFROM leads l\nWHERE l.workspace_id = " + arg(std::string(ws)) + "::uuid AND l.deleted_at IS NULL";
  if (q.status) sql += "\n  AND l.status = " + arg(*q.status);
  if (!q.tags.empty()) {
    pg::array_builder a;
    for (const auto& t : q.tags) a.add(t);
    sql += "\n  AND l.tags && " + arg(a.finish()) + "::text[]";
  }
  if (q.source) sql += "\n  AND l.source = " + arg(*q.source);
  if (q.assigned_to) sql += "\n  AND l.assigned_to_user_id = " + arg(*q.assigned_to) + "::uuid";
  if (q.text && !windowed) sql += "\n  AND " + text_cond;
  if (q.created_from_ms) sql += "\n  AND l.created_at >= " + ts(arg(*q.created_from_ms));
  if (q.created_to_ms) sql += "\n  AND l.created_at < " + ts(arg(*q.created_to_ms));
  if (q.cursor) {
    auto pos = read_cursor(*q.cursor, "l1", ws, scope_of(q));
    if (!pos) return pos.err();
    std::string key;
    if (spec.integer) {
      auto v = parse_int(pos->key);
      if (!v) return bad_cursor();
      if (q.sort == lead_sort::score) {
        if (*v < INT32_MIN || *v > INT32_MAX) return bad_cursor();
        key = arg(*v) + "::int";
      } else {
        key = us_to_ts(arg(*v));
      }
    } else {
      key = arg(pos->key) + "::text";
    }
    sql += "\n  AND (" + spec.key + ", l.id) " + (q.descending ? "<" : ">") + " (" + key + ", " + arg(pos->id) + "::uuid)";
  }
  const char* dir = q.descending ? " DESC" : " ASC";
  const std::string order = "\nORDER BY " + spec.key + dir + ", l.id" + dir + "\nLIMIT ";
  if (!windowed) {
    sql += order + arg(static_cast<std::int64_t>(fetch));
  } else {
    sql += order + arg(static_cast<std::int64_t>(window));
    sql = select + "\nFROM (" + sql + ") l\nWHERE " + text_cond + order + arg(static_cast<std::int64_t>(fetch));
  }
  return std::make_pair(std::move(sql), std::move(p));
}

// A text filter's page, by the cheaper of two walks (measured at 1,000,000 leads: a leads row
// read in the sort's order costs about 10 us, a trigram match read and sorted about 15 us). A
// probe window of k_text_probe leads estimates how common the text is; when the matches are
// common enough (2 or more in the probe, over ~0.4%), a window sized for the page (1.5 times
// what the probe's rate needs, at most k_text_window_max) is walked; otherwise, or when that
// window does not fill the page either, the trigram form answers.
constexpr int k_text_probe = 500;
constexpr int k_text_window_max = 20000;

// Runs the list statement (a text filter as above).
result<pg::rows> run_list(pg::connection& c, std::string_view ws, const lead_query& q, int fetch, bool for_export) {
  if (q.text) {
    auto probe = build_list(ws, q, fetch, for_export, k_text_probe);
    if (!probe) return probe.err();
    auto r = c.exec(probe->first, probe->second);
    if (!r) return r.err();
    if (r->size() >= fetch) return r;
    if (r->size() >= 2) {
      const auto wanted = static_cast<long>(fetch) * k_text_probe * 3 / (2L * r->size());
      const int window = static_cast<int>(std::min<long>(wanted, k_text_window_max));
      if (window > k_text_probe) {
        auto wide = build_list(ws, q, fetch, for_export, window);
        if (!wide) return wide.err();
        auto w = c.exec(wide->first, wide->second);
        if (!w) return w.err();
        if (w->size() >= fetch) return w;
      }
    }
  }
  auto built = build_list(ws, q, fetch, for_export);
  if (!built) return built.err();
  return c.exec(built->first, built->second);
}

// --- statements ---------------------------------------------------------------------------------

const pg::statement k_get_lead{"ft_leads_get", "SELECT " + k_cols +
                                                   " FROM leads l WHERE l.id = $2::uuid AND l.workspace_id = $1::uuid"
                                                   " AND l.deleted_at IS NULL"};
const pg::statement k_lock_lead{"ft_leads_lock", "SELECT " + k_cols +
                                                     " FROM leads l WHERE l.id = $2::uuid AND l.workspace_id = $1::uuid"
                                                     " AND l.deleted_at IS NULL FOR UPDATE"};
const pg::statement k_get_fields{"ft_leads_fields", R"sql(
SELECT ff.id::text, ff.field_key, ff.label, d.value
FROM lead_field_data d JOIN form_fields ff ON ff.id = d.form_field_id
WHERE d.lead_id = $2::uuid AND EXISTS (SELECT 1 FROM leads l WHERE l.id = $2::uuid AND l.workspace_id = $1::uuid)
ORDER BY ff.display_order, ff.field_key
)sql"};

// The events of a live lead of the workspace: no row when there is no such lead, one row of NULLs
// when it has no events (past the cursor).
const pg::statement k_events{"ft_leads_events", R"sql(
SELECT e.id::text, e.event_type, e.event_category, COALESCE(e.description, ''), e.metadata::text,
       e.triggered_by_user_id::text, e.triggered_by_workflow_execution_id::text, )sql" +
                                                    ms("e.created_at") + ", " + us("e.created_at") + R"sql(
FROM leads l LEFT JOIN LATERAL (
  SELECT * FROM lead_events e WHERE e.lead_id = l.id
    AND ($3::bigint IS NULL OR (e.created_at, e.id) < ()sql" + us_to_ts("$3") +
                                                    R"sql(, $4::uuid))
  ORDER BY e.created_at DESC, e.id DESC LIMIT $5
) e ON true
WHERE l.id = $2::uuid AND l.workspace_id = $1::uuid AND l.deleted_at IS NULL
ORDER BY e.created_at DESC, e.id DESC
)sql"};

const pg::statement k_workflow_in_ws{"ft_leads_workflow",
                                     "SELECT 1 FROM workflows WHERE id = $2::uuid AND workspace_id = $1::uuid AND deleted_at IS NULL"};

const pg::statement k_is_member{"ft_leads_is_member", R"sql(
SELECT 1 FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.workspace_id = $1::uuid AND m.user_id = $2::uuid AND m.deleted_at IS NULL AND m.is_active AND w.deleted_at IS NULL
)sql"};

const pg::statement k_members{"ft_leads_members", R"sql(
SELECT m.user_id::text, u.email::text FROM workspace_members m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = $1::uuid AND m.deleted_at IS NULL AND m.is_active
)sql"};

const pg::statement k_field_ids{"ft_leads_field_ids", R"sql(
SELECT ff.field_key, ff.id::text FROM form_fields ff JOIN workflows w ON w.id = ff.workflow_id
WHERE ff.workflow_id = $2::uuid AND w.workspace_id = $1::uuid AND ff.deleted_at IS NULL
)sql"};

const pg::statement k_insert_lead{"ft_leads_insert", R"sql(
INSERT INTO leads (workflow_id, workspace_id, email, name, company_name, phone, status, source, assigned_to_user_id, score,
                   tags, last_activity_at)
SELECT $2::uuid, $1::uuid, $3::citext, $4, $5, $6, $7, $8, $9::uuid, $10::int, $11::text[], now()
WHERE EXISTS (SELECT 1 FROM workflows w WHERE w.id = $2::uuid AND w.workspace_id = $1::uuid)
ON CONFLICT (workflow_id, email) DO NOTHING
RETURNING id::text
)sql"};

const pg::statement k_upsert_fields{"ft_leads_upsert_fields", R"sql(
INSERT INTO lead_field_data AS d (lead_id, form_field_id, value)
SELECT $2::uuid, f, v FROM unnest($3::uuid[], $4::text[]) AS t(f, v)
WHERE EXISTS (SELECT 1 FROM leads l WHERE l.id = $2::uuid AND l.workspace_id = $1::uuid)
ON CONFLICT (lead_id, form_field_id) DO UPDATE SET value = EXCLUDED.value
)sql"};

const pg::statement k_delete_fields{"ft_leads_delete_fields", R"sql(
DELETE FROM lead_field_data d USING leads l
WHERE d.lead_id = $2::uuid AND l.id = d.lead_id AND l.workspace_id = $1::uuid AND d.form_field_id = ANY($3::uuid[])
)sql"};

// Events of one change, in the order given (clock_timestamp() orders the timeline inside one
// transaction, whose now() they would otherwise share).
const pg::statement k_insert_events{"ft_leads_events_insert", R"sql(
INSERT INTO lead_events (lead_id, event_type, event_category, description, metadata, triggered_by_user_id, created_at)
SELECT $2::uuid, e.t, 'activity', e.d, e.m, $3::uuid, clock_timestamp()
FROM unnest($4::text[], $5::text[], $6::jsonb[]) WITH ORDINALITY AS e(t, d, m, n)
WHERE EXISTS (SELECT 1 FROM leads l WHERE l.id = $2::uuid AND l.workspace_id = $1::uuid)
ORDER BY e.n
)sql"};

const pg::statement k_update_lead{"ft_leads_update", R"sql(
UPDATE leads l SET status = $3, tags = $4::text[], score = $5::int, assigned_to_user_id = $6::uuid, name = $7,
                   company_name = $8, phone = $9, last_activity_at = now()
WHERE l.id = $2::uuid AND l.workspace_id = $1::uuid AND l.deleted_at IS NULL
)sql"};

const pg::statement k_soft_delete{"ft_leads_soft_delete", R"sql(
WITH d AS (
  UPDATE leads SET deleted_at = now() WHERE id = $2::uuid AND workspace_id = $1::uuid AND deleted_at IS NULL RETURNING id
), ev AS (
  INSERT INTO lead_events (lead_id, event_type, event_category, description, metadata, triggered_by_user_id)
  SELECT id, 'LEAD_DELETED', 'activity', 'Lead deleted', NULL, $3::uuid FROM d
)
SELECT count(*) FROM d
)sql"};

// One batch of an import: the first row of each email (citext) is inserted unless the workflow
// has that email; field data, LEAD_CREATED events and lead.created messages for what was made.
const pg::statement k_import{"ft_leads_import", R"sql(
WITH raw AS (
  SELECT * FROM unnest($4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::text[],
                       $12::uuid[])
    AS t(idx, email, name, company_name, phone, status, score, tags, assigned_to)
),
firsts AS (SELECT DISTINCT ON (email::citext) * FROM raw ORDER BY email::citext, idx),
ins AS (
  INSERT INTO leads AS l (workflow_id, workspace_id, email, name, company_name, phone, status, source, source_metadata,
                          assigned_to_user_id, score, tags, last_activity_at)
  SELECT $2::uuid, $1::uuid, f.email::citext, f.name, f.company_name, f.phone, f.status, 'IMPORT',
         jsonb_build_object('importedBy', $3::uuid), f.assigned_to, f.score,
         CASE WHEN f.tags IS NULL THEN NULL ELSE string_to_array(f.tags, E'\x1f') END, now()
  FROM firsts f
  WHERE EXISTS (SELECT 1 FROM workflows w WHERE w.id = $2::uuid AND w.workspace_id = $1::uuid)
  ON CONFLICT (workflow_id, email) DO NOTHING
  RETURNING l.id, l.workspace_id, l.workflow_id, l.email, l.name, l.company_name, l.phone, l.status, l.source, l.created_at
),
j AS (SELECT f.idx, i.id FROM firsts f JOIN ins i ON i.email = f.email::citext),
fd AS (
  INSERT INTO lead_field_data (lead_id, form_field_id, value)
  SELECT j.id, v.field_id, v.value FROM unnest($13::int[], $14::uuid[], $15::text[]) AS v(idx, field_id, value)
  JOIN j ON j.idx = v.idx
),
ev AS (
  INSERT INTO lead_events (lead_id, event_type, event_category, description, metadata, triggered_by_user_id)
  SELECT j.id, 'LEAD_CREATED', 'activity', 'Lead imported',
         jsonb_build_object('workflowId', $2::uuid, 'source', 'IMPORT', 'leadCreated', true), $3::uuid
  FROM j
))sql" + detail::outbox_ctes("ep.workspace_id = $1::uuid",
                             "SELECT i.workspace_id, 'lead.created', jsonb_build_object('id', i.id, 'workflow_id', i.workflow_id,"
                             " 'email', i.email, 'name', i.name, 'company_name', i.company_name, 'phone', i.phone, 'status',"
                             " i.status, 'source', i.source, 'created_at', " +
                             detail::iso_sql("i.created_at") + ") FROM ins i WHERE i.workspace_id IN (SELECT workspace_id FROM wh_ep)") +
                                 R"sql(
SELECT r.idx, j.id::text, EXISTS (SELECT 1 FROM firsts f WHERE f.idx = r.idx) FROM raw r LEFT JOIN j ON j.idx = r.idx
ORDER BY r.idx
)sql"};

// --- shared steps -------------------------------------------------------------------------------

result<void> check_member(pg::connection& c, std::string_view ws, std::string_view user_id) {
  if (!runtime::is_uuid(user_id)) return invalid("assignedTo must be a user id (a UUID)", "assignedTo");
  auto r = c.exec(k_is_member, pg::params{}.add(ws).add(user_id));
  if (!r) return r.err();
  if (r->empty()) return invalid("user '" + std::string(user_id) + "' is not a member of this workspace", "assignedTo");
  return {};
}

// The workflow's form fields by key.
result<std::map<std::string, std::string>> field_ids(pg::connection& c, std::string_view ws, std::string_view workflow_id) {
  auto r = c.exec(k_field_ids, pg::params{}.add(ws).add(workflow_id));
  if (!r) return r.err();
  std::map<std::string, std::string> out;
  for (int i = 0; i < r->size(); ++i) out.emplace(r->get(i, 0), r->get(i, 1));
  return out;
}

result<lead_detail> read_detail(pg::connection& c, std::string_view ws, std::string_view lead_id) {
  auto res = c.pipeline({{&k_get_lead, pg::params{}.add(ws).add(lead_id)}, {&k_get_fields, pg::params{}.add(ws).add(lead_id)}});
  if (!res) return res.err();
  const auto& lead = (*res)[0];
  if (lead.empty()) return no_lead();
  lead_detail d{read_lead(lead, 0), {}};
  const auto& f = (*res)[1];
  for (int i = 0; i < f.size(); ++i)
    d.fields.push_back({std::string(f.get(i, 0)), std::string(f.get(i, 1)), std::string(f.get(i, 2)), std::string(f.get(i, 3))});
  return d;
}

struct event_batch {
  pg::array_builder type, description, metadata;
  std::size_t size = 0;
  void add(std::string_view t, std::string_view d, const json::object& m) {
    type.add(t);
    description.add(d);
    metadata.add(json::serialize(m));
    ++size;
  }
};

result<void> write_events(pg::connection& c, std::string_view ws, std::string_view lead_id, std::string_view user_id,
                          event_batch& b) {
  if (b.size == 0) return {};
  auto r = c.exec(k_insert_events, pg::params{}
                                       .add(ws)
                                       .add(lead_id)
                                       .add(user_id)
                                       .add(b.type.finish())
                                       .add(b.description.finish())
                                       .add(b.metadata.finish()));
  if (!r) return r.err();
  return {};
}

std::optional<std::string> null_if_empty(const std::optional<std::string>& s) {
  if (!s || s->empty()) return std::nullopt;
  return s;
}

std::string tags_literal(const std::vector<std::string>& tags) {
  pg::array_builder a;
  for (const auto& t : tags) a.add(t);
  return a.finish();
}

}  // namespace

// --- public -------------------------------------------------------------------------------------

std::string_view to_string(lead_sort s) {
  switch (s) {
    case lead_sort::created_at: return "createdAt";
    case lead_sort::updated_at: return "updatedAt";
    case lead_sort::score: return "score";
    case lead_sort::name: return "name";
  }
  return "createdAt";
}

std::optional<lead_sort> parse_lead_sort(std::string_view s) {
  for (auto v : {lead_sort::created_at, lead_sort::updated_at, lead_sort::score, lead_sort::name})
    if (to_string(v) == s) return v;
  return std::nullopt;
}

namespace detail {
result<std::pair<std::string, pg::params>> list_leads_sql(std::string_view workspace_id, const lead_query& q, bool windowed) {
  return build_list(workspace_id, q, q.limit + 1, false, windowed ? k_text_window_max : 0);
}
}  // namespace detail

result<lead_page> list_leads(pg::connection& c, std::string_view workspace_id, const lead_query& q) {
  auto r = run_list(c, workspace_id, q, q.limit + 1, false);
  if (!r) return r.err();
  lead_page page;
  const int n = std::min(r->size(), q.limit);
  for (int i = 0; i < n; ++i) page.rows.push_back(read_lead(*r, i));
  if (r->size() > q.limit)
    page.next_cursor = make_cursor("l1", workspace_id, scope_of(q), page.rows.back().id, r->get(n - 1, k_ncols));
  return page;
}

result<lead_detail> get_lead(pg::connection& c, std::string_view workspace_id, std::string_view lead_id) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(lead_id)) return no_lead();
  return read_detail(c, workspace_id, lead_id);
}

result<lead_event_page> lead_events(pg::connection& c, std::string_view workspace_id, std::string_view lead_id,
                                    const std::optional<std::string>& cursor, int limit) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(lead_id)) return no_lead();
  if (limit < 1 || limit > 100) return invalid("limit must be between 1 and 100", "limit");
  const std::string scope = lower_copy(std::string(lead_id));
  pg::params p;
  p.add(workspace_id).add(lead_id);
  if (cursor) {
    auto pos = read_cursor(*cursor, "e1", workspace_id, scope);
    if (!pos) return pos.err();
    auto key = parse_int(pos->key);
    if (!key) return bad_cursor();
    p.add(*key).add(pos->id);
  } else {
    p.add_null().add_null();
  }
  p.add(limit + 1);
  auto r = c.exec(k_events, p);
  if (!r) return r.err();
  if (r->empty()) return no_lead();
  lead_event_page page;
  int rows = r->is_null(0, 0) ? 0 : r->size();
  const int n = std::min(rows, limit);
  for (int i = 0; i < n; ++i) {
    lead_event_row e;
    e.id = r->get(i, 0);
    e.event_type = r->get(i, 1);
    e.category = r->get(i, 2);
    e.description = r->get(i, 3);
    e.metadata = r->get_optional(i, 4);
    e.user_id = r->get_optional(i, 5);
    e.execution_id = r->get_optional(i, 6);
    e.created_at_ms = r->get_int(i, 7);
    page.rows.push_back(std::move(e));
  }
  if (rows > limit) page.next_cursor = make_cursor("e1", workspace_id, scope, page.rows.back().id, r->get(n - 1, 8));
  return page;
}

result<lead_detail> create_lead(pg::connection& c, std::string_view workspace_id, std::string_view user_id,
                                const new_lead& l) {
  if (!runtime::is_uuid(workspace_id)) return make_error(error_code::not_found, "no such workspace", "workspace");
  if (auto e = check_user_id(user_id)) return *e;
  if (!runtime::is_uuid(l.workflow_id)) return make_error(error_code::not_found, "workflowId must be a workflow id", "workflowId");
  const std::string email(runtime::trim(l.email));
  if (auto e = check_email(email)) return *e;
  if (l.name)
    if (auto e = check_text(*l.name, 150, "name")) return *e;
  if (l.company_name)
    if (auto e = check_text(*l.company_name, 150, "companyName")) return *e;
  if (l.phone)
    if (auto e = check_text(*l.phone, 50, "phone")) return *e;
  if (auto e = check_status(l.status)) return *e;
  if (l.source != "MANUAL" && l.source != "API") return invalid("source must be MANUAL or API", "source");
  if (auto e = check_score(l.score)) return *e;
  auto tags = clean_tags(l.tags);
  if (!tags) return tags.err();

  return pg::transact(c, [&](pg::connection& tx) -> result<lead_detail> {
    auto wf = tx.exec(k_workflow_in_ws, pg::params{}.add(workspace_id).add(l.workflow_id));
    if (!wf) return wf.err();
    if (wf->empty()) return make_error(error_code::not_found, "no such workflow in this workspace", "workflowId");
    if (l.assigned_to)
      if (auto m = check_member(tx, workspace_id, *l.assigned_to); !m) return m.err();
    auto fields = field_ids(tx, workspace_id, l.workflow_id);
    if (!fields) return fields.err();
    pg::array_builder f_ids, f_values;
    json::object field_meta;
    for (const auto& [key, value] : l.fields) {
      auto it = fields->find(key);
      if (it == fields->end()) return invalid("the workflow has no form field '" + key + "'", "fields." + key);
      if (code_points(value) > 10000) return invalid("a field value has at most 10000 characters", "fields." + key);
      f_ids.add(it->second);
      f_values.add(value);
    }
    pg::params p;
    p.add(workspace_id).add(l.workflow_id).add(email);
    p.add(null_if_empty(l.name)).add(null_if_empty(l.company_name)).add(null_if_empty(l.phone));
    p.add(l.status).add(l.source).add(l.assigned_to).add(l.score);
    if (tags->empty()) p.add_null();
    else p.add(tags_literal(*tags));
    auto ins = tx.exec(k_insert_lead, p);
    if (!ins) return ins.err();
    if (ins->empty())
      return make_error(error_code::conflict, "the workflow already has a lead with the email '" + email + "'", "email");
    const std::string id(ins->get(0, 0));
    if (!l.fields.empty()) {
      auto fd = tx.exec(k_upsert_fields, pg::params{}.add(workspace_id).add(id).add(f_ids.finish()).add(f_values.finish()));
      if (!fd) return fd.err();
    }
    event_batch ev;
    ev.add("LEAD_CREATED", "Lead created",
           json::object{{"workflowId", l.workflow_id}, {"source", l.source}, {"leadCreated", true}});
    if (auto w = write_events(tx, workspace_id, id, user_id, ev); !w) return w.err();
    auto d = read_detail(tx, workspace_id, id);
    if (!d) return d.err();
    if (auto m = emit_webhook_event(tx, workspace_id, "lead.created", lead_json(d->lead)); !m) return m.err();
    return d;
  });
}

result<lead_detail> update_lead(pg::connection& c, std::string_view workspace_id, std::string_view lead_id,
                                std::string_view user_id, const lead_update& u) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(lead_id)) return no_lead();
  if (auto e = check_user_id(user_id)) return *e;
  if (u.status)
    if (auto e = check_status(*u.status)) return *e;
  if (u.score)
    if (auto e = check_score(*u.score)) return *e;
  if (u.name)
    if (auto e = check_text(*u.name, 150, "name")) return *e;
  if (u.company_name)
    if (auto e = check_text(*u.company_name, 150, "companyName")) return *e;
  if (u.phone)
    if (auto e = check_text(*u.phone, 50, "phone")) return *e;
  std::optional<std::vector<std::string>> new_tags;
  if (u.tags) {
    auto t = clean_tags(*u.tags);
    if (!t) return t.err();
    new_tags = std::move(*t);
  }
  for (const auto& [key, value] : u.fields)
    if (value && code_points(*value) > 10000) return invalid("a field value has at most 10000 characters", "fields." + key);

  return pg::transact(c, [&](pg::connection& tx) -> result<lead_detail> {
    auto locked = tx.exec(k_lock_lead, pg::params{}.add(workspace_id).add(lead_id));
    if (!locked) return locked.err();
    if (locked->empty()) return no_lead();
    const lead_row old = read_lead(*locked, 0);
    if (u.expected_version && *u.expected_version != old.version)
      return make_error(error_code::conflict, "the lead was changed since it was read; read it again and retry", "updatedAt");

    lead_row now = old;
    event_batch ev;
    bool other_change = false;
    if (u.status && *u.status != old.status) {
      now.status = *u.status;
      ev.add("STATUS_CHANGED", "Status changed from " + old.status + " to " + now.status,
             json::object{{"op", "set_status"}, {"value", now.status}, {"from", old.status}, {"userId", user_id}});
    }
    if (new_tags) {
      for (const auto& t : *new_tags)
        if (std::find(old.tags.begin(), old.tags.end(), t) == old.tags.end())
          ev.add("TAG_ADDED", "Tag added: " + t, json::object{{"op", "add_tag"}, {"value", t}, {"userId", user_id}});
      for (const auto& t : old.tags)
        if (std::find(new_tags->begin(), new_tags->end(), t) == new_tags->end())
          ev.add("TAG_REMOVED", "Tag removed: " + t, json::object{{"op", "remove_tag"}, {"value", t}, {"userId", user_id}});
      if (*new_tags != old.tags) {
        now.tags = *new_tags;
        other_change = true;
      }
    }
    if (u.score && *u.score != old.score) {
      now.score = *u.score;
      other_change = true;
      ev.add("SCORE_CHANGED", "Score changed from " + std::to_string(old.score) + " to " + std::to_string(now.score),
             json::object{{"op", "set_score"}, {"value", now.score}, {"from", old.score},
                          {"delta", now.score - old.score}, {"userId", user_id}});
    }
    if (u.assigned_to) {
      std::optional<std::string> to = *u.assigned_to;
      if (to) {
        if (auto m = check_member(tx, workspace_id, *to); !m) return m.err();
        to = lower_copy(*to);
      }
      if (to != old.assigned_to) {
        now.assigned_to = to;
        other_change = true;
        json::object m{{"op", "assign"}, {"userId", user_id}};
        m["value"] = to ? json::value(*to) : json::value(nullptr);
        m["from"] = old.assigned_to ? json::value(*old.assigned_to) : json::value(nullptr);
        ev.add("LEAD_ASSIGNED", to ? "Lead assigned" : "Lead unassigned", m);
      }
    }
    auto set_text = [&](const std::optional<std::string>& v, std::string& field, const char* key) {
      if (v && *v != field) {
        field = *v;
        other_change = true;
        ev.add("FIELD_UPDATED", std::string("Field ") + key + " set",
               json::object{{"op", "set_field"}, {"key", key}, {"value", *v}, {"userId", user_id}});
      }
    };
    set_text(u.name, now.name, "name");
    set_text(u.company_name, now.company_name, "company_name");
    set_text(u.phone, now.phone, "phone");

    pg::array_builder up_ids, up_values, del_ids;
    bool any_up = false, any_del = false;
    if (!u.fields.empty()) {
      auto ids = field_ids(tx, workspace_id, old.workflow_id);
      if (!ids) return ids.err();
      auto current = read_detail(tx, workspace_id, lead_id);
      if (!current) return current.err();
      for (const auto& [key, value] : u.fields) {
        auto it = ids->find(key);
        if (it == ids->end()) return invalid("the lead's workflow has no form field '" + key + "'", "fields." + key);
        auto have = std::find_if(current->fields.begin(), current->fields.end(), [&](const lead_field& f) { return f.key == key; });
        const bool had = have != current->fields.end();
        if (value && (!had || have->value != *value)) {
          up_ids.add(it->second);
          up_values.add(*value);
          any_up = true;
        } else if (!value && had) {
          del_ids.add(it->second);
          any_del = true;
        } else {
          continue;
        }
        other_change = true;
        json::object m{{"op", "set_field"}, {"key", key}, {"userId", user_id}};
        m["value"] = value ? json::value(*value) : json::value(nullptr);
        ev.add("FIELD_UPDATED", "Field " + key + (value ? " set" : " cleared"), m);
      }
    }
    if (ev.size == 0) return read_detail(tx, workspace_id, lead_id);

    pg::params p;
    p.add(workspace_id).add(lead_id).add(now.status);
    if (now.tags.empty()) p.add_null();
    else p.add(tags_literal(now.tags));
    p.add(now.score).add(now.assigned_to);
    p.add(null_if_empty(now.name)).add(null_if_empty(now.company_name)).add(null_if_empty(now.phone));
    if (auto r = tx.exec(k_update_lead, p); !r) return r.err();
    if (any_up)
      if (auto r = tx.exec(k_upsert_fields,
                           pg::params{}.add(workspace_id).add(lead_id).add(up_ids.finish()).add(up_values.finish()));
          !r)
        return r.err();
    if (any_del)
      if (auto r = tx.exec(k_delete_fields, pg::params{}.add(workspace_id).add(lead_id).add(del_ids.finish())); !r)
        return r.err();
    if (auto w = write_events(tx, workspace_id, lead_id, user_id, ev); !w) return w.err();
    auto d = read_detail(tx, workspace_id, lead_id);
    if (!d) return d.err();
    if (now.status != old.status) {
      json::object data{{"lead_id", d->lead.id},       {"old_status", old.status}, {"new_status", now.status},
                        {"workflow_id", old.workflow_id}, {"user_id", user_id}};
      if (auto m = emit_webhook_event(tx, workspace_id, "lead.status_changed", json::serialize(data)); !m) return m.err();
    }
    if (other_change)
      if (auto m = emit_webhook_event(tx, workspace_id, "lead.updated", lead_json(d->lead)); !m) return m.err();
    return d;
  });
}

result<void> soft_delete_lead(pg::connection& c, std::string_view workspace_id, std::string_view lead_id,
                              std::string_view user_id) {
  if (!runtime::is_uuid(workspace_id) || !runtime::is_uuid(lead_id)) return no_lead();
  if (auto e = check_user_id(user_id)) return *e;
  auto r = c.exec(k_soft_delete, pg::params{}.add(workspace_id).add(lead_id).add(user_id));
  if (!r) return r.err();
  if (r->get_int(0, 0) == 0) return no_lead();
  return {};
}

// --- CSV ---------------------------------------------------------------------------------------

namespace {

const std::set<std::string, std::less<>> k_import_columns{"email", "name", "company_name", "phone", "status",
                                                          "score", "tags", "assigned_to", "fields"};
const std::set<std::string, std::less<>> k_ignored_columns{"id", "source", "created_at", "updated_at", "workflow_id"};

struct staged_row {
  std::size_t idx = 0;
  std::string email, status = "NEW";
  std::optional<std::string> name, company_name, phone, assigned_to;
  std::int64_t score = 0;
  std::vector<std::string> tags;
  std::vector<std::pair<std::string, std::string>> fields;  // form field id, value
};

std::optional<std::string> cell(const import_row& r, const char* column) {
  auto it = r.values.find(column);
  if (it == r.values.end()) return std::nullopt;
  std::string v(runtime::trim(domain::csv::strip_formula_guard(it->second)));
  if (v.empty()) return std::nullopt;
  return v;
}

}  // namespace

result<import_outcome> import_leads(pg::connection& c, std::string_view workspace_id, std::string_view user_id,
                                    std::string_view workflow_id, const std::vector<import_row>& rows) {
  if (!runtime::is_uuid(workspace_id)) return make_error(error_code::not_found, "no such workspace", "workspace");
  if (auto e = check_user_id(user_id)) return *e;
  if (!runtime::is_uuid(workflow_id)) return make_error(error_code::not_found, "workflowId must be a workflow id", "workflowId");
  if (rows.size() > k_import_batch_max)
    return invalid("at most " + std::to_string(k_import_batch_max) + " rows per batch", "rows");
  auto wf = c.exec(k_workflow_in_ws, pg::params{}.add(workspace_id).add(workflow_id));
  if (!wf) return wf.err();
  if (wf->empty()) return make_error(error_code::not_found, "no such workflow in this workspace", "workflowId");
  auto fields = field_ids(c, workspace_id, workflow_id);
  if (!fields) return fields.err();
  for (const auto& r : rows)
    for (const auto& [column, value] : r.values)
      if (!k_import_columns.count(column) && !k_ignored_columns.count(column) && !fields->count(column))
        return invalid("unknown column '" + column +
                           "': use email, name, company_name, phone, status, score, tags, assigned_to, fields or a form "
                           "field key of the workflow",
                       column);
  auto members = c.exec(k_members, pg::params{}.add(workspace_id));
  if (!members) return members.err();
  std::map<std::string, std::string> member_by_key;  // lower-case email or id -> id
  for (int i = 0; i < members->size(); ++i) {
    const std::string id = lower_copy(std::string(members->get(i, 0)));
    member_by_key[id] = id;
    member_by_key[lower_copy(std::string(members->get(i, 1)))] = id;
  }

  import_outcome out;
  std::vector<staged_row> staged;
  std::vector<std::size_t> row_of;  // idx -> the caller's row number
  for (const auto& r : rows) {
    auto fail = [&](std::string field, std::string message) {
      out.errors.push_back({r.row, std::move(field), std::move(message)});
    };
    staged_row s;
    auto email = cell(r, "email");
    if (!email) {
      fail("email", "email is required");
      continue;
    }
    if (auto e = check_email(*email)) {
      fail("email", e->message);
      continue;
    }
    s.email = *email;
    bool bad = false;
    auto text = [&](const char* column, std::size_t max, std::optional<std::string>& into) {
      auto v = cell(r, column);
      if (!v || bad) return;
      if (auto e = check_text(*v, max, column)) {
        fail(column, e->message);
        bad = true;
      }
      into = std::move(v);
    };
    text("name", 150, s.name);
    text("company_name", 150, s.company_name);
    text("phone", 50, s.phone);
    if (bad) continue;
    if (auto v = cell(r, "status")) {
      if (auto e = check_status(*v)) {
        fail("status", e->message);
        continue;
      }
      s.status = *v;
    }
    if (auto v = cell(r, "score")) {
      auto n = parse_int(*v);
      if (!n || check_score(*n)) {
        fail("score", "score must be a whole number between -1000000000 and 1000000000");
        continue;
      }
      s.score = *n;
    }
    if (auto v = cell(r, "tags")) {
      std::vector<std::string> parts;
      std::size_t pos = 0;
      while (pos <= v->size()) {
        auto semi = v->find(';', pos);
        if (semi == std::string::npos) semi = v->size();
        std::string t(runtime::trim(std::string_view(*v).substr(pos, semi - pos)));
        if (!t.empty()) parts.push_back(std::move(t));
        pos = semi + 1;
      }
      auto t = clean_tags(parts);
      if (!t) {
        fail("tags", t.err().message);
        continue;
      }
      s.tags = std::move(*t);
    }
    if (auto v = cell(r, "assigned_to")) {
      auto it = member_by_key.find(lower_copy(*v));
      if (it == member_by_key.end()) {
        fail("assigned_to", "'" + v->substr(0, 80) + "' is not a member of this workspace");
        continue;
      }
      s.assigned_to = it->second;
    }
    std::map<std::string, std::string> custom;
    if (auto v = cell(r, "fields")) {
      boost::system::error_code ec;
      auto parsed = json::parse(*v, ec);
      if (ec || !parsed.is_object()) {
        fail("fields", "fields must be a JSON object of form field keys");
        continue;
      }
      for (const auto& [k, val] : parsed.as_object()) {
        if (val.is_string()) custom[std::string(k)] = std::string(val.as_string());
        else if (!val.is_null()) custom[std::string(k)] = json::serialize(val);
      }
    }
    for (const auto& [column, value] : r.values)
      if (fields->count(column) && !k_import_columns.count(column))
        if (auto v = cell(r, column.c_str())) custom[column] = *v;
    for (const auto& [key, value] : custom) {
      auto it = fields->find(key);
      if (it == fields->end()) {
        fail("fields." + key, "the workflow has no form field '" + key + "'");
        bad = true;
        break;
      }
      if (code_points(value) > 10000) {
        fail(key, "a field value has at most 10000 characters");
        bad = true;
        break;
      }
      s.fields.emplace_back(it->second, value);
    }
    if (bad) continue;
    s.idx = staged.size();
    row_of.push_back(r.row);
    staged.push_back(std::move(s));
  }
  if (staged.empty()) return out;

  pg::array_builder idx, email, name, company, phone, status, score, tags, assigned, f_idx, f_id, f_value;
  for (const auto& s : staged) {
    const auto i = static_cast<std::int64_t>(s.idx);
    idx.add(i);
    email.add(s.email);
    name.add_optional(s.name);
    company.add_optional(s.company_name);
    phone.add_optional(s.phone);
    status.add(s.status);
    score.add(s.score);
    if (s.tags.empty()) {
      tags.add_null();
    } else {
      std::string joined;  // U+001F never appears in a tag (control characters are refused)
      for (const auto& t : s.tags) joined += (joined.empty() ? "" : "\x1f") + t;
      tags.add(joined);
    }
    assigned.add_optional(s.assigned_to);
    for (const auto& [id, value] : s.fields) {
      f_idx.add(i);
      f_id.add(id);
      f_value.add(value);
    }
  }
  pg::params p{std::string(workspace_id), std::string(workflow_id), std::string(user_id), idx.finish(), email.finish(),
               name.finish(), company.finish(), phone.finish(), status.finish(), score.finish(), tags.finish(),
               assigned.finish(), f_idx.finish(), f_id.finish(), f_value.finish()};
  auto r = c.exec(k_import, p);
  if (!r) return r.err();
  for (int i = 0; i < r->size(); ++i) {
    const auto at = static_cast<std::size_t>(r->get_int(i, 0));
    if (!r->is_null(i, 1)) {
      out.lead_ids.emplace_back(r->get(i, 1));
    } else if (r->get_bool(i, 2)) {
      out.errors.push_back({row_of[at], "email", "the workflow already has a lead with the email '" + staged[at].email + "'"});
    } else {
      out.errors.push_back({row_of[at], "email", "an earlier row of this import has the email '" + staged[at].email + "'"});
    }
  }
  std::sort(out.errors.begin(), out.errors.end(), [](const auto& a, const auto& b) { return a.row < b.row; });
  return out;
}

namespace {

// One lead of an export statement (run_list's for_export columns) as a CSV record.
void append_export_record(std::string& out, const pg::rows& r, int i) {
  const lead_row l = read_lead(r, i);
  std::string tags;
  for (const auto& t : l.tags) tags += (tags.empty() ? "" : ";") + t;
  domain::csv::append_record(out, {l.id, l.email, l.name, l.company_name, l.phone, l.status, l.source, std::to_string(l.score), tags,
                                   r.get_optional(i, k_ncols + 1).value_or(""), iso_ms(l.created_at_ms), iso_ms(l.updated_at_ms),
                                   r.get_optional(i, k_ncols + 2).value_or("{}")});
}

}  // namespace

std::string export_csv_header() {
  std::string out;
  domain::csv::append_record(out, {"id", "email", "name", "company_name", "phone", "status", "source", "score", "tags", "assigned_to",
                                   "created_at", "updated_at", "fields"});
  return out;
}

result<export_page> export_leads_page(pg::connection& c, std::string_view workspace_id, const lead_query& q,
                                      const std::optional<std::string>& after, std::size_t page_rows) {
  if (page_rows < 1 || page_rows > 10000) return invalid("page_rows must be between 1 and 10000", "page_rows");
  lead_query page = q;
  page.cursor = after;
  const int fetch = static_cast<int>(page_rows);
  // One lead more than the page tells whether another page follows.
  auto r = run_list(c, workspace_id, page, fetch + 1, true);
  if (!r) return r.err();
  export_page out;
  const int n = std::min(r->size(), fetch);
  for (int i = 0; i < n; ++i) append_export_record(out.csv, *r, i);
  out.rows = static_cast<std::size_t>(n);
  if (r->size() > fetch)
    out.next_cursor = make_cursor("l1", workspace_id, scope_of(page), r->get(n - 1, 0), r->get(n - 1, k_ncols));
  return out;
}

result<void> check_import_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id) {
  if (!runtime::is_uuid(workspace_id)) return make_error(error_code::not_found, "no such workspace", "workspace");
  if (!runtime::is_uuid(workflow_id)) return make_error(error_code::not_found, "workflowId must be a workflow id", "workflowId");
  auto wf = c.exec(k_workflow_in_ws, pg::params{}.add(workspace_id).add(workflow_id));
  if (!wf) return wf.err();
  if (wf->empty()) return make_error(error_code::not_found, "no such workflow in this workspace", "workflowId");
  return {};
}

result<export_outcome> export_leads_csv(pg::connection& c, std::string_view workspace_id, const lead_query& q,
                                        const std::function<bool(std::string_view chunk)>& sink, std::size_t page_rows) {
  if (page_rows < 1 || page_rows > 10000) return invalid("page_rows must be between 1 and 10000", "page_rows");
  lead_query page = q;
  page.cursor.reset();
  if (auto e = check_query(page, true)) return *e;
  if (!runtime::is_uuid(workspace_id)) return make_error(error_code::not_found, "no such workspace", "workspace");
  const int fetch = static_cast<int>(page_rows);
  const std::string scope = scope_of(page);

  // One snapshot for every page: rows written meanwhile neither appear nor move.
  if (auto b = c.exec_script("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !b) return b.err();
  auto body = [&]() -> result<export_outcome> {
    export_outcome out;
    std::string chunk = export_csv_header();
    if (!sink(chunk)) {
      out.stopped = true;
      return out;
    }
    for (;;) {
      auto r = run_list(c, workspace_id, page, fetch, true);
      if (!r) return r.err();
      chunk.clear();
      for (int i = 0; i < r->size(); ++i) append_export_record(chunk, *r, i);
      out.rows += static_cast<std::size_t>(r->size());
      if (!chunk.empty() && !sink(chunk)) {
        out.stopped = true;
        return out;
      }
      if (r->size() < fetch) return out;
      page.cursor = make_cursor("l1", workspace_id, scope, r->get(r->size() - 1, 0), r->get(r->size() - 1, k_ncols));
    }
  };
  auto out = body();
  if (!out) {
    c.rollback();
    return out;
  }
  if (auto e = c.commit(); !e) return e.err();
  return out;
}

}  // namespace flowtrack::storage
