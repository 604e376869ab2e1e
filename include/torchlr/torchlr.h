#pragma once

// Everything torchlr offers, in one include.

#include <torchlr/composite.h>
#include <torchlr/config.h>
#include <torchlr/cosine.h>
#include <torchlr/cyclic.h>
#include <torchlr/decay.h>
#include <torchlr/factory.h>
#include <torchlr/fairseq.h>
#include <torchlr/lambda.h>
#include <torchlr/lr_finder.h>
#include <torchlr/modes.h>
#include <torchlr/momentum.h>
#include <torchlr/per_group.h>
#include <torchlr/plateau.h>
#include <torchlr/schedule_plot.h>
#include <torchlr/scheduler.h>
#include <torchlr/scheduler_base.h>
#include <torchlr/state_archive.h>
#include <torchlr/svg.h>
#include <torchlr/swa.h>
#include <torchlr/timm.h>
#include <torchlr/transformers.h>
#include <torchlr/version.h>
