// Shared fixtures for runtime tests: a zone database over the system zoneinfo, leads, contexts
// and graph builders. Test-only.
#pragma once

#include <memory>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "adapters/cli/zoneinfo.hpp"
#include "runtime/compiled_graph.hpp"
#include "runtime/lead.hpp"
#include "runtime/tz.hpp"

namespace flowtrack::runtime::test {

inline const time_zone_db& zones() {
  static const time_zone_db db(cli::zoneinfo_loader());
  return db;
}

inline std::shared_ptr<const time_zone> zone(const std::string& name) {
  auto z = zones().get(name);
  EXPECT_TRUE(z.ok()) << name;
  return z.ok() ? *z : time_zone::utc();
}

inline std::int64_t ms(const std::string& iso) {
  auto r = parse_iso8601(iso);
  EXPECT_TRUE(r.ok()) << iso;
  return r.ok() ? *r : 0;
}

inline lead sample_lead() {
  lead l;
  l.email = "Ada@Example.COM";
  l.name = "Ada Lovelace";
  l.company_name = "Analytical Engines";
  l.phone = "+44 20 7946 0000";
  l.status = "NEW";
  l.source = "FORM";
  l.score = 42;
  l.tags = {"vip", "Newsletter"};
  l.fields = boost::json::parse(R"({"budget":"7500","employees":12,"country":"UK","consent":true,
                                   "interests":["crm","email"],"empty":""})").as_object();
  return l;
}


}  // namespace flowtrack::runtime::test

namespace flowtrack::runtime::test {

/// Compiles React Flow JSON text, failing the test on errors.
inline std::shared_ptr<const compiled_graph> compile_text(const std::string& text) {
  auto g = import_react_flow(std::string_view(text));
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.err().message);
  if (!g.ok()) return nullptr;
  auto c = compile(*g, config_options{&zones()});
  if (!c.ok()) {
    ADD_FAILURE() << boost::json::serialize(problems_to_json(c.problems));
  }
  return c.graph;
}

/// The problems of React Flow JSON text.
inline std::vector<problem> problems_of(const std::string& text) {
  auto g = import_react_flow(std::string_view(text));
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.err().message);
  if (!g.ok()) return {};
  return validate(*g, config_options{&zones()});
}

inline bool has_code(const std::vector<problem>& ps, const std::string& code) {
  for (const auto& p : ps) {
    if (p.code == code) return true;
  }
  return false;
}

}  // namespace flowtrack::runtime::test
