// The public form against a running node with real PostgreSQL and Redis: rendering, every field
// type and rule through both encodings, hostile input (malformed, oversized, slow, invalid
// UTF-8, injection), duplicates, the honeypot, rate limits, redirects, 404s and /metrics.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <thread>

#include <boost/json.hpp>

#include "storage/pg/connection.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;
using test::cli;
namespace json = boost::json;

// Every field type, with a rule of each kind.
const char* k_quote_form = R"({"name":"Get a quote","status":"active",
 "settings":{"form":{"slug":"quote","description":"Tell us about your project.","thankYou":"Thanks, we will call you."}},
 "nodes":[{"id":"t","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},
          {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":1},"data":{"status":"QUOTE_REQUESTED"}},
          {"id":"e","type":"LOGIC_END","position":{"x":0,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"s"},{"id":"2","source":"s","target":"e"}],
 "formFields":[
  {"fieldKey":"email","label":"Email","fieldType":"EMAIL","isRequired":true,"displayOrder":1,"placeholder":"you@example.com"},
  {"fieldKey":"name","label":"Full name","fieldType":"TEXT","isRequired":true,"displayOrder":2,"validationRules":{"minLength":2,"maxLength":60}},
  {"fieldKey":"company","label":"Company","fieldType":"TEXT","isRequired":false,"displayOrder":3},
  {"fieldKey":"zip","label":"Postcode","fieldType":"TEXT","isRequired":false,"displayOrder":4,"validationRules":{"pattern":"[0-9]{5}"}},
  {"fieldKey":"budget","label":"Budget","fieldType":"NUMBER","isRequired":false,"displayOrder":5,"validationRules":{"min":100,"max":100000},"helpText":"In euros"},
  {"fieldKey":"size","label":"Team size","fieldType":"DROPDOWN","isRequired":true,"displayOrder":6,"options":["1-10","11-50","51+"]},
  {"fieldKey":"start","label":"Start date","fieldType":"DATE","isRequired":false,"displayOrder":7,"validationRules":{"min":"2020-01-01"}},
  {"fieldKey":"notes","label":"Notes","fieldType":"TEXTAREA","isRequired":false,"displayOrder":8,"validationRules":{"maxLength":500}},
  {"fieldKey":"consent","label":"You may contact me","fieldType":"CHECKBOX","isRequired":true,"displayOrder":9}]})";

const char* k_small_form = R"({"name":"%NAME%","status":"active","bookingUrl":%BOOKING%,
 "settings":{"form":{"slug":"%SLUG%"}},
 "nodes":[{"id":"t","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},{"id":"e","type":"LOGIC_END","position":{"x":0,"y":1},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"e"}],
 "formFields":[{"fieldKey":"email","label":"Email","fieldType":"EMAIL","isRequired":true,"displayOrder":1}]})";

std::string import(const std::string& slug, std::string graph) {
  std::string file = "/tmp/" + slug + "-" + std::to_string(std::rand()) + ".json";
  std::ofstream(file) << graph;
  std::string id = cli("workflow import --workspace " + slug + " " + file);
  std::remove(file.c_str());
  return id;
}

std::string small_form(const std::string& name, const std::string& form_slug, const std::string& booking) {
  std::string g = k_small_form;
  auto put = [&](const std::string& key, const std::string& v) { g.replace(g.find(key), key.size(), v); };
  put("%NAME%", name);
  put("%SLUG%", form_slug);
  put("%BOOKING%", booking.empty() ? "null" : "\"" + booking + "\"");
  return g;
}

// This suite's node settings over the common ones (tests/support/node_process.hpp).
struct node_process : test::node_process {
  explicit node_process(const settings& extra = {}) : test::node_process({{"FLOWTRACK_HTTP_HEADER_TIMEOUT_MS", "1500"}, {"FLOWTRACK_HTTP_BODY_TIMEOUT_MS", "1500"}, {"FLOWTRACK_FORM_RATE_LIMIT", "1000"}}, extra) {}
};

const std::map<std::string, std::string> k_json{{"Content-Type", "application/json"}};
const std::map<std::string, std::string> k_urlencoded{{"Content-Type", "application/x-www-form-urlencoded"}};

class forms_e2etest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    slug_ = new std::string(test::unique_slug("forms"));
    cli("workspace create --name " + test::shell_quote("Acme & Sons") + " --slug " + *slug_ + " --owner-email owner@" + *slug_ +
        ".example.com --plan enterprise");
    quote_id_ = new std::string(import(*slug_, k_quote_form));
    node_ = new node_process();
    db_ = pg::connection::open(pg::connect_options{test::database_url()}).value().release();
  }
  static void TearDownTestSuite() {
    delete node_;
    delete db_;
    delete slug_;
    delete quote_id_;
  }

  static int port() { return node_->port; }
  static std::string path() { return "/p/" + *slug_; }

  static test::http_reply post_json(const std::string& body) { return test::http_request(port(), "POST", path(), body, k_json); }
  static test::http_reply post_form(const std::string& body) { return test::http_request(port(), "POST", path(), body, k_urlencoded); }

  // The first field error of a JSON error body.
  static std::string first_error_field(const test::http_reply& r) {
    auto v = json::parse(r.body);
    const auto& fields = v.at("error").at("fields").as_array();
    return fields.empty() ? "" : std::string(fields[0].at("field").as_string());
  }

  static std::string one(const std::string& sql, const std::string& arg) {
    auto r = db_->exec(sql, pg::params{}.add(arg));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    return r.ok() && r->size() > 0 ? std::string(r->get(0, 0)) : std::string("<none>");
  }

  // The public answer names only its submission (the lead event); the lead and the run are
  // found from it.
  static std::string submission_of(const test::http_reply& r) {
    auto v = json::parse(r.body).as_object();
    EXPECT_EQ(v.size(), 2u) << r.body;
    EXPECT_EQ(v.at("status"), "accepted") << r.body;
    return std::string(v.at("submissionId").as_string());
  }
  static std::string lead_of(const test::http_reply& r) {
    return one("SELECT lead_id FROM lead_events WHERE id = $1::uuid", submission_of(r));
  }
  static std::string execution_of(const test::http_reply& r) {
    return one("SELECT COALESCE(metadata->>'executionId', '<none>') FROM lead_events WHERE id = $1::uuid", submission_of(r));
  }

  static std::string await_status(const std::string& execution) {
    std::string status;
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (status != "completed" && std::chrono::steady_clock::now() < deadline) {
      status = one("SELECT status FROM workflow_executions WHERE id = $1::uuid", execution);
      std::this_thread::sleep_for(20ms);
    }
    return status;
  }

  static inline std::string* slug_ = nullptr;
  static inline std::string* quote_id_ = nullptr;
  static inline node_process* node_ = nullptr;
  static inline pg::connection* db_ = nullptr;
};

TEST_F(forms_e2etest, the_page_shows_every_field_type_in_order_without_javascript) {
  auto r = test::http_request(port(), "GET", path());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_FALSE(r.headers["x-request-id"].empty());
  const auto& h = r.body;
  EXPECT_NE(h.find("<h1>Get a quote</h1>"), std::string::npos);
  EXPECT_NE(h.find("Acme &amp; Sons"), std::string::npos);
  EXPECT_NE(h.find("Tell us about your project."), std::string::npos);
  EXPECT_NE(h.find("action=\"" + path() + "\""), std::string::npos);
  std::size_t at = 0;
  for (std::string control : {"<input type=\"email\" id=\"field-email\"", "<input type=\"text\" id=\"field-name\"",
                              "<input type=\"text\" id=\"field-company\"", "<input type=\"text\" id=\"field-zip\"",
                              "<input type=\"number\" id=\"field-budget\"", "<select id=\"field-size\"",
                              "<input type=\"date\" id=\"field-start\"", "<textarea rows=\"5\" id=\"field-notes\"",
                              "<input type=\"checkbox\" value=\"true\" id=\"field-consent\""}) {
    auto next = h.find(control);
    ASSERT_NE(next, std::string::npos) << control;
    EXPECT_GT(next, at) << control << " is out of order";
    at = next;
  }
  EXPECT_NE(h.find("<label for=\"field-name\">Full name <span class=\"req\" aria-hidden=\"true\">*</span>"), std::string::npos);
  EXPECT_NE(h.find("<label for=\"field-company\">Company</label>"), std::string::npos) << "optional: no mark";
  EXPECT_NE(h.find("placeholder=\"you@example.com\""), std::string::npos);
  EXPECT_NE(h.find("<p class=\"help\" id=\"help-budget\">In euros</p>"), std::string::npos);
  EXPECT_NE(h.find("<option value=\"51+\">51+</option>"), std::string::npos);
  EXPECT_NE(h.find("pattern=\"[0-9]{5}\""), std::string::npos);
  EXPECT_NE(h.find("min=\"100\" max=\"100000\""), std::string::npos);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  // The same form under its own name.
  EXPECT_EQ(test::http_request(port(), "GET", path() + "/quote").status, 200);
  EXPECT_EQ(test::http_request(port(), "GET", path() + "/" + *quote_id_).status, 200);
}

TEST_F(forms_e2etest, every_rule_refuses_bad_values_naming_the_field) {
  const std::string base = R"("email":"rules@example.com","name":"Rita","size":"1-10","consent":true)";
  struct bad_case {
    std::string fields;  // JSON members replacing or adding to the base
    std::string field;
  };
  for (const auto& c : std::vector<bad_case>{
           {R"("email":"not-an-email")", "email"},
           {R"("email":"")", "email"},
           {R"("name":"R")", "name"},
           {R"("name":")" + std::string(61, 'x') + "\"", "name"},
           {R"("zip":"1234a")", "zip"},
           {R"("budget":"lots")", "budget"},
           {R"("budget":99)", "budget"},
           {R"("budget":100001)", "budget"},
           {R"("size":"huge")", "size"},
           {R"("size":"")", "size"},
           {R"("start":"2019-12-31")", "start"},
           {R"("start":"31/12/2024")", "start"},
           {R"("notes":")" + std::string(501, 'n') + "\"", "notes"},
           {R"("consent":false)", "consent"},
           {R"("company":["a","b"])", "company"}}) {
    // Later members win in Boost.JSON objects, so the case overrides the base.
    auto r = post_json("{" + base + "," + c.fields + "}");
    EXPECT_EQ(r.status, 422) << c.fields << ": " << r.body;
    if (r.status == 422) {
      EXPECT_EQ(first_error_field(r), c.field) << c.fields << ": " << r.body;
    }
  }
  // Several at once: every one is named.
  auto many = post_json(R"({"email":"x","name":"","size":"?"})");
  ASSERT_EQ(many.status, 422);
  EXPECT_EQ(json::parse(many.body).at("error").at("fields").as_array().size(), 4u) << many.body;
}

TEST_F(forms_e2etest, a_good_submission_is_stored_typed_and_runs) {
  auto r = post_json(R"({"email":"Good.Lead@Example.com","name":"Gail Good","company":"Good Ltd","zip":"10115","budget":"2500.50",
                         "size":"11-50","start":"2027-03-01","notes":"Two floors.\nCall after 5.","consent":"on","extra":"ignored"})");
  ASSERT_EQ(r.status, 202) << r.body;
  std::string execution = execution_of(r), lead = lead_of(r);
  EXPECT_EQ(await_status(execution), "completed");
  EXPECT_EQ(one("SELECT email || '|' || name || '|' || company_name || '|' || source || '|' || status FROM leads WHERE id = $1::uuid", lead),
            "Good.Lead@Example.com|Gail Good|Good Ltd|FORM|QUOTE_REQUESTED");
  auto data = db_->exec("SELECT f.field_key, d.value FROM lead_field_data d JOIN form_fields f ON f.id = d.form_field_id "
                        "WHERE d.lead_id = $1::uuid ORDER BY f.display_order",
                        pg::params{}.add(lead));
  ASSERT_TRUE(data.ok());
  std::vector<std::string> got;
  for (int i = 0; i < data->size(); ++i) got.push_back(std::string(data->get(i, 0)) + "=" + std::string(data->get(i, 1)));
  EXPECT_EQ(got, (std::vector<std::string>{"email=Good.Lead@Example.com", "name=Gail Good", "company=Good Ltd", "zip=10115",
                                           "budget=2500.50", "size=11-50", "start=2027-03-01",
                                           "notes=Two floors.\nCall after 5.", "consent=true"}));
  EXPECT_EQ(one("SELECT trigger_type FROM workflow_executions WHERE id = $1::uuid", execution), "FORM_SUBMIT");
  EXPECT_EQ(one("SELECT count(*) FROM lead_events WHERE lead_id = $1::uuid AND event_type = 'FORM_SUBMITTED'", lead), "1");
  EXPECT_EQ(one("SELECT source_metadata->>'ip' FROM leads WHERE id = $1::uuid", lead), "127.0.0.1");
}

TEST_F(forms_e2etest, a_browser_post_gets_the_page_again_with_errors_and_values_then_thanks) {
  auto bad = post_form("email=nope&name=Ben+%3Cb%3E&size=1-10&notes=%3Cscript%3Ealert(1)%3C%2Fscript%3E&budget=5");
  ASSERT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(bad.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(bad.body.find("<p class=\"error\" id=\"error-email\">Email must be an email address</p>"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("<p class=\"error\" id=\"error-budget\">Budget must be at least 100</p>"), std::string::npos);
  EXPECT_NE(bad.body.find("<p class=\"error\" id=\"error-consent\">You may contact me must be checked</p>"), std::string::npos);
  EXPECT_NE(bad.body.find("value=\"nope\""), std::string::npos) << "values are kept";
  EXPECT_NE(bad.body.find("value=\"Ben &lt;b&gt;\""), std::string::npos);
  EXPECT_NE(bad.body.find("<option value=\"1-10\" selected>"), std::string::npos);
  EXPECT_NE(bad.body.find("&lt;script&gt;alert(1)&lt;/script&gt;</textarea>"), std::string::npos);
  EXPECT_EQ(bad.body.find("<script>"), std::string::npos);

  auto good = post_form("email=browser%40example.com&name=Bea+Browser&size=51%2B&consent=true");
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_NE(good.body.find("<h1 id=\"thank-you\">Thank you</h1>"), std::string::npos);
  EXPECT_NE(good.body.find("Thanks, we will call you."), std::string::npos);
  EXPECT_EQ(one("SELECT count(*) FROM leads l JOIN workspaces w ON w.id = l.workspace_id WHERE w.slug = $1 AND l.email = 'browser@example.com'", *slug_), "1");
}

TEST_F(forms_e2etest, hostile_bodies_get_clear_errors) {
  auto malformed = post_json(R"({"email": )");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(first_error_field(malformed), "body");
  EXPECT_EQ(post_json(R"(["email"])").status, 422);
  auto text = test::http_request(port(), "POST", path(), "email=a@b.co", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(text.status, 415);
  EXPECT_NE(text.body.find("\"field\":\"Content-Type\""), std::string::npos) << text.body;
  EXPECT_EQ(test::http_request(port(), "POST", path(), "x", {{"Content-Type", "multipart/form-data; boundary=x"}}).status, 415);
  auto big = post_form("email=big%40example.com&notes=" + std::string(2 * 1024 * 1024, 'a'));
  EXPECT_EQ(big.status, 413) << big.body.substr(0, 200);
  auto bad_escape = post_form("email=%zz");
  EXPECT_EQ(bad_escape.status, 400);
  // Invalid UTF-8: a form value names its field; in JSON the body is not JSON.
  auto latin1 = post_form("email=u%40example.com&name=Jos%E9&size=1-10&consent=true");
  EXPECT_EQ(latin1.status, 422);
  EXPECT_NE(latin1.body.find("id=\"error-name\">Full name must be valid UTF-8 text"), std::string::npos) << latin1.body;
  EXPECT_EQ(post_json("{\"email\":\"u@example.com\",\"name\":\"Jos\xe9\"}").status, 400);
  auto nul = post_json(R"({"email":"n@example.com","name":"a\u0000b","size":"1-10","consent":true})");
  EXPECT_EQ(nul.status, 422);
  EXPECT_EQ(first_error_field(nul), "name");
  EXPECT_EQ(test::http_request(port(), "PUT", path(), "{}", k_json).status, 405);
  // Nothing of the above was stored.
  EXPECT_EQ(one("SELECT count(*) FROM leads l JOIN workspaces w ON w.id = l.workspace_id WHERE w.slug = $1 "
                "AND l.email IN ('big@example.com', 'u@example.com', 'n@example.com')", *slug_), "0");
}

TEST_F(forms_e2etest, injection_is_stored_verbatim_and_rendered_escaped) {
  const std::string sql = "'); DROP TABLE leads; --", html = "<img src=x onerror=alert(1)>\"'&";
  json::object sub{{"email", "inject@example.com"}, {"name", sql}, {"company", html}, {"notes", sql + html},
                   {"size", "1-10"}, {"consent", true}};
  auto r = post_json(json::serialize(sub));
  ASSERT_EQ(r.status, 202) << r.body;
  std::string lead = lead_of(r);
  EXPECT_EQ(one("SELECT name FROM leads WHERE id = $1::uuid", lead), sql);
  EXPECT_EQ(one("SELECT company_name FROM leads WHERE id = $1::uuid", lead), html);
  EXPECT_EQ(one("SELECT d.value FROM lead_field_data d JOIN form_fields f ON f.id = d.form_field_id WHERE d.lead_id = $1::uuid AND f.field_key = 'notes'", lead),
            sql + html);
  EXPECT_EQ(one("SELECT count(*) FROM leads WHERE id = $1::uuid", lead), "1") << "the table is still there";
  // Shown back (a bad email keeps the page up): escaped in every field.
  auto page = post_form("email=x&name=" + std::string("%3Cimg+src%3Dx+onerror%3Dalert(1)%3E") + "&company=%27%3B+DROP+TABLE+leads%3B--");
  ASSERT_EQ(page.status, 422);
  EXPECT_NE(page.body.find("value=\"&lt;img src=x onerror=alert(1)&gt;\""), std::string::npos);
  EXPECT_NE(page.body.find("value=\"&#39;; DROP TABLE leads;--\""), std::string::npos);
  EXPECT_EQ(page.body.find("<img"), std::string::npos);
}

TEST_F(forms_e2etest, a_duplicate_submission_gets_the_same_answer_keeps_the_lead_and_starts_no_second_run) {
  auto first = post_json(R"({"email":"twice@example.com","name":"Tess Twice","size":"1-10","consent":true})");
  auto second = post_json(R"({"email":"twice@example.com","name":"Mallory","company":"Evil Corp","size":"51+","consent":true})");
  ASSERT_EQ(first.status, 202) << first.body;
  ASSERT_EQ(second.status, 202) << second.body;
  // Both answers have the same shape: nothing tells the second sender the email was a lead.
  std::string a = submission_of(first), b = submission_of(second);
  EXPECT_NE(a, b);
  std::string lead = lead_of(first);
  EXPECT_EQ(lead_of(second), lead);
  EXPECT_NE(execution_of(first), "<none>");
  EXPECT_EQ(execution_of(second), "<none>");
  EXPECT_EQ(one("SELECT count(*) FROM workflow_executions WHERE lead_id = $1::uuid", lead), "1");
  // The lead keeps what it had and gains what it lacked; the second sender's values are recorded.
  EXPECT_EQ(one("SELECT name || '|' || company_name FROM leads WHERE id = $1::uuid", lead), "Tess Twice|Evil Corp");
  EXPECT_EQ(one("SELECT d.value FROM lead_field_data d JOIN form_fields f ON f.id = d.form_field_id WHERE d.lead_id = $1::uuid"
                " AND f.field_key = 'size'", lead), "1-10");
  EXPECT_EQ(one("SELECT event_type || '|' || (metadata->'submitted'->>'name') || '|' || (metadata->'submitted'->'fields'->>'size')"
                " FROM lead_events WHERE id = $1::uuid", b), "FORM_RESUBMITTED|Mallory|51+");
  EXPECT_EQ(one("SELECT event_type FROM lead_events WHERE id = $1::uuid", a), "FORM_SUBMITTED");
}

TEST_F(forms_e2etest, the_honeypot_stores_nothing) {
  auto bot = post_form("email=bot%40example.com&name=Bot+Bot&size=1-10&consent=true&ft_website=http%3A%2F%2Fspam.example");
  EXPECT_EQ(bot.status, 200);
  EXPECT_NE(bot.body.find("id=\"thank-you\""), std::string::npos) << "a bot sees success";
  auto api = post_json(R"({"email":"bot@example.com","name":"Bot","size":"1-10","consent":true,"ft_website":"x"})");
  EXPECT_EQ(api.status, 422);
  EXPECT_EQ(api.body.find("ft_website"), std::string::npos) << "the hidden field is not named: " << api.body;
  EXPECT_EQ(first_error_field(api), "");
  const std::string in_workspace = "SELECT count(*) FROM leads l JOIN workspaces w ON w.id = l.workspace_id WHERE w.slug = $1 AND l.email = ";
  EXPECT_EQ(one(in_workspace + "'bot@example.com'", *slug_), "0");
  auto person = post_form("email=person%40example.com&name=Pat+Person&size=1-10&consent=true&ft_website=");
  EXPECT_EQ(person.status, 200) << "an empty honeypot is a person";
  EXPECT_EQ(one(in_workspace + "'person@example.com'", *slug_), "1");
}

TEST_F(forms_e2etest, unknown_or_inactive_forms_get_a_friendly_404) {
  for (const std::string& p : {"/p/no-such-workspace-" + std::to_string(std::rand()), std::string("/p/Bad_Slug!"),
                               path() + "/no-such-form", std::string("/p/")}) {
    auto r = test::http_request(port(), "GET", p);
    EXPECT_EQ(r.status, 404) << p;
    EXPECT_NE(r.body.find("<h1>Form not found</h1>"), std::string::npos) << p << ": " << r.body;
  }
  auto unknown = test::http_request(port(), "POST", "/p/no-such-workspace-x", R"({"email":"x@example.com"})", k_json);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("\"code\":\"not_found\""), std::string::npos) << unknown.body;
}

TEST_F(forms_e2etest, a_workspace_with_several_forms_lists_them_and_redirects_to_booking) {
  std::string slug = test::unique_slug("multi");
  cli("workspace create --name Multi --slug " + slug + " --owner-email owner@" + slug + ".example.com --plan enterprise");
  import(slug, small_form("Book a call", "book", "https://cal.example.com/acme?src=form"));
  std::string news = import(slug, small_form("Newsletter", "news", ""));
  auto index = test::http_request(port(), "GET", "/p/" + slug);
  ASSERT_EQ(index.status, 200) << index.body;
  EXPECT_NE(index.body.find("<a href=\"/p/" + slug + "/book\">Book a call</a>"), std::string::npos) << index.body;
  EXPECT_NE(index.body.find("<a href=\"/p/" + slug + "/news\">Newsletter</a>"), std::string::npos);
  auto booked = test::http_request(port(), "POST", "/p/" + slug + "/book", "email=booker%40example.com", k_urlencoded);
  EXPECT_EQ(booked.status, 303) << booked.body;
  EXPECT_EQ(booked.headers["location"], "https://cal.example.com/acme?src=form");
  auto ambiguous = test::http_request(port(), "POST", "/p/" + slug, "email=who%40example.com", k_urlencoded);
  EXPECT_EQ(ambiguous.status, 404);
  // A paused form disappears once the node reads workflows again (within the refresh interval).
  cli("workflow pause " + news);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (status != 404 && std::chrono::steady_clock::now() < deadline) {
    status = test::http_request(port(), "GET", "/p/" + slug + "/news").status;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status, 404);
}

// A socket and 0, or -1 and the errno of a refused connection to 127.0.0.1:port.
std::pair<int, int> try_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return {fd, 0};
  int error = errno;
  ::close(fd);
  return {-1, error};
}

int connect_to(int port) {
  auto [fd, error] = try_connect(port);
  EXPECT_EQ(error, 0);
  return fd;
}

// Everything the server sends on `fd` until it closes or `budget` passes.
std::string read_all(int fd, std::chrono::milliseconds budget) {
  std::string got;
  auto end = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// Connects, sends `head` at once, then one byte a second of `drip`; returns what the server sent
// and how long it took to close (or the time budget).
std::pair<std::string, std::chrono::milliseconds> trickle(int port, const std::string& head, const std::string& drip,
                                                          std::chrono::milliseconds budget) {
  int fd = connect_to(port);
  auto start = std::chrono::steady_clock::now();
  if (!head.empty()) (void)::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  std::string got;
  std::size_t next = 0;
  while (std::chrono::steady_clock::now() - start < budget) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) > 0) {
      char buf[4096];
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;  // closed
      got.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (next < drip.size() && ::send(fd, &drip[next++], 1, MSG_NOSIGNAL) < 0) break;
  }
  ::close(fd);
  return {got, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)};
}

TEST_F(forms_e2etest, a_client_sending_one_byte_a_second_is_cut_off) {
  // The header a byte a second: cut at the header timeout (1.5 s here), not served forever.
  auto [header_reply, header_took] = trickle(port(), "", "POST " + path() + " HTTP/1.1\r\nHost: x\r\n\r\n", 20s);
  EXPECT_EQ(header_reply.rfind("HTTP/1.1 408", 0), 0u) << header_reply;
  EXPECT_LT(header_took, 6s);
  // A whole header, then the body a byte a second.
  auto [body_reply, body_took] = trickle(port(), "POST " + path() + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n",
                                         R"({"email":"slow@example.com","name":"Slow","size":"1-10"})", 20s);
  EXPECT_EQ(body_reply.rfind("HTTP/1.1 408", 0), 0u) << body_reply;
  EXPECT_LT(body_took, 6s);
  EXPECT_EQ(test::http_request(port(), "GET", "/healthz").status, 200) << "the server still serves others";
}

TEST_F(forms_e2etest, metrics_count_form_requests_and_triggers) {
  auto ok = post_json(R"({"email":"metrics@example.com","name":"Mia","size":"1-10","consent":true})");
  ASSERT_EQ(ok.status, 202);
  EXPECT_EQ(await_status(execution_of(ok)), "completed");
  EXPECT_EQ(post_json(R"({"email":"metrics@example.com"})").status, 422);
  const std::vector<std::string> want{"flowtrack_http_requests_total{route=\"form\",status=\"202\"}",
                             "flowtrack_http_request_duration_seconds_bucket{route=\"form\",status=\"202\",le=\"+Inf\"}",
                             "flowtrack_triggers_accepted_total{trigger=\"form\"}",
                             "flowtrack_triggers_rejected_total{trigger=\"form\",reason=\"invalid\"}",
                             "flowtrack_step_duration_seconds_count{node_type=\"TRIGGER_FORM\"}",
                             "flowtrack_executions_total{status=\"completed\"}", "flowtrack_pg_pool_connections{state=\"busy\"}",
                             "flowtrack_queue_depth{queue=\"executions\"}", "flowtrack_redis_job_duration_seconds_count",
                             "flowtrack_http_open_connections"};
  // The run's own counters land just after its commit: scrape until they are there.
  test::http_reply m;
  auto missing = [&] {
    for (const auto& series : want)
      if (m.body.find(series) == std::string::npos) return series;
    return std::string();
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    m = test::http_request(node_->admin_port, "GET", "/metrics");
  } while (!missing().empty() && std::chrono::steady_clock::now() < deadline && (std::this_thread::sleep_for(50ms), true));
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(missing(), "") << m.body;
}

TEST(forms_rate_e2etest, submissions_over_the_per_ip_and_per_form_limits_get_429) {
  std::string slug = test::unique_slug("rate");
  cli("workspace create --name Rate --slug " + slug + " --owner-email owner@" + slug + ".example.com --plan enterprise");
  import(slug, small_form("Per IP", "ip", ""));
  import(slug, small_form("Per form", "all", ""));
  {
    node_process node({{"FLOWTRACK_FORM_RATE_LIMIT", "2"}, {"FLOWTRACK_FORM_RATE_LIMIT_PER_FORM", "1000"}});
    for (int i = 0; i < 2; ++i)
      EXPECT_EQ(test::http_request(node.port, "POST", "/p/" + slug + "/ip", "email=ip" + std::to_string(i) + "%40example.com", k_urlencoded).status, 200);
    auto limited = test::http_request(node.port, "POST", "/p/" + slug + "/ip", R"({"email":"ip3@example.com"})", k_json);
    EXPECT_EQ(limited.status, 429) << limited.body;
    int retry = std::atoi(limited.headers["retry-after"].c_str());
    EXPECT_GE(retry, 1);
    EXPECT_LE(retry, 60);
    EXPECT_NE(limited.body.find("\"code\":\"rate_limited\""), std::string::npos);
    auto page = test::http_request(node.port, "POST", "/p/" + slug + "/ip", "email=ip4%40example.com", k_urlencoded);
    EXPECT_EQ(page.status, 429);
    EXPECT_NE(page.body.find("Too many submissions"), std::string::npos);
  }
  {
    node_process node({{"FLOWTRACK_FORM_RATE_LIMIT", "100"}, {"FLOWTRACK_FORM_RATE_LIMIT_PER_FORM", "3"}});
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(test::http_request(node.port, "POST", "/p/" + slug + "/all", R"({"email":"f)" + std::to_string(i) + R"(@example.com"})", k_json).status, 202);
    EXPECT_EQ(test::http_request(node.port, "POST", "/p/" + slug + "/all", R"({"email":"f9@example.com"})", k_json).status, 429);
  }
  {
    node_process node({{"FLOWTRACK_FORM_RATE_LIMIT", "0"}, {"FLOWTRACK_FORM_RATE_LIMIT_PER_FORM", "3"}});
    EXPECT_EQ(test::http_request(node.port, "POST", "/p/" + slug + "/all", R"({"email":"off@example.com"})", k_json).status, 202)
        << "0 turns both limits off";
  }
  auto db = pg::connection::open(pg::connect_options{test::database_url()});
  ASSERT_TRUE(db.ok());
  auto n = (*db)->exec("SELECT count(*) FROM leads l JOIN workspaces w ON w.id = l.workspace_id WHERE w.slug = $1", pg::params{}.add(slug));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->get(0, 0), "6") << "2 per IP + 3 per form + 1 unlimited; nothing over a limit stored";
}

}  // namespace
}  // namespace flowtrack

namespace flowtrack {
namespace {

TEST(forms_server_e2etest, a_connection_over_the_limit_gets_503_and_the_rest_are_served) {
  node_process node(std::map<std::string, std::string>{{"FLOWTRACK_HTTP_MAX_CONNECTIONS", "3"}});
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(connect_to(node.port));
  std::this_thread::sleep_for(300ms);  // accepted and counted
  int extra = connect_to(node.port);
  std::string busy = read_all(extra, 3s);
  ::close(extra);
  EXPECT_EQ(busy.rfind("HTTP/1.1 503", 0), 0u) << busy;
  EXPECT_NE(busy.find("Retry-After: 1"), std::string::npos) << busy;
  EXPECT_NE(busy.find("\"code\":\"unavailable\""), std::string::npos) << busy;
  // A held connection is served; once one closes, a new one is too.
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(held[0], get.data(), get.size(), MSG_NOSIGNAL), static_cast<ssize_t>(get.size()));
  EXPECT_EQ(read_all(held[0], 3s).rfind("HTTP/1.1 200", 0), 0u);
  for (int fd : held) ::close(fd);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(test::http_request(node.port, "GET", "/healthz").status, 200);
}

TEST(forms_server_e2etest, sigterm_finishes_a_request_in_flight_and_the_access_log_has_it) {
  std::string slug = test::unique_slug("drain");
  cli("workspace create --name Drain --slug " + slug + " --owner-email owner@" + slug + ".example.com --plan enterprise");
  import(slug, small_form("Drain", "drain", ""));
  auto node = std::make_unique<node_process>(std::map<std::string, std::string>{{"FLOWTRACK_HTTP_BODY_TIMEOUT_MS", "10000"}});
  ASSERT_EQ(test::http_request(node->port, "GET", "/p/" + slug).status, 200) << "the node knows the form";
  const std::string body = R"({"email":"drain@example.com"})";
  int fd = connect_to(node->port);
  std::string head = "POST /p/" + slug + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 5);
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::this_thread::sleep_for(300ms);
  node->process->signal(SIGTERM);  // mid-body
  std::this_thread::sleep_for(500ms);
  std::string rest = body.substr(5);
  ASSERT_EQ(::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL), static_cast<ssize_t>(rest.size()));
  std::string reply = read_all(fd, 10s);
  ::close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 202", 0), 0u) << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
  auto [late, refused] = try_connect(node->port);
  if (late >= 0) ::close(late);
  EXPECT_NE(refused, 0) << "no new connections after SIGTERM";
  EXPECT_EQ(node->process->wait(15s).value_or(-1), 0) << node->process->log();
  std::string log = node->process->log();
  EXPECT_NE(log.find("127.0.0.1 \"POST /p/" + slug + "\" 202"), std::string::npos) << log;
  EXPECT_NE(log.find("127.0.0.1 \"GET /p/" + slug + "\" 200"), std::string::npos) << log;
  node->process.reset();
  auto db = pg::connection::open(pg::connect_options{test::database_url()});
  ASSERT_TRUE(db.ok());
  auto n = (*db)->exec("SELECT count(*) FROM leads l JOIN workspaces w ON w.id = l.workspace_id WHERE w.slug = $1", pg::params{}.add(slug));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->get(0, 0), "1") << "the accepted submission is stored";
}

}  // namespace
}  // namespace flowtrack

namespace flowtrack {
namespace {

TEST_F(forms_e2etest, head_gets_the_page_header_without_a_body_and_the_connection_stays_usable) {
  int fd = connect_to(port());
  std::string two = "HEAD " + path() + " HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, two.data(), two.size(), MSG_NOSIGNAL), static_cast<ssize_t>(two.size()));
  std::string got = read_all(fd, 5s);
  ::close(fd);
  ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  auto header_end = got.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos);
  std::string head = got.substr(0, header_end);
  EXPECT_NE(head.find("Content-Type: text/html; charset=utf-8"), std::string::npos) << head;
  auto length = head.find("Content-Length: ");
  ASSERT_NE(length, std::string::npos) << head;
  EXPECT_GT(std::atoi(head.c_str() + length + 16), 1000) << "the GET page's length";
  // No body follows: the next bytes are the second answer.
  EXPECT_EQ(got.substr(header_end + 4, 12), "HTTP/1.1 200") << got.substr(header_end + 4, 200);
  EXPECT_NE(got.find(R"({"status":"ok"})"), std::string::npos);
}

}  // namespace
}  // namespace flowtrack
