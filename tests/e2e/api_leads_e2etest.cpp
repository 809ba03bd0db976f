// Leads and the read-only usage routes over the management API (issue #13 item 4) against a
// running node with real PostgreSQL (a database of this suite's own), Redis and an SMTP sink:
// every filter and sort of the list, pagination while another thread inserts leads, the Kanban
// move recorded as STATUS_CHANGED with the user, the version precondition, assignees that must be
// members, CSV import with per-row errors and export with the formula guard, the role matrix
// (viewer reads, member works leads), tenant isolation (404), and the usage, stats, subscription,
// plans and integrations shapes (no token ever returned). Import and export stream: an export of
// many pages is whole and ordered and stops when its client leaves; an import beyond the old
// 20 MiB cap goes through in batches while the node's resident memory stays bounded.
//
// Nodes hash passwords with low Argon2 costs (as api_workspaces_e2etest). Workflows and form
// fields are made by SQL: their routes are another module's.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "tests/support/api_session.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string k_jwt_key_hex = "1f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a6978";

scratch_database& database() {
  static scratch_database db("ft_api_leads");
  return db;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
    else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

using reply = api_reply;
using user = api_user;

std::vector<std::string> ids_of(const json::array& data) {
  std::vector<std::string> out;
  for (const auto& l : data) out.emplace_back(l.at("id").as_string());
  return out;
}

class api_leads : public api_session {
 protected:
  void SetUp() override {
    request_timeout = 60s;  // the imports and exports of a few MiB
    ASSERT_TRUE(use_database(database()));
    start_node({{"FLOWTRACK_JWT_KEY", k_jwt_key_hex}, {"FLOWTRACK_MAIL_DOMAIN", "in.flowtrack.test"}});
  }

  // A body goes as `content_type` (CSV for the import).
  reply call(const std::string& method, const std::string& path, const std::string& body = "", const std::string& token = "",
             const std::string& content_type = "application/json", headers_t headers = {}) {
    if (!body.empty()) headers["Content-Type"] = content_type;
    return api_session::call(method, path, body, token, std::move(headers));
  }

  std::string workspace(const user& owner) {
    static int made = 0;
    auto r = send("POST", "/workspaces", {{"name", "Leads Co"}, {"slug", "leads-" + std::to_string(::getpid()) + "-" + std::to_string(++made)}},
                  owner.token);
    EXPECT_EQ(r.status, 201) << r.text;
    return r.status == 201 ? r.str("id") : "";
  }

  std::string scalar(const std::string& sql) {
    auto c = column(sql);
    return c.empty() ? "" : c[0];
  }

  // A member of `ws` with `role` (by SQL: invitations are the workspaces suite's subject).
  void add_member(const std::string& ws, const user& u, const std::string& role) {
    column("INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ('" + ws + "', '" + u.id + "', '" + role +
           "', now()) RETURNING 1");
  }

  // A workflow of `ws` with form fields budget and notes; its id.
  std::string workflow(const std::string& ws) {
    auto id = scalar("INSERT INTO workflows (workspace_id, name, status) VALUES ('" + ws + "', 'wf', 'active') RETURNING id");
    for (const char* key : {"budget", "notes"})
      column("INSERT INTO form_fields (workflow_id, field_key, label, field_type) VALUES ('" + id + "', '" + key + "', initcap('" + key +
             "'), 'TEXT') RETURNING 1");
    return id;
  }

  reply create(const std::string& ws, const user& as, json::object lead) {
    return send("POST", "/workspaces/" + ws + "/leads", lead, as.token);
  }
  std::string create_id(const std::string& ws, const user& as, json::object lead) {
    auto r = create(ws, as, std::move(lead));
    EXPECT_EQ(r.status, 201) << r.text;
    return r.status == 201 ? r.str("id") : "";
  }

  reply list(const std::string& ws, const user& as, const std::string& query) {
    return call("GET", "/workspaces/" + ws + "/leads" + (query.empty() ? "" : "?" + query), "", as.token);
  }
  // Every id of the list, page by page.
  std::vector<std::string> all(const std::string& ws, const user& as, const std::string& query, int limit = 3) {
    std::vector<std::string> out;
    std::string cursor;
    for (int pages = 0; pages < 1000; ++pages) {
      std::string q = query + (query.empty() ? "" : "&") + "limit=" + std::to_string(limit);
      if (!cursor.empty()) q += "&cursor=" + url_encode(cursor);
      auto r = list(ws, as, q);
      EXPECT_EQ(r.status, 200) << r.text;
      if (r.status != 200) return out;
      for (auto& id : ids_of(r.data())) out.push_back(id);
      if (r.body.at("nextCursor").is_null()) return out;
      cursor = std::string(r.body.at("nextCursor").as_string());
    }
    ADD_FAILURE() << "the list did not end";
    return out;
  }
};

TEST_F(api_leads, lists_with_every_filter_and_sort_and_names_bad_parameters) {
  auto owner = new_user("owner");
  auto member = new_user("member");
  auto ws = workspace(owner);
  add_member(ws, member, "member");
  auto wf = workflow(ws);
  struct spec {
    std::string email, name, status, source;
    int score;
    json::array tags;
  };
  std::vector<spec> specs{{"alice@acme.test", "Alice", "NEW", "MANUAL", 10, {"vip"}},
                          {"bob@beta.test", "bob", "QUALIFIED", "API", 50, {"cold", "b2b"}},
                          {"carol@acme.test", "Carol", "QUALIFIED", "MANUAL", 30, {}},
                          {"dave@delta.test", "Dave", "WON", "API", 20, {"vip", "b2b"}},
                          {"erin@echo.test", "erin", "LOST", "MANUAL", 40, {"cold"}}};
  std::vector<std::string> ids;
  for (const auto& s : specs) {
    json::object body{{"workflowId", wf}, {"email", s.email}, {"name", s.name}, {"status", s.status},
                      {"source", s.source}, {"score", s.score}, {"tags", s.tags}};
    if (s.email == "carol@acme.test") body["assignedTo"] = member.id;
    ids.push_back(create_id(ws, owner, body));
  }
  // Known creation times; updated_at is set by a trigger to the statement's time, so updating
  // the last lead first makes the updated-at order the reverse of the created-at order.
  for (std::size_t i = ids.size(); i-- > 0;)
    column("UPDATE leads SET created_at = '2026-01-0" + std::to_string(i + 1) + "T12:00:00' WHERE id = '" + ids[i] + "' RETURNING 1");

  auto as_set = [](std::vector<std::string> v) { return std::set<std::string>(v.begin(), v.end()); };
  auto first = list(ws, owner, "");
  ASSERT_EQ(first.status, 200) << first.text;
  ASSERT_EQ(first.data().size(), 5u);
  EXPECT_TRUE(first.body.at("nextCursor").is_null());
  const auto& carol = first.data()[2];  // newest first: erin, dave, carol, ...
  EXPECT_EQ(carol.at("email").as_string(), "carol@acme.test");
  EXPECT_EQ(carol.at("assignedTo").as_string(), member.id);
  EXPECT_EQ(carol.at("workflowId").as_string(), wf);
  EXPECT_EQ(carol.at("score").as_int64(), 30);
  EXPECT_TRUE(carol.at("version").is_int64());

  EXPECT_EQ(as_set(all(ws, owner, "status=QUALIFIED")), as_set({ids[1], ids[2]}));
  EXPECT_EQ(as_set(all(ws, owner, "tag=vip")), as_set({ids[0], ids[3]}));
  EXPECT_EQ(as_set(all(ws, owner, "tag=cold,vip")), as_set({ids[0], ids[1], ids[3], ids[4]})) << "any of the tags";
  EXPECT_EQ(as_set(all(ws, owner, "tag=cold&tag=b2b")), as_set({ids[1], ids[3], ids[4]})) << "repeated";
  EXPECT_EQ(as_set(all(ws, owner, "source=API")), as_set({ids[1], ids[3]}));
  EXPECT_EQ(as_set(all(ws, owner, "assignedTo=" + member.id)), as_set({ids[2]}));
  EXPECT_EQ(as_set(all(ws, owner, "q=acme")), as_set({ids[0], ids[2]}));
  EXPECT_EQ(as_set(all(ws, owner, "createdFrom=2026-01-02&createdTo=2026-01-04")), as_set({ids[1], ids[2]}));
  EXPECT_EQ(as_set(all(ws, owner, "createdFrom=" + url_encode("2026-01-04T11:00:00Z"))), as_set({ids[3], ids[4]}));
  EXPECT_EQ(as_set(all(ws, owner, "status=QUALIFIED&source=MANUAL")), as_set({ids[2]}));

  // Each sort both ways, paged by 2.
  auto rev = [](std::vector<std::string> v) { std::reverse(v.begin(), v.end()); return v; };
  const std::vector<std::string> by_created{ids[0], ids[1], ids[2], ids[3], ids[4]};
  const std::vector<std::string> by_updated{ids[4], ids[3], ids[2], ids[1], ids[0]};
  const std::vector<std::string> by_score{ids[0], ids[3], ids[2], ids[4], ids[1]};
  const std::vector<std::string> by_name{ids[0], ids[1], ids[2], ids[3], ids[4]};  // case-insensitive
  EXPECT_EQ(all(ws, owner, "sort=createdAt&order=asc", 2), by_created);
  EXPECT_EQ(all(ws, owner, "sort=createdAt", 2), rev(by_created)) << "descending by default";
  EXPECT_EQ(all(ws, owner, "sort=updatedAt&order=asc", 2), by_updated);
  EXPECT_EQ(all(ws, owner, "sort=updatedAt&order=desc", 2), rev(by_updated));
  EXPECT_EQ(all(ws, owner, "sort=score&order=asc", 2), by_score);
  EXPECT_EQ(all(ws, owner, "sort=score&order=desc", 2), rev(by_score));
  EXPECT_EQ(all(ws, owner, "sort=name&order=asc", 2), by_name);
  EXPECT_EQ(all(ws, owner, "sort=name&order=desc", 2), rev(by_name));

  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
           {"sort=email", "sort"}, {"order=up", "order"}, {"limit=0", "limit"}, {"limit=101", "limit"}, {"limit=x", "limit"},
           {"createdFrom=yesterday", "createdFrom"}, {"createdTo=2026-02-30", "createdTo"}, {"assignedTo=nobody", "assignedTo"},
           {"q=ab", "q"}, {"color=red", "color"}, {"status=NEW&status=WON", "status"},
           {"createdFrom=2026-01-05&createdTo=2026-01-01", "createdTo"}, {"cursor=not-a-cursor", "cursor"}}) {
    auto r = list(ws, owner, query);
    EXPECT_EQ(r.status, 422) << query << ": " << r.text;
    EXPECT_EQ(r.error_field(), field) << query;
  }
  // A cursor of another list (another sort) or tampered with.
  auto p1 = list(ws, owner, "limit=2&sort=score");
  ASSERT_EQ(p1.status, 200);
  std::string cursor(p1.body.at("nextCursor").as_string());
  EXPECT_EQ(list(ws, owner, "limit=2&sort=name&cursor=" + url_encode(cursor)).error_field(), "cursor");
  EXPECT_EQ(list(ws, owner, "limit=2&sort=score&status=NEW&cursor=" + url_encode(cursor)).error_field(), "cursor");
  std::string tampered = cursor;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  auto t = list(ws, owner, "limit=2&sort=score&cursor=" + url_encode(tampered));
  EXPECT_EQ(t.status, 422) << t.text;
  EXPECT_EQ(t.error_field(), "cursor");
  // The same cursor under another workspace of the same owner.
  auto ws2 = workspace(owner);
  auto foreign = list(ws2, owner, "limit=2&sort=score&cursor=" + url_encode(cursor));
  EXPECT_EQ(foreign.status, 422) << foreign.text;
  EXPECT_EQ(foreign.error_field(), "cursor");
}

TEST_F(api_leads, pages_have_no_duplicates_or_gaps_while_leads_are_inserted) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = workflow(ws);
  column("INSERT INTO leads (workflow_id, workspace_id, email, name, status, source, score, created_at, updated_at) "
         "SELECT '" + wf + "', '" + ws + "', 'pre' || g || '@example.com', 'Pre ' || (g % 9), 'NEW', 'API', g % 7, "
         "now() - make_interval(secs => g), now() - make_interval(secs => g) FROM generate_series(1, 120) g RETURNING 1");
  auto before = column("SELECT id FROM leads WHERE workspace_id = '" + ws + "'");
  ASSERT_EQ(before.size(), 120u);

  std::atomic<bool> paging{true};
  std::atomic<int> inserted{0};
  std::thread writer([&] {
    while (paging.load()) {
      auto r = create(ws, owner, {{"workflowId", wf}, {"email", unique_name("during") + "@example.com"}, {"name", "Pre 4"}, {"score", 3}});
      if (r.status == 201) ++inserted;
    }
  });
  std::map<std::string, std::vector<std::string>> seen;
  for (const std::string query : {"sort=createdAt&order=desc", "sort=createdAt&order=asc", "sort=score&order=asc", "sort=name&order=desc"})
    seen[query] = all(ws, owner, query, 7);
  paging = false;
  writer.join();
  EXPECT_GT(inserted.load(), 0) << "leads were inserted while paging";
  for (const auto& [query, ids] : seen) {
    std::set<std::string> unique(ids.begin(), ids.end());
    EXPECT_EQ(unique.size(), ids.size()) << query << ": a lead on two pages";
    for (const auto& id : before) EXPECT_TRUE(unique.count(id)) << query << ": a lead that existed before page 1 is missing";
  }
}

TEST_F(api_leads, a_status_move_is_recorded_with_the_user_and_the_version_is_a_precondition) {
  auto owner = new_user("owner");
  auto member = new_user("member");
  auto ws = workspace(owner);
  add_member(ws, member, "member");
  auto wf = workflow(ws);
  auto made = create(ws, owner, {{"workflowId", wf}, {"email", "kanban@example.com"}, {"fields", json::object{{"budget", "5000"}}}});
  ASSERT_EQ(made.status, 201) << made.text;
  auto id = made.str("id");
  EXPECT_EQ(made.header("location"), "/api/v1/workspaces/" + ws + "/leads/" + id);
  auto version = made.body.at("version").as_int64();
  EXPECT_EQ(made.header("etag"), "\"" + std::to_string(version) + "\"");

  auto moved = call("PATCH", "/workspaces/" + ws + "/leads/" + id, json::serialize(json::object{{"status", "QUALIFIED"}, {"version", version}}),
                    member.token);
  ASSERT_EQ(moved.status, 200) << moved.text;
  EXPECT_EQ(moved.str("status"), "QUALIFIED");
  EXPECT_NE(moved.body.at("version").as_int64(), version);
  auto stale = call("PATCH", "/workspaces/" + ws + "/leads/" + id, json::serialize(json::object{{"status", "WON"}, {"version", version}}),
                    member.token);
  EXPECT_EQ(stale.status, 412) << stale.text;
  EXPECT_EQ(stale.error_field(), "version");
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/leads/" + id, "", owner.token).str("status"), "QUALIFIED") << "unchanged";
  // If-Match carries the ETag of the detail.
  auto etag = moved.header("etag");
  auto stale_tag = call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"status":"WON"})", member.token, "application/json",
                        {{"If-Match", made.header("etag")}});
  EXPECT_EQ(stale_tag.status, 412) << stale_tag.text;
  EXPECT_EQ(stale_tag.error_field(), "If-Match");
  EXPECT_EQ(call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"status":"WON"})", member.token, "application/json",
                 {{"If-Match", "W/" + etag}}).status, 412) << "a weak tag never matches";
  auto tagged = call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"status":"WON"})", member.token, "application/json",
                     {{"If-Match", etag}});
  ASSERT_EQ(tagged.status, 200) << tagged.text;
  EXPECT_EQ(tagged.str("status"), "WON");
  ASSERT_EQ(call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"status":"QUALIFIED"})", member.token, "application/json",
                 {{"If-Match", "*"}}).status, 200);

  auto events = call("GET", "/workspaces/" + ws + "/leads/" + id + "/events", "", owner.token);
  ASSERT_EQ(events.status, 200) << events.text;
  bool found = false;
  for (const auto& e : events.data())
    if (e.at("type").as_string() == "STATUS_CHANGED") {
      found = true;
      EXPECT_EQ(e.at("userId").as_string(), member.id);
    }
  EXPECT_TRUE(found) << events.text;
  // The timeline pages.
  ASSERT_EQ(call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"tags":["a","b"],"score":7,"fields":{"notes":"call back","budget":null}})",
                 owner.token).status, 200);
  auto page1 = call("GET", "/workspaces/" + ws + "/leads/" + id + "/events?limit=2", "", owner.token);
  ASSERT_EQ(page1.status, 200);
  ASSERT_EQ(page1.data().size(), 2u);
  ASSERT_TRUE(page1.body.at("nextCursor").is_string());
  auto page2 = call("GET", "/workspaces/" + ws + "/leads/" + id + "/events?limit=2&cursor=" +
                           url_encode(std::string(page1.body.at("nextCursor").as_string())), "", owner.token);
  ASSERT_EQ(page2.status, 200) << page2.text;
  ASSERT_FALSE(page2.data().empty());
  EXPECT_NE(page2.data()[0].at("id"), page1.data()[0].at("id"));

  auto one = call("GET", "/workspaces/" + ws + "/leads/" + id, "", owner.token);
  ASSERT_EQ(one.status, 200);
  std::map<std::string, std::string> fields;
  for (const auto& f : one.body.at("fields").as_array()) fields[std::string(f.at("key").as_string())] = f.at("value").as_string();
  EXPECT_EQ(fields, (std::map<std::string, std::string>{{"notes", "call back"}}));
  EXPECT_EQ(one.body.at("tags").as_array().size(), 2u);

  // Body rules name the field.
  EXPECT_EQ(call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"colour":"red"})", owner.token).error_field(), "colour");
  EXPECT_EQ(call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"score":"high"})", owner.token).error_field(), "score");
  EXPECT_EQ(call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"tags":"a"})", owner.token).error_field(), "tags");
  EXPECT_EQ(create(ws, owner, {{"email", "x@example.com"}}).error_field(), "workflowId");
  EXPECT_EQ(create(ws, owner, {{"workflowId", wf}, {"email", "kanban@example.com"}}).status, 409) << "the workflow has it";
}

TEST_F(api_leads, an_assignee_must_be_a_member) {
  auto owner = new_user("owner");
  auto member = new_user("member");
  auto outsider = new_user("outsider");
  auto ws = workspace(owner);
  add_member(ws, member, "member");
  auto wf = workflow(ws);
  auto id = create_id(ws, owner, {{"workflowId", wf}, {"email", "assign@example.com"}});
  auto bad = call("PATCH", "/workspaces/" + ws + "/leads/" + id, json::serialize(json::object{{"assignedTo", outsider.id}}), owner.token);
  EXPECT_EQ(bad.status, 422) << bad.text;
  EXPECT_EQ(bad.error_field(), "assignedTo");
  auto good = call("PATCH", "/workspaces/" + ws + "/leads/" + id, json::serialize(json::object{{"assignedTo", member.id}}), owner.token);
  ASSERT_EQ(good.status, 200) << good.text;
  EXPECT_EQ(good.str("assignedTo"), member.id);
  auto unassigned = call("PATCH", "/workspaces/" + ws + "/leads/" + id, R"({"assignedTo":null})", owner.token);
  ASSERT_EQ(unassigned.status, 200) << unassigned.text;
  EXPECT_TRUE(unassigned.body.at("assignedTo").is_null());
  auto at_create = create(ws, owner, {{"workflowId", wf}, {"email", "assign2@example.com"}, {"assignedTo", outsider.id}});
  EXPECT_EQ(at_create.status, 422);
  EXPECT_EQ(at_create.error_field(), "assignedTo");
}

TEST_F(api_leads, a_viewer_reads_but_does_not_work_leads_and_other_workspaces_are_404) {
  auto owner = new_user("owner");
  auto viewer = new_user("viewer");
  auto other = new_user("other");
  auto ws = workspace(owner);
  add_member(ws, viewer, "viewer");
  auto wf = workflow(ws);
  auto id = create_id(ws, owner, {{"workflowId", wf}, {"email", "roles@example.com"}});
  const std::string lead = "/workspaces/" + ws + "/leads/" + id;

  EXPECT_EQ(list(ws, viewer, "").status, 200);
  EXPECT_EQ(call("GET", lead, "", viewer.token).status, 200);
  EXPECT_EQ(call("GET", lead + "/events", "", viewer.token).status, 200);
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/leads/export.csv", "", viewer.token, "text/csv").status, 200);
  auto patch = call("PATCH", lead, R"({"status":"WON"})", viewer.token);
  EXPECT_EQ(patch.status, 403) << patch.text;
  EXPECT_EQ(patch.error_code(), "forbidden");
  EXPECT_EQ(create(ws, viewer, {{"workflowId", wf}, {"email", "v@example.com"}}).status, 403);
  EXPECT_EQ(call("DELETE", lead, "", viewer.token).status, 403);
  EXPECT_EQ(call("GET", lead, "", owner.token).str("status"), "NEW");

  // Another workspace's lead under one's own workspace, and one's own lead by an outsider.
  auto other_ws = workspace(other);
  auto other_wf = workflow(other_ws);
  auto other_id = create_id(other_ws, other, {{"workflowId", other_wf}, {"email", "theirs@example.com"}});
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/workspaces/" + ws + "/leads/" + other_id},
           {"GET", "/workspaces/" + ws + "/leads/" + other_id + "/events"},
           {"DELETE", "/workspaces/" + ws + "/leads/" + other_id}}) {
    auto r = call(method, path, "", owner.token);
    EXPECT_EQ(r.status, 404) << method << " " << path << ": " << r.text;
    EXPECT_EQ(r.text.find("theirs@"), std::string::npos);
  }
  EXPECT_EQ(call("PATCH", "/workspaces/" + ws + "/leads/" + other_id, R"({"status":"WON"})", owner.token).status, 404);
  EXPECT_EQ(call("GET", "/workspaces/" + other_ws + "/leads/" + other_id, "", other.token).str("status"), "NEW");
  for (const auto& path : {"/workspaces/" + ws + "/leads", lead, lead + "/events", "/workspaces/" + ws + "/usage"}) {
    auto r = call("GET", path, "", other.token);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.text.find("roles@"), std::string::npos);
  }
  EXPECT_EQ(list(ws, user{}, "").status, 401);

  // Soft delete: gone from the list and the detail, the row stays.
  EXPECT_EQ(call("DELETE", lead, "", owner.token).status, 204);
  EXPECT_EQ(call("GET", lead, "", owner.token).status, 404);
  EXPECT_TRUE(list(ws, owner, "").data().empty());
  EXPECT_EQ(scalar("SELECT deleted_at IS NOT NULL FROM leads WHERE id = '" + id + "'"), "t");
}

TEST_F(api_leads, exports_csv_with_the_formula_guard) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = workflow(ws);
  create_id(ws, owner, {{"workflowId", wf}, {"email", "formula@example.com"}, {"name", "=HYPERLINK(\"http://evil\")"}, {"status", "WON"}});
  create_id(ws, owner, {{"workflowId", wf}, {"email", "plain@example.com"}, {"name", "Plain, Name"}, {"fields", json::object{{"budget", "+100"}}}});
  auto r = call("GET", "/workspaces/" + ws + "/leads/export.csv", "", owner.token, "text/csv");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.header("content-type").rfind("text/csv", 0), 0u) << r.header("content-type");
  EXPECT_NE(r.header("content-disposition").find("attachment; filename="), std::string::npos);
  EXPECT_EQ(r.text.rfind("id,email,name,", 0), 0u) << r.text.substr(0, 200);
  EXPECT_NE(r.text.find("\"'=HYPERLINK(\"\"http://evil\"\")\""), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("\"Plain, Name\""), std::string::npos);
  EXPECT_EQ(r.text.find(",=HYPERLINK"), std::string::npos);
  auto won = call("GET", "/workspaces/" + ws + "/leads/export.csv?status=WON", "", owner.token, "text/csv");
  ASSERT_EQ(won.status, 200);
  EXPECT_NE(won.text.find("formula@"), std::string::npos);
  EXPECT_EQ(won.text.find("plain@"), std::string::npos) << "filters apply";
  auto bad = call("GET", "/workspaces/" + ws + "/leads/export.csv?limit=5", "", owner.token);
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(bad.error_field(), "limit");
}

TEST_F(api_leads, imports_csv_keeping_good_rows_and_listing_bad_ones) {
  auto owner = new_user("owner");
  auto viewer = new_user("viewer");
  auto ws = workspace(owner);
  add_member(ws, viewer, "viewer");
  auto wf = workflow(ws);
  const std::string path = "/workspaces/" + ws + "/leads/import?workflowId=" + wf;
  const std::string csv =
      "email,name,status,score,tags,budget\r\n"
      "good1@example.com,Good One,NEW,5,vip;b2b,1000\r\n"
      "not-an-email,Bad Email,NEW,1,,\r\n"
      "good2@example.com,\"Two, Good\",QUALIFIED,7,,\"'=2+2\"\r\n"
      "short@example.com,Short\r\n"
      "good1@example.com,Again,NEW,1,,\r\n";
  auto r = call("POST", path, csv, owner.token, "text/csv");
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_TRUE(r.body.is_object()) << r.text;
  EXPECT_EQ(r.body.at("imported").as_int64(), 2);
  EXPECT_EQ(r.body.at("failed").as_int64(), 3);
  EXPECT_TRUE(r.body.at("complete").as_bool());
  std::map<std::int64_t, std::string> fields;
  for (const auto& e : r.body.at("errors").as_array()) {
    fields[e.at("row").as_int64()] = e.at("field").as_string();
    EXPECT_FALSE(e.at("message").as_string().empty());
  }
  EXPECT_EQ(fields.size(), 3u) << r.text;
  EXPECT_EQ(fields[3], "email") << "row 3 (the header is row 1)";
  EXPECT_EQ(fields[5], "row") << "a field count that differs from the header's";
  EXPECT_EQ(fields[6], "email") << "the workflow has it already";
  auto listed = list(ws, owner, "sort=name&order=asc");
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(listed.data().size(), 2u);
  EXPECT_EQ(listed.data()[0].at("email").as_string(), "good1@example.com");
  EXPECT_EQ(listed.data()[0].at("source").as_string(), "IMPORT");
  EXPECT_EQ(listed.data()[0].at("tags").as_array().size(), 2u);
  EXPECT_EQ(listed.data()[1].at("name").as_string(), "Two, Good");
  auto two = call("GET", "/workspaces/" + ws + "/leads/" + std::string(listed.data()[1].at("id").as_string()), "", owner.token);
  ASSERT_EQ(two.status, 200);
  ASSERT_EQ(two.body.at("fields").as_array().size(), 1u);
  EXPECT_EQ(two.body.at("fields").as_array()[0].at("value").as_string(), "=2+2") << "the export's guard is dropped";

  // An export imports back (its extra columns ignored) into another workflow.
  auto exported = call("GET", "/workspaces/" + ws + "/leads/export.csv", "", owner.token, "text/csv");
  ASSERT_EQ(exported.status, 200);
  auto wf2 = workflow(ws);
  auto again = call("POST", "/workspaces/" + ws + "/leads/import?workflowId=" + wf2, exported.text, owner.token, "text/csv");
  ASSERT_EQ(again.status, 200) << again.text;
  EXPECT_EQ(again.body.at("imported").as_int64(), 2) << again.text;
  EXPECT_EQ(again.body.at("failed").as_int64(), 0) << again.text;

  // Larger than a JSON body may be (1 MiB): taken, in batches.
  std::string big = "email,name,notes\n";
  const std::string pad(400, 'x');
  int rows = 0;
  while (big.size() < 3 * 1024 * 1024) big += "bulk" + std::to_string(++rows) + "@example.com,Bulk," + pad + "\n";
  auto bulk = call("POST", "/workspaces/" + ws + "/leads/import?workflowId=" + wf2, big, owner.token, "text/csv");
  ASSERT_EQ(bulk.status, 200) << bulk.text.substr(0, 300);
  EXPECT_EQ(bulk.body.at("imported").as_int64(), rows);
  EXPECT_EQ(scalar("SELECT count(*) FROM leads WHERE workflow_id = '" + wf2 + "'"), std::to_string(rows + 2));
  // ...while a JSON route still refuses more than 1 MiB.
  auto json_big = call("POST", "/workspaces/" + ws + "/leads",
                       json::serialize(json::object{{"workflowId", wf}, {"email", "x@example.com"}, {"name", std::string(2 * 1024 * 1024, 'n')}}),
                       owner.token);
  EXPECT_EQ(json_big.status, 413);

  // Whole-import refusals name what is wrong; nothing is written.
  auto unknown = call("POST", path, "email,colour\nu@example.com,red\n", owner.token, "text/csv");
  EXPECT_EQ(unknown.status, 422) << unknown.text;
  EXPECT_EQ(unknown.error_field(), "colour");
  EXPECT_EQ(call("POST", "/workspaces/" + ws + "/leads/import", csv, owner.token, "text/csv").error_field(), "workflowId");
  auto no_wf = call("POST", "/workspaces/" + ws + "/leads/import?workflowId=00000000-0000-0000-0000-000000000000", csv, owner.token, "text/csv");
  EXPECT_EQ(no_wf.status, 422) << no_wf.text;
  EXPECT_EQ(no_wf.error_field(), "workflowId");
  auto as_json = call("POST", path, R"({"email":"j@example.com"})", owner.token);
  EXPECT_EQ(as_json.status, 415);
  EXPECT_EQ(as_json.error_field(), "Content-Type");
  auto broken = call("POST", path, "email,name\nq1@example.com,ok\nq2@example.com,\"unclosed\n", owner.token, "text/csv");
  ASSERT_EQ(broken.status, 200) << broken.text;
  EXPECT_EQ(broken.body.at("imported").as_int64(), 1) << "the rows before the syntax error";
  EXPECT_FALSE(broken.body.at("complete").as_bool());
  EXPECT_EQ(call("POST", path, csv, viewer.token, "text/csv").status, 403);
  EXPECT_EQ(scalar("SELECT count(*) FROM leads WHERE email::text LIKE 'u@%' OR email::text LIKE 'j@%'"), "0");
}

// A value of /proc/<pid>/status in KiB ("VmRSS", "VmHWM"); -1 when unreadable.
long proc_kib(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key + ":", 0) == 0) return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  return -1;
}

// The CSV records of an export (CRLF-ended; these tests' cells have no quotes or line breaks).
std::vector<std::vector<std::string>> records(const std::string& csv) {
  std::vector<std::vector<std::string>> out;
  for (std::size_t at = 0; at < csv.size();) {
    auto end = csv.find("\r\n", at);
    if (end == std::string::npos) end = csv.size();
    std::vector<std::string> fields;
    std::string line = csv.substr(at, end - at);
    for (std::size_t i = 0;;) {
      auto comma = line.find(',', i);
      fields.push_back(line.substr(i, comma == std::string::npos ? std::string::npos : comma - i));
      if (comma == std::string::npos) break;
      i = comma + 1;
    }
    out.push_back(std::move(fields));
    at = end + 2;
  }
  return out;
}

TEST_F(api_leads, exports_many_pages_whole_and_in_order) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = workflow(ws);
  constexpr int k_leads = 5000;  // two and a half pages
  column("INSERT INTO leads (workflow_id, workspace_id, email, name, status, source, score, created_at, updated_at) "
         "SELECT '" + wf + "', '" + ws + "', 'many' || g || '@example.com', 'Lead ' || g, 'NEW', 'API', g % 100, "
         "now() - make_interval(secs => g), now() FROM generate_series(1, " + std::to_string(k_leads) + ") g RETURNING 1");
  auto expected = column("SELECT email FROM leads WHERE workspace_id = '" + ws + "' ORDER BY created_at DESC, id DESC");
  ASSERT_EQ(expected.size(), std::size_t(k_leads));

  auto r = call("GET", "/workspaces/" + ws + "/leads/export.csv", "", owner.token);
  ASSERT_EQ(r.status, 200) << r.text.substr(0, 300);
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.header("x-export-rows"), std::to_string(k_leads)) << "the trailer";
  auto rows = records(r.text);
  ASSERT_EQ(rows.size(), std::size_t(k_leads) + 1);
  EXPECT_EQ(rows[0][1], "email");
  std::vector<std::string> emails;
  for (std::size_t i = 1; i < rows.size(); ++i) emails.push_back(rows[i].at(1));
  EXPECT_EQ(emails, expected) << "every lead once, newest first, across the pages";

  // Another order and a filter, also over pages.
  auto asc = call("GET", "/workspaces/" + ws + "/leads/export.csv?sort=score&order=asc&createdFrom=0", "", owner.token);
  ASSERT_EQ(asc.status, 200);
  auto by_score = records(asc.text);
  ASSERT_EQ(by_score.size(), std::size_t(k_leads) + 1);
  std::set<std::string> unique;
  for (std::size_t i = 1; i < by_score.size(); ++i) {
    unique.insert(by_score[i].at(0));
    if (i > 1) {
      EXPECT_LE(std::stoi(by_score[i - 1].at(7)), std::stoi(by_score[i].at(7))) << "row " << i;
    }
  }
  EXPECT_EQ(unique.size(), std::size_t(k_leads));
}

TEST_F(api_leads, an_export_stops_when_its_client_leaves) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = workflow(ws);
  // Far more than the kernel's socket buffers hold (about 12 MB of CSV).
  column("INSERT INTO leads (workflow_id, workspace_id, email, name, status, source, created_at, updated_at) "
         "SELECT '" + wf + "', '" + ws + "', 'gone' || g || '@example.com', repeat('n', 140) || g, 'NEW', 'API', "
         "now() - make_interval(secs => g), now() FROM generate_series(1, 40000) g RETURNING 1");
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int rcvbuf = 16 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(node->port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string req = "GET /api/v1/workspaces/" + ws + "/leads/export.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + owner.token + "\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string head;
  pollfd p{fd, POLLIN, 0};
  while (head.find("\r\n\r\n") == std::string::npos && ::poll(&p, 1, 20000) > 0) {
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head.substr(0, 300);
  ::close(fd);  // with most of the export unread
  // The node sees its writes fail, stops paging and logs the cut stream.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (node->process->log().find("/leads/export.csv\" 200") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  auto log = node->process->log();
  auto line = log.find("/leads/export.csv\" 200");
  ASSERT_NE(line, std::string::npos) << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  EXPECT_NE(log.substr(line, log.find('\n', line) - line).find("stream=failed"), std::string::npos) << log.substr(line, 300);
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/leads?limit=1", "", owner.token).status, 200) << "the node serves on";
}

TEST_F(api_leads, imports_a_body_beyond_the_old_cap_in_batches_with_bounded_memory) {
  auto owner = new_user("owner");
  auto ws = workspace(owner);
  auto wf = workflow(ws);
  // 30 MiB (the old cap was 20 MiB), every 50th row with a bad email: more errors than are listed.
  std::string csv = "email,name,notes\r\n";
  const std::string pad(400, 'x');
  int rows = 0, bad = 0;
  while (csv.size() < 30 * 1024 * 1024) {
    ++rows;
    if (rows % 50 == 0) {
      ++bad;
      csv += "not-an-email-" + std::to_string(rows) + ",Bad," + pad + "\r\n";
    } else {
      csv += "big" + std::to_string(rows) + "@example.com,Big," + pad + "\r\n";
    }
  }
  const pid_t pid = node->process->pid();
  // Resets the node's peak resident size (VmHWM) to what it holds now (Linux clear_refs 5).
  { std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5"; }
  const long rss_before = proc_kib(pid, "VmRSS");
  ASSERT_GT(rss_before, 0);
  request_timeout = 300s;
  auto r = call("POST", "/workspaces/" + ws + "/leads/import?workflowId=" + wf, csv, owner.token, "text/csv");
  ASSERT_EQ(r.status, 200) << r.text.substr(0, 300);
  const long peak = proc_kib(pid, "VmHWM");
  EXPECT_EQ(r.body.at("imported").as_int64(), rows - bad);
  EXPECT_EQ(r.body.at("failed").as_int64(), bad);
  EXPECT_TRUE(r.body.at("complete").as_bool());
  const auto& errors = r.body.at("errors").as_array();
  EXPECT_EQ(errors.size(), 1000u) << "the first 1000 errors are listed, all are counted";
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].at("row").as_int64(), 51) << "row 51 of the file is the 50th lead";
  EXPECT_EQ(errors[0].at("field").as_string(), "email");
  EXPECT_EQ(scalar("SELECT count(*) FROM leads WHERE workflow_id = '" + wf + "'"), std::to_string(rows - bad));
  // Memory: the body is never held whole (30 MiB); a piece, the parsed rows and one batch are.
  EXPECT_LT(peak - rss_before, 16 * 1024) << "peak " << peak << " KiB, before " << rss_before << " KiB";
}

TEST_F(api_leads, usage_stats_subscription_plans_and_integrations_have_their_shapes) {
  auto owner = new_user("owner");
  auto viewer = new_user("viewer");
  auto ws = workspace(owner);
  add_member(ws, viewer, "viewer");
  column("INSERT INTO usage_quotas (workspace_id, quota_key, quota_limit, quota_used, period_start, period_end) VALUES ('" + ws +
         "', 'leads', 200, 50, current_date - 3, current_date + 27) RETURNING 1");
  column("INSERT INTO workspace_daily_stats (workspace_id, stat_date, leads_created, emails_sent) VALUES ('" + ws +
         "', '2026-03-01', 4, 9), ('" + ws + "', '2026-03-03', 1, 0), ('" + ws + "', '2026-05-01', 7, 7) RETURNING 1");
  column("INSERT INTO oauth_credentials (workspace_id, provider_type, provider_email, access_token, refresh_token, expires_at) VALUES ('" + ws +
         "', 'google', 'ada@example.com', 'ya29.SECRET-ACCESS', '1//SECRET-REFRESH', now() + interval '1 hour') RETURNING 1");

  auto usage = call("GET", "/workspaces/" + ws + "/usage", "", viewer.token);
  ASSERT_EQ(usage.status, 200) << usage.text;
  const auto& quotas = usage.body.at("quotas").as_array();
  ASSERT_EQ(quotas.size(), 1u);
  EXPECT_EQ(quotas[0].at("key").as_string(), "leads");
  EXPECT_EQ(quotas[0].at("used").as_int64(), 50);
  EXPECT_EQ(quotas[0].at("limit").as_int64(), 200);
  EXPECT_DOUBLE_EQ(quotas[0].at("percentage").to_number<double>(), 25.0);

  auto stats = call("GET", "/workspaces/" + ws + "/stats?from=2026-03-01&to=2026-03-31", "", viewer.token);
  ASSERT_EQ(stats.status, 200) << stats.text;
  ASSERT_EQ(stats.data().size(), 2u);
  EXPECT_EQ(stats.data()[0].at("date").as_string(), "2026-03-01");
  EXPECT_EQ(stats.data()[0].at("leadsCreated").as_int64(), 4);
  EXPECT_EQ(stats.data()[0].at("emailsSent").as_int64(), 9);
  EXPECT_EQ(stats.str("from"), "2026-03-01");
  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
           {"from=2026-02-30", "from"}, {"from=2026-03-01T00:00:00Z", "from"}, {"to=soon", "to"},
           {"from=2025-01-01&to=2026-01-02", "to"}, {"from=2026-03-05&to=2026-03-01", "to"}, {"days=3", "days"}}) {
    auto r = call("GET", "/workspaces/" + ws + "/stats?" + query, "", viewer.token);
    EXPECT_EQ(r.status, 422) << query << ": " << r.text;
    EXPECT_EQ(r.error_field(), field) << query;
  }
  EXPECT_EQ(call("GET", "/workspaces/" + ws + "/stats?from=2025-03-01&to=2026-02-28", "", viewer.token).status, 200) << "365 days";

  auto sub = call("GET", "/workspaces/" + ws + "/subscription", "", viewer.token);
  ASSERT_EQ(sub.status, 200) << sub.text;
  EXPECT_EQ(sub.str("status"), "active");
  EXPECT_EQ(sub.body.at("plan").at("slug").as_string(), "free");
  EXPECT_TRUE(sub.body.at("plan").at("quotas").is_object());

  auto plans = call("GET", "/plans", "", owner.token);
  ASSERT_EQ(plans.status, 200) << plans.text;
  ASSERT_GE(plans.data().size(), 5u);
  EXPECT_EQ(plans.data()[0].at("slug").as_string(), "free");
  EXPECT_EQ(call("GET", "/plans").status, 401);

  auto integrations = call("GET", "/workspaces/" + ws + "/integrations", "", viewer.token);
  ASSERT_EQ(integrations.status, 200) << integrations.text;
  ASSERT_EQ(integrations.data().size(), 1u);
  const auto& g = integrations.data()[0].as_object();
  EXPECT_EQ(g.at("provider").as_string(), "google");
  EXPECT_EQ(g.at("email").as_string(), "ada@example.com");
  EXPECT_TRUE(g.at("connected").as_bool());
  EXPECT_TRUE(g.at("expiresAt").is_int64());
  EXPECT_EQ(integrations.text.find("SECRET"), std::string::npos) << "no token";
  for (const auto* key : {"accessToken", "refreshToken", "access_token", "refresh_token", "token"}) EXPECT_FALSE(g.contains(key)) << key;
}

}  // namespace
}  // namespace flowtrack::test
