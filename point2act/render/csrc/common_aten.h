// The ATen side of the rasterizer's ops (every csrc/*.cpp wrapper of a kernel): ATen's headers, the tensor
// checks of cpu.h (point2act/csrc) and the helpers that read tensors. The kernels themselves and everything they
// share are torch-free (common.h and each kernel's own header).

#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"
#include "cpu.h"  // check_cpu_contig (point2act/csrc)

namespace p2a {

// isect offsets [C * n_tiles] + the total as a last entry.
inline std::vector<int32_t> offsets_with_end(const at::Tensor &isect_offsets, int64_t n_isects) {
    const int64_t n = isect_offsets.numel();
    std::vector<int32_t> offsets(n + 1);
    std::memcpy(offsets.data(), isect_offsets.data_ptr<int32_t>(), n * sizeof(int32_t));
    offsets[n] = static_cast<int32_t>(n_isects);
    return offsets;
}

}  // namespace p2a
