// What the load generators read of the node under load (/proc) and how they print it: CPU time,
// memory, percentiles and optional numbers. Header-only: the benchmarks link no FlowTrack library.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace flowtrack::bench {

/// User + system CPU time of a process in seconds (/proc/PID/stat utime + stime), or -1.
inline double cpu_seconds(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15 (1-based) are utime, stime
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// Busy CPU seconds of the whole machine, all cores (/proc/stat: user, nice, system, irq, softirq
/// and steal; not idle or iowait), or -1: with the figure of a window, work per CPU-second, which
/// compares across machines.
inline double machine_busy_seconds() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") return -1;
  return static_cast<double>(user + nice + system + irq + softirq + steal) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// VmRSS or VmHWM of a process in MiB, or -1 when it cannot be read.
inline double memory_mb(long pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key, 0) == 0) return std::strtod(line.c_str() + std::strlen(key) + 1, nullptr) / 1024.0;
  return -1;
}

/// The p-quantile (0..1) of latencies in microseconds, sorted ascending, in milliseconds.
inline double percentile_ms(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto i = std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return sorted[i] / 1000.0;
}

/// `v` printed with `format`, or `null` when negative (not measured).
inline std::string number_or_null(double v, const char* format) {
  if (v < 0) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

/// The machine's 1-minute load average (/proc/loadavg), or -1: how busy the shared machine was.
inline double loadavg_1m() {
  std::ifstream f("/proc/loadavg");
  double v = -1;
  f >> v;
  return v;
}

inline double wall_now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace flowtrack::bench
