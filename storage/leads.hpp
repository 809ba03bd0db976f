// Leads as the management API works them (issue #13, migration 025): filtered, sorted lists with
// keyset cursors, one lead with its field data and its timeline, manual creation, edits (the Kanban
// move recorded as STATUS_CHANGED with the user and a lead.status_changed webhook message in the
// same transaction), soft deletion, CSV import in batches with per-row errors and a streaming CSV
// export. Every statement is scoped by the workspace; a lead of another workspace is `not_found`.
// Knows SQL and the row shapes, nothing of HTTP.
//
// Errors name the API's fields as the routes spell them (camelCase): `invalid` naming status,
// tag, source, assignedTo, q, createdFrom, createdTo, sort, limit, cursor, email, name,
// companyName, phone, score, tags, workflowId or fields.<key>; `not_found` naming lead or
// workflowId; `conflict` naming email (the workflow has a lead with it) or updatedAt (the
// optimistic-concurrency precondition failed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// What a lead list is ordered by; each has its own index (migration 025).
enum class lead_sort { created_at, updated_at, score, name };

/// The API's names of the sorts ("createdAt", "updatedAt", "score", "name") and back.
std::string_view to_string(lead_sort s);
std::optional<lead_sort> parse_lead_sort(std::string_view s);

/// A list request. Filters combine with AND; an absent one does not filter.
struct lead_query {
  std::optional<std::string> status{};     ///< exact status, e.g. "QUALIFIED"
  std::vector<std::string> tags{};         ///< leads carrying any of these (case-sensitive), at most 20
  std::optional<std::string> source{};     ///< FORM, EMAIL_FORWARD, API, MANUAL, IMPORT (or another stored value)
  std::optional<std::string> assigned_to{};  ///< the assignee's user id
  /// Case-insensitive substring of the email, name, company or phone; at least 3 characters
  /// (a trigram index serves it: shorter text is `invalid` naming q), at most 200.
  std::optional<std::string> text{};
  std::optional<std::int64_t> created_from_ms{};  ///< created_at >= this (epoch ms)
  std::optional<std::int64_t> created_to_ms{};    ///< created_at < this (epoch ms)
  lead_sort sort = lead_sort::created_at;
  bool descending = true;
  int limit = 25;  ///< 1 to 100
  /// The next_cursor of the previous page of the same list (same workspace, filters and sort);
  /// any other cursor is `invalid` naming cursor.
  std::optional<std::string> cursor{};
};

/// A lead as lists and the detail show it. NULL texts read as empty strings.
struct lead_row {
  std::string id, workflow_id, email, name, company_name, phone, status, source;
  std::optional<std::string> source_metadata;  ///< JSON text
  std::optional<std::string> assigned_to;      ///< user id
  std::int64_t score = 0;
  std::vector<std::string> tags;
  std::optional<std::int64_t> last_activity_at_ms, last_email_sent_at_ms, last_email_opened_at_ms;
  std::int64_t created_at_ms = 0, updated_at_ms = 0;
  /// updated_at in microseconds: changes with every write of the lead. The value for an ETag and
  /// for lead_update::expected_version.
  std::int64_t version = 0;
};

/// One page of a list; next_cursor is empty on the last page.
struct lead_page {
  std::vector<lead_row> rows;
  std::optional<std::string> next_cursor;
};

/// A page of the workspace's live (not soft-deleted) leads. Keyset pagination on (sort key, id):
/// rows inserted between two page fetches never make a later page skip or repeat a row that
/// existed at the first page (in a descending created-at list a newer lead never shows up on a
/// later page); a lead whose sort key is changed between fetches (an edit under the updated-at,
/// score or name sort) may move across the page boundary. The score sort treats NULL as 0, the
/// name sort compares lower(name) with NULL as ''.
result<lead_page> list_leads(pg::connection& c, std::string_view workspace_id, const lead_query& q);

/// A custom field value (lead_field_data) with its form field.
struct lead_field {
  std::string form_field_id, key, label, value;
};

/// One lead with its field data, ordered as the form shows the fields.
struct lead_detail {
  lead_row lead;
  std::vector<lead_field> fields;
};

/// The lead; `not_found` naming lead when it is not a live lead of the workspace (or not a UUID).
result<lead_detail> get_lead(pg::connection& c, std::string_view workspace_id, std::string_view lead_id);

/// A lead_events row.
struct lead_event_row {
  std::string id, event_type, category, description;
  std::optional<std::string> metadata;  ///< JSON text
  std::optional<std::string> user_id, execution_id;
  std::int64_t created_at_ms = 0;
};

struct lead_event_page {
  std::vector<lead_event_row> rows;
  std::optional<std::string> next_cursor;
};

/// The lead's timeline, newest first, keyset-paginated on (created_at, id); `limit` 1 to 100.
/// `not_found` naming lead as get_lead; a cursor of another lead or workspace is `invalid`.
result<lead_event_page> lead_events(pg::connection& c, std::string_view workspace_id, std::string_view lead_id,
                                    const std::optional<std::string>& cursor, int limit = 50);

/// A lead made by hand.
struct new_lead {
  std::string workflow_id{};  ///< the workflow the lead belongs to (leads.workflow_id is required)
  std::string email{};
  std::optional<std::string> name{}, company_name{}, phone{};
  std::string status = "NEW";
  std::string source = "MANUAL";  ///< MANUAL or API
  std::int64_t score = 0;
  std::vector<std::string> tags{};
  std::optional<std::string> assigned_to{};   ///< an active member's user id
  std::map<std::string, std::string> fields{};  ///< form field key of the workflow -> value
};

/// Creates the lead with its field data, a LEAD_CREATED event by the user and a lead.created
/// webhook message, in one transaction. `conflict` naming email when the workflow has a lead with
/// that email (a soft-deleted one too: the unique key still holds it).
result<lead_detail> create_lead(pg::connection& c, std::string_view workspace_id, std::string_view user_id,
                                const new_lead& l);

/// A change of a lead; absent members are left as they are.
struct lead_update {
  std::optional<std::string> status{};
  std::optional<std::vector<std::string>> tags{};  ///< the new set of tags (replaces)
  std::optional<std::int64_t> score{};
  std::optional<std::optional<std::string>> assigned_to{};  ///< a member's user id, or nullopt inside to unassign
  std::optional<std::string> name{}, company_name{}, phone{};  ///< an empty string clears
  /// form field key -> value; nullopt removes the value.
  std::map<std::string, std::optional<std::string>> fields{};
  /// Only change the lead if its version (lead_row::version) is still this; else `conflict`
  /// naming updatedAt.
  std::optional<std::int64_t> expected_version{};
};

/// Applies the change in one transaction under the lead's row lock: the lead's columns, its field
/// data, one lead event per change by the user (STATUS_CHANGED with from/value, TAG_ADDED,
/// TAG_REMOVED, SCORE_CHANGED, LEAD_ASSIGNED, FIELD_UPDATED; category activity), and webhook
/// messages: lead.status_changed {lead_id, old_status, new_status, workflow_id, user_id} when the
/// status changed, lead.updated (the lead) when anything else did. A change that changes nothing
/// writes nothing. Returns the lead as it is now.
result<lead_detail> update_lead(pg::connection& c, std::string_view workspace_id, std::string_view lead_id,
                                std::string_view user_id, const lead_update& u);

/// Soft-deletes the lead (it leaves every list; its events stay) with a LEAD_DELETED event by the
/// user. `not_found` naming lead when it is not a live lead of the workspace.
result<void> soft_delete_lead(pg::connection& c, std::string_view workspace_id, std::string_view lead_id,
                              std::string_view user_id);

// --- CSV ---------------------------------------------------------------------------------------

/// The most rows import_leads takes in one call.
inline constexpr std::size_t k_import_batch_max = 1000;

/// One parsed CSV row: column name -> cell, and its row number in the file for errors.
struct import_row {
  std::size_t row = 0;
  std::map<std::string, std::string> values;
};

/// Why one row was not imported.
struct import_row_error {
  std::size_t row = 0;
  std::string field;  ///< the column (email, status, assigned_to, a field key, ...)
  std::string message;
};

struct import_outcome {
  std::vector<std::string> lead_ids;  ///< the leads made, in row order
  std::vector<import_row_error> errors;
};

/// Imports a batch (at most k_import_batch_max rows) into the workflow in one statement: the
/// leads (source IMPORT), their field data, a LEAD_CREATED event by the user each and lead.created
/// webhook messages. A bad row is reported and skipped; the good rows are written. Columns:
/// email (required), name, company_name, phone, status (default NEW), score, tags (separated by
/// ';'), assigned_to (a member's email or user id), any form field key of the workflow, and
/// `fields` (a JSON object of field keys, as the export writes it); the export's id, source,
/// created_at, updated_at and workflow_id columns are ignored. A cell starting with the export's
/// formula guard (a quote before = + - @) loses the quote. A row whose email the workflow
/// already has (or that an earlier row of the batch has) is an error of that row. An unknown
/// column fails the whole call (`invalid` naming the column): check the header on the first batch.
result<import_outcome> import_leads(pg::connection& c, std::string_view workspace_id, std::string_view user_id,
                                    std::string_view workflow_id, const std::vector<import_row>& rows);

/// What an export wrote.
struct export_outcome {
  std::size_t rows = 0;
  bool stopped = false;  ///< the sink returned false (e.g. the client went away)
};

/// Streams the leads `q` selects (its limit and cursor are ignored) as CSV with a header row to
/// `sink`, `page_rows` leads per statement, all read in one REPEATABLE READ snapshot. Columns: id,
/// email, name, company_name, phone, status, source, score, tags (';'-separated), assigned_to (the
/// assignee's email), created_at, updated_at (ISO 8601 UTC), fields (a JSON object of the custom
/// fields). Text cells that would start a formula are prefixed with a single quote (OWASP CSV
/// injection); CRLF line ends. The sink gets one chunk per page (plus the header).
result<export_outcome> export_leads_csv(pg::connection& c, std::string_view workspace_id, const lead_query& q,
                                        const std::function<bool(std::string_view chunk)>& sink,
                                        std::size_t page_rows = 1000);

/// The header record of the export's CSV (CRLF-ended), as export_leads_csv writes it first.
std::string export_csv_header();

/// One page of an export (export_leads_page).
struct export_page {
  std::string csv;                         ///< the page's records as export_leads_csv writes them, no header
  std::size_t rows = 0;
  std::optional<std::string> next_cursor;  ///< where the next page starts; empty on the last page
};

/// One page of the CSV export_leads_csv writes for `q` (its limit and cursor ignored):
/// `page_rows` (1 to 10000) leads after `after` (the previous page's next_cursor; none: the first
/// page), in one statement of its own. Pages are read at different moments, not in one snapshot
/// (so that a long export holds no connection between pages): keyset pagination as list_leads,
/// so a lead that exists throughout the export appears once, unless its sort key changes between
/// two pages (the created-at sort's never does); leads made meanwhile may appear. A cursor of
/// another list is `invalid` naming cursor.
result<export_page> export_leads_page(pg::connection& c, std::string_view workspace_id, const lead_query& q,
                                      const std::optional<std::string>& after, std::size_t page_rows = 2000);

/// OK when `workflow_id` names a live workflow of the workspace; `not_found` naming workflowId
/// otherwise (an import checks it before it reads its body).
result<void> check_import_workflow(pg::connection& c, std::string_view workspace_id, std::string_view workflow_id);

namespace detail {
/// The SQL list_leads runs for `q` (its EXPLAIN is what the index test checks) and its
/// parameters; `invalid` as list_leads. A text filter has a `windowed` form (the sort's index
/// walked for a bounded number of leads, the matches kept), tried first when a 500-lead probe
/// finds the text common, and a plain one (the trigram index).
result<std::pair<std::string, pg::params>> list_leads_sql(std::string_view workspace_id, const lead_query& q,
                                                          bool windowed = false);
}  // namespace detail

}  // namespace flowtrack::storage
