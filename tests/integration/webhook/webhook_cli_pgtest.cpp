// `flowtrackd webhook ...` (create, list, rotate-secret, test, deliveries, redeliver, recover,
// disable, enable) and `flowtrackd secrets rotate`, run as the real binary against a database of
// this process's own (rotation walks every row of the table).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <tuple>

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

// --- The operator's actions on one endpoint and its deliveries -------------------------------

struct made_endpoint {
  std::string id, secret;
};

made_endpoint make_endpoint(const std::string& ws, const std::string& events = "lead.created") {
  auto r = run("webhook create --workspace " + ws + " --url https://93.184.216.34/ops --events " + events);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  auto o = json::parse(r.out).as_object();
  return {std::string(o.at("id").as_string()), std::string(o.at("secret").as_string())};
}

/// A message as a node would have left it, with its attempts (inserted directly).
struct delivery_spec {
  std::string status = "failed";
  int attempts = 0;  ///< attempt rows 1..attempts (the last one's outcome is the row's)
  int max_attempts = 3;
  std::string age = "1 hour";                 ///< created this long ago
  std::optional<std::string> next_retry_in{};  ///< failed and awaiting a retry this far ahead
  std::optional<std::string> claimed_for{};    ///< a node holds it this much longer
  std::string event_type = "lead.created";
};

std::string add_delivery(const std::string& endpoint_id, const delivery_spec& d) {
  auto c = connect();
  auto r = c->exec(
      "INSERT INTO webhook_deliveries (webhook_endpoint_id, workspace_id, event_type, payload, status, attempt_number,"
      " max_attempts, next_retry_at, claimed_until, created_at, http_status_code, error_message, delivered_at)"
      " SELECT e.id, e.workspace_id, $2, '{\"type\":\"lead.created\"}', $3::text, $4::int, $5::int,"
      "  NOW() + $6::interval, NOW() + $7::interval, NOW() - $8::interval,"
      "  CASE WHEN $4::int > 0 THEN CASE WHEN $3::text = 'delivered' THEN 200 ELSE 500 END END,"
      "  CASE WHEN $4::int > 0 AND $3::text <> 'delivered' THEN 'HTTP 500' END, CASE WHEN $3::text = 'delivered' THEN NOW() END"
      " FROM webhook_endpoints e WHERE e.id = $1::uuid RETURNING id",
      pg::params{}
          .add(endpoint_id)
          .add(d.event_type)
          .add(d.status)
          .add(d.attempts)
          .add(d.max_attempts)
          .add(d.next_retry_in)
          .add(d.claimed_for)
          .add(d.age));
  EXPECT_TRUE(r.ok() && r->size() == 1) << (r.ok() ? "" : r.err().message);
  if (!r.ok() || r->size() != 1) return {};
  std::string id(r->get(0, 0));
  for (int n = 1; n <= d.attempts; ++n) {
    bool last_ok = n == d.attempts && d.status == "delivered";
    auto a = c->exec(
        "INSERT INTO webhook_delivery_attempts (delivery_id, attempt_number, started_at, duration_ms, http_status_code,"
        " error_message) VALUES ($1::uuid, $2::int, NOW() - $3::interval + make_interval(mins => $2::int), 10 * $2::int,"
        " $4::int, $5)",
        pg::params{}.add(id).add(n).add(d.age).add(last_ok ? 200 : 500).add(last_ok ? std::optional<std::string>()
                                                                                    : std::optional<std::string>("HTTP 500")));
    EXPECT_TRUE(a.ok()) << a.err().message;
  }
  return id;
}

// What housekeeping leaves of a message after webhook_body_retention_days.
void mark_trimmed(const std::string& delivery_id) {
  auto r = connect()->exec("UPDATE webhook_deliveries SET body_trimmed_at = LOCALTIMESTAMP WHERE id = $1::uuid",
                           pg::params{}.add(delivery_id));
  ASSERT_TRUE(r.ok() && r->affected() == 1) << (r.ok() ? "" : r.err().message);
}

struct stored_delivery {
  std::string status;
  bool next_retry_at = false, claimed = false;
  int attempt_number = 0, max_attempts = 0, attempt_rows = 0;
};

stored_delivery delivery(const std::string& id) {
  auto r = connect()->exec(
      "SELECT status, next_retry_at IS NOT NULL, claimed_until IS NOT NULL, attempt_number, max_attempts,"
      " (SELECT count(*) FROM webhook_delivery_attempts a WHERE a.delivery_id = d.id)"
      " FROM webhook_deliveries d WHERE id = $1::uuid",
      pg::params{}.add(id));
  EXPECT_TRUE(r.ok() && r->size() == 1) << id;
  if (!r.ok() || r->size() != 1) return {};
  return {std::string(r->get(0, 0)), r->get_bool(0, 1), r->get_bool(0, 2), static_cast<int>(r->get_int(0, 3)),
          static_cast<int>(r->get_int(0, 4)), static_cast<int>(r->get_int(0, 5))};
}

/// An ISO 8601 UTC time `ago` before the database's now.
std::string iso_ago(const std::string& ago) {
  auto r = connect()->exec("SELECT to_char((NOW() - $1::interval)::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                           pg::params{}.add(ago));
  EXPECT_TRUE(r.ok());
  return r.ok() ? std::string(r->get(0, 0)) : std::string();
}

std::vector<json::object> json_lines(const std::string& out) {
  std::vector<json::object> lines;
  std::size_t at = 0;
  while (at < out.size()) {
    auto nl = out.find('\n', at);
    EXPECT_NE(nl, std::string::npos) << "unterminated line: " << out.substr(at);
    if (nl == std::string::npos) break;
    lines.push_back(json::parse(out.substr(at, nl - at)).as_object());
    at = nl + 1;
  }
  return lines;
}

TEST(webhook_cli, rotate_secret_prints_only_the_new_secret_and_the_old_one_signs_for_another_day) {
  auto ws = make_workspace();
  auto e = make_endpoint(ws);
  auto before = stored(e.id);
  ASSERT_TRUE(before.secret_key);

  auto r = run("webhook rotate-secret " + e.id);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.size() > 1 && r.out.back() == '\n', true) << r.out;
  std::string secret = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(secret.find('\n'), std::string::npos);
  ASSERT_EQ(secret.rfind("whsec_", 0), 0u) << secret;
  auto key = webhook::signing_key(secret);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), 32u);
  EXPECT_NE(secret, e.secret);
  for (const std::string& leak : {e.secret, e.secret.substr(6), *before.secret_key}) {
    EXPECT_EQ(r.out.find(leak), std::string::npos);
    EXPECT_EQ(r.err.find(leak), std::string::npos);
  }

  auto c = connect();
  auto row = c->exec("SELECT secret_key, previous_secret_key, extract(epoch FROM previous_secret_expires_at - NOW())::bigint"
                     " FROM webhook_endpoints WHERE id = $1::uuid",
                     pg::params{}.add(e.id));
  ASSERT_TRUE(row.ok() && row->size() == 1);
  std::string current(row->get(0, 0)), previous(row->get(0, 1));
  EXPECT_EQ(current.find(secret.substr(6, 20)), std::string::npos) << "stored in plaintext";
  EXPECT_EQ(*ring(k_key_a).open(current, storage::secret_context("secret_key", e.id)), secret);
  // The old sealed value moved as it was, and still opens as the endpoint's secret.
  EXPECT_EQ(previous, *before.secret_key);
  EXPECT_EQ(*ring(k_key_a).open(previous, storage::secret_context("secret_key", e.id)), e.secret);
  auto left = row->get_int(0, 2);
  EXPECT_GT(left, 24 * 3600 - 120);
  EXPECT_LE(left, 24 * 3600);

  // Rotating again: the secret just printed becomes the previous one.
  auto again = run("webhook rotate-secret " + e.id);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out, r.out);
  EXPECT_EQ(*ring(k_key_a).open(*connect()->exec("SELECT previous_secret_key FROM webhook_endpoints WHERE id = $1::uuid",
                                                 pg::params{}.add(e.id))->get_optional(0, 0),
                                storage::secret_context("secret_key", e.id)),
            secret);

  // Re-encrypting under a new key takes the previous secret along (it signs for another day),
  // still bound as the endpoint's secret, and counts it among the values in use.
  auto previous_of = [&] {
    return connect()->exec("SELECT previous_secret_key FROM webhook_endpoints WHERE id = $1::uuid", pg::params{}.add(e.id))
        ->get_optional(0, 0);
  };
  auto values = connect()->exec(
      "SELECT count(secret_key) + count(auth_header_value) + count(previous_secret_key) FILTER (WHERE previous_secret_expires_at > NOW()),"
      " count(previous_secret_key) FILTER (WHERE previous_secret_expires_at > NOW()) FROM webhook_endpoints");
  ASSERT_TRUE(values.ok());
  EXPECT_GE(values->get_int(0, 1), 1);
  auto rotated = run("secrets rotate", k_key_b, k_key_a);
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_EQ(json::parse(rotated.out).at("rotated").as_int64(), values->get_int(0, 0));
  ASSERT_TRUE(previous_of());
  EXPECT_EQ(*crypto::key_id_of(*previous_of()), ring(k_key_b).current_id());
  EXPECT_EQ(*ring(k_key_b).open(*previous_of(), storage::secret_context("secret_key", e.id)), secret);
  auto back = run("secrets rotate", k_key_a, k_key_b);
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(*ring(k_key_a).open(*previous_of(), storage::secret_context("secret_key", e.id)), secret);
  // An expired previous secret is not touched.
  ASSERT_TRUE(connect()->exec("UPDATE webhook_endpoints SET previous_secret_expires_at = NOW() - interval '1 second'"
                              " WHERE id = $1::uuid", pg::params{}.add(e.id)).ok());
  auto expired = previous_of();
  ASSERT_EQ(run("secrets rotate", k_key_b, k_key_a).exit_code, 0);
  EXPECT_EQ(previous_of(), expired);
  ASSERT_EQ(run("secrets rotate", k_key_a, k_key_b).exit_code, 0);

  // Without a key nothing changes; unknown and malformed ids are named.
  auto stored_now = stored(e.id).secret_key;
  auto none = run("webhook rotate-secret " + e.id, "");
  EXPECT_EQ(none.exit_code, 78) << none.err;
  EXPECT_NE(none.err.find("encryption_key"), std::string::npos) << none.err;
  EXPECT_EQ(none.out, "");
  EXPECT_EQ(stored(e.id).secret_key, stored_now);
  std::string unknown = domain::new_uuid();
  for (const std::string& id : {unknown, std::string("not-a-uuid")}) {
    auto u = run("webhook rotate-secret " + id);
    EXPECT_EQ(u.exit_code, 66) << u.err;
    EXPECT_NE(u.err.find(id), std::string::npos) << u.err;
    EXPECT_EQ(u.out, "");
  }
  auto usage = run("webhook rotate-secret");
  EXPECT_EQ(usage.exit_code, 64);
  EXPECT_NE(usage.err.find("usage"), std::string::npos) << usage.err;
}

TEST(webhook_cli, test_queues_a_webhook_test_message_to_that_endpoint_alone) {
  auto ws = make_workspace();
  auto e = make_endpoint(ws, "lead.created");  // not subscribed to webhook.test: sent anyway
  auto everything = make_endpoint(ws, "'*'");
  auto r = run("webhook test " + e.id, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = json::parse(r.out).as_object();
  ASSERT_EQ(out.size(), 1u) << r.out;
  std::string id(out.at("deliveryId").as_string());
  EXPECT_EQ(r.out, json::serialize(json::object{{"deliveryId", id}}) + "\n");

  auto c = connect();
  auto row = c->exec("SELECT webhook_endpoint_id::text, workspace_id::text, event_type, status, payload::text,"
                     " next_retry_at IS NULL AND claimed_until IS NULL,"
                     " (SELECT id::text FROM workspaces WHERE slug = $2)"
                     " FROM webhook_deliveries WHERE id = $1::uuid",
                     pg::params{}.add(id).add(ws));
  ASSERT_TRUE(row.ok() && row->size() == 1) << id;
  EXPECT_EQ(row->get(0, 0), e.id);
  EXPECT_EQ(row->get(0, 1), row->get(0, 6));
  EXPECT_EQ(row->get(0, 2), "webhook.test");
  EXPECT_EQ(row->get(0, 3), "pending");
  EXPECT_TRUE(row->get_bool(0, 5));
  auto payload = json::parse(row->get(0, 4)).as_object();
  EXPECT_EQ(payload.size(), 3u) << row->get(0, 4);
  EXPECT_EQ(payload.at("type").as_string(), "webhook.test");
  EXPECT_EQ(payload.at("data"), (json::object{{"endpointId", e.id}}));
  std::string ts(payload.at("timestamp").as_string());
  EXPECT_EQ(ts.size() >= 20 && ts[4] == '-' && ts[10] == 'T' && ts.back() == 'Z', true) << ts;
  auto count = [&](const std::string& endpoint) {
    auto n = c->exec("SELECT count(*) FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid", pg::params{}.add(endpoint));
    return n.ok() ? n->get_int(0, 0) : -1;
  };
  EXPECT_EQ(count(e.id), 1);
  EXPECT_EQ(count(everything.id), 0);
  // It is listed like any message.
  auto listed = json_lines(run("webhook deliveries " + e.id).out);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].at("id").as_string(), id);
  EXPECT_EQ(listed[0].at("eventType").as_string(), "webhook.test");

  // A second test is a second message.
  auto again = run("webhook test " + e.id);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out, r.out);
  EXPECT_EQ(count(e.id), 2);

  // A disabled endpoint would never send it: refused, nothing written. Unknown ids are named.
  ASSERT_EQ(run("webhook disable " + e.id).exit_code, 0);
  auto disabled = run("webhook test " + e.id);
  EXPECT_EQ(disabled.exit_code, 65) << disabled.err;
  EXPECT_NE(disabled.err.find("enable"), std::string::npos) << disabled.err;
  EXPECT_EQ(count(e.id), 2);
  std::string unknown = domain::new_uuid();
  auto u = run("webhook test " + unknown);
  EXPECT_EQ(u.exit_code, 66) << u.err;
  EXPECT_NE(u.err.find(unknown), std::string::npos) << u.err;
  EXPECT_EQ(run("webhook test").exit_code, 64);
}

TEST(webhook_cli, deliveries_lists_messages_newest_first_with_their_attempts_and_filters) {
  auto ws = make_workspace();
  auto e = make_endpoint(ws);
  auto other = make_endpoint(ws);
  auto delivered = add_delivery(e.id, {.status = "delivered", .attempts = 2, .age = "4 hours"});
  auto awaiting = add_delivery(e.id, {.status = "failed", .attempts = 1, .age = "3 hours", .next_retry_in = "1 hour"});
  auto exhausted = add_delivery(e.id, {.status = "failed", .attempts = 3, .age = "2 hours"});
  auto pending = add_delivery(e.id, {.status = "pending", .attempts = 0, .age = "1 hour", .event_type = "lead.updated"});
  add_delivery(other.id, {.status = "failed", .attempts = 1, .age = "1 minute"});

  auto r = run("webhook deliveries " + e.id, "");  // listing needs no key
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  std::vector<std::string> ids;
  for (const auto& l : lines) ids.emplace_back(l.at("id").as_string());
  EXPECT_EQ(ids, (std::vector<std::string>{pending, exhausted, awaiting, delivered}));
  for (const auto& l : lines) {
    std::vector<std::string> keys;
    for (const auto& kv : l) keys.emplace_back(kv.key());
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"attemptNumber", "attempts", "createdAt", "deliveredAt", "errorMessage",
                                              "eventType", "httpStatus", "id", "maxAttempts", "nextRetryAt", "status"}));
    EXPECT_EQ(l.at("createdAt").as_string().back(), 'Z');
  }
  EXPECT_EQ(lines[0].at("status").as_string(), "pending");
  EXPECT_EQ(lines[0].at("eventType").as_string(), "lead.updated");
  EXPECT_TRUE(lines[0].at("attempts").as_array().empty());
  EXPECT_TRUE(lines[0].at("httpStatus").is_null());

  const auto& ex = lines[1];
  EXPECT_EQ(ex.at("status").as_string(), "failed");
  EXPECT_EQ(ex.at("attemptNumber").as_int64(), 3);
  EXPECT_EQ(ex.at("maxAttempts").as_int64(), 3);
  EXPECT_EQ(ex.at("httpStatus").as_int64(), 500);
  EXPECT_EQ(ex.at("errorMessage").as_string(), "HTTP 500");
  EXPECT_TRUE(ex.at("nextRetryAt").is_null());
  const auto& attempts = ex.at("attempts").as_array();
  ASSERT_EQ(attempts.size(), 3u);
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const auto& a = attempts[i].as_object();
    EXPECT_EQ(a.size(), 5u);
    EXPECT_EQ(a.at("number").as_int64(), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(a.at("durationMs").as_int64(), static_cast<std::int64_t>(10 * (i + 1)));
    EXPECT_EQ(a.at("httpStatus").as_int64(), 500);
    EXPECT_EQ(a.at("errorMessage").as_string(), "HTTP 500");
    EXPECT_EQ(a.at("startedAt").as_string().back(), 'Z');
  }
  EXPECT_FALSE(lines[2].at("nextRetryAt").is_null());
  EXPECT_FALSE(lines[3].at("deliveredAt").is_null());
  EXPECT_EQ(lines[3].at("attempts").as_array().back().at("httpStatus").as_int64(), 200);
  EXPECT_TRUE(lines[3].at("attempts").as_array().back().at("errorMessage").is_null());

  auto ids_of = [](const test::command_result& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> out;
    for (const auto& l : json_lines(r.out)) out.emplace_back(l.at("id").as_string());
    return out;
  };
  EXPECT_EQ(ids_of(run("webhook deliveries " + e.id + " --status failed")), (std::vector<std::string>{exhausted, awaiting}));
  EXPECT_EQ(ids_of(run("webhook deliveries " + e.id + " --status=cancelled")), std::vector<std::string>{});
  EXPECT_EQ(ids_of(run("webhook deliveries " + e.id + " --since " + iso_ago("150 minutes"))),
            (std::vector<std::string>{pending, exhausted}));
  EXPECT_EQ(ids_of(run("webhook deliveries " + e.id + " --status failed --since " + iso_ago("150 minutes"))),
            std::vector<std::string>{exhausted});
  EXPECT_EQ(ids_of(run("webhook deliveries " + e.id + " --limit 1")), std::vector<std::string>{pending});

  for (const auto& [args, code, says] : std::vector<std::tuple<std::string, int, std::string>>{
           {"webhook deliveries " + e.id + " --status bogus", 64, "--status"},
           {"webhook deliveries " + e.id + " --status Failed", 64, "--status"},
           {"webhook deliveries " + e.id + " --since yesterday", 64, "--since"},
           {"webhook deliveries " + e.id + " --limit 0", 64, "--limit"},
           {"webhook deliveries " + e.id + " --colour blue", 64, "colour"},
           {"webhook deliveries", 64, "usage"},
           {"webhook deliveries " + delivered, 66, delivered},  // a delivery id is not an endpoint id
       }) {
    auto bad = run(args);
    EXPECT_EQ(bad.exit_code, code) << args << ": " << bad.err;
    EXPECT_NE(bad.err.find(says), std::string::npos) << args << ": " << bad.err;
    EXPECT_EQ(bad.out, "") << args;
  }
}

TEST(webhook_cli, redeliver_makes_the_same_message_due_again_keeping_its_attempts) {
  auto ws = make_workspace();
  auto e = make_endpoint(ws);
  auto exhausted = add_delivery(e.id, {.status = "failed", .attempts = 3, .max_attempts = 3});
  auto delivered = add_delivery(e.id, {.status = "delivered", .attempts = 1, .max_attempts = 4});
  auto in_flight = add_delivery(e.id, {.status = "failed", .attempts = 1, .next_retry_in = "-1 minute", .claimed_for = "5 minutes"});

  auto r = run("webhook redeliver " + exhausted, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, exhausted + "\n");
  auto d = delivery(exhausted);
  EXPECT_EQ(d.status, "pending");
  EXPECT_FALSE(d.next_retry_at);
  EXPECT_FALSE(d.claimed);
  EXPECT_EQ(d.attempt_rows, 3);
  EXPECT_EQ(d.attempt_number, 3);
  EXPECT_GE(d.max_attempts, 4);
  // The message is unchanged, so the same webhook-id reaches the receiver.
  auto listed = json_lines(run("webhook deliveries " + e.id + " --status pending").out);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].at("id").as_string(), exhausted);
  EXPECT_EQ(listed[0].at("attempts").as_array().size(), 3u);

  auto again = run("webhook redeliver " + delivered);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(delivery(delivered).status, "pending");
  EXPECT_EQ(delivery(delivered).max_attempts, 4);  // room for one more already

  // A node attempting it right now: refused, left alone.
  auto busy = run("webhook redeliver " + in_flight);
  EXPECT_EQ(busy.exit_code, 73) << busy.err;
  EXPECT_NE(busy.err.find(in_flight), std::string::npos) << busy.err;
  EXPECT_EQ(delivery(in_flight).status, "failed");
  EXPECT_TRUE(delivery(in_flight).claimed);

  std::string unknown = domain::new_uuid();
  for (const std::string& id : {unknown, std::string("nope")}) {
    auto u = run("webhook redeliver " + id);
    EXPECT_EQ(u.exit_code, 66) << u.err;
    EXPECT_NE(u.err.find(id), std::string::npos) << u.err;
  }
  // Housekeeping trimmed its body: sending it again would send the stub.
  auto trimmed = add_delivery(e.id, {.status = "failed", .attempts = 3, .max_attempts = 3});
  mark_trimmed(trimmed);
  auto stub = run("webhook redeliver " + trimmed);
  EXPECT_EQ(stub.exit_code, 73) << stub.err;
  EXPECT_NE(stub.err.find("trimmed"), std::string::npos) << stub.err;
  EXPECT_EQ(delivery(trimmed).status, "failed");
  EXPECT_EQ(run("webhook redeliver").exit_code, 64);
  EXPECT_EQ(run("webhook redeliver " + exhausted + " " + delivered).exit_code, 64);
}

TEST(webhook_cli, recover_makes_the_failed_messages_since_a_time_due_and_leaves_the_rest) {
  auto ws = make_workspace();
  auto e = make_endpoint(ws);
  auto other = make_endpoint(ws);
  auto exhausted = add_delivery(e.id, {.status = "failed", .attempts = 3, .age = "2 hours"});
  auto awaiting = add_delivery(e.id, {.status = "failed", .attempts = 1, .age = "30 minutes", .next_retry_in = "6 hours"});
  auto old = add_delivery(e.id, {.status = "failed", .attempts = 3, .age = "3 days"});
  auto cancelled = add_delivery(e.id, {.status = "cancelled", .attempts = 1, .age = "30 minutes"});
  auto delivered = add_delivery(e.id, {.status = "delivered", .attempts = 1, .age = "30 minutes"});
  auto claimed = add_delivery(e.id, {.status = "failed", .attempts = 1, .age = "30 minutes", .next_retry_in = "-1 minute",
                                     .claimed_for = "5 minutes"});
  auto elsewhere = add_delivery(other.id, {.status = "failed", .attempts = 3, .age = "1 hour"});
  auto trimmed = add_delivery(e.id, {.status = "failed", .attempts = 3, .age = "2 hours"});
  mark_trimmed(trimmed);

  auto r = run("webhook recover " + e.id + " --since " + iso_ago("1 day"), "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"recovered\":2}\n");
  for (const auto& id : {exhausted, awaiting}) {
    auto d = delivery(id);
    EXPECT_EQ(d.status, "pending") << id;
    EXPECT_FALSE(d.next_retry_at) << id;
    EXPECT_GT(d.max_attempts, d.attempt_rows) << id;
  }
  EXPECT_EQ(delivery(old).status, "failed");
  EXPECT_EQ(delivery(cancelled).status, "cancelled");
  EXPECT_EQ(delivery(delivered).status, "delivered");
  EXPECT_EQ(delivery(claimed).status, "failed");
  EXPECT_EQ(delivery(elsewhere).status, "failed");
  EXPECT_EQ(delivery(trimmed).status, "failed") << "a trimmed body is not sent again";

  auto none = run("webhook recover " + e.id + " --since " + iso_ago("1 day"));
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "{\"recovered\":0}\n");

  for (const auto& [args, code, says] : std::vector<std::tuple<std::string, int, std::string>>{
           {"webhook recover " + e.id, 64, "usage"},
           {"webhook recover " + e.id + " --since soon", 64, "--since"},
           {"webhook recover --since " + iso_ago("1 day"), 64, "usage"},
           {"webhook recover " + exhausted + " --since " + iso_ago("1 day"), 66, exhausted},
       }) {
    auto bad = run(args);
    EXPECT_EQ(bad.exit_code, code) << args << ": " << bad.err;
    EXPECT_NE(bad.err.find(says), std::string::npos) << args << ": " << bad.err;
    EXPECT_EQ(bad.out, "") << args;
  }
  EXPECT_EQ(delivery(old).status, "failed");
}

TEST(webhook_cli, disable_and_enable_switch_the_endpoint_and_list_shows_its_state) {
  auto ws = make_workspace();
  auto e = make_endpoint(ws);
  auto r = run("webhook disable " + e.id, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto state = json::parse(r.out).as_object();
  EXPECT_EQ(state.at("id").as_string(), e.id);
  EXPECT_TRUE(state.at("isActive").as_bool());  // as when a node disables it: disabled_at decides
  EXPECT_EQ(state.at("disabledReason").as_string(), "disabled by an operator");
  EXPECT_FALSE(state.at("disabledAt").is_null());
  auto c = connect();
  auto row = c->exec("SELECT is_active, disabled_at IS NOT NULL, disabled_reason FROM webhook_endpoints WHERE id = $1::uuid",
                     pg::params{}.add(e.id));
  ASSERT_TRUE(row.ok() && row->size() == 1);
  EXPECT_TRUE(row->get_bool(0, 0));
  EXPECT_TRUE(row->get_bool(0, 1));
  EXPECT_EQ(row->get(0, 2), "disabled by an operator");
  // Switched off by hand too (is_active false): enable turns it back on.
  ASSERT_TRUE(c->exec("UPDATE webhook_endpoints SET is_active = false WHERE id = $1::uuid", pg::params{}.add(e.id)).ok());

  // Failing for a while, as a node would have recorded; the list shows it all.
  ASSERT_TRUE(c->exec("UPDATE webhook_endpoints SET failing_since = NOW() - interval '2 days' WHERE id = $1::uuid",
                      pg::params{}.add(e.id))
                  .ok());
  auto list = run("webhook list --workspace " + ws, "");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto listed = json::parse(list.out).as_array().at(0).as_object();
  EXPECT_EQ(listed.at("maxInFlight").as_int64(), 4);
  EXPECT_FALSE(listed.at("isActive").as_bool());
  EXPECT_FALSE(listed.at("disabledAt").is_null());
  EXPECT_EQ(listed.at("disabledReason").as_string(), "disabled by an operator");
  EXPECT_FALSE(listed.at("failingSince").is_null());

  auto on = run("webhook enable " + e.id, "");
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_EQ(on.out, json::serialize(json::object{{"id", e.id},
                                                 {"isActive", true},
                                                 {"disabledAt", nullptr},
                                                 {"disabledReason", nullptr},
                                                 {"failingSince", nullptr}}) +
                        "\n");
  row = c->exec("SELECT is_active, disabled_at IS NULL AND disabled_reason IS NULL AND failing_since IS NULL"
                " FROM webhook_endpoints WHERE id = $1::uuid",
                pg::params{}.add(e.id));
  ASSERT_TRUE(row.ok() && row->size() == 1);
  EXPECT_TRUE(row->get_bool(0, 0));
  EXPECT_TRUE(row->get_bool(0, 1));

  std::string unknown = domain::new_uuid();
  for (const std::string verb : {"disable", "enable"}) {
    auto u = run("webhook " + verb + " " + unknown);
    EXPECT_EQ(u.exit_code, 66) << u.err;
    EXPECT_NE(u.err.find(unknown), std::string::npos) << u.err;
    EXPECT_EQ(run("webhook " + verb).exit_code, 64);
  }
  // A deleted endpoint is as good as unknown.
  ASSERT_TRUE(c->exec("UPDATE webhook_endpoints SET deleted_at = NOW() WHERE id = $1::uuid", pg::params{}.add(e.id)).ok());
  EXPECT_EQ(run("webhook disable " + e.id).exit_code, 66);
}

}  // namespace
}  // namespace flowtrack
