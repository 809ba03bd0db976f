// http_webhook_dispatcher against real PostgreSQL and a real HTTP receiver (Boost.Beast, on a
// thread of the test, on 127.0.0.1): headers, signatures, delivery rows, failures, SSRF guard.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "adapters/webhook/http_webhook_dispatcher.hpp"
#include "domain/ids.hpp"
#include "storage/webhooks.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::webhook {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// ---- an HTTP receiver ------------------------------------------------------------------------

/// What the receiver saw of one request.
struct seen_request {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // lower-case names
};

/// Answers by path: /status/<code> with that code and body "status <code>"; /slow after 3 s;
/// /redirect with 302 to /status/200; /big with 200 KiB; /binary with bytes that are not
/// UTF-8; anything else 200 {"received":true}. Keeps connections alive like real servers.
class http_receiver {
 public:
  http_receiver() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~http_receiver() {
    io_.stop();
    thread_.join();
  }

  int port() const { return acceptor_.local_endpoint().port(); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port()) + path; }

  std::vector<seen_request> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::vector<seen_request> await(std::size_t n, std::chrono::milliseconds timeout = 10s) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto got = requests();
      if (got.size() >= n || std::chrono::steady_clock::now() > deadline) return got;
      std::this_thread::sleep_for(10ms);
    }
  }

 private:
  struct session : std::enable_shared_from_this<session> {
    http_receiver* owner;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::response<http::string_body> res;
    asio::steady_timer timer;

    session(http_receiver* o, tcp::socket s) : owner(o), stream(std::move(s)), timer(stream.get_executor()) {}

    void do_read() {
      req = {};
      http::async_read(stream, buffer, req, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (!ec) self->on_read();
      });
    }
    void on_read() {
      seen_request seen{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        seen.headers[name] = std::string(f.value());
      }
      {
        std::lock_guard lock(owner->mutex_);
        owner->seen_.push_back(seen);
      }
      std::string target(req.target());
      res = http::response<http::string_body>(http::status::ok, 11);
      res.set(http::field::content_type, "application/json");
      res.set("X-Receiver", "test");
      res.body() = R"({"received":true})";
      if (target.rfind("/status/", 0) == 0) {
        res.result(static_cast<unsigned>(std::stoi(target.substr(8))));
        res.set(http::field::content_type, "text/plain");
        res.body() = "status " + target.substr(8);
      } else if (target == "/redirect") {
        res.result(http::status::found);
        res.set(http::field::location, "/status/200");
        res.body().clear();
      } else if (target == "/big") {
        res.body() = std::string(200 * 1024, 'x');
      } else if (target == "/binary") {
        res.set(http::field::content_type, "application/octet-stream");
        res.body() = std::string("ok\xff\xfe\x00\xc3(", 7);
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      if (target == "/slow") {
        timer.expires_after(3s);
        timer.async_wait([self = shared_from_this()](beast::error_code) { self->do_write(); });
      } else {
        do_write();
      }
    }
    void do_write() {
      http::async_write(stream, res, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return;
        if (self->res.keep_alive()) return self->do_read();
        beast::error_code ignored;
        self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      });
    }
  };

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      std::make_shared<session>(this, std::move(s))->do_read();
      accept();
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<seen_request> seen_;
};

// ---- the database side -----------------------------------------------------------------------

std::unique_ptr<pg::connection> connect() {
  auto c = pg::connection::open(pg::connect_options{test::database_url()});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return std::move(*c);
}

struct endpoint_spec {
  endpoint_spec(std::string u, std::optional<std::string> s = {}, std::optional<std::string> name = {},
                std::optional<std::string> value = {})
      : url(std::move(u)), secret(std::move(s)), auth_name(std::move(name)), auth_value(std::move(value)) {}
  endpoint_spec& inactive() { return active = false, *this; }
  endpoint_spec& soft_deleted() { return deleted = true, *this; }
  endpoint_spec& retries(int n) { return max_retries = n, *this; }
  /// Stores the secrets as given instead of sealing them (rows written before encryption, or
  /// written around FlowTrack).
  endpoint_spec& unsealed() { return seal = false, *this; }

  std::string url;
  std::optional<std::string> secret;
  std::optional<std::string> auth_name, auth_value;
  bool active = true;
  bool deleted = false;
  int max_retries = 3;
  bool seal = true;
};

/// The suite's key (the settings' encryption_key below).
const std::string k_test_key = "5e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";

crypto::keyring test_keys() { return *crypto::keyring::from_hex(k_test_key); }

std::optional<std::string> sealed(const std::optional<std::string>& v, const char* column, const std::string& id) {
  if (!v) return v;
  auto s = test_keys().seal(*v, storage::secret_context(column, id));
  EXPECT_TRUE(s) << s.err().message;
  return *s;
}

struct fixture {
  std::unique_ptr<pg::connection> c = connect();
  std::string workspace_id = make_workspace();
  std::string other_workspace_id = make_workspace();

  std::string make_workspace() {
    std::string tag = test::unique_name("wh");
    auto user = c->exec("INSERT INTO users (email) VALUES ($1) RETURNING id", pg::params{}.add(tag + "@example.com"));
    EXPECT_TRUE(user.ok()) << (user.ok() ? "" : user.err().message);
    auto ws = c->exec("INSERT INTO workspaces (name, slug, intake_email_id, owner_user_id) VALUES ('w', $1, $1, $2) RETURNING id",
                      pg::params{}.add(tag).add(std::string(user->get(0, 0))));
    EXPECT_TRUE(ws.ok()) << (ws.ok() ? "" : ws.err().message);
    return std::string(ws->get(0, 0));
  }

  std::string endpoint(const endpoint_spec& e, const std::string& ws = {}) {
    std::string id = domain::new_uuid();
    auto r = c->exec(
        "INSERT INTO webhook_endpoints (id, workspace_id, url, secret_key, auth_header_name, auth_header_value,"
        " subscribed_events, max_retries, is_active, deleted_at)"
        " VALUES ($9, $1, $2, $3, $4, $5, '{lead.workflow_action}', $6, $7, CASE WHEN $8 THEN NOW() END) RETURNING id",
        pg::params{}
            .add(ws.empty() ? workspace_id : ws)
            .add(e.url)
            .add(e.seal ? sealed(e.secret, "secret_key", id) : e.secret)
            .add(e.auth_name)
            .add(e.seal ? sealed(e.auth_value, "auth_header_value", id) : e.auth_value)
            .add(e.max_retries)
            .add(e.active)
            .add(e.deleted)
            .add(id));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    return std::string(r->get(0, 0));
  }

  /// The endpoint's delivery rows, oldest first, as JSON objects.
  std::vector<boost::json::object> deliveries(const std::string& endpoint_id) {
    auto r = c->exec("SELECT row_to_json(d)::text FROM webhook_deliveries d WHERE webhook_endpoint_id = $1"
                     " ORDER BY created_at, attempt_number",
                     pg::params{}.add(endpoint_id));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    std::vector<boost::json::object> out;
    for (int i = 0; r.ok() && i < r->size(); ++i) out.push_back(boost::json::parse(r->get(i, 0)).as_object());
    return out;
  }

  bool triggered(const std::string& endpoint_id) {
    auto r = c->exec("SELECT last_triggered_at IS NOT NULL FROM webhook_endpoints WHERE id = $1", pg::params{}.add(endpoint_id));
    return r.ok() && r->get_bool(0, 0);
  }
};

pg::pool_options pool_options() {
  pg::pool_options o;
  o.connection.uri = test::database_url();
  o.size = 2;
  return o;
}

config::settings loopback_allowed() {
  config::settings s;
  s.webhook_allow = {"127.0.0.0/8"};
  s.encryption_key = k_test_key;
  return s;
}

actors::webhook_message message_for(const fixture& f, const std::string& endpoint_id, std::string key = {}) {
  actors::webhook_message m;
  m.idempotency_key = key.empty() ? domain::new_uuid() + ":node_hook" : std::move(key);
  m.workspace_id = f.workspace_id;
  m.execution_id = domain::new_uuid();
  m.endpoint_id = endpoint_id;
  m.event_type = "lead.workflow_action";
  m.payload = R"({"lead":{"email":"ada@example.com","name":"Ada"},"n":1})";
  return m;
}

result<actors::webhook_outcome> deliver_and_wait(actors::webhook_port& port, actors::webhook_message m) {
  auto promise = std::make_shared<std::promise<result<actors::webhook_outcome>>>();
  auto fut = promise->get_future();
  port.deliver(std::move(m), [promise](result<actors::webhook_outcome> r) { promise->set_value(std::move(r)); });
  if (fut.wait_for(30s) != std::future_status::ready) return make_error(error_code::internal, "done was not called in time");
  return fut.get();
}

std::string b64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                                       reinterpret_cast<const unsigned char*>(bytes.data()),
                                                       static_cast<int>(bytes.size()))));
  return out;
}

/// The signature a receiver computes (Standard Webhooks), written here independently.
std::string expected_signature(const std::string& key, const std::string& id, const std::string& ts, const std::string& body) {
  std::string content = id + "." + ts + "." + body;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), md, &len);
  return "v1," + b64(std::string(reinterpret_cast<char*>(md), len));
}

std::string str(const boost::json::value& v) { return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v); }

// ---- tests -----------------------------------------------------------------------------------

TEST(http_webhook_dispatcher, delivers_a_signed_payload_and_records_the_attempt) {
  fixture f;
  http_receiver receiver;
  std::string key_bytes(24, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(key_bytes.data()), static_cast<int>(key_bytes.size()));
  std::string secret = "whsec_" + b64(key_bytes);
  std::string token = "Bearer tok-" + domain::new_uuid();
  auto endpoint = f.endpoint({receiver.url("/hooks/flowtrack?src=test"), secret, "Authorization", token});
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());

  auto m = message_for(f, endpoint);
  auto before = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto r = deliver_and_wait(dispatcher, m);
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->http_status, 200);
  EXPECT_FALSE(r->delivery_id.empty());

  auto got = receiver.await(1);
  ASSERT_EQ(got.size(), 1u);
  const auto& req = got[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/hooks/flowtrack?src=test");
  EXPECT_EQ(req.body, m.payload);
  EXPECT_EQ(req.headers.at("content-type"), "application/json");
  EXPECT_EQ(req.headers.at("webhook-id"), m.idempotency_key);
  EXPECT_EQ(req.headers.at("authorization"), token);
  auto ts = std::stoll(req.headers.at("webhook-timestamp"));
  EXPECT_GE(ts, before - 1);
  EXPECT_LE(ts, before + 30);
  EXPECT_EQ(req.headers.at("webhook-signature"),
            expected_signature(key_bytes, m.idempotency_key, req.headers.at("webhook-timestamp"), req.body));

  auto rows = f.deliveries(endpoint);
  ASSERT_EQ(rows.size(), 1u);
  const auto& d = rows[0];
  EXPECT_EQ(str(d.at("id")), r->delivery_id);
  EXPECT_EQ(str(d.at("status")), "delivered");
  EXPECT_EQ(d.at("http_status_code").as_int64(), 200);
  EXPECT_EQ(d.at("attempt_number").as_int64(), 1);
  EXPECT_EQ(d.at("max_attempts").as_int64(), 3);
  EXPECT_EQ(str(d.at("event_type")), "lead.workflow_action");
  EXPECT_EQ(d.at("payload").at("lead").at("email").as_string(), "ada@example.com");
  EXPECT_FALSE(d.at("delivered_at").is_null());
  EXPECT_FALSE(d.at("duration_ms").is_null());
  EXPECT_TRUE(d.at("error_message").is_null());
  EXPECT_EQ(str(d.at("response_body")), R"({"received":true})");
  EXPECT_EQ(d.at("response_headers").at("x-receiver").as_string(), "test");
  const auto& sent = d.at("request_headers").as_object();
  EXPECT_EQ(sent.at("webhook-id").as_string(), m.idempotency_key);
  EXPECT_EQ(sent.at("webhook-timestamp").as_string(), req.headers.at("webhook-timestamp"));
  EXPECT_EQ(sent.at("webhook-signature").as_string(), req.headers.at("webhook-signature"));
  EXPECT_EQ(sent.at("authorization").as_string(), "[redacted]");
  std::string all = boost::json::serialize(d);
  EXPECT_EQ(all.find(token.substr(7)), std::string::npos) << "auth value stored";
  EXPECT_EQ(all.find(secret), std::string::npos) << "secret stored";
  EXPECT_EQ(all.find(b64(key_bytes)), std::string::npos) << "secret stored";
  EXPECT_TRUE(f.triggered(endpoint));
}

TEST(http_webhook_dispatcher, a_raw_secret_signs_with_its_bytes_and_no_secret_sends_no_signature) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto raw = f.endpoint({receiver.url("/raw"), std::string("plain-secret-value")});
  auto unsigned_ep = f.endpoint({receiver.url("/unsigned"), std::nullopt});
  ASSERT_TRUE(deliver_and_wait(dispatcher, message_for(f, raw)).ok());
  ASSERT_TRUE(deliver_and_wait(dispatcher, message_for(f, unsigned_ep)).ok());
  auto got = receiver.await(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].headers.at("webhook-signature"),
            expected_signature("plain-secret-value", got[0].headers.at("webhook-id"), got[0].headers.at("webhook-timestamp"),
                               got[0].body));
  EXPECT_EQ(got[1].headers.count("webhook-signature"), 0u);
  EXPECT_EQ(got[1].headers.count("webhook-id"), 1u);
}

TEST(http_webhook_dispatcher, attempts_of_the_same_webhook_id_are_numbered) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto endpoint = f.endpoint(endpoint_spec(receiver.url("/status/503"), std::string("s")).retries(5));
  auto m = message_for(f, endpoint);
  for (int i = 0; i < 3; ++i) {
    auto r = deliver_and_wait(dispatcher, m);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, error_code::unavailable);
  }
  ASSERT_TRUE(deliver_and_wait(dispatcher, message_for(f, endpoint)).err().transient());
  auto rows = f.deliveries(endpoint);
  ASSERT_EQ(rows.size(), 4u);
  std::multiset<std::int64_t> numbers;
  for (const auto& d : rows) {
    numbers.insert(d.at("attempt_number").as_int64());
    EXPECT_EQ(d.at("max_attempts").as_int64(), 5);
  }
  EXPECT_EQ(numbers, (std::multiset<std::int64_t>{1, 1, 2, 3}));
  // Every attempt of one id carries the same webhook-id, so the receiver can drop duplicates.
  auto got = receiver.await(4);
  EXPECT_EQ(got[0].headers.at("webhook-id"), got[2].headers.at("webhook-id"));
}

TEST(http_webhook_dispatcher, server_error_is_unavailable_and_recorded_as_failed) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto endpoint = f.endpoint({receiver.url("/status/500"), std::string("s"), "X-Api-Key", "key-123456"});
  auto r = deliver_and_wait(dispatcher, message_for(f, endpoint));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::unavailable) << r.err().message;
  EXPECT_NE(r.err().message.find("500"), std::string::npos) << r.err().message;
  EXPECT_EQ(r.err().message.find("key-123456"), std::string::npos);
  auto rows = f.deliveries(endpoint);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(str(rows[0].at("status")), "failed");
  EXPECT_EQ(rows[0].at("http_status_code").as_int64(), 500);
  EXPECT_EQ(str(rows[0].at("response_body")), "status 500");
  EXPECT_TRUE(rows[0].at("delivered_at").is_null());
  EXPECT_FALSE(rows[0].at("error_message").is_null());
  EXPECT_EQ(rows[0].at("request_headers").at("x-api-key").as_string(), "[redacted]");
  EXPECT_TRUE(f.triggered(endpoint));
}

TEST(http_webhook_dispatcher, client_errors_are_invalid_except_408_and_429) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto not_found = deliver_and_wait(dispatcher, message_for(f, f.endpoint({receiver.url("/status/404")})));
  ASSERT_FALSE(not_found.ok());
  EXPECT_EQ(not_found.err().code, error_code::invalid) << not_found.err().message;
  EXPECT_NE(not_found.err().message.find("404"), std::string::npos);
  auto busy = deliver_and_wait(dispatcher, message_for(f, f.endpoint({receiver.url("/status/429")})));
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.err().code, error_code::unavailable) << busy.err().message;
}

TEST(http_webhook_dispatcher, redirects_are_not_followed) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto r = deliver_and_wait(dispatcher, message_for(f, f.endpoint({receiver.url("/redirect")})));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid) << r.err().message;
  // The receiver records a request before it answers, and the delivery has ended: a followed
  // redirect would already be here.
  auto got = receiver.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/redirect");
}

TEST(http_webhook_dispatcher, unknown_foreign_inactive_and_deleted_endpoints_are_not_found) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto foreign = f.endpoint({receiver.url("/foreign")}, f.other_workspace_id);
  auto inactive = f.endpoint(endpoint_spec(receiver.url("/inactive")).inactive());
  auto deleted = f.endpoint(endpoint_spec(receiver.url("/deleted")).soft_deleted());
  for (const auto& id : {domain::new_uuid(), foreign, inactive, deleted, std::string("not-a-uuid")}) {
    auto r = deliver_and_wait(dispatcher, message_for(f, id));
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_EQ(r.err().code, error_code::not_found) << r.err().message;
  }
  EXPECT_TRUE(receiver.requests().empty());  // each delivery ended before any request could be made
  for (const auto& id : {foreign, inactive, deleted}) {
    EXPECT_TRUE(f.deliveries(id).empty());
    EXPECT_FALSE(f.triggered(id));
  }
}

TEST(http_webhook_dispatcher, loopback_is_refused_without_the_allow_list_and_nothing_is_sent) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, config::settings{});
  std::string port = std::to_string(receiver.port());
  for (const std::string& url : std::vector<std::string>{receiver.url("/guarded"), "http://localhost:" + port + "/guarded",
                                 "http://[::1]:" + port + "/guarded", "http://127.1:" + port + "/guarded",
                                 "http://2130706433:" + port + "/guarded", "http://[::ffff:127.0.0.1]:" + port + "/guarded",
                                 "http://0.0.0.0:" + port + "/guarded", "http://169.254.169.254/latest/meta-data/",
                                 "http://10.1.2.3/", "http://192.168.0.1/", "http://100.64.0.1/", "http://[fd00::1]/"}) {
    auto endpoint = f.endpoint({url, std::string("secret-never-shown")});
    auto r = deliver_and_wait(dispatcher, message_for(f, endpoint));
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.err().code, error_code::invalid) << url << ": " << r.err().message;
    EXPECT_NE(r.err().message.find("address not allowed"), std::string::npos) << url << ": " << r.err().message;
    EXPECT_EQ(r.err().message.find("secret-never-shown"), std::string::npos);
    auto rows = f.deliveries(endpoint);
    ASSERT_EQ(rows.size(), 1u) << url;
    EXPECT_EQ(str(rows[0].at("status")), "failed");
    EXPECT_TRUE(rows[0].at("http_status_code").is_null());
    EXPECT_NE(str(rows[0].at("error_message")).find("address not allowed"), std::string::npos);
    if (url.find("localhost") != std::string::npos) {
      for (const char* where : {"127.0.0.1", "::1"}) EXPECT_EQ(r.err().message.find(where), std::string::npos) << r.err().message;
    }
  }
  // Every refusal happened before a socket was opened (each delivery above has finished), so
  // there is nothing to wait for.
  EXPECT_TRUE(receiver.requests().empty());
}

TEST(http_webhook_dispatcher, only_http_and_https_urls_are_used) {
  fixture f;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  for (std::string url : std::vector<std::string>{"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/", "not a url",
                          "http://user:hunter2@127.0.0.1/"}) {
    auto r = deliver_and_wait(dispatcher, message_for(f, f.endpoint({url})));
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.err().code, error_code::invalid) << url << ": " << r.err().message;
    EXPECT_EQ(r.err().message.find("hunter2"), std::string::npos) << r.err().message;
  }
}

TEST(http_webhook_dispatcher, a_closed_port_is_unavailable) {
  fixture f;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto endpoint = f.endpoint({"http://127.0.0.1:" + std::to_string(test::free_port()) + "/"});
  auto r = deliver_and_wait(dispatcher, message_for(f, endpoint));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::unavailable) << r.err().message;
  auto rows = f.deliveries(endpoint);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(str(rows[0].at("status")), "failed");
}

TEST(http_webhook_dispatcher, a_receiver_slower_than_the_timeout_is_a_timeout) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  dispatcher_options opts;
  opts.timeout = 1s;
  http_webhook_dispatcher dispatcher(db, loopback_allowed(), opts);
  auto start = std::chrono::steady_clock::now();
  auto r = deliver_and_wait(dispatcher, message_for(f, f.endpoint({receiver.url("/slow")})));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::timeout) << r.err().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
}

TEST(http_webhook_dispatcher, response_bodies_are_cut_to_64_kib_and_kept_valid_text) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto big = f.endpoint({receiver.url("/big")});
  auto binary = f.endpoint({receiver.url("/binary")});
  auto r = deliver_and_wait(dispatcher, message_for(f, big));
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(str(f.deliveries(big).at(0).at("response_body")).size(), 64u * 1024u);
  auto b = deliver_and_wait(dispatcher, message_for(f, binary));
  ASSERT_TRUE(b.ok()) << b.err().message;
  EXPECT_EQ(str(f.deliveries(binary).at(0).at("response_body")).substr(0, 2), "ok");
}

TEST(http_webhook_dispatcher, bad_messages_and_header_values_are_invalid_and_not_sent) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto good = f.endpoint({receiver.url("/x")});
  auto m = message_for(f, good);
  m.payload = "{not json";
  auto r = deliver_and_wait(dispatcher, m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);
  EXPECT_EQ(r.err().subject, "payload");
  m = message_for(f, good);
  m.idempotency_key = "id\r\nX-Injected: yes";
  r = deliver_and_wait(dispatcher, m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);

  auto injected = f.endpoint({receiver.url("/x"), {}, "Authorization", "Bearer t\r\nX-Injected: yes"});
  r = deliver_and_wait(dispatcher, message_for(f, injected));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);
  EXPECT_EQ(r.err().message.find("Bearer"), std::string::npos) << r.err().message;
  auto bad_secret = f.endpoint({receiver.url("/x"), std::string("whsec_***not base64***")});
  r = deliver_and_wait(dispatcher, message_for(f, bad_secret));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::invalid);
  EXPECT_EQ(r.err().message.find("not base64***"), std::string::npos) << r.err().message;
  // Every refusal happened before a socket was opened (each delivery above has finished), so
  // there is nothing to wait for.
  EXPECT_TRUE(receiver.requests().empty());
}

TEST(http_webhook_dispatcher, many_concurrent_deliveries_all_arrive_once) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  dispatcher_options opts;
  opts.threads = 4;
  http_webhook_dispatcher dispatcher(db, loopback_allowed(), opts);
  auto endpoint = f.endpoint({receiver.url("/bulk"), std::string("whsec_" + b64("0123456789abcdef"))});
  constexpr int n = 40;
  std::vector<std::future<result<actors::webhook_outcome>>> futures;
  std::set<std::string> keys;
  for (int i = 0; i < n; ++i) {
    auto promise = std::make_shared<std::promise<result<actors::webhook_outcome>>>();
    futures.push_back(promise->get_future());
    auto m = message_for(f, endpoint);
    keys.insert(m.idempotency_key);
    dispatcher.deliver(std::move(m), [promise](result<actors::webhook_outcome> r) { promise->set_value(std::move(r)); });
  }
  for (auto& fu : futures) {
    ASSERT_EQ(fu.wait_for(60s), std::future_status::ready);
    auto r = fu.get();
    ASSERT_TRUE(r.ok()) << r.err().message;
  }
  auto got = receiver.await(n);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  std::set<std::string> seen;
  for (const auto& req : got) seen.insert(req.headers.at("webhook-id"));
  EXPECT_EQ(seen, keys);
  EXPECT_EQ(f.deliveries(endpoint).size(), static_cast<std::size_t>(n));
}

TEST(http_webhook_dispatcher, destruction_waits_for_deliveries_in_flight) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  std::atomic<int> done{0};
  auto endpoint = f.endpoint({receiver.url("/drain")});
  {
    http_webhook_dispatcher dispatcher(db, loopback_allowed());
    for (int i = 0; i < 5; ++i)
      dispatcher.deliver(message_for(f, endpoint), [&done](result<actors::webhook_outcome> r) { done += r.ok(); });
  }
  EXPECT_EQ(done.load(), 5);
  EXPECT_EQ(f.deliveries(endpoint).size(), 5u);
}

std::map<std::string, std::optional<std::string>> stored_secrets(fixture& f, const std::string& endpoint_id) {
  auto r = f.c->exec("SELECT secret_key, auth_header_value FROM webhook_endpoints WHERE id = $1", pg::params{}.add(endpoint_id));
  EXPECT_TRUE(r.ok() && r->size() == 1);
  return {{"secret_key", r->get_optional(0, 0)}, {"auth_header_value", r->get_optional(0, 1)}};
}

TEST(http_webhook_dispatcher, secrets_are_stored_sealed_and_opened_only_to_sign_and_send) {
  fixture f;
  http_receiver receiver;
  std::string key_bytes(32, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(key_bytes.data()), static_cast<int>(key_bytes.size()));
  std::string secret = "whsec_" + b64(key_bytes);
  std::string token = "Bearer tok-" + domain::new_uuid();
  storage::new_webhook_endpoint e;
  e.workspace_id = f.workspace_id;
  e.url = receiver.url("/sealed");
  e.events = {"*"};
  e.secret = secret;
  e.auth_header_name = "Authorization";
  e.auth_header_value = token;
  auto id = storage::create_webhook_endpoint(*f.c, e, test_keys());
  ASSERT_TRUE(id.ok()) << id.err().message;

  auto stored = stored_secrets(f, *id);
  for (const auto& [column, value] : stored) {
    ASSERT_TRUE(value) << column;
    EXPECT_EQ(value->rfind("v1." + test_keys().current_id() + ".", 0), 0u) << column << ": " << *value;
    EXPECT_EQ(value->find(secret.substr(6)), std::string::npos) << column;
    EXPECT_EQ(value->find(token.substr(7)), std::string::npos) << column;
  }
  EXPECT_LE(stored["secret_key"]->size(), 255u);

  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto m = message_for(f, *id);
  auto r = deliver_and_wait(dispatcher, m);
  ASSERT_TRUE(r.ok()) << r.err().message;
  auto got = receiver.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].headers.at("authorization"), token);
  EXPECT_EQ(got[0].headers.at("webhook-signature"),
            expected_signature(key_bytes, m.idempotency_key, got[0].headers.at("webhook-timestamp"), got[0].body));
  auto rows = f.deliveries(*id);
  ASSERT_EQ(rows.size(), 1u);
  std::string all = boost::json::serialize(rows[0]);
  EXPECT_EQ(all.find(token.substr(7)), std::string::npos);
  EXPECT_EQ(all.find(secret.substr(6)), std::string::npos);
  EXPECT_EQ(str(rows[0].at("request_headers").at("authorization")), "[redacted]");

  // The secrets are bound to the row's canonical id, whatever case the caller spells it in.
  std::string upper = *id;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto again = deliver_and_wait(dispatcher, message_for(f, upper));
  ASSERT_TRUE(again.ok()) << again.err().message;
  EXPECT_EQ(receiver.await(2).size(), 2u);
}

TEST(http_webhook_dispatcher, a_plaintext_or_moved_secret_is_refused_and_nothing_is_sent) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  http_webhook_dispatcher dispatcher(db, loopback_allowed());
  auto plain = f.endpoint(endpoint_spec{receiver.url("/plain"), std::string("whsec_cGxhaW50ZXh0LXNlY3JldA==")}.unsealed());
  auto plain_auth = f.endpoint(endpoint_spec{receiver.url("/plain-auth"), std::nullopt, "X-Api-Key", "plain-api-key"}.unsealed());
  auto a = f.endpoint({receiver.url("/a"), std::string("whsec_YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh")});
  auto b = f.endpoint({receiver.url("/b"), std::string("whsec_YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJi")});
  // b gets a's sealed secret: it is bound to a's row and must not open for b.
  ASSERT_TRUE(f.c->exec("UPDATE webhook_endpoints SET secret_key = (SELECT secret_key FROM webhook_endpoints WHERE id = $1)"
                        " WHERE id = $2",
                        pg::params{}.add(a).add(b))
                  .ok());
  for (const auto& [endpoint, field] : std::vector<std::pair<std::string, std::string>>{
           {plain, "secret_key"}, {plain_auth, "auth_header_value"}, {b, "secret_key"}}) {
    auto r = deliver_and_wait(dispatcher, message_for(f, endpoint));
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.err().code, error_code::invalid) << r.err().message;
    EXPECT_EQ(r.err().subject, field) << r.err().message;
    for (const char* leak : {"cGxhaW50ZXh0", "plain-api-key", "YWFh", "YmJi"})
      EXPECT_EQ(r.err().message.find(leak), std::string::npos) << r.err().message;
    auto rows = f.deliveries(endpoint);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(str(rows[0].at("status")), "failed");
  }
  EXPECT_TRUE(receiver.requests().empty());
  EXPECT_TRUE(deliver_and_wait(dispatcher, message_for(f, a)).ok());
}

TEST(http_webhook_dispatcher, without_an_encryption_key_secrets_fail_clearly_and_plain_endpoints_are_served) {
  fixture f;
  http_receiver receiver;
  pg::pool db(pool_options());
  config::settings keyless;
  keyless.webhook_allow = {"127.0.0.0/8"};
  http_webhook_dispatcher dispatcher(db, keyless);
  auto with_secret = f.endpoint({receiver.url("/secret"), std::string("whsec_c2VjcmV0LXdpdGhvdXQta2V5")});
  auto without = f.endpoint({receiver.url("/open"), std::nullopt});
  auto r = deliver_and_wait(dispatcher, message_for(f, with_secret));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, error_code::unavailable);
  EXPECT_NE(r.err().message.find("encryption_key"), std::string::npos) << r.err().message;
  EXPECT_TRUE(deliver_and_wait(dispatcher, message_for(f, without)).ok());
  auto got = receiver.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/open");
  // A node holding the key only as an old key still opens it.
  config::settings rotated = loopback_allowed();
  rotated.encryption_key = std::string(64, 'c');
  rotated.encryption_old_keys = {k_test_key};
  http_webhook_dispatcher after_rotation(db, rotated);
  EXPECT_TRUE(deliver_and_wait(after_rotation, message_for(f, with_secret)).ok());
}

TEST(http_webhook_dispatcher, a_malformed_key_is_a_start_up_error_naming_the_setting_not_the_key) {
  pg::pool db(pool_options());
  for (const auto& [current, old, setting] : std::vector<std::tuple<std::string, std::vector<std::string>, std::string>>{
           {std::string(64, 'z'), {}, "encryption_key"}, {std::string(62, 'a'), {}, "encryption_key"},
           {k_test_key, {std::string(66, 'b')}, "encryption_old_keys"}}) {
    config::settings s = loopback_allowed();
    s.encryption_key = current;
    s.encryption_old_keys = old;
    try {
      http_webhook_dispatcher dispatcher(db, s);
      ADD_FAILURE() << setting << " accepted";
    } catch (const config::config_error& e) {
      EXPECT_EQ(e.key(), setting);
      EXPECT_EQ(std::string(e.what()).find(current), std::string::npos);
      if (!old.empty()) {
        EXPECT_EQ(std::string(e.what()).find(old[0]), std::string::npos);
      }
    }
  }
}

}  // namespace
}  // namespace flowtrack::webhook
