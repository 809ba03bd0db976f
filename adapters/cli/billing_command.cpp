// `flowtrackd billing rollover` and `billing export --period YYYY-MM [--out FILE]`.
#include "adapters/cli/billing_command.hpp"

#include <fstream>
#include <iostream>
#include <optional>

#include <boost/json.hpp>

#include "adapters/cli/operator_commands.hpp"
#include "storage/usage_billing.hpp"

namespace flowtrack::cli {
namespace {

constexpr int k_usage = 64;

int usage() {
  std::cerr << "usage: flowtrackd billing rollover\n"
               "       flowtrackd billing export --period YYYY-MM [--out FILE]\n";
  return k_usage;
}

// `--name VALUE` or `--name=VALUE` taken out of args; false when the name has no value.
bool take(std::vector<std::string>& args, const std::string& name, std::optional<std::string>& out) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name) {
      if (i + 1 >= args.size()) return false;
      out = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
      return true;
    }
    if (args[i].rfind(name + "=", 0) == 0) {
      out = args[i].substr(name.size() + 1);
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
  }
  return true;
}

}  // namespace

int billing_command(std::vector<std::string> args, const config::settings& s) {
  if (args.empty()) return usage();
  std::string verb = args[0];
  args.erase(args.begin());
  if (verb == "rollover") {
    if (!args.empty()) return usage();
    auto c = connect(s);
    if (!c) return fail("billing rollover", c.err());
    auto r = storage::roll_over_quotas(**c);
    if (!r) return fail("billing rollover", r.err());
    std::cout << boost::json::serialize(boost::json::object{{"periodsAdvanced", r->periods_advanced},
                                                            {"workspacesSynced", r->workspaces_synced}})
              << std::endl;
    return 0;
  }
  if (verb != "export") return usage();
  std::optional<std::string> period, out;
  if (!take(args, "--period", period) || !take(args, "--out", out) || !period || !args.empty()) return usage();
  auto c = connect(s);
  if (!c) return fail("billing export", c.err());
  // The file is opened first: a month marked billed must reach its file.
  std::ofstream file;
  if (out) {
    file.open(*out, std::ios::out | std::ios::trunc);
    if (!file) {
      std::cerr << "flowtrackd billing export: cannot write " << *out << "\n";
      return 73;  // EX_CANTCREAT
    }
  }
  auto r = storage::export_billable_usage(**c, *period);
  if (!r) return fail("billing export", r.err());
  (out ? static_cast<std::ostream&>(file) : std::cout) << r->to_csv() << std::flush;
  if (out && !file) {
    std::cerr << "flowtrackd billing export: writing " << *out << " failed after " << r->events
              << " events were marked billed; their sums:\n" << r->to_csv();
    return 74;  // EX_IOERR
  }
  return 0;
}

}  // namespace flowtrack::cli
