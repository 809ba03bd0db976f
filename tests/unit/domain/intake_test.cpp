// The one intake rule (admit_trigger) that the workspace actor and `flowtrackd workflow run`
// share: tenant state, trigger node by kind, the record it builds.
#include <gtest/gtest.h>

#include "domain/intake.hpp"
#include "runtime/graph.hpp"

namespace flowtrack::domain {
namespace {

struct fixture {
  workspace_info ws;
  workflow_record wf;
  std::shared_ptr<const runtime::compiled_graph> graph;
  std::shared_ptr<const form_spec> form;
  intake_request req;

  fixture() {
    ws.id = "11111111-1111-4111-8111-111111111111";
    ws.slug = "acme";
    wf.id = "22222222-2222-4222-8222-222222222222";
    wf.name = "Intake";
    wf.status = workflow_status::active;
    wf.graph = R"({"nodes":[{"id":"f","type":"TRIGGER_FORM","position":{"x":0,"y":0},"data":{}},
                            {"id":"h","type":"TRIGGER_WEBHOOK","position":{"x":1,"y":0},"data":{}},
                            {"id":"e","type":"LOGIC_END","position":{"x":0,"y":1},"data":{}}],
                   "edges":[{"id":"1","source":"f","target":"e"},{"id":"2","source":"h","target":"e"}]})";
    wf.node_ids = {{"f", "33333333-3333-4333-8333-333333333333"}, {"h", "44444444-4444-4444-8444-444444444444"}};
    auto g = runtime::import_react_flow(std::string_view(wf.graph));
    graph = runtime::compile(*g).graph;
    form = make_form_spec(wf);
    req.kind = trigger_kind::webhook;
    req.lead = boost::json::object{{"email", "ada@example.com"}};
  }
  result<admitted_trigger> admit() const { return admit_trigger(ws, wf, *graph, *form, req); }
};

TEST(admit_trigger, starts_at_the_trigger_node_of_its_kind) {
  fixture f;
  ASSERT_TRUE(f.graph);
  auto a = f.admit();
  ASSERT_TRUE(a.ok()) << a.err().message;
  EXPECT_EQ(a->trigger_node, "h");
  EXPECT_EQ(a->record.trigger_node_id, "44444444-4444-4444-8444-444444444444");
  EXPECT_EQ(a->record.trigger_type, "WEBHOOK");
  EXPECT_FALSE(a->record.event_id.empty());
}

TEST(admit_trigger, an_inactive_workspace_is_not_found) {
  fixture f;
  f.ws.is_active = false;
  auto a = f.admit();
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.err().code, error_code::not_found);
}

TEST(admit_trigger, a_workflow_that_is_not_active_is_refused_naming_its_status) {
  for (auto s : {workflow_status::paused, workflow_status::draft, workflow_status::archived}) {
    fixture f;
    f.wf.status = s;
    auto a = f.admit();
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.err().code, error_code::invalid);
    EXPECT_EQ(a.err().subject, "status");
    EXPECT_NE(a.err().message.find(std::string(to_string(s))), std::string::npos) << a.err().message;
  }
}

TEST(admit_trigger, a_manual_start_falls_back_to_the_first_trigger_and_other_kinds_do_not) {
  fixture f;
  f.req.kind = trigger_kind::manual;
  auto a = f.admit();
  ASSERT_TRUE(a.ok()) << a.err().message;
  EXPECT_FALSE(a->trigger_node.empty());
  f.req.kind = trigger_kind::email;
  auto e = f.admit();
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.err().subject, "trigger");
}

TEST(parse_raw_lead, a_body_is_parsed_only_when_asked_and_must_be_an_object) {
  intake_request r;
  r.raw_lead = R"({"email":"x@example.com"})";
  ASSERT_TRUE(parse_raw_lead(r).ok());
  EXPECT_TRUE(r.lead.is_object());
  r.raw_lead = "{not json";
  auto bad = parse_raw_lead(r);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().subject, "body");
  r.raw_lead = "[1]";
  EXPECT_FALSE(parse_raw_lead(r).ok());
}

TEST(workflow_status, reads_back_what_it_writes) {
  for (auto s : {workflow_status::draft, workflow_status::active, workflow_status::paused,
                 workflow_status::archived})
    EXPECT_EQ(parse_workflow_status(to_string(s)), s);
  EXPECT_FALSE(parse_workflow_status("Active"));
}

TEST(forwarders, any_sender_unless_the_workspace_lists_addresses_or_domains) {
  workspace_info ws;
  EXPECT_TRUE(forwarder_allowed(ws, "anyone@example.com"));
  ws.settings = R"({"allowedForwarders":[]})";
  EXPECT_TRUE(forwarder_allowed(ws, "anyone@example.com")) << "an empty list is no list";
  ws.settings = R"({"allowedForwarders":["boss@shop.example","@team.example",7]})";
  EXPECT_TRUE(forwarder_allowed(ws, "BOSS@shop.example"));
  EXPECT_TRUE(forwarder_allowed(ws, "ann@Team.Example"));
  EXPECT_FALSE(forwarder_allowed(ws, "ann@sub.team.example"));
  EXPECT_FALSE(forwarder_allowed(ws, "boss@shop.example.evil"));
  EXPECT_FALSE(forwarder_allowed(ws, ""));
  ws.settings = "not json";
  EXPECT_TRUE(forwarder_allowed(ws, "anyone@example.com"));
}

}  // namespace
}  // namespace flowtrack::domain
