#include <torchlr/schedule_plot.h>

#include <torchlr/momentum.h>

namespace torchlr {
namespace {

// Colours that stay distinguishable for a few groups (matplotlib's tab10).
const char* colour(std::size_t i) {
  static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[i % 10];
}

}  // namespace

void ScheduleRecord::record(const torch::optim::Optimizer& optimizer, int64_t step) {
  const auto& groups = optimizer.param_groups();
  if (lrs.size() < groups.size()) lrs.resize(groups.size());
  steps.push_back(step);
  const MomentumAccess* access = groups.empty() ? nullptr : momentum_access(groups[0].options());
  if (access && momenta.size() < groups.size()) momenta.resize(groups.size());
  if (access) beta1 = access->use_beta1;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    lrs[g].push_back(groups[g].options().get_lr());
    if (access) momenta[g].push_back(access->get(groups[g].options()));
  }
}

svg::Chart schedule_chart(const ScheduleRecord& record, const std::string& title, bool log_y) {
  svg::Chart chart;
  chart.title = title;
  chart.x_label = "step";
  std::vector<double> x(record.steps.begin(), record.steps.end());
  const bool several = record.lrs.size() > 1;
  svg::Panel lr_panel;
  lr_panel.y_label = log_y ? "learning rate (log scale)" : "learning rate";
  lr_panel.log_y = log_y;
  for (std::size_t g = 0; g < record.lrs.size(); ++g) {
    lr_panel.series.push_back({several ? "group " + std::to_string(g) : "lr", x, record.lrs[g], colour(g), 2.0, 1.0});
  }
  chart.panels.push_back(std::move(lr_panel));
  if (!record.momenta.empty()) {
    svg::Panel momentum;
    const std::string name = record.beta1 ? "beta1" : "momentum";
    momentum.y_label = record.beta1 ? "momentum (beta1)" : "momentum";
    for (std::size_t g = 0; g < record.momenta.size(); ++g) {
      momentum.series.push_back({several ? "group " + std::to_string(g) : name, x, record.momenta[g], colour(g), 2.0, 1.0});
    }
    chart.panels.push_back(std::move(momentum));
    chart.panel_height = 300;
  }
  return chart;
}

}  // namespace torchlr
