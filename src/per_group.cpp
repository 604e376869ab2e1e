#include <torchlr/per_group.h>

#include <c10/util/Exception.h>

namespace torchlr {

std::vector<double> PerGroup::expand(const std::string& name, std::size_t groups) const {
  if (!per_group_) return std::vector<double>(groups, values_.front());
  TORCH_CHECK_VALUE(values_.size() == groups, name, " must have the same length as optimizer.param_groups. ", name,
                    " has ", values_.size(), " values, param_groups has ", groups, ".");
  return values_;
}

}  // namespace torchlr
