// The WebDriver client: chromedriver as a child process, W3C commands as JSON over test::http_request.
#include "tests/support/webdriver.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include <boost/json.hpp>

namespace flowtrack::test {
namespace json = boost::json;
namespace {

using namespace std::chrono_literals;

// The key under which WebDriver passes element references (W3C WebDriver, "web element identifier").
constexpr const char* k_element_key = "element-6066-11e4-a52e-4f735466cecf";

// Page loads and script runs are bounded by the session's timeouts (set in start()); an HTTP
// exchange with chromedriver may take as long as the longest of them.
constexpr auto k_page_load_timeout = 30s;
constexpr auto k_script_timeout = 10s;
constexpr auto k_command_timeout = 45s;

// The first executable `name` in PATH, else in /usr/bin; empty when there is none.
std::string locate(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string p = path;
    for (std::size_t start = 0;;) {
      auto colon = p.find(':', start);
      dirs.push_back(p.substr(start, colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  dirs.emplace_back("/usr/bin");
  for (const auto& d : dirs) {
    if (d.empty()) continue;
    std::string candidate = d + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// chromedriver's messages end with "(Session info: ...)" and driver details: keep the first line.
std::string first_line(std::string_view s) { return std::string(s.substr(0, s.find('\n'))); }

}  // namespace

webdriver::~webdriver() {
  if (!session_.empty()) {
    // Ending the session closes Chromium; killing chromedriver alone would orphan the browser.
    http_request(port_, "DELETE", "/session/" + session_, "", {}, 20s);
  }
  if (driver_) {
    driver_->signal(SIGTERM);
    driver_->wait(5s);  // still running: child_process kills it
    driver_.reset();
  }
  if (!profile_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(profile_dir_, ec);
  }
}

testing::AssertionResult webdriver::failed(const std::string& what) {
  error_ = what;
  return testing::AssertionFailure() << what;
}

testing::AssertionResult webdriver::start(std::chrono::milliseconds timeout) {
  const std::string driver = locate("chromedriver");
  const std::string chromium = locate("chromium");
  if (driver.empty() || chromium.empty()) {
    return failed(std::string(driver.empty() ? "chromedriver" : "chromium") +
                  " is not installed (looked in PATH and /usr/bin): the browser tests need the Debian packages "
                  "chromium and chromium-driver, which scripts/deps.sh installs");
  }
  char dir[] = "/tmp/ft-chromium.XXXXXX";
  if (::mkdtemp(dir) == nullptr) return failed("cannot create a Chromium profile directory under /tmp");
  profile_dir_ = dir;

  auto deadline = std::chrono::steady_clock::now() + timeout;
  port_ = free_port();
  driver_ = std::make_unique<child_process>(std::vector<std::string>{driver, "--port=" + std::to_string(port_)},
                                            std::map<std::string, std::string>{});
  for (;;) {
    if (auto code = driver_->wait(0ms)) {
      return failed("chromedriver exited with " + std::to_string(*code) + " before it was ready: " + driver_log());
    }
    auto status = http_request(port_, "GET", "/status", "", {}, 2s);
    if (status.status == 200) {
      json::error_code ec;
      auto v = json::parse(status.body, ec);
      auto* ready = ec ? nullptr : v.find_pointer("/value/ready", ec);
      if (ready != nullptr && ready->is_bool() && ready->as_bool()) break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return failed("chromedriver on port " + std::to_string(port_) + " was not ready in time: " + driver_log());
    }
    std::this_thread::sleep_for(50ms);
  }

  json::array args{"--headless=new",
                   "--no-sandbox",  // tests run as root in containers, where the sandbox cannot start
                   "--disable-gpu",
                   "--disable-dev-shm-usage",
                   "--disable-background-networking",
                   "--disable-extensions",
                   "--no-first-run",
                   "--user-data-dir=" + profile_dir_};
  json::object chrome_options{{"binary", chromium}, {"args", std::move(args)}};
  json::object always_match{{"browserName", "chrome"}, {"goog:chromeOptions", std::move(chrome_options)}};
  json::object capabilities{{"capabilities", json::object{{"alwaysMatch", std::move(always_match)}}}};
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  auto reply = http_request(port_, "POST", "/session", json::serialize(capabilities),
                            {{"Content-Type", "application/json"}}, std::max(left, std::chrono::milliseconds(5s)));
  json::error_code ec;
  auto v = reply.status == 0 ? json::value() : json::parse(reply.body, ec);
  auto* id = (ec || reply.status != 200) ? nullptr : v.find_pointer("/value/sessionId", ec);
  if (id == nullptr || !id->is_string()) {
    auto* message = v.is_object() ? v.find_pointer("/value/message", ec) : nullptr;
    return failed("chromedriver could not start " + chromium + ": " +
                  (message && message->is_string() ? first_line(message->as_string())
                                                   : "HTTP " + std::to_string(reply.status) + " " + reply.body) +
                  "\n" + driver_log());
  }
  session_ = std::string(id->as_string());

  json::object timeouts{{"pageLoad", std::chrono::milliseconds(k_page_load_timeout).count()},
                        {"script", std::chrono::milliseconds(k_script_timeout).count()},
                        {"implicit", 0}};
  if (!command("POST", "/timeouts", timeouts)) return failed("setting the session's timeouts: " + error_);
  return testing::AssertionSuccess();
}

std::optional<json::value> webdriver::command(const std::string& method, const std::string& path,
                                              const json::value& body) {
  if (session_.empty()) {
    error_ = "no WebDriver session: call start() first";
    return std::nullopt;
  }
  std::string target = "/session/" + session_ + path;
  // POST commands carry a JSON object even when they take no parameters.
  std::string payload = method == "POST" ? json::serialize(body.is_null() ? json::value(json::object{}) : body) : "";
  auto reply = http_request(port_, method, target, payload, {{"Content-Type", "application/json"}}, k_command_timeout);
  if (reply.status == 0) {
    error_ = method + " " + path + ": no answer from chromedriver";
    return std::nullopt;
  }
  json::error_code ec;
  auto v = json::parse(reply.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("value")) {
    error_ = method + " " + path + ": HTTP " + std::to_string(reply.status) + ", not a WebDriver reply: " + reply.body;
    return std::nullopt;
  }
  json::value value = v.as_object().at("value");
  if (reply.status != 200) {
    std::string what = "HTTP " + std::to_string(reply.status);
    if (auto* o = value.if_object()) {
      if (auto* e = o->if_contains("error"); e && e->is_string()) what = std::string(e->as_string());
      if (auto* m = o->if_contains("message"); m && m->is_string()) {
        // chromedriver's message usually repeats the error code first ("no such element: ...").
        std::string message = first_line(m->as_string());
        what = message.rfind(what, 0) == 0 ? message : what + ": " + message;
      }
    }
    error_ = method + " " + path + ": " + what;
    return std::nullopt;
  }
  return value;
}

std::string webdriver::element_path(const web_element& e) const { return "/element/" + e.id; }

json::value webdriver::element_arg(const web_element& e) { return json::object{{k_element_key, e.id}}; }

testing::AssertionResult webdriver::navigate(const std::string& url) {
  if (!command("POST", "/url", json::object{{"url", url}})) return failed(error_);
  return testing::AssertionSuccess();
}

namespace {

std::optional<web_element> element_of(const json::value& v) {
  auto* o = v.if_object();
  auto* id = o ? o->if_contains(k_element_key) : nullptr;
  if (id == nullptr || !id->is_string()) return std::nullopt;
  return web_element{std::string(id->as_string())};
}

}  // namespace

std::optional<web_element> webdriver::find(const std::string& css) {
  auto v = command("POST", "/element", json::object{{"using", "css selector"}, {"value", css}});
  if (!v) return std::nullopt;
  auto e = element_of(*v);
  if (!e) error_ = "find " + css + ": not an element: " + json::serialize(*v);
  return e;
}

std::optional<web_element> webdriver::find(const web_element& within, const std::string& css) {
  auto v = command("POST", element_path(within) + "/element", json::object{{"using", "css selector"}, {"value", css}});
  if (!v) return std::nullopt;
  auto e = element_of(*v);
  if (!e) error_ = "find " + css + ": not an element: " + json::serialize(*v);
  return e;
}

std::vector<web_element> webdriver::find_all(const web_element& within, const std::string& css) {
  std::vector<web_element> out;
  auto v = command("POST", element_path(within) + "/elements", json::object{{"using", "css selector"}, {"value", css}});
  if (!v || !v->is_array()) return out;
  for (const auto& item : v->as_array()) {
    if (auto e = element_of(item)) out.push_back(std::move(*e));
  }
  return out;
}

std::optional<web_element> webdriver::await_element(const std::string& css, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto e = find(css)) return e;
    if (std::chrono::steady_clock::now() > deadline) {
      error_ = "no element matched " + css + " within " + std::to_string(timeout.count()) + " ms (" + error_ + ")";
      return std::nullopt;
    }
    std::this_thread::sleep_for(50ms);
  }
}

testing::AssertionResult webdriver::send_keys(const web_element& e, const std::string& text) {
  if (!command("POST", element_path(e) + "/value", json::object{{"text", text}})) return failed(error_);
  return testing::AssertionSuccess();
}

testing::AssertionResult webdriver::clear(const web_element& e) {
  if (!command("POST", element_path(e) + "/clear")) return failed(error_);
  return testing::AssertionSuccess();
}

testing::AssertionResult webdriver::click(const web_element& e) {
  if (!command("POST", element_path(e) + "/click")) return failed(error_);
  return testing::AssertionSuccess();
}

testing::AssertionResult webdriver::select_option(const web_element& select, const std::string& text) {
  std::vector<std::string> seen;
  for (const auto& option : find_all(select, "option")) {
    auto t = this->text(option);
    if (!t) return failed(error_);
    if (*t == text) return click(option);
    seen.push_back("\"" + *t + "\"");
  }
  std::string list;
  for (const auto& s : seen) list += (list.empty() ? "" : ", ") + s;
  return failed("the select has no option \"" + text + "\" (it has " + (list.empty() ? "none" : list) + ")");
}

std::optional<json::value> webdriver::execute(const std::string& script, const json::array& args) {
  return command("POST", "/execute/sync", json::object{{"script", script}, {"args", args}});
}

std::optional<std::string> webdriver::text(const web_element& e) {
  auto v = command("GET", element_path(e) + "/text");
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    error_ = "element text is not a string: " + json::serialize(*v);
    return std::nullopt;
  }
  return std::string(v->as_string());
}

std::optional<std::string> webdriver::property(const web_element& e, const std::string& name) {
  auto v = command("GET", element_path(e) + "/property/" + name);
  if (!v) return std::nullopt;
  if (v->is_null()) {
    error_ = "property " + name + " is null";
    return std::nullopt;
  }
  return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
}

std::optional<std::string> webdriver::page_source() {
  auto v = command("GET", "/source");
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<std::string> webdriver::current_url() {
  auto v = command("GET", "/url");
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<int> webdriver::response_status() {
  auto v = execute("const n = performance.getEntriesByType('navigation'); return n.length ? n[0].responseStatus : null;");
  if (!v) return std::nullopt;
  if (!v->is_number()) {
    error_ = "the page has no navigation entry with a response status: " + json::serialize(*v);
    return std::nullopt;
  }
  return v->to_number<int>();
}

std::string webdriver::driver_log() const { return driver_ ? driver_->log() : std::string(); }

}  // namespace flowtrack::test
