// `flowtrackd housekeeping run [JOB]`: the nodes' scheduled housekeeping, by hand and at once. It
// takes no lease, so it runs even while a node holds one: the batches are safe to run twice, and
// partition work is serialised by an advisory lock (storage/housekeeping.cpp).
#include "adapters/cli/housekeeping_command.hpp"

#include <chrono>
#include <iostream>

#include <boost/json.hpp>

#include "adapters/cli/operator_commands.hpp"

namespace flowtrack::cli {
namespace {

namespace hk = storage::housekeeping;

constexpr int k_usage = 64;

void usage() {
  std::cerr << "usage: flowtrackd housekeeping run [JOB]   (JOB: " << hk::job_names()
            << "; none: all of them; one JSON line a job)\n";
}

}  // namespace

hk::options housekeeping_options(const config::settings& s) {
  hk::options o;
  o.log_retention_days = s.execution_log_retention_days;
  o.partitions_ahead_months = s.execution_log_partitions_ahead;
  o.login_attempt_retention_days = s.login_attempt_retention_days;
  o.webhook_body_retention_days = s.webhook_body_retention_days;
  return o;
}

int housekeeping_command(std::vector<std::string> args, const config::settings& s) {
  if (args.empty() || args[0] != "run" || args.size() > 2) {
    usage();
    return k_usage;
  }
  std::vector<hk::job> jobs(hk::k_jobs.begin(), hk::k_jobs.end());
  if (args.size() == 2) {
    auto j = hk::job_named(args[1]);
    if (!j) {
      std::cerr << "flowtrackd housekeeping run: unknown job '" << args[1] << "'; the jobs are " << hk::job_names() << "\n";
      return k_usage;
    }
    jobs = {*j};
  }
  auto c = connect(s);
  if (!c) return fail("housekeeping run", c.err());
  auto opts = housekeeping_options(s);
  std::optional<error> first_failure;
  for (hk::job j : jobs) {
    if ((*c)->broken()) {  // an earlier job lost the connection: the next one gets a new one
      auto again = connect(s);
      if (!again) return fail("housekeeping run", again.err());
      *c = std::move(*again);
    }
    auto started = std::chrono::steady_clock::now();
    hk::job_run run(j, opts);
    std::optional<error> failure;
    for (;;) {
      auto more = run.step(**c);
      if (!more) {
        failure = more.err();
        break;
      }
      if (!*more) break;
    }
    auto line = boost::json::parse(run.progress().to_json()).as_object();
    line["ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    if (failure) {
      line["outcome"] = "failed";
      line["error"] = failure->message;
      if (!first_failure) first_failure = failure;
    }
    std::cout << boost::json::serialize(line) << std::endl;
  }
  if (first_failure) return fail("housekeeping run", *first_failure);
  return 0;
}

}  // namespace flowtrack::cli
