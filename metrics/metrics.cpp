#include "metrics/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <type_traits>

namespace flowtrack::metrics {

void histogram::observe(double value) {
  if (!(value >= 0)) value = 0;  // NaN and negatives count as zero
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(std::llround(value * 1e6)), std::memory_order_relaxed);
}

std::uint64_t histogram::cumulative(std::size_t i) const {
  std::uint64_t n = 0;
  for (std::size_t b = 0; b <= i && b <= bounds_.size(); ++b) n += buckets_[b].load(std::memory_order_relaxed);
  return n;
}

template <class T>
T& family<T>::at(const labels& values) {
  std::lock_guard lock(mutex_);
  auto& slot = series_[values];
  if (!slot) {
    if constexpr (std::is_same_v<T, histogram>) slot = std::make_unique<T>(bounds_);
    else slot = std::make_unique<T>();
  }
  return *slot;
}

template <class T>
void family<T>::each(const std::function<void(const labels&, const T&)>& f) const {
  std::lock_guard lock(mutex_);
  for (const auto& [values, series] : series_) f(values, *series);
}

template class family<counter>;
template class family<histogram>;

namespace {

// The family named `name` in `families`, made on first use (the first help and labels stay).
template <class T>
family<T>& find_or_make(std::map<std::string, std::unique_ptr<family<T>>, std::less<>>& families, std::string_view name,
                        std::string_view help, std::vector<std::string> label_names,
                        std::span<const double> bounds = histogram::k_bounds) {
  auto it = families.find(name);
  if (it == families.end())
    it = families.emplace(std::string(name), std::make_unique<family<T>>(std::string(name), std::string(help),
                                                                         std::move(label_names), bounds)).first;
  return *it->second;
}

}  // namespace

family<counter>& registry::counters(std::string_view name, std::string_view help, std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  return find_or_make(counters_, name, help, std::move(label_names));
}

family<histogram>& registry::histograms(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names, std::span<const double> bounds) {
  std::lock_guard lock(mutex_);
  return find_or_make(histograms_, name, help, std::move(label_names), bounds);
}

void registry::gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                     std::function<std::vector<gauge_reading>()> read) {
  std::lock_guard lock(mutex_);
  gauges_[std::string(name)] = gauge_entry{std::string(help), std::move(label_names), std::move(read)};
}

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

// {a="x",b="y"} plus an optional extra pair (the histogram's le).
std::string label_text(const std::vector<std::string>& names, const labels& values, std::string_view extra_name = {},
                       std::string_view extra_value = {}) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + escape_label(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    out += out.empty() ? "{" : ",";
    out += std::string(extra_name) + "=\"" + std::string(extra_value) + "\"";
  }
  if (!out.empty()) out += "}";
  return out;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, const std::string& name, const std::string& help, std::string_view type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + std::string(type) + "\n";
}

}  // namespace

std::string registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  // Entries, not structured bindings: clang 14 cannot capture a binding in a lambda.
  for (const auto& entry : counters_) {
    const auto& name = entry.first;
    const auto& fam = entry.second;
    header(out, name, fam->help(), "counter");
    fam->each([&](const labels& v, const counter& c) {
      out += name + label_text(fam->label_names(), v) + " " + std::to_string(c.value()) + "\n";
    });
  }
  for (const auto& entry : histograms_) {
    const auto& name = entry.first;
    const auto& fam = entry.second;
    header(out, name, fam->help(), "histogram");
    fam->each([&](const labels& v, const histogram& h) {
      for (std::size_t i = 0; i < h.bounds().size(); ++i)
        out += name + "_bucket" + label_text(fam->label_names(), v, "le", number(h.bounds()[i])) + " " +
               std::to_string(h.cumulative(i)) + "\n";
      out += name + "_bucket" + label_text(fam->label_names(), v, "le", "+Inf") + " " + std::to_string(h.count()) + "\n";
      out += name + "_sum" + label_text(fam->label_names(), v) + " " + number(h.sum()) + "\n";
      out += name + "_count" + label_text(fam->label_names(), v) + " " + std::to_string(h.count()) + "\n";
    });
  }
  for (const auto& [name, g] : gauges_) {
    header(out, name, g.help, "gauge");
    for (const auto& r : g.read()) out += name + label_text(g.label_names, r.values) + " " + number(r.value) + "\n";
  }
  return out;
}

registry& global() {
  static registry r;
  return r;
}

}  // namespace flowtrack::metrics
