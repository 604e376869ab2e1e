#include <torchlr/svg.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include <c10/util/Exception.h>

namespace torchlr::svg {
namespace {

constexpr double kLeft = 78, kRight = 24, kTop = 46, kGap = 46, kBottom = 54;

struct Axis {
  double lo, hi;
  bool log;
  double to_unit(double v) const {  // 0..1 along the axis
    const double a = log ? std::log10(lo) : lo;
    const double b = log ? std::log10(hi) : hi;
    const double t = log ? std::log10(v) : v;
    return (t - a) / (b - a);
  }
};

bool usable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

// The data range of usable values, widened so that a single value or a constant series still
// spans an axis.
Axis make_axis(const std::vector<const std::vector<double>*>& values, bool log) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto* v : values) {
    for (double d : *v) {
      if (!usable(d, log)) continue;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
  }
  if (!std::isfinite(lo)) return {log ? 0.1 : 0.0, log ? 10.0 : 1.0, log};
  if (log) {
    if (hi / lo < 1.0001) {
      lo /= 2;
      hi *= 2;
    }
    return {lo, hi, true};
  }
  if (hi - lo <= std::abs(hi) * 1e-12 || hi == lo) {
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    return {lo - pad, hi + pad, false};
  }
  const double pad = (hi - lo) * 0.04;
  return {lo - pad, hi + pad, false};
}

std::vector<double> ticks(const Axis& axis) {
  std::vector<double> out;
  if (axis.log) {
    const int a = static_cast<int>(std::floor(std::log10(axis.lo)));
    const int b = static_cast<int>(std::ceil(std::log10(axis.hi)));
    const int step = std::max(1, (b - a) / 8);
    for (int e = a; e <= b; e += step) {
      const double v = std::pow(10.0, e);
      if (v >= axis.lo * 0.999999 && v <= axis.hi * 1.000001) out.push_back(v);
    }
    if (out.size() >= 2) return out;
    out.clear();  // less than a decade: fall back to linear ticks
  }
  const double span = axis.hi - axis.lo;
  const double raw = span / 6;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * magnitude) {
      step = m * magnitude;
      break;
    }
  }
  // Counted in whole steps, not by adding up: where the step is below the floating-point
  // resolution at the axis' magnitude, `v += step` would never move. Ticks that round to the
  // same value are drawn once, and the count is bounded whatever the range.
  if (!std::isfinite(step) || step <= 0) return out;
  const double first = std::ceil(axis.lo / step);
  const double last = std::floor(axis.hi / step + 1e-9);
  constexpr int kMaxTicks = 20;
  for (int k = 0; k <= kMaxTicks && first + k <= last; ++k) {
    const double v = (first + k) * step;
    const double tick = std::abs(v) < step * 1e-9 ? 0.0 : v;
    if (out.empty() || tick != out.back()) out.push_back(tick);
  }
  return out;
}

// The title, on one line if it fits at a readable size, else on two lines split at a comma or
// space near the middle. Bold sans-serif glyphs average about 0.6 em wide.
std::string title_svg(const std::string& title, double width);

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_number(double value) {
  char buffer[32];
  // Plain digits for everyday magnitudes (1000, 0.0572), exponents only for extremes (1e-07).
  const double magnitude = std::abs(value);
  const bool plain = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e6);
  std::snprintf(buffer, sizeof(buffer), plain ? "%.4g" : "%.3g", value);
  return buffer;
}

namespace {
std::string title_svg(const std::string& title, double width) {
  const double room = width - 24;
  const auto size_for = [&](std::size_t chars) { return std::min(16.0, room / (0.6 * std::max<std::size_t>(chars, 1))); };
  std::vector<std::string> lines{title};
  if (size_for(title.size()) < 11 && title.size() > 20) {
    std::size_t cut = title.rfind(", ", title.size() / 2);
    if (cut == std::string::npos || cut < title.size() / 4) cut = title.find(' ', title.size() / 2);
    if (cut != std::string::npos) lines = {title.substr(0, cut + 1), title.substr(title.find_first_not_of(' ', cut + 1))};
  }
  std::size_t longest = 0;
  for (const auto& l : lines) longest = std::max(longest, l.size());
  const double size = std::max(8.0, size_for(longest));
  std::ostringstream out;
  out.precision(4);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const double y = lines.size() == 1 ? 26 : 17 + static_cast<double>(i) * (size + 2);
    out << "<text x=\"" << width / 2 << "\" y=\"" << y << "\" text-anchor=\"middle\" font-size=\"" << size
        << "\" font-weight=\"bold\">" << escape(lines[i]) << "</text>\n";
  }
  return out.str();
}
}  // namespace

std::string render(const Chart& chart) {
  const double width = chart.width;
  const double plot_w = width - kLeft - kRight;
  const double plot_h = chart.panel_height - kGap;
  const double height = kTop + static_cast<double>(chart.panels.size()) * chart.panel_height + kBottom - kGap;

  std::vector<const std::vector<double>*> xs;
  for (const auto& p : chart.panels) {
    for (const auto& s : p.series) xs.push_back(&s.x);
  }
  const Axis x_axis = make_axis(xs, chart.log_x);

  std::ostringstream svg;
  svg.precision(6);
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << title_svg(chart.title, width);

  std::size_t skipped = 0;
  for (std::size_t pi = 0; pi < chart.panels.size(); ++pi) {
    const Panel& panel = chart.panels[pi];
    const double top = kTop + static_cast<double>(pi) * chart.panel_height;
    std::vector<const std::vector<double>*> ys;
    for (const auto& s : panel.series) ys.push_back(&s.y);
    std::vector<double> marker_ys;
    for (const auto& m : panel.markers) marker_ys.push_back(m.y);
    ys.push_back(&marker_ys);
    Axis y_axis = make_axis(ys, panel.log_y);
    if (panel.y_range && panel.y_range->first < panel.y_range->second &&
        usable(panel.y_range->first, panel.log_y) && usable(panel.y_range->second, panel.log_y)) {
      y_axis = {panel.y_range->first, panel.y_range->second, panel.log_y};
    }
    auto px = [&](double x) { return kLeft + x_axis.to_unit(x) * plot_w; };
    auto py = [&](double y) { return top + (1 - std::clamp(y_axis.to_unit(y), 0.0, 1.0)) * plot_h; };

    svg << "<g>\n<rect x=\"" << kLeft << "\" y=\"" << top << "\" width=\"" << plot_w << "\" height=\"" << plot_h
        << "\" fill=\"none\" stroke=\"#444\"/>\n";
    for (double t : ticks(y_axis)) {
      svg << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + plot_w << "\" y1=\"" << py(t) << "\" y2=\"" << py(t)
          << "\" stroke=\"#ddd\"/><text x=\"" << kLeft - 6 << "\" y=\"" << py(t) + 4
          << "\" text-anchor=\"end\">" << escape(format_number(t)) << "</text>\n";
    }
    for (double t : ticks(x_axis)) {
      svg << "<line x1=\"" << px(t) << "\" x2=\"" << px(t) << "\" y1=\"" << top << "\" y2=\"" << top + plot_h
          << "\" stroke=\"#eee\"/>";
      if (pi + 1 == chart.panels.size()) {
        svg << "<text x=\"" << px(t) << "\" y=\"" << top + plot_h + 16 << "\" text-anchor=\"middle\">"
            << escape(format_number(t)) << "</text>";
      }
      svg << "\n";
    }
    svg << "<text transform=\"translate(18," << top + plot_h / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
        << escape(panel.y_label) << "</text>\n";

    // Each series as polylines, broken where a point cannot be drawn.
    for (const auto& s : panel.series) {
      std::vector<std::string> runs(1);
      for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
        if (!usable(s.x[i], chart.log_x) || !usable(s.y[i], panel.log_y)) {
          ++skipped;
          if (!runs.back().empty()) runs.emplace_back();
          continue;
        }
        std::ostringstream point;
        point.precision(6);
        point << px(s.x[i]) << ',' << py(s.y[i]) << ' ';
        runs.back() += point.str();
      }
      for (const auto& run : runs) {
        if (run.empty()) continue;
        if (std::count(run.begin(), run.end(), ' ') == 1) {  // a lone point: a dot
          const auto comma = run.find(',');
          svg << "<circle cx=\"" << run.substr(0, comma) << "\" cy=\"" << run.substr(comma + 1, run.size() - comma - 2)
              << "\" r=\"" << std::max(2.5, s.width) << "\" fill=\"" << s.color << "\" fill-opacity=\"" << s.opacity
              << "\"/>\n";
        } else {
          svg << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"" << s.width
              << "\" stroke-opacity=\"" << s.opacity << "\" stroke-linejoin=\"round\" points=\"" << run << "\"/>\n";
        }
      }
    }
    for (const auto& m : panel.markers) {
      if (!usable(m.x, chart.log_x) || !usable(m.y, panel.log_y)) continue;
      svg << "<circle cx=\"" << px(m.x) << "\" cy=\"" << py(m.y) << "\" r=\"6\" fill=\"none\" stroke=\"" << m.color
          << "\" stroke-width=\"2.5\"/>\n<text x=\"" << px(m.x) + 9 << "\" y=\"" << py(m.y) - 9 << "\" fill=\""
          << m.color << "\" font-weight=\"bold\">" << escape(m.label) << "</text>\n";
    }
    // Legend, top right of the panel, on a white backing so lines do not run through it.
    double ly = top + 16;
    const auto labelled = std::count_if(panel.series.begin(), panel.series.end(),
                                        [](const Series& s) { return !s.label.empty(); });
    if (labelled > 0) {
      svg << "<rect x=\"" << kLeft + plot_w - 176 << "\" y=\"" << top + 4 << "\" width=\"170\" height=\""
          << 16 * labelled + 6 << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n";
    }
    for (const auto& s : panel.series) {
      if (s.label.empty()) continue;
      svg << "<line x1=\"" << kLeft + plot_w - 170 << "\" x2=\"" << kLeft + plot_w - 146 << "\" y1=\"" << ly - 4
          << "\" y2=\"" << ly - 4 << "\" stroke=\"" << s.color << "\" stroke-width=\"" << s.width
          << "\" stroke-opacity=\"" << s.opacity << "\"/><text x=\"" << kLeft + plot_w - 140 << "\" y=\"" << ly
          << "\">" << escape(s.label) << "</text>\n";
      ly += 16;
    }
    svg << "</g>\n";
  }
  const double bottom = kTop + static_cast<double>(chart.panels.size()) * chart.panel_height - kGap;
  svg << "<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << bottom + 38 << "\" text-anchor=\"middle\">"
      << escape(chart.x_label) << "</text>\n";
  if (skipped > 0) {
    svg << "<text x=\"" << width - kRight << "\" y=\"" << height - 8 << "\" text-anchor=\"end\" fill=\"#777\">"
        << skipped << " point(s) not drawn (NaN, infinite, or not positive on a log axis)</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

void write(const Chart& chart, const std::string& path) {
  const std::string text = render(chart);
  std::ofstream out(path, std::ios::binary);
  TORCH_CHECK(out.good(), "cannot write '", path, "'");
  out << text;
  TORCH_CHECK(out.good(), "failed writing '", path, "'");
}

}  // namespace torchlr::svg
