// libFuzzer target: template compilation and rendering in every escape mode.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json.hpp>

#include "runtime/template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace rt = flowtrack::runtime;
  auto t = rt::text_template::compile(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!t) return 0;
  static const rt::lead l = [] {
    rt::lead x;
    x.email = "a@b.c";
    x.name = "Ada <&> \"L\"";
    x.tags = {"vip"};
    x.fields = boost::json::parse(R"({"budget":"7500","n":12,"list":[1,"a",{"k":null}],"obj":{"x":1}})").as_object();
    return x;
  }();
  static const boost::json::value trigger = boost::json::parse(R"({"a":{"b":[1,2,{"c":"d"}]},"when":"2025-01-01T00:00:00Z"})");
  rt::run_env env;
  std::vector<std::string> unknown;
  for (auto mode : {rt::escape_mode::none, rt::escape_mode::html, rt::escape_mode::json}) {
    (void)t->render(rt::eval_context{l, trigger, env, 1735689600000}, mode, &unknown);
  }
  return 0;
}
