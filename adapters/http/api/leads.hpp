// Leads over the management API (issue #13 item 4): the filtered, sorted, cursor-paginated list,
// one lead with its field data, its timeline, creation by hand, the Kanban move and other edits
// (with a version precondition), soft deletion, CSV import and export. SQL lives in
// storage/leads, CSV in domain/csv; this file reads queries and bodies, applies the workspace
// scope (scope.hpp: viewer reads, member works leads) and answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "adapters/http/api/api.hpp"
#include "storage/leads.hpp"

namespace flowtrack::http::api {

/// The largest CSV body POST .../leads/import takes. The body is streamed (route_options::
/// stream_body): an import holds a piece of it and one batch of rows at a time, whatever its size.
inline constexpr std::size_t k_lead_import_limit = std::size_t(1) << 30;  // 1 GiB

/// Leads imported per statement (storage::import_leads takes at most k_import_batch_max)...
inline constexpr std::size_t k_lead_import_batch = 500;
/// ...or fewer, once their cells hold this many bytes.
inline constexpr std::size_t k_lead_import_batch_bytes = 4 * 1024 * 1024;

/// Leads per page of GET .../leads/export.csv: a page is one statement on the PostgreSQL pool and
/// one chunk of the streamed answer (chunked transfer coding; the row count comes as the
/// X-Export-Rows trailer). The export has no size limit; a database error after the header cuts
/// the transfer (no last chunk), so a client never takes a short file for a whole one.
inline constexpr std::size_t k_lead_export_page = 2000;

/// Adds, under /workspaces/{id}: GET|POST /leads, GET /leads/export.csv, POST /leads/import,
/// GET|PATCH|DELETE /leads/{lead}, GET /leads/{lead}/events.
void add_lead_routes(api_service& api);

/// Reads a list's query (status, tag (repeatable or comma-separated), source, assignedTo, q,
/// createdFrom, createdTo (ISO 8601 date or date-time, or epoch ms), sort, order, limit, cursor);
/// a bad or unknown parameter is a 422 naming it. `for_export` refuses limit and cursor.
std::variant<storage::lead_query, api_error> parse_lead_query(const api_call& call, bool for_export = false);

/// An ISO 8601 date ("2026-12-03", midnight UTC) or date-time ("2026-12-03T10:00:00Z",
/// "...T10:00:00.250+02:00") or a plain integer of epoch milliseconds, as epoch ms.
std::optional<std::int64_t> parse_instant(std::string_view text);

}  // namespace flowtrack::http::api
