// Tile/Gaussian intersections (gsplat's isect_tiles + isect_offset_encode).
//
// Every Gaussian with radius > 0 is listed in all tiles of its rectangle
// [floor(mean/ts - r/ts), ceil(mean/ts + r/ts)) (clamped to the image); each
// tile's list is sorted by depth, ties broken by the flattened index (what
// gsplat's stable radix sort of isect_ids gives).
//
// Given the conics and opacities the lists will be composited with, the rectangle is narrowed to the tiles the
// Gaussian's pixel box (pixel_box, common.h: the pixels where alpha >= ALPHA_MIN may hold) can meet, and a
// Gaussian that no pixel can use (opacity below ALPHA_MIN) is listed in no tile. The compositing loops skip a
// Gaussian in every tile its box misses, so the narrowed lists composite the same images, gradients and
// weights, bit for bit, with fewer entries: gsplat's 3-sigma circle does not shrink with the opacity, and a
// Gaussian of opacity 0.1 reaches alpha 1/255 at 2.55 sigma. Instead of sorting every
// tile, the visible Gaussians of each camera are sorted once by depth (stable
// LSD radix sort on the order-preserving bits of the depth) and then scattered
// into the tiles in that order (a counting sort by tile, which is stable).
//
// The kernel (isect_tiles_impl) on raw arrays, without torch: isect_tiles.cpp wraps it for tensors (and adds
// gsplat's isect_ids), the torch-free refit extension (point2act/csrc/compositing_weights_views.cpp) runs it on
// numpy arrays.

#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common.h"

namespace p2a {

// Unsigned key with the order of the floating-point value.
inline uint32_t order_key(float v) {
    uint32_t u;
    std::memcpy(&u, &v, sizeof(u));
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
inline uint64_t order_key(double v) {
    uint64_t u;
    std::memcpy(&u, &v, sizeof(u));
    return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

// Stable LSD radix sort of ids by keys (8-bit digits, constant digits skipped).
template <typename K> void radix_sort(std::vector<K> &keys, std::vector<int32_t> &ids) {
    const size_t n = keys.size();
    if (n < 2) return;
    std::vector<K> k2(n);
    std::vector<int32_t> i2(n);
    for (unsigned shift = 0; shift < 8 * sizeof(K); shift += 8) {
        size_t cnt[257] = {0};
        for (size_t i = 0; i < n; ++i) cnt[((keys[i] >> shift) & 0xff) + 1]++;
        bool trivial = false;
        for (int b = 1; b <= 256; ++b)
            if (cnt[b] == n) trivial = true;
        if (trivial) continue;
        for (int b = 0; b < 256; ++b) cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; ++i) {
            const size_t d = cnt[(keys[i] >> shift) & 0xff]++;
            k2[d] = keys[i];
            i2[d] = ids[i];
        }
        keys.swap(k2);
        ids.swap(i2);
    }
}

// Threads of one pass over the Gaussians or the intersections: 1 below ISECT_PARALLEL items.
constexpr int64_t ISECT_PARALLEL = 1 << 12;

// Narrows the tile rectangle [x0, x1) x [y0, y1) to the tiles that hold a pixel p with
// |p + 0.5 - mean| <= the extent's half-widths on both axes (pixel_box's test), widened by a micropixel so that
// no rounding drops a tile pixel_box keeps. Extent kind 0 (never contributes): no tile; kind 2: unchanged.
// (A partial last tile column or row may keep a Gaussian whose pixels lie beyond the image's edge: the
// kernels skip it there, as in any other tile its box misses.)
template <typename S>
inline void narrow_to_extent(const Extent &e, S mx, S my, int tile_size, int &x0, int &x1, int &y0, int &y1) {
    if (e.kind == 2) return;
    if (e.kind == 0) {
        x1 = x0;
        y1 = y0;
        return;
    }
    constexpr double SLACK = 1e-6;
    // [a, b) narrowed to the tiles of the pixels in [c - h - 0.5, c + h - 0.5]
    auto narrow = [&](int &a, int &b, double c, double h) {
        const double lo = std::floor(std::ceil(c - h - 0.5 - SLACK) / tile_size);
        const double hi = std::floor(std::floor(c + h - 0.5 + SLACK) / tile_size) + 1.0;
        if (lo > double(a)) a = lo < double(b) ? int(lo) : b;
        if (hi < double(b)) b = hi > double(a) ? int(hi) : a;
    };
    narrow(x0, x1, double(mx), e.ex);
    narrow(y0, y1, double(my), e.ey);
}

// The threads share the work so that the output is the one-thread output: the rectangles by Gaussian, the
// tile counts as per-thread partial counts summed in thread order (integers), and the scatter of each camera's
// depth-sorted Gaussians by tile rows (each thread writes the tiles of its rows, in the sorted order).
// tiles_per_gauss [C * N]; offsets: [C * n_tiles + 1] (each tile's start, then the total); flatten_ids: the tiles'
// lists one after the other (indices into C * N). Returns false, with flatten_ids left alone, where the total
// would not fit in int32 (too many tile intersections).
// conics [C * N, 3] and opacities [C * N] (both or neither): narrow each rectangle (narrow_to_extent) to the tiles
// the compositing will use.
template <typename S>
bool isect_tiles_impl(int64_t C, int64_t N, const S *means2d, const int32_t *radii, const S *depths, const S *conics,
                      const S *opacities, int tile_size, int tile_width, int tile_height, int nthreads,
                      int32_t *tiles_per_gauss, std::vector<int32_t> &offsets, std::vector<int32_t> &flatten_ids) {
    using K = typename std::conditional<sizeof(S) == 4, uint32_t, uint64_t>::type;
    const int64_t n_tiles = int64_t(tile_width) * tile_height;
    const int64_t CN = C * N;
    const int64_t CT = C * n_tiles;
    const int nt = CN < ISECT_PARALLEL ? 1 : nthreads;
    std::vector<int32_t> rects(CN * 4);
    std::vector<int32_t> partial(size_t(std::max(nt, 1)) * CT, 0);  // tile counts of each thread's Gaussians
    int used_threads = 1;
#pragma omp parallel num_threads(nt)
    {
        const int tid = thread_id();
#pragma omp single
        used_threads = team_size();
#pragma omp for schedule(static)
        for (int64_t idx = 0; idx < CN; ++idx) {
            int32_t *r = rects.data() + idx * 4;
            if (radii[idx] <= 0) {
                r[0] = r[1] = r[2] = r[3] = 0;
                tiles_per_gauss[idx] = 0;
                continue;
            }
            int x0, x1, y0, y1;
            tile_rect<S>(means2d[2 * idx], means2d[2 * idx + 1], radii[idx], tile_size, tile_width, tile_height, x0,
                         x1, y0, y1);
            if (conics != nullptr)
                narrow_to_extent<S>(make_extent<S>(conics[3 * idx], conics[3 * idx + 1], conics[3 * idx + 2],
                                                   opacities[idx]),
                                    means2d[2 * idx], means2d[2 * idx + 1], tile_size, x0, x1, y0, y1);
            r[0] = x0;
            r[1] = x1;
            r[2] = y0;
            r[3] = y1;
            tiles_per_gauss[idx] = x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0;
        }
        int32_t *mine = partial.data() + size_t(tid) * CT;
#pragma omp for schedule(static)
        for (int64_t idx = 0; idx < CN; ++idx) {
            const int32_t *r = rects.data() + idx * 4;
            if (r[0] >= r[1] || r[2] >= r[3]) continue;
            int32_t *cnt = mine + (idx / N) * n_tiles;
            for (int y = r[2]; y < r[3]; ++y)
                for (int x = r[0]; x < r[1]; ++x) cnt[int64_t(y) * tile_width + x]++;
        }
    }
    offsets.assign(CT + 1, 0);
    for (int th = 0; th < used_threads; ++th)
        for (int64_t t = 0; t < CT; ++t) offsets[t + 1] += partial[size_t(th) * CT + t];
    for (int64_t t = 0; t < CT; ++t) offsets[t + 1] += offsets[t];
    if (!(offsets.back() < std::numeric_limits<int32_t>::max())) return false;  // too many tile intersections
    flatten_ids.resize(offsets.back());
    std::vector<int32_t> pos(offsets.begin(), offsets.end() - 1);
    std::vector<K> keys;
    std::vector<int32_t> ids;
    for (int64_t cam = 0; cam < C; ++cam) {
        keys.clear();
        ids.clear();
        for (int64_t idx = cam * N; idx < (cam + 1) * N; ++idx) {
            const int32_t *r = rects.data() + idx * 4;
            if (r[0] >= r[1] || r[2] >= r[3]) continue;
            keys.push_back(order_key(depths[idx]));
            ids.push_back(static_cast<int32_t>(idx));
        }
        radix_sort(keys, ids);
        int32_t *p = pos.data() + cam * n_tiles;
        const int ntc = int64_t(ids.size()) < ISECT_PARALLEL ? 1 : nthreads;
#pragma omp parallel num_threads(ntc)
        {
            const int tid = thread_id(), nth = team_size();
            const int ylo = int(int64_t(tile_height) * tid / nth), yhi = int(int64_t(tile_height) * (tid + 1) / nth);
            for (const int32_t idx : ids) {
                const int32_t *r = rects.data() + int64_t(idx) * 4;
                const int y0 = std::max(r[2], ylo), y1 = std::min(r[3], yhi);
                for (int y = y0; y < y1; ++y)
                    for (int x = r[0]; x < r[1]; ++x) flatten_ids[p[int64_t(y) * tile_width + x]++] = idx;
            }
        }
    }
    return true;
}

}  // namespace p2a
