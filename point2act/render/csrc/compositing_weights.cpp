// Sparse compositing weights w = alpha * T of every (pixel, Gaussian) pair (CSR), the tensors' side of the
// kernel (compositing_weights_impl, compositing_weights.h).

#include "common_aten.h"
#include "compositing_weights.h"
#include "ops.h"

namespace p2a {

std::vector<at::Tensor> compositing_weights(const at::Tensor &means2d, const at::Tensor &conics,
                                            const at::Tensor &opacities, int64_t width, int64_t height,
                                            int64_t tile_size, const at::Tensor &isect_offsets,
                                            const at::Tensor &flatten_ids, double min_weight, int64_t num_threads) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(conics, "conics");
    check_cpu_contig(opacities, "opacities");
    check_cpu_contig(isect_offsets, "isect_offsets");
    check_cpu_contig(flatten_ids, "flatten_ids");
    const auto dtype = means2d.scalar_type();
    TORCH_CHECK(conics.scalar_type() == dtype && opacities.scalar_type() == dtype,
                "means2d, conics and opacities must share a dtype");
    TORCH_CHECK(means2d.dim() == 3 && means2d.size(2) == 2, "means2d must be [C, N, 2]");
    const int64_t C = means2d.size(0), N = means2d.size(1);
    TORCH_CHECK(conics.size(0) == C && conics.size(1) == N && conics.size(2) == 3, "conics must be [C, N, 3]");
    TORCH_CHECK(opacities.size(0) == C && opacities.size(1) == N, "opacities must be [C, N]");
    TORCH_CHECK(N < std::numeric_limits<int32_t>::max(), "too many Gaussians");
    TORCH_CHECK(isect_offsets.size(0) == C, "isect_offsets must be [C, th, tw]");
    TORCH_CHECK(tile_size >= 1 && tile_size <= 64, "tile_size must be in [1, 64]");
    const int64_t tw = isect_offsets.size(2), th = isect_offsets.size(1);
    const int nthreads = resolve_threads(num_threads);
    const std::vector<int32_t> offsets = offsets_with_end(isect_offsets, flatten_ids.size(0));
    auto crow = at::empty({C * height * width + 1}, isect_offsets.options().dtype(at::kLong));
    at::Tensor col, val;
    auto alloc = [&](int64_t nnz, int32_t *&cols, float *&vals) {
        col = at::empty({nnz}, isect_offsets.options().dtype(at::kInt));
        val = at::empty({nnz}, isect_offsets.options().dtype(at::kFloat));
        cols = col.data_ptr<int32_t>();
        vals = val.data_ptr<float>();
    };
    AT_DISPATCH_FLOATING_TYPES(dtype, "compositing_weights", [&] {
        const TileJob<scalar_t> job{C, N, means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
                                    opacities.data_ptr<scalar_t>(), int(width), int(height), int(tile_size),
                                    int(tw), int(th), offsets.data(), flatten_ids.data_ptr<int32_t>()};
        compositing_weights_impl<scalar_t>(job, min_weight, nthreads, crow.data_ptr<int64_t>(), alloc);
    });
    return {crow, col, val};
}

}  // namespace p2a
