// Precompiled header shared by every libtorch target (see cmake/SdxlDependencies.cmake).
// Only heavy, stable third-party headers belong here.
#pragma once
#include <torch/torch.h>
