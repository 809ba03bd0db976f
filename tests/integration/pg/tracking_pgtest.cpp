// Tracking against real PostgreSQL: an open counts once per email, each click counts, an
// unsubscribe is recorded once, and another workspace's reference records nothing.
#include <gtest/gtest.h>

#include "domain/ids.hpp"
#include "storage/tracking.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

struct fixture {
  std::unique_ptr<pg::connection> c;
  std::string ws, other_ws, lead, execution = domain::new_uuid();

  fixture() {
    auto opened = pg::connection::open(pg::connect_options{test::database_url()});
    EXPECT_TRUE(opened.ok());
    c = std::move(*opened);
    std::string tag = test::unique_name("trk");
    std::string user(c->exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(tag + "@example.com"))->get(0, 0));
    auto make_ws = [&](const std::string& slug) {
      auto r = c->exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                       pg::params{}.add(slug).add(user));
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
      return r.ok() ? std::string(r->get(0, 0)) : std::string();
    };
    ws = make_ws(tag);
    other_ws = make_ws(test::unique_name("trk"));
    auto wf = std::string(c->exec("INSERT INTO workflows (workspace_id, name) VALUES ($1, 'wf') RETURNING id", pg::params{}.add(ws))->get(0, 0));
    lead = std::string(c->exec("INSERT INTO leads (workspace_id, workflow_id, email, source) VALUES ($1, $2, 'lead@example.com', 'FORM') RETURNING id",
                               pg::params{}.add(ws).add(wf))->get(0, 0));
  }
  std::int64_t scalar(const std::string& sql) {
    auto r = c->exec(sql, pg::params{}.add(ws).add(lead));
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    return r.ok() && !r->get_optional(0, 0) ? 0 : r.ok() ? r->get_int(0, 0) : -1;
  }
  std::int64_t events(const std::string& type) {
    return scalar("SELECT count(*) FROM lead_events WHERE lead_id = $2::uuid AND event_type = '" + type + "' AND $1::uuid IS NOT NULL");
  }
};

TEST(tracking_pgtest, opens_count_once_per_email_clicks_each_time_unsubscribe_once) {
  fixture f;
  domain::track_ref open{domain::track_kind::open, f.ws, f.lead, f.execution, ""};
  EXPECT_TRUE(*record_tracking(*f.c, open));
  EXPECT_FALSE(*record_tracking(*f.c, open)) << "the same email opened again";
  EXPECT_EQ(f.events("EMAIL_OPENED"), 1);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM leads WHERE id = $2::uuid AND workspace_id = $1::uuid AND last_email_opened_at IS NOT NULL"), 1);
  EXPECT_EQ(f.scalar("SELECT emails_opened FROM workspace_daily_stats WHERE workspace_id = $1::uuid AND $2::uuid IS NOT NULL"), 1);

  domain::track_ref click{domain::track_kind::click, f.ws, f.lead, f.execution, "https://example.com/offer"};
  EXPECT_TRUE(*record_tracking(*f.c, click));
  EXPECT_TRUE(*record_tracking(*f.c, click));
  EXPECT_EQ(f.events("EMAIL_CLICKED"), 2);
  EXPECT_EQ(f.scalar("SELECT emails_clicked FROM workspace_daily_stats WHERE workspace_id = $1::uuid AND $2::uuid IS NOT NULL"), 2);

  domain::track_ref unsub{domain::track_kind::unsubscribe, f.ws, f.lead, f.execution, ""};
  EXPECT_TRUE(*record_tracking(*f.c, unsub));
  EXPECT_FALSE(*record_tracking(*f.c, unsub));
  EXPECT_EQ(f.events("UNSUBSCRIBED"), 1);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM leads WHERE id = $2::uuid AND workspace_id = $1::uuid AND unsubscribed_at IS NOT NULL"), 1);
}

TEST(tracking_pgtest, a_reference_naming_another_workspace_records_nothing) {
  fixture f;
  for (auto kind : {domain::track_kind::open, domain::track_kind::click, domain::track_kind::unsubscribe}) {
    domain::track_ref r{kind, f.other_ws, f.lead, "", kind == domain::track_kind::click ? "https://example.com/" : ""};
    auto got = record_tracking(*f.c, r);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.err().code, error_code::not_found);
  }
  EXPECT_EQ(f.scalar("SELECT count(*) FROM lead_events WHERE lead_id = $2::uuid AND $1::uuid IS NOT NULL"), 0);
  EXPECT_EQ(f.scalar("SELECT count(*) FROM leads WHERE id = $2::uuid AND workspace_id = $1::uuid AND (unsubscribed_at IS NOT NULL"
                     " OR last_email_opened_at IS NOT NULL)"), 0);
}

}  // namespace
}  // namespace flowtrack::storage
