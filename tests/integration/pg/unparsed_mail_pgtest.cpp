// Unreadable intake mail against real PostgreSQL: kept once per message (binary-safe), the owner
// told once an hour at most, listed and read only through its workspace, purged when expired.
#include <gtest/gtest.h>

#include "storage/unparsed_mail.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage {
namespace {

struct fixture {
  std::unique_ptr<pg::connection> c;
  std::string ws, ws_slug, other_slug;

  fixture() {
    auto opened = pg::connection::open(pg::connect_options{test::database_url()});
    EXPECT_TRUE(opened.ok());
    c = std::move(*opened);
    std::string tag = test::unique_name("unp");
    std::string user(c->exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(tag + "@example.com"))->get(0, 0));
    auto make_ws = [&](const std::string& slug) {
      auto r = c->exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                       pg::params{}.add(slug).add(user));
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
      return r.ok() ? std::string(r->get(0, 0)) : std::string();
    };
    ws_slug = tag;
    ws = make_ws(tag);
    other_slug = test::unique_name("unp");
    make_ws(other_slug);
  }
  domain::unparsed_mail mail(std::string raw) {
    domain::unparsed_mail m;
    m.raw = std::move(raw);
    m.reason = "no sender address could be read";
    m.channel = "smtp";
    m.envelope_from = "fwd@example.com";
    m.client_ip = "192.0.2.7";
    return m;
  }
};

TEST(unparsed_mail_pgtest, keeps_bytes_once_and_tells_the_owner_at_most_hourly) {
  fixture f;
  std::string bytes("To: x\r\n\r\n\0\x01\xff\xfe end", 15);
  auto first = keep_unparsed_mail(*f.c, f.ws, f.mail(bytes));
  ASSERT_TRUE(first.ok()) << first.err().message;
  EXPECT_TRUE(first->created);
  EXPECT_FALSE(first->owner_notified);
  auto again = keep_unparsed_mail(*f.c, f.ws, f.mail(bytes));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->id, first->id);

  auto raw = unparsed_mail_raw(*f.c, f.ws_slug, first->id);
  ASSERT_TRUE(raw.ok()) << raw.err().message;
  EXPECT_EQ(*raw, bytes) << "every byte as received, NUL and 0xFF included";
  EXPECT_EQ(unparsed_mail_raw(*f.c, f.other_slug, first->id).err().code, error_code::not_found);
  EXPECT_EQ(unparsed_mail_raw(*f.c, f.ws_slug, "not-an-id").err().code, error_code::invalid);

  ASSERT_TRUE(mark_unparsed_mail_notified(*f.c, f.ws, first->id).ok());
  EXPECT_TRUE(keep_unparsed_mail(*f.c, f.ws, f.mail(bytes))->owner_notified);
  auto second = keep_unparsed_mail(*f.c, f.ws, f.mail("another one"));
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->created);
  EXPECT_TRUE(second->owner_notified) << "told within the hour: no second email";

  auto listed = list_unparsed_mail(*f.c, f.ws_slug, 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_NE((*listed)[1].find(first->id), std::string::npos) << "newest first";
  EXPECT_NE((*listed)[1].find("\"sizeBytes\" : 15"), std::string::npos) << (*listed)[1];
  EXPECT_TRUE(list_unparsed_mail(*f.c, f.other_slug, 10)->empty());
}

TEST(unparsed_mail_pgtest, purges_only_what_expired) {
  fixture f;
  auto old = keep_unparsed_mail(*f.c, f.ws, f.mail("old " + test::unique_name("m")));
  auto fresh = keep_unparsed_mail(*f.c, f.ws, f.mail("fresh " + test::unique_name("m")));
  ASSERT_TRUE(old.ok() && fresh.ok());
  ASSERT_TRUE(f.c->exec("UPDATE unparsed_mail SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
                        pg::params{}.add(old->id)).ok());
  auto purged = purge_unparsed_mail(*f.c);
  ASSERT_TRUE(purged.ok());
  EXPECT_GE(*purged, 1u);
  EXPECT_EQ(unparsed_mail_raw(*f.c, f.ws_slug, old->id).err().code, error_code::not_found);
  EXPECT_TRUE(unparsed_mail_raw(*f.c, f.ws_slug, fresh->id).ok());
}

}  // namespace
}  // namespace flowtrack::storage
