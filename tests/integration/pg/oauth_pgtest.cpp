// Google/Outlook integrations against real PostgreSQL (storage/oauth, migration 030): a connect's
// authorization is taken once within its expiry (state stored hashed, verifier sealed); tokens are
// sealed bound to their row; a disconnect wipes them and a reconnect revives the row; a refresh
// racing another under the row lock calls the provider once and keeps the rotated refresh token;
// invalid_grant makes the credential inactive; the expiring list and the workspace's emailSender.
// The suite runs in a database of its own (test::scratch_database).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "storage/oauth.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::storage::oauth {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<pg::connection> connect(const std::string& url) {
  auto c = pg::connection::open(pg::connect_options{url});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

const std::string& suite_url() {
  static test::scratch_database db("ft_oauth");
  return db.url();
}

crypto::keyring keys() {
  return *crypto::keyring::from_hex("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

template <class Pred>
bool await(std::chrono::milliseconds limit, Pred done) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect(suite_url());
  crypto::keyring ring = keys();
  std::string owner, ws, other_ws;

  fixture() {
    owner = text("INSERT INTO users (email) VALUES ($1) RETURNING id", {test::unique_name("owner") + "@example.com"});
    ws = workspace();
    other_ws = workspace();
  }
  std::string workspace() {
    const std::string slug = test::unique_slug("oa");
    return text("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                {slug, owner});
  }
  std::string text(const std::string& sql, std::initializer_list<std::optional<std::string>> args = {}) {
    auto r = c->exec(sql, pg::params(args));
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->empty() || r->is_null(0, 0)) return {};
    return std::string(r->get(0, 0));
  }
  token_set tokens(const std::string& access, std::optional<std::string> refresh, std::int64_t expires_in_ms = 3'600'000) {
    token_set t;
    t.access_token = access;
    t.refresh_token = std::move(refresh);
    t.expires_at_ms = now_ms() + expires_in_ms;
    t.scope = "email";
    return t;
  }
  std::string connect_account(const std::string& w, std::string_view provider, const std::string& access,
                              std::optional<std::string> refresh, std::int64_t expires_in_ms = 3'600'000) {
    auto id = save_credential(*c, ring, w, provider, tokens(access, std::move(refresh), expires_in_ms),
                              account{"sub-1", "ada@gmail.com"});
    EXPECT_TRUE(id) << (id ? "" : id.err().message);
    return id ? *id : "";
  }
};

TEST(oauth_pgtest, an_authorization_is_taken_once_by_its_state_within_its_expiry) {
  fixture f;
  new_authorization a{f.ws, f.owner, std::string(k_google), "the-state", "the-verifier-abcdefghijklmnopqrstuvwxyz0123456789",
                      "https://app.example.com/cb", 600};
  auto expires = create_authorization(*f.c, f.ring, a);
  ASSERT_TRUE(expires) << expires.err().message;
  EXPECT_NEAR(static_cast<double>(*expires), static_cast<double>(now_ms() + 600'000), 60'000.0);
  // Neither the state nor the verifier is stored as given.
  auto row = f.text("SELECT row_to_json(a)::text FROM oauth_authorizations a WHERE workspace_id = $1", {f.ws});
  EXPECT_EQ(row.find("the-state"), std::string::npos) << row;
  EXPECT_EQ(row.find("the-verifier"), std::string::npos) << row;

  EXPECT_EQ(take_authorization(*f.c, f.ring, f.other_ws, k_google, "the-state", f.owner).err().subject, "state") << "another workspace's";
  EXPECT_EQ(take_authorization(*f.c, f.ring, f.ws, k_outlook, "the-state", f.owner).err().subject, "state") << "another provider's";
  EXPECT_EQ(take_authorization(*f.c, f.ring, f.ws, k_google, "wrong-state", f.owner).err().subject, "state");
  auto admin = f.text("INSERT INTO users (email) VALUES ($1) RETURNING id", {test::unique_name("admin") + "@example.com"});
  EXPECT_EQ(take_authorization(*f.c, f.ring, f.ws, k_google, "the-state", admin).err().subject, "state") << "another user's";
  auto taken = take_authorization(*f.c, f.ring, f.ws, k_google, "the-state", f.owner);
  ASSERT_TRUE(taken) << taken.err().message;
  EXPECT_EQ(taken->code_verifier, a.code_verifier);
  EXPECT_EQ(taken->redirect_uri, "https://app.example.com/cb");
  auto again = take_authorization(*f.c, f.ring, f.ws, k_google, "the-state", f.owner);
  ASSERT_FALSE(again) << "single use";
  EXPECT_EQ(again.err().code, error_code::invalid);
  EXPECT_EQ(again.err().subject, "state");

  a.state = "old-state";
  a.ttl_s = 0;
  ASSERT_TRUE(create_authorization(*f.c, f.ring, a));
  auto expired = take_authorization(*f.c, f.ring, f.ws, k_google, "old-state", f.owner);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.err().subject, "state");
  EXPECT_NE(expired.err().message.find("expired"), std::string::npos) << expired.err().message;

  EXPECT_EQ(create_authorization(*f.c, crypto::keyring{}, a).err().subject, "encryption_key") << "never stored unsealed";
}

TEST(oauth_pgtest, tokens_are_sealed_bound_to_their_row_and_opened_on_load) {
  fixture f;
  auto id = f.connect_account(f.ws, k_google, "ya29.ACCESS-plain", "1//REFRESH-plain");
  auto row = f.text("SELECT row_to_json(o)::text FROM oauth_credentials o WHERE id = $1", {id});
  EXPECT_EQ(row.find("ACCESS-plain"), std::string::npos) << row;
  EXPECT_EQ(row.find("REFRESH-plain"), std::string::npos) << row;
  EXPECT_NE(row.find("ada@gmail.com"), std::string::npos);
  auto loaded = load_credential(*f.c, f.ring, f.ws, k_google);
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->access_token, "ya29.ACCESS-plain");
  EXPECT_EQ((*loaded)->refresh_token, "1//REFRESH-plain");
  EXPECT_TRUE((*loaded)->active);
  EXPECT_EQ((*loaded)->email, "ada@gmail.com");
  EXPECT_FALSE(*load_credential(*f.c, f.ring, f.ws, k_outlook)) << "nothing connected";

  // A sealed token copied to another workspace's row does not open there.
  auto other = f.connect_account(f.other_ws, k_google, "other", std::nullopt);
  f.text("UPDATE oauth_credentials SET access_token = (SELECT access_token FROM oauth_credentials WHERE id = $1) WHERE id = $2 "
         "RETURNING 1",
         {id, other});
  auto moved = load_credential(*f.c, f.ring, f.other_ws, k_google);
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.err().code, error_code::internal);
}

TEST(oauth_pgtest, a_disconnect_wipes_the_tokens_and_a_reconnect_revives_the_row) {
  fixture f;
  auto id = f.connect_account(f.ws, k_outlook, "access-1", "refresh-1");
  ASSERT_TRUE(set_email_sender(*f.c, f.ws, "outlook"));
  auto gone = disconnect(*f.c, f.ws, k_outlook);
  ASSERT_TRUE(gone && *gone);
  EXPECT_EQ(f.text("SELECT access_token || '|' || COALESCE(refresh_token, 'NULL') || '|' || is_active::text || '|' || "
                   "(deleted_at IS NOT NULL)::text FROM oauth_credentials WHERE id = $1",
                   {id}),
            "|NULL|false|true");
  EXPECT_EQ(*email_sender_of(*f.c, f.ws), "smtp") << "later emails go through SMTP";
  EXPECT_FALSE(*load_credential(*f.c, f.ring, f.ws, k_outlook));
  EXPECT_FALSE(*disconnect(*f.c, f.ws, k_outlook)) << "nothing left to disconnect";

  auto again = f.connect_account(f.ws, k_outlook, "access-2", "refresh-2");
  EXPECT_EQ(again, id) << "the row is revived (one per workspace and provider)";
  auto loaded = load_credential(*f.c, f.ring, f.ws, k_outlook);
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->access_token, "access-2");
  EXPECT_TRUE((*loaded)->active);
}

TEST(oauth_pgtest, two_refreshes_racing_call_the_provider_once_and_keep_the_rotated_refresh_token) {
  fixture f;
  f.connect_account(f.ws, k_google, "old-access", "old-refresh", -1000);  // expired
  auto second = connect(suite_url());
  ASSERT_TRUE(second);

  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  std::atomic<bool> entered{false};
  refresher slow = [&](const std::string& rt) -> result<token_set> {
    ++calls;
    EXPECT_EQ(rt, "old-refresh");
    entered = true;
    std::unique_lock lock(m);
    cv.wait_for(lock, 20s, [&] { return release; });
    token_set t;
    t.access_token = "new-access";
    t.refresh_token = "rotated-refresh";
    t.expires_at_ms = now_ms() + 3'600'000;
    return t;
  };
  auto first = std::async(std::launch::async, [&] { return refresh_credential(*f.c, f.ring, f.ws, k_google, refresh_policy{}, slow); });
  ASSERT_TRUE(await(10s, [&] { return entered.load(); }));
  // The second waits on the row lock while the first is at the provider.
  const int pid = second->backend_pid();
  auto other = std::async(std::launch::async, [&] { return refresh_credential(*second, f.ring, f.ws, k_google, refresh_policy{}, slow); });
  auto watcher = connect(suite_url());
  ASSERT_TRUE(await(10s, [&] {
    auto r = watcher->exec("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pg::params{}.add(pid));
    return r.ok() && !r->empty() && r->get_optional(0, 0) == std::optional<std::string>("Lock");
  })) << "the second refresh did not wait for the row lock";
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  auto a = first.get();
  auto b = other.get();
  ASSERT_TRUE(a) << a.err().message;
  ASSERT_TRUE(b) << b.err().message;
  EXPECT_EQ(calls.load(), 1) << "one refresh at the provider";
  EXPECT_TRUE(a->refreshed);
  EXPECT_FALSE(b->refreshed) << "the second found the first's tokens";
  EXPECT_EQ(b->current.access_token, "new-access");
  auto stored = load_credential(*f.c, f.ring, f.ws, k_google);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->refresh_token, "rotated-refresh") << "the rotated refresh token is kept";
  EXPECT_EQ((*stored)->access_token, "new-access");
}

TEST(oauth_pgtest, a_refresh_is_due_by_expiry_or_after_a_401_unless_someone_refreshed_since) {
  fixture f;
  f.connect_account(f.ws, k_google, "a1", "r1");
  int calls = 0;
  refresher fresh = [&](const std::string&) -> result<token_set> {
    ++calls;
    token_set t;
    t.access_token = "a" + std::to_string(calls + 1);
    t.expires_at_ms = now_ms() + 3'600'000;
    return t;
  };
  auto valid = refresh_credential(*f.c, f.ring, f.ws, k_google, refresh_policy{}, fresh);
  ASSERT_TRUE(valid);
  EXPECT_FALSE(valid->refreshed) << "valid for an hour";
  auto seen = valid->current.sealed_access_token;
  refresh_policy after_401;
  after_401.stale = seen;
  auto r = refresh_credential(*f.c, f.ring, f.ws, k_google, after_401, fresh);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->refreshed);
  EXPECT_EQ(r->current.access_token, "a2");
  EXPECT_EQ(r->current.refresh_token, "r1") << "no rotation: the old refresh token stays";
  auto late = refresh_credential(*f.c, f.ring, f.ws, k_google, after_401, fresh);  // a second 401 on the same old token
  ASSERT_TRUE(late);
  EXPECT_FALSE(late->refreshed) << "someone refreshed since that token failed";
  EXPECT_EQ(late->current.access_token, "a2");
  EXPECT_EQ(calls, 1);
}

TEST(oauth_pgtest, invalid_grant_makes_the_credential_inactive) {
  fixture f;
  auto id = f.connect_account(f.ws, k_outlook, "a", "revoked", -1);
  int calls = 0;
  refresher revoked = [&](const std::string&) -> result<token_set> {
    ++calls;
    return make_error(error_code::unauthorized, "the provider refused the token request: invalid_grant", "invalid_grant");
  };
  auto r = refresh_credential(*f.c, f.ring, f.ws, k_outlook, refresh_policy{}, revoked);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().subject, "invalid_grant");
  EXPECT_EQ(f.text("SELECT is_active::text || ':' || inactive_reason FROM oauth_credentials WHERE id = $1", {id}), "false:invalid_grant");
  auto again = refresh_credential(*f.c, f.ring, f.ws, k_outlook, refresh_policy{}, revoked);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.err().subject, "inactive");
  EXPECT_EQ(calls, 1) << "an inactive credential is not refreshed";
  EXPECT_FALSE(set_email_sender(*f.c, f.ws, "outlook")) << "an inactive account cannot be chosen";
}

TEST(oauth_pgtest, the_expiring_list_holds_active_refreshable_credentials_within_the_window) {
  fixture f;
  auto soon = f.connect_account(f.ws, k_google, "a", "r", 5 * 60'000);
  f.connect_account(f.other_ws, k_google, "a", "r", 60 * 60'000);  // not within 10 minutes
  f.connect_account(f.ws, k_outlook, "a", std::nullopt, 60'000);   // nothing to refresh with
  auto third = f.workspace();
  auto expired = f.connect_account(third, k_outlook, "a", "r", -60'000);
  auto due = expiring_credentials(*f.c, 10 * 60'000, 1000);
  ASSERT_TRUE(due) << due.err().message;
  std::vector<std::string> ids;
  for (const auto& d : *due)
    if (d.workspace_id == f.ws || d.workspace_id == f.other_ws || d.workspace_id == third) ids.push_back(d.id);
  EXPECT_EQ(ids, (std::vector<std::string>{expired, soon})) << "soonest first";
  ASSERT_TRUE(disconnect(*f.c, third, k_outlook));
  due = expiring_credentials(*f.c, 10 * 60'000, 1000);
  for (const auto& d : *due) EXPECT_NE(d.id, expired) << "a disconnected one is not refreshed";
}

TEST(oauth_pgtest, the_email_sender_needs_an_active_account_of_the_provider) {
  fixture f;
  EXPECT_EQ(*email_sender_of(*f.c, f.ws), "smtp") << "the default";
  auto refused = set_email_sender(*f.c, f.ws, "google");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, error_code::conflict);
  EXPECT_EQ(refused.err().subject, "provider");
  EXPECT_EQ(set_email_sender(*f.c, f.ws, "carrier-pigeon").err().code, error_code::invalid);
  f.connect_account(f.ws, k_google, "a", "r");
  ASSERT_TRUE(set_email_sender(*f.c, f.ws, "google"));
  EXPECT_EQ(*email_sender_of(*f.c, f.ws), "google");
  EXPECT_EQ(*email_sender_of(*f.c, f.other_ws), "smtp") << "per workspace";
  ASSERT_TRUE(set_email_sender(*f.c, f.ws, "smtp"));
  EXPECT_EQ(*email_sender_of(*f.c, f.ws), "smtp");
  auto owner = owner_of(*f.c, f.ws);
  ASSERT_TRUE(owner);
  EXPECT_NE(owner->email.find("@example.com"), std::string::npos);
}

}  // namespace
}  // namespace flowtrack::storage::oauth
