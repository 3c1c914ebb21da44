// CPU (C++/OpenMP) tile rasterizer for 3D Gaussian splatting.
//
// Follows the conventions of gsplat 1.4.0 (isect_tiles.cu,
// rasterize_to_pixels_fwd.cu, rasterize_to_pixels_bwd.cu):
//
//   * pixel centres at (j + 0.5, i + 0.5);
//   * sigma = 0.5 * (a dx^2 + c dy^2) + b dx dy  with conic = (a, b, c);
//   * alpha = min(0.999, opacity * exp(-sigma)); a Gaussian is skipped for a
//     pixel if sigma < 0 or alpha < 1/255;
//   * front-to-back compositing, a pixel stops at the first Gaussian whose
//     next_T = T * (1 - alpha) <= 1e-4 (that Gaussian is excluded);
//   * a Gaussian only touches the tiles covered by its integer radius
//     (tile_min = floor(mean/ts - radius/ts), tile_max = ceil(mean/ts +
//     radius/ts), clamped), each tile's list sorted by depth (ties broken by
//     the flattened Gaussian index, like gsplat's stable radix sort).
//
// The forward pass stores, per pixel, the final transmittance and the index
// (into the sorted intersection list) of the last contributing Gaussian; the
// backward pass walks each tile back to front exactly like gsplat's backward
// kernel. Per-(tile, Gaussian) gradient sums are written to a per-intersection
// buffer (no races, deterministic) and reduced per Gaussian afterwards.
//
// compositing_weights runs the forward pass's per-pixel loop and emits, instead
// of colours, the sparse weights w = alpha * T of every (pixel, Gaussian) pair
// (CSR), for relevancy refits on frozen geometry (point2act.requery.fit_torch).
//
// Speed-ups that do not change results: for every Gaussian we compute a
// conservative bound sigma_max = log(255 * opacity) + 1e-3 beyond which
// alpha < 1/255 for sure, and only visit the pixels of the tile that lie in
// the (1-pixel padded) ellipse {sigma <= sigma_max}. Pixels outside are
// exactly those the reference semantics skip anyway.

#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

template <typename S> struct Consts {
    static inline S alpha_max() { return S(0.999); }
    static inline S alpha_min() { return S(1) / S(255); }
};

// Tile rectangle [x0, x1) x [y0, y1) of one projected Gaussian, as in
// gsplat's isect_tiles kernel (computed in the tensor's precision).
template <typename S>
inline void tile_rect(
    S mx, S my, int32_t radius, int tile_size, int tile_width, int tile_height,
    int &x0, int &x1, int &y0, int &y1
) {
    const S tr = S(radius) / S(tile_size);
    const S tx = mx / S(tile_size);
    const S ty = my / S(tile_size);
    auto clampi = [](S v, int hi) -> int {
        // gsplat casts to uint32 (saturating at 0 for negatives on CUDA) and
        // then clamps to [0, hi].
        if (!(v > S(0))) return 0;
        if (v >= S(hi)) return hi;
        return static_cast<int>(v);
    };
    x0 = clampi(std::floor(tx - tr), tile_width);
    y0 = clampi(std::floor(ty - tr), tile_height);
    x1 = clampi(std::ceil(tx + tr), tile_width);
    y1 = clampi(std::ceil(ty + tr), tile_height);
}

inline int bit_length(int64_t v) {
    int n = 0;
    while (v > 0) {
        ++n;
        v >>= 1;
    }
    return n;
}

inline int resolve_threads(int64_t num_threads) {
    if (num_threads > 0) return static_cast<int>(num_threads);
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Per-Gaussian extent of the region where alpha >= 1/255 may hold.
// alpha >= 1/255 requires sigma <= log(255 * opacity); we use the looser
// smax = log(255 * opacity) + 1e-3 (far beyond rounding errors) and, for a
// positive definite conic, the half-widths ex, ey of the ellipse
// {sigma <= smax} (slightly enlarged). Pixels outside the box or with
// sigma > smax are exactly those for which the reference test fails.
template <typename S> struct Extent {
    S smax;
    double ex, ey;
    int kind;  // 0: never contributes, 1: bounded ellipse, 2: test every pixel
};

template <typename S> inline Extent<S> make_extent(S a, S b, S c, S opac) {
    Extent<S> e;
    e.smax = std::numeric_limits<S>::infinity();
    e.ex = e.ey = 0.0;
    e.kind = 2;
    const double o = static_cast<double>(opac);
    if (!(o > 0.0)) {
        // alpha = min(0.999, o * exp(-sigma)) <= 0 < 1/255: never contributes
        // (NaN opacities fall through to the exact per-pixel test).
        if (o <= 0.0) e.kind = 0;
        return e;
    }
    const double smax = std::log(255.0 * o) + 1e-3;
    if (smax < 0.0) {
        // valid pixels need 0 <= sigma <= smax < 0
        e.kind = 0;
        return e;
    }
    const double da = a, db = b, dc = c;
    const double det = da * dc - db * db;
    if (!(da > 0.0) || !(dc > 0.0) || !(det > 0.0)) return e;
    const double ex = std::sqrt(2.0 * smax * dc / det);
    const double ey = std::sqrt(2.0 * smax * da / det);
    if (!std::isfinite(ex) || !std::isfinite(ey)) return e;
    e.kind = 1;
    e.smax = static_cast<S>(smax);
    e.ex = ex * (1.0 + 1e-4) + 1e-3;
    e.ey = ey * (1.0 + 1e-4) + 1e-3;
    return e;
}

template <typename S>
std::vector<Extent<S>> make_extents(
    int64_t CN, const S *conics, const S *opacities, int nthreads
) {
    std::vector<Extent<S>> ext(CN);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t g = 0; g < CN; ++g)
        ext[g] = make_extent<S>(conics[3 * g], conics[3 * g + 1], conics[3 * g + 2], opacities[g]);
    return ext;
}

// Tile-local pixel box [px0, px1] x [py0, py1] of a Gaussian; false if empty.
template <typename S>
inline bool pixel_box(
    const Extent<S> &e, S mx, S my, int x0, int y0, int pw, int ph, int &px0,
    int &px1, int &py0, int &py1
) {
    if (e.kind == 0) return false;
    if (e.kind == 2) {
        px0 = 0;
        py0 = 0;
        px1 = pw - 1;
        py1 = ph - 1;
        return true;
    }
    // pixel centre x0 + px + 0.5 within [mx - ex, mx + ex]
    const double lx = std::ceil(double(mx) - e.ex - 0.5 - x0);
    const double hx = std::floor(double(mx) + e.ex - 0.5 - x0);
    const double ly = std::ceil(double(my) - e.ey - 0.5 - y0);
    const double hy = std::floor(double(my) + e.ey - 0.5 - y0);
    if (!(hx >= 0.0) || !(hy >= 0.0) || !(lx <= pw - 1) || !(ly <= ph - 1)) return false;
    px0 = lx > 0.0 ? int(lx) : 0;
    py0 = ly > 0.0 ? int(ly) : 0;
    px1 = hx < pw - 1 ? int(hx) : pw - 1;
    py1 = hy < ph - 1 ? int(hy) : ph - 1;
    return px0 <= px1 && py0 <= py1;
}

template <typename S>
void isect_tiles_impl(
    int64_t C, int64_t N, const S *means2d, const int32_t *radii,
    const S *depths, int tile_size, int tile_width, int tile_height,
    int nthreads, int32_t *tiles_per_gauss, std::vector<int32_t> &offsets,
    std::vector<int32_t> &flatten_ids
) {
    const int64_t n_tiles = int64_t(tile_width) * tile_height;
    const int64_t CN = C * N;
    std::vector<int32_t> rects(CN * 4);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t idx = 0; idx < CN; ++idx) {
        int32_t *r = rects.data() + idx * 4;
        if (radii[idx] <= 0) {
            r[0] = r[1] = r[2] = r[3] = 0;
            tiles_per_gauss[idx] = 0;
            continue;
        }
        int x0, x1, y0, y1;
        tile_rect<S>(
            means2d[2 * idx], means2d[2 * idx + 1], radii[idx], tile_size,
            tile_width, tile_height, x0, x1, y0, y1
        );
        r[0] = x0;
        r[1] = x1;
        r[2] = y0;
        r[3] = y1;
        tiles_per_gauss[idx] = (x1 - x0) * (y1 - y0);
    }
    offsets.assign(C * n_tiles + 1, 0);
    for (int64_t idx = 0; idx < CN; ++idx) {
        const int32_t *r = rects.data() + idx * 4;
        if (r[0] >= r[1] || r[2] >= r[3]) continue;
        const int64_t cam = idx / N;
        int32_t *cnt = offsets.data() + 1 + cam * n_tiles;
        for (int y = r[2]; y < r[3]; ++y)
            for (int x = r[0]; x < r[1]; ++x) cnt[int64_t(y) * tile_width + x]++;
    }
    for (int64_t t = 0; t < C * n_tiles; ++t) offsets[t + 1] += offsets[t];
    TORCH_CHECK(
        offsets.back() < std::numeric_limits<int32_t>::max(),
        "too many tile intersections"
    );
    flatten_ids.resize(offsets.back());
    std::vector<int32_t> pos(offsets.begin(), offsets.end() - 1);
    for (int64_t idx = 0; idx < CN; ++idx) {
        const int32_t *r = rects.data() + idx * 4;
        if (r[0] >= r[1] || r[2] >= r[3]) continue;
        const int64_t cam = idx / N;
        int32_t *p = pos.data() + cam * n_tiles;
        for (int y = r[2]; y < r[3]; ++y)
            for (int x = r[0]; x < r[1]; ++x)
                flatten_ids[p[int64_t(y) * tile_width + x]++] =
                    static_cast<int32_t>(idx);
    }
    // sort every tile by (depth, flattened index)
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
    for (int64_t t = 0; t < C * n_tiles; ++t) {
        int32_t *b = flatten_ids.data() + offsets[t];
        int32_t *e = flatten_ids.data() + offsets[t + 1];
        if (e - b < 2) continue;
        std::sort(b, e, [depths](int32_t i, int32_t j) {
            const S di = depths[i], dj = depths[j];
            return di < dj || (di == dj && i < j);
        });
    }
}

// exp(x) for the rasterizer. float: inlined branch-free Cephes-style
// polynomial (max rel. error ~1 ulp); double: std::exp. The same function is used by
// the forward and backward passes, so their per-pixel decisions agree.
template <typename S> inline S vexp(S x);

template <> inline double vexp<double>(double x) { return std::exp(x); }

inline float vexp_f32(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float fx = x * 1.44269504088896341f + 0.5f;
    int n = static_cast<int>(fx);
    n -= (static_cast<float>(n) > fx) ? 1 : 0;  // floor
    const float fn = static_cast<float>(n);
    float r = x - fn * 0.693359375f;
    r = r + fn * 2.12194440e-4f;
    const float r2 = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r2 + r + 1.0f;
    int32_t bits = (n + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    return y * scale;
}

template <> inline float vexp<float>(float x) { return vexp_f32(x); }

// Bits lo..hi (inclusive) set.
inline uint64_t row_bits(int lo, int hi) {
    const uint64_t upto = (hi >= 63) ? ~uint64_t(0) : ((uint64_t(1) << (hi + 1)) - 1);
    return upto & ~((uint64_t(1) << lo) - 1);
}

// DT > 0: channel count known at compile time (loops unrolled);
// DT == 0: any channel count D. Per-tile pixel buffers are planar
// ([channel][pixel]); per-row 64-bit masks of the pixels still active
// (forward: not saturated; backward: k <= last[p]) let the loops visit only
// the pixels that matter.
template <typename S, int DT>
void rasterize_fwd_impl(
    int64_t C, int64_t CN, int64_t D_, const S *means2d, const S *conics,
    const S *colors, const S *opacities, const S *backgrounds, int W, int H,
    int tile_size, int tile_width, int tile_height, const int32_t *offsets,
    const int32_t *flatten_ids, S *out_colors, S *out_alphas, S *out_T,
    int32_t *last_ids, int nthreads
) {
    const int64_t D = DT > 0 ? DT : D_;
    const int64_t n_tiles = int64_t(tile_width) * tile_height;
    const S AMAX = Consts<S>::alpha_max();
    const S AMIN = Consts<S>::alpha_min();
    const S TMIN = S(1e-4);  // next_T <= 1e-4 (exact for float: 1e-4f is the
                             // largest float <= 1e-4)
    const std::vector<Extent<S>> extents =
        make_extents<S>(int64_t(offsets[C * n_tiles]) > 0 ? CN : 0, conics, opacities, nthreads);
#pragma omp parallel num_threads(nthreads)
    {
        const int npix_max = tile_size * tile_size;
        std::vector<S> Tv(npix_max), outv(npix_max * D);
        std::vector<int32_t> lastv(npix_max);
        std::vector<S> colv(D);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < C * n_tiles; ++t) {
            const int64_t cam = t / n_tiles;
            const int64_t tile = t % n_tiles;
            const int tx = int(tile % tile_width), ty = int(tile / tile_width);
            const int x0 = tx * tile_size, y0 = ty * tile_size;
            const int pw = std::min(tile_size, W - x0);
            const int ph = std::min(tile_size, H - y0);
            const int npix = pw * ph;
            S *__restrict__ T = Tv.data();
            S *__restrict__ out = outv.data();  // [D][npix_max]
            int32_t *__restrict__ last = lastv.data();
            std::fill(T, T + npix, S(1));
            std::fill(out, out + int64_t(npix_max) * D, S(0));
            std::fill(last, last + npix, int32_t(-1));
            uint64_t act[64];  // per row: pixels not done yet
            for (int py = 0; py < ph; ++py) act[py] = row_bits(0, pw - 1);
            int ndone = 0;
            const int32_t start = offsets[t], end = offsets[t + 1];
            for (int32_t k = start; k < end && ndone < npix; ++k) {
                const int64_t g = flatten_ids[k];
                const S mx = means2d[2 * g], my = means2d[2 * g + 1];
                const S ca = conics[3 * g], cb = conics[3 * g + 1],
                        cc = conics[3 * g + 2];
                const S o = opacities[g];
                int bx0, bx1, by0, by1;
                const Extent<S> &e = extents[g];
                if (!pixel_box<S>(e, mx, my, x0, y0, pw, ph, bx0, bx1, by0, by1))
                    continue;
                S cols[DT > 0 ? DT : 1];
                S *col = DT > 0 ? cols : colv.data();
                for (int64_t d = 0; d < D; ++d) col[d] = colors[g * D + d];
                const S smax = e.smax;
                const uint64_t boxm = row_bits(bx0, bx1);
                for (int py = by0; py <= by1; ++py) {
                    uint64_t m = act[py] & boxm;
                    if (!m) continue;
                    const S dy = my - (S(y0 + py) + S(0.5));
                    const int p0 = py * pw;
                    while (m) {
                        const int px = __builtin_ctzll(m);
                        m &= m - 1;
                        const int p = p0 + px;
                        const S dx = mx - (S(x0 + px) + S(0.5));
                        const S sigma = S(0.5) * (ca * dx * dx + cc * dy * dy) +
                                        cb * dx * dy;
                        if (sigma < S(0) || sigma > smax) continue;
                        const S alpha = std::min(AMAX, o * vexp<S>(-sigma));
                        if (alpha < AMIN) continue;
                        const S Tc = T[p];
                        const S next_T = Tc * (S(1) - alpha);
                        if (next_T <= TMIN) {
                            act[py] &= ~(uint64_t(1) << px);
                            ++ndone;
                            continue;
                        }
                        const S vis = alpha * Tc;
                        for (int64_t d = 0; d < D; ++d)
                            out[d * npix_max + p] += col[d] * vis;
                        last[p] = k;
                        T[p] = next_T;
                    }
                }
            }
            // write out
            const S *bg = backgrounds ? backgrounds + cam * D : nullptr;
            for (int py = 0; py < ph; ++py) {
                for (int px = 0; px < pw; ++px) {
                    const int p = py * pw + px;
                    const int64_t pix =
                        (cam * H + (y0 + py)) * int64_t(W) + (x0 + px);
                    out_alphas[pix] = S(1) - T[p];
                    out_T[pix] = T[p];
                    last_ids[pix] = last[p];
                    S *oc = out_colors + pix * D;
                    if (bg) {
                        for (int64_t d = 0; d < D; ++d)
                            oc[d] = out[d * npix_max + p] + T[p] * bg[d];
                    } else {
                        for (int64_t d = 0; d < D; ++d) oc[d] = out[d * npix_max + p];
                    }
                }
            }
        }
    }
}

template <typename S, int DT>
void rasterize_bwd_impl(
    int64_t C, int64_t N, int64_t D_, const S *means2d, const S *conics,
    const S *colors, const S *opacities, const S *backgrounds, int W, int H,
    int tile_size, int tile_width, int tile_height, const int32_t *offsets,
    const int32_t *flatten_ids, const S *T_final, const int32_t *last_ids,
    const S *v_render_colors, const S *v_render_alphas, bool absgrad,
    S *v_means2d, S *v_conics, S *v_colors, S *v_opacities, S *v_means2d_abs,
    int nthreads
) {
    const int64_t D = DT > 0 ? DT : D_;
    const int64_t n_tiles = int64_t(tile_width) * tile_height;
    const int64_t n_isects = offsets[C * n_tiles];
    const S AMAX = Consts<S>::alpha_max();
    const S AMIN = Consts<S>::alpha_min();
    // per-intersection gradient rows: [xy(2), conic(3), opacity(1), rgb(D), abs(2)]
    const int64_t stride = 6 + D + (absgrad ? 2 : 0);
    std::vector<S> isect_grads(n_isects * stride);
    std::vector<uint8_t> touched(n_isects, 0);
    const std::vector<Extent<S>> extents =
        make_extents<S>(n_isects > 0 ? C * N : 0, conics, opacities, nthreads);
#pragma omp parallel num_threads(nthreads)
    {
        const int npix_max = tile_size * tile_size;
        std::vector<S> Tv(npix_max), Tfv(npix_max), vav(npix_max), bgdotv(npix_max);
        std::vector<S> vcv(npix_max * D), bufv(npix_max * D);
        std::vector<int32_t> lastv(npix_max), orderv(npix_max);
        std::vector<S> colv(D), accv(D);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < C * n_tiles; ++t) {
            const int32_t start = offsets[t], end = offsets[t + 1];
            if (start == end) continue;
            const int64_t cam = t / n_tiles;
            const int64_t tile = t % n_tiles;
            const int tx = int(tile % tile_width), ty = int(tile / tile_width);
            const int x0 = tx * tile_size, y0 = ty * tile_size;
            const int pw = std::min(tile_size, W - x0);
            const int ph = std::min(tile_size, H - y0);
            const S *bg = backgrounds ? backgrounds + cam * D : nullptr;
            S *__restrict__ T = Tv.data();
            S *__restrict__ Tf = Tfv.data();
            S *__restrict__ va = vav.data();
            S *__restrict__ bgdot = bgdotv.data();
            S *__restrict__ vc = vcv.data();    // [D][npix_max]
            S *__restrict__ buf = bufv.data();  // [D][npix_max]
            int32_t *__restrict__ last = lastv.data();
            int32_t *__restrict__ order = orderv.data();
            int32_t max_last = -1;
            for (int py = 0; py < ph; ++py) {
                for (int px = 0; px < pw; ++px) {
                    const int p = py * pw + px;
                    const int64_t pix =
                        (cam * H + (y0 + py)) * int64_t(W) + (x0 + px);
                    T[p] = Tf[p] = T_final[pix];
                    last[p] = last_ids[pix];
                    max_last = std::max(max_last, last[p]);
                    va[p] = v_render_alphas[pix];
                    S bd = S(0);
                    for (int64_t d = 0; d < D; ++d) {
                        const S v = v_render_colors[pix * D + d];
                        vc[d * npix_max + p] = v;
                        if (bg) bd += bg[d] * v;
                    }
                    bgdot[p] = bd;
                }
            }
            std::fill(buf, buf + int64_t(npix_max) * D, S(0));
            // pixels ordered by last contributing index (descending); a pixel
            // becomes active once k <= last[p]
            int n_order = 0;
            for (int p = 0; p < ph * pw; ++p)
                if (last[p] >= start) order[n_order++] = p;
            std::sort(order, order + n_order, [last](int32_t i, int32_t j) {
                return last[i] > last[j];
            });
            uint64_t act[64];
            for (int py = 0; py < ph; ++py) act[py] = 0;
            int next_act = 0;
            for (int32_t k = std::min(max_last, end - 1); k >= start; --k) {
                while (next_act < n_order && last[order[next_act]] >= k) {
                    const int p = order[next_act++];
                    act[p / pw] |= uint64_t(1) << (p % pw);
                }
                const int64_t g = flatten_ids[k];
                const S mx = means2d[2 * g], my = means2d[2 * g + 1];
                const S ca = conics[3 * g], cb = conics[3 * g + 1],
                        cc = conics[3 * g + 2];
                const S o = opacities[g];
                int bx0, bx1, by0, by1;
                const Extent<S> &e = extents[g];
                if (!pixel_box<S>(e, mx, my, x0, y0, pw, ph, bx0, bx1, by0, by1))
                    continue;
                S cols[DT > 0 ? DT : 1], accs[DT > 0 ? DT : 1];
                S *col = DT > 0 ? cols : colv.data();
                S *acc_rgb = DT > 0 ? accs : accv.data();
                for (int64_t d = 0; d < D; ++d) {
                    col[d] = colors[g * D + d];
                    acc_rgb[d] = S(0);
                }
                S a_x = 0, a_y = 0, a_ca = 0, a_cb = 0, a_cc = 0, a_o = 0;
                S a_ax = 0, a_ay = 0;
                int nvalid = 0;
                const S smax = e.smax;
                const uint64_t boxm = row_bits(bx0, bx1);
                for (int py = by0; py <= by1; ++py) {
                    uint64_t m = act[py] & boxm;
                    if (!m) continue;
                    const S dy = my - (S(y0 + py) + S(0.5));
                    const int p0 = py * pw;
                    while (m) {
                        const int px = __builtin_ctzll(m);
                        m &= m - 1;
                        const int p = p0 + px;
                        const S dx = mx - (S(x0 + px) + S(0.5));
                        const S sigma = S(0.5) * (ca * dx * dx + cc * dy * dy) +
                                        cb * dx * dy;
                        if (sigma < S(0) || sigma > smax) continue;
                        const S vis = vexp<S>(-sigma);
                        const S alpha = std::min(AMAX, o * vis);
                        if (alpha < AMIN) continue;
                        ++nvalid;
                        const S ra = S(1) / (S(1) - alpha);
                        const S Tn = T[p] * ra;
                        T[p] = Tn;
                        const S fac = alpha * Tn;
                        S v_alpha = S(0);
                        for (int64_t d = 0; d < D; ++d) {
                            const int64_t q = d * npix_max + p;
                            const S v = vc[q];
                            acc_rgb[d] += fac * v;
                            v_alpha += (col[d] * Tn - buf[q] * ra) * v;
                            buf[q] += col[d] * fac;
                        }
                        v_alpha += Tf[p] * ra * va[p];
                        if (bg) v_alpha += -Tf[p] * ra * bgdot[p];
                        if (o * vis <= AMAX) {
                            const S v_sigma = -o * vis * v_alpha;
                            a_ca += S(0.5) * v_sigma * dx * dx;
                            a_cb += v_sigma * dx * dy;
                            a_cc += S(0.5) * v_sigma * dy * dy;
                            const S gx = v_sigma * (ca * dx + cb * dy);
                            const S gy = v_sigma * (cb * dx + cc * dy);
                            a_x += gx;
                            a_y += gy;
                            a_ax += std::abs(gx);
                            a_ay += std::abs(gy);
                            a_o += vis * v_alpha;
                        }
                    }
                }
                if (nvalid > 0) {
                    touched[k] = 1;
                    S *r = isect_grads.data() + k * stride;
                    r[0] = a_x;
                    r[1] = a_y;
                    r[2] = a_ca;
                    r[3] = a_cb;
                    r[4] = a_cc;
                    r[5] = a_o;
                    for (int64_t d = 0; d < D; ++d) r[6 + d] = acc_rgb[d];
                    if (absgrad) {
                        r[6 + D] = a_ax;
                        r[7 + D] = a_ay;
                    }
                }
            }
        }
    }
    // deterministic reduction per Gaussian (in intersection order)
    for (int64_t k = 0; k < n_isects; ++k) {
        if (!touched[k]) continue;
        const int64_t g = flatten_ids[k];
        const S *r = isect_grads.data() + k * stride;
        v_means2d[2 * g] += r[0];
        v_means2d[2 * g + 1] += r[1];
        v_conics[3 * g] += r[2];
        v_conics[3 * g + 1] += r[3];
        v_conics[3 * g + 2] += r[4];
        v_opacities[g] += r[5];
        S *vcol = v_colors + g * D;
        for (int64_t d = 0; d < D; ++d) vcol[d] += r[6 + d];
        if (absgrad) {
            v_means2d_abs[2 * g] += r[6 + D];
            v_means2d_abs[2 * g + 1] += r[7 + D];
        }
    }
    (void)N;
}

// Sparse compositing weights w = alpha * T (the forward pass's per-pixel
// visibility of every Gaussian, same rules and same float operations) of C
// cameras, as CSR rows (camera, pixel) in row-major order; within a row the
// entries are in compositing (depth) order. Entries with w <= min_weight are
// dropped (they still attenuate T). Pass 1 composites each tile into a
// thread-local buffer of (local pixel, Gaussian id, w), then stores the tile's
// entries grouped by pixel and counts each row; after a prefix sum over rows,
// pass 2 copies each pixel's run into the output. Deterministic, independent of
// the thread count. ``alloc(nnz)`` returns the output (col, val) arrays.
template <typename S, typename Alloc>
void compositing_weights_impl(
    int64_t C, int64_t N, const S *means2d, const S *conics, const S *opacities,
    int W, int H, int tile_size, int tile_width, int tile_height,
    const int32_t *offsets, const int32_t *flatten_ids, double min_weight,
    int nthreads, int64_t *crow, Alloc &&alloc
) {
    struct Entry {
        int32_t p;  // tile-local pixel
        int32_t g;  // Gaussian (0..N-1)
        float w;
    };
    struct TileOut {
        std::vector<int32_t> g;  // grouped by pixel, compositing order within
        std::vector<float> w;
    };
    const int64_t n_tiles = int64_t(tile_width) * tile_height;
    const int64_t CT = C * n_tiles;
    const S AMAX = Consts<S>::alpha_max();
    const S AMIN = Consts<S>::alpha_min();
    const S TMIN = S(1e-4);
    const S WMIN = static_cast<S>(min_weight);
    const std::vector<Extent<S>> extents =
        make_extents<S>(int64_t(offsets[CT]) > 0 ? C * N : 0, conics, opacities, nthreads);
    std::vector<TileOut> tiles(CT);
    const int64_t R = C * int64_t(H) * W;
    std::fill(crow, crow + R + 1, int64_t(0));
#pragma omp parallel num_threads(nthreads)
    {
        const int npix_max = tile_size * tile_size;
        std::vector<S> Tv(npix_max);
        std::vector<int32_t> cnt(npix_max + 1);
        std::vector<Entry> buf;
        buf.reserve(1 << 16);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < CT; ++t) {
            const int32_t start = offsets[t], end = offsets[t + 1];
            if (start == end) continue;
            const int64_t cam = t / n_tiles;
            const int64_t tile = t % n_tiles;
            const int tx = int(tile % tile_width), ty = int(tile / tile_width);
            const int x0 = tx * tile_size, y0 = ty * tile_size;
            const int pw = std::min(tile_size, W - x0);
            const int ph = std::min(tile_size, H - y0);
            const int npix = pw * ph;
            S *__restrict__ T = Tv.data();
            std::fill(T, T + npix, S(1));
            buf.clear();
            uint64_t act[64];
            for (int py = 0; py < ph; ++py) act[py] = row_bits(0, pw - 1);
            int ndone = 0;
            for (int32_t k = start; k < end && ndone < npix; ++k) {
                const int64_t g = flatten_ids[k];
                const S mx = means2d[2 * g], my = means2d[2 * g + 1];
                const S ca = conics[3 * g], cb = conics[3 * g + 1],
                        cc = conics[3 * g + 2];
                const S o = opacities[g];
                int bx0, bx1, by0, by1;
                const Extent<S> &e = extents[g];
                if (!pixel_box<S>(e, mx, my, x0, y0, pw, ph, bx0, bx1, by0, by1))
                    continue;
                const S smax = e.smax;
                const uint64_t boxm = row_bits(bx0, bx1);
                const int32_t gid = static_cast<int32_t>(g - cam * N);
                for (int py = by0; py <= by1; ++py) {
                    uint64_t m = act[py] & boxm;
                    if (!m) continue;
                    const S dy = my - (S(y0 + py) + S(0.5));
                    const int p0 = py * pw;
                    while (m) {
                        const int px = __builtin_ctzll(m);
                        m &= m - 1;
                        const int p = p0 + px;
                        const S dx = mx - (S(x0 + px) + S(0.5));
                        const S sigma = S(0.5) * (ca * dx * dx + cc * dy * dy) +
                                        cb * dx * dy;
                        if (sigma < S(0) || sigma > smax) continue;
                        const S alpha = std::min(AMAX, o * vexp<S>(-sigma));
                        if (alpha < AMIN) continue;
                        const S Tc = T[p];
                        const S next_T = Tc * (S(1) - alpha);
                        if (next_T <= TMIN) {
                            act[py] &= ~(uint64_t(1) << px);
                            ++ndone;
                            continue;
                        }
                        const S w = alpha * Tc;
                        if (w > WMIN) buf.push_back({p, gid, static_cast<float>(w)});
                        T[p] = next_T;
                    }
                }
            }
            if (buf.empty()) continue;
            // group by pixel (stable: compositing order kept), count rows
            std::fill(cnt.begin(), cnt.begin() + npix + 1, 0);
            for (const Entry &en : buf) cnt[en.p + 1]++;
            for (int p = 0; p < npix; ++p) {
                crow[1 + (cam * H + (y0 + p / pw)) * int64_t(W) + (x0 + p % pw)] = cnt[p + 1];
                cnt[p + 1] += cnt[p];
            }
            TileOut &out = tiles[t];
            out.g.resize(buf.size());
            out.w.resize(buf.size());
            for (const Entry &en : buf) {
                const int32_t q = cnt[en.p]++;
                out.g[q] = en.g;
                out.w[q] = en.w;
            }
        }
    }
    for (int64_t r = 0; r < R; ++r) crow[r + 1] += crow[r];
    int32_t *cols;
    float *vals;
    alloc(crow[R], cols, vals);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
    for (int64_t t = 0; t < CT; ++t) {
        TileOut &out = tiles[t];
        if (out.g.empty()) continue;
        const int64_t cam = t / n_tiles;
        const int64_t tile = t % n_tiles;
        const int tx = int(tile % tile_width), ty = int(tile / tile_width);
        const int x0 = tx * tile_size, y0 = ty * tile_size;
        const int pw = std::min(tile_size, W - x0);
        const int ph = std::min(tile_size, H - y0);
        int64_t q = 0;
        for (int p = 0; p < pw * ph; ++p) {
            const int64_t r = (cam * H + (y0 + p / pw)) * int64_t(W) + (x0 + p % pw);
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

// Transpose of a CSR matrix [R, N] (crow int64, col int32) to CSR [N, R]
// (rows = Gaussians, entries in ascending row order): counting sort by column.
void csr_transpose_impl(
    int64_t R, int64_t N, const int64_t *crow, const int32_t *col, const float *val,
    int nthreads, int64_t *tcrow, int64_t *tcol, float *tval
) {
    const int64_t nnz = crow[R];
    std::fill(tcrow, tcrow + N + 1, int64_t(0));
    for (int64_t q = 0; q < nnz; ++q) tcrow[col[q] + 1]++;
    for (int64_t n = 0; n < N; ++n) tcrow[n + 1] += tcrow[n];
    std::vector<int64_t> cur(tcrow, tcrow + N);
    for (int64_t r = 0; r < R; ++r) {
        for (int64_t q = crow[r]; q < crow[r + 1]; ++q) {
            const int64_t d = cur[col[q]]++;
            tcol[d] = r;
            tval[d] = val[q];
        }
    }
    (void)nthreads;
}

// One pass of the relevancy refit over a CSR matrix A [R, N] of compositing
// weights: p = clamp(A s, 0, 1) per row, the row-weighted training loss
// sum_r row_w[r] * l(p_r, t_r) and its gradient with respect to s [N]
// (form 0: BCE on p clamped to [1e-6, 1 - 1e-6], no gradient where the clamp
// is active; 1: squared error; 2: absolute error), as
// point2act.requery.fit_torch.fit_relevancy_reference computes them with two
// sparse mat-vecs. Each thread owns a contiguous block of rows and its own
// gradient buffer (summed in thread order: deterministic for a thread count).
double relevancy_loss_grad_impl(
    int64_t R, int64_t N, const int64_t *crow, const int32_t *col, const float *val,
    const float *s, const float *target, const float *row_w, int form, int nthreads,
    float *grad
) {
    const int nt = std::max(1, nthreads);
    std::vector<std::vector<float>> partial(nt);
    std::vector<double> losses(nt, 0.0);
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
        const int nth = omp_get_num_threads();
#else
        const int tid = 0;
        const int nth = 1;
#endif
        std::vector<float> &g = partial[tid];
        g.assign(N, 0.0f);
        // split rows evenly by nonzeros
        const int64_t nnz = crow[R];
        auto row_at = [&](int64_t k) {
            const int64_t target_nnz = nnz * k / nth;
            return int64_t(std::lower_bound(crow, crow + R + 1, target_nnz) - crow);
        };
        const int64_t r0 = tid == 0 ? 0 : std::min(R, row_at(tid));
        const int64_t r1 = tid == nth - 1 ? R : std::min(R, row_at(tid + 1));
        double loss = 0.0;
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t q0 = crow[r], q1 = crow[r + 1];
            // four partial sums (breaks the add latency chain)
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            int64_t q = q0;
            for (; q + 4 <= q1; q += 4) {
                a0 += val[q] * s[col[q]];
                a1 += val[q + 1] * s[col[q + 1]];
                a2 += val[q + 2] * s[col[q + 2]];
                a3 += val[q + 3] * s[col[q + 3]];
            }
            for (; q < q1; ++q) a0 += val[q] * s[col[q]];
            const float acc = (a0 + a1) + (a2 + a3);
            const float p = std::min(1.0f, std::max(0.0f, acc));
            const float t = target[r];
            float per, dp;
            if (form == 0) {
                const float pc = std::min(1.0f - 1e-6f, std::max(1e-6f, p));
                // the logs are the costly part of a row: skip the one a 0/1 target multiplies by 0
                if (t == 0.0f)
                    per = -std::log1p(-pc);
                else if (t == 1.0f)
                    per = -std::log(pc);
                else
                    per = -(t * std::log(pc) + (1.0f - t) * std::log1p(-pc));
                dp = (p > 1e-6f && p < 1.0f - 1e-6f) ? (pc - t) / (pc * (1.0f - pc)) : 0.0f;
            } else if (form == 1) {
                per = (p - t) * (p - t);
                dp = 2.0f * (p - t);
            } else {
                per = std::abs(p - t);
                dp = p > t ? 1.0f : (p < t ? -1.0f : 0.0f);
            }
            loss += double(per) * double(row_w[r]);
            const float c = dp * row_w[r];
            if (c != 0.0f)
                for (int64_t q = q0; q < q1; ++q) g[col[q]] += val[q] * c;
        }
        losses[tid] = loss;
    }
    std::fill(grad, grad + N, 0.0f);
    double loss = 0.0;
    for (int k = 0; k < nt; ++k) {
        loss += losses[k];
        if (partial[k].empty()) continue;
        const float *g = partial[k].data();
        for (int64_t n = 0; n < N; ++n) grad[n] += g[n];
    }
    return loss;
}

// Calls f(std::integral_constant<int, DT>) with DT = D for common channel
// counts and DT = 0 (dynamic) otherwise.
template <typename F> void dispatch_channels(int64_t D, F &&f) {
    switch (D) {
    case 1: f(std::integral_constant<int, 1>()); break;
    case 2: f(std::integral_constant<int, 2>()); break;
    case 3: f(std::integral_constant<int, 3>()); break;
    case 4: f(std::integral_constant<int, 4>()); break;
    case 8: f(std::integral_constant<int, 8>()); break;
    default: f(std::integral_constant<int, 0>()); break;
    }
}

void check_cpu_contig(const torch::Tensor &t, const char *name) {
    TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
    TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

} // namespace

// Returns (tiles_per_gauss [C, N] int32, isect_ids [n_isects] int64,
//          flatten_ids [n_isects] int32, isect_offsets [C, th, tw] int32).
std::vector<torch::Tensor> isect_tiles(
    const torch::Tensor &means2d, // [C, N, 2]
    const torch::Tensor &radii,   // [C, N] int32
    const torch::Tensor &depths,  // [C, N]
    int64_t tile_size, int64_t tile_width, int64_t tile_height,
    int64_t num_threads
) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(radii, "radii");
    check_cpu_contig(depths, "depths");
    TORCH_CHECK(radii.scalar_type() == torch::kInt32, "radii must be int32");
    TORCH_CHECK(means2d.dim() == 3 && means2d.size(2) == 2, "means2d must be [C, N, 2]");
    TORCH_CHECK(depths.scalar_type() == means2d.scalar_type(), "dtype mismatch");
    const int64_t C = means2d.size(0), N = means2d.size(1);
    const int nthreads = resolve_threads(num_threads);
    auto tiles_per_gauss =
        torch::zeros({C, N}, means2d.options().dtype(torch::kInt32));
    std::vector<int32_t> offsets, ids;
    AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "isect_tiles", [&] {
        isect_tiles_impl<scalar_t>(
            C, N, means2d.data_ptr<scalar_t>(), radii.data_ptr<int32_t>(),
            depths.data_ptr<scalar_t>(), int(tile_size), int(tile_width),
            int(tile_height), nthreads, tiles_per_gauss.data_ptr<int32_t>(),
            offsets, ids
        );
    });
    const int64_t n_isects = static_cast<int64_t>(ids.size());
    const int64_t n_tiles = tile_width * tile_height;
    auto flatten_ids = torch::empty({n_isects}, radii.options());
    std::memcpy(flatten_ids.data_ptr<int32_t>(), ids.data(), n_isects * sizeof(int32_t));
    auto isect_offsets = torch::empty({C, tile_height, tile_width}, radii.options());
    std::memcpy(
        isect_offsets.data_ptr<int32_t>(), offsets.data(),
        C * n_tiles * sizeof(int32_t)
    );
    // gsplat's isect_ids: camera id | tile id | float32 depth bits
    auto isect_ids = torch::empty({n_isects}, radii.options().dtype(torch::kInt64));
    int64_t *iid = isect_ids.data_ptr<int64_t>();
    const int tile_n_bits = bit_length(n_tiles);
    AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "isect_ids", [&] {
        const scalar_t *dp = depths.data_ptr<scalar_t>();
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

// Returns (render_colors [C, H, W, D], render_alphas [C, H, W, 1],
//          T_final [C, H, W], last_ids [C, H, W] int32).
std::vector<torch::Tensor> rasterize_fwd(
    const torch::Tensor &means2d,   // [C, N, 2]
    const torch::Tensor &conics,    // [C, N, 3]
    const torch::Tensor &colors,    // [C, N, D]
    const torch::Tensor &opacities, // [C, N]
    const c10::optional<torch::Tensor> &backgrounds, // [C, D]
    int64_t width, int64_t height, int64_t tile_size,
    const torch::Tensor &isect_offsets, // [C, th, tw] int32
    const torch::Tensor &flatten_ids,   // [n_isects] int32
    int64_t num_threads
) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(conics, "conics");
    check_cpu_contig(colors, "colors");
    check_cpu_contig(opacities, "opacities");
    check_cpu_contig(isect_offsets, "isect_offsets");
    check_cpu_contig(flatten_ids, "flatten_ids");
    const auto dtype = means2d.scalar_type();
    TORCH_CHECK(
        conics.scalar_type() == dtype && colors.scalar_type() == dtype &&
            opacities.scalar_type() == dtype,
        "means2d, conics, colors and opacities must share a dtype"
    );
    const int64_t C = means2d.size(0), N = means2d.size(1), D = colors.size(2);
    TORCH_CHECK(colors.size(0) == C && colors.size(1) == N, "colors must be [C, N, D]");
    const int64_t tw = isect_offsets.size(2), th = isect_offsets.size(1);
    if (backgrounds.has_value()) {
        check_cpu_contig(*backgrounds, "backgrounds");
        TORCH_CHECK(backgrounds->scalar_type() == dtype, "backgrounds dtype");
        TORCH_CHECK(
            backgrounds->size(0) == C && backgrounds->size(1) == D,
            "backgrounds must be [C, D]"
        );
    }
    TORCH_CHECK(tile_size >= 1 && tile_size <= 64, "tile_size must be in [1, 64]");
    const int nthreads = resolve_threads(num_threads);
    auto render_colors = torch::empty({C, height, width, D}, means2d.options());
    auto render_alphas = torch::empty({C, height, width, 1}, means2d.options());
    auto T_final = torch::empty({C, height, width}, means2d.options());
    auto last_ids = torch::empty({C, height, width}, flatten_ids.options());
    std::vector<int32_t> offsets(C * th * tw + 1);
    std::memcpy(offsets.data(), isect_offsets.data_ptr<int32_t>(), C * th * tw * sizeof(int32_t));
    offsets[C * th * tw] = static_cast<int32_t>(flatten_ids.size(0));
    AT_DISPATCH_FLOATING_TYPES(dtype, "rasterize_fwd", [&] {
        dispatch_channels(D, [&](auto dt) {
        rasterize_fwd_impl<scalar_t, decltype(dt)::value>(
            C, C * N, D, means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
            colors.data_ptr<scalar_t>(), opacities.data_ptr<scalar_t>(),
            backgrounds.has_value() ? backgrounds->data_ptr<scalar_t>() : nullptr,
            int(width), int(height), int(tile_size), int(tw), int(th),
            offsets.data(), flatten_ids.data_ptr<int32_t>(),
            render_colors.data_ptr<scalar_t>(), render_alphas.data_ptr<scalar_t>(),
            T_final.data_ptr<scalar_t>(), last_ids.data_ptr<int32_t>(), nthreads
        );
        });
    });
    return {render_colors, render_alphas, T_final, last_ids};
}

// Returns (v_means2d_abs [C, N, 2] (empty if not absgrad), v_means2d [C, N, 2],
//          v_conics [C, N, 3], v_colors [C, N, D], v_opacities [C, N]).
std::vector<torch::Tensor> rasterize_bwd(
    const torch::Tensor &means2d, const torch::Tensor &conics,
    const torch::Tensor &colors, const torch::Tensor &opacities,
    const c10::optional<torch::Tensor> &backgrounds, int64_t width,
    int64_t height, int64_t tile_size, const torch::Tensor &isect_offsets,
    const torch::Tensor &flatten_ids, const torch::Tensor &T_final,
    const torch::Tensor &last_ids, const torch::Tensor &v_render_colors,
    const torch::Tensor &v_render_alphas, bool absgrad, int64_t num_threads
) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(conics, "conics");
    check_cpu_contig(colors, "colors");
    check_cpu_contig(opacities, "opacities");
    check_cpu_contig(T_final, "T_final");
    check_cpu_contig(last_ids, "last_ids");
    check_cpu_contig(v_render_colors, "v_render_colors");
    check_cpu_contig(v_render_alphas, "v_render_alphas");
    const auto dtype = means2d.scalar_type();
    TORCH_CHECK(
        v_render_colors.scalar_type() == dtype && v_render_alphas.scalar_type() == dtype,
        "gradient dtype mismatch"
    );
    const int64_t C = means2d.size(0), N = means2d.size(1), D = colors.size(2);
    const int64_t tw = isect_offsets.size(2), th = isect_offsets.size(1);
    TORCH_CHECK(tile_size >= 1 && tile_size <= 64, "tile_size must be in [1, 64]");
    const int nthreads = resolve_threads(num_threads);
    auto v_means2d = torch::zeros({C, N, 2}, means2d.options());
    auto v_conics = torch::zeros({C, N, 3}, means2d.options());
    auto v_colors = torch::zeros({C, N, D}, means2d.options());
    auto v_opacities = torch::zeros({C, N}, means2d.options());
    auto v_means2d_abs =
        absgrad ? torch::zeros({C, N, 2}, means2d.options()) : torch::empty({0}, means2d.options());
    std::vector<int32_t> offsets(C * th * tw + 1);
    std::memcpy(offsets.data(), isect_offsets.data_ptr<int32_t>(), C * th * tw * sizeof(int32_t));
    offsets[C * th * tw] = static_cast<int32_t>(flatten_ids.size(0));
    AT_DISPATCH_FLOATING_TYPES(dtype, "rasterize_bwd", [&] {
        dispatch_channels(D, [&](auto dt) {
        rasterize_bwd_impl<scalar_t, decltype(dt)::value>(
            C, N, D, means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
            colors.data_ptr<scalar_t>(), opacities.data_ptr<scalar_t>(),
            backgrounds.has_value() ? backgrounds->data_ptr<scalar_t>() : nullptr,
            int(width), int(height), int(tile_size), int(tw), int(th),
            offsets.data(), flatten_ids.data_ptr<int32_t>(),
            T_final.data_ptr<scalar_t>(), last_ids.data_ptr<int32_t>(),
            v_render_colors.data_ptr<scalar_t>(), v_render_alphas.data_ptr<scalar_t>(),
            absgrad, v_means2d.data_ptr<scalar_t>(), v_conics.data_ptr<scalar_t>(),
            v_colors.data_ptr<scalar_t>(), v_opacities.data_ptr<scalar_t>(),
            absgrad ? v_means2d_abs.data_ptr<scalar_t>() : nullptr, nthreads
        );
        });
    });
    return {v_means2d_abs, v_means2d, v_conics, v_colors, v_opacities};
}

// Returns (crow [C*H*W + 1] int64, col [nnz] int32, val [nnz] float32): the
// CSR matrix of compositing weights alpha * T, rows (camera, y, x), columns
// Gaussians (0..N-1), dropping weights <= min_weight.
std::vector<torch::Tensor> compositing_weights(
    const torch::Tensor &means2d,   // [C, N, 2]
    const torch::Tensor &conics,    // [C, N, 3]
    const torch::Tensor &opacities, // [C, N]
    int64_t width, int64_t height, int64_t tile_size,
    const torch::Tensor &isect_offsets, // [C, th, tw] int32
    const torch::Tensor &flatten_ids,   // [n_isects] int32
    double min_weight, int64_t num_threads
) {
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
    std::vector<int32_t> offsets(C * th * tw + 1);
    std::memcpy(offsets.data(), isect_offsets.data_ptr<int32_t>(), C * th * tw * sizeof(int32_t));
    offsets[C * th * tw] = static_cast<int32_t>(flatten_ids.size(0));
    auto crow = torch::empty({C * height * width + 1}, isect_offsets.options().dtype(torch::kInt64));
    torch::Tensor col, val;
    auto alloc = [&](int64_t nnz, int32_t *&cols, float *&vals) {
        col = torch::empty({nnz}, isect_offsets.options().dtype(torch::kInt32));
        val = torch::empty({nnz}, isect_offsets.options().dtype(torch::kFloat32));
        cols = col.data_ptr<int32_t>();
        vals = val.data_ptr<float>();
    };
    AT_DISPATCH_FLOATING_TYPES(dtype, "compositing_weights", [&] {
        compositing_weights_impl<scalar_t>(
            C, N, means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
            opacities.data_ptr<scalar_t>(), int(width), int(height), int(tile_size),
            int(tw), int(th), offsets.data(), flatten_ids.data_ptr<int32_t>(),
            min_weight, nthreads, crow.data_ptr<int64_t>(), alloc
        );
    });
    return {crow, col, val};
}

// Returns (crow [N + 1] int64, col [nnz] int64, val [nnz] float32): the
// transpose of the CSR matrix (crow, col, val) with num_cols = N columns.
std::vector<torch::Tensor> csr_transpose(
    const torch::Tensor &crow, const torch::Tensor &col, const torch::Tensor &val,
    int64_t num_cols, int64_t num_threads
) {
    check_cpu_contig(crow, "crow");
    check_cpu_contig(col, "col");
    check_cpu_contig(val, "val");
    TORCH_CHECK(crow.scalar_type() == torch::kInt64, "crow must be int64");
    TORCH_CHECK(col.scalar_type() == torch::kInt32, "col must be int32");
    TORCH_CHECK(val.scalar_type() == torch::kFloat32, "val must be float32");
    const int64_t R = crow.size(0) - 1, nnz = col.size(0);
    TORCH_CHECK(R >= 0 && crow[R].item<int64_t>() == nnz, "crow[-1] must equal nnz");
    auto tcrow = torch::empty({num_cols + 1}, crow.options());
    auto tcol = torch::empty({nnz}, crow.options());
    auto tval = torch::empty({nnz}, val.options());
    csr_transpose_impl(R, num_cols, crow.data_ptr<int64_t>(), col.data_ptr<int32_t>(), val.data_ptr<float>(),
                       resolve_threads(num_threads), tcrow.data_ptr<int64_t>(), tcol.data_ptr<int64_t>(),
                       tval.data_ptr<float>());
    return {tcrow, tcol, tval};
}

// Returns (loss [] float64, grad_s [N] float32) of the row-weighted relevancy
// loss of p = clamp(A s, 0, 1) (A: CSR crow int64 / col int32 / val float32).
std::vector<torch::Tensor> relevancy_loss_grad(
    const torch::Tensor &crow, const torch::Tensor &col, const torch::Tensor &val,
    const torch::Tensor &s,      // [N] float32
    const torch::Tensor &target, // [R] float32
    const torch::Tensor &row_w,  // [R] float32
    int64_t form, int64_t num_threads
) {
    check_cpu_contig(crow, "crow");
    check_cpu_contig(col, "col");
    check_cpu_contig(val, "val");
    check_cpu_contig(s, "s");
    check_cpu_contig(target, "target");
    check_cpu_contig(row_w, "row_w");
    TORCH_CHECK(crow.scalar_type() == torch::kInt64, "crow must be int64");
    TORCH_CHECK(col.scalar_type() == torch::kInt32, "col must be int32");
    TORCH_CHECK(val.scalar_type() == torch::kFloat32 && s.scalar_type() == torch::kFloat32 &&
                    target.scalar_type() == torch::kFloat32 && row_w.scalar_type() == torch::kFloat32,
                "val, s, target and row_w must be float32");
    TORCH_CHECK(form >= 0 && form <= 2, "form must be 0 (bce), 1 (mse) or 2 (l1)");
    const int64_t R = crow.size(0) - 1, N = s.size(0);
    TORCH_CHECK(target.size(0) == R && row_w.size(0) == R, "target and row_w must have one entry per row");
    TORCH_CHECK(crow[R].item<int64_t>() == col.size(0) && val.size(0) == col.size(0), "crow[-1] must equal nnz");
    auto grad = torch::empty({N}, s.options());
    const double loss = relevancy_loss_grad_impl(
        R, N, crow.data_ptr<int64_t>(), col.data_ptr<int32_t>(), val.data_ptr<float>(),
        s.data_ptr<float>(), target.data_ptr<float>(), row_w.data_ptr<float>(), int(form),
        resolve_threads(num_threads), grad.data_ptr<float>()
    );
    return {torch::tensor(loss, s.options().dtype(torch::kFloat64)), grad};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("isect_tiles", &isect_tiles, "Tile/Gaussian intersections (CPU)");
    m.def("rasterize_fwd", &rasterize_fwd, "Rasterize to pixels forward (CPU)");
    m.def("rasterize_bwd", &rasterize_bwd, "Rasterize to pixels backward (CPU)");
    m.def("compositing_weights", &compositing_weights, "Sparse compositing weights alpha*T (CPU)");
    m.def("csr_transpose", &csr_transpose, "Transpose of a float32 CSR matrix (CPU)");
    m.def("relevancy_loss_grad", &relevancy_loss_grad, "Relevancy refit loss and gradient on CSR weights (CPU)");
}
