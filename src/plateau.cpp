#include <torchlr/plateau.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

#include "internal.h"
#include "lr_access.h"
#include "state_archive_impl.h"

namespace torchlr {
namespace {

const ReduceLROnPlateauOptions& validated(const ReduceLROnPlateauOptions& o) {
  // PyTorch's order: factor, min_lr length (checked in the constructor); the modes are enums.
  TORCH_CHECK_VALUE(o.factor() < 1.0, "ReduceLROnPlateau: Factor should be < 1.0. (factor = ", o.factor(), ")");
  detail::check_finite("ReduceLROnPlateau", "factor", o.factor());
  detail::check_finite("ReduceLROnPlateau", "threshold", o.threshold());
  detail::check_finite("ReduceLROnPlateau", "eps", o.eps());
  for (double m : o.min_lr().values()) detail::check_finite("ReduceLROnPlateau", "min_lr", m);
  return o;
}

std::vector<double> expand_min_lrs(const ReduceLROnPlateauOptions& o, std::size_t groups) {
  if (!o.min_lr().per_group()) return std::vector<double>(groups, o.min_lr().values().front());
  TORCH_CHECK_VALUE(o.min_lr().values().size() == groups, "ReduceLROnPlateau: expected ", groups,
                    " min_lrs, got ", o.min_lr().values().size());
  return o.min_lr().values();
}

}  // namespace

ReduceLROnPlateau::ReduceLROnPlateau(torch::optim::Optimizer& optimizer,
                                     const ReduceLROnPlateauOptions& options)
    : optimizer_(&optimizer),
      options_(validated(options)),
      min_lrs_(expand_min_lrs(options_, optimizer.param_groups().size())),
      best_(options_.mode() == PlateauMode::min ? std::numeric_limits<double>::infinity()
                                     : -std::numeric_limits<double>::infinity()),
      lr_access_(std::make_unique<detail::LrAccess>()) {
  record_last_lr();
}

ReduceLROnPlateau::~ReduceLROnPlateau() = default;

bool ReduceLROnPlateau::is_better(double a) const {
  // A non-finite metric is never an improvement, so it can never become `best`.
  if (!std::isfinite(a)) return false;
  const double t = options_.threshold();
  const bool rel = options_.threshold_mode() == ThresholdMode::rel;
  if (options_.mode() == PlateauMode::min) return rel ? a < best_ * (1.0 - t) : a < best_ - t;
  return rel ? a > best_ * (t + 1.0) : a > best_ + t;
}

void ReduceLROnPlateau::step(double metric) {
  const Distributed& dist = options_.distributed();
  if (dist.active()) {
    // One collective of [metric, not finite]: the mean, or NaN when some rank's is not finite.
    const bool finite = std::isfinite(metric);
    const auto sums = dist.sum({finite ? metric : 0.0, finite ? 0.0 : 1.0});
    metric = sums[1] > 0 ? std::numeric_limits<double>::quiet_NaN() : sums[0] / static_cast<double>(dist.size());
  }
  // All or nothing: reduce_lr may refuse (groups added with a per-group min_lr).
  const auto saved = std::make_tuple(last_epoch_, best_, num_bad_epochs_, cooldown_counter_);
  try {
    advance(metric);
  } catch (...) {
    std::tie(last_epoch_, best_, num_bad_epochs_, cooldown_counter_) = saved;
    throw;
  }
}

void ReduceLROnPlateau::advance(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options_.patience()) {
    reduce_lr();
    cooldown_counter_ = options_.cooldown();
    num_bad_epochs_ = 0;
  }
  record_last_lr();
}

std::vector<double> ReduceLROnPlateau::min_lrs_for_groups() const {
  const std::size_t groups = optimizer_->param_groups().size();
  if (groups == min_lrs_.size()) return min_lrs_;
  // Groups added after construction: a scalar min_lr extends, a list no longer fits.
  TORCH_CHECK_VALUE(!options_.min_lr().per_group(), "ReduceLROnPlateau: The number of param groups in the `optimizer` (",
                    groups, ") differs from when `ReduceLROnPlateau` was initialized (",
                    min_lrs_.size(), "), usually due to a new param group being added to the "
                    "optimizer. Please modify the `min_lrs` field to match the length of the "
                    "`optimizer` param groups.");
  return std::vector<double>(groups, options_.min_lr().values().front());
}

void ReduceLROnPlateau::reduce_lr() {
  auto& groups = optimizer_->param_groups();
  if (groups.size() != min_lrs_.size()) min_lrs_ = min_lrs_for_groups();
  lr_access_->sync(groups);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const double old_lr = lr_access_->get(g);
    const double new_lr = std::max(old_lr * options_.factor(), min_lrs_[g]);
    if (old_lr - new_lr > options_.eps()) lr_access_->set(g, new_lr);
  }
}

void ReduceLROnPlateau::record_last_lr() {
  auto& groups = optimizer_->param_groups();
  last_lr_.resize(groups.size());
  lr_access_->sync(groups);
  for (std::size_t g = 0; g < groups.size(); ++g) last_lr_[g] = lr_access_->get(g);
}

void ReduceLROnPlateau::checkpoint(StateArchive& archive) {
  std::string type = name();
  archive.field("type", type);
  TORCH_CHECK_VALUE(type == name(), "cannot load a checkpoint of a ", type, " into a ", name());
  int64_t groups = static_cast<int64_t>(optimizer_->param_groups().size());
  archive.field("num_groups", groups);
  TORCH_CHECK_VALUE(groups == static_cast<int64_t>(optimizer_->param_groups().size()), name(),
                    ": the checkpoint was saved for ", groups, " param groups, but this optimizer has ",
                    optimizer_->param_groups().size());
  detail::mode_field(archive, "mode", options_.mode(), name());
  archive.field("factor", options_.factor());
  archive.field("patience", options_.patience());
  archive.field("threshold", options_.threshold());
  detail::mode_field(archive, "threshold_mode", options_.threshold_mode(), name());
  archive.field("cooldown", options_.cooldown());
  archive.field("eps", options_.eps());
  // A checkpoint holds one min_lr per group, so groups added (with a scalar min_lr) since the
  // last reduction are written as that reduction would extend them.
  std::vector<double> min_lrs = archive.loading() ? min_lrs_ : min_lrs_for_groups();
  archive.field("min_lrs", min_lrs);
  if (archive.loading()) min_lrs_ = std::move(min_lrs);
  archive.field("last_epoch", last_epoch_);
  archive.field("last_lr", last_lr_);
  archive.field("best", best_);
  archive.field("num_bad_epochs", num_bad_epochs_);
  archive.field("cooldown_counter", cooldown_counter_);
  if (archive.loading()) {
    validated(options_);
    TORCH_CHECK_VALUE(min_lrs_.size() == static_cast<std::size_t>(groups) &&
                          last_lr_.size() == static_cast<std::size_t>(groups),
                      name(), ": the checkpoint's min_lrs/last_lr do not have one value per group");
    TORCH_CHECK_VALUE(!std::isnan(best_), name(), ": the checkpoint holds a NaN best");
    detail::check_all_finite_in_checkpoint(name(), "min_lrs", min_lrs_);
    detail::check_all_finite_in_checkpoint(name(), "last_lr", last_lr_);
    TORCH_CHECK_VALUE(detail::is_valid_count(last_epoch_, -detail::kMaxExactInteger) &&
                          detail::is_valid_count(num_bad_epochs_) && cooldown_counter_ >= 0,
                      name(), ": the checkpoint holds an invalid counter (last_epoch ", last_epoch_,
                      ", num_bad_epochs ", num_bad_epochs_, ", cooldown_counter ", cooldown_counter_, ")");
  }
  detail::optimizer_lrs_field(archive, *optimizer_, name());
}

void ReduceLROnPlateau::save(torch::serialize::OutputArchive& archive) const {
  detail::save_state(archive, [this](StateArchive& a) { const_cast<ReduceLROnPlateau*>(this)->checkpoint(a); });
}

void ReduceLROnPlateau::load(torch::serialize::InputArchive& archive) {
  detail::load_state(archive, [this](StateArchive& a) { checkpoint(a); });
}

void ReduceLROnPlateau::step_with(std::optional<double> metric) {
  TORCH_CHECK_VALUE(metric.has_value(), "ReduceLROnPlateau: step() missing 1 required argument: 'metrics'");
  step(*metric);
}

}  // namespace torchlr
