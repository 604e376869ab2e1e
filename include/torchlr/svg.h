#pragma once

// Self-contained SVG line charts: one or more panels stacked over a shared x axis, linear or
// log scales, a legend, labelled markers. The one chart module behind the LR finder's plot,
// `torchlr plot` and the example gallery. Non-finite points (and non-positive ones on a log axis)
// are skipped, and the chart says how many were. The file opens in a browser or image viewer.

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace torchlr::svg {

struct Series {
  std::string label;
  std::vector<double> x, y;
  std::string color = "#1f77b4";
  double width = 1.8;
  double opacity = 1.0;
};

struct Marker {
  double x, y;
  std::string label;
  std::string color = "#d62728";
};

struct Panel {
  std::string y_label;
  bool log_y = false;
  /// A fixed y range; points beyond it are drawn clipped at the border. Empty: fit the data.
  std::optional<std::pair<double, double>> y_range;
  std::vector<Series> series;
  std::vector<Marker> markers;
};

struct Chart {
  std::string title;
  std::string x_label;
  bool log_x = false;
  std::vector<Panel> panels;
  int width = 860;
  int panel_height = 380;
};

/// The chart as SVG text.
std::string render(const Chart& chart);

/// Writes `render(chart)` to `path`; throws c10::Error if the file cannot be written.
void write(const Chart& chart, const std::string& path);

/// Escapes &, <, >, " and ' for SVG text and attributes.
std::string escape(const std::string& text);

/// A compact label for a number: 0.001, 1e-07, 2.5e+04.
std::string format_number(double value);

}  // namespace torchlr::svg
