// Sparse compositing weights w = alpha * T of every (pixel, Gaussian) pair
// (CSR), for relevancy refits on frozen geometry (point2act.requery.fit_torch).
//
// Uses the forward pass's loop (composite_tile, common.h, over every tile by
// composite_tiles, tile_loop.h) with a visitor that records the weights
// instead of accumulating colours: same rules, same float operations, so
// W @ c equals the rasterizer's render of c. Rows are
// (camera, y, x) in row-major order; within a row the entries are in
// compositing (depth) order. Entries with w <= min_weight are dropped (they
// still attenuate T). Pass 1 composites each tile into a thread-local buffer,
// groups the tile's entries by pixel and counts each row; after a prefix sum
// over rows, pass 2 copies each pixel's run into the output. Deterministic,
// independent of the thread count.
//
// The kernel (compositing_weights_impl) on raw arrays, without torch: compositing_weights.cpp wraps it for
// tensors, the torch-free refit extension (point2act/csrc/compositing_weights_views.cpp) runs it on numpy arrays.

#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"
#include "tile_loop.h"

namespace p2a {

struct Entry {
    int32_t p;  // tile-local pixel
    int32_t g;  // Gaussian (0..N-1)
    float w;
};

// The lanes of one row of a tile's pixels (chunk ``idx`` of ``nch`` per row) whose weight a visitor keeps: in use
// and above ``wmin``. Calls f(tile-row pixel, weight) for each, in lane order.
template <typename S, typename F>
inline void kept_lanes(int idx, int nch, const typename Vec<S>::M &use, const typename Vec<S>::V &w, S wmin, F &&f) {
    const typename Vec<S>::M keep = use & (w > wmin);
    if (!any(keep)) return;
    const int px0 = (idx % nch) * LANES;
    for (int i = 0; i < LANES; ++i)
        if (keep[i]) f(px0 + i, w[i]);
}

template <typename S> struct WeightVisitor {
    using V = typename Vec<S>::V;
    using M = typename Vec<S>::M;
    std::vector<Entry> *buf;
    int nch, pw;
    int64_t N, cam;
    S wmin;
    int32_t gid;

    bool begin(int32_t, int64_t g) {
        gid = static_cast<int32_t>(g - cam * N);
        return true;
    }
    inline void row(int idx, int py, const M &use, const V &w, int32_t) {
        kept_lanes<S>(idx, nch, use, w, wmin,
                      [&](int px, S wi) { buf->push_back({py * pw + px, gid, static_cast<float>(wi)}); });
    }
};

struct TileOut {
    std::vector<int32_t> g;  // grouped by pixel, compositing order within
    std::vector<float> w;
};

// A thread's pass 1 of compositing_weights_impl: a tile's entries into a buffer, grouped by pixel into the tile's
// TileOut, each pixel's count into its row of crow.
template <typename S> struct WeightsWorker {
    WeightVisitor<S> vis;
    std::vector<int32_t> cnt;
    std::vector<Entry> buf;
    const TileJob<S> *job;
    std::vector<TileOut> *tiles;
    int64_t *crow;

    void start(const TileGeom &tg) {
        buf.clear();
        vis.buf = &buf;
        vis.pw = tg.pw;
        vis.cam = tg.cam;
    }
    void finish(int64_t t, const TileGeom &tg) {
        if (buf.empty()) return;
        const int npix = tg.pw * tg.ph;
        // group by pixel (stable: compositing order kept), count rows
        std::fill(cnt.begin(), cnt.begin() + npix + 1, 0);
        for (const Entry &en : buf) cnt[en.p + 1]++;
        for (int p = 0; p < npix; ++p) {
            crow[1 + job->pixel_row(tg, p % tg.pw, p / tg.pw)] = cnt[p + 1];
            cnt[p + 1] += cnt[p];
        }
        TileOut &out = (*tiles)[t];
        out.g.resize(buf.size());
        out.w.resize(buf.size());
        for (const Entry &en : buf) {
            const int32_t q = cnt[en.p]++;
            out.g[q] = en.g;
            out.w[q] = en.w;
        }
    }
};

// The kernel on raw arrays: C cameras' projected Gaussians and tile lists (TileJob) -> crow [C * H * W + 1] (the
// caller's), and col / val [nnz] from alloc(nnz, cols, vals), called once, between the parallel passes (on the
// calling thread).
template <typename S, typename Alloc>
void compositing_weights_impl(const TileJob<S> &job, double min_weight, int nthreads, int64_t *crow,
                              Alloc &&alloc) {
    const int64_t CT = job.num_tiles();
    const int H = job.H, W = job.W;
    std::vector<TileOut> tiles(CT);
    const int64_t R = job.C * int64_t(H) * W;
    std::fill(crow, crow + R + 1, int64_t(0));
    composite_tiles<S>(job, nthreads, false, [&](const TileBuffers<S> &tb) {
        WeightsWorker<S> wk;
        wk.cnt.resize(job.tile_size * job.tile_size + 1);
        wk.buf.reserve(1 << 16);
        wk.vis.nch = tb.nch;
        wk.vis.N = job.N;
        wk.vis.wmin = static_cast<S>(min_weight);
        wk.job = &job;
        wk.tiles = &tiles;
        wk.crow = crow;
        return wk;
    });
    for (int64_t r = 0; r < R; ++r) crow[r + 1] += crow[r];
    int32_t *cols;
    float *vals;
    alloc(crow[R], cols, vals);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
    for (int64_t t = 0; t < CT; ++t) {
        TileOut &out = tiles[t];
        if (out.g.empty()) continue;
        const TileGeom tg = tile_geom(t, job.tiles_per_camera(), job.tile_width, job.tile_size, W, H);
        int64_t q = 0;
        for (int p = 0; p < tg.pw * tg.ph; ++p) {
            const int64_t r = job.pixel_row(tg, p % tg.pw, p / tg.pw);
            const int64_t n = crow[r + 1] - crow[r];
            if (n == 0) continue;
            std::memcpy(cols + crow[r], out.g.data() + q, n * sizeof(int32_t));
            std::memcpy(vals + crow[r], out.w.data() + q, n * sizeof(float));
            q += n;
        }
        std::vector<int32_t>().swap(out.g);
        std::vector<float>().swap(out.w);
    }
}

// A float rounded to float16 (round to nearest, ties to even) and back: numpy's astype(float16) for magnitudes
// in float16's normal range, [2^-14, 65504] (the caller keeps to it).
inline float half_rounded(float f) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    b += 0x0FFFu + ((b >> 13) & 1u);
    b &= 0xFFFFE000u;
    float out;
    std::memcpy(&out, &b, sizeof out);
    return out;
}

// Per pixel, sum_i half(w_i) * values[g_i] over the weights w > min_weight, front to back, one fused multiply-add
// per entry: the bits of compositing_weights_impl's CSR rounded to float16, times ``values`` by csr_matvec
// (point2act.fusion.relevancy_in_views), without storing the weights.
template <typename S> struct HalfRenderVisitor {
    using V = typename Vec<S>::V;
    using M = typename Vec<S>::M;
    float *acc;  // [tile_size * tile_size], tile-local pixels row-major by lanes
    const float *values;
    int nch;
    int64_t N, cam;
    S wmin;
    float value;

    bool begin(int32_t, int64_t g) {
        value = values[g - cam * N];
        return true;
    }
    inline void row(int idx, int py, const M &use, const V &w, int32_t) {
        kept_lanes<S>(idx, nch, use, w, wmin, [&](int px, S wi) {
            float &a = acc[py * nch * LANES + px];
            a = std::fma(half_rounded(static_cast<float>(wi)), value, a);
        });
    }
};

// A thread's tiles of half_weight_render_impl: a tile's sums into a buffer, copied into the tile's pixels.
template <typename S> struct HalfRenderWorker {
    HalfRenderVisitor<S> vis;
    std::vector<float> acc;
    const TileJob<S> *job;
    float *out;

    void start(const TileGeom &tg) {
        std::fill(acc.begin(), acc.end(), 0.0f);
        vis.acc = acc.data();
        vis.cam = tg.cam;
    }
    void finish(int64_t, const TileGeom &tg) {
        for (int py = 0; py < tg.ph; ++py)
            for (int px = 0; px < tg.pw; ++px) out[job->pixel_row(tg, px, py)] = acc[py * vis.nch * LANES + px];
    }
};

// The render of ``values`` [N] through the float16-rounded weights above min_weight (HalfRenderVisitor), for C
// cameras' projected Gaussians and tile lists (TileJob) -> out [C * H * W].
template <typename S>
void half_weight_render_impl(const TileJob<S> &job, double min_weight, const float *values, int nthreads,
                             float *out) {
    std::fill(out, out + job.C * int64_t(job.H) * job.W, 0.0f);
    composite_tiles<S>(job, nthreads, false, [&](const TileBuffers<S> &tb) {
        HalfRenderWorker<S> wk;
        wk.acc.resize(size_t(job.tile_size) * tb.nch * LANES);
        wk.vis.values = values;
        wk.vis.nch = tb.nch;
        wk.vis.N = job.N;
        wk.vis.wmin = static_cast<S>(min_weight);
        wk.job = &job;
        wk.out = out;
        return wk;
    });
}

}  // namespace p2a
