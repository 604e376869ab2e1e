#pragma once

// The factory's table of torchlr's own schedulers (internal).

#include <vector>

#include <torchlr/factory.h>

namespace torchlr::detail {

/// torchlr's schedulers, in PyTorch's documentation order: one entry each.
std::vector<SchedulerEntry> builtin_schedulers();

}  // namespace torchlr::detail
