// Outgoing webhook delivery end to end, against a running node and real local receivers: retries
// keep the webhook-id and their spacing, Retry-After is honoured, 410 disables the endpoint, a
// receiver's abort-message stops the retries, a receiver that hangs does not delay a fast one,
// and a node killed in the middle of a retry schedule goes on after a restart without sending
// anything under a second id.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "storage/redis/connection.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

constexpr int k_redis_db = 13;  // this suite's own Redis index (and database): no other node claims its work
const std::string k_key = "0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e";

template <class Pred>
bool await(std::chrono::milliseconds limit, Pred done) {
  auto deadline = steady::now() + limit;
  while (!done()) {
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

struct seen_request {
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  steady::time_point at;
};

/// What the receiver answers: a status and headers, or nothing at all (`hang`).
struct scripted {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  bool hang = false;
};

/// An HTTP receiver on 127.0.0.1, a thread per connection, answering each request as the script
/// says (given the request's index, from 0).
class receiver {
 public:
  explicit receiver(std::function<scripted(std::size_t)> script = [](std::size_t) { return scripted{}; })
      : script_(std::move(script)), acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~receiver() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    released_.notify_all();
    boost::system::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocking accept
    accept_thread_.join();
    acceptor_.close(ec);
    {
      // Kept-alive connections block in a read: shutting the sockets down wakes them.
      std::lock_guard lock(mutex_);
      for (auto& s : sockets_) ::shutdown(s->native_handle(), SHUT_RDWR);
    }
    for (auto& t : connections_) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/in"; }
  std::vector<seen_request> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::size_t count() const { return requests().size(); }

 private:
  void accept_loop() {
    while (true) {
      auto socket = std::make_shared<boost::asio::ip::tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec) return;
      std::lock_guard lock(mutex_);
      if (stop_) return;
      sockets_.push_back(socket);
      connections_.emplace_back([this, socket] { serve(*socket); });
    }
  }
  void serve(boost::asio::ip::tcp::socket& socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    while (true) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(socket, buf, req, ec);
      if (ec) return;
      seen_request r{req.body(), {}, steady::now()};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
      }
      std::size_t index;
      {
        std::lock_guard lock(mutex_);
        index = seen_.size();
        seen_.push_back(std::move(r));
      }
      scripted answer = script_(index);
      if (answer.hang) {
        std::unique_lock lock(mutex_);
        released_.wait(lock, [this] { return stop_; });
        return;
      }
      http::response<http::string_body> res{static_cast<http::status>(answer.status), req.version()};
      for (const auto& [k, v] : answer.headers) res.set(k, v);
      res.keep_alive(req.keep_alive());
      res.body() = "answer " + std::to_string(index);
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  std::function<scripted(std::size_t)> script_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable released_;
  bool stop_ = false;
  std::vector<seen_request> seen_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::vector<std::thread> connections_;
  std::thread accept_thread_;
};

class webhook_delivery_e2etest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "ft_whdel_e2e_" + std::to_string(::getpid());
    auto admin = pg::connection::open(pg::connect_options{test::require_env("FLOWTRACK_TEST_ADMIN_URL")});
    ASSERT_TRUE(admin.ok()) << admin.err().message;
    ASSERT_TRUE((*admin)->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").ok());
    ASSERT_TRUE((*admin)->exec_script("CREATE DATABASE " + name_).ok());
    db_url_ = test::database_url_for(name_);
    std::string redis = test::redis_url();
    redis_url_ = redis.substr(0, redis.find('/', redis.find("://") + 3)) + "/" + std::to_string(k_redis_db);
    auto r = redis::connection::open(redis_url_, 2s);
    ASSERT_TRUE(r.ok()) << r.err().message;
    ASSERT_TRUE(r->command({"FLUSHDB"}).ok());
    auto m = cli("migrate");
    ASSERT_EQ(m.exit_code, 0) << m.err;
    auto c = pg::connection::open(pg::connect_options{db_url_});
    ASSERT_TRUE(c.ok());
    db_ = std::move(*c);
    slug_ = test::unique_slug("whdel");
    auto ws = cli("workspace create --name Hooks --slug " + slug_ + " --owner-email owner@" + slug_ + ".example.com --plan enterprise");
    ASSERT_EQ(ws.exit_code, 0) << ws.err;
  }
  void TearDown() override {
    node_.reset();
    db_.reset();
    auto admin = pg::connection::open(pg::connect_options{test::require_env("FLOWTRACK_TEST_ADMIN_URL")});
    if (admin.ok()) (void)(*admin)->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }

  std::map<std::string, std::string> env() const {
    return {{"FLOWTRACK_DATABASE_URL", db_url_}, {"FLOWTRACK_REDIS_URL", redis_url_}, {"FLOWTRACK_WEBHOOK_ALLOW", "127.0.0.0/8"},
            {"FLOWTRACK_ENCRYPTION_KEY", k_key}, {"FLOWTRACK_LOG_LEVEL", "info"}};
  }
  test::command_result cli(const std::string& args) const {
    std::string line = "env";
    for (const auto& [k, v] : env()) line += " " + k + "=" + test::shell_quote(v);
    return test::run_command(line + " " + test::shell_quote(test::flowtrackd()) + " " + args + " </dev/null");
  }
  void start_node() {
    auto e = env();
    e["FLOWTRACK_HTTP_LISTEN"] = "127.0.0.1:" + std::to_string(port_ = test::free_port());
    e["FLOWTRACK_SMTP_LISTEN"] = "127.0.0.1:" + std::to_string(test::free_port());
    e["FLOWTRACK_ADMIN_LISTEN"] = "off";
    node_ = std::make_unique<test::child_process>(std::vector<std::string>{test::flowtrackd(), "serve"}, e);
    ASSERT_TRUE(test::await_http_status(port_, "/readyz", 200, 20s)) << node_->log();
  }
  // An endpoint for `url` with a retry schedule of `retries` after a first delay of `delay_s`.
  std::string endpoint(const std::string& url, int retries, int delay_s) {
    auto made = cli("webhook create --workspace " + slug_ + " --url " + test::shell_quote(url) + " --events execution.failed" +
                    " --max-retries " + std::to_string(retries) + " --retry-delay " + std::to_string(delay_s));
    EXPECT_EQ(made.exit_code, 0) << made.err;
    return made.exit_code == 0 ? std::string(json::parse(made.out).at("id").as_string()) : std::string();
  }
  // A manual workflow that sends one webhook to `endpoint_id`, run `runs` times.
  void send(const std::string& endpoint_id, int runs) {
    std::string file = "/tmp/" + slug_ + "-" + endpoint_id + ".json";
    std::ofstream(file) << json::serialize(json::object{
        {"name", "Send " + endpoint_id},
        {"status", "active"},
        {"nodes", json::array{{{"id", "t"}, {"type", "TRIGGER_MANUAL"}, {"position", {{"x", 0}, {"y", 0}}}, {"data", json::object{}}},
                              {{"id", "w"}, {"type", "ACTION_SEND_WEBHOOK"}, {"position", {{"x", 0}, {"y", 1}}},
                               {"data", {{"endpointId", endpoint_id}}}},
                              {{"id", "e"}, {"type", "LOGIC_END"}, {"position", {{"x", 0}, {"y", 2}}}, {"data", json::object{}}}}},
        {"edges", json::array{{{"id", "1"}, {"source", "t"}, {"target", "w"}}, {{"id", "2"}, {"source", "w"}, {"target", "e"}}}}});
    auto wf = cli("workflow import --workspace " + slug_ + " " + file);
    std::remove(file.c_str());
    ASSERT_EQ(wf.exit_code, 0) << wf.err;
    std::string workflow_id = wf.out.substr(0, wf.out.find('\n'));
    for (int i = 0; i < runs; ++i) {
      std::string lead = "/tmp/" + slug_ + "-lead-" + std::to_string(i) + ".json";
      std::ofstream(lead) << R"({"email":"lead)" + std::to_string(i) + "@" + slug_ + R"(.example.com"})";
      auto run = cli("workflow run " + workflow_id + " --lead " + lead);
      std::remove(lead.c_str());
      ASSERT_EQ(run.exit_code, 0) << run.err;
    }
  }
  std::string one(const std::string& sql, const std::string& arg) {
    auto r = db_->exec(sql, pg::params{}.add(arg));
    EXPECT_TRUE(r.ok()) << sql << (r.ok() ? "" : ": " + r.err().message);
    return r.ok() && r->size() == 1 && !r->is_null(0, 0) ? std::string(r->get(0, 0)) : std::string();
  }

  std::string name_, db_url_, redis_url_, slug_;
  int port_ = 0;
  std::unique_ptr<pg::connection> db_;
  std::unique_ptr<test::child_process> node_;
};

TEST_F(webhook_delivery_e2etest, retries_keep_the_webhook_id_and_their_spacing_until_delivered) {
  receiver in([](std::size_t i) { return scripted{i < 2 ? 500 : 200, {}, false}; });
  auto id = endpoint(in.url(), 3, 1);
  start_node();
  send(id, 1);
  ASSERT_TRUE(await(30s, [&] { return in.count() >= 3; })) << node_->log();
  auto got = in.requests();
  ASSERT_EQ(got.size(), 3u);
  std::string webhook_id = got[0].headers.at("webhook-id");
  for (const auto& r : got) {
    EXPECT_EQ(r.headers.at("webhook-id"), webhook_id) << "one message, one id, every attempt";
    EXPECT_EQ(r.body, got[0].body);
    EXPECT_EQ(json::parse(r.body).at("type").as_string(), "workflow.webhook");
  }
  // 1 s, then 2 s, each shortened by less than a fifth by the jitter.
  EXPECT_GE(got[1].at - got[0].at, 800ms);
  EXPECT_GE(got[2].at - got[1].at, 1600ms);
  ASSERT_TRUE(await(10s, [&] { return one("SELECT status FROM webhook_deliveries WHERE id = $1::uuid", webhook_id) == "delivered"; }));
  EXPECT_EQ(one("SELECT attempt_number::text || ' ' || http_status_code FROM webhook_deliveries WHERE id = $1::uuid", webhook_id), "3 200");
  EXPECT_EQ(one("SELECT string_agg(http_status_code::text, ',' ORDER BY attempt_number) FROM webhook_delivery_attempts"
                " WHERE delivery_id = $1::uuid", webhook_id),
            "500,500,200") << "every attempt kept";
  EXPECT_EQ(one("SELECT count(*)::text FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid", id), "1");
}

TEST_F(webhook_delivery_e2etest, retry_after_gone_and_abort_message) {
  receiver slow([](std::size_t i) { return i == 0 ? scripted{429, {{"Retry-After", "3"}}} : scripted{200, {}, false}; });
  receiver gone([](std::size_t) { return scripted{410, {}, false}; });
  receiver aborting([](std::size_t) { return scripted{500, {{"webhook-delivery", "abort-message"}}}; });
  auto slow_id = endpoint(slow.url(), 3, 1), gone_id = endpoint(gone.url(), 3, 1), abort_id = endpoint(aborting.url(), 3, 1);
  start_node();
  send(slow_id, 1);
  send(gone_id, 1);
  send(abort_id, 1);
  ASSERT_TRUE(await(30s, [&] { return slow.count() >= 2; })) << node_->log();
  auto got = slow.requests();
  EXPECT_GE(got[1].at - got[0].at, 2900ms) << "Retry-After: 3 beats the 1 s schedule";

  ASSERT_TRUE(await(15s, [&] { return !one("SELECT disabled_at FROM webhook_endpoints WHERE id = $1::uuid", gone_id).empty(); }));
  EXPECT_NE(one("SELECT disabled_reason FROM webhook_endpoints WHERE id = $1::uuid", gone_id).find("410"), std::string::npos);
  EXPECT_EQ(one("SELECT status || ' ' || (next_retry_at IS NULL) FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid", gone_id),
            "failed true");
  ASSERT_TRUE(await(15s, [&] {
    return one("SELECT status FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid", abort_id) == "cancelled";
  }));
  EXPECT_EQ(aborting.count(), 1u) << "no retry after abort-message";
  EXPECT_EQ(gone.count(), 1u);
}

TEST_F(webhook_delivery_e2etest, a_receiver_that_hangs_does_not_delay_a_fast_one) {
  receiver hanging([](std::size_t) { return scripted{200, {}, true}; });
  receiver fast;
  auto hang_id = endpoint(hanging.url(), 0, 60), fast_id = endpoint(fast.url(), 0, 60);
  start_node();
  send(hang_id, 12);  // three times the endpoint's 4 in flight
  ASSERT_TRUE(await(20s, [&] { return hanging.count() >= 4; })) << node_->log();
  send(fast_id, 20);
  ASSERT_TRUE(await(30s, [&] { return fast.count() >= 20; })) << node_->log();
  // Every fast delivery recorded while the hanging receiver still holds its first four (they end
  // only at the 15 s timeout).
  ASSERT_TRUE(await(10s, [&] {
    return one("SELECT count(*)::text FROM webhook_deliveries WHERE webhook_endpoint_id = $1::uuid AND status = 'delivered'",
               fast_id) == "20";
  }));
  EXPECT_EQ(one("SELECT count(*)::text FROM webhook_delivery_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"
                " WHERE d.webhook_endpoint_id = $1::uuid", hang_id),
            "0") << "no hanging attempt has ended yet";
  EXPECT_EQ(hanging.count(), 4u) << "max_in_flight holds the rest back";
}

TEST_F(webhook_delivery_e2etest, a_node_killed_mid_schedule_goes_on_after_a_restart_under_the_same_id) {
  receiver in([](std::size_t i) { return scripted{i < 2 ? 503 : 200, {}, false}; });
  auto id = endpoint(in.url(), 4, 2);
  start_node();
  send(id, 1);
  ASSERT_TRUE(await(20s, [&] { return in.count() >= 1; })) << node_->log();
  std::string webhook_id = in.requests()[0].headers.at("webhook-id");
  ASSERT_TRUE(await(10s, [&] {
    return one("SELECT status FROM webhook_deliveries WHERE id = $1::uuid AND next_retry_at IS NOT NULL", webhook_id) == "failed";
  })) << "the first failure and its retry time recorded";
  ::kill(node_->pid(), SIGKILL);
  node_.reset();
  start_node();
  ASSERT_TRUE(await(40s, [&] { return one("SELECT status FROM webhook_deliveries WHERE id = $1::uuid", webhook_id) == "delivered"; }))
      << node_->log();
  for (const auto& r : in.requests()) EXPECT_EQ(r.headers.at("webhook-id"), webhook_id);
  EXPECT_EQ(in.count(), 3u) << "nothing sent twice";
  EXPECT_EQ(one("SELECT count(*)::text FROM webhook_delivery_attempts WHERE delivery_id = $1::uuid", webhook_id), "3");
}

}  // namespace
}  // namespace flowtrack
