#include "http/prometheus_text.h"

#include <cmath>
#include <cstdio>

namespace jobq::http {
namespace {

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

// Bucket bounds in seconds.
const std::vector<double>& SecondsBounds() {
  static const std::vector<double> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    300};
  return kBounds;
}

}  // namespace

PrometheusText::Family& PrometheusText::Get(const std::string& name,
                                            const std::string& type,
                                            const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
    order_.push_back(name);
  }
  return it->second;
}

std::string PrometheusText::Format(const std::string& name,
                                   const Labels& labels, double value) {
  std::string line = name;
  if (!labels.empty()) {
    line += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) line += ',';
      line += labels[i].first + "=\"" + Escape(labels[i].second) + '"';
    }
    line += '}';
  }
  return line + ' ' + Number(value);
}

void PrometheusText::Counter(const std::string& name, const std::string& help,
                             const Labels& labels, double value) {
  Get(name, "counter", help).lines.push_back(Format(name, labels, value));
}

void PrometheusText::Gauge(const std::string& name, const std::string& help,
                           const Labels& labels, double value) {
  Get(name, "gauge", help).lines.push_back(Format(name, labels, value));
}

void PrometheusText::HistogramSeconds(const std::string& name,
                                      const std::string& help,
                                      const Labels& labels, const Histogram& h,
                                      const std::vector<double>* bounds) {
  Family& f = Get(name, "histogram", help);
  for (double le : bounds != nullptr ? *bounds : SecondsBounds()) {
    Labels l = labels;
    l.emplace_back("le", Number(le));
    f.lines.push_back(Format(
        name + "_bucket", l,
        static_cast<double>(h.CountAtOrBelow(static_cast<int64_t>(le * 1e6)))));
  }
  Labels inf = labels;
  inf.emplace_back("le", "+Inf");
  f.lines.push_back(
      Format(name + "_bucket", inf, static_cast<double>(h.Count())));
  f.lines.push_back(
      Format(name + "_sum", labels, static_cast<double>(h.Sum()) / 1e6));
  f.lines.push_back(
      Format(name + "_count", labels, static_cast<double>(h.Count())));
}

void PrometheusText::HistogramCounts(const std::string& name,
                                     const std::string& help,
                                     const Labels& labels, const Histogram& h,
                                     const std::vector<int64_t>& bounds) {
  Family& f = Get(name, "histogram", help);
  for (int64_t le : bounds) {
    Labels l = labels;
    l.emplace_back("le", Number(static_cast<double>(le)));
    f.lines.push_back(
        Format(name + "_bucket", l, static_cast<double>(h.CountAtOrBelow(le))));
  }
  Labels inf = labels;
  inf.emplace_back("le", "+Inf");
  f.lines.push_back(
      Format(name + "_bucket", inf, static_cast<double>(h.Count())));
  f.lines.push_back(
      Format(name + "_sum", labels, static_cast<double>(h.Sum())));
  f.lines.push_back(
      Format(name + "_count", labels, static_cast<double>(h.Count())));
}

std::string PrometheusText::Render() const {
  std::string out;
  for (const auto& name : order_) {
    const Family& f = families_.at(name);
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& line : f.lines) out += line + "\n";
  }
  return out;
}

}  // namespace jobq::http
