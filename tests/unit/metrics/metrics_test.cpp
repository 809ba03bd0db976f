// The Prometheus text the registry renders: counters, cumulative histogram buckets, gauges,
// escaped label values.
#include <gtest/gtest.h>

#include "metrics/metrics.hpp"

namespace flowtrack::metrics {
namespace {

TEST(metrics_test, renders_counters_histograms_and_gauges_in_the_text_format) {
  registry r;
  auto& requests = r.counters("t_requests_total", "Requests.", {"route", "status"});
  requests.at({"form", "202"}).add(3);
  requests.at({"form", "422"}).add();
  auto& latency = r.histograms("t_latency_seconds", "Latency.", {"route"}).at({"form"});
  latency.observe(0.0004);  // first bucket
  latency.observe(0.003);   // le 0.005
  latency.observe(20);      // only +Inf
  r.gauge("t_depth", "Depth.", {"queue"}, [] { return std::vector<gauge_reading>{{{"executions"}, 7}}; });
  std::string text = r.render();
  EXPECT_NE(text.find("# TYPE t_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_requests_total{route=\"form\",status=\"202\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_requests_total{route=\"form\",status=\"422\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE t_latency_seconds histogram\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_bucket{route=\"form\",le=\"0.0005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_bucket{route=\"form\",le=\"0.0025\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_bucket{route=\"form\",le=\"0.005\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_bucket{route=\"form\",le=\"10\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_bucket{route=\"form\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_count{route=\"form\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_sum{route=\"form\"} 20.0034\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE t_depth gauge\nt_depth{queue=\"executions\"} 7\n"), std::string::npos) << text;
}

TEST(metrics_test, a_series_is_made_once_and_label_values_are_escaped) {
  registry r;
  auto& fam = r.counters("t_total", "T.", {"reason"});
  auto& a = fam.at({"say \"hi\"\\\n"});
  a.add();
  EXPECT_EQ(&a, &fam.at({"say \"hi\"\\\n"}));
  EXPECT_EQ(&fam, &r.counters("t_total", "ignored", {"reason"}));
  EXPECT_NE(r.render().find(R"(t_total{reason="say \"hi\"\\\n"} 1)"), std::string::npos) << r.render();
}

}  // namespace
}  // namespace flowtrack::metrics
