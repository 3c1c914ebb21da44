// Depth quantiles per pixel: for each level q (e.g. 0.25, 0.5, 0.75), the depth
// of the Gaussian at which the composited opacity (the running sum of the
// weights alpha * T, front to back) first reaches q. The median (q = 0.5) is the
// surface a ray meets; the spread between the quartiles is how sharply it is
// placed (point2act.fusion.render_median_depth).
//
// Uses the forward pass's loop (composite_tile, common.h, over every tile by
// composite_tiles, tile_loop.h) with a visitor that keeps the running sum
// instead of colours: same rules, same float operations, so each result is
// the first entry of a pixel's compositing weights (compositing_weights.cpp)
// whose running sum reaches q. Pixels whose opacity never reaches q get 0 for
// it. Deterministic, independent of the thread count.

#include "common_aten.h"
#include "ops.h"
#include "tile_loop.h"

namespace p2a {
namespace {

constexpr int MAX_LEVELS = 8;

template <typename S> struct QuantileVisitor {
    using V = typename Vec<S>::V;
    using M = typename Vec<S>::M;
    const S *depths;  // [C * N]
    V *acc;           // [nrc] running sum of the weights
    V *out;           // [L * nrc] depth per level, -1 until reached
    const S *levels;  // [L]
    int L, nrc;
    S z;

    bool begin(int32_t, int64_t g) {
        z = depths[g];
        return true;
    }
    inline void row(int idx, int, const M &use, const V &w, int32_t) {
        const V a = acc[idx] + (use ? w : splat<V>(S(0)));
        acc[idx] = a;
        for (int l = 0; l < L; ++l) {
            V &o = out[l * nrc + idx];
            const M now = use & (a >= levels[l]) & (o < S(0));
            o = now ? splat<V>(z) : o;
        }
    }
};

// A thread's tiles of depth_quantiles_impl: a tile's running sums and depths per level, written to its pixels
// (0 where a level is never reached).
template <typename S> struct QuantileWorker {
    using V = typename Vec<S>::V;
    QuantileVisitor<S> vis;
    std::vector<V> accv, outv;
    const TileJob<S> *job;
    int nch;
    S *out;

    void start(const TileGeom &) {
        std::fill(accv.begin(), accv.end(), splat<V>(S(0)));
        std::fill(outv.begin(), outv.end(), splat<V>(S(-1)));
        vis.acc = accv.data();
        vis.out = outv.data();
    }
    void finish(int64_t, const TileGeom &tg) {
        const int L = vis.L, nrc = vis.nrc;
        for (int py = 0; py < tg.ph; ++py) {
            for (int px = 0; px < tg.pw; ++px) {
                const int64_t pix = job->pixel_row(tg, px, py);
                for (int l = 0; l < L; ++l) {
                    const S m = outv[l * nrc + py * nch + px / LANES][px % LANES];
                    out[pix * L + l] = m < S(0) ? S(0) : m;
                }
            }
        }
    }
};

// The depths [C * N] of ``job``'s Gaussians at levels [L] -> out [C * H * W * L]: every tile, empty ones too
// (their pixels get 0).
template <typename S>
void depth_quantiles_impl(const TileJob<S> &job, const S *depths, const S *levels, int L, S *out, int nthreads) {
    composite_tiles<S>(job, nthreads, true, [&](const TileBuffers<S> &tb) {
        QuantileWorker<S> wk;
        const int nrc = job.tile_size * tb.nch;
        wk.accv.resize(nrc);
        wk.outv.resize(size_t(L) * nrc);
        wk.vis.depths = depths;
        wk.vis.levels = levels;
        wk.vis.L = L;
        wk.vis.nrc = nrc;
        wk.job = &job;
        wk.nch = tb.nch;
        wk.out = out;
        return wk;
    });
}

}  // namespace

at::Tensor depth_quantiles(const at::Tensor &means2d, const at::Tensor &conics, const at::Tensor &opacities,
                           const at::Tensor &depths, const at::Tensor &levels, int64_t width, int64_t height,
                           int64_t tile_size, const at::Tensor &isect_offsets, const at::Tensor &flatten_ids,
                           int64_t num_threads) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(conics, "conics");
    check_cpu_contig(opacities, "opacities");
    check_cpu_contig(depths, "depths");
    check_cpu_contig(levels, "levels");
    check_cpu_contig(isect_offsets, "isect_offsets");
    check_cpu_contig(flatten_ids, "flatten_ids");
    const auto dtype = means2d.scalar_type();
    TORCH_CHECK(conics.scalar_type() == dtype && opacities.scalar_type() == dtype && depths.scalar_type() == dtype &&
                    levels.scalar_type() == dtype,
                "means2d, conics, opacities, depths and levels must share a dtype");
    TORCH_CHECK(means2d.dim() == 3 && means2d.size(2) == 2, "means2d must be [C, N, 2]");
    const int64_t C = means2d.size(0), N = means2d.size(1);
    TORCH_CHECK(conics.size(0) == C && conics.size(1) == N && conics.size(2) == 3, "conics must be [C, N, 3]");
    TORCH_CHECK(opacities.size(0) == C && opacities.size(1) == N, "opacities must be [C, N]");
    TORCH_CHECK(depths.size(0) == C && depths.size(1) == N, "depths must be [C, N]");
    TORCH_CHECK(levels.dim() == 1 && levels.size(0) >= 1 && levels.size(0) <= MAX_LEVELS,
                "levels must be [L] with 1 <= L <= 8");
    TORCH_CHECK(isect_offsets.size(0) == C, "isect_offsets must be [C, th, tw]");
    TORCH_CHECK(tile_size >= 1 && tile_size <= 64, "tile_size must be in [1, 64]");
    const int64_t tw = isect_offsets.size(2), th = isect_offsets.size(1);
    const int L = int(levels.size(0));
    const int nthreads = resolve_threads(num_threads);
    const std::vector<int32_t> offsets = offsets_with_end(isect_offsets, flatten_ids.size(0));
    auto out = at::empty({C, height, width, L}, means2d.options());
    AT_DISPATCH_FLOATING_TYPES(dtype, "depth_quantiles", [&] {
        const TileJob<scalar_t> job{C, N, means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
                                    opacities.data_ptr<scalar_t>(), int(width), int(height), int(tile_size),
                                    int(tw), int(th), offsets.data(), flatten_ids.data_ptr<int32_t>()};
        depth_quantiles_impl<scalar_t>(job, depths.data_ptr<scalar_t>(), levels.data_ptr<scalar_t>(), L,
                                       out.data_ptr<scalar_t>(), nthreads);
    });
    return out;
}

}  // namespace p2a
