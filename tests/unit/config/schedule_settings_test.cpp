// The scheduled triggers' settings: how often due schedules are looked for, how many missed
// ticks fire after downtime, how many leads a step takes; each read from the environment too and
// refused outside its range, naming the key.
#include <gtest/gtest.h>

#include "config/settings.hpp"

namespace flowtrack::config {
namespace {

TEST(schedule_settings, default_to_a_second_one_catch_up_tick_and_batches_of_500) {
  settings s;
  EXPECT_EQ(s.schedule_poll_ms, 1000);
  EXPECT_EQ(s.schedule_catch_up_ticks, 1);
  EXPECT_EQ(s.schedule_batch_size, 500);
  apply_values(s, {{"schedule_poll_ms", "250"}, {"schedule_catch_up_ticks", "0"}, {"schedule_batch_size", "50"}});
  EXPECT_EQ(s.schedule_poll_ms, 250);
  EXPECT_EQ(s.schedule_catch_up_ticks, 0);
  EXPECT_EQ(s.schedule_batch_size, 50);
}

TEST(schedule_settings, come_from_the_environment) {
  std::vector<std::string> args;
  std::string poll = "FLOWTRACK_SCHEDULE_POLL_MS=2000", ticks = "FLOWTRACK_SCHEDULE_CATCH_UP_TICKS=3";
  char* env[] = {poll.data(), ticks.data(), nullptr};
  auto s = load(args, env);
  EXPECT_EQ(s.schedule_poll_ms, 2000);
  EXPECT_EQ(s.schedule_catch_up_ticks, 3);
}

TEST(schedule_settings, refuse_values_out_of_range_naming_the_key) {
  settings s;
  for (auto [key, bad] : {std::pair{"schedule_poll_ms", "0"}, {"schedule_poll_ms", "60001"}, {"schedule_catch_up_ticks", "-1"},
                          {"schedule_catch_up_ticks", "1001"}, {"schedule_batch_size", "0"}, {"schedule_batch_size", "many"}}) {
    try {
      apply_values(s, {{key, bad}});
      ADD_FAILURE() << key << " took " << bad;
    } catch (const config_error& e) {
      EXPECT_EQ(e.key(), key);
    }
  }
}

}  // namespace
}  // namespace flowtrack::config
