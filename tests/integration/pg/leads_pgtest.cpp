// Leads as the management API works them (storage/leads, migration 025) against real PostgreSQL:
// filters, every sort paged by cursor while leads arrive between fetches, cursor tampering and
// foreign cursors, workspace isolation, edits (the status change's event and webhook message in
// its transaction, assignees that must be members, the version precondition), the timeline, soft
// deletion, CSV import with per-row errors and the export's escaping and formula guard, and the
// plan of every list shape (an index, never a sequential scan of leads). The suite runs in a
// database of its own, so the EXPLAINs see only its rows and no other suite's statistics.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include <boost/json.hpp>

#include "domain/csv.hpp"
#include "storage/leads.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

std::unique_ptr<pg::connection> connect(const std::string& url) {
  auto c = pg::connection::open(pg::connect_options{url});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

std::string describe(const error& e) { return std::string(to_string(e.code)) + " " + e.subject + ": " + e.message; }

const std::string& suite_url() {
  static test::scratch_database db("ft_leads");
  return db.url();
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect(suite_url());
  std::string owner, member, outsider, ws, other_ws, workflow, other_workflow;

  fixture() {
    owner = user("owner");
    member = user("member");
    outsider = user("outsider");
    ws = workspace(owner);
    other_ws = workspace(outsider);
    run("INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1::uuid, $2::uuid, 'member', now())",
        {ws, member});
    workflow = text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id", {ws});
    other_workflow = text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id", {other_ws});
    for (const char* key : {"budget", "notes"})
      run("INSERT INTO form_fields (workflow_id, field_key, label, field_type) VALUES ($1::uuid, $2::text, initcap($2::text), 'TEXT')",
          {workflow, key});
  }

  std::string user(const std::string& prefix) {
    return text("INSERT INTO users (email) VALUES ($1) RETURNING id", {test::unique_name(prefix) + "@example.com"});
  }
  std::string workspace(const std::string& owner_id) {
    const std::string slug = test::unique_slug("leads");
    std::string id = text("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                          {slug, owner_id});
    run("INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1::uuid, $2::uuid, 'owner', now())",
        {id, owner_id});
    return id;
  }
  std::string text(const std::string& sql, std::initializer_list<std::optional<std::string>> args = {}) {
    auto r = c->exec(sql, pg::params(args));
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->empty() || r->is_null(0, 0)) return {};
    return std::string(r->get(0, 0));
  }
  std::int64_t count(const std::string& sql, std::initializer_list<std::optional<std::string>> args = {}) {
    auto s = text(sql, args);
    return s.empty() ? 0 : std::stoll(s);
  }
  void run(const std::string& sql, std::initializer_list<std::optional<std::string>> args = {}) {
    auto r = c->exec(sql, pg::params(args));
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
  }

  // A lead made through the API; its id.
  std::string lead(new_lead l) {
    if (l.workflow_id.empty()) l.workflow_id = workflow;
    if (l.email.empty()) l.email = test::unique_name("lead") + "@example.com";
    auto d = create_lead(*c, ws, owner, l);
    EXPECT_TRUE(d.ok()) << (d.ok() ? "" : describe(d.err()));
    return d.ok() ? d->lead.id : std::string();
  }

  // `n` leads by SQL, spread over statuses, tags, scores, names and creation times (each its own
  // microsecond, some sharing a score or a name, so ties are broken by the id).
  void bulk(const std::string& workspace_id, const std::string& workflow_id, int n, const std::string& prefix) {
    run("INSERT INTO leads (workflow_id, workspace_id, email, name, status, source, score, tags, created_at, updated_at) "
        "SELECT $1::uuid, $2::uuid, $3 || g || '@example.com', CASE WHEN g % 7 = 0 THEN NULL ELSE 'Name ' || (g % 13) END, "
        "(ARRAY['NEW','QUALIFIED','WON','LOST'])[1 + g % 4], (ARRAY['FORM','EMAIL_FORWARD','API'])[1 + g % 3], "
        "CASE WHEN g % 11 = 0 THEN NULL ELSE g % 17 END, "
        "CASE WHEN g % 5 = 0 THEN ARRAY['vip'] WHEN g % 5 = 1 THEN ARRAY['cold','b2b'] END, "
        "now() - make_interval(secs => g * 0.000001 + (g % 3)), now() - make_interval(secs => g * 0.000002) "
        "FROM generate_series(1, $4::int) g",
        {workflow_id, workspace_id, prefix, std::to_string(n)});
  }

  std::vector<std::string> all_ids(lead_query q) {
    std::vector<std::string> out;
    q.limit = 100;
    for (;;) {
      auto p = list_leads(*c, ws, q);
      EXPECT_TRUE(p.ok()) << (p.ok() ? "" : describe(p.err()));
      if (!p.ok()) return out;
      for (const auto& r : p->rows) out.push_back(r.id);
      if (!p->next_cursor) return out;
      q.cursor = p->next_cursor;
    }
  }
};

TEST(leads_pgtest, filters_select_what_they_say) {
  fixture f;
  const std::string a = f.lead({.email = "ada@acme.example.com", .name = "Ada Lovelace", .company_name = "Analytical Engines",
                                .phone = "+44 20 7946 0000", .status = "QUALIFIED", .tags = {"vip", "b2b"},
                                .assigned_to = f.member});
  const std::string b = f.lead({.email = "bob@other.example.com", .name = "Bob", .status = "NEW", .tags = {"cold"}});
  const std::string c = f.lead({.email = "cy@acme.example.com", .status = "QUALIFIED", .source = "API"});
  f.run("UPDATE leads SET created_at = now() - interval '10 days' WHERE id = $1::uuid", {c});
  ASSERT_TRUE(create_lead(*f.c, f.other_ws, f.outsider, {.workflow_id = f.other_workflow, .email = "ada@acme.example.com",
                                                           .status = "QUALIFIED", .tags = {"vip"}})
                  .ok()) << "another workspace's lead: never listed";
  (void)b;

  auto ids = [&](lead_query q) {
    auto v = f.all_ids(std::move(q));
    std::sort(v.begin(), v.end());
    return v;
  };
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(ids({.status = "QUALIFIED"}), sorted({a, c}));
  EXPECT_EQ(ids({.tags = {"vip", "cold"}}), sorted({a, b})) << "any of the tags";
  EXPECT_EQ(ids({.source = "API"}), sorted({c}));
  EXPECT_EQ(ids({.assigned_to = f.member}), sorted({a}));
  EXPECT_EQ(ids({.text = "ACME"}), sorted({a, c})) << "case-insensitive, in the email";
  EXPECT_EQ(ids({.text = "lytical eng"}), sorted({a})) << "in the company";
  EXPECT_EQ(ids({.text = "7946"}), sorted({a})) << "in the phone";
  EXPECT_EQ(ids({.text = "100%"}), std::vector<std::string>{}) << "LIKE wildcards are literal";
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_EQ(ids({.created_from_ms = now_ms - 86'400'000}), sorted({a, b}));
  EXPECT_EQ(ids({.created_to_ms = now_ms - 86'400'000}), sorted({c}));
  EXPECT_EQ(ids({.status = "QUALIFIED", .text = "acme", .created_from_ms = now_ms - 86'400'000}), sorted({a}));

  auto short_text = list_leads(*f.c, f.ws, {.text = "ab"});
  ASSERT_FALSE(short_text.ok());
  EXPECT_EQ(short_text.err().subject, "q");
  auto bad_limit = list_leads(*f.c, f.ws, {.limit = 101});
  ASSERT_FALSE(bad_limit.ok());
  EXPECT_EQ(bad_limit.err().subject, "limit");
  auto bad_assignee = list_leads(*f.c, f.ws, {.assigned_to = "nobody"});
  ASSERT_FALSE(bad_assignee.ok());
  EXPECT_EQ(bad_assignee.err().subject, "assignedTo");
}

// Every sort, both ways: pages of 7 with 3 new leads inserted before each next page. No lead is
// returned twice, every lead that existed at the first page is returned, and the pages are in
// order. In the default descending created-at list, a new lead never appears.
TEST(leads_pgtest, every_sort_pages_without_repeats_or_gaps_while_leads_arrive) {
  for (auto sort : {lead_sort::created_at, lead_sort::updated_at, lead_sort::score, lead_sort::name}) {
    for (bool desc : {true, false}) {
      fixture f;
      f.bulk(f.ws, f.workflow, 60, test::unique_name("pg"));
      std::set<std::string> existing;
      auto all = f.c->exec("SELECT id::text FROM leads WHERE workspace_id = $1::uuid", pg::params{}.add(f.ws));
      ASSERT_TRUE(all.ok());
      for (int i = 0; i < all->size(); ++i) existing.emplace(all->get(i, 0));

      lead_query q{.sort = sort, .descending = desc, .limit = 7};
      std::vector<lead_row> seen;
      std::set<std::string> ids, arrived;
      for (int page = 0; page < 100; ++page) {
        auto p = list_leads(*f.c, f.ws, q);
        ASSERT_TRUE(p.ok()) << describe(p.err());
        for (auto& r : p->rows) {
          EXPECT_TRUE(ids.insert(r.id).second) << "repeated " << r.id << " sort " << to_string(sort) << " desc " << desc;
          seen.push_back(r);
        }
        if (!p->next_cursor) break;
        q.cursor = p->next_cursor;
        for (int k = 0; k < 3; ++k) {
          arrived.insert(f.lead({.name = "Arrived " + std::to_string(page), .score = page % 17}));
        }
      }
      for (const auto& id : existing)
        EXPECT_TRUE(ids.count(id)) << "skipped " << id << " sort " << to_string(sort) << " desc " << desc;
      if (sort == lead_sort::created_at && desc) {
        for (const auto& id : arrived) EXPECT_FALSE(ids.count(id)) << "a newer lead showed up on a later page";
      }
      // In order: each row's key is on the right side of the previous one's.
      for (std::size_t i = 1; i < seen.size(); ++i) {
        const auto& x = seen[i - 1];
        const auto& y = seen[i];
        auto lower = [](std::string s) {
          for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          return s;
        };
        bool ordered = true;
        switch (sort) {
          case lead_sort::created_at: ordered = desc ? x.created_at_ms >= y.created_at_ms : x.created_at_ms <= y.created_at_ms; break;
          case lead_sort::updated_at: ordered = desc ? x.version >= y.version : x.version <= y.version; break;
          case lead_sort::score: ordered = desc ? x.score >= y.score : x.score <= y.score; break;
          case lead_sort::name: ordered = desc ? lower(x.name) >= lower(y.name) : lower(x.name) <= lower(y.name); break;
        }
        EXPECT_TRUE(ordered) << "out of order at " << i << " sort " << to_string(sort) << " desc " << desc;
      }
    }
  }
}

// A text most leads match is served by the windowed form (the sort's index walked, matches
// kept); its pages are exactly the rows and order of the plain statement.
TEST(leads_pgtest, a_common_text_pages_in_the_plain_statements_order) {
  fixture f;
  f.bulk(f.ws, f.workflow, 300, test::unique_name("win"));
  struct sort_case {
    lead_sort sort;
    bool desc;
    std::string order;
  };
  for (const auto& sc : std::vector<sort_case>{{lead_sort::created_at, true, "created_at DESC, id DESC"},
                                               {lead_sort::name, false, "lower(COALESCE(name, '')), id"},
                                               {lead_sort::score, true, "COALESCE(score, 0) DESC, id DESC"}}) {
    auto want = f.c->exec("SELECT id::text FROM leads WHERE workspace_id = $1::uuid AND deleted_at IS NULL AND lower(email::text "
                          "|| ' ' || COALESCE(name, '') || ' ' || COALESCE(company_name, '') || ' ' || COALESCE(phone, '')) "
                          "LIKE '%name 1%' ORDER BY " + sc.order,
                          pg::params{}.add(f.ws));
    ASSERT_TRUE(want.ok()) << describe(want.err());
    ASSERT_GT(want->size(), 50);
    std::vector<std::string> got;
    lead_query q{.text = "Name 1", .sort = sc.sort, .descending = sc.desc, .limit = 9};
    for (int guard = 0; guard < 100; ++guard) {
      auto p = list_leads(*f.c, f.ws, q);
      ASSERT_TRUE(p.ok()) << describe(p.err());
      for (const auto& r : p->rows) got.push_back(r.id);
      if (!p->next_cursor) break;
      q.cursor = p->next_cursor;
    }
    ASSERT_EQ(got.size(), static_cast<std::size_t>(want->size())) << sc.order;
    for (int i = 0; i < want->size(); ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], want->get(i, 0)) << sc.order << " at " << i;
  }
}

TEST(leads_pgtest, tampered_and_foreign_cursors_are_refused) {
  fixture f;
  f.bulk(f.ws, f.workflow, 10, test::unique_name("cur"));
  f.bulk(f.other_ws, f.other_workflow, 10, test::unique_name("cur"));
  auto first = list_leads(*f.c, f.ws, {.limit = 3});
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->next_cursor);
  const std::string cursor = *first->next_cursor;
  ASSERT_TRUE(list_leads(*f.c, f.ws, {.limit = 3, .cursor = cursor}).ok());

  auto refused = [&](const std::string& ws, lead_query q) {
    auto r = list_leads(*f.c, ws, q);
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.err().code, error_code::invalid);
      EXPECT_EQ(r.err().subject, "cursor");
    }
  };
  for (std::size_t i = 0; i < cursor.size(); i += 5) {
    std::string t = cursor;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    refused(f.ws, {.limit = 3, .cursor = t});
  }
  refused(f.ws, {.limit = 3, .cursor = "not a cursor!"});
  refused(f.ws, {.limit = 3, .cursor = ""});
  refused(f.ws, {.sort = lead_sort::score, .limit = 3, .cursor = cursor});
  refused(f.ws, {.descending = false, .limit = 3, .cursor = cursor});
  refused(f.ws, {.status = "NEW", .limit = 3, .cursor = cursor});
  refused(f.other_ws, {.limit = 3, .cursor = cursor});

  auto lead_id = first->rows[0].id;
  auto ev = lead_events(*f.c, f.ws, lead_id, cursor, 10);
  ASSERT_FALSE(ev.ok()) << "a list cursor is no timeline cursor";
  EXPECT_EQ(ev.err().subject, "cursor");
}

TEST(leads_pgtest, another_workspaces_leads_are_not_found) {
  fixture f;
  const std::string mine = f.lead({});
  auto theirs = create_lead(*f.c, f.other_ws, f.outsider, {.workflow_id = f.other_workflow, .email = "x@y.example.com"});
  ASSERT_TRUE(theirs.ok()) << describe(theirs.err());
  const std::string id = theirs->lead.id;

  auto g = get_lead(*f.c, f.ws, id);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.err().code, error_code::not_found);
  auto e = lead_events(*f.c, f.ws, id, std::nullopt, 10);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.err().code, error_code::not_found);
  auto u = update_lead(*f.c, f.ws, id, f.owner, {.status = "WON"});
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.err().code, error_code::not_found);
  auto d = soft_delete_lead(*f.c, f.ws, id, f.owner);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.err().code, error_code::not_found);
  EXPECT_EQ(f.text("SELECT status FROM leads WHERE id = $1::uuid AND deleted_at IS NULL", {id}), "NEW");
  auto wf = create_lead(*f.c, f.ws, f.owner, {.workflow_id = f.other_workflow, .email = "z@y.example.com"});
  ASSERT_FALSE(wf.ok()) << "a lead in another workspace's workflow";
  EXPECT_EQ(wf.err().subject, "workflowId");
  auto imp = import_leads(*f.c, f.ws, f.owner, f.other_workflow, {{2, {{"email", "q@y.example.com"}}}});
  ASSERT_FALSE(imp.ok());
  EXPECT_EQ(imp.err().code, error_code::not_found);
  EXPECT_EQ(f.all_ids({}), std::vector<std::string>{mine});
  auto garbage = get_lead(*f.c, f.ws, "not-a-uuid");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.err().code, error_code::not_found);
}

TEST(leads_pgtest, a_status_change_writes_its_event_and_webhook_message_in_the_same_transaction) {
  fixture f;
  const std::string endpoint =
      f.text("INSERT INTO webhook_endpoints (workspace_id, url, secret_key, subscribed_events) "
             "VALUES ($1::uuid, 'https://hooks.example.com/x', 'sealed', ARRAY['lead.status_changed']) RETURNING id",
             {f.ws});
  const std::string id = f.lead({});
  auto before = get_lead(*f.c, f.ws, id);
  ASSERT_TRUE(before.ok());
  auto moved = update_lead(*f.c, f.ws, id, f.member, {.status = "QUALIFIED"});
  ASSERT_TRUE(moved.ok()) << describe(moved.err());
  EXPECT_EQ(moved->lead.status, "QUALIFIED");
  EXPECT_NE(moved->lead.version, before->lead.version);

  auto ev = f.c->exec("SELECT e.metadata::text, e.triggered_by_user_id::text, e.xmin::text FROM lead_events e "
                      "WHERE e.lead_id = $1::uuid AND e.event_type = 'STATUS_CHANGED'",
                      pg::params{}.add(id));
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 1);
  auto meta = boost::json::parse(ev->get(0, 0)).as_object();
  EXPECT_EQ(meta.at("from").as_string(), "NEW");
  EXPECT_EQ(meta.at("value").as_string(), "QUALIFIED");
  EXPECT_EQ(ev->get(0, 1), f.member);
  auto wh = f.c->exec("SELECT payload::text, xmin::text FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid",
                      pg::params{}.add(endpoint));
  ASSERT_TRUE(wh.ok());
  ASSERT_EQ(wh->size(), 1) << "one lead.status_changed message (the endpoint does not take lead.created)";
  auto payload = boost::json::parse(wh->get(0, 0)).as_object();
  EXPECT_EQ(payload.at("type").as_string(), "lead.status_changed");
  const auto& data = payload.at("data").as_object();
  EXPECT_EQ(data.at("lead_id").as_string(), id);
  EXPECT_EQ(data.at("old_status").as_string(), "NEW");
  EXPECT_EQ(data.at("new_status").as_string(), "QUALIFIED");
  EXPECT_EQ(data.at("user_id").as_string(), f.member);
  // One transaction wrote the lead, the event and the message.
  EXPECT_EQ(ev->get(0, 2), f.text("SELECT xmin::text FROM leads WHERE id = $1::uuid", {id}));
  EXPECT_EQ(wh->get(0, 1), ev->get(0, 2));

  // A change that changes nothing writes nothing.
  auto same = update_lead(*f.c, f.ws, id, f.member, {.status = "QUALIFIED"});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->lead.version, moved->lead.version);
  EXPECT_EQ(f.count("SELECT count(*) FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid", {endpoint}), 1);
}

TEST(leads_pgtest, edits_record_one_event_each_and_the_assignee_must_be_a_member) {
  fixture f;
  const std::string id = f.lead({.tags = {"a", "b"}, .fields = {{"budget", "5000"}}});
  auto outsider = update_lead(*f.c, f.ws, id, f.owner, {.assigned_to = std::optional<std::string>(f.outsider)});
  ASSERT_FALSE(outsider.ok());
  EXPECT_EQ(outsider.err().code, error_code::invalid);
  EXPECT_EQ(outsider.err().subject, "assignedTo");
  auto unknown_field = update_lead(*f.c, f.ws, id, f.owner, {.fields = {{"nope", "1"}}});
  ASSERT_FALSE(unknown_field.ok());
  EXPECT_EQ(unknown_field.err().subject, "fields.nope");

  auto d = update_lead(*f.c, f.ws, id, f.owner,
                       {.tags = std::vector<std::string>{"b", "c"}, .score = 42,
                        .assigned_to = std::optional<std::string>(f.member), .name = "Renamed",
                        .fields = {{"budget", std::nullopt}, {"notes", "call back"}}});
  ASSERT_TRUE(d.ok()) << describe(d.err());
  EXPECT_EQ(d->lead.tags, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(d->lead.score, 42);
  EXPECT_EQ(d->lead.assigned_to, f.member);
  EXPECT_EQ(d->lead.name, "Renamed");
  ASSERT_EQ(d->fields.size(), 1u);
  EXPECT_EQ(d->fields[0].key, "notes");
  EXPECT_EQ(d->fields[0].value, "call back");
  auto types = f.text("SELECT string_agg(event_type, ',' ORDER BY event_type) FROM lead_events WHERE lead_id = $1::uuid "
                      "AND triggered_by_user_id = $2::uuid",
                      {id, f.owner});
  EXPECT_EQ(types, "FIELD_UPDATED,FIELD_UPDATED,FIELD_UPDATED,LEAD_ASSIGNED,LEAD_CREATED,SCORE_CHANGED,TAG_ADDED,TAG_REMOVED");

  auto unassigned = update_lead(*f.c, f.ws, id, f.owner, {.assigned_to = std::optional<std::string>()});
  ASSERT_TRUE(unassigned.ok());
  EXPECT_FALSE(unassigned->lead.assigned_to);
}

TEST(leads_pgtest, a_stale_version_is_a_conflict_and_changes_nothing) {
  fixture f;
  const std::string id = f.lead({});
  auto read = get_lead(*f.c, f.ws, id);
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(update_lead(*f.c, f.ws, id, f.owner, {.score = 1, .expected_version = read->lead.version}).ok());
  auto stale = update_lead(*f.c, f.ws, id, f.owner, {.status = "WON", .expected_version = read->lead.version});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.err().code, error_code::conflict);
  EXPECT_EQ(stale.err().subject, "updatedAt");
  EXPECT_EQ(f.text("SELECT status FROM leads WHERE id = $1::uuid", {id}), "NEW");
}

TEST(leads_pgtest, creating_by_hand_checks_the_email_fields_and_duplicates) {
  fixture f;
  auto made = create_lead(*f.c, f.ws, f.owner,
                          {.workflow_id = f.workflow, .email = " Dup@Example.com ", .status = "NEW", .fields = {{"budget", "10"}}});
  ASSERT_TRUE(made.ok()) << describe(made.err());
  EXPECT_EQ(made->lead.source, "MANUAL");
  EXPECT_EQ(made->lead.email, "Dup@Example.com");
  ASSERT_EQ(made->fields.size(), 1u);
  EXPECT_EQ(made->fields[0].label, "Budget");
  EXPECT_EQ(f.text("SELECT event_type || ':' || triggered_by_user_id FROM lead_events WHERE lead_id = $1::uuid", {made->lead.id}),
            "LEAD_CREATED:" + f.owner);

  auto dup = create_lead(*f.c, f.ws, f.owner, {.workflow_id = f.workflow, .email = "dup@example.COM"});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.err().code, error_code::conflict);
  EXPECT_EQ(dup.err().subject, "email");
  for (auto [l, subject] : std::vector<std::pair<new_lead, std::string>>{
           {{.workflow_id = f.workflow, .email = "no-at-sign"}, "email"},
           {{.workflow_id = f.workflow, .email = "a@b.example.com", .name = std::string(151, 'x')}, "name"},
           {{.workflow_id = f.workflow, .email = "a@b.example.com", .status = ""}, "status"},
           {{.workflow_id = f.workflow, .email = "a@b.example.com", .source = "FORM"}, "source"},
           {{.workflow_id = f.workflow, .email = "a@b.example.com", .tags = {" "}}, "tags"},
           {{.workflow_id = f.workflow, .email = "a@b.example.com", .assigned_to = f.outsider}, "assignedTo"},
           {{.workflow_id = f.workflow, .email = "a@b.example.com", .fields = {{"nope", "1"}}}, "fields.nope"}}) {
    auto r = create_lead(*f.c, f.ws, f.owner, l);
    ASSERT_FALSE(r.ok()) << subject;
    EXPECT_EQ(r.err().subject, subject);
  }
  EXPECT_EQ(f.count("SELECT count(*) FROM leads WHERE workspace_id = $1::uuid", {f.ws}), 1);
}

TEST(leads_pgtest, the_timeline_is_newest_first_across_pages_and_deleted_leads_leave_every_list) {
  fixture f;
  const std::string id = f.lead({});
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(update_lead(*f.c, f.ws, id, f.owner, {.score = i + 1}).ok());
  std::vector<lead_event_row> all;
  std::optional<std::string> cursor;
  for (int guard = 0; guard < 10; ++guard) {
    auto p = lead_events(*f.c, f.ws, id, cursor, 3);
    ASSERT_TRUE(p.ok()) << describe(p.err());
    all.insert(all.end(), p->rows.begin(), p->rows.end());
    if (!p->next_cursor) break;
    cursor = p->next_cursor;
  }
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all.back().event_type, "LEAD_CREATED");
  EXPECT_EQ(all.front().event_type, "SCORE_CHANGED");
  EXPECT_EQ(boost::json::parse(*all.front().metadata).as_object().at("value").as_int64(), 6);
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_GE(all[i - 1].created_at_ms, all[i].created_at_ms);

  ASSERT_TRUE(soft_delete_lead(*f.c, f.ws, id, f.owner).ok());
  EXPECT_FALSE(get_lead(*f.c, f.ws, id).ok());
  EXPECT_TRUE(f.all_ids({}).empty());
  EXPECT_EQ(soft_delete_lead(*f.c, f.ws, id, f.owner).err().code, error_code::not_found);
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_events WHERE lead_id = $1::uuid AND event_type = 'LEAD_DELETED'", {id}), 1);
}

TEST(leads_pgtest, an_import_writes_the_good_rows_and_names_each_bad_one) {
  fixture f;
  f.lead({.email = "taken@example.com"});
  auto member_email = f.text("SELECT email FROM users WHERE id = $1::uuid", {f.member});
  std::vector<import_row> rows{
      {2, {{"email", "one@example.com"}, {"name", "One"}, {"tags", "vip; b2b;"}, {"score", "7"}, {"budget", "100"},
           {"assigned_to", member_email}}},
      {3, {{"email", "not an email"}}},
      {4, {{"email", "two@example.com"}, {"score", "lots"}}},
      {5, {{"email", "three@example.com"}, {"assigned_to", "stranger@example.com"}}},
      {6, {{"email", "TAKEN@example.com"}}},
      {7, {{"email", "four@example.com"}, {"phone", "'+1 555 0100"}, {"fields", R"({"notes":"from json"})"},
           {"id", "ignored"}, {"created_at", "ignored"}}},
      {8, {{"email", "Four@Example.com"}}},
      {9, {{"email", "five@example.com"}, {"fields", R"({"nope":"x"})"}}},
      {10, {{"email", ""}}},
  };
  auto r = import_leads(*f.c, f.ws, f.owner, f.workflow, rows);
  ASSERT_TRUE(r.ok()) << describe(r.err());
  EXPECT_EQ(r->lead_ids.size(), 2u);
  std::vector<std::pair<std::size_t, std::string>> errors;
  for (const auto& e : r->errors) {
    EXPECT_FALSE(e.message.empty());
    errors.emplace_back(e.row, e.field);
  }
  EXPECT_EQ(errors, (std::vector<std::pair<std::size_t, std::string>>{
                        {3, "email"}, {4, "score"}, {5, "assigned_to"}, {6, "email"}, {8, "email"}, {9, "fields.nope"}, {10, "email"}}));

  auto one = f.all_ids({.text = "one@example"});
  ASSERT_EQ(one.size(), 1u);
  auto d = get_lead(*f.c, f.ws, one[0]);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->lead.source, "IMPORT");
  EXPECT_EQ(d->lead.tags, (std::vector<std::string>{"vip", "b2b"}));
  EXPECT_EQ(d->lead.score, 7);
  EXPECT_EQ(d->lead.assigned_to, f.member);
  ASSERT_EQ(d->fields.size(), 1u);
  EXPECT_EQ(d->fields[0].value, "100");
  auto four = f.all_ids({.text = "four@example"});
  ASSERT_EQ(four.size(), 1u);
  auto d4 = get_lead(*f.c, f.ws, four[0]);
  ASSERT_TRUE(d4.ok());
  EXPECT_EQ(d4->lead.phone, "+1 555 0100") << "the export's formula guard is dropped";
  ASSERT_EQ(d4->fields.size(), 1u);
  EXPECT_EQ(d4->fields[0].value, "from json");
  EXPECT_EQ(f.count("SELECT count(*) FROM lead_events e JOIN leads l ON l.id = e.lead_id WHERE l.workspace_id = $1::uuid "
                    "AND e.event_type = 'LEAD_CREATED' AND l.source = 'IMPORT'",
                    {f.ws}),
            2);

  auto unknown = import_leads(*f.c, f.ws, f.owner, f.workflow, {{2, {{"email", "x@example.com"}, {"colour", "red"}}}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.err().subject, "colour");
}

TEST(leads_pgtest, the_export_escapes_cells_guards_formulas_and_pages_through_everything) {
  fixture f;
  f.lead({.email = "formula@example.com", .name = "=HYPERLINK(\"http://evil\",\"x\")", .company_name = "Acme, Inc.",
          .phone = "+1 555 0100", .tags = {"a", "b"}, .assigned_to = f.member, .fields = {{"notes", "line1\nline2"}}});
  f.bulk(f.ws, f.workflow, 9, test::unique_name("exp"));
  std::string csv;
  int chunks = 0;
  auto out = export_leads_csv(
      *f.c, f.ws, {}, [&](std::string_view chunk) { csv += chunk; ++chunks; return true; }, 4);
  ASSERT_TRUE(out.ok()) << describe(out.err());
  EXPECT_EQ(out->rows, 10u);
  EXPECT_FALSE(out->stopped);
  EXPECT_EQ(chunks, 1 + 3) << "the header, then pages of 4, 4 and 2";

  domain::csv::reader r;
  ASSERT_TRUE(r.push(csv).ok());
  ASSERT_TRUE(r.finish().ok());
  ASSERT_TRUE(r.header());
  EXPECT_EQ(r.header()->front(), "id");
  std::vector<std::map<std::string, std::string>> rows;
  while (auto rec = r.pop()) {
    auto m = domain::csv::to_map(*r.header(), *rec);
    ASSERT_TRUE(m.ok());
    rows.push_back(*m);
  }
  ASSERT_EQ(rows.size(), 10u);
  std::set<std::string> ids;
  for (const auto& m : rows) ids.insert(m.at("id"));
  EXPECT_EQ(ids.size(), 10u);
  auto it = std::find_if(rows.begin(), rows.end(), [](const auto& m) { return m.at("email") == "formula@example.com"; });
  ASSERT_NE(it, rows.end());
  EXPECT_EQ(it->at("name"), "'=HYPERLINK(\"http://evil\",\"x\")");
  EXPECT_EQ(it->at("company_name"), "Acme, Inc.");
  EXPECT_EQ(it->at("phone"), "'+1 555 0100");
  EXPECT_EQ(it->at("tags"), "a;b");
  EXPECT_EQ(it->at("assigned_to"), f.text("SELECT email FROM users WHERE id = $1::uuid", {f.member}));
  EXPECT_EQ(boost::json::parse(it->at("fields")).as_object().at("notes").as_string(), "line1\nline2");
  EXPECT_EQ(csv.find("\n=HY"), std::string::npos);

  // The export of a filter, and a sink that stops.
  std::string few;
  auto filtered = export_leads_csv(*f.c, f.ws, {.text = "formula@"}, [&](std::string_view c) { few += c; return true; });
  ASSERT_TRUE(filtered.ok());
  EXPECT_EQ(filtered->rows, 1u);
  int calls = 0;
  auto stopped = export_leads_csv(*f.c, f.ws, {}, [&](std::string_view) { return ++calls < 2; }, 4);
  ASSERT_TRUE(stopped.ok());
  EXPECT_TRUE(stopped->stopped);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(f.c->exec("SELECT 1").ok()) << "the connection is usable after a stopped export";
}

// Every list shape the routes offer, EXPLAINed over 3,000 leads of the workspace among 3,000 of
// another. enable_seqscan = off does not hide a shape no index can serve (the plan is then still a
// Seq Scan, at a prohibitive cost); it only stops the planner from preferring a sequential scan
// of a table this small, which it would at 1,000,000 leads no longer do.
TEST(leads_pgtest, every_list_shape_is_served_by_an_index) {
  fixture f;
  f.bulk(f.ws, f.workflow, 3000, test::unique_name("plan"));
  f.bulk(f.other_ws, f.other_workflow, 3000, test::unique_name("plan"));
  f.run("UPDATE leads SET assigned_to_user_id = $1::uuid WHERE workspace_id = $2::uuid AND score = 3", {f.member, f.ws});
  f.run("ANALYZE leads");
  f.run("SET enable_seqscan = off");
  auto page = list_leads(*f.c, f.ws, {.limit = 5});
  ASSERT_TRUE(page.ok() && page->next_cursor);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();

  std::vector<std::pair<std::string, lead_query>> shapes;
  for (auto sort : {lead_sort::created_at, lead_sort::updated_at, lead_sort::score, lead_sort::name})
    for (bool desc : {true, false}) {
      const std::string name = std::string(to_string(sort)) + (desc ? " desc" : " asc");
      shapes.push_back({name, {.sort = sort, .descending = desc}});
      auto p = list_leads(*f.c, f.ws, {.sort = sort, .descending = desc, .limit = 5});
      ASSERT_TRUE(p.ok() && p->next_cursor);
      shapes.push_back({name + " after a cursor", {.sort = sort, .descending = desc, .cursor = p->next_cursor}});
      shapes.push_back({name + " by status", {.status = "WON", .sort = sort, .descending = desc}});
      shapes.push_back({name + " by text", {.text = "name 1", .sort = sort, .descending = desc}});
    }
  shapes.push_back({"status", {.status = "QUALIFIED"}});
  shapes.push_back({"tag", {.tags = {"vip"}}});
  shapes.push_back({"tags", {.tags = {"vip", "b2b"}}});
  shapes.push_back({"source", {.source = "API"}});
  shapes.push_back({"assignee", {.assigned_to = f.member}});
  shapes.push_back({"text", {.text = "plan"}});
  shapes.push_back({"created range", {.created_from_ms = now_ms - 2000, .created_to_ms = now_ms + 1000}});
  shapes.push_back({"status and tag and text by score",
                    {.status = "NEW", .tags = {"vip"}, .text = "name", .sort = lead_sort::score}});
  shapes.push_back({"assignee in a range by name asc",
                    {.assigned_to = f.member, .created_from_ms = now_ms - 5000, .sort = lead_sort::name, .descending = false}});
  shapes.push_back({"source by updated", {.source = "FORM", .sort = lead_sort::updated_at}});

  std::vector<std::pair<std::string, lead_query>> windowed;
  for (const auto& [name, q] : shapes)
    if (q.text) windowed.push_back({name + " (windowed)", q});
  shapes.insert(shapes.end(), windowed.begin(), windowed.end());
  for (const auto& [name, q] : shapes) {
    auto built = detail::list_leads_sql(f.ws, q, name.ends_with("(windowed)"));
    ASSERT_TRUE(built.ok()) << name << ": " << describe(built.err());
    auto plan = f.c->exec("EXPLAIN " + built->first, built->second);
    ASSERT_TRUE(plan.ok()) << name << ": " << describe(plan.err());
    std::string text;
    for (int i = 0; i < plan->size(); ++i) text += std::string(plan->get(i, 0)) + "\n";
    EXPECT_EQ(text.find("Seq Scan"), std::string::npos) << name << ":\n" << text;
    EXPECT_NE(text.find("Index"), std::string::npos) << name << " reads leads through no index:\n" << text;
    auto run = list_leads(*f.c, f.ws, q);
    EXPECT_TRUE(run.ok()) << name;
  }
}

// The text filter's expression is the trigram index's: over 30,000 leads a selective search reads
// that index. (At this size a sequential scan of the whole table still costs about as much in the
// planner's eyes, so it is switched off; the workspace's other indexes stay available and lose.)
TEST(leads_pgtest, a_selective_text_search_reads_the_trigram_index) {
  fixture f;
  const std::string prefix = test::unique_name("trgm");
  f.bulk(f.ws, f.workflow, 30000, prefix);
  f.run("ANALYZE leads");
  f.run("SET enable_seqscan = off");
  for (auto sort : {lead_sort::created_at, lead_sort::name}) {
    auto built = detail::list_leads_sql(f.ws, {.text = prefix + "12345@", .sort = sort});
    ASSERT_TRUE(built.ok());
    auto plan = f.c->exec("EXPLAIN " + built->first, built->second);
    ASSERT_TRUE(plan.ok()) << describe(plan.err());
    std::string text;
    for (int i = 0; i < plan->size(); ++i) text += std::string(plan->get(i, 0)) + "\n";
    EXPECT_NE(text.find("idx_leads_ws_search"), std::string::npos) << text;
    auto found = list_leads(*f.c, f.ws, {.text = prefix + "12345@", .sort = sort});
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found->rows.size(), 1u);
  }
}

}  // namespace
}  // namespace flowtrack::storage
