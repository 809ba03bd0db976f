// A local stand-in for Google's and Microsoft's OAuth 2.0 and mail endpoints, speaking their
// protocols over real HTTP on 127.0.0.1 (port 0): an authorize endpoint that records the PKCE
// challenge and redirects with a code, a token endpoint (authorization_code checked against the
// S256 challenge, refresh_token with optional rotation, invalid_grant for a wrong verifier or a
// revoked grant), userinfo, revoke, Gmail users.messages.send (Bearer checked, raw decoded) and
// Graph sendMail (202). As Calendly (flavour::calendly): token answers also carry `owner` and
// `organization` (as auth.calendly.com's do), and POST /webhook_subscriptions (Bearer checked, the
// body's fields checked, 409 for a URL already subscribed, as Calendly does) records the
// subscription with its signing_key; DELETE /webhook_subscriptions/{uuid} (Bearer checked) removes
// one (204; 404 when unknown; 503 while set_refuse_subscription_deletes).
// A thread per connection; each answer closes its connection.
// Header-only; its users link flowtrack_crypto and Boost.JSON.
#pragma once

#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "crypto/base64url.hpp"
#include "crypto/pkce.hpp"

namespace flowtrack::test {

/// Google's or Microsoft's OAuth endpoints and mail API, in memory.
class fake_oauth_provider {
 public:
  /// A message a mail API took.
  struct sent_mail {
    std::string access_token;
    std::string raw;               ///< Gmail: the decoded RFC 5322 message
    boost::json::object graph;     ///< Graph: the sendMail body
  };

  /// Which provider it plays.
  enum class flavour { mail, calendly };

  /// A Calendly webhook subscription made at the fake.
  struct calendly_subscription {
    std::string uri;           ///< {base}/webhook_subscriptions/{n}: what the fake answered
    std::string url;           ///< where Calendly would post events
    std::vector<std::string> events;
    std::string organization, user, scope;
    std::string signing_key;   ///< what the subscriber chose
    std::string access_token;  ///< the token it was made with
  };

  /// `client_id`/`client_secret`: what the token endpoint accepts; `email`: the account's address.
  fake_oauth_provider(std::string client_id, std::string client_secret, std::string email, flavour f = flavour::mail)
      : client_id_(std::move(client_id)), client_secret_(std::move(client_secret)), email_(std::move(email)), flavour_(f),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~fake_oauth_provider() {
    stop_ = true;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)}, ec);
    accept_thread_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
  }
  fake_oauth_provider(const fake_oauth_provider&) = delete;
  fake_oauth_provider& operator=(const fake_oauth_provider&) = delete;

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string authorize_url() const { return base() + "/authorize"; }
  std::string token_url() const { return base() + "/token"; }
  std::string userinfo_url() const { return base() + "/userinfo"; }
  std::string revoke_url() const { return base() + "/revoke"; }
  std::string gmail_url() const { return base(); }            ///< + /gmail/v1/users/me/messages/send
  std::string graph_url() const { return base() + "/v1.0"; }  ///< + /me/sendMail
  int port() const { return port_; }
  /// Calendly: the API base (calendly_api_url), and the URIs its token answers name.
  std::string calendly_api_url() const { return base(); }
  std::string owner_uri() const { return base() + "/users/U" + std::to_string(port_); }
  std::string organization_uri() const { return base() + "/organizations/O" + std::to_string(port_); }
  /// Calendly: the subscriptions live now, in the order they were made.
  std::vector<calendly_subscription> subscriptions() const { std::lock_guard lock(mutex_); return subscriptions_; }
  /// Calendly: how many POST /webhook_subscriptions came (made or refused).
  int subscription_requests() const { std::lock_guard lock(mutex_); return subscription_requests_; }
  /// Calendly: the subscription URIs DELETE /webhook_subscriptions/{uuid} named (done or refused), in order.
  std::vector<std::string> subscription_deletes() const { std::lock_guard lock(mutex_); return deletes_; }
  /// Calendly: every DELETE /webhook_subscriptions/{uuid} from now on answers 503 (nothing deleted).
  void set_refuse_subscription_deletes(bool on) { std::lock_guard lock(mutex_); refuse_deletes_ = on; }

  /// Seconds of expires_in of the access tokens given from now on.
  void set_expires_in(int s) { std::lock_guard lock(mutex_); expires_in_ = s; }
  /// Whether a refresh gives a new refresh token (the old one then stops working).
  void set_rotate_refresh_tokens(bool on) { std::lock_guard lock(mutex_); rotate_ = on; }
  /// Every access token given so far is refused (401) from now on, as after a server-side expiry.
  void expire_access_tokens() {
    std::lock_guard lock(mutex_);
    for (auto& [t, g] : access_) g.valid = false;
  }
  /// Every grant is revoked: refresh tokens get invalid_grant, access tokens 401.
  void revoke_all() {
    std::lock_guard lock(mutex_);
    for (auto& [t, ok] : refresh_) ok = false;
    for (auto& [t, g] : access_) g.valid = false;
  }

  std::vector<sent_mail> sent() const { std::lock_guard lock(mutex_); return sent_; }
  int refreshes() const { std::lock_guard lock(mutex_); return refreshes_; }
  int code_exchanges() const { std::lock_guard lock(mutex_); return exchanges_; }
  std::vector<std::string> revoked_tokens() const { std::lock_guard lock(mutex_); return revoked_; }
  /// The refresh tokens given (in order) and whether each still works.
  std::map<std::string, bool> refresh_tokens() const { std::lock_guard lock(mutex_); return refresh_; }
  /// The access tokens given, in order.
  std::vector<std::string> access_tokens() const { std::lock_guard lock(mutex_); return access_order_; }
  /// The query of the last authorize request, decoded.
  std::map<std::string, std::string> last_authorize() const { std::lock_guard lock(mutex_); return last_authorize_; }
  /// The form of the last token request, decoded.
  std::map<std::string, std::string> last_token_request() const { std::lock_guard lock(mutex_); return last_token_; }

  /// application/x-www-form-urlencoded (or a query) decoded.
  static std::map<std::string, std::string> decode_form(std::string_view s) {
    std::map<std::string, std::string> out;
    std::size_t i = 0;
    while (i <= s.size() && !s.empty()) {
      auto amp = s.find('&', i);
      auto part = s.substr(i, amp == std::string_view::npos ? std::string_view::npos : amp - i);
      auto eq = part.find('=');
      out[unescape(part.substr(0, eq))] = eq == std::string_view::npos ? "" : unescape(part.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      i = amp + 1;
    }
    return out;
  }

 private:
  struct grant {
    std::string refresh;
    bool valid = true;
  };
  struct pending_code {
    std::string redirect_uri, challenge;
    bool used = false;
  };
  using request = boost::beast::http::request<boost::beast::http::string_body>;
  using response = boost::beast::http::response<boost::beast::http::string_body>;

  static std::string unescape(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') out += ' ';
      else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else out += s[i];
    }
    return out;
  }
  static std::string escape(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out += static_cast<char>(c);
      else { out += '%'; out += hex[c >> 4]; out += hex[c & 15]; }
    }
    return out;
  }

  void accept_loop() {
    while (!stop_) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) continue;
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
    }
  }

  void serve(boost::asio::ip::tcp::socket socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    request req;
    boost::system::error_code ec;
    http::read(socket, buf, req, ec);
    if (ec) return;
    response res = answer(req);
    res.version(req.version());
    res.keep_alive(false);
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  }

  static response json_answer(boost::beast::http::status st, const boost::json::value& v) {
    response r{st, 11};
    r.set(boost::beast::http::field::content_type, "application/json");
    r.body() = boost::json::serialize(v);
    return r;
  }
  static response oauth_error(const char* code) {
    return json_answer(boost::beast::http::status::bad_request, boost::json::object{{"error", code}, {"error_description", "refused by the fake"}});
  }

  // The bearer token of a request if it is a valid access token.
  std::optional<std::string> bearer(const request& req) {
    auto h = std::string(req[boost::beast::http::field::authorization]);
    if (h.rfind("Bearer ", 0) != 0) return std::nullopt;
    auto t = h.substr(7);
    auto it = access_.find(t);
    if (it == access_.end() || !it->second.valid) return std::nullopt;
    return t;
  }

  boost::json::object issue(const std::string& refresh) {
    std::string access = "at-" + std::to_string(++counter_) + "-" + std::to_string(port_);
    access_[access] = grant{refresh, true};
    access_order_.push_back(access);
    boost::json::object o{{"access_token", access}, {"token_type", "Bearer"}, {"expires_in", expires_in_}, {"scope", "email send"}};
    if (flavour_ == flavour::calendly) {
      o["scope"] = "default";
      o["created_at"] = 1764756000;
      o["owner"] = owner_uri();
      o["organization"] = organization_uri();
    }
    return o;
  }

  response answer(const request& req) {
    namespace http = boost::beast::http;
    std::lock_guard lock(mutex_);
    std::string target(req.target());
    auto q = target.find('?');
    std::string path = target.substr(0, q);
    if (req.method() == http::verb::get && path == "/authorize") {
      auto p = decode_form(q == std::string::npos ? "" : std::string_view(target).substr(q + 1));
      last_authorize_ = p;
      if (p["client_id"] != client_id_ || p["response_type"] != "code" || p["code_challenge_method"] != "S256" || p["code_challenge"].empty())
        return oauth_error("invalid_request");
      std::string code = "code-" + std::to_string(++counter_);
      codes_[code] = pending_code{p["redirect_uri"], p["code_challenge"], false};
      response r{http::status::found, 11};
      auto sep = p["redirect_uri"].find('?') == std::string::npos ? "?" : "&";
      r.set(http::field::location, p["redirect_uri"] + sep + "code=" + escape(code) + "&state=" + escape(p["state"]));
      return r;
    }
    const std::string subs = "/webhook_subscriptions";
    if (flavour_ == flavour::calendly && req.method() == http::verb::delete_ && path.rfind(subs + "/", 0) == 0) {
      deletes_.push_back(base() + path);
      if (refuse_deletes_) return json_answer(http::status::service_unavailable, boost::json::object{{"title", "Service Unavailable"}});
      if (!bearer(req)) return json_answer(http::status::unauthorized, boost::json::object{{"title", "Unauthenticated"}});
      for (auto it = subscriptions_.begin(); it != subscriptions_.end(); ++it)
        if (it->uri == base() + path) {
          subscriptions_.erase(it);
          return response{http::status::no_content, 11};
        }
      return json_answer(http::status::not_found, boost::json::object{{"title", "Resource Not Found"}});
    }
    if (req.method() != http::verb::post) return json_answer(http::status::method_not_allowed, boost::json::object{});
    if (flavour_ == flavour::calendly && path == subs) return subscribe(req);
    if (path == "/token") {
      auto f = decode_form(req.body());
      last_token_ = f;
      if (f["client_id"] != client_id_ || f["client_secret"] != client_secret_) {
        auto r = oauth_error("invalid_client");
        r.result(http::status::unauthorized);
        return r;
      }
      if (f["grant_type"] == "authorization_code") {
        ++exchanges_;
        auto it = codes_.find(f["code"]);
        if (it == codes_.end() || it->second.used || it->second.redirect_uri != f["redirect_uri"] ||
            crypto::pkce_s256_challenge(f["code_verifier"]) != it->second.challenge)
          return oauth_error("invalid_grant");
        it->second.used = true;
        std::string refresh = "rt-" + std::to_string(++counter_) + "-" + std::to_string(port_);
        refresh_[refresh] = true;
        auto o = issue(refresh);
        o["refresh_token"] = refresh;
        return json_answer(http::status::ok, o);
      }
      if (f["grant_type"] == "refresh_token") {
        ++refreshes_;
        auto it = refresh_.find(f["refresh_token"]);
        if (it == refresh_.end() || !it->second) return oauth_error("invalid_grant");
        std::string refresh = f["refresh_token"];
        boost::json::object o;
        if (rotate_) {
          it->second = false;
          refresh = "rt-" + std::to_string(++counter_) + "-" + std::to_string(port_);
          refresh_[refresh] = true;
          o = issue(refresh);
          o["refresh_token"] = refresh;
        } else {
          o = issue(refresh);
        }
        return json_answer(http::status::ok, o);
      }
      return oauth_error("unsupported_grant_type");
    }
    if (path == "/userinfo") {
      if (!bearer(req)) return json_answer(http::status::unauthorized, boost::json::object{{"error", "invalid_token"}});
      return json_answer(http::status::ok, boost::json::object{{"sub", "user-" + std::to_string(port_)}, {"email", email_}});
    }
    if (path == "/revoke") {
      auto f = decode_form(req.body());
      revoked_.push_back(f["token"]);
      if (refresh_.count(f["token"])) refresh_[f["token"]] = false;
      for (auto& [t, g] : access_)
        if (g.refresh == f["token"] || t == f["token"]) g.valid = false;
      return json_answer(http::status::ok, boost::json::object{});
    }
    if (path == "/gmail/v1/users/me/messages/send") {
      auto t = bearer(req);
      if (!t) return json_answer(http::status::unauthorized, boost::json::object{{"error", boost::json::object{{"code", 401}}}});
      boost::system::error_code ec;
      auto v = boost::json::parse(req.body(), ec);
      if (ec || !v.is_object() || !v.as_object().contains("raw") || !v.at("raw").is_string())
        return json_answer(http::status::bad_request, boost::json::object{{"error", "no raw"}});
      auto raw = crypto::base64url_decode(std::string(v.at("raw").as_string()));
      if (!raw) return json_answer(http::status::bad_request, boost::json::object{{"error", "raw is not base64url"}});
      sent_.push_back(sent_mail{*t, *raw, {}});
      return json_answer(http::status::ok, boost::json::object{{"id", "msg-" + std::to_string(sent_.size())}, {"threadId", "t1"}});
    }
    if (path == "/v1.0/me/sendMail") {
      auto t = bearer(req);
      if (!t) return json_answer(http::status::unauthorized, boost::json::object{{"error", boost::json::object{{"code", "InvalidAuthenticationToken"}}}});
      boost::system::error_code ec;
      auto v = boost::json::parse(req.body(), ec);
      if (ec || !v.is_object() || !v.as_object().contains("message"))
        return json_answer(http::status::bad_request, boost::json::object{{"error", "no message"}});
      sent_.push_back(sent_mail{*t, {}, v.as_object()});
      response r{http::status::accepted, 11};
      return r;
    }
    return json_answer(http::status::not_found, boost::json::object{});
  }

  // POST /webhook_subscriptions as Calendly answers it (called under mutex_).
  response subscribe(const request& req) {
    namespace http = boost::beast::http;
    ++subscription_requests_;
    auto t = bearer(req);
    if (!t) return json_answer(http::status::unauthorized, boost::json::object{{"title", "Unauthenticated"}, {"message", "bad token"}});
    boost::system::error_code ec;
    auto v = boost::json::parse(req.body(), ec);
    auto invalid = [&](const char* m) {
      return json_answer(http::status::bad_request, boost::json::object{{"title", "Invalid Argument"}, {"message", m}});
    };
    if (ec || !v.is_object()) return invalid("the body is not JSON");
    const auto& o = v.as_object();
    auto str = [&](const char* k) -> std::string {
      auto* x = o.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    calendly_subscription sub{"", str("url"), {}, str("organization"), str("user"), str("scope"), str("signing_key"), *t};
    if (auto* e = o.if_contains("events"); e && e->is_array())
      for (const auto& x : e->as_array())
        if (x.is_string()) sub.events.emplace_back(x.as_string());
    if (sub.url.rfind("http", 0) != 0) return invalid("url is required");
    if (sub.events.empty()) return invalid("events is required");
    if (sub.organization != organization_uri()) return invalid("organization is not the token's organization");
    if (sub.scope != "user" && sub.scope != "organization") return invalid("scope must be user or organization");
    if (sub.scope == "user" && sub.user != owner_uri()) return invalid("user is not the token's owner");
    for (const auto& existing : subscriptions_)
      if (existing.url == sub.url)
        return json_answer(http::status::conflict, boost::json::object{{"title", "Already Exists"},
                                                                       {"message", "Hook with this url already exists"}});
    sub.uri = base() + "/webhook_subscriptions/S" + std::to_string(++counter_);
    subscriptions_.push_back(sub);
    boost::json::array events;
    for (const auto& e : sub.events) events.emplace_back(e);
    return json_answer(http::status::created,
                       boost::json::object{{"resource", boost::json::object{{"uri", sub.uri},
                                                                             {"callback_url", sub.url},
                                                                             {"events", std::move(events)},
                                                                             {"scope", sub.scope},
                                                                             {"organization", sub.organization},
                                                                             {"user", sub.user},
                                                                             {"state", "active"}}}});
  }

  std::string client_id_, client_secret_, email_;
  flavour flavour_ = flavour::mail;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::thread> workers_;
  int counter_ = 0, expires_in_ = 3600, refreshes_ = 0, exchanges_ = 0, subscription_requests_ = 0;
  std::vector<calendly_subscription> subscriptions_;
  std::vector<std::string> deletes_;
  bool rotate_ = false, refuse_deletes_ = false;
  std::map<std::string, pending_code> codes_;
  std::map<std::string, bool> refresh_;
  std::map<std::string, grant> access_;
  std::vector<std::string> access_order_, revoked_;
  std::vector<sent_mail> sent_;
  std::map<std::string, std::string> last_authorize_, last_token_;
  std::thread accept_thread_;
};

}  // namespace flowtrack::test
