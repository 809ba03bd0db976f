// The storage writer's bound on pending triggers: beyond it a trigger is refused at once with
// `unavailable` (ingress answers 503), and every trigger it took is answered.
#include <gtest/gtest.h>

#include <future>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/engine.hpp"
#include "actors/pooled_store.hpp"
#include "actors/storage_writer.hpp"
#include "storage/pg/pool.hpp"
#include "storage/redis/connection.hpp"
#include "storage/worker_pool.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

class writer_config : public caf::actor_system_config {
 public:
  writer_config() { actors::configure_engine(*this, 2); }
};

TEST(storage_writer, refuses_triggers_beyond_its_bound_at_once_and_answers_every_one_it_took) {
  pg::pool_options po;
  po.connection.uri = test::database_url();
  po.size = 1;
  pg::pool postgres(po);
  // The pool's one connection is held, so the writer's first batch cannot finish.
  std::promise<void> release, held;
  std::shared_future<void> gate = release.get_future().share();
  postgres.submit([&, gate](pg::connection& c) {
                    held.set_value();
                    gate.wait();
                    return c.exec("SELECT 1");
                  },
                  [](result<pg::rows>) {});
  held.get_future().wait();

  // The writer reaches PostgreSQL through the store; its Redis side is never used here.
  storage::worker_pool<redis::connection> redis(
      1, [] { return std::move(redis::connection::open(test::redis_url(), std::chrono::seconds(2)).value()); });
  actors::pooled_store store(postgres, redis, nullptr);
  actors::node_services node;
  node.store = &store;
  node.options.max_batch = 1;               // every trigger is a batch of its own
  node.options.max_batches_in_flight = 1;   // one in flight; the rest waits as pending
  node.options.max_pending_triggers = 3;
  writer_config cfg;
  {
    caf::actor_system system(cfg);
    auto writer = system.spawn(actors::storage_writer, &node);
    caf::scoped_actor self{system};
    // Trigger 1 goes to the pool, 2-4 wait as pending, 5 and 6 find the bound reached.
    std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> asked;
    for (int i = 0; i < 6; ++i) {
      domain::trigger_record r;
      r.email = "bound-" + std::to_string(i) + "@example.com";
      asked.push_back(self->request(writer, std::chrono::seconds(60), actors::ingest_atom::value, std::move(r)));
    }
    auto answer = [&](std::size_t i) {
      actors::ingest_reply out = make_error(error_code::internal, "no answer");
      asked[i].receive([&](actors::ingest_reply& r) { out = std::move(r); },
                       [&](caf::error& e) { out = make_error(error_code::internal, to_string(e)); });
      return out;
    };
    // Answered while the database still holds the first batch: nothing waited for it.
    for (std::size_t i : {4u, 5u}) {
      auto r = answer(i);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.err().code, error_code::unavailable);
      EXPECT_NE(r.err().message.find("busy"), std::string::npos) << r.err().message;
    }
    release.set_value();
    // The four it took are answered after their batches ran (these records are not valid
    // triggers, so the database refuses them, but none is refused for the bound or lost).
    for (std::size_t i : {0u, 1u, 2u, 3u}) {
      auto r = answer(i);
      std::string why = r.ok() ? "" : r.err().message;
      EXPECT_NE(why, "no answer") << i;
      EXPECT_EQ(why.find("busy"), std::string::npos) << i << ": " << why;
    }
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
  }
  postgres.close();
}

}  // namespace
}  // namespace flowtrack
