// libFuzzer target: React Flow import, export round trip, validation, compilation and a dry run.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/json.hpp>

#include "runtime/compiled_graph.hpp"
#include "runtime/dry_run.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace rt = flowtrack::runtime;
  auto g = rt::import_react_flow(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!g) return 0;
  const boost::json::value out = rt::export_react_flow(*g);
  auto again = rt::import_react_flow(out);
  if (!again || rt::export_react_flow(*again) != out) std::abort();  // round trips must be lossless
  auto c = rt::compile(*g);
  if (!c.ok()) return 0;
  rt::lead l;
  l.email = "fuzz@example.com";
  l.tags = {"t1"};
  rt::run_env env;
  auto r = rt::dry_run(*c.graph, env, l, boost::json::object{}, {});
  if (r && r->path.size() > c.graph->size()) std::abort();  // a node ran twice
  return 0;
}
