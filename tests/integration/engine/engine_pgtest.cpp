// The durable execution engine in-process against real PostgreSQL and Redis.
#include "tests/integration/engine/engine_fixture.hpp"

namespace flowtrack {
namespace {

using namespace std::chrono_literals;

const char* k_qualify_graph = R"({"nodes":[
  {"id":"t","type":"TRIGGER_MANUAL","position":{"x":0,"y":0},"data":{}},
  {"id":"c","type":"LOGIC_CONDITION","position":{"x":0,"y":1},"data":{"field":"budget","operator":">=","value":5000,"trueHandle":"yes","falseHandle":"no"}},
  {"id":"s","type":"ACTION_UPDATE_STATUS","position":{"x":0,"y":2},"data":{"status":"QUALIFIED"}},
  {"id":"g","type":"ACTION_ADD_TAG","position":{"x":0,"y":3},"data":{"tag":"hot"}},
  {"id":"e","type":"LOGIC_END","position":{"x":0,"y":4},"data":{}},
  {"id":"n","type":"LOGIC_END","position":{"x":1,"y":2},"data":{}}],
 "edges":[{"id":"1","source":"t","target":"c"},{"id":"2","source":"c","target":"s","sourceHandle":"yes"},
          {"id":"3","source":"s","target":"g"},{"id":"4","source":"g","target":"e"},
          {"id":"5","source":"c","target":"n","sourceHandle":"no"}]})";

std::vector<storage::form_field_record> budget_field() {
  storage::form_field_record f;
  f.field_key = "budget";
  f.label = "Budget";
  f.field_type = "NUMBER";
  return {f};
}

TEST(engine, runs_a_qualifying_workflow_to_completion) {
  auto c = test::db();
  auto ws = test::make_workspace(*c);
  auto wf = test::make_workflow(*c, ws.id, k_qualify_graph, budget_field());
  test::engine_node node;
  auto r = node.trigger(ws.id, wf, boost::json::parse(R"({"email":"rich@example.com","name":"Rich","fields":{"budget":9000}})"));
  ASSERT_TRUE(r.ok()) << r.err().message;
  ASSERT_TRUE(r->execution_id);
  EXPECT_EQ(test::await_value(*c, "SELECT count(*) FROM workflow_executions WHERE id = $1 AND status = 'completed'",
                              *r->execution_id, 1, 10s), 1);
}

}  // namespace
}  // namespace flowtrack
