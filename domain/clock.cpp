#include "domain/clock.hpp"

namespace flowtrack::domain {
namespace {

class os_clock final : public clock {
 public:
  std::int64_t wall_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  monotonic_point monotonic() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

const clock& system_clock() {
  static const os_clock c;
  return c;
}

}  // namespace flowtrack::domain
