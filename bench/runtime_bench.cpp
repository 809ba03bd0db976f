// Workflow engine throughput: node steps per second on one core for a 10-node graph with
// conditions and templates, against a baseline of the same length without them. Prints one JSON
// line per case.
#include <chrono>
#include <cstdio>
#include <string>

#include <boost/json.hpp>

#include "runtime/compiled_graph.hpp"
#include "runtime/stepper.hpp"

namespace {

namespace json = boost::json;
namespace rt = flowtrack::runtime;

constexpr const char* k_graph = R"({"nodes":[
  {"id":"trigger","type":"TRIGGER_FORM"},
  {"id":"budget","type":"LOGIC_CONDITION","data":{"field":"budget","operator":">=","value":5000,"trueHandle":"yes","falseHandle":"no"}},
  {"id":"welcome","type":"ACTION_SEND_EMAIL","data":{"emailSubject":"Welcome {{lead.first_name | default:\"there\"}}!",
    "emailBody":"Hi {{lead.name}}, thanks for contacting {{workspace.name}} about {{lead.fields.interest}}.",
    "emailHtmlBody":"<p>Hi {{lead.name}},</p><p>Your budget: {{lead.fields.budget}}</p>","fromName":"{{workspace.name}}"}},
  {"id":"qualify","type":"ACTION_UPDATE_STATUS","data":{"status":"QUALIFIED"}},
  {"id":"tag","type":"ACTION_ADD_TAG","data":{"tag":"hot"}},
  {"id":"vip","type":"LOGIC_CONDITION","data":{"match":"any","rules":[
    {"field":"tags","operator":"contains","value":"vip"},{"field":"email_domain","operator":"ends_with","value":".gov"}]}},
  {"id":"set","type":"ACTION_SET_FIELD","data":{"fieldKey":"segment","value":"{{lead.status | lower}}-{{lead.fields.country}}"}},
  {"id":"score","type":"ACTION_UPDATE_SCORE","data":{"delta":10}},
  {"id":"assign","type":"ACTION_ASSIGN","data":{"userId":"user-1"}},
  {"id":"end","type":"LOGIC_END"}],
 "edges":[{"id":"1","source":"trigger","target":"budget"},
  {"id":"2","source":"budget","target":"welcome","sourceHandle":"yes"},{"id":"3","source":"budget","target":"end","sourceHandle":"no"},
  {"id":"4","source":"welcome","target":"qualify"},{"id":"5","source":"qualify","target":"tag"},
  {"id":"6","source":"tag","target":"vip"},
  {"id":"7","source":"vip","target":"set","sourceHandle":"true"},{"id":"8","source":"vip","target":"end","sourceHandle":"false"},
  {"id":"9","source":"set","target":"score"},{"id":"10","source":"score","target":"assign"},
  {"id":"11","source":"assign","target":"end"}]})";

// Baseline: the same number of nodes as a plain chain with no templates and no conditions.
constexpr const char* k_baseline = R"({"nodes":[
  {"id":"t","type":"TRIGGER_FORM"},{"id":"a1","type":"ACTION_UPDATE_SCORE","data":{"delta":1}},
  {"id":"a2","type":"ACTION_UPDATE_SCORE","data":{"delta":1}},{"id":"a3","type":"ACTION_UPDATE_SCORE","data":{"delta":1}},
  {"id":"a4","type":"ACTION_UPDATE_SCORE","data":{"delta":1}},{"id":"a5","type":"ACTION_UPDATE_SCORE","data":{"delta":1}},
  {"id":"a6","type":"ACTION_UPDATE_SCORE","data":{"delta":1}},{"id":"a7","type":"ACTION_UPDATE_SCORE","data":{"delta":1}},
  {"id":"a8","type":"ACTION_UPDATE_SCORE","data":{"delta":1}},{"id":"e","type":"LOGIC_END"}],
 "edges":[{"id":"1","source":"t","target":"a1"},{"id":"2","source":"a1","target":"a2"},{"id":"3","source":"a2","target":"a3"},
  {"id":"4","source":"a3","target":"a4"},{"id":"5","source":"a4","target":"a5"},{"id":"6","source":"a5","target":"a6"},
  {"id":"7","source":"a6","target":"a7"},{"id":"8","source":"a7","target":"a8"},{"id":"9","source":"a8","target":"e"}]})";

struct outcome {
  double steps_per_s;
  double runs_per_s;
  std::uint64_t steps_per_run;
};

outcome measure(const rt::compiled_graph& g, const rt::lead& l, double seconds) {
  rt::run_env env;
  env.execution_id = "bench-execution";
  env.workspace_name = "Acme";
  const json::value trigger = json::object{};
  rt::action_request req;
  const rt::action_result ok{};
  std::uint64_t steps = 0, runs = 0;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  while (elapsed() < seconds) {
    for (int batch = 0; batch < 256; ++batch) {
      rt::checkpoint cp = rt::start(g, 0, l, trigger, 42, 0);
      for (;;) {
        const rt::decision d = rt::next(g, cp, env, 0, req);
        if (d.kind == rt::decision_kind::execute) {
          (void)rt::report(g, cp, env, ok, 0);
          ++steps;
        } else if (d.kind == rt::decision_kind::evaluated) {
          ++steps;
        } else {
          break;
        }
      }
      ++runs;
    }
  }
  const double t = elapsed();
  return {static_cast<double>(steps) / t, static_cast<double>(runs) / t, runs ? steps / runs : 0};
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  rt::lead l;
  l.email = "ada@example.com";
  l.name = "Ada Lovelace";
  l.company_name = "Analytical Engines";
  l.tags = {"vip"};
  l.fields = json::parse(R"({"budget":"7500","interest":"automation","country":"UK"})").as_object();
  for (auto [name, text] : {std::pair{"runtime_steps", k_graph}, {"runtime_steps_baseline_plain_chain", k_baseline}}) {
    auto g = rt::import_react_flow(std::string_view(text));
    if (!g) {
      std::fprintf(stderr, "bench graph: %s\n", g.err().message.c_str());
      return 1;
    }
    auto c = rt::compile(*g);
    if (!c.ok()) {
      std::fprintf(stderr, "bench graph invalid: %s\n", json::serialize(rt::problems_to_json(c.problems)).c_str());
      return 1;
    }
    const outcome o = measure(*c.graph, l, seconds);
    std::printf("{\"bench\":\"%s\",\"graph_nodes\":%u,\"steps_per_run\":%llu,\"steps_per_s\":%.0f,\"runs_per_s\":%.0f,"
                "\"target_steps_per_s\":1000000}\n",
                name, c.graph->size(), static_cast<unsigned long long>(o.steps_per_run), o.steps_per_s, o.runs_per_s);
  }
  return 0;
}
