// Rasterize to pixels, backward (gsplat's rasterize_to_pixels_bwd on the CPU).
//
// Each (camera, tile) is walked back to front from the last contributing
// Gaussian of its pixels, reconstructing T by division exactly like gsplat's
// backward kernel. Per-pixel gradient terms are accumulated in vector lanes
// for one (tile, Gaussian) pair, reduced once per pair into a per-intersection
// row (no atomics, no races, deterministic for any thread count), and summed
// per Gaussian in intersection order at the end.

#include <memory>

#include "common_aten.h"
#include "ops.h"

namespace p2a {
namespace {

// Intersections from which the per-Gaussian reduction runs on the threads given (each scans them all).
constexpr int64_t REDUCE_PARALLEL = 1 << 13;

// Whole chunks of LANES lanes (the loop over a row's chunks), or half a chunk in 8 lanes (HalfChunk): how
// bwd_step reads and writes a pixel vector of the tile's scratch.
struct WholeChunk {
    template <typename T, typename W> T get(const W &v) const { return v; }
    template <typename W, typename T> void set(W &v, const T &x) const { v = x; }
};
#ifdef P2A_HALF_CHUNKS
struct HalfChunk {
    int h;  // lanes [8h, 8h + 8)
    template <typename T, typename W> T get(const W &v) const { return half_of<T>(v, h); }
    template <typename W, typename T> void set(W &v, const T &x) const { set_half(v, h, x); }
};
#endif

// One tile's per-pixel scratch (rasterize_bwd_impl's) and the Gaussian's colour, as bwd_step reads them.
template <typename S, typename V, typename M> struct Arrays {
    V *T;            // transmittance in front of the Gaussian, reconstructed back to front
    V *bv;           // sum over the Gaussians behind of (colour . v_colour) * weight
    const V *Tf;     // final transmittance
    const V *va;     // the pixel's v_alpha
    const V *bgdot;  // background . v_colour
    const M *last;   // the last intersection each pixel used
    const V *vc;     // v_colour, [D][nrc]
    int64_t nrc, D, DG;
    const S *col;  // the Gaussian's colour [D]
    bool bg;
    S amax, amin;
    bool absgrad;
};

// The gradient sums of one (tile, Gaussian) pair in lanes VT; write() reduces them into its intersection row
// [xy(2), conic(3), opacity(1), colour(D), abs xy(2)].
template <typename VT> struct Sums {
    VT x{}, y{}, ca{}, cb{}, cc{}, o{}, ax{}, ay{};
    VT *acc;           // [D] colour sums, zeroed by the caller
    uint32_t hit = 0;  // the lanes some pixel used the Gaussian in
    explicit Sums(VT *acc_) : acc(acc_) {}
    template <typename S> void write(S *r, int64_t D, bool absgrad) const {
        r[0] = hsum(x);
        r[1] = hsum(y);
        r[2] = hsum(ca);
        r[3] = hsum(cb);
        r[4] = hsum(cc);
        r[5] = hsum(o);
        for (int64_t d = 0; d < D; ++d) r[6 + d] = hsum(acc[d]);
        if (absgrad) {
            r[6 + D] = hsum(ax);
            r[7 + D] = hsum(ay);
        }
    }
};

// One pixel vector's step back over the Gaussian s: T reconstructed by division (as gsplat's backward
// kernel), the pixel's colour and opacity gradient terms added to the pair's sums. VT is a chunk's V or, for
// half a chunk, V8 (part: which lanes of the scratch): the same operations in the same order either way.
template <typename S, typename VT, typename MT, typename Part, typename V, typename M>
inline void bwd_step(const Splat<S> &s, const VT &dx, S dy, const MT &kv, const Part &part, int idx,
                     const Arrays<S, V, M> &px, Sums<VT> &a) {
    const VT zero = splat<VT>(S(0));
    VT sigma, ev;
    eval_gaussian<S>(s, dx, dy, sigma, ev);
    const VT oe = s.o * ev;
    const VT alpha = oe < px.amax ? oe : splat<VT>(px.amax);
    const MT valid = (kv <= part.template get<MT>(px.last[idx])) & (sigma >= S(0)) & (alpha >= px.amin);
    a.hit |= lane_bits(valid);  // no branch: keeps the pipeline full
    const VT ra = recip(S(1) - alpha);
    const VT Tc = part.template get<VT>(px.T[idx]);
    const VT Tn = Tc * ra;
    part.set(px.T[idx], valid ? Tn : Tc);
    const VT fac = valid ? alpha * Tn : zero;  // 0 in unused lanes
    // gsplat keeps buf_d = sum of col_d * w of the Gaussians behind and uses sum_d (col_d * Tn - buf_d * ra) * v_d;
    // only bv = sum_d buf_d * v_d is needed (v_d is fixed per pixel), so one vector replaces D.
    VT cv = zero;  // sum_d col_d * v_d over the geometry channels d < DG
    for (int64_t d = 0; d < px.D; ++d) {
        const VT v = part.template get<VT>(px.vc[d * px.nrc + idx]);
        a.acc[d] += fac * v;
        if (d < px.DG) cv += px.col[d] * v;
    }
    VT bv = part.template get<VT>(px.bv[idx]);
    VT v_alpha = cv * Tn - bv * ra;
    bv += cv * fac;
    part.set(px.bv[idx], bv);
    const VT tfra = part.template get<VT>(px.Tf[idx]) * ra;
    v_alpha += tfra * part.template get<VT>(px.va[idx]);
    if (px.bg) v_alpha += -tfra * part.template get<VT>(px.bgdot[idx]);
    const MT gok = valid & (oe <= px.amax);
    // v_sigma, zero where the pixel does not use the Gaussian or alpha is clamped
    const VT v_sigma = gok ? -s.o * ev * v_alpha : zero;
    const VT vsdx = v_sigma * dx;
    a.ca += S(0.5) * vsdx * dx;
    a.cb += vsdx * dy;
    a.cc += v_sigma * (S(0.5) * dy * dy);
    const VT gx = v_sigma * (s.ca * dx + s.cb * dy);
    const VT gy = v_sigma * (s.cb * dx + s.cc * dy);
    a.x += gx;
    a.y += gy;
    if (px.absgrad) {
        a.ax += gx < S(0) ? -gx : gx;
        a.ay += gy < S(0) ? -gy : gy;
    }
    a.o += gok ? ev * v_alpha : zero;
}

template <typename S, int DT>
void rasterize_bwd_impl(int64_t C, int64_t N, int64_t D_, const S *means2d, const S *conics, const S *colors,
                        const S *opacities, const S *backgrounds, int W, int H, int tile_size, int tile_width,
                        int tile_height, const int32_t *offsets, const int32_t *flatten_ids, const S *T_final,
                        const int32_t *last_ids, const int64_t *row_masks, const Packed<S> *fwd_packs,
                        const S *v_render_colors, const S *v_render_alphas, bool absgrad,
                        S *v_means2d, S *v_conics, S *v_colors, S *v_opacities, S *v_means2d_abs, int nthreads,
                        int64_t DG, bool half_chunks) {
    using V = typename Vec<S>::V;
    using M = typename Vec<S>::M;
    using MI = typename std::remove_reference<decltype(M()[0])>::type;
    const int64_t D = DT > 0 ? DT : D_;
    const int64_t n_tiles = int64_t(tile_width) * tile_height;
    const int64_t n_isects = offsets[C * n_tiles];
    const S AMAX = Consts<S>::alpha_max, AMIN = Consts<S>::alpha_min;
    // per-intersection gradient rows: [xy(2), conic(3), opacity(1), colour(D), abs xy(2)]
    const int64_t stride = 6 + D + (absgrad ? 2 : 0);
    std::unique_ptr<S[]> isect_grads(new S[std::max<int64_t>(1, n_isects * stride)]);
    std::vector<uint8_t> touched(n_isects, 0);
    // the forward pass's packs when given (the same values: a function of means2d, conics and opacities)
    const std::vector<Packed<S>> own_packs =
        make_packs<S>(n_isects > 0 && !fwd_packs ? C * N : 0, means2d, conics, opacities, nthreads);
    const Packed<S> *packs = fwd_packs ? fwd_packs : own_packs.data();
#pragma omp parallel num_threads(nthreads)
    {
        const int nch = (tile_size + LANES - 1) / LANES;
        const int nrc = tile_size * nch;
        std::vector<V> Tv(nrc), Tfv(nrc), vav(nrc), bgdotv(nrc), vcv(size_t(nrc) * D), bvv(nrc),
            xc(nch);
        std::vector<M> lastv(nrc);
        std::vector<int32_t> rowmax(nrc);
        std::vector<S> coldyn(D);
        std::vector<V> accdyn(D);
        const V zero = splat<V>(S(0));
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < C * n_tiles; ++t) {
            const int32_t start = offsets[t], end = offsets[t + 1];
            if (start == end) continue;
            const TileGeom tg = tile_geom(t, n_tiles, tile_width, tile_size, W, H);
            const S *bg = backgrounds ? backgrounds + tg.cam * D : nullptr;
            for (int ch = 0; ch < nch; ++ch) xc[ch] = chunk_centres<S>(tg.x0, ch);
            int32_t max_last = -1;
            for (int py = 0; py < tg.ph; ++py) {
                for (int ch = 0; ch < nch; ++ch) {
                    const int idx = py * nch + ch;
                    V T = splat<V>(S(1)), va = zero, bd = zero;
                    M last = splat<M>(-1);
                    for (int i = 0; i < LANES; ++i) {
                        const int px = ch * LANES + i;
                        if (px >= tg.pw) break;
                        const int64_t pix = (tg.cam * H + (tg.y0 + py)) * int64_t(W) + (tg.x0 + px);
                        T[i] = T_final[pix];
                        last[i] = last_ids[pix];
                        va[i] = v_render_alphas[pix];
                        S b = S(0);
                        for (int64_t d = 0; d < D; ++d) {
                            const S v = v_render_colors[pix * D + d];
                            vcv[d * nrc + idx][i] = v;
                            if (bg && d < DG) b += bg[d] * v;
                        }
                        bd[i] = b;
                    }
                    for (int i = tg.pw - ch * LANES; i < LANES; ++i) {
                        if (i < 0) continue;
                        for (int64_t d = 0; d < D; ++d) vcv[d * nrc + idx][i] = S(0);
                    }
                    Tv[idx] = T;
                    Tfv[idx] = T;
                    vav[idx] = va;
                    bgdotv[idx] = bd;
                    lastv[idx] = last;
                    int32_t rm = -1;
                    for (int i = 0; i < LANES; ++i) rm = std::max<int32_t>(rm, int32_t(last[i]));
                    rowmax[idx] = rm;
                    max_last = std::max(max_last, rm);
                    bvv[idx] = zero;
                }
            }
            for (int32_t k = std::min(max_last, end - 1); k >= start; --k) {
                const uint64_t rmask = static_cast<uint64_t>(row_masks[k]);
                if (rmask == 0) continue;  // no pixel of the tile used this Gaussian
                const int64_t g = flatten_ids[k];
                if (k - 8 >= start) __builtin_prefetch(packs + flatten_ids[k - 8]);
                const Splat<S> s = packs[g].s;
                int bx0, bx1, by0, by1;
                if (!pixel_box<S>(packs[g].e, s.mx, s.my, tg, bx0, bx1, by0, by1)) continue;
                S colst[DT > 0 ? DT : 1];
                V accst[DT > 0 ? DT : 1];
                S *col = DT > 0 ? colst : coldyn.data();
                V *acc_rgb = DT > 0 ? accst : accdyn.data();
                for (int64_t d = 0; d < D; ++d) {
                    col[d] = colors[g * D + d];
                    acc_rgb[d] = zero;
                }
                Arrays<S, V, M> px{Tv.data(), bvv.data(), Tfv.data(), vav.data(), bgdotv.data(), lastv.data(),
                                   vcv.data(), nrc, D, DG, col, bg != nullptr, AMAX, AMIN, absgrad};
                S *r = isect_grads.get() + k * stride;
#ifdef P2A_HALF_CHUNKS
                if constexpr (std::is_same<S, float>::value && DT > 0) {
                    if (half_chunks && nch == 1 && (bx1 < HALF || bx0 >= HALF)) {
                        // the pixel box lies in one half of the chunk: that half in 8-lane registers (the
                        // same step as below on V8; the other half's lanes would add zeros)
                        const HalfChunk part{bx0 >= HALF ? 1 : 0};
                        V8 acc8[DT];
                        for (int d = 0; d < DT; ++d) acc8[d] = splat<V8>(0.0f);
                        Sums<V8> a(acc8);
                        const M8 kv = splat<M8>(int32_t(k));
                        const V8 xc8 = part.get<V8>(xc[0]);
                        for (int py = by0; py <= by1; ++py) {
                            if (!((rmask >> py) & 1) || k > rowmax[py]) continue;
                            const S dy = s.my - (S(tg.y0 + py) + Consts<S>::half);
                            bwd_step(s, V8(s.mx - xc8), dy, kv, part, py, px, a);
                        }
                        if (a.hit) {
                            touched[k] = 1;
                            a.write(r, D, absgrad);
                        }
                        continue;
                    }
                }
#endif
                Sums<V> a(acc_rgb);
                const M kv = splat<M>(MI(k));
                const int ch0 = bx0 / LANES, ch1 = bx1 / LANES;
                for (int py = by0; py <= by1; ++py) {
                    if (!((rmask >> py) & 1)) continue;
                    const S dy = s.my - (S(tg.y0 + py) + Consts<S>::half);
                    for (int ch = ch0; ch <= ch1; ++ch) {
                        const int idx = py * nch + ch;
                        if (k > rowmax[idx]) continue;
                        bwd_step(s, V(s.mx - xc[ch]), dy, kv, WholeChunk{}, idx, px, a);
                    }
                }
                if (!a.hit) continue;
                touched[k] = 1;
                a.write(r, D, absgrad);
            }
        }
    }
    // deterministic reduction per Gaussian (in intersection order): each thread sums the rows of the Gaussians
    // of its range, in intersection order, so every sum is the one-thread sum
    const int64_t CN = C * N;
#pragma omp parallel num_threads(n_isects < REDUCE_PARALLEL ? 1 : nthreads)
    {
        const int tid = thread_id(), nth = team_size();
        const int64_t g_lo = CN * tid / nth, g_hi = CN * (tid + 1) / nth;
        for (int64_t k = 0; k < n_isects; ++k) {
            const int64_t g = flatten_ids[k];
            if (g < g_lo || g >= g_hi || !touched[k]) continue;
            const S *r = isect_grads.get() + k * stride;
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
    }
}

}  // namespace

std::vector<at::Tensor> rasterize_bwd(const at::Tensor &means2d, const at::Tensor &conics, const at::Tensor &colors,
                                      const at::Tensor &opacities, const c10::optional<at::Tensor> &backgrounds,
                                      int64_t width, int64_t height, int64_t tile_size,
                                      const at::Tensor &isect_offsets, const at::Tensor &flatten_ids,
                                      const at::Tensor &T_final, const at::Tensor &last_ids,
                                      const at::Tensor &row_masks,
                                      const at::Tensor &v_render_colors, const at::Tensor &v_render_alphas,
                                      bool absgrad, int64_t num_threads, int64_t geometry_channels,
                                      const c10::optional<at::Tensor> &packs, bool half_chunks) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(conics, "conics");
    check_cpu_contig(colors, "colors");
    check_cpu_contig(opacities, "opacities");
    check_cpu_contig(T_final, "T_final");
    check_cpu_contig(last_ids, "last_ids");
    check_cpu_contig(row_masks, "row_masks");
    TORCH_CHECK(row_masks.scalar_type() == at::kLong && row_masks.numel() == flatten_ids.numel(),
                "row_masks must be int64 [n_isects] (from rasterize_fwd)");
    check_cpu_contig(v_render_colors, "v_render_colors");
    check_cpu_contig(v_render_alphas, "v_render_alphas");
    const auto dtype = means2d.scalar_type();
    TORCH_CHECK(v_render_colors.scalar_type() == dtype && v_render_alphas.scalar_type() == dtype,
                "gradient dtype mismatch");
    const int64_t C = means2d.size(0), N = means2d.size(1), D = colors.size(2);
    const int64_t tw = isect_offsets.size(2), th = isect_offsets.size(1);
    TORCH_CHECK(tile_size >= 1 && tile_size <= 64, "tile_size must be in [1, 64]");
    TORCH_CHECK(geometry_channels >= -1 && geometry_channels <= D, "geometry_channels must be in [-1, D]");
    const int64_t DG = geometry_channels < 0 ? D : geometry_channels;
    const bool use_packs = packs.has_value() && packs->numel() > 0;
    if (use_packs) {
        check_cpu_contig(*packs, "packs");
        const int64_t want = dtype == at::kDouble ? packs_bytes<double>(C * N) : packs_bytes<float>(C * N);
        TORCH_CHECK(packs->scalar_type() == at::kByte && packs->numel() == want,
                    "packs must be rasterize_fwd's uint8 [C * N * sizeof(Packed)] of these Gaussians");
    }
    const int nthreads = resolve_threads(num_threads);
    auto v_means2d = at::zeros({C, N, 2}, means2d.options());
    auto v_conics = at::zeros({C, N, 3}, means2d.options());
    auto v_colors = at::zeros({C, N, D}, means2d.options());
    auto v_opacities = at::zeros({C, N}, means2d.options());
    auto v_means2d_abs = absgrad ? at::zeros({C, N, 2}, means2d.options()) : at::empty({0}, means2d.options());
    const std::vector<int32_t> offsets = offsets_with_end(isect_offsets, flatten_ids.size(0));
    AT_DISPATCH_FLOATING_TYPES(dtype, "rasterize_bwd", [&] {
        dispatch_channels(D, [&](auto dt) {
            rasterize_bwd_impl<scalar_t, decltype(dt)::value>(
                C, N, D, means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(), colors.data_ptr<scalar_t>(),
                opacities.data_ptr<scalar_t>(), backgrounds.has_value() ? backgrounds->data_ptr<scalar_t>() : nullptr,
                int(width), int(height), int(tile_size), int(tw), int(th), offsets.data(),
                flatten_ids.data_ptr<int32_t>(), T_final.data_ptr<scalar_t>(), last_ids.data_ptr<int32_t>(), row_masks.data_ptr<int64_t>(),
                use_packs ? reinterpret_cast<const Packed<scalar_t> *>(packs->data_ptr<uint8_t>()) : nullptr,
                v_render_colors.data_ptr<scalar_t>(), v_render_alphas.data_ptr<scalar_t>(), absgrad,
                v_means2d.data_ptr<scalar_t>(), v_conics.data_ptr<scalar_t>(), v_colors.data_ptr<scalar_t>(),
                v_opacities.data_ptr<scalar_t>(), absgrad ? v_means2d_abs.data_ptr<scalar_t>() : nullptr, nthreads, DG,
                half_chunks);
        });
    });
    return {v_means2d_abs, v_means2d, v_conics, v_colors, v_opacities};
}

}  // namespace p2a
