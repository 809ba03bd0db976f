// libFuzzer target: condition compilation (JSON) and evaluation against a fixed lead.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json.hpp>

#include "runtime/condition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace rt = flowtrack::runtime;
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 64;
  const boost::json::value spec =
      boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec, {}, opts);
  if (ec) return 0;
  auto c = rt::condition::compile(spec);
  if (!c) return 0;
  static const rt::lead l = [] {
    rt::lead x;
    x.email = "Ada@Example.com";
    x.name = "Ada";
    x.score = 42;
    x.tags = {"vip", "b"};
    x.fields = boost::json::parse(R"({"budget":"7500","n":12.5,"list":[1,"a",true,null],"obj":{"x":1},"e":""})").as_object();
    return x;
  }();
  static const boost::json::value trigger = boost::json::parse(R"({"utm":{"source":"g"},"items":[1,2,3]})");
  rt::run_env env;
  (void)c->evaluate(rt::eval_context{l, trigger, env, 0});
  return 0;
}
