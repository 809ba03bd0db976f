// The messages that may cross nodes: each survives CAF's binary serialisation unchanged (every
// field, optional set and unset), a message holding them round-trips through the registered
// types, and a batch of a version this build does not know is refused whole.
#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>

#include "actors/messages.hpp"
#include "actors/wire.hpp"

namespace flowtrack::test {
namespace {

domain::run_record full_run() {
  domain::run_record r;
  r.execution_id = "e1";
  r.workspace_id = "w1";
  r.workflow_id = "f1";
  r.lead_id = "l1";
  r.lock_token = 0xfedcba9876543210ull;
  r.seq = 7;
  r.status = domain::execution_status::paused;
  r.started_at = "2026-12-03 10:00:00.000";
  r.duration_ms = 42;
  r.error_message = "é \"quoted\"\n";
  r.checkpoint = R"({"next":"n3"})";
  r.resume_at = "2026-12-04 10:00:00.000";
  domain::step_write s;
  s.id = "s1";
  s.workflow_node_id = "n1";
  s.step_number = 2;
  s.status = domain::step_status::completed;
  s.completed_at = "2026-12-03 10:00:01.000";
  s.output_data = "{}";
  s.retry_count = 3;
  r.steps = {s, domain::step_write{}};
  r.lead.status = "QUALIFIED";
  r.lead.add_tags = {"a", "b"};
  r.lead.remove_tags = {"c"};
  r.lead.score_delta = -5;
  r.lead.fields = {{"ff1", "v1"}};
  r.lead.email_sent = true;
  r.events = {{"STATUS_CHANGED", "automation", "moved", std::string(R"({"x":1})")}};
  r.logs = {{"WARN", "email", "slow", std::nullopt, std::string("ACTION_SEND_EMAIL"), std::string("s1")}};
  r.emails_sent = 1;
  return r;
}

domain::trigger_record full_trigger() {
  domain::trigger_record t;
  t.workspace_id = "w1";
  t.workflow_id = "f1";
  t.workflow_version = 4;
  t.trigger_type = "FORM_SUBMIT";
  t.trigger_node_id = "t";
  t.event_type = "FORM_SUBMITTED";
  t.source = "FORM";
  t.email = "lead@example.com";
  t.name = "Lea";
  t.source_metadata = R"({"ip":"203.0.113.9"})";
  t.trigger_data = R"({"budget":"9000"})";
  t.idempotency_key = "k1";
  t.fields = {{"ff1", "9000"}, {"ff2", ""}};
  t.rerun_on_resubmit = true;
  t.quotas.executions = 1000;
  t.quotas.period_start = "2026-12-01";
  t.quotas.period_end = "2027-01-01";
  t.execution_id = "x1";
  t.lead_id = "l1";
  t.event_id = "ev1";
  t.settled = full_run();
  return t;
}

template <class T>
std::vector<char> save(caf::actor_system& sys, T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto err = sink(x);
  EXPECT_FALSE(err) << sys.render(err);
  return buf;
}

template <class T>
caf::error load(caf::actor_system& sys, const std::vector<char>& buf, T& x) {
  caf::binary_deserializer source{sys, buf};
  return source(x);
}

// Field-by-field equality through the stringification inspector: every field is in it.
template <class T>
std::string text(T& x) {
  return caf::deep_to_string(x);
}

class wire_test : public ::testing::Test {
 protected:
  static caf::actor_system_config& with_types(caf::actor_system_config& cfg) {
    actors::add_wire_types(cfg);
    return cfg;
  }
  caf::actor_system_config cfg_;
  caf::actor_system sys_{with_types(cfg_)};
};

TEST_F(wire_test, a_trigger_with_its_settled_run_survives_serialisation_field_for_field) {
  actors::forward_batch out;
  out.triggers = {full_trigger(), domain::trigger_record{}};
  auto buf = save(sys_, out);
  actors::forward_batch in;
  ASSERT_FALSE(load(sys_, buf, in));
  ASSERT_EQ(in.triggers.size(), 2u);
  const auto& t = in.triggers[0];
  EXPECT_EQ(t.workflow_version, 4);
  EXPECT_EQ(t.name, "Lea");
  EXPECT_FALSE(t.company_name.has_value()) << "an unset optional stays unset";
  EXPECT_EQ(t.quotas.executions, 1000);
  EXPECT_FALSE(t.quotas.leads.has_value());
  ASSERT_TRUE(t.settled.has_value());
  EXPECT_EQ(t.settled->lock_token, 0xfedcba9876543210ull);
  EXPECT_EQ(t.settled->status, domain::execution_status::paused);
  EXPECT_EQ(t.settled->error_message, "é \"quoted\"\n");
  ASSERT_EQ(t.settled->steps.size(), 2u);
  EXPECT_EQ(t.settled->steps[0].status, domain::step_status::completed);
  EXPECT_EQ(t.settled->lead.score_delta, -5);
  EXPECT_TRUE(t.settled->lead.email_sent);
  ASSERT_EQ(t.settled->logs.size(), 1u);
  EXPECT_FALSE(t.settled->logs[0].details.has_value());
  EXPECT_EQ(t.settled->logs[0].step_id, "s1");
  EXPECT_FALSE(in.triggers[1].settled.has_value());
  EXPECT_EQ(text(out), text(in)) << "every field, in order";
}

TEST_F(wire_test, outcomes_and_errors_come_back_in_order) {
  actors::forward_replies out;
  storage::ingest_outcome o;
  o.lead_id = "l1";
  o.execution_id = "x1";
  o.lead_created = true;
  o.settled = true;
  o.event_id = "ev1";
  out.outcomes.emplace_back(o);
  out.outcomes.emplace_back(make_error(error_code::quota_exceeded, "the plan allows 100 executions", "executions"));
  out.outcomes.emplace_back(storage::ingest_outcome{"l2", std::nullopt, false, true, false, ""});
  auto buf = save(sys_, out);
  actors::forward_replies in;
  ASSERT_FALSE(load(sys_, buf, in));
  ASSERT_EQ(in.outcomes.size(), 3u);
  ASSERT_TRUE(in.outcomes[0].ok());
  EXPECT_EQ(in.outcomes[0]->execution_id, "x1");
  EXPECT_TRUE(in.outcomes[0]->lead_created);
  ASSERT_FALSE(in.outcomes[1].ok());
  EXPECT_EQ(in.outcomes[1].err().code, error_code::quota_exceeded);
  EXPECT_EQ(in.outcomes[1].err().subject, "executions");
  ASSERT_TRUE(in.outcomes[2].ok());
  EXPECT_FALSE(in.outcomes[2]->execution_id.has_value());
  EXPECT_TRUE(in.outcomes[2]->duplicate);
}

TEST_F(wire_test, a_batch_of_an_unknown_version_is_refused_whole) {
  actors::forward_batch out;
  out.version = actors::k_wire_version + 1;
  out.triggers = {full_trigger()};
  auto buf = save(sys_, out);
  actors::forward_batch in;
  auto err = load(sys_, buf, in);
  ASSERT_TRUE(err);
  EXPECT_EQ(err, caf::sec::incompatible_versions);
  EXPECT_TRUE(in.triggers.empty()) << "nothing of it was read";
  actors::forward_replies replies;
  replies.version = 0;
  auto rbuf = save(sys_, replies);
  actors::forward_replies rin;
  EXPECT_EQ(load(sys_, rbuf, rin), caf::sec::incompatible_versions);
}

TEST_F(wire_test, a_truncated_batch_is_an_error_not_a_partial_trigger) {
  actors::forward_batch out;
  out.triggers = {full_trigger()};
  auto buf = save(sys_, out);
  for (std::size_t cut : {buf.size() - 1, buf.size() / 2, std::size_t{3}}) {
    std::vector<char> part(buf.begin(), buf.begin() + static_cast<long>(cut));
    actors::forward_batch in;
    EXPECT_TRUE(load(sys_, part, in)) << "cut at " << cut;
  }
}

TEST_F(wire_test, messages_of_the_registered_types_round_trip_as_messages) {
  actors::resume_request r{"w1", "x1", redis::claimed{"x1", 1234, 99, 2}};
  auto msg = caf::make_message(actors::forward_atom::value, actors::forward_batch{actors::k_wire_version, {full_trigger()}}, r);
  std::vector<char> buf;
  {
    caf::binary_serializer sink{sys_, buf};
    ASSERT_FALSE(sink(msg));
  }
  caf::message back;
  caf::binary_deserializer source{sys_, buf};
  ASSERT_FALSE(source(back)) << "the receiving side finds every type by its registered name";
  ASSERT_TRUE((back.match_elements<caf::atom_value, actors::forward_batch, actors::resume_request>()));
  EXPECT_EQ(text(back.get_mutable_as<actors::forward_batch>(1)), text(msg.get_mutable_as<actors::forward_batch>(1)));
  const auto& rr = back.get_as<actors::resume_request>(2);
  ASSERT_TRUE(rr.claim.has_value());
  EXPECT_EQ(rr.claim->token, 99u);
  EXPECT_EQ(rr.claim->attempt, 2u);
}

}  // namespace
}  // namespace flowtrack::test
