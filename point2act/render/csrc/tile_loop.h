// The tile loop the kernels that composite on the forward pass's loop (composite_tile, common.h) with a visitor
// of their own share: the compositing weights and their float16 render (compositing_weights.h) and the depth
// quantiles (depth_quantiles.cpp). One pack per projected Gaussian, each thread's own tile buffers and worker,
// and a dynamic schedule of one tile a step: each tile's output is written by the one thread that composites
// it, so the output does not depend on the thread count.
//
// No torch: the torch-free refit extension (point2act/csrc/compositing_weights_views.cpp) compiles it too.

#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace p2a {

// C cameras' projected Gaussians and their tile lists: what a tile loop composites.
template <typename S> struct TileJob {
    int64_t C;                // cameras
    int64_t N;                // Gaussians per camera
    const S *means2d;         // [C * N, 2] projected centres
    const S *conics;          // [C * N, 3] inverse 2D covariances
    const S *opacities;       // [C * N] (times the compensation in antialiased mode)
    int W, H;                 // image size, pixels
    int tile_size;            // tile side, pixels
    int tile_width;           // tiles per image row
    int tile_height;          // tiles per image column
    const int32_t *offsets;   // [C * tile_width * tile_height + 1] each tile's start in flatten_ids, the total last
    const int32_t *flatten_ids;  // each tile's Gaussians (into C * N), front to back
    const uint8_t *tile_mask = nullptr;  // [C * tile_width * tile_height] the tiles to composite (nullptr: all)

    int64_t tiles_per_camera() const { return int64_t(tile_width) * tile_height; }
    int64_t num_tiles() const { return C * tiles_per_camera(); }
    // The output row of pixel (x0 + px, y0 + py) of a tile: (camera, y, x) in row-major order.
    int64_t pixel_row(const TileGeom &tg, int px, int py) const {
        return (tg.cam * H + (tg.y0 + py)) * int64_t(W) + (tg.x0 + px);
    }
};

// Composites every tile of ``job``: make_worker(tb) builds each thread's worker once (tb: the thread's tile
// buffers), which holds the visitor ``vis`` composite_tile calls; per tile, worker.start(tg) before compositing
// and worker.finish(t, tg) after. Tiles that no Gaussian touches are skipped unless ``empty_tiles`` (then they
// are composited, as empty, and finished like the others); so are the tiles ``job.tile_mask`` leaves out.
template <typename S, typename MakeWorker>
void composite_tiles(const TileJob<S> &job, int nthreads, bool empty_tiles, MakeWorker &&make_worker) {
    const int64_t n_tiles = job.tiles_per_camera();
    const int64_t CT = job.num_tiles();
    const std::vector<Packed<S>> packs =
        make_packs<S>(int64_t(job.offsets[CT]) > 0 ? job.C * job.N : 0, job.means2d, job.conics, job.opacities,
                      nthreads);
#pragma omp parallel num_threads(nthreads)
    {
        TileBuffers<S> tb(job.tile_size);
        auto worker = make_worker(tb);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < CT; ++t) {
            const int32_t start = job.offsets[t], end = job.offsets[t + 1];
            if (start == end && !empty_tiles) continue;
            if (job.tile_mask != nullptr && !job.tile_mask[t]) continue;
            const TileGeom tg = tile_geom(t, n_tiles, job.tile_width, job.tile_size, job.W, job.H);
            worker.start(tg);
            composite_tile<S>(tg, job.flatten_ids, start, end, packs.data(), tb, worker.vis);
            worker.finish(t, tg);
        }
    }
}

}  // namespace p2a
