// `flowtrackd webhook create|list` and `flowtrackd secrets rotate`, run as the real binary
// against a database of this process's own (rotation walks every row of the table).
#include <gtest/gtest.h>

#include <unistd.h>

#include <boost/json.hpp>

#include "adapters/webhook/signature.hpp"
#include "crypto/secret_box.hpp"
#include "storage/pg/connection.hpp"
#include "domain/ids.hpp"
#include "storage/webhooks.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

namespace json = boost::json;

const auto* const k_own_database = ::testing::AddGlobalTestEnvironment(new test::own_database("ft_webhook_cli"));

const std::string k_key_a = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const std::string k_key_b = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const std::string k_key_c = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff";

/// Runs flowtrackd with `args` against the test database, with the key settings given in the
/// environment (none when empty) and nothing else of ours.
test::command_result run(const std::string& args, const std::string& key = k_key_a, const std::string& old_keys = "") {
  std::string env = "env -u FLOWTRACK_ENCRYPTION_KEY -u FLOWTRACK_ENCRYPTION_OLD_KEYS -u FLOWTRACK_WEBHOOK_ALLOW";
  if (!key.empty()) env += " FLOWTRACK_ENCRYPTION_KEY=" + test::shell_quote(key);
  if (!old_keys.empty()) env += " FLOWTRACK_ENCRYPTION_OLD_KEYS=" + test::shell_quote(old_keys);
  return test::run_command(env + " " + test::flowtrackd() + " " + args + " --log-level warn --database-url " +
                           test::shell_quote(test::database_url()));
}

std::unique_ptr<pg::connection> connect() {
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return std::move(*c);
}

std::string make_workspace() {
  std::string slug = test::unique_slug("wh-cli");
  auto r = run("workspace create --name W --slug " + slug + " --owner-email owner@" + slug + ".example");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return slug;
}

struct stored_endpoint {
  std::optional<std::string> secret_key, auth_header_value, auth_header_name;
  std::vector<std::string> events;
  int max_retries = 0, retry_delay = 0;
  std::string url;
};

stored_endpoint stored(const std::string& id) {
  auto c = connect();
  auto r = c->exec("SELECT secret_key, auth_header_value, auth_header_name, array_to_json(subscribed_events)::text,"
                   " max_retries, retry_delay_seconds, url FROM webhook_endpoints WHERE id = $1::uuid",
                   pg::params{}.add(id));
  EXPECT_TRUE(r.ok() && r->size() == 1) << id;
  stored_endpoint e;
  if (!r.ok() || r->size() != 1) return e;
  e.secret_key = r->get_optional(0, 0);
  e.auth_header_value = r->get_optional(0, 1);
  e.auth_header_name = r->get_optional(0, 2);
  auto events = json::parse(r->get(0, 3));
  for (const auto& v : events.as_array()) e.events.emplace_back(v.as_string());
  e.max_retries = static_cast<int>(r->get_int(0, 4));
  e.retry_delay = static_cast<int>(r->get_int(0, 5));
  e.url = std::string(r->get(0, 6));
  return e;
}

std::int64_t endpoint_count() {
  auto r = connect()->exec("SELECT count(*) FROM webhook_endpoints");
  return r.ok() ? r->get_int(0, 0) : -1;
}

crypto::keyring ring(const std::string& current, std::vector<std::string> old = {}) {
  return *crypto::keyring::from_hex(current, old);
}

TEST(webhook_cli, create_prints_only_the_id_and_a_whsec_secret_which_is_stored_sealed) {
  auto ws = make_workspace();
  auto r = run("webhook create --workspace " + ws +
               " --url https://93.184.216.34/hooks/in --events lead.created,execution.failed --description 'CRM sync'"
               " --max-retries 5 --retry-delay 120 --auth-header 'Authorization: Bearer sk-live-123'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = json::parse(r.out).as_object();
  ASSERT_EQ(doc.size(), 2u) << r.out;
  std::string id(doc.at("id").as_string()), secret(doc.at("secret").as_string());
  EXPECT_EQ(r.out, json::serialize(json::object{{"id", id}, {"secret", secret}}) + "\n");
  ASSERT_EQ(secret.rfind("whsec_", 0), 0u);
  auto key = webhook::signing_key(secret);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), 32u);

  auto e = stored(id);
  ASSERT_TRUE(e.secret_key && e.auth_header_value);
  EXPECT_EQ(e.secret_key->rfind("v1." + ring(k_key_a).current_id() + ".", 0), 0u) << *e.secret_key;
  EXPECT_EQ(e.secret_key->find(secret.substr(6, 20)), std::string::npos);
  EXPECT_EQ(e.auth_header_value->find("sk-live-123"), std::string::npos);
  EXPECT_EQ(*ring(k_key_a).open(*e.secret_key, storage::secret_context("secret_key", id)), secret);
  EXPECT_EQ(*ring(k_key_a).open(*e.auth_header_value, storage::secret_context("auth_header_value", id)), "Bearer sk-live-123");
  EXPECT_EQ(e.auth_header_name, "Authorization");
  EXPECT_EQ(e.events, (std::vector<std::string>{"lead.created", "execution.failed"}));
  EXPECT_EQ(e.max_retries, 5);
  EXPECT_EQ(e.retry_delay, 120);

  // Two endpoints never share a secret; defaults come from the spec.
  auto again = run("webhook create --workspace " + ws + " --url https://93.184.216.34/other --events '*'");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto other = json::parse(again.out).as_object();
  EXPECT_NE(std::string(other.at("secret").as_string()), secret);
  auto d = stored(std::string(other.at("id").as_string()));
  EXPECT_EQ(d.max_retries, 3);
  EXPECT_EQ(d.retry_delay, 60);
  EXPECT_FALSE(d.auth_header_value);
}

TEST(webhook_cli, list_shows_the_endpoints_without_secrets) {
  auto ws = make_workspace();
  auto made = run("webhook create --workspace " + ws + " --url https://93.184.216.34/a --events lead.updated"
                  " --auth-header 'X-Api-Key: key-that-stays-hidden'");
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto created = json::parse(made.out).as_object();
  std::string secret(created.at("secret").as_string());
  auto empty_ws = make_workspace();
  auto none = run("webhook list --workspace " + empty_ws);
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "[]\n");

  auto r = run("webhook list --workspace " + ws, "");  // listing needs no key
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto list = json::parse(r.out).as_array();
  ASSERT_EQ(list.size(), 1u);
  const auto& e = list[0].as_object();
  EXPECT_EQ(e.at("id").as_string(), created.at("id").as_string());
  EXPECT_EQ(e.at("url").as_string(), "https://93.184.216.34/a");
  EXPECT_EQ(e.at("events").as_array().size(), 1u);
  EXPECT_TRUE(e.at("hasSecret").as_bool());
  EXPECT_EQ(e.at("authHeaderName").as_string(), "X-Api-Key");
  EXPECT_FALSE(e.contains("secret"));
  for (const std::string& leak : {secret, secret.substr(6), std::string("key-that-stays-hidden"), std::string("v1.")})
    EXPECT_EQ(r.out.find(leak), std::string::npos) << leak;
}

TEST(webhook_cli, bad_input_exits_with_the_documented_codes_and_writes_nothing) {
  auto ws = make_workspace();
  auto before = endpoint_count();
  struct c {
    std::string args;
    int code;
    const char* says;
  };
  std::string base = "webhook create --workspace " + ws;
  for (const auto& [args, code, says] : std::vector<c>{
           {base + " --url https://93.184.216.34/", 64, "usage"},
           {base + " --events lead.created", 64, "usage"},
           {"webhook create --url https://93.184.216.34/ --events lead.created", 64, "usage"},
           {base + " --url https://93.184.216.34/ --events lead.created --colour blue", 64, "colour"},
           {"webhook frobnicate", 64, "usage"},
           {"webhook list", 64, "usage"},
           {base + " --url https://93.184.216.34/ --events lead.deleted", 65, "lead.deleted"},
           {base + " --url https://93.184.216.34/ --events ,", 65, "events"},
           {base + " --url https://93.184.216.34/ --events lead.created --max-retries many", 65, "max-retries"},
           {base + " --url https://93.184.216.34/ --events lead.created --max-retries 51", 65, "max-retries"},
           {base + " --url https://93.184.216.34/ --events lead.created --retry-delay 0", 65, "retry-delay"},
           {base + " --url https://93.184.216.34/ --events lead.created --auth-header NoColon", 65, "auth-header"},
           {base + " --url https://93.184.216.34/ --events lead.created --auth-header 'Host: x'", 65, "auth-header"},
           {base + " --url ftp://93.184.216.34/ --events lead.created", 65, "http or https"},
           {base + " --url http://127.0.0.1:9/ --events lead.created", 65, "address not allowed"},
           {base + " --url http://[2001:db8::1]/ --events lead.created", 65, "address not allowed"},
           {base + " --url http://localhost:9/ --events lead.created", 65, "address not allowed"},
           {"webhook create --workspace no-such-" + ws + " --url https://93.184.216.34/ --events lead.created", 66,
            "no workspace"},
       }) {
    auto r = run(args);
    EXPECT_EQ(r.exit_code, code) << args << ": " << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(r.out, "") << args;
  }
  // The allow-list lets an operator reach an internal receiver on purpose.
  auto allowed = run(base + " --url http://127.0.0.1:9/ --events lead.created --webhook-allow 127.0.0.0/8");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(endpoint_count(), before + 1);
}

TEST(webhook_cli, without_a_key_or_with_a_malformed_one_nothing_is_stored_and_the_setting_is_named) {
  auto ws = make_workspace();
  auto before = endpoint_count();
  std::string args = "webhook create --workspace " + ws + " --url https://93.184.216.34/ --events lead.created";
  auto none = run(args, "");
  EXPECT_EQ(none.exit_code, 78) << none.err;
  EXPECT_NE(none.err.find("encryption_key"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("FLOWTRACK_ENCRYPTION_KEY"), std::string::npos) << none.err;
  for (const auto& [key, old, setting] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {k_key_a.substr(0, 63), "", "encryption_key"},
           {k_key_a + "0", "", "encryption_key"},
           {"zz" + k_key_a.substr(2), "", "encryption_key"},
           {k_key_a, k_key_b + ",deadbeef", "encryption_old_keys"}}) {
    for (const std::string& cmd : {args, std::string("secrets rotate"), std::string("webhook list --workspace " + ws)}) {
      auto r = run(cmd, key, old);
      EXPECT_EQ(r.exit_code, 78) << cmd << ": " << r.err;
      EXPECT_NE(r.err.find(setting), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find(key), std::string::npos) << "key echoed: " << r.err;
      EXPECT_EQ(r.err.find(k_key_b), std::string::npos) << "old key echoed: " << r.err;
      EXPECT_EQ(r.err.find("deadbeef"), std::string::npos) << "old key echoed: " << r.err;
    }
  }
  EXPECT_EQ(endpoint_count(), before);
}

// Rotation walks the whole table, so this test owns every row it leaves behind: it rotates to
// key B and back to key A, ending where the other tests expect.
TEST(webhook_cli, secrets_rotate_reencrypts_everything_in_batches_is_idempotent_and_names_rows_it_cannot_open) {
  auto ws = make_workspace();
  std::vector<std::pair<std::string, std::string>> made;  // id, secret
  for (int i = 0; i < 5; ++i) {
    auto r = run("webhook create --workspace " + ws + " --url https://93.184.216.34/r" + std::to_string(i) +
                 " --events '*'" + (i % 2 ? " --auth-header 'Authorization: Bearer t" + std::to_string(i) + "'" : std::string()));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto o = json::parse(r.out).as_object();
    made.emplace_back(std::string(o.at("id").as_string()), std::string(o.at("secret").as_string()));
  }
  auto count = endpoint_count();
  auto values = [&] {
    auto r = connect()->exec("SELECT count(secret_key) + count(auth_header_value) FROM webhook_endpoints");
    return r.ok() ? r->get_int(0, 0) : -1;
  }();

  // To key B, opening with A as an old key, two rows per transaction.
  auto r = run("secrets rotate --batch 2", k_key_b, k_key_a);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto report = json::parse(r.out).as_object();
  EXPECT_EQ(report.at("rotated").as_int64(), values);
  EXPECT_EQ(report.at("alreadyCurrent").as_int64(), 0);
  EXPECT_EQ(report.at("endpoints").as_int64(), count);
  EXPECT_EQ(report.at("keyId").as_string(), ring(k_key_b).current_id());
  for (const auto& [id, secret] : made) {
    auto e = stored(id);
    EXPECT_EQ(*crypto::key_id_of(*e.secret_key), ring(k_key_b).current_id());
    EXPECT_EQ(*ring(k_key_b).open(*e.secret_key, storage::secret_context("secret_key", id)), secret);
    if (e.auth_header_value) {
      EXPECT_EQ(*crypto::key_id_of(*e.auth_header_value), ring(k_key_b).current_id());
      EXPECT_TRUE(ring(k_key_b).open(*e.auth_header_value, storage::secret_context("auth_header_value", id)));
    }
  }

  // Again: nothing left to do. And key A alone no longer opens anything.
  auto again = run("secrets rotate --batch 2", k_key_b, k_key_a);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out).at("rotated").as_int64(), 0);
  EXPECT_EQ(json::parse(again.out).at("alreadyCurrent").as_int64(), values);
  EXPECT_FALSE(ring(k_key_a).open(*stored(made[0].first).secret_key, storage::secret_context("secret_key", made[0].first)));

  // A row under a key nobody holds: named by id with its key id, never its value; the rest are
  // still rotated (back to A), and that row is left as it was.
  std::string stray = domain::new_uuid();
  auto stray_secret = *ring(k_key_c).seal("whsec_c3RyYXktc2VjcmV0LXZhbHVl", storage::secret_context("secret_key", stray));
  auto c = connect();
  auto ws_id = c->exec("SELECT id FROM workspaces WHERE slug = $1", pg::params{}.add(ws));
  ASSERT_TRUE(ws_id.ok() && ws_id->size() == 1);
  ASSERT_TRUE(c->exec("INSERT INTO webhook_endpoints (id, workspace_id, url, secret_key, subscribed_events)"
                      " VALUES ($1, $2, 'https://93.184.216.34/stray', $3, '{*}')",
                      pg::params{}.add(stray).add(std::string(ws_id->get(0, 0))).add(stray_secret))
                  .ok());
  auto failed = run("secrets rotate --batch 2", k_key_a, k_key_b);
  EXPECT_EQ(failed.exit_code, 65) << failed.err;
  EXPECT_NE(failed.err.find(stray), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find(ring(k_key_c).current_id()), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("encryption_old_keys"), std::string::npos) << failed.err;
  for (const std::string& leak : {stray_secret, std::string("c3RyYXkt"), k_key_a, k_key_b, k_key_c})
    EXPECT_EQ(failed.err.find(leak), std::string::npos) << failed.err;
  EXPECT_EQ(*stored(stray).secret_key, stray_secret);
  for (const auto& [id, secret] : made)
    EXPECT_EQ(*ring(k_key_a).open(*stored(id).secret_key, storage::secret_context("secret_key", id)), secret);

  // With the missing key as an old key, the run completes.
  auto fixed = run("secrets rotate", k_key_a, k_key_c);
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_EQ(json::parse(fixed.out).at("rotated").as_int64(), 1);
  EXPECT_EQ(*ring(k_key_a).open(*stored(stray).secret_key, storage::secret_context("secret_key", stray)),
            "whsec_c3RyYXktc2VjcmV0LXZhbHVl");
}

TEST(webhook_cli, the_key_ids_in_use_are_counted_so_a_node_can_say_what_it_cannot_open) {
  auto count_of = [](const std::string& key_id) -> std::int64_t {
    auto c = connect();
    auto ids = storage::secret_key_ids_in_use(*c);
    EXPECT_TRUE(ids.ok()) << ids.err().message;
    for (const auto& [id, n] : *ids)
      if (id == key_id) return n;
    return 0;
  };
  auto ws = make_workspace();
  auto before_c = count_of(ring(k_key_c).current_id()), before_plain = count_of("");
  auto r = run("webhook create --workspace " + ws + " --url https://93.184.216.34/ids --events '*' --auth-header 'A: b'", k_key_c);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(ring(k_key_c).current_id()), before_c + 2);
  std::string id(json::parse(r.out).at("id").as_string());
  ASSERT_TRUE(connect()->exec("UPDATE webhook_endpoints SET auth_header_value = 'plain' WHERE id = $1", pg::params{}.add(id)).ok());
  EXPECT_EQ(count_of(ring(k_key_c).current_id()), before_c + 1);
  EXPECT_EQ(count_of(""), before_plain + 1);
  ASSERT_TRUE(connect()->exec("DELETE FROM webhook_endpoints WHERE id = $1", pg::params{}.add(id)).ok());
}

}  // namespace
}  // namespace flowtrack
