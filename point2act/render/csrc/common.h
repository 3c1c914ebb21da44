// Shared pieces of point2act's CPU (C++/OpenMP) Gaussian-splatting kernels.
//
// Conventions follow gsplat 1.4.0 (isect_tiles.cu, rasterize_to_pixels_*.cu):
//
//   * pixel centres at (x + 0.5, y + 0.5);
//   * sigma = 0.5 * (a dx^2 + c dy^2) + b dx dy with conic = (a, b, c);
//   * alpha = min(ALPHA_MAX, opacity * exp(-sigma)); a Gaussian is skipped for
//     a pixel if sigma < 0 or alpha < ALPHA_MIN;
//   * front-to-back compositing; a pixel stops at the first Gaussian whose
//     next_T = T * (1 - alpha) <= TRANSMITTANCE_MIN (that Gaussian excluded);
//   * a Gaussian only touches the tiles covered by its integer radius, each
//     tile's list sorted by depth (ties: flattened index).
//
// The per-pixel compositing loop (composite_tile) is written once here and
// used by the forward pass (rasterize_fwd.cpp) and by the sparse compositing
// weights (compositing_weights.cpp) through a visitor. It works on one tile
// row at a time in chunks of LANES pixels held in GCC/Clang vector-extension
// types, which the compiler maps onto the widest SIMD unit it was told about
// (-march=native: AVX-512 / AVX2 / NEON; otherwise SSE2 or scalar code).
//
// This header and the kernels' own headers (projection.h, projection_fwd.h,
// isect_tiles.h, compositing_weights.h) include no torch: the torch-free
// refit extension (point2act/csrc/compositing_weights_views.cpp) compiles the
// same kernels. The ATen wrappers' helpers are in common_aten.h.

#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "threads.h"  // resolve_threads, thread_id, team_size (point2act/csrc)

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace p2a {

// ---------------------------------------------------------------------------
// Compositing constants: the only definition. point2act/render/_constants.py
// reads this block (keep the `constexpr double NAME = value;` form) and the
// extension exports it (ext.cpp: constants()).
// ---------------------------------------------------------------------------
constexpr double ALPHA_MAX = 0.999;
constexpr double ALPHA_MIN = 1.0 / 255.0;
constexpr double TRANSMITTANCE_MIN = 1e-4;
constexpr double PIXEL_CENTER = 0.5;
// end of constants

template <typename S> struct Consts {
    // float(1.0 / 255.0) == 1.0f / 255.0f and float(1e-4) <= 1e-4 (exact rules)
    static constexpr S alpha_max = static_cast<S>(ALPHA_MAX);
    static constexpr S alpha_min = static_cast<S>(ALPHA_MIN);
    static constexpr S t_min = static_cast<S>(TRANSMITTANCE_MIN);
    static constexpr S half = static_cast<S>(PIXEL_CENTER);
};

// Threads for a cheap O(n) loop: 1 below SMALL_LOOP items.
constexpr int64_t SMALL_LOOP = 1 << 17;
inline int small_loop_threads(int64_t n, int nthreads) { return n < SMALL_LOOP ? 1 : nthreads; }

// Calls f(std::integral_constant<int, DT>) with DT = D for common channel
// counts (5: a training step's RGB, depth and relevancy) and DT = 0 (any D,
// dynamic) otherwise.
template <typename F> void dispatch_channels(int64_t D, F &&f) {
    switch (D) {
    case 1: f(std::integral_constant<int, 1>()); break;
    case 2: f(std::integral_constant<int, 2>()); break;
    case 3: f(std::integral_constant<int, 3>()); break;
    case 4: f(std::integral_constant<int, 4>()); break;
    case 5: f(std::integral_constant<int, 5>()); break;
    case 8: f(std::integral_constant<int, 8>()); break;
    default: f(std::integral_constant<int, 0>()); break;
    }
}

// ---------------------------------------------------------------------------
// Tile geometry
// ---------------------------------------------------------------------------

// Tile rectangle [x0, x1) x [y0, y1) of one projected Gaussian, as in gsplat's
// isect_tiles kernel (computed in the tensor's precision).
template <typename S>
inline void tile_rect(S mx, S my, int32_t radius, int tile_size, int tile_width, int tile_height,
                      int &x0, int &x1, int &y0, int &y1) {
    const S tr = S(radius) / S(tile_size);
    const S tx = mx / S(tile_size);
    const S ty = my / S(tile_size);
    auto clampi = [](S v, int hi) -> int {
        // gsplat casts to uint32 (saturating at 0 on CUDA), then clamps to [0, hi]
        if (!(v > S(0))) return 0;
        if (v >= S(hi)) return hi;
        return static_cast<int>(v);
    };
    x0 = clampi(std::floor(tx - tr), tile_width);
    y0 = clampi(std::floor(ty - tr), tile_height);
    x1 = clampi(std::ceil(tx + tr), tile_width);
    y1 = clampi(std::ceil(ty + tr), tile_height);
}

struct TileGeom {
    int64_t cam;
    int x0, y0, pw, ph;
};

inline TileGeom tile_geom(int64_t t, int64_t n_tiles, int tile_width, int tile_size, int W, int H) {
    TileGeom g;
    g.cam = t / n_tiles;
    const int64_t tile = t % n_tiles;
    g.x0 = int(tile % tile_width) * tile_size;
    g.y0 = int(tile / tile_width) * tile_size;
    g.pw = std::min(tile_size, W - g.x0);
    g.ph = std::min(tile_size, H - g.y0);
    return g;
}

// Per-Gaussian extent of the region where alpha >= ALPHA_MIN may hold:
// alpha >= ALPHA_MIN needs sigma <= log(opacity / ALPHA_MIN); with the looser
// smax = that + 1e-3 (far beyond rounding) and a positive definite conic the
// half-widths ex, ey of the ellipse {sigma <= smax} (slightly enlarged) bound
// the pixels to visit. Pixels outside are exactly those the per-pixel test
// rejects, so skipping them changes nothing.
struct Extent {
    double ex, ey;
    int kind;  // 0: never contributes, 1: bounded ellipse, 2: test every pixel
};

template <typename S> inline Extent make_extent(S a, S b, S c, S opac) {
    Extent e{0.0, 0.0, 2};
    const double o = static_cast<double>(opac);
    if (!(o > 0.0)) {
        if (o <= 0.0) e.kind = 0;  // alpha <= 0 < ALPHA_MIN (NaN: exact test)
        return e;
    }
    const double smax = std::log(o / ALPHA_MIN) + 1e-3;
    if (smax < 0.0) {
        e.kind = 0;  // valid pixels need 0 <= sigma <= smax < 0
        return e;
    }
    const double da = a, db = b, dc = c;
    const double det = da * dc - db * db;
    if (!(da > 0.0) || !(dc > 0.0) || !(det > 0.0)) return e;
    const double ex = std::sqrt(2.0 * smax * dc / det);
    const double ey = std::sqrt(2.0 * smax * da / det);
    if (!std::isfinite(ex) || !std::isfinite(ey)) return e;
    e.kind = 1;
    e.ex = ex * (1.0 + 1e-4) + 1e-3;
    e.ey = ey * (1.0 + 1e-4) + 1e-3;
    return e;
}

// Tile-local pixel box [px0, px1] x [py0, py1] of a Gaussian; false if empty.
template <typename S>
inline bool pixel_box(const Extent &e, S mx, S my, const TileGeom &tg, int &px0, int &px1, int &py0,
                      int &py1) {
    if (e.kind == 0) return false;
    if (e.kind == 2) {
        px0 = py0 = 0;
        px1 = tg.pw - 1;
        py1 = tg.ph - 1;
        return true;
    }
    const double lx = std::ceil(double(mx) - e.ex - 0.5 - tg.x0);
    const double hx = std::floor(double(mx) + e.ex - 0.5 - tg.x0);
    const double ly = std::ceil(double(my) - e.ey - 0.5 - tg.y0);
    const double hy = std::floor(double(my) + e.ey - 0.5 - tg.y0);
    if (!(hx >= 0.0) || !(hy >= 0.0) || !(lx <= tg.pw - 1) || !(ly <= tg.ph - 1)) return false;
    px0 = lx > 0.0 ? int(lx) : 0;
    py0 = ly > 0.0 ? int(ly) : 0;
    px1 = hx < tg.pw - 1 ? int(hx) : tg.pw - 1;
    py1 = hy < tg.ph - 1 ? int(hy) : tg.ph - 1;
    return px0 <= px1 && py0 <= py1;
}

// ---------------------------------------------------------------------------
// SIMD: LANES consecutive pixels of a tile row
// ---------------------------------------------------------------------------
// One chunk is one register where the ISA has 16-float registers (AVX-512); on AVX2 (8 floats) a
// 16-lane chunk is two registers and GCC spills masks and conversions through memory: 4.5x slower
// per pixel on an AVX2-only EPYC (benchmarks/results/rasterizer.md), so there a chunk is 8 lanes.
#ifndef P2A_LANES
#if defined(__AVX512F__)
#define P2A_LANES 16
#else
#define P2A_LANES 8
#endif
#endif
constexpr int LANES = P2A_LANES;
constexpr double SIGMA_CUT = 30.0;

template <typename S> struct Vec;
template <> struct Vec<float> {
    typedef float V __attribute__((vector_size(LANES * sizeof(float))));
    typedef int32_t M __attribute__((vector_size(LANES * sizeof(int32_t))));
};
template <> struct Vec<double> {
    typedef double V __attribute__((vector_size(LANES * sizeof(double))));
    typedef int64_t M __attribute__((vector_size(LANES * sizeof(int64_t))));
};

template <typename V> inline V splat(typename std::remove_reference<decltype(V()[0])>::type s) {
    V v = {};
    return v + s;  // scalar operands broadcast: one vbroadcast
}

// Any lane set / number of lanes set, of a comparison mask (lanes 0 or -1).
inline uint32_t lane_bits(const Vec<float>::M &m) {
#if defined(__AVX512F__) && P2A_LANES == 16
    __m512i v;
    std::memcpy(&v, &m, sizeof(v));
    return _mm512_test_epi32_mask(v, v);
#elif defined(__AVX2__) && P2A_LANES == 8
    __m256 v;
    std::memcpy(&v, &m, sizeof(v));
    return uint32_t(_mm256_movemask_ps(v));
#elif defined(__AVX2__) && P2A_LANES == 16
    __m256 lo, hi;
    std::memcpy(&lo, &m, sizeof(lo));
    std::memcpy(&hi, reinterpret_cast<const char *>(&m) + sizeof(lo), sizeof(hi));
    return uint32_t(_mm256_movemask_ps(lo)) | (uint32_t(_mm256_movemask_ps(hi)) << 8);
#else
    uint32_t b = 0;
    for (int i = 0; i < LANES; ++i) b |= uint32_t(m[i] != 0) << i;
    return b;
#endif
}

inline uint32_t lane_bits(const Vec<double>::M &m) {
#if defined(__AVX512F__) && P2A_LANES == 16
    __m512i lo, hi;
    std::memcpy(&lo, &m, sizeof(lo));
    std::memcpy(&hi, reinterpret_cast<const char *>(&m) + sizeof(lo), sizeof(hi));
    return uint32_t(_mm512_test_epi64_mask(lo, lo)) | (uint32_t(_mm512_test_epi64_mask(hi, hi)) << 8);
#elif defined(__AVX512F__) && P2A_LANES == 8
    __m512i v;
    std::memcpy(&v, &m, sizeof(v));
    return uint32_t(_mm512_test_epi64_mask(v, v));
#else
    uint32_t b = 0;
    for (int i = 0; i < LANES; ++i) b |= uint32_t(m[i] != 0) << i;
    return b;
#endif
}

template <typename M> inline bool any(const M &m) { return lane_bits(m) != 0; }

template <typename M> inline int count(const M &m) { return __builtin_popcount(lane_bits(m)); }

// Horizontal sums in a fixed order (deterministic).
inline float hsum(const Vec<float>::V &v) {
#if defined(__AVX512F__) && P2A_LANES == 16
    __m512 x;
    std::memcpy(&x, &v, sizeof(x));
    return _mm512_reduce_add_ps(x);
#else
    float s[LANES];
    for (int i = 0; i < LANES; ++i) s[i] = v[i];
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; ++i) s[i] += s[i + w];
    return s[0];
#endif
}

inline double hsum(const Vec<double>::V &v) {
#if defined(__AVX512F__) && P2A_LANES == 16
    __m512d lo, hi;
    std::memcpy(&lo, &v, sizeof(lo));
    std::memcpy(&hi, reinterpret_cast<const char *>(&v) + sizeof(lo), sizeof(hi));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
#else
    double s[LANES];
    for (int i = 0; i < LANES; ++i) s[i] = v[i];
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; ++i) s[i] += s[i + w];
    return s[0];
#endif
}

// exp(x) = 2^fn * e^r with r = x - fn ln 2 (ln 2 in two parts), e^r by Cephes' polynomial; VT: a float vector
// of any width (vexp's 16 lanes and its 8-lane overload: the same operations per lane).
template <typename VT> inline VT exp_poly(VT x, VT fn) {
    VT r = x - fn * 0.693359375f;
    r = r + fn * 2.12194440e-4f;
    const VT r2 = r * r;
    VT y = splat<VT>(1.9875691500e-4f);
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    return y * r2 + r + 1.0f;
}

// exp(x). float: branch-free Cephes-style polynomial (max rel. error ~1 ulp),
// vectorised; double: std::exp per lane. Forward and backward passes use the
// same function, so their per-pixel decisions agree.
inline Vec<float>::V vexp(Vec<float>::V x) {
    using V = Vec<float>::V;
    using M = Vec<float>::M;
    x = x < -87.0f ? splat<V>(-87.0f) : x;
    x = x > 88.0f ? splat<V>(88.0f) : x;
    const V fx = x * 1.44269504088896341f + 0.5f;
#if defined(__AVX512F__) && P2A_LANES == 16
    // floor and 2^n without integer round trips (same values as below)
    __m512 fxv;
    std::memcpy(&fxv, &fx, sizeof(fxv));
    const __m512 fnv = _mm512_roundscale_ps(fxv, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    V fn;
    std::memcpy(&fn, &fnv, sizeof(fn));
#else
    M n = __builtin_convertvector(fx, M);
    n += (__builtin_convertvector(n, V) > fx);  // floor (true == -1)
    const V fn = __builtin_convertvector(n, V);
#endif
    V y = exp_poly(x, fn);
#if defined(__AVX512F__) && P2A_LANES == 16
    __m512 yv;
    std::memcpy(&yv, &y, sizeof(yv));
    yv = _mm512_scalef_ps(yv, fnv);  // y * 2^fn, exact (no overflow / denormal here)
    std::memcpy(&y, &yv, sizeof(y));
    return y;
#else
    const M bits = (n + 127) << 23;
    V scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    return y * scale;
#endif
}

inline Vec<double>::V vexp(Vec<double>::V x) {
    Vec<double>::V y;
    for (int i = 0; i < LANES; ++i) y[i] = std::exp(x[i]);
    return y;
}

// 1 / x. float with AVX-512: 14-bit estimate + one Newton step (~1 ulp, a
// third of a division's cost); otherwise a division.
inline Vec<float>::V recip(const Vec<float>::V &x) {
#if defined(__AVX512F__) && P2A_LANES == 16
    __m512 xv;
    std::memcpy(&xv, &x, sizeof(xv));
    const __m512 r0 = _mm512_rcp14_ps(xv);
    // r1 = r0 * (2 - x * r0)
    const __m512 r1 = _mm512_mul_ps(r0, _mm512_fnmadd_ps(xv, r0, _mm512_set1_ps(2.0f)));
    Vec<float>::V out;
    std::memcpy(&out, &r1, sizeof(out));
    return out;
#else
    return 1.0f / x;
#endif
}

inline Vec<double>::V recip(const Vec<double>::V &x) { return 1.0 / x; }

// ---------------------------------------------------------------------------
// Half chunks (AVX-512, 16 float lanes): a Gaussian whose pixel box lies in one
// half of a chunk (lanes 0-7 or 8-15) can be evaluated on that half only, in
// 8-lane registers (rasterize_bwd). Every lane gets the same operations as in a
// full chunk (the same expressions, exp, reciprocal and reduction tree); the
// other half's lanes, which the per-pixel test rejects, would add only zeros.
// lane_bits, vexp, recip, hsum and eval_gaussian have 8-lane overloads (V8, M8),
// so one templated loop body serves both widths.
// ---------------------------------------------------------------------------
#if defined(__AVX512F__) && defined(__AVX512VL__) && P2A_LANES == 16
#define P2A_HALF_CHUNKS 1
constexpr int HALF = LANES / 2;
typedef float V8 __attribute__((vector_size(HALF * sizeof(float))));
typedef int32_t M8 __attribute__((vector_size(HALF * sizeof(int32_t))));
// Lanes [8h, 8h + 8) of a chunk (half_of), and back (set_half).
template <typename T8, typename T16> inline T8 half_of(const T16 &v, int h) {
    T8 out;
    std::memcpy(&out, reinterpret_cast<const char *>(&v) + h * sizeof(T8), sizeof(T8));
    return out;
}
template <typename T8, typename T16> inline void set_half(T16 &v, int h, const T8 &x) {
    std::memcpy(reinterpret_cast<char *>(&v) + h * sizeof(T8), &x, sizeof(T8));
}
// lane_bits on 8 lanes.
inline uint32_t lane_bits(const M8 &m) {
    __m256i v;
    std::memcpy(&v, &m, sizeof(v));
    return _mm256_test_epi32_mask(v, v);
}
// vexp (float, AVX-512) on 8 lanes: the same operations.
inline V8 vexp(V8 x) {
    x = x < -87.0f ? splat<V8>(-87.0f) : x;
    x = x > 88.0f ? splat<V8>(88.0f) : x;
    const V8 fx = x * 1.44269504088896341f + 0.5f;
    __m256 fxv;
    std::memcpy(&fxv, &fx, sizeof(fxv));
    const __m256 fnv = _mm256_roundscale_ps(fxv, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    V8 fn;
    std::memcpy(&fn, &fnv, sizeof(fn));
    V8 y = exp_poly(x, fn);
    __m256 yv;
    std::memcpy(&yv, &y, sizeof(yv));
    yv = _mm256_scalef_ps(yv, fnv);
    std::memcpy(&y, &yv, sizeof(y));
    return y;
}
// recip (float, AVX-512) on 8 lanes: the same estimate and Newton step.
inline V8 recip(const V8 &x) {
    __m256 xv;
    std::memcpy(&xv, &x, sizeof(xv));
    const __m256 r0 = _mm256_rcp14_ps(xv);
    const __m256 r1 = _mm256_mul_ps(r0, _mm256_fnmadd_ps(xv, r0, _mm256_set1_ps(2.0f)));
    V8 out;
    std::memcpy(&out, &r1, sizeof(out));
    return out;
}
// hsum of a chunk whose other half is +0 (an accumulator that only ever added this half: never -0): the
// tree of _mm512_reduce_add_ps below its first level, whose lane i + lane i + 8 is lane i of this half.
inline float hsum(const V8 &v) {
    __m256 x;
    std::memcpy(&x, &v, sizeof(x));
    const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    const __m128 t7 = _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2));
    const __m128 t8 = _mm_add_ps(t6, t7);
    return _mm_cvtss_f32(t8) + _mm_cvtss_f32(_mm_shuffle_ps(t8, t8, 1));
}
#endif

// One projected Gaussian as the compositing loop sees it.
template <typename S> struct Splat {
    S mx, my, ca, cb, cc, o;
};

template <typename S>
inline Splat<S> load_splat(const S *means2d, const S *conics, const S *opacities, int64_t g) {
    return {means2d[2 * g], means2d[2 * g + 1], conics[3 * g], conics[3 * g + 1], conics[3 * g + 2],
            opacities[g]};
}

// Everything the compositing loops read about one Gaussian, in one cache
// line (the loops visit Gaussians in depth order, i.e. at random addresses).
template <typename S> struct alignas(64) Packed {
    Splat<S> s;
    Extent e;
};

template <typename S> inline void make_pack(Packed<S> *out, const S *means2d, const S *conics, const S *opacities,
                                            int64_t g) {
    out[g].s = load_splat(means2d, conics, opacities, g);
    out[g].e = make_extent<S>(conics[3 * g], conics[3 * g + 1], conics[3 * g + 2], opacities[g]);
}

template <typename S>
std::vector<Packed<S>> make_packs(int64_t CN, const S *means2d, const S *conics, const S *opacities, int nthreads) {
    std::vector<Packed<S>> out(CN);
    // ~15 ns per Gaussian: a parallel region of its own only pays off for large scenes
    // (each one is a join that a preempted thread can stall on a busy machine); rasterize_fwd
    // fills its packs in the parallel region of its tiles instead (fill_packs)
#pragma omp parallel for num_threads(small_loop_threads(CN, nthreads)) schedule(static)
    for (int64_t g = 0; g < CN; ++g) make_pack(out.data(), means2d, conics, opacities, g);
    return out;
}

// The packs of make_packs, written by the threads of the enclosing parallel region (a worksharing loop
// and its barrier: no region of its own).
template <typename S>
inline void fill_packs(Packed<S> *out, int64_t CN, const S *means2d, const S *conics, const S *opacities) {
#pragma omp for schedule(static)
    for (int64_t g = 0; g < CN; ++g) make_pack(out, means2d, conics, opacities, g);
}

// Bytes of CN packs (the tensor rasterize_fwd hands to rasterize_bwd).
template <typename S> constexpr int64_t packs_bytes(int64_t CN) { return CN * int64_t(sizeof(Packed<S>)); }

// sigma and the unclamped o * exp(-sigma) of the pixels of one row in the lanes of VT (a chunk's LANES, or
// half a chunk's V8): the expression every kernel uses.
template <typename S, typename VT = typename Vec<S>::V>
inline void eval_gaussian(const Splat<S> &s, const VT &dx, S dy, VT &sigma, VT &vis) {
    sigma = S(0.5) * (s.ca * dx * dx + s.cc * dy * dy) + s.cb * dx * dy;
    // Lanes with sigma > SIGMA_CUT can never pass alpha >= ALPHA_MIN (that needs
    // sigma <= log(opacity / ALPHA_MIN) < SIGMA_CUT), so their exp is clamped:
    // keeps every product of the unused lanes far from denormals, whose
    // microcode assists would cost ~100 cycles per vector.
    VT e = -sigma;
    e = e < S(-SIGMA_CUT) ? splat<VT>(S(-SIGMA_CUT)) : e;
    vis = vexp(e);
}

// x coordinates of the pixel centres of chunk ch of a tile row.
template <typename S> inline typename Vec<S>::V chunk_centres(int x0, int ch) {
    typename Vec<S>::V v;
    for (int i = 0; i < LANES; ++i) v[i] = S(x0 + ch * LANES + i) + Consts<S>::half;
    return v;
}

// Per-thread scratch of the compositing loop for one tile: rows x chunks of
// LANES pixels; lane (row py, chunk ch, i) is pixel (x0 + ch*LANES + i, y0 + py).
template <typename S> struct TileBuffers {
    using V = typename Vec<S>::V;
    using M = typename Vec<S>::M;
    int nch = 0;
    std::vector<V> T;       // transmittance
    std::vector<M> act;     // lanes still compositing (-1) / done or outside (0)
    std::vector<int> nact;  // number of active lanes per (row, chunk)
    std::vector<V> xc;      // pixel centre x per chunk
    explicit TileBuffers(int tile_size) : nch((tile_size + LANES - 1) / LANES) {
        T.resize(size_t(tile_size) * nch);
        act.resize(size_t(tile_size) * nch);
        nact.resize(size_t(tile_size) * nch);
        xc.resize(nch);
    }
};

// The forward compositing loop of one tile, shared by every forward kernel.
// Walks the tile's depth-sorted list front to back; for every Gaussian whose
// pixel box meets the tile it calls vis.begin(k, g) (false: skip it) and then,
// for each (row, chunk) of the box with active pixels, vis.row(idx, py, use, w, k)
// with use = the lanes it contributes to and w = alpha * T (the compositing
// weight) before T is updated. Returns with buf.T holding each pixel's final
// transmittance.
template <typename S, typename Visitor>
inline void composite_tile(const TileGeom &tg, const int32_t *flatten_ids, int32_t start, int32_t end,
                           const Packed<S> *packs, TileBuffers<S> &buf, Visitor &vis) {
    using V = typename Vec<S>::V;
    using M = typename Vec<S>::M;
    using MI = typename std::remove_reference<decltype(M()[0])>::type;
    const S AMAX = Consts<S>::alpha_max, AMIN = Consts<S>::alpha_min, TMIN = Consts<S>::t_min;
    const int nch = buf.nch;
    int npix_active = 0;
    for (int ch = 0; ch < nch; ++ch) buf.xc[ch] = chunk_centres<S>(tg.x0, ch);
    for (int py = 0; py < tg.ph; ++py) {
        for (int ch = 0; ch < nch; ++ch) {
            const int idx = py * nch + ch;
            buf.T[idx] = splat<V>(S(1));
            M a;
            int n = 0;
            for (int i = 0; i < LANES; ++i) {
                const bool in = ch * LANES + i < tg.pw;
                a[i] = in ? MI(-1) : MI(0);
                n += in;
            }
            buf.act[idx] = a;
            buf.nact[idx] = n;
            npix_active += n;
        }
    }
    for (int32_t k = start; k < end && npix_active > 0; ++k) {
        const int64_t g = flatten_ids[k];
        if (k + 8 < end) __builtin_prefetch(packs + flatten_ids[k + 8]);
        const Splat<S> s = packs[g].s;
        int bx0, bx1, by0, by1;
        if (!pixel_box<S>(packs[g].e, s.mx, s.my, tg, bx0, bx1, by0, by1)) continue;
        if (!vis.begin(k, g)) continue;
        const int ch0 = bx0 / LANES, ch1 = bx1 / LANES;
        for (int py = by0; py <= by1; ++py) {
            const S dy = s.my - (S(tg.y0 + py) + Consts<S>::half);
            for (int ch = ch0; ch <= ch1; ++ch) {
                const int idx = py * nch + ch;
                if (buf.nact[idx] == 0) continue;
                const V dx = s.mx - buf.xc[ch];
                V sigma, ev;
                eval_gaussian<S>(s, dx, dy, sigma, ev);
                V alpha = s.o * ev;
                alpha = alpha < AMAX ? alpha : splat<V>(AMAX);
                const M valid = buf.act[idx] & (sigma >= S(0)) & (alpha >= AMIN);
                const V Tc = buf.T[idx];
                const V nT = Tc * (S(1) - alpha);
                const M stop = valid & (nT <= TMIN);
                const M use = valid & ~stop;
                vis.row(idx, py, use, alpha * Tc, k);
                buf.T[idx] = use ? nT : Tc;
                if (any(stop)) {
                    const int n = count(stop);
                    buf.act[idx] &= ~stop;
                    buf.nact[idx] -= n;
                    npix_active -= n;
                }
            }
        }
    }
}

}  // namespace p2a
