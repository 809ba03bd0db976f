// Calendly bookings applied to leads against real PostgreSQL (storage/calendly, migration 029):
// the workspace's lead with the invitee's email (any case, the most recent one) moves to BOOKED
// with a STATUS_CHANGED event, a replay changes nothing, WON is not moved back, a lead of
// another workspace or a deleted one is not touched, and no lead or no workspace records nothing.
// The suite runs in a database of its own (test::scratch_database).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "domain/ids.hpp"
#include "storage/calendly.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

std::unique_ptr<pg::connection> connect(const std::string& url) {
  auto c = pg::connection::open(pg::connect_options{url});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

const std::string& suite_url() {
  static test::scratch_database db("ft_calendly");
  return db.url();
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect(suite_url());
  std::string owner, ws, other_ws, workflow, other_workflow;

  fixture() {
    owner = text("INSERT INTO users (email) VALUES ($1) RETURNING id", {test::unique_name("owner") + "@example.com"});
    ws = workspace();
    other_ws = workspace();
    workflow = text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id", {ws});
    other_workflow = text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf', 'active') RETURNING id", {other_ws});
  }
  std::string workspace() {
    const std::string slug = test::unique_slug("cal");
    return text("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                {slug, owner});
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
  std::string lead(const std::string& wf, const std::string& w, const std::string& email, const std::string& status = "NEW",
                   const std::string& created = "now()") {
    return text("INSERT INTO leads (workflow_id, workspace_id, email, status, source, created_at) VALUES ($1, $2, $3, $4, 'FORM', " +
                    created + ") RETURNING id",
                {wf, w, email, status});
  }
  std::string status_of(const std::string& id) { return text("SELECT status FROM leads WHERE id = $1", {id}); }
  std::int64_t events_of(const std::string& id) { return count("SELECT count(*) FROM lead_events WHERE lead_id = $1", {id}); }
  calendly_booking booking(const std::string& email, const std::string& w = {}) {
    calendly_booking b;
    b.workspace_id = w.empty() ? ws : w;
    b.email = email;
    b.name = "Ada Lovelace";
    const std::string ev = "https://api.calendly.com/scheduled_events/" + domain::new_uuid();
    b.invitee_uri = ev + "/invitees/" + domain::new_uuid();
    b.scheduled_event_uri = ev;
    b.start_time = "2026-12-10T15:00:00.000000Z";
    return b;
  }
  calendly_applied apply(const calendly_booking& b) {
    auto r = apply_calendly_booking(*c, b);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    return r.ok() ? *r : calendly_applied{};
  }
};

TEST(calendly_bookings, move_the_matching_lead_to_booked_with_a_status_event) {
  fixture f;
  const std::string email = test::unique_name("ada") + "@example.com";
  auto id = f.lead(f.workflow, f.ws, email, "QUALIFIED");
  // Upper case: citext matches the lead whatever the case Calendly sends.
  std::string upper = email;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto b = f.booking(upper);
  auto r = f.apply(b);
  EXPECT_EQ(r.outcome, calendly_outcome::booked);
  EXPECT_EQ(r.lead_id, id);
  EXPECT_EQ(r.previous_status, "QUALIFIED");
  EXPECT_EQ(f.status_of(id), "BOOKED");
  auto meta = f.text("SELECT metadata::text FROM lead_events WHERE lead_id = $1 AND event_type = 'STATUS_CHANGED'", {id});
  ASSERT_FALSE(meta.empty());
  auto m = boost::json::parse(meta).as_object();
  EXPECT_EQ(m.at("value").as_string(), "BOOKED");
  EXPECT_EQ(m.at("from").as_string(), "QUALIFIED");
  EXPECT_EQ(m.at("source").as_string(), "CALENDLY");
  EXPECT_EQ(m.at("inviteeUri").as_string(), b.invitee_uri);
  EXPECT_EQ(m.at("eventUri").as_string(), b.scheduled_event_uri);
  EXPECT_EQ(f.count("SELECT count(*) FROM calendly_bookings WHERE invitee_uri = $1 AND outcome = 'booked'", {b.invitee_uri}), 1);
  EXPECT_FALSE(f.text("SELECT last_activity_at FROM leads WHERE id = $1", {id}).empty());
}

TEST(calendly_bookings, a_replay_changes_nothing_even_two_at_once) {
  fixture f;
  const std::string email = test::unique_name("bob") + "@example.com";
  auto id = f.lead(f.workflow, f.ws, email);
  auto b = f.booking(email);
  EXPECT_EQ(f.apply(b).outcome, calendly_outcome::booked);
  EXPECT_EQ(f.events_of(id), 1);
  // The status moved back by hand: a replay of the same invitee must not move it again.
  f.text("UPDATE leads SET status = 'QUALIFIED' WHERE id = $1 RETURNING 1", {id});
  EXPECT_EQ(f.apply(b).outcome, calendly_outcome::duplicate);
  EXPECT_EQ(f.status_of(id), "QUALIFIED");
  EXPECT_EQ(f.events_of(id), 1);

  // A new invitee delivered twice at once: one applies, the other is a duplicate.
  auto b2 = f.booking(email);
  std::vector<calendly_outcome> outcomes(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      auto c = connect(suite_url());
      auto r = apply_calendly_booking(*c, b2);
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
      if (r.ok()) outcomes[i] = r->outcome;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), calendly_outcome::booked), 1);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), calendly_outcome::duplicate), 1);
  EXPECT_EQ(f.events_of(id), 2);
  EXPECT_EQ(f.status_of(id), "BOOKED");
}

TEST(calendly_bookings, won_and_lost_leads_are_not_moved_back) {
  fixture f;
  for (std::string status : {"WON", "LOST", "BOOKED"}) {
    const std::string email = test::unique_name("won") + "@example.com";
    auto id = f.lead(f.workflow, f.ws, email, status);
    auto r = f.apply(f.booking(email));
    EXPECT_EQ(r.outcome, calendly_outcome::kept) << status;
    EXPECT_EQ(f.status_of(id), status);
    EXPECT_EQ(f.count("SELECT count(*) FROM lead_events WHERE lead_id = $1 AND event_type = 'MEETING_BOOKED'", {id}), 1) << status;
    EXPECT_EQ(f.count("SELECT count(*) FROM lead_events WHERE lead_id = $1 AND event_type = 'STATUS_CHANGED'", {id}), 0) << status;
  }
}

TEST(calendly_bookings, the_most_recent_live_lead_of_the_workspace_is_the_one_moved) {
  fixture f;
  const std::string email = test::unique_name("many") + "@example.com";
  auto second_workflow = f.text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf2', 'active') RETURNING id", {f.ws});
  auto third_workflow = f.text("INSERT INTO workflows (workspace_id, name, status) VALUES ($1, 'wf3', 'active') RETURNING id", {f.ws});
  auto older = f.lead(f.workflow, f.ws, email, "NEW", "now() - interval '2 days'");
  auto newer = f.lead(second_workflow, f.ws, email, "NEW", "now() - interval '1 day'");
  auto deleted = f.lead(third_workflow, f.ws, email, "NEW", "now()");
  f.text("UPDATE leads SET deleted_at = now() WHERE id = $1 RETURNING 1", {deleted});
  auto elsewhere = f.lead(f.other_workflow, f.other_ws, email, "NEW");
  auto r = f.apply(f.booking(email));
  EXPECT_EQ(r.outcome, calendly_outcome::booked);
  EXPECT_EQ(r.lead_id, newer);
  EXPECT_EQ(f.status_of(newer), "BOOKED");
  EXPECT_EQ(f.status_of(older), "NEW");
  EXPECT_EQ(f.status_of(deleted), "NEW");
  EXPECT_EQ(f.status_of(elsewhere), "NEW");
}

TEST(calendly_bookings, no_lead_or_no_workspace_records_nothing) {
  fixture f;
  auto b = f.booking(test::unique_name("nobody") + "@example.com");
  EXPECT_EQ(f.apply(b).outcome, calendly_outcome::no_lead);
  EXPECT_EQ(f.count("SELECT count(*) FROM calendly_bookings WHERE invitee_uri = $1", {b.invitee_uri}), 0);
  auto lost = f.booking("x@example.com", domain::new_uuid());
  EXPECT_EQ(f.apply(lost).outcome, calendly_outcome::no_workspace);
  EXPECT_EQ(f.apply(f.booking("x@example.com", "not-a-uuid")).outcome, calendly_outcome::no_workspace);
  auto bad = f.booking("");
  auto r = apply_calendly_booking(*f.c, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);
}

}  // namespace
}  // namespace flowtrack::storage
