// A W3C WebDriver client for browser tests: starts chromedriver, drives one headless Chromium.
// Speaks the WebDriver endpoints over test::http_request; knows nothing of FlowTrack.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"

namespace flowtrack::test {

/// One element of the current page, as WebDriver names it; stale once the page changes.
struct web_element {
  std::string id;
};

/// A chromedriver child process with one headless Chromium session, ended (browser closed,
/// profile removed) at destruction.
///
/// Actions return a testing::AssertionResult, so `ASSERT_TRUE(browser.click(e))` prints the
/// WebDriver error; queries return nullopt on failure and error() says why.
class webdriver {
 public:
  webdriver() = default;
  ~webdriver();
  webdriver(const webdriver&) = delete;
  webdriver& operator=(const webdriver&) = delete;

  /// Finds chromedriver and chromium (PATH, then /usr/bin), starts chromedriver on a free port,
  /// waits for GET /status to say ready and opens a headless session. Fails, naming what is
  /// missing, when either binary is not installed (scripts/deps.sh installs both).
  testing::AssertionResult start(std::chrono::milliseconds timeout = std::chrono::seconds(60));

  /// Loads `url` and waits for the page to load.
  testing::AssertionResult navigate(const std::string& url);
  /// The first element matching a CSS selector (in `within` when given), without waiting.
  std::optional<web_element> find(const std::string& css);
  std::optional<web_element> find(const web_element& within, const std::string& css);
  /// Every element matching a CSS selector; empty when none (or on error).
  std::vector<web_element> find_all(const web_element& within, const std::string& css);
  /// Polls find(css) until an element matches or the timeout passes.
  std::optional<web_element> await_element(const std::string& css,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(15));

  /// Types `text` into an input or textarea (after what it already holds).
  testing::AssertionResult send_keys(const web_element& e, const std::string& text);
  /// Empties an input or textarea.
  testing::AssertionResult clear(const web_element& e);
  /// Clicks an element (scrolled into view first), as a user would.
  testing::AssertionResult click(const web_element& e);
  /// Chooses the <option> of a <select> whose visible text is `text`, by clicking it.
  testing::AssertionResult select_option(const web_element& select, const std::string& text);
  /// Runs JavaScript synchronously in the page; `args` are its `arguments` (a web_element is
  /// passed with element_arg()). Returns the script's value.
  std::optional<boost::json::value> execute(const std::string& script, const boost::json::array& args = {});
  /// A web_element as an argument of execute().
  static boost::json::value element_arg(const web_element& e);

  /// The element's rendered text.
  std::optional<std::string> text(const web_element& e);
  /// A DOM property of the element, as text (e.g. "value", "checked"); nullopt when null.
  std::optional<std::string> property(const web_element& e, const std::string& name);
  /// The current page's HTML as the browser holds it now.
  std::optional<std::string> page_source();
  /// The address of the current page.
  std::optional<std::string> current_url();
  /// The HTTP status of the response that loaded the current page (Navigation Timing).
  std::optional<int> response_status();

  /// Why the last failing call failed.
  const std::string& error() const { return error_; }
  /// chromedriver's output so far, for failure messages.
  std::string driver_log() const;

 private:
  // One WebDriver command: the reply's "value", or nullopt with error_ set.
  std::optional<boost::json::value> command(const std::string& method, const std::string& path,
                                            const boost::json::value& body = nullptr);
  std::string element_path(const web_element& e) const;
  testing::AssertionResult failed(const std::string& what);  // sets error_

  std::unique_ptr<child_process> driver_;
  int port_ = 0;
  std::string session_;
  std::string profile_dir_;
  std::string error_;
};

}  // namespace flowtrack::test
