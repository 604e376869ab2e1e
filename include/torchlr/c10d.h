#pragma once

// For programs that hold c10d process groups (a LibTorch with distributed support): torchlr's
// data-parallel API and c10d's ProcessGroup, whose complete type a program needs to keep the
// group that gloo_process_group_from_env() returns. torchlr/distributed.h alone does not include
// c10d.

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include <torchlr/distributed.h>
