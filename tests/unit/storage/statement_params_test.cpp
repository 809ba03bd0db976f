// Long statements against their binders: every `$n` a statement uses is a parameter its binder
// produces, and every parameter is used, so a column added on one side only fails here by name.
#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

#include "storage/ingest.hpp"
#include "storage/runs.hpp"

namespace flowtrack::storage {
namespace {

std::set<std::size_t> placeholders(const std::string& sql) {
  std::set<std::size_t> out;
  for (std::size_t i = 0; i + 1 < sql.size(); ++i) {
    if (sql[i] != '$' || !std::isdigit(static_cast<unsigned char>(sql[i + 1]))) continue;
    std::size_t n = 0, j = i + 1;
    while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) n = n * 10 + static_cast<std::size_t>(sql[j++] - '0');
    out.insert(n);
  }
  return out;
}

void check_statement_matches_binder(const pg::statement& stmt, const pg::params& bound) {
  auto used = placeholders(stmt.sql);
  ASSERT_FALSE(used.empty()) << stmt.name;
  for (std::size_t n = 1; n <= bound.size(); ++n)
    EXPECT_TRUE(used.count(n)) << stmt.name << ": the binder gives $" << n << ", the statement never uses it";
  for (auto n : used)
    EXPECT_LE(n, bound.size()) << stmt.name << ": uses $" << n << ", the binder gives only " << bound.size();
}

// A record that fills every kind of row the statement writes.
domain::run_record full_record() {
  domain::run_record r;
  r.execution_id = "00000000-0000-0000-0000-000000000001";
  r.workspace_id = "00000000-0000-0000-0000-000000000002";
  r.workflow_id = "00000000-0000-0000-0000-000000000003";
  r.lead_id = "00000000-0000-0000-0000-000000000004";
  r.status = domain::execution_status::completed;
  r.lead.status = "QUALIFIED";
  r.lead.add_tags = {"hot"};
  r.lead.fields = {{"00000000-0000-0000-0000-000000000005", "9000"}};
  domain::step_write step;
  step.id = "00000000-0000-0000-0000-000000000006";
  step.workflow_node_id = "00000000-0000-0000-0000-000000000007";
  step.status = domain::step_status::completed;
  r.steps.push_back(step);
  r.events.push_back({});
  r.logs.push_back({});
  return r;
}

TEST(statement_params, write_runs_uses_exactly_the_parameters_its_binder_gives) {
  std::vector<domain::run_record> records{full_record(), full_record()};
  records[1].execution_id = "00000000-0000-0000-0000-000000000011";
  check_statement_matches_binder(detail::write_runs_statement(), detail::write_runs_params(records, {0, 1}));
}

TEST(statement_params, ingest_uses_exactly_the_parameters_its_binder_gives) {
  domain::trigger_record t;
  t.workspace_id = "00000000-0000-0000-0000-000000000002";
  t.workflow_id = "00000000-0000-0000-0000-000000000003";
  t.trigger_type = "FORM_SUBMIT";
  t.event_type = "FORM_SUBMITTED";
  t.source = "FORM";
  t.email = "a@example.com";
  t.fields = {{"00000000-0000-0000-0000-000000000005", "9000"}};
  t.execution_id = "00000000-0000-0000-0000-000000000001";
  t.settled = full_record();
  std::vector<domain::trigger_record> batch{t, t};
  batch[1].email = "b@example.com";
  batch[1].settled.reset();
  check_statement_matches_binder(detail::ingest_statement(), detail::ingest_statement_params(batch, {0, 1}));
}

TEST(statement_params, the_check_sees_a_parameter_the_statement_does_not_use) {
  pg::statement short_one{"t", "SELECT $1::int, $2::text"};
  auto used = placeholders(short_one.sql);
  EXPECT_EQ(used, (std::set<std::size_t>{1, 2}));
  EXPECT_EQ(placeholders("SELECT $12, $3"), (std::set<std::size_t>{3, 12}));
}

}  // namespace
}  // namespace flowtrack::storage
