#pragma once

// What the property and fault tests compare: every group's lr and momentum, bit for bit.

#include <cmath>
#include <cstring>
#include <vector>

#include <torch/optim/optimizer.h>

#include <torchlr/momentum.h>

namespace torchlr::testing {

// How many random configs each property draws; the sanitizer build draws fewer (it is ~20x
// slower) through TORCHLR_PROPERTY_CONFIGS.
#ifndef TORCHLR_PROPERTY_CONFIGS
#define TORCHLR_PROPERTY_CONFIGS 2000
#endif
constexpr int kPropertyConfigs = TORCHLR_PROPERTY_CONFIGS;

struct OptimizerValues {
  std::vector<double> lrs;
  std::vector<double> momenta;     // 0 where a group has none
  std::vector<bool> has_momentum;
};

inline OptimizerValues read_values(const torch::optim::Optimizer& optimizer) {
  OptimizerValues v;
  for (const auto& group : optimizer.param_groups()) {
    const auto& options = group.options();
    const MomentumAccess* access = momentum_access(options);
    v.lrs.push_back(options.get_lr());
    v.momenta.push_back(access ? access->get(options) : 0.0);
    v.has_momentum.push_back(access != nullptr);
  }
  return v;
}

/// Equal bit for bit (so NaN equals the same NaN, and 0.0 differs from -0.0).
inline bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

inline bool same_values(const OptimizerValues& a, const OptimizerValues& b) {
  return same_bits(a.lrs, b.lrs) && same_bits(a.momenta, b.momenta) && a.has_momentum == b.has_momentum;
}

}  // namespace torchlr::testing
