#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <vector>


namespace torchlr {

/// A number given once for all param groups or once per group: PyTorch's "float or list"
/// arguments (`max_lr`, `base_lr`, `min_lr`, momenta). `0.1` or `{0.1, 0.05}`.
class PerGroup {
 public:
  /* implicit */ PerGroup(double value) : values_{value}, per_group_(false) {}
  /* implicit */ PerGroup(std::vector<double> values) : values_(std::move(values)), per_group_(true) {}
  /* implicit */ PerGroup(std::initializer_list<double> values) : values_(values), per_group_(true) {}

  bool per_group() const noexcept { return per_group_; }
  const std::vector<double>& values() const noexcept { return values_; }

  /// One value per group; a list of another length is PyTorch's ValueError, naming `name`.
  std::vector<double> expand(const std::string& name, std::size_t groups) const;

 private:
  std::vector<double> values_;
  bool per_group_;
};

}  // namespace torchlr
