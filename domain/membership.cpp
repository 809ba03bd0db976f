#include "domain/membership.hpp"

#include <algorithm>

namespace flowtrack::domain {

std::string_view to_string(member_state s) {
  switch (s) {
    case member_state::up: return "up";
    case member_state::suspect: return "suspect";
    case member_state::down: return "down";
    case member_state::leaving: return "leaving";
  }
  return "down";
}

bool speaks_with(const member_info& a, const member_info& b) {
  return a.wire_min <= b.wire_max && b.wire_min <= a.wire_max;
}

membership::membership(member_info self, detector_options options) : options_(options) {
  members_.push_back({std::move(self), member_state::up, 0});
}

member_view* membership::find_mutable(std::string_view name) {
  for (auto& m : members_)
    if (m.info.name == name) return &m;
  return nullptr;
}

const member_view* membership::find(std::string_view name) const {
  for (const auto& m : members_)
    if (m.info.name == name) return &m;
  return nullptr;
}

bool membership::heard(const member_info& m, std::int64_t now_ms) {
  if (m.name.empty() || m.name == self().name || !speaks_with(m, self())) return false;
  auto* known = find_mutable(m.name);
  if (!known) {
    members_.push_back({m, m.leaving ? member_state::leaving : member_state::up, now_ms});
    return true;
  }
  if (m.incarnation < known->info.incarnation) return false;  // a late word of a previous life
  bool fresh = m.incarnation > known->info.incarnation || known->state == member_state::down;
  known->info = m;
  known->last_heard_ms = now_ms;
  known->state = m.leaving ? member_state::leaving : member_state::up;
  return fresh;
}

bool membership::learned(const member_info& m, std::int64_t now_ms) {
  if (m.name.empty() || m.name == self().name || !speaks_with(m, self())) return false;
  auto* known = find_mutable(m.name);
  if (known && m.incarnation <= known->info.incarnation) return false;
  if (known) {
    known->info = m;
    known->state = m.leaving ? member_state::leaving : member_state::up;
    known->last_heard_ms = now_ms;
  } else {
    members_.push_back({m, m.leaving ? member_state::leaving : member_state::up, now_ms});
  }
  return true;
}

bool membership::set_leaving(std::string_view name) {
  auto* m = find_mutable(name);
  if (!m) return false;
  m->info.leaving = true;
  if (m->state != member_state::down) m->state = member_state::leaving;
  return true;
}

std::vector<std::string> membership::judge(std::int64_t now_ms) {
  std::vector<std::string> changed;
  for (std::size_t i = 1; i < members_.size(); ++i) {
    auto& m = members_[i];
    auto silent = now_ms - m.last_heard_ms;
    member_state next = silent >= options_.down_after_ms       ? member_state::down
                        : m.info.leaving                       ? member_state::leaving
                        : silent >= options_.suspect_after_ms  ? member_state::suspect
                                                               : member_state::up;
    if (next != m.state) {
      m.state = next;
      changed.push_back(m.info.name);
    }
  }
  return changed;
}

std::vector<std::string> membership::owners() const {
  std::vector<std::string> out;
  for (const auto& m : members_)
    if (!m.info.leaving && (m.state == member_state::up || m.state == member_state::suspect)) out.push_back(m.info.name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace flowtrack::domain
