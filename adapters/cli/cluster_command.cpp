#include "adapters/cli/cluster_command.hpp"

#include <iomanip>
#include <iostream>

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "adapters/cluster/cluster_node.hpp"

namespace flowtrack::cli {
namespace {

constexpr std::chrono::seconds k_answer_timeout{10};

class cli_config : public caf::actor_system_config {
 public:
  explicit cli_config(const config::settings& s) {
    set("scheduler.max-threads", std::size_t{1});
    set("logger.verbosity", caf::atom("quiet"));
    cluster::configure_cluster(*this, s);
  }
};

int usage() {
  std::cerr << "usage: flowtrackd cluster status --join HOST:PORT [--json]\n"
               "       flowtrackd cluster owner --join HOST:PORT --workspace SLUG [--json]\n"
               "       flowtrackd cluster drain NODE --join HOST:PORT\n"
               "(FLOWTRACK_CLUSTER_SECRET: the cluster's secret)\n";
  return 64;
}

// Takes `--name VALUE` (or `--name=VALUE`) out of args.
std::optional<std::string> take_flag(std::vector<std::string>& args, const std::string& name) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--" + name && i + 1 < args.size()) {
      auto v = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      return v;
    }
    if (args[i].rfind("--" + name + "=", 0) == 0) {
      auto v = args[i].substr(name.size() + 3);
      args.erase(args.begin() + static_cast<long>(i));
      return v;
    }
  }
  return std::nullopt;
}

bool take_switch(std::vector<std::string>& args, const std::string& name) {
  for (auto it = args.begin(); it != args.end(); ++it)
    if (*it == "--" + name) {
      args.erase(it);
      return true;
    }
  return false;
}

}  // namespace

int cluster_command(std::vector<std::string> args, const config::settings& s) {
  if (args.empty()) return usage();
  std::string what = args.front();
  args.erase(args.begin());
  bool json = take_switch(args, "json");
  auto workspace = take_flag(args, "workspace");
  if (s.cluster_join.empty()) {
    std::cerr << "flowtrackd cluster: --join HOST:PORT names the member to ask\n";
    return usage();
  }
  if (s.cluster_secret.empty()) {
    std::cerr << "flowtrackd cluster: set FLOWTRACK_CLUSTER_SECRET to the cluster's secret\n";
    return 78;
  }
  std::string node;
  if (what == "drain") {
    if (args.size() != 1) return usage();
    node = args.front();
  } else if ((what != "status" && what != "owner") || !args.empty() || (what == "owner") != workspace.has_value()) {
    return usage();
  }

  cli_config cfg(s);
  caf::actor_system system(cfg);
  const auto& j = s.cluster_join.front();
  auto member = cluster::connect_member(system, s.cluster_secret, {j.host, j.port}, std::chrono::seconds(5));
  if (!member) {
    std::cerr << "flowtrackd cluster: " << member.err().message << "\n";
    return member.err().code == error_code::unauthorized ? 77 : 69;  // EX_NOPERM, EX_UNAVAILABLE
  }
  caf::scoped_actor self{system};
  int code = 0;
  auto failed = [&](caf::error& e) {
    std::cerr << "flowtrackd cluster: " << system.render(e) << "\n";
    code = 69;
  };
  if (what == "status") {
    self->request(member->member, k_answer_timeout, actors::status_atom::value)
        .receive(
            [&](actors::cluster_status& st) {
              if (json) {
                boost::json::array members;
                for (const auto& m : st.members)
                  members.push_back({{"name", m.name}, {"address", m.address}, {"state", m.state}, {"shards", m.shards},
                                     {"load", m.load}});
                std::cout << boost::json::serialize(boost::json::object{{"members", std::move(members)}}) << "\n";
                return;
              }
              std::cout << std::left << std::setw(20) << "NAME" << std::setw(24) << "ADDRESS" << std::setw(9) << "STATE"
                        << std::setw(8) << "SHARDS" << "LOAD\n";
              for (const auto& m : st.members)
                std::cout << std::setw(20) << m.name << std::setw(24) << m.address << std::setw(9) << m.state << std::setw(8)
                          << m.shards << m.load << "\n";
            },
            failed);
  } else if (what == "owner") {
    self->request(member->member, k_answer_timeout, actors::owner_atom::value, *workspace)
        .receive(
            [&](actors::shard_owner& o) {
              if (json)
                std::cout << boost::json::serialize(boost::json::object{
                                 {"workspace", o.workspace}, {"shard", o.shard}, {"owner", o.owner}, {"epoch", o.epoch}})
                          << "\n";
              else
                std::cout << "workspace " << o.workspace << ": shard " << o.shard << ", owner " << o.owner << ", epoch "
                          << o.epoch << "\n";
            },
            failed);
  } else {
    self->request(member->member, k_answer_timeout, actors::drain_atom::value, node)
        .receive(
            [&](bool known) {
              if (known) {
                std::cout << "draining " << node << ": its shards move to the other members\n";
              } else {
                std::cerr << "flowtrackd cluster: no member named '" << node << "'\n";
                code = 1;
              }
            },
            failed);
  }
  self->send_exit(self, caf::exit_reason::normal);
  member->dialer->stop();
  return code;
}

}  // namespace flowtrack::cli
