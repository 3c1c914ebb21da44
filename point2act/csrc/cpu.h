// Helpers every point2act CPU extension includes (render/csrc, grasp/csrc, csrc): thread counts and
// input checks. On each extension's include path (point2act/_cpp.py).

#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace p2a {

// num_threads > 0: that many; otherwise OpenMP's default.
inline int resolve_threads(int64_t num_threads) {
    if (num_threads > 0) return static_cast<int>(num_threads);
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline void check_cpu_contig(const at::Tensor &t, const char *name) {
    TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
    TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace p2a
