// Lead routes. Each is one job on the PostgreSQL pool (the scope check and the work on one
// connection). Import and export stream: one job per batch or page, no connection held between
// them, the next one started when the client has taken (or sent) what the last one needed.
#include "adapters/http/api/leads.hpp"

#include <charconv>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "adapters/http/api/scope.hpp"
#include "domain/csv.hpp"
#include "runtime/text.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

using domain::action;

void fail(const responder& reply, const api_error& e) { reply(error_response(e)); }

// A storage error of a lead route. A vanished workspace is the scope's 404; the version
// precondition (conflict naming updatedAt) is a 412.
void fail(const responder& reply, const error& e) {
  if (e.code == error_code::internal) spdlog::error("leads: {}", e.message);
  if (e.code == error_code::not_found && e.subject == "workspace") return fail(reply, workspace_not_found());
  if (e.code == error_code::conflict && e.subject == "updatedAt")
    return fail(reply, api_error{bhttp::status::precondition_failed, "precondition_failed", e.message, "version", 0});
  reply(error_response(from_error(e)));
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

json::value text_or_null(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }
json::value int_or_null(const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }
json::value json_or_null(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  boost::system::error_code ec;
  auto v = json::parse(*text, ec);
  return ec ? json::value(nullptr) : v;
}

json::object lead_json(const storage::lead_row& l) {
  json::array tags;
  for (const auto& t : l.tags) tags.emplace_back(t);
  return json::object{{"id", l.id},
                      {"workflowId", l.workflow_id},
                      {"email", l.email},
                      {"name", text_or_null(l.name)},
                      {"companyName", text_or_null(l.company_name)},
                      {"phone", text_or_null(l.phone)},
                      {"status", l.status},
                      {"source", l.source},
                      {"sourceMetadata", json_or_null(l.source_metadata)},
                      {"assignedTo", l.assigned_to ? json::value(*l.assigned_to) : json::value(nullptr)},
                      {"score", l.score},
                      {"tags", std::move(tags)},
                      {"lastActivityAt", int_or_null(l.last_activity_at_ms)},
                      {"lastEmailSentAt", int_or_null(l.last_email_sent_at_ms)},
                      {"lastEmailOpenedAt", int_or_null(l.last_email_opened_at_ms)},
                      {"createdAt", l.created_at_ms},
                      {"updatedAt", l.updated_at_ms},
                      {"version", l.version}};
}

json::object detail_json(const storage::lead_detail& d) {
  auto o = lead_json(d.lead);
  json::array fields;
  for (const auto& f : d.fields)
    fields.emplace_back(json::object{{"formFieldId", f.form_field_id}, {"key", f.key}, {"label", f.label}, {"value", f.value}});
  o["fields"] = std::move(fields);
  return o;
}

// One lead, with its version as a strong ETag.
response detail_reply(bhttp::status status, const storage::lead_detail& d) {
  auto res = json_reply(status, detail_json(d));
  std::string etag(1, '"');
  etag += std::to_string(d.lead.version);
  etag += '"';
  res.set(bhttp::field::etag, etag);
  return res;
}

json::object page_json(json::array data, const std::optional<std::string>& next) {
  return json::object{{"data", std::move(data)}, {"nextCursor", next ? json::value(*next) : json::value(nullptr)}};
}

// ---- reading bodies with arrays, numbers and objects (body_reader reads strings) ----------------

// A strict reader of the lead bodies: each field of its type, unknown fields refused.
class lead_body {
 public:
  explicit lead_body(const json::object& o) : o_(o) {}

  bool has(std::string_view name) const { return o_.contains(name); }
  const std::optional<api_error>& problem() const { return problem_; }

  std::optional<std::string> text(std::string_view name, bool required, std::size_t max_bytes = 1024) {
    auto* v = take(name, required, "a string");
    if (!v) return std::nullopt;
    if (!v->is_string()) return bad(name, "must be a string");
    if (v->as_string().size() > max_bytes) return bad(name, "is longer than " + std::to_string(max_bytes) + " bytes");
    return std::string(v->as_string());
  }
  std::optional<std::int64_t> integer(std::string_view name) {
    auto* v = take(name, false, "an integer");
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v->as_uint64());
    return bad(name, "must be an integer");
  }
  std::optional<std::vector<std::string>> strings(std::string_view name) {
    auto* v = take(name, false, "an array of strings");
    if (!v) return std::nullopt;
    if (!v->is_array()) return bad(name, "must be an array of strings");
    std::vector<std::string> out;
    for (const auto& e : v->as_array()) {
      if (!e.is_string()) return bad(name, "must be an array of strings");
      out.emplace_back(e.as_string());
    }
    return out;
  }
  // A string, or JSON null given explicitly (outer nullopt: absent).
  std::optional<std::optional<std::string>> nullable_text(std::string_view name, std::size_t max_bytes = 64) {
    seen_.insert(std::string(name));
    auto* v = o_.if_contains(name);
    if (!v || problem_) return std::nullopt;
    if (v->is_null()) return std::optional<std::string>{};
    if (!v->is_string() || v->as_string().size() > max_bytes) return bad_opt(name, "must be a string or null");
    return std::optional<std::string>(std::string(v->as_string()));
  }
  // An object of field key -> string (or null when `nulls`).
  std::optional<std::map<std::string, std::optional<std::string>>> field_map(std::string_view name, bool nulls) {
    auto* v = take(name, false, "an object");
    if (!v) return std::nullopt;
    if (!v->is_object()) return bad(name, "must be an object of field key to value");
    std::map<std::string, std::optional<std::string>> out;
    for (const auto& [k, e] : v->as_object()) {
      if (e.is_string()) out[std::string(k)] = std::string(e.as_string());
      else if (nulls && e.is_null()) out[std::string(k)] = std::nullopt;
      else return bad_field(std::string(name) + "." + std::string(k), nulls ? "must be a string or null" : "must be a string");
    }
    return out;
  }
  std::optional<api_error> finish() {
    if (problem_) return problem_;
    for (const auto& [k, v] : o_)
      if (!seen_.contains(std::string(k)))
        return api_error::invalid(std::string(k), "unknown field " + std::string(k) + "; this route does not take it", "unknown_field");
    return std::nullopt;
  }

 private:
  const json::value* take(std::string_view name, bool required, std::string_view type) {
    seen_.insert(std::string(name));
    if (problem_) return nullptr;
    auto* v = o_.if_contains(name);
    if (!v || v->is_null()) {
      if (required) problem_ = api_error::invalid(std::string(name), std::string(name) + " is required (" + std::string(type) + ")", "required");
      return nullptr;
    }
    return v;
  }
  std::nullopt_t bad(std::string_view name, const std::string& what) { return bad_field(std::string(name), what); }
  std::nullopt_t bad_opt(std::string_view name, const std::string& what) { return bad_field(std::string(name), what); }
  std::nullopt_t bad_field(const std::string& name, const std::string& what) {
    if (!problem_) problem_ = api_error::invalid(name, name + " " + what, "wrong_type");
    return std::nullopt;
  }
  const json::object& o_;
  std::set<std::string> seen_;
  std::optional<api_error> problem_;
};

// An If-Match value: `*` (any version: nullopt inside), or one strong ETag of a lead ("123");
// nullopt when it names nothing a lead's ETag can be (a weak tag, a list, not a number).
std::optional<std::optional<std::int64_t>> if_match_version(std::string_view h) {
  h = runtime::trim(h);
  if (h == "*") return std::optional<std::int64_t>{};
  if (h.size() < 3 || h.front() != '"' || h.back() != '"') return std::nullopt;
  auto v = parse_int(h.substr(1, h.size() - 2));
  if (!v) return std::nullopt;
  return std::optional<std::int64_t>(*v);
}

// ---- routes ------------------------------------------------------------------------------------

void list(api_service& api, api_call&& call, responder reply) {
  auto q = parse_lead_query(call);
  if (auto* e = std::get_if<api_error>(&q)) return fail(reply, *e);
  in_workspace_db(
      api, std::move(call), std::move(reply), action::read,
      [q = std::get<storage::lead_query>(std::move(q))](pg::connection& c, const scoped_call& sc) {
        return storage::list_leads(c, sc.workspace_id, q);
      },
      [](scoped_call&&, result<storage::lead_page> p, responder reply) {
        if (!p) return fail(reply, p.err());
        json::array data;
        for (const auto& l : p->rows) data.emplace_back(lead_json(l));
        reply(json_reply(bhttp::status::ok, page_json(std::move(data), p->next_cursor)));
      });
}

void get_one(api_service& api, api_call&& call, responder reply) {
  in_workspace_db(
      api, std::move(call), std::move(reply), action::read,
      [](pg::connection& c, const scoped_call& sc) { return storage::get_lead(c, sc.workspace_id, sc.param("lead")); },
      [](scoped_call&&, result<storage::lead_detail> d, responder reply) {
        if (!d) return fail(reply, d.err());
        reply(detail_reply(bhttp::status::ok, *d));
      });
}

void events(api_service& api, api_call&& call, responder reply) {
  std::optional<std::string> cursor;
  int limit = 50;
  for (const auto& [k, v] : call.query_params) {
    if (k == "cursor") {
      cursor = v;
    } else if (k == "limit") {
      auto n = parse_int(v);
      if (!n || *n < 1 || *n > 100) return fail(reply, api_error::invalid("limit", "limit must be an integer from 1 to 100"));
      limit = static_cast<int>(*n);
    } else {
      return fail(reply, api_error::invalid(k, "unknown query parameter " + k + "; this route takes limit and cursor", "unknown_parameter"));
    }
  }
  in_workspace_db(
      api, std::move(call), std::move(reply), action::read,
      [cursor, limit](pg::connection& c, const scoped_call& sc) {
        return storage::lead_events(c, sc.workspace_id, sc.param("lead"), cursor, limit);
      },
      [](scoped_call&&, result<storage::lead_event_page> p, responder reply) {
        if (!p) return fail(reply, p.err());
        json::array data;
        for (const auto& e : p->rows)
          data.emplace_back(json::object{{"id", e.id},
                                         {"type", e.event_type},
                                         {"category", e.category},
                                         {"description", e.description},
                                         {"metadata", json_or_null(e.metadata)},
                                         {"userId", e.user_id ? json::value(*e.user_id) : json::value(nullptr)},
                                         {"executionId", e.execution_id ? json::value(*e.execution_id) : json::value(nullptr)},
                                         {"createdAt", e.created_at_ms}});
        reply(json_reply(bhttp::status::ok, page_json(std::move(data), p->next_cursor)));
      });
}

void create(api_service& api, api_call&& call, responder reply) {
  lead_body b(call.body);
  storage::new_lead l;
  auto workflow = b.text("workflowId", true, 64);
  auto email = b.text("email", true, 320);
  l.name = b.text("name", false);
  l.company_name = b.text("companyName", false);
  l.phone = b.text("phone", false, 64);
  auto status = b.text("status", false, 64);
  auto source = b.text("source", false, 16);
  auto score = b.integer("score");
  auto tags = b.strings("tags");
  auto assigned = b.text("assignedTo", false, 64);
  auto fields = b.field_map("fields", false);
  if (auto p = b.finish()) return fail(reply, *p);
  l.workflow_id = *workflow;
  l.email = *email;
  if (status) l.status = *status;
  if (source) {
    if (*source != "MANUAL" && *source != "API") return fail(reply, api_error::invalid("source", "source must be MANUAL or API"));
    l.source = *source;
  }
  if (score) l.score = *score;
  if (tags) l.tags = std::move(*tags);
  l.assigned_to = assigned;
  if (fields)
    for (auto& [k, v] : *fields) l.fields[k] = std::move(*v);
  in_workspace_db(
      api, std::move(call), std::move(reply), action::work_leads,
      [l = std::move(l)](pg::connection& c, const scoped_call& sc) { return storage::create_lead(c, sc.workspace_id, sc.user_id(), l); },
      [](scoped_call&& sc, result<storage::lead_detail> d, responder reply) {
        if (!d) return fail(reply, d.err());
        auto res = detail_reply(bhttp::status::created, *d);
        res.set(bhttp::field::location, std::string(k_prefix) + "/workspaces/" + sc.workspace_id + "/leads/" + d->lead.id);
        reply(std::move(res));
      });
}

void patch(api_service& api, api_call&& call, responder reply) {
  lead_body b(call.body);
  storage::lead_update u;
  u.status = b.text("status", false, 64);
  u.tags = b.strings("tags");
  u.score = b.integer("score");
  u.assigned_to = b.nullable_text("assignedTo");
  u.name = b.text("name", false);
  u.company_name = b.text("companyName", false);
  u.phone = b.text("phone", false, 64);
  if (auto f = b.field_map("fields", true)) u.fields = std::move(*f);
  u.expected_version = b.integer("version");
  if (auto p = b.finish()) return fail(reply, *p);
  if (call.if_match) {
    auto v = if_match_version(*call.if_match);
    if (!v)
      return fail(reply, api_error{bhttp::status::precondition_failed, "precondition_failed",
                                   "If-Match does not name this lead's version: send the ETag of GET .../leads/{lead}", "If-Match", 0});
    if (*v && u.expected_version && **v != *u.expected_version)
      return fail(reply, api_error{bhttp::status::precondition_failed, "precondition_failed",
                                   "If-Match and version name different versions", "If-Match", 0});
    if (*v) u.expected_version = **v;
  }
  const char* precondition = call.if_match ? "If-Match" : "version";
  in_workspace_db(
      api, std::move(call), std::move(reply), action::work_leads,
      [u = std::move(u)](pg::connection& c, const scoped_call& sc) {
        return storage::update_lead(c, sc.workspace_id, sc.param("lead"), sc.user_id(), u);
      },
      [precondition](scoped_call&&, result<storage::lead_detail> d, responder reply) {
        if (!d) {
          if (d.err().code == error_code::conflict && d.err().subject == "updatedAt")
            return fail(reply, api_error{bhttp::status::precondition_failed, "precondition_failed", d.err().message, precondition, 0});
          return fail(reply, d.err());
        }
        reply(detail_reply(bhttp::status::ok, *d));
      });
}

void remove(api_service& api, api_call&& call, responder reply) {
  in_workspace_db(
      api, std::move(call), std::move(reply), action::work_leads,
      [](pg::connection& c, const scoped_call& sc) { return storage::soft_delete_lead(c, sc.workspace_id, sc.param("lead"), sc.user_id()); },
      [](scoped_call&&, result<void> r, responder reply) {
        if (!r) return fail(reply, r.err());
        reply(no_content());
      });
}

// ---- export: streamed page by page --------------------------------------------------------

// An export under way: the pages are read one at a time on the PostgreSQL pool (no connection is
// held between them), each written as one chunk; the next page is read once the previous one is
// on the socket, so a slow client holds one page, and a client that leaves stops the paging.
struct export_run {
  api_service& api;
  std::string workspace_id;
  storage::lead_query query;
  std::shared_ptr<response_stream> out;
  std::optional<std::string> cursor;  // the next page's; none: the last page was read
  std::size_t rows = 0;
};

void send_export_page(const std::shared_ptr<export_run>& run, std::string chunk) {
  run->out->write(std::move(chunk), [run](bool more) {
    if (!more) return;  // the client left (or a HEAD wanted the header only)
    if (!run->cursor) return run->out->finish({{"X-Export-Rows", std::to_string(run->rows)}});
    run->api.db_next(
        [run](pg::connection& c) { return storage::export_leads_page(c, run->workspace_id, run->query, run->cursor, k_lead_export_page); },
        [run](result<storage::export_page> page) {
          if (!page) {
            // The header went out with 200: cut the transfer so the client cannot take a short
            // file for the whole export.
            spdlog::error("leads: the export of workspace {} failed after {} rows: {}", run->workspace_id, run->rows, page.err().message);
            return run->out->abort();
          }
          run->rows += page->rows;
          run->cursor = std::move(page->next_cursor);
          send_export_page(run, std::move(page->csv));
        });
  });
}

void export_csv(api_service& api, api_call&& call, responder reply) {
  auto q = parse_lead_query(call, true);
  if (auto* e = std::get_if<api_error>(&q)) return fail(reply, *e);
  auto query = std::get<storage::lead_query>(std::move(q));
  // The scope check and the first page in one job: a refusal or a bad filter is still a plain
  // JSON error, before anything is streamed.
  in_workspace_db(
      api, std::move(call), std::move(reply), action::read,
      [query](pg::connection& c, const scoped_call& sc) {
        return storage::export_leads_page(c, sc.workspace_id, query, std::nullopt, k_lead_export_page);
      },
      [&api, query](scoped_call&& sc, result<storage::export_page> page, responder reply) {
        if (!page) return fail(reply, page.err());
        auto run = std::make_shared<export_run>(export_run{api, sc.workspace_id, query, sc.call.stream, std::move(page->next_cursor), page->rows});
        response head{bhttp::status::ok, 11};
        head.set(bhttp::field::content_type, "text/csv; charset=utf-8");
        head.set(bhttp::field::content_disposition, "attachment; filename=\"leads-" + sc.workspace_id + ".csv\"");
        head.set(bhttp::field::cache_control, "no-store");
        head.set(bhttp::field::trailer, "X-Export-Rows");  // known at the end only
        run->out->start(std::move(head), [run, first = storage::export_csv_header() + page->csv](bool more) mutable {
          if (more) send_export_page(run, std::move(first));
        });
      });
}

// ---- import: the body streamed, written in batches ---------------------------------------------

// The import's summary: what was written and why rows were not.
struct import_summary {
  std::size_t imported = 0, failed = 0;
  json::array errors;  // at most k_import_errors_listed
  bool complete = true;  // false: a CSV syntax error stopped the reading
};
constexpr std::size_t k_import_errors_listed = 1000;

void note(import_summary& s, std::size_t row, std::string field, std::string message) {
  ++s.failed;
  if (s.errors.size() < k_import_errors_listed)
    s.errors.emplace_back(json::object{{"row", row}, {"field", std::move(field)}, {"message", std::move(message)}});
}

// An import under way. One step at a time, each handing over to the next: a piece of the body
// is read (on an I/O thread) and parsed; every k_lead_import_batch rows (or
// k_lead_import_batch_bytes) are written in one statement on the PostgreSQL pool; the next piece
// is asked for only once the reader's records are written. So an import holds one piece, the
// records parsed from it and one batch, whatever the body's size, and the client waits for the
// database (TCP back-pressure). A bad row is an error of that row; an unknown column in the first
// batch fails the whole import before anything is written (422 naming it); a CSV syntax error
// stops the reading (the rows before it are kept; complete = false), and the rest of the body is
// not read (the connection closes after the answer).
class import_run : public std::enable_shared_from_this<import_run> {
 public:
  import_run(api_service& api, const scoped_call& sc, std::string workflow_id, responder reply)
      : api_(api),
        workspace_id_(sc.workspace_id),
        user_id_(sc.user_id()),
        workflow_id_(std::move(workflow_id)),
        body_(sc.call.body_stream),
        reply_(std::move(reply)) {}

  void start() { read_next(); }

 private:
  void read_next() {
    body_->read([self = shared_from_this()](result<body_stream::piece> p) {
      // An unreadable body (the client left, a timeout, over the limit) is answered by the server.
      if (!p) return;
      self->take(std::move(*p));
    });
  }

  void take(body_stream::piece p) {
    if (!reader_.push(p.bytes)) {
      broken_ = true;
    } else if (p.last) {
      broken_ = !reader_.finish();
    }
    ended_ = p.last || broken_;
    go_on();
  }

  // Moves the reader's records into the batch, writes full batches, and reads on (or ends).
  void go_on() {
    while (auto rec = reader_.pop()) {
      auto values = domain::csv::to_map(*reader_.header(), *rec);
      if (!values) {
        note(out_, rec->row, "row", values.err().message);
        continue;
      }
      for (const auto& [k, v] : *values) batch_bytes_ += k.size() + v.size();
      batch_.push_back(storage::import_row{rec->row, std::move(*values)});
      if (batch_.size() >= k_lead_import_batch || batch_bytes_ >= k_lead_import_batch_bytes) return flush([](import_run& r) { r.go_on(); });
    }
    if (!ended_) return read_next();
    if (!reader_.header())
      return fail(reply_, api_error::invalid("body", broken_ && reader_.failure()
                                                         ? "the CSV header cannot be read: " + reader_.failure()->message
                                                         : std::string("the CSV has no header row (email, name, ...)")));
    flush([](import_run& r) { r.answer(); });
  }

  // Writes the batch (if any) in one statement on the pool, then `next` there.
  void flush(void (*next)(import_run&)) {
    if (batch_.empty()) return next(*this);
    auto rows = std::make_shared<std::vector<storage::import_row>>(std::move(batch_));
    batch_.clear();
    batch_bytes_ = 0;
    api_.db_next(
        [self = shared_from_this(), rows](pg::connection& c) {
          return storage::import_leads(c, self->workspace_id_, self->user_id_, self->workflow_id_, *rows);
        },
        [self = shared_from_this(), next](result<storage::import_outcome> r) {
          if (!r) {
            const auto& e = r.err();
            if (self->first_batch_ && e.code == error_code::invalid) return fail(self->reply_, api_error::invalid(e.subject, e.message));
            if (e.code == error_code::not_found && e.subject == "workflowId")
              return fail(self->reply_, api_error::invalid("workflowId", e.message));
            return fail(self->reply_, e);
          }
          self->first_batch_ = false;
          self->out_.imported += r->lead_ids.size();
          for (auto& e : r->errors) note(self->out_, e.row, std::move(e.field), std::move(e.message));
          next(*self);
        });
  }

  void answer() {
    if (broken_) {
      out_.complete = false;
      const auto& why = reader_.failure();
      note(out_, 0, "csv", why ? why->message : "the CSV cannot be read past this point");
    }
    reply_(json_reply(bhttp::status::ok, json::object{{"imported", out_.imported},
                                                      {"failed", out_.failed},
                                                      {"complete", out_.complete},
                                                      {"errors", std::move(out_.errors)}}));
  }

  api_service& api_;
  const std::string workspace_id_, user_id_, workflow_id_;
  std::shared_ptr<body_stream> body_;
  responder reply_;
  domain::csv::reader reader_;
  std::vector<storage::import_row> batch_;
  std::size_t batch_bytes_ = 0;
  bool first_batch_ = true, broken_ = false, ended_ = false;
  import_summary out_;
};

void import(api_service& api, api_call&& call, responder reply) {
  std::optional<std::string> workflow;
  for (const auto& [k, v] : call.query_params) {
    if (k != "workflowId")
      return fail(reply, api_error::invalid(k, "unknown query parameter " + k + "; this route takes workflowId", "unknown_parameter"));
    workflow = v;
  }
  if (!workflow) return fail(reply, api_error::invalid("workflowId", "workflowId (the workflow the leads join) is required in the query", "required"));
  // The caller's role and the workflow are checked before a byte of the body is read.
  in_workspace_db(
      api, std::move(call), std::move(reply), action::work_leads,
      [workflow = *workflow](pg::connection& c, const scoped_call& sc) { return storage::check_import_workflow(c, sc.workspace_id, workflow); },
      [&api, workflow = *workflow](scoped_call&& sc, result<void> r, responder reply) {
        if (!r) {
          if (r.err().code == error_code::not_found && r.err().subject == "workflowId")
            return fail(reply, api_error::invalid("workflowId", r.err().message));
          return fail(reply, r.err());
        }
        std::make_shared<import_run>(api, sc, workflow, std::move(reply))->start();
      });
}

}  // namespace

std::optional<std::int64_t> parse_instant(std::string_view t) {
  if (!t.empty() && t.find_first_not_of("0123456789") == std::string_view::npos) return parse_int(t);
  auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    if (at + n > t.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return std::nullopt;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2);
  if (!y || !mo || !d || t.size() < 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  static constexpr int k_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > k_days[*mo - 1] || (*mo == 2 && *d == 29 && !leap)) return std::nullopt;
  // Days from the civil date (H. Hinnant's algorithm).
  const int yy = *y - (*mo <= 2 ? 1 : 0);
  const int era = yy / 400;
  const int yoe = yy - era * 400;
  const int doy = (153 * (*mo + (*mo > 2 ? -3 : 9)) + 2) / 5 + *d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t ms_value = (static_cast<std::int64_t>(era) * 146097 + doe - 719468) * 86'400'000LL;
  if (t.size() == 10) return ms_value;
  if (t[10] != 'T' && t[10] != 't') return std::nullopt;
  auto h = digits(11, 2), mi = digits(14, 2), s = digits(17, 2);
  if (!h || !mi || !s || t.size() < 19 || t[13] != ':' || t[16] != ':' || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  ms_value += (*h * 3600LL + *mi * 60LL + *s) * 1000;
  std::size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    std::size_t start = ++i;
    int frac = 0, scale = 1000;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      if (scale > 1) {
        scale /= 10;
        frac += (t[i] - '0') * scale;
      }
      ++i;
    }
    if (i == start) return std::nullopt;
    ms_value += frac;
  }
  if (i == t.size()) return std::nullopt;  // a zone is required: a local time is ambiguous
  if ((t[i] == 'Z' || t[i] == 'z') && i + 1 == t.size()) return ms_value;
  if ((t[i] == '+' || t[i] == '-') && t.size() == i + 6 && t[i + 3] == ':') {
    auto oh = digits(i + 1, 2), om = digits(i + 4, 2);
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    const std::int64_t off = (*oh * 60LL + *om) * 60'000;
    return t[i] == '+' ? ms_value - off : ms_value + off;
  }
  return std::nullopt;
}

std::variant<storage::lead_query, api_error> parse_lead_query(const api_call& call, bool for_export) {
  storage::lead_query q;
  std::set<std::string> seen;
  for (const auto& [k, v] : call.query_params) {
    if (k != "tag" && !seen.insert(k).second)
      return api_error::invalid(k, k + " may be given once", "repeated_parameter");
    if (k == "status") {
      q.status = v;
    } else if (k == "tag") {
      std::size_t i = 0;
      for (;;) {
        auto comma = v.find(',', i);
        std::string tag(runtime::trim(std::string_view(v).substr(i, comma == std::string::npos ? std::string::npos : comma - i)));
        if (!tag.empty()) q.tags.push_back(std::move(tag));
        if (comma == std::string::npos) break;
        i = comma + 1;
      }
    } else if (k == "source") {
      q.source = v;
    } else if (k == "assignedTo") {
      q.assigned_to = v;
    } else if (k == "q") {
      q.text = v;
    } else if (k == "createdFrom" || k == "createdTo") {
      auto at = parse_instant(v);
      if (!at) return api_error::invalid(k, k + " must be an ISO 8601 date or date-time with a zone (2026-12-03, 2026-12-03T10:00:00Z) or epoch milliseconds");
      (k == "createdFrom" ? q.created_from_ms : q.created_to_ms) = *at;
    } else if (k == "sort") {
      auto s = storage::parse_lead_sort(v);
      if (!s) return api_error::invalid("sort", "sort must be createdAt, updatedAt, score or name");
      q.sort = *s;
    } else if (k == "order") {
      if (v != "asc" && v != "desc") return api_error::invalid("order", "order must be asc or desc");
      q.descending = v == "desc";
    } else if (!for_export && k == "limit") {
      auto n = parse_int(v);
      if (!n || *n < 1 || *n > 100) return api_error::invalid("limit", "limit must be an integer from 1 to 100");
      q.limit = static_cast<int>(*n);
    } else if (!for_export && k == "cursor") {
      q.cursor = v;
    } else {
      return api_error::invalid(k, "unknown query parameter " + k + "; this route takes status, tag, source, assignedTo, q, createdFrom, createdTo, sort, order" +
                                       (for_export ? "" : ", limit, cursor"),
                                "unknown_parameter");
    }
  }
  return q;
}

void add_lead_routes(api_service& api) {
  const route_options plain{}, body{.body = true};
  auto bind = [&api](void (*f)(api_service&, api_call&&, responder)) {
    return [&api, f](api_call&& call, responder reply) { f(api, std::move(call), std::move(reply)); };
  };
  // The scope step runs inside each route's one PostgreSQL job (in_workspace_db), so routes are
  // added with api.add and signed_in; their pattern carries {id}.
  auto signed_in = [](route_options o) {
    o.signed_in = true;
    return o;
  };
  api.add(verb::get, "/workspaces/{id}/leads", signed_in(plain), bind(list));
  api.add(verb::post, "/workspaces/{id}/leads", signed_in(body), bind(create));
  api.add(verb::get, "/workspaces/{id}/leads/export.csv", signed_in(plain), bind(export_csv));
  route_options csv_body{};
  csv_body.raw_body_type = "text/csv";
  csv_body.body_limit = k_lead_import_limit;
  csv_body.stream_body = true;
  api.add(verb::post, "/workspaces/{id}/leads/import", signed_in(csv_body), bind(import));
  api.add(verb::get, "/workspaces/{id}/leads/{lead}", signed_in(plain), bind(get_one));
  api.add(verb::patch, "/workspaces/{id}/leads/{lead}", signed_in(body), bind(patch));
  api.add(verb::delete_, "/workspaces/{id}/leads/{lead}", signed_in(plain), bind(remove));
  api.add(verb::get, "/workspaces/{id}/leads/{lead}/events", signed_in(plain), bind(events));
}

}  // namespace flowtrack::http::api
