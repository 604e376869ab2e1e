// The SVG chart module behind every plot: escaping, degenerate series, non-finite and extreme values.

#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <limits>
#include <memory>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <torchlr/torchlr.h>

namespace {

using torchlr::svg::Chart;
using torchlr::svg::Panel;
using torchlr::svg::Series;

Chart one_series(std::vector<double> x, std::vector<double> y, bool log_x = false, bool log_y = false) {
  Chart chart;
  chart.title = "t";
  chart.x_label = "x";
  chart.log_x = log_x;
  Panel panel;
  panel.log_y = log_y;
  panel.series.push_back({"s", std::move(x), std::move(y)});
  chart.panels.push_back(panel);
  return chart;
}

// No coordinate or size may be NaN or infinite, whatever the data.
void ExpectFiniteAttributes(const std::string& svg) {
  static const std::regex bad(R"(="[^"]*(nan|inf)[^"]*")", std::regex::icase);
  EXPECT_FALSE(std::regex_search(svg, bad)) << svg.substr(0, 2000);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Svg, EscapesText) {
  EXPECT_EQ(torchlr::svg::escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  auto chart = one_series({0, 1}, {1, 2});
  chart.title = "<script>alert('x')</script>";
  const auto svg = torchlr::svg::render(chart);
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;"), std::string::npos);
}

TEST(Svg, SinglePointIsADot) {
  const auto svg = torchlr::svg::render(one_series({3}, {0.5}));
  ExpectFiniteAttributes(svg);
  EXPECT_EQ(count(svg, "<polyline"), 0);
  EXPECT_EQ(count(svg, "<circle"), 1);
}

TEST(Svg, ConstantSeriesGetsARange) {
  const auto svg = torchlr::svg::render(one_series({0, 1, 2}, {0.1, 0.1, 0.1}));
  ExpectFiniteAttributes(svg);
  EXPECT_EQ(count(svg, "<polyline"), 1);
  const auto zeros = torchlr::svg::render(one_series({0, 1, 2}, {0, 0, 0}));
  ExpectFiniteAttributes(zeros);
}

TEST(Svg, NonFiniteValuesAreSkippedAndNoted) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const auto svg = torchlr::svg::render(one_series({0, 1, 2, 3, 4, 5}, {1, 2, nan, 3, inf, 4}));
  ExpectFiniteAttributes(svg);
  EXPECT_NE(svg.find("2 point(s) not drawn"), std::string::npos);
  // The line breaks at each gap: [0,1], [3], [5].
  EXPECT_EQ(count(svg, "<polyline"), 1);
  EXPECT_EQ(count(svg, "<circle"), 2);
  const auto all_bad = torchlr::svg::render(one_series({0, 1}, {nan, inf}));
  ExpectFiniteAttributes(all_bad);
}

TEST(Svg, ExtremeMagnitudes) {
  ExpectFiniteAttributes(torchlr::svg::render(one_series({0, 1, 2}, {1e-300, 2e-300, 5e-300})));
  ExpectFiniteAttributes(torchlr::svg::render(one_series({0, 1, 2}, {1e300, -1e300, 0})));
  ExpectFiniteAttributes(torchlr::svg::render(one_series({1e-9, 1e-3, 1e3}, {1e-12, 1, 1e12}, true, true)));
  const auto svg = torchlr::svg::render(one_series({1e-7, 1e-3, 10}, {1, 2, 3}, true));
  EXPECT_NE(svg.find(">1e-07<"), std::string::npos);  // log ticks at decades
  EXPECT_NE(svg.find(">0.001<"), std::string::npos);
}

// A fixed y range narrower than the spacing of doubles at its magnitude: at 1e17 doubles are 16
// apart, and a tick step of 5 added to one does not move it. render must still finish, with a
// few distinct ticks; a watchdog turns a hang into a failure instead of a stuck test run.
TEST(Svg, RangeNarrowerThanTheFloatingPointStepTerminates) {
  auto rendered = std::make_shared<std::promise<std::string>>();  // shared: the thread may outlive the test
  auto done = rendered->get_future();
  std::thread([rendered] {
    auto chart = one_series({0, 1}, {1e17, 1e17 + 16});
    chart.panels[0].y_range = std::make_pair(1e17, 1e17 + 16);
    rendered->set_value(torchlr::svg::render(chart));
  }).detach();
  if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::cerr << "svg::render did not finish within 20 s: its tick loop never ends\n";
    std::_Exit(1);
  }
  const std::string svg = done.get();
  ExpectFiniteAttributes(svg);
  EXPECT_GE(count(svg, "stroke=\"#ddd\""), 1);  // the y grid lines
  EXPECT_LE(count(svg, "stroke=\"#ddd\""), 21);
}

TEST(Svg, LogAxisSkipsNonPositiveValues) {
  const auto svg = torchlr::svg::render(one_series({0, 1, 2, 3}, {0.0, 0.1, -1, 0.01}, false, true));
  ExpectFiniteAttributes(svg);
  EXPECT_NE(svg.find("2 point(s) not drawn"), std::string::npos);
}

TEST(Svg, FormatNumber) {
  EXPECT_EQ(torchlr::svg::format_number(1000), "1000");
  EXPECT_EQ(torchlr::svg::format_number(0.0572237), "0.05722");
  EXPECT_EQ(torchlr::svg::format_number(1e-7), "1e-07");
  EXPECT_EQ(torchlr::svg::format_number(0), "0");
}

TEST(SchedulePlot, RecordsLrsAndMomentaPerGroup) {
  auto a = torch::zeros({1}).requires_grad_();
  auto b = torch::zeros({1}).requires_grad_();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{a}, std::make_unique<torch::optim::AdamOptions>(0.1));
  groups.emplace_back(std::vector<torch::Tensor>{b}, std::make_unique<torch::optim::AdamOptions>(0.2));
  torch::optim::Adam adam(std::move(groups), torch::optim::AdamOptions(0.1));
  torchlr::ScheduleRecord record;
  record.record(adam, 0);
  record.record(adam, 1);
  EXPECT_EQ(record.steps, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(record.lrs, (std::vector<std::vector<double>>{{0.1, 0.1}, {0.2, 0.2}}));
  EXPECT_EQ(record.momenta.size(), 2u);
  EXPECT_TRUE(record.beta1);
  const auto svg = torchlr::svg::render(torchlr::schedule_chart(record, "two groups"));
  EXPECT_NE(svg.find(">group 1<"), std::string::npos);
  EXPECT_NE(svg.find("momentum (beta1)"), std::string::npos);
}

}  // namespace
