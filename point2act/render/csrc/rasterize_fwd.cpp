// Rasterize to pixels, forward (gsplat's rasterize_to_pixels_fwd on the CPU).
//
// One OpenMP task per (camera, tile). The per-pixel loop is composite_tile
// (common.h); this file only accumulates colours and records, per pixel, the
// final transmittance and the index (into the sorted intersection list) of
// the last contributing Gaussian, which the backward pass starts from, and,
// per intersection, a bit mask of the tile rows where the Gaussian was used
// (the backward pass skips the other rows: exact, it would find no pixel there),
// and returns the per-Gaussian data the loop read (the packs, common.h), which the backward pass
// reads instead of computing them again.

#include "common_aten.h"
#include "ops.h"

namespace p2a {
namespace {

template <typename S, int DT> struct ColorVisitor {
    using V = typename Vec<S>::V;
    using M = typename Vec<S>::M;
    using MI = typename std::remove_reference<decltype(M()[0])>::type;
    const S *colors;
    int64_t D;
    int nrc;   // rows * chunks of a tile
    V *out;    // [D][nrc]
    M *last;   // [nrc]
    int64_t *row_masks;  // [n_isects]: bit py set if Gaussian k is used by a pixel of tile row py
    S col[DT > 0 ? DT : 1];
    std::vector<S> coldyn;

    bool begin(int32_t, int64_t g) {
        S *c = DT > 0 ? col : coldyn.data();
        for (int64_t d = 0; d < D; ++d) c[d] = colors[g * D + d];
        return true;
    }
    inline void row(int idx, int py, const M &use, const V &w, int32_t k) {
        const S *c = DT > 0 ? col : coldyn.data();
        row_masks[k] |= static_cast<int64_t>(uint64_t(any(use)) << py);
        const V wu = use ? w : splat<V>(S(0));
        for (int64_t d = 0; d < (DT > 0 ? DT : D); ++d) out[d * nrc + idx] += wu * c[d];
        last[idx] = use ? splat<M>(MI(k)) : last[idx];
    }
};

template <typename S, int DT>
void rasterize_fwd_impl(int64_t C, int64_t CN, int64_t D_, const S *means2d, const S *conics, const S *colors,
                        const S *opacities, const S *backgrounds, int W, int H, int tile_size, int tile_width,
                        int tile_height, const int32_t *offsets, const int32_t *flatten_ids, S *out_colors,
                        S *out_alphas, S *out_T, int32_t *last_ids, int64_t *row_masks, Packed<S> *packs,
                        int nthreads) {
    using V = typename Vec<S>::V;
    using M = typename Vec<S>::M;
    const int64_t D = DT > 0 ? DT : D_;
    const int64_t n_tiles = int64_t(tile_width) * tile_height;
    const int64_t n_packs = int64_t(offsets[C * n_tiles]) > 0 ? CN : 0;
#pragma omp parallel num_threads(nthreads)
    {
        fill_packs<S>(packs, n_packs, means2d, conics, opacities);  // ends with a barrier
        TileBuffers<S> buf(tile_size);
        const int nrc = tile_size * buf.nch;
        std::vector<V> outv(size_t(nrc) * D);
        std::vector<M> lastv(nrc);
        ColorVisitor<S, DT> vis;
        vis.colors = colors;
        vis.D = D;
        vis.nrc = nrc;
        vis.out = outv.data();
        vis.last = lastv.data();
        vis.row_masks = row_masks;
        vis.coldyn.resize(D);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < C * n_tiles; ++t) {
            const TileGeom tg = tile_geom(t, n_tiles, tile_width, tile_size, W, H);
            std::fill(outv.begin(), outv.end(), splat<V>(S(0)));
            std::fill(lastv.begin(), lastv.end(), splat<M>(-1));
            composite_tile<S>(tg, flatten_ids, offsets[t], offsets[t + 1], packs, buf, vis);
            const S *bg = backgrounds ? backgrounds + tg.cam * D : nullptr;
            for (int py = 0; py < tg.ph; ++py) {
                for (int px = 0; px < tg.pw; ++px) {
                    const int idx = py * buf.nch + px / LANES, i = px % LANES;
                    const int64_t pix = (tg.cam * H + (tg.y0 + py)) * int64_t(W) + (tg.x0 + px);
                    const S T = buf.T[idx][i];
                    out_alphas[pix] = S(1) - T;
                    out_T[pix] = T;
                    last_ids[pix] = static_cast<int32_t>(lastv[idx][i]);
                    S *oc = out_colors + pix * D;
                    for (int64_t d = 0; d < D; ++d) {
                        const S v = outv[d * nrc + idx][i];
                        oc[d] = bg ? v + T * bg[d] : v;
                    }
                }
            }
        }
    }
}

}  // namespace

std::vector<at::Tensor> rasterize_fwd(const at::Tensor &means2d, const at::Tensor &conics, const at::Tensor &colors,
                                      const at::Tensor &opacities, const c10::optional<at::Tensor> &backgrounds,
                                      int64_t width, int64_t height, int64_t tile_size,
                                      const at::Tensor &isect_offsets, const at::Tensor &flatten_ids,
                                      int64_t num_threads) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(conics, "conics");
    check_cpu_contig(colors, "colors");
    check_cpu_contig(opacities, "opacities");
    check_cpu_contig(isect_offsets, "isect_offsets");
    check_cpu_contig(flatten_ids, "flatten_ids");
    const auto dtype = means2d.scalar_type();
    TORCH_CHECK(conics.scalar_type() == dtype && colors.scalar_type() == dtype && opacities.scalar_type() == dtype,
                "means2d, conics, colors and opacities must share a dtype");
    const int64_t C = means2d.size(0), N = means2d.size(1), D = colors.size(2);
    TORCH_CHECK(colors.size(0) == C && colors.size(1) == N, "colors must be [C, N, D]");
    const int64_t tw = isect_offsets.size(2), th = isect_offsets.size(1);
    if (backgrounds.has_value()) {
        check_cpu_contig(*backgrounds, "backgrounds");
        TORCH_CHECK(backgrounds->scalar_type() == dtype, "backgrounds dtype");
        TORCH_CHECK(backgrounds->size(0) == C && backgrounds->size(1) == D, "backgrounds must be [C, D]");
    }
    TORCH_CHECK(tile_size >= 1 && tile_size <= 64, "tile_size must be in [1, 64]");
    const int nthreads = resolve_threads(num_threads);
    auto render_colors = at::empty({C, height, width, D}, means2d.options());
    auto render_alphas = at::empty({C, height, width, 1}, means2d.options());
    auto T_final = at::empty({C, height, width}, means2d.options());
    auto last_ids = at::empty({C, height, width}, flatten_ids.options());
    auto row_masks = at::zeros({flatten_ids.size(0)}, flatten_ids.options().dtype(at::kLong));
    // the projected Gaussians as the compositing loop reads them (Packed, common.h), for rasterize_bwd
    const int64_t pack_bytes = dtype == at::kDouble ? packs_bytes<double>(C * N) : packs_bytes<float>(C * N);
    auto packs = at::empty({flatten_ids.size(0) > 0 ? pack_bytes : 0}, flatten_ids.options().dtype(at::kByte));
    const std::vector<int32_t> offsets = offsets_with_end(isect_offsets, flatten_ids.size(0));
    AT_DISPATCH_FLOATING_TYPES(dtype, "rasterize_fwd", [&] {
        dispatch_channels(D, [&](auto dt) {
            rasterize_fwd_impl<scalar_t, decltype(dt)::value>(
                C, C * N, D, means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(), colors.data_ptr<scalar_t>(),
                opacities.data_ptr<scalar_t>(), backgrounds.has_value() ? backgrounds->data_ptr<scalar_t>() : nullptr,
                int(width), int(height), int(tile_size), int(tw), int(th), offsets.data(),
                flatten_ids.data_ptr<int32_t>(), render_colors.data_ptr<scalar_t>(),
                render_alphas.data_ptr<scalar_t>(), T_final.data_ptr<scalar_t>(), last_ids.data_ptr<int32_t>(),
                row_masks.data_ptr<int64_t>(), reinterpret_cast<Packed<scalar_t> *>(packs.data_ptr<uint8_t>()),
                nthreads);
        });
    });
    return {render_colors, render_alphas, T_final, last_ids, row_masks, packs};
}

}  // namespace p2a
