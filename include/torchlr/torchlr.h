#pragma once

// Everything torchlr offers, in one include.

#include <torchlr/composite.h>
#include <torchlr/cosine.h>
#include <torchlr/decay.h>
#include <torchlr/lambda.h>
#include <torchlr/scheduler.h>
#include <torchlr/state_archive.h>
