#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/histogram.h"

namespace jobq::http {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Builds a page in the Prometheus text exposition format (version 0.0.4):
// samples are grouped by family, each family once with its HELP and TYPE,
// label values escaped. Histograms of microseconds are exported in seconds
// with fixed cumulative buckets.
// Thread: one owner.
class PrometheusText {
 public:
  void Counter(const std::string& name, const std::string& help,
               const Labels& labels, double value);
  void Gauge(const std::string& name, const std::string& help,
             const Labels& labels, double value);
  // `h` holds microseconds (`scale` 1e-6, exported as seconds) or plain
  // counts (`scale` 1, with `count_bounds`).
  // Buckets from 100 µs to 300 s, or `bounds` (seconds) when given.
  void HistogramSeconds(const std::string& name, const std::string& help,
                        const Labels& labels, const Histogram& h,
                        const std::vector<double>* bounds = nullptr);
  void HistogramCounts(const std::string& name, const std::string& help,
                       const Labels& labels, const Histogram& h,
                       const std::vector<int64_t>& bounds);
  std::string Render() const;

 private:
  struct Family {
    std::string type;
    std::string help;
    std::vector<std::string> lines;
  };
  Family& Get(const std::string& name, const std::string& type,
              const std::string& help);
  static std::string Format(const std::string& name, const Labels& labels,
                            double value);

  std::map<std::string, Family> families_;
  std::vector<std::string> order_;
};

}  // namespace jobq::http
