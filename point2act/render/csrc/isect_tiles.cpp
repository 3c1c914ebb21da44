// Tile/Gaussian intersections (gsplat's isect_tiles + isect_offset_encode), the tensors' side: the kernel
// (isect_tiles_impl, isect_tiles.h) and gsplat's isect_ids.

#include "common_aten.h"
#include "isect_tiles.h"
#include "ops.h"

namespace p2a {
namespace {

inline int bit_length(int64_t v) {
    int n = 0;
    while (v > 0) {
        ++n;
        v >>= 1;
    }
    return n;
}

}  // namespace

std::vector<at::Tensor> isect_tiles(const at::Tensor &means2d, const at::Tensor &radii, const at::Tensor &depths,
                                    const c10::optional<at::Tensor> &conics,
                                    const c10::optional<at::Tensor> &opacities, int64_t tile_size,
                                    int64_t tile_width, int64_t tile_height, int64_t num_threads) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(radii, "radii");
    check_cpu_contig(depths, "depths");
    TORCH_CHECK(radii.scalar_type() == at::kInt, "radii must be int32");
    TORCH_CHECK(means2d.dim() == 3 && means2d.size(2) == 2, "means2d must be [C, N, 2]");
    TORCH_CHECK(depths.scalar_type() == means2d.scalar_type(), "dtype mismatch");
    const int64_t C = means2d.size(0), N = means2d.size(1);
    TORCH_CHECK(conics.has_value() == opacities.has_value(), "pass conics and opacities together, or neither");
    if (conics.has_value()) {
        check_cpu_contig(*conics, "conics");
        check_cpu_contig(*opacities, "opacities");
        TORCH_CHECK(conics->scalar_type() == means2d.scalar_type() && opacities->scalar_type() == means2d.scalar_type(),
                    "conics and opacities must share means2d's dtype");
        TORCH_CHECK(conics->numel() == C * N * 3 && opacities->numel() == C * N,
                    "conics must be [C, N, 3] and opacities [C, N]");
    }
    TORCH_CHECK(C * N < std::numeric_limits<int32_t>::max(), "too many Gaussians");
    const int nthreads = resolve_threads(num_threads);
    auto tiles_per_gauss = at::empty({C, N}, means2d.options().dtype(at::kInt));
    std::vector<int32_t> offsets, ids;
    bool fits = true;
    AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "isect_tiles", [&] {
        fits = isect_tiles_impl<scalar_t>(C, N, means2d.data_ptr<scalar_t>(), radii.data_ptr<int32_t>(),
                                          depths.data_ptr<scalar_t>(),
                                          conics.has_value() ? conics->data_ptr<scalar_t>() : nullptr,
                                          opacities.has_value() ? opacities->data_ptr<scalar_t>() : nullptr,
                                          int(tile_size), int(tile_width),
                                          int(tile_height), nthreads, tiles_per_gauss.data_ptr<int32_t>(), offsets,
                                          ids);
    });
    TORCH_CHECK(fits, "too many tile intersections");
    const int64_t n_isects = static_cast<int64_t>(ids.size());
    const int64_t n_tiles = tile_width * tile_height;
    auto flatten_ids = at::empty({n_isects}, radii.options());
    std::memcpy(flatten_ids.data_ptr<int32_t>(), ids.data(), n_isects * sizeof(int32_t));
    auto isect_offsets = at::empty({C, tile_height, tile_width}, radii.options());
    std::memcpy(isect_offsets.data_ptr<int32_t>(), offsets.data(), C * n_tiles * sizeof(int32_t));
    // gsplat's isect_ids: camera id | tile id | float32 depth bits
    auto isect_ids = at::empty({n_isects}, radii.options().dtype(at::kLong));
    int64_t *iid = isect_ids.data_ptr<int64_t>();
    const int tile_n_bits = bit_length(n_tiles);
    const int nt_ids = n_isects < ISECT_PARALLEL ? 1 : nthreads;
    AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "isect_ids", [&] {
        const scalar_t *dp = depths.data_ptr<scalar_t>();
        _Pragma("omp parallel for num_threads(nt_ids) schedule(static)")
        for (int64_t t = 0; t < C * n_tiles; ++t) {
            const int64_t cam = t / n_tiles, tile = t % n_tiles;
            const int64_t head = (cam << (32 + tile_n_bits)) | (tile << 32);
            for (int32_t k = offsets[t]; k < offsets[t + 1]; ++k) {
                const float d = static_cast<float>(dp[ids[k]]);
                int32_t bits;
                std::memcpy(&bits, &d, sizeof(bits));
                iid[k] = head | static_cast<int64_t>(static_cast<uint32_t>(bits));
            }
        }
    });
    return {tiles_per_gauss, isect_ids, flatten_ids, isect_offsets};
}

}  // namespace p2a
