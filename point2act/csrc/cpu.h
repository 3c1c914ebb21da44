// Helpers of point2act's torch extensions (render/csrc, losses_csrc, csrc): thread counts (threads.h) and
// tensor input checks. On each extension's include path (point2act/_cpp.py).

#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "threads.h"

namespace p2a {

inline void check_cpu_contig(const at::Tensor &t, const char *name) {
    TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
    TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace p2a
