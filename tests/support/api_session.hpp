// The management API suites' common ground: a fixture owning a node (on the suite's own scratch
// database) and an SMTP sink, a JSON client for /api/v1, and sign-up / verify / login through the
// mailed link. It knows no route beyond /auth and /me; each suite keeps its settings and rules.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/smtp_sink.hpp"

namespace flowtrack::test {

/// One answer of the management API: the body parsed when it is JSON, and as text.
struct api_reply {
  int status = 0;
  boost::json::value body;
  std::string text;
  std::map<std::string, std::string> headers;  ///< lower-case names

  bool has_error() const { return body.is_object() && body.as_object().contains("error"); }
  std::string error_code() const { return has_error() ? std::string(body.at("error").at("code").as_string()) : ""; }
  std::string error_field() const {
    if (!has_error()) return "";
    auto* f = body.at("error").as_object().if_contains("field");
    return f ? std::string(f->as_string()) : "";
  }
  std::string error_message() const { return has_error() ? std::string(body.at("error").at("message").as_string()) : ""; }
  std::string str(const char* key) const { return std::string(body.at(key).as_string()); }
  const boost::json::array& data() const { return body.at("data").as_array(); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

/// A signed-in user of the API.
struct api_user {
  std::string email, id, token;
};

/// Base of a management API suite: `use_database` then `start_node` (in SetUp or in each test).
class api_session : public ::testing::Test {
 protected:
  using headers_t = std::map<std::string, std::string>;

  static inline const std::string k_api_password = "correct horse battery staple";

  smtp_sink sink;
  std::unique_ptr<node_process> node;
  /// Sent with every call unless the call names the header itself.
  headers_t default_headers;
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);

  /// Points FLOWTRACK_TEST_DATABASE_URL (which the node reads) at `db`; false when it is unusable.
  bool use_database(scratch_database& db) {
    if (!db.ok()) return false;
    ::setenv("FLOWTRACK_TEST_DATABASE_URL", db.url().c_str(), 1);
    database_ = &db;
    return true;
  }

  /// The session's part of a node's settings: the sink as mail relay, and (a test-only setting)
  /// low Argon2 costs, since these suites sign many users in and test no password strength.
  node_process::settings node_settings(bool cheap_hashes = true) const {
    node_process::settings s{{"FLOWTRACK_MAIL_RELAY", sink.relay()}};
    if (cheap_hashes) {
      s["FLOWTRACK_PASSWORD_HASH_MEMORY_KIB"] = "256";
      s["FLOWTRACK_PASSWORD_HASH_ITERATIONS"] = "1";
    }
    return s;
  }
  /// Starts the node with node_settings() and the suite's settings over them.
  void start_node(const node_process::settings& suite) { node = std::make_unique<node_process>(node_settings(), suite); }

  /// `method /api/v1<path>`; a body goes as JSON unless `headers` names a Content-Type.
  api_reply call(const std::string& method, const std::string& path, const std::string& body = "", const std::string& token = "",
                 headers_t headers = {}) {
    if (!body.empty() && !headers.count("Content-Type")) headers["Content-Type"] = "application/json";
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    for (const auto& [name, value] : default_headers) headers.emplace(name, value);
    auto r = http_request(node->port, method, "/api/v1" + path, body, headers, request_timeout);
    api_reply out{r.status, {}, r.body, r.headers};
    boost::system::error_code ec;
    if (!r.body.empty() && out.header("content-type").rfind("application/json", 0) == 0) out.body = boost::json::parse(r.body, ec);
    return out;
  }
  api_reply send(const std::string& method, const std::string& path, const boost::json::object& body, const std::string& token = "",
                 headers_t headers = {}) {
    return call(method, path, boost::json::serialize(body), token, std::move(headers));
  }

  /// The `nth` email to `to` (in arrival order) with a body matching `pattern`, waited for; the
  /// pattern's first group.
  std::string mailed_match(const std::string& to, const std::regex& pattern, std::size_t nth = 1) {
    using namespace std::chrono_literals;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<std::string> found;
      for (const auto& m : sink.messages()) {
        if (m.header("to").find(to) == std::string::npos) continue;
        for (std::size_t i = 0; i < m.parts().size(); ++i) {
          std::smatch match;
          auto content = m.part_content(i);
          if (std::regex_search(content, match, pattern)) {
            found.push_back(match[1]);
            break;
          }
        }
      }
      if (found.size() >= nth) return found[nth - 1];
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "no email number " << nth << " matching the pattern to " << to;
    return {};
  }
  /// The token of the `nth` email to `to` whose link has `?<key>=` or `&<key>=`.
  std::string mailed(const std::string& to, const std::string& key, std::size_t nth = 1) {
    return mailed_match(to, std::regex("[?&]" + key + "=([A-Za-z0-9_-]+)"), nth);
  }

  /// Signs `email` up (with `profile` beside email and password), verifies through the mailed
  /// link and logs in: the login's answer.
  api_reply sign_up_and_log_in(const std::string& email, const std::string& password = k_api_password, boost::json::object profile = {}) {
    profile["email"] = email;
    profile["password"] = password;
    auto s = send("POST", "/auth/signup", profile);
    EXPECT_EQ(s.status, 201) << s.text;
    auto v = send("POST", "/auth/verify-email", {{"token", mailed(email, "token")}});
    EXPECT_EQ(v.status, 200) << v.text;
    auto l = send("POST", "/auth/login", {{"email", email}, {"password", password}});
    EXPECT_EQ(l.status, 200) << l.text;
    return l;
  }
  /// sign_up_and_log_in, then GET /me for the id.
  api_user sign_in(const std::string& email) {
    auto l = sign_up_and_log_in(email);
    api_user u{email, {}, l.status == 200 ? l.str("accessToken") : ""};
    auto me = call("GET", "/me", "", u.token);
    EXPECT_EQ(me.status, 200) << me.text;
    if (me.status == 200) u.id = me.str("id");
    return u;
  }
  /// A new user signed in, its email made unique from `tag`.
  api_user new_user(const std::string& tag) { return sign_in(unique_name(tag) + "@example.com"); }

  /// The first column of `sql`'s rows on the suite's database ("NULL" for null).
  std::vector<std::string> column(const std::string& sql) {
    if (!database_) {
      ADD_FAILURE() << "column() before use_database()";
      return {};
    }
    auto c = pg::connection::open(pg::connect_options{database_->url()});
    if (!c) {
      ADD_FAILURE() << c.err().message;
      return {};
    }
    auto rows = (*c)->exec(sql);
    if (!rows) {
      ADD_FAILURE() << sql << ": " << rows.err().message;
      return {};
    }
    std::vector<std::string> out;
    for (int i = 0; i < rows->size(); ++i) out.emplace_back(rows->is_null(i, 0) ? "NULL" : std::string(rows->get(i, 0)));
    return out;
  }

 private:
  scratch_database* database_ = nullptr;
};

}  // namespace flowtrack::test
