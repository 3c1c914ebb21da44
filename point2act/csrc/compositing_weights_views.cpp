// The compositing weights (alpha * T, CSR) of a set of views, from the Gaussians and the cameras, without torch:
// the rasterizer's own kernels (point2act/render/csrc: projection_fwd.h, isect_tiles.h, compositing_weights.h, on
// this extension's include path, point2act/requery/fit_numpy.py) chained as point2act.requery.fit_torch.compositing_weights_views
// chains them through torch, so the output has the same bits. float32 only (the torch path's dtype).

#include <cstdint>
#include <vector>

#include "compositing_weights.h"
#include "isect_tiles.h"
#include "projection_fwd.h"
#include "relevancy_fit.h"

namespace p2a {
namespace {

// point2act.requery.fit_torch._project_views's settings of the rasterizer.
constexpr double NEAR_PLANE = 0.01;
constexpr double FAR_PLANE = 1e10;
constexpr double RADIUS_CLIP = 0.0;
constexpr double EPS2D = 0.3;
constexpr int TILE_SIZE = VIEWS_TILE_SIZE;

}  // namespace

// The projection and tile lists of C views, as the rasterizer computes them for compositing_weights_views.
struct ProjectedTiles {
    std::vector<float> means2d, conics, opac;
    std::vector<int32_t> offsets, flatten_ids;
    int tile_width = 0, tile_height = 0;

    // The tile loop's view of them (the offsets: each tile's start and the total, as the torch wrapper's
    // offsets_with_end).
    TileJob<float> job(int64_t C, int64_t N, int width, int height) const {
        return {C, N, means2d.data(), conics.data(), opac.data(), width, height, TILE_SIZE, tile_width,
                tile_height, offsets.data(), flatten_ids.data()};
    }
};

static const char *project_and_list(int64_t C, int64_t N, const float *means, const float *quats,
                                    const float *scales, const float *opacities, const float *viewmats,
                                    const float *Ks, int width, int height, bool antialiased, int nthreads,
                                    ProjectedTiles &pt) {
    const int64_t CN = C * N;
    // projection (rasterization: fully_fused_projection, calc_compensations in antialiased mode)
    std::vector<int32_t> radii(CN);
    std::vector<float> depths(CN), comps(antialiased ? CN : 0);
    pt.means2d.resize(2 * CN);
    pt.conics.resize(3 * CN);
    projection_fwd_impl<float>(C, N, means, nullptr, quats, scales, viewmats, Ks, width, height, EPS2D, NEAR_PLANE,
                               FAR_PLANE, RADIUS_CLIP, antialiased, nthreads, radii.data(), pt.means2d.data(),
                               depths.data(), pt.conics.data(), antialiased ? comps.data() : nullptr);
    // each camera's opacities: opacities[None].expand(C, N), times the compensations in antialiased mode
    pt.opac.resize(CN);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t n = 0; n < N; ++n)
            pt.opac[c * N + n] = antialiased ? opacities[n] * comps[c * N + n] : opacities[n];
    // tile lists (rasterization's _tile_lists: ceil(width / tile_size) x ceil(height / tile_size) tiles, each
    // Gaussian's narrowed to the tiles its pixels can use)
    pt.tile_width = (width + TILE_SIZE - 1) / TILE_SIZE;
    pt.tile_height = (height + TILE_SIZE - 1) / TILE_SIZE;
    std::vector<int32_t> tiles_per_gauss(CN);
    if (!isect_tiles_impl<float>(C, N, pt.means2d.data(), radii.data(), depths.data(), pt.conics.data(),
                                 pt.opac.data(), TILE_SIZE, pt.tile_width,
                                 pt.tile_height, nthreads, tiles_per_gauss.data(), pt.offsets, pt.flatten_ids))
        return "too many tile intersections";
    return "";
}

const char *compositing_weights_views_impl(int64_t C, int64_t N, const float *means, const float *quats,
                                           const float *scales, const float *opacities, const float *viewmats,
                                           const float *Ks, int width, int height, bool antialiased,
                                           double min_weight, int nthreads, int64_t *crow,
                                           const WeightsAlloc &alloc) {
    ProjectedTiles pt;
    const char *err = project_and_list(C, N, means, quats, scales, opacities, viewmats, Ks, width, height,
                                       antialiased, nthreads, pt);
    if (*err != '\0') return err;
    compositing_weights_impl<float>(pt.job(C, N, width, height), min_weight, nthreads, crow, alloc);
    return "";
}

const char *half_weight_render_views_impl(int64_t C, int64_t N, const float *means, const float *quats,
                                          const float *scales, const float *opacities, const float *viewmats,
                                          const float *Ks, int width, int height, bool antialiased,
                                          double min_weight, const float *values, const uint8_t *tile_mask,
                                          int nthreads, float *out) {
    ProjectedTiles pt;
    const char *err = project_and_list(C, N, means, quats, scales, opacities, viewmats, Ks, width, height,
                                       antialiased, nthreads, pt);
    if (*err != '\0') return err;
    TileJob<float> job = pt.job(C, N, width, height);
    job.tile_mask = tile_mask;
    half_weight_render_impl<float>(job, min_weight, values, nthreads, out);
    return "";
}

}  // namespace p2a
