// Process-wide metrics in the Prometheus text format: counters, histograms and gauges read at
// scrape time. Recording is lock-free (relaxed atomics); finding a labelled series takes a mutex,
// so hot paths look a series up once and keep the reference (series live as long as the process).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace flowtrack::metrics {

/// A monotonically increasing count.
class counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// Observations in fixed buckets, with their sum and count. The bounds are seconds by default
/// (k_bounds); a family may give others (k_size_bounds for batch sizes), at most k_max_bounds.
class histogram {
 public:
  /// Upper bounds in seconds: 0.5 ms to 10 s, roughly ×2.5 apart.
  static constexpr std::array<double, 14> k_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,   5,     10};
  /// Upper bounds for counts of things (a batch's size): powers of two to 1,024.
  static constexpr std::array<double, 11> k_size_bounds{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  static constexpr std::size_t k_max_bounds = 16;

  explicit histogram(std::span<const double> bounds = k_bounds)
      : bounds_(bounds.subspan(0, std::min(bounds.size(), k_max_bounds))) {}
  void observe(double value);
  /// Cumulative count of observations <= bound i (i == size: all).
  std::uint64_t cumulative(std::size_t i) const;
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6; }
  std::span<const double> bounds() const { return bounds_; }

 private:
  std::span<const double> bounds_;  // static storage
  std::array<std::atomic<std::uint64_t>, k_max_bounds + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

/// Label values in the order of the family's label names.
using labels = std::vector<std::string>;

/// A metric name with labelled series of one kind.
template <class T>
class family {
 public:
  family(std::string name, std::string help, std::vector<std::string> label_names,
         std::span<const double> bounds = histogram::k_bounds)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), bounds_(bounds) {}
  /// The series for these label values, made on first use; the reference stays valid.
  T& at(const labels& values);
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  /// Calls f(values, series) for every series, in label order.
  void each(const std::function<void(const labels&, const T&)>& f) const;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::span<const double> bounds_;  // histograms only
  mutable std::mutex mutex_;
  std::map<labels, std::unique_ptr<T>> series_;
};

/// A value read when scraped (queue depth, pool use), with label values.
struct gauge_reading {
  labels values;
  double value = 0;
};

/// The process's metrics.
class registry {
 public:
  family<counter>& counters(std::string_view name, std::string_view help, std::vector<std::string> label_names = {});
  /// Histograms; `bounds` (static storage) are their buckets' upper bounds.
  family<histogram>& histograms(std::string_view name, std::string_view help, std::vector<std::string> label_names = {},
                                std::span<const double> bounds = histogram::k_bounds);
  /// A gauge read by `read` at each scrape (it must be cheap and never block on I/O); a later
  /// registration under the same name replaces the earlier one.
  void gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names,
             std::function<std::vector<gauge_reading>()> read);
  /// Everything, in the Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  struct gauge_entry {
    std::string help;
    std::vector<std::string> label_names;
    std::function<std::vector<gauge_reading>()> read;
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<family<counter>>, std::less<>> counters_;
  std::map<std::string, std::unique_ptr<family<histogram>>, std::less<>> histograms_;
  std::map<std::string, gauge_entry, std::less<>> gauges_;
};

/// The one registry of this process.
registry& global();

/// Escapes a label value for the text format (backslash, quote, line feed).
std::string escape_label(std::string_view v);

}  // namespace flowtrack::metrics
