// The public form in headless Chromium against a running node: a visitor fills and submits
// /p/{slug}; the lead, its field data and its execution land in PostgreSQL.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"
#include "tests/support/webdriver.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
using test::cli;

// One field of every type the form renders, in display order.
const char* k_graph = R"({"name":"Contact us","status":"active","nodes":[
  {"id":"t","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":1},"data":{"status":"NEW_FROM_FORM"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"s"},{"id":"2","source":"s","target":"e"}],
 "formFields":[
  {"fieldKey":"email","label":"Email","fieldType":"EMAIL","isRequired":true,"displayOrder":1,
   "placeholder":"you@example.com"},
  {"fieldKey":"name","label":"Name","fieldType":"TEXT","isRequired":true,"displayOrder":2,
   "validationRules":{"minLength":2,"maxLength":80}},
  {"fieldKey":"message","label":"Message","fieldType":"TEXTAREA","isRequired":false,"displayOrder":3,
   "helpText":"What can we do for you?","validationRules":{"maxLength":500}},
  {"fieldKey":"size","label":"Company size","fieldType":"DROPDOWN","options":["Small","Large"],
   "isRequired":true,"displayOrder":4},
  {"fieldKey":"budget","label":"Budget","fieldType":"NUMBER","isRequired":false,"displayOrder":5,
   "validationRules":{"min":0,"max":1000000}},
  {"fieldKey":"start_date","label":"Start date","fieldType":"DATE","isRequired":false,"displayOrder":6},
  {"fieldKey":"newsletter","label":"Send me the newsletter","fieldType":"CHECKBOX","isRequired":false,
   "displayOrder":7}]})";

// A date input takes typed keys in the browser's locale order; setting its value as the date
// picker does (value, then input and change events) is locale-proof.
const char* k_set_date = R"(const e = arguments[0];
e.value = arguments[1];
e.dispatchEvent(new Event('input', {bubbles: true}));
e.dispatchEvent(new Event('change', {bubbles: true}));
return e.value;)";

class browser_e2etest : public testing::Test {
 protected:
  void SetUp() override {
    slug_ = test::unique_slug("form");
    cli("workspace create --name Forms --slug " + slug_ + " --owner-email owner@" + slug_ + ".example.com");
    file_ = "/tmp/" + slug_ + ".json";
    std::ofstream(file_) << k_graph;
    workflow_ = cli("workflow import --workspace " + slug_ + " " + file_);
    ASSERT_FALSE(workflow_.empty());

    port_ = test::free_port();
    node_ = std::make_unique<test::child_process>(
        std::vector<std::string>{test::flowtrackd(), "serve"},
        std::map<std::string, std::string>{{"FLOWTRACK_DATABASE_URL", test::database_url()},
                                           {"FLOWTRACK_REDIS_URL", test::redis_url()},
                                           {"FLOWTRACK_HTTP_LISTEN", "127.0.0.1:" + std::to_string(port_)},
                                           {"FLOWTRACK_ADMIN_LISTEN", "127.0.0.1:" + std::to_string(test::free_port())},
                                           {"FLOWTRACK_SMTP_LISTEN", "127.0.0.1:" + std::to_string(test::free_port())}});
    ASSERT_TRUE(test::await_http_status(port_, "/healthz", 200, 20s)) << node_->log();
    ASSERT_TRUE(browser_.start());

    auto c = pg::connection::open(pg::connect_options{test::database_url()});
    ASSERT_TRUE(c.ok()) << c.err().message;
    db_ = std::move(*c);
  }

  void TearDown() override {
    if (node_) {
      node_->signal(SIGTERM);
      EXPECT_EQ(node_->wait(15s).value_or(-1), 0) << node_->log();
    }
    std::remove(file_.c_str());
  }

  std::string form_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/p/" + slug_; }

  // Opens the form and checks it is the page the contract describes.
  void open_form() {
    ASSERT_TRUE(browser_.navigate(form_url()));
    EXPECT_EQ(browser_.response_status(), 200) << browser_.error();
    ASSERT_TRUE(browser_.find("form[method='post'][action='/p/" + slug_ + "']"))
        << browser_.error() << "\n" << browser_.page_source().value_or("");
  }

  // The control of a field, by the id the form gives it.
  test::web_element field(const std::string& key) {
    auto e = browser_.find("#field-" + key);
    EXPECT_TRUE(e) << browser_.error();
    return e.value_or(test::web_element{});
  }

  // The field's current value as the browser would submit it.
  std::string value_of(const std::string& key) { return browser_.property(field(key), "value").value_or("<null>"); }

  void type(const std::string& key, const std::string& text) { EXPECT_TRUE(browser_.send_keys(field(key), text)); }

  void set_date(const std::string& key, const std::string& iso) {
    auto v = browser_.execute(k_set_date, {test::webdriver::element_arg(field(key)), boost::json::value(iso)});
    ASSERT_TRUE(v) << browser_.error();
    EXPECT_EQ(*v, boost::json::value(iso)) << "the date input refused " << iso;
  }

  // The lead of this workflow with `email`: {id, name, source, status}, or empty when there is none.
  std::vector<std::string> lead(const std::string& email) {
    auto r = db_->exec("SELECT id::text, COALESCE(name, ''), source, status FROM leads WHERE workflow_id = $1::uuid AND email = $2",
                       pg::params{}.add(workflow_).add(email));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    if (!r.ok() || r->size() != 1) return {};
    return {std::string(r->get(0, 0)), std::string(r->get(0, 1)), std::string(r->get(0, 2)), std::string(r->get(0, 3))};
  }

  std::vector<std::string> await_lead(const std::string& email) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    for (;;) {
      auto l = lead(email);
      if (!l.empty() || std::chrono::steady_clock::now() > deadline) return l;
      std::this_thread::sleep_for(20ms);
    }
  }

  // field_key -> stored value of a lead's form data.
  std::map<std::string, std::string> field_data(const std::string& lead_id) {
    std::map<std::string, std::string> out;
    auto r = db_->exec("SELECT f.field_key, d.value FROM lead_field_data d JOIN form_fields f ON f.id = d.form_field_id "
                       "WHERE d.lead_id = $1::uuid",
                       pg::params{}.add(lead_id));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    if (!r.ok()) return out;
    for (int i = 0; i < r->size(); ++i) out[std::string(r->get(i, 0))] = std::string(r->get(i, 1));
    return out;
  }

  // The lead's executions as "trigger_type status", once each has ended or the deadline passed.
  std::vector<std::string> await_executions(const std::string& lead_id) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    std::vector<std::string> out;
    for (;;) {
      out.clear();
      bool ended = true;
      auto r = db_->exec("SELECT trigger_type, status FROM workflow_executions WHERE lead_id = $1::uuid ORDER BY created_at",
                         pg::params{}.add(lead_id));
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
      if (!r.ok()) return out;
      for (int i = 0; i < r->size(); ++i) {
        std::string status(r->get(i, 1));
        ended = ended && (status == "completed" || status == "failed" || status == "cancelled");
        out.push_back(std::string(r->get(i, 0)) + " " + status);
      }
      if ((!out.empty() && ended) || std::chrono::steady_clock::now() > deadline) return out;
      std::this_thread::sleep_for(20ms);
    }
  }

  std::string slug_;
  std::string file_;
  std::string workflow_;
  int port_ = 0;
  std::unique_ptr<test::child_process> node_;
  test::webdriver browser_;  // after node_: the browser closes before the node stops
  std::unique_ptr<pg::connection> db_;
};

TEST_F(browser_e2etest, a_visitor_fills_every_field_and_the_lead_runs_the_workflow) {
  ASSERT_NO_FATAL_FAILURE(open_form());
  type("email", "ada@example.com");
  type("name", "Ada Lovelace");
  type("message", "Numbers & engines: 50% off? <yes> \"quoted\" caf\xc3\xa9");
  ASSERT_TRUE(browser_.select_option(field("size"), "Large"));
  type("budget", "2500");
  ASSERT_NO_FATAL_FAILURE(set_date("start_date", "2026-03-15"));
  ASSERT_TRUE(browser_.click(field("newsletter")));
  EXPECT_EQ(browser_.property(field("newsletter"), "checked"), "true") << browser_.error();

  // Every field passes the browser's own validation: the form is really submittable.
  auto valid = browser_.execute("return document.getElementById('field-email').form.checkValidity();");
  ASSERT_TRUE(valid) << browser_.error();
  EXPECT_EQ(*valid, boost::json::value(true));

  auto submit = browser_.find("#submit");
  ASSERT_TRUE(submit) << browser_.error();
  ASSERT_TRUE(browser_.click(*submit));
  auto thanks = browser_.await_element("#thank-you");
  ASSERT_TRUE(thanks) << browser_.error() << "\n" << browser_.page_source().value_or("");
  EXPECT_EQ(browser_.text(*thanks).value_or("").rfind("Thank you", 0), 0u) << browser_.text(*thanks).value_or("");
  EXPECT_EQ(browser_.response_status(), 200) << browser_.error();

  auto l = await_lead("ada@example.com");
  ASSERT_EQ(l.size(), 4u) << "no lead for ada@example.com in workflow " << workflow_ << "\n" << node_->log();
  EXPECT_EQ(l[1], "Ada Lovelace");
  EXPECT_EQ(l[2], "FORM");
  std::map<std::string, std::string> expected{{"email", "ada@example.com"},
                                              {"name", "Ada Lovelace"},
                                              {"message", "Numbers & engines: 50% off? <yes> \"quoted\" caf\xc3\xa9"},
                                              {"size", "Large"},
                                              {"budget", "2500"},
                                              {"start_date", "2026-03-15"},
                                              {"newsletter", "true"}};
  EXPECT_EQ(field_data(l[0]), expected);
  EXPECT_EQ(await_executions(l[0]), std::vector<std::string>{"FORM_SUBMIT completed"}) << node_->log();
  EXPECT_EQ(lead("ada@example.com").at(3), "NEW_FROM_FORM") << "the workflow's status step did not run";
}

TEST_F(browser_e2etest, a_missing_required_field_comes_back_with_its_error_and_the_typed_values) {
  ASSERT_NO_FATAL_FAILURE(open_form());
  // The page carries HTML5 validation; the browser itself blocks the empty required name.
  auto no_validate = browser_.execute("return document.getElementById('field-name').form.noValidate;");
  ASSERT_TRUE(no_validate) << browser_.error();
  EXPECT_EQ(*no_validate, boost::json::value(false)) << "the form must let the browser validate";

  const std::string message = "He said \"hi\" <b>&amp;</b> caf\xc3\xa9";
  type("email", "grace@example.com");
  type("message", message);
  ASSERT_TRUE(browser_.select_option(field("size"), "Small"));
  type("budget", "120");
  ASSERT_NO_FATAL_FAILURE(set_date("start_date", "2026-12-01"));
  ASSERT_TRUE(browser_.click(field("newsletter")));

  auto missing = browser_.execute("return document.getElementById('field-name').validity.valueMissing;");
  ASSERT_TRUE(missing) << browser_.error();
  EXPECT_EQ(*missing, boost::json::value(true)) << "the name field is not marked required";
  ASSERT_TRUE(browser_.click(*browser_.find("#submit")));
  EXPECT_FALSE(browser_.find("#error-name")) << "the browser submitted a form with an empty required field";
  EXPECT_EQ(browser_.response_status(), 200) << browser_.error();

  // With the browser's validation off, the server's answers.
  ASSERT_TRUE(browser_.execute("document.getElementById('field-name').form.noValidate = true; return true;"))
      << browser_.error();
  ASSERT_TRUE(browser_.click(*browser_.find("#submit")));
  auto error = browser_.await_element("#error-name");
  ASSERT_TRUE(error) << browser_.error() << "\n" << browser_.page_source().value_or("");
  EXPECT_EQ(browser_.response_status(), 422) << browser_.error();
  EXPECT_NE(browser_.text(*error).value_or("").find("Name"), std::string::npos)
      << "the error does not name the field: " << browser_.text(*error).value_or("");
  EXPECT_FALSE(browser_.find("#error-email")) << "a valid field got an error";

  // "Next to the field": on screen, the error sits below the email field and above the message
  // field, whatever the markup.
  auto placed = browser_.execute(R"(const top = id => document.getElementById(id).getBoundingClientRect();
const err = top('error-name'), email = top('field-email'), msg = top('field-message');
return err.height > 0 && err.top >= email.bottom && err.bottom <= msg.top;)");
  ASSERT_TRUE(placed) << browser_.error();
  EXPECT_EQ(*placed, boost::json::value(true)) << "the name error is not shown by the name field\n"
                                               << browser_.page_source().value_or("");

  EXPECT_EQ(value_of("email"), "grace@example.com");
  EXPECT_EQ(value_of("name"), "");
  EXPECT_EQ(value_of("message"), message);
  EXPECT_EQ(value_of("size"), "Small");
  EXPECT_EQ(value_of("budget"), "120");
  EXPECT_EQ(value_of("start_date"), "2026-12-01");
  EXPECT_EQ(browser_.property(field("newsletter"), "checked"), "true") << browser_.error();
  EXPECT_TRUE(lead("grace@example.com").empty()) << "a rejected submission stored a lead";

  // The visitor fixes the name on the returned page and sends it again, validated by the browser.
  type("name", "Grace Hopper");
  ASSERT_TRUE(browser_.click(*browser_.find("#submit")));
  auto thanks = browser_.await_element("#thank-you");
  ASSERT_TRUE(thanks) << browser_.error() << "\n" << browser_.page_source().value_or("");
  auto l = await_lead("grace@example.com");
  ASSERT_EQ(l.size(), 4u) << node_->log();
  EXPECT_EQ(l[1], "Grace Hopper");
  auto data = field_data(l[0]);
  EXPECT_EQ(data["message"], message);
  EXPECT_EQ(data["newsletter"], "true");
  EXPECT_EQ(data["start_date"], "2026-12-01");
  EXPECT_EQ(await_executions(l[0]), std::vector<std::string>{"FORM_SUBMIT completed"}) << node_->log();
}

}  // namespace
}  // namespace flowtrack
