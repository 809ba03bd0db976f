// The run-graph command through its library function, with files in a temp directory.
#include "adapters/cli/run_graph_command.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/test_env.hpp"

namespace flowtrack::cli {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

class run_graph : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / flowtrack::test::unique_name("run_graph");
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
  int run(std::vector<std::string> args) {
    out.str("");
    err.str("");
    return run_graph_command(args, out, err);
  }
  std::ostringstream out, err;
};

constexpr const char* k_workflow = R"({"nodes":[
  {"id":"form","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},
  {"id":"budget","type":"LOGIC_CONDITION","position":{"x":0,"y":100},
   "data":{"field":"budget","operator":">=","value":5000,"trueHandle":"qualified","falseHandle":"rejected"}},
  {"id":"welcome","type":"ACTION_SEND_EMAIL","position":{"x":0,"y":200},
   "data":{"emailSubject":"Welcome {{lead.name | default:\"there\"}}","emailBody":"Hi"}},
  {"id":"qualify","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":300},"data":{"status":"QUALIFIED"}},
  {"id":"wait","type":"LOGIC_DELAY","position":{"x":200,"y":200},"data":{"delayDays":3}},
  {"id":"followup","type":"ACTION_SEND_EMAIL","position":{"x":200,"y":300},"data":{"emailSubject":"Still there?","emailBody":"x"}}],
 "edges":[{"id":"e1","source":"form","target":"budget"},
  {"id":"e2","source":"budget","target":"welcome","sourceHandle":"qualified"},
  {"id":"e3","source":"welcome","target":"qualify"},
  {"id":"e4","source":"budget","target":"wait","sourceHandle":"rejected"},
  {"id":"e5","source":"wait","target":"followup"}]})";

TEST_F(run_graph, prints_the_path_and_steps_of_a_qualified_lead) {
  const auto wf = write("wf.json", k_workflow);
  const auto lead = write("lead.json", R"({"email":"a@b.co","name":"Ada","fields":{"budget":7500}})");
  ASSERT_EQ(run({wf, "--lead", lead, "--now", "2025-03-07T09:00:00Z"}), 0) << err.str();
  const json::value v = json::parse(out.str());
  EXPECT_EQ(v.at("status"), "completed");
  EXPECT_EQ(v.at("path"), json::parse(R"(["form","budget","welcome","qualify"])"));
  EXPECT_EQ(v.at("steps").as_array()[2].at("output").at("subject"), "Welcome Ada");
  EXPECT_EQ(v.at("steps").as_array()[2].at("type"), "ACTION_SEND_EMAIL");
  EXPECT_TRUE(v.at("parkedUntil").is_null());
}

TEST_F(run_graph, reports_delays_with_their_resume_time_in_the_workspace_zone) {
  const auto wf = write("wf.json", k_workflow);
  const auto lead = write("lead.json", R"({"email":"a@b.co","fields":{"budget":"100"}})");
  const auto trig = write("trigger.json", R"({"utm":"x"})");
  ASSERT_EQ(run({wf, "--lead", lead, "--trigger", trig, "--now", "2025-03-07T09:00:00", "--tz", "America/New_York"}), 0)
      << err.str();
  const json::value v = json::parse(out.str());
  EXPECT_EQ(v.at("path"), json::parse(R"(["form","budget","wait","followup"])"));
  EXPECT_EQ(v.at("parkedUntil"), "2025-03-10T13:00:00Z");
}

TEST_F(run_graph, prints_problems_and_exits_2_for_an_invalid_graph) {
  const auto wf = write("wf.json", R"({"nodes":[{"id":"a","type":"ACTION_SEND_EMAIL","data":{}}],"edges":[]})");
  const auto lead = write("lead.json", R"({"email":"a@b.co"})");
  ASSERT_EQ(run({wf, "--lead", lead}), 2);
  const json::value v = json::parse(out.str());
  EXPECT_EQ(v.at("status"), "invalid");
  std::set<std::string> codes;
  for (const auto& p : v.at("problems").as_array()) codes.insert(std::string(p.at("code").as_string()));
  EXPECT_TRUE(codes.count("no_trigger"));
  EXPECT_TRUE(codes.count("missing_subject"));
  EXPECT_TRUE(codes.count("missing_body"));
  const auto shape = write("shape.json", R"({"nodes":[{"type":"TRIGGER_FORM"}]})");
  EXPECT_EQ(run({shape, "--lead", lead}), 2);
  EXPECT_NE(out.str().find("invalid_graph_json"), std::string::npos);
}

TEST_F(run_graph, exits_1_with_a_clear_message_for_bad_input) {
  const auto wf = write("wf.json", k_workflow);
  const auto lead = write("lead.json", R"({"email":"a@b.co"})");
  const auto broken = write("broken.json", R"({"email": )");
  const auto no_email = write("noemail.json", R"({"name":"x"})");
  EXPECT_EQ(run({wf}), 1);
  EXPECT_NE(err.str().find("--lead"), std::string::npos);
  EXPECT_EQ(run({(dir / "missing.json").string(), "--lead", lead}), 1);
  EXPECT_NE(err.str().find("missing.json"), std::string::npos);
  EXPECT_EQ(run({wf, "--lead", broken}), 1);
  EXPECT_NE(err.str().find("broken.json"), std::string::npos);
  EXPECT_NE(err.str().find("not valid JSON"), std::string::npos);
  EXPECT_EQ(run({wf, "--lead", no_email}), 1);
  EXPECT_NE(err.str().find("email"), std::string::npos);
  EXPECT_EQ(run({wf, "--lead", lead, "--tz", "Mars/Olympus"}), 1);
  EXPECT_NE(err.str().find("Mars/Olympus"), std::string::npos);
  EXPECT_EQ(run({wf, "--lead", lead, "--now", "yesterday"}), 1);
  EXPECT_EQ(run({wf, "--lead", lead, "--bogus"}), 1);
  EXPECT_EQ(run({wf, "--lead", lead, "--start", "budget"}), 1);
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace flowtrack::cli
