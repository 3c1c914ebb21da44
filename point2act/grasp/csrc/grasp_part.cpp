// What each grasp candidate holds: the part between the fingers, per contact pair and approach angle
// (point2act.grasp.planner; reference: point2act.grasp.part_scans.grasp_part_reference, whose float32 and
// float64 expressions this file computes in the same order, so that the two agree exactly).
//
// Pair k's entries are the cloud points within `radius` of its centre with |sx| <= reach (sx, su, sv: the
// point minus the centre along the pair's axes x, u, v, in float32 about the centres' mean, as numpy).
// Approach t turns the gripper about x: y = su sin t - sv cos t, z = su cos t + sv sin t; an entry counts
// for t when |y| <= half_y and z lies in [z_lo, z_hi]. Per candidate (k, t):
//   1. z_far: the end of the run of occupied entries with |sx| < h[k] and z in [-gap, L], from z = 0;
//      z_near: minus the end of the run of -z over those with z in [-L, gap]; depth: the fingertips `tip`
//      past z_far, clipped to [min_depth, max_depth]; beyond max_depth, `tip` past hold[k, t], clipped to
//      [lo, long_depth] with lo = max(z_near, -long_depth) + min_depth; and room[k, t] where that is
//      smaller and at least max(lo, 0) (the pads reach the contacts and hold min_depth of the part);
//   2. ep, en: the ends of the runs of entries with z in [depth - L, depth] along +x from sp[k] and along
//      -x from sn[k]; off = (ep - en) / 2, hkt = min((ep + en) / 2 + pad_x + clr, half_open), and the
//      candidate fits when (ep + en) / 2 + mg <= half_open;
//   3. n_close: the occupied entries with z in [depth - L, depth] and |sx - off| < hkt (0 when it does
//      not fit), n_rel: those that are the target's;
//   4. with per-point weights w: w_max, the largest w (at least 0) of the entries, occupied or not, with z in
//      [depth - L, depth] and |sx - off| <= hkt + extra (0 without w, and for the pairs not scanned).
// A run (run_end in the reference): run_end.h.
//
// Per pair (OpenMP, dynamic: pairs hold very different numbers of points), the cloud is scanned once for the
// pair's points; per approach, its entries are gathered into contiguous arrays in cloud order (AVX-512
// compress where the build has it, AVX2 lane permutes from a table of packed lanes, elementwise otherwise)
// and steps 1-4 run over that approach only. Every float32 and float64 value is the reference's expression,
// unfused (fp-contract=off; the AVX-512 and AVX2 lanes do the same IEEE operations); what differs is only the
// order of order-free work: counts, the bins' occupancy and the largest value of a run, whose one
// order-dependent bit (the sign of a zero maximum) is taken in entry order (Runs); w_max is order-free too.

#include "ops.h"
#include "run_end.h"

#if defined(__AVX512F__) && defined(__AVX512VL__)
#include <immintrin.h>
#define P2A_GP_AVX512 1
#else
#define P2A_GP_AVX512 0
#endif
#if !P2A_GP_AVX512 && defined(__AVX2__)
#include <immintrin.h>
#define P2A_GP_AVX2 1
#else
#define P2A_GP_AVX2 0
#endif

namespace p2a {
namespace {

// Per pair k, its points (within radius, |sx| <= reach) in cloud order: sx, su, sv and flags (Pt bits). Per
// approach t, its entries (|y| <= lim, z in [z_lo, z_hi]) in cloud order: z, sx and flags (and, with weights,
// their rows of the cloud: pj per point, ej per entry), and apart the z of those with the INNER bit (the only
// entries of step 1).
enum Pt : int32_t { OCC = 1, REL = 2, INNER = 4 };  // INNER: occupied and |sx| < h[k] (step 1)

struct Params {
    float r2, reach_f, lim, z_lo, z_hi, ngap_f, L_f;
    double L, reach, gap, tip, min_depth, max_depth, long_depth, pad_x, clr, half_open, mg;
    int64_t nb0, nbp, nbn;
};

inline double depth_of(double z_far, double z_near, double hold, double room, const Params &p) {
    const double tip = z_far + p.tip;
    const double lo = std::max(z_near, -p.long_depth) + p.min_depth;
    const double lg = std::min(std::max(hold + p.tip, lo), p.long_depth);
    double d = tip <= p.max_depth ? std::max(tip, p.min_depth) : lg;
    return (room < d && room >= std::max(lo, 0.0)) ? room : d;
}

#if P2A_GP_AVX2
// AVX2 has no compress: per 8-bit lane mask, the indices of its set lanes packed to the front (for
// _mm256_permutevar8x32); the lanes after them are lane 0's, stored past the entries kept.
struct PackedLanes {
    alignas(32) int32_t idx[256][8];
    constexpr PackedLanes() : idx{} {
        for (int mk = 0; mk < 256; ++mk) {
            int n = 0;
            for (int l = 0; l < 8; ++l)
                if ((mk >> l) & 1) idx[mk][n++] = l;
        }
    }
};
constexpr PackedLanes PACKED_LANES{};
inline __m256i packed_lanes(unsigned mk) {
    return _mm256_load_si256(reinterpret_cast<const __m256i *>(PACKED_LANES.idx[mk]));
}
#endif

// The bin int64_t(q) clamped to [0, nb - 1] (top = nb - 1), as Run::add computes it, without a 64-bit
// conversion, so that the loop over entries vectorises: q >= 2^63, +inf and NaN convert to INT64_MIN on x86
// (as numpy's astype in the reference) and so land in bin 0; every other q truncates toward zero.
inline int32_t bin_of(double q, double top) {
    q = q < 9223372036854775808.0 ? q : 0.0;
    q = q > 0.0 ? q : 0.0;
    q = q < top ? q : top;
    return int32_t(q);
}

// The OR of 1 << ix[i] over i < m (every ix[i] below 64).
inline uint64_t bin_bits(const int32_t *ix, int64_t m) {
    uint64_t bits = 0;
    int64_t i = 0;
#if P2A_GP_AVX512
    __m512i acc = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi64(1);
    for (; i + 8 <= m; i += 8) {
        const __m512i j = _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(ix + i)));
        acc = _mm512_or_si512(acc, _mm512_sllv_epi64(one, j));
    }
    bits = uint64_t(_mm512_reduce_or_epi64(acc));
#elif P2A_GP_AVX2
    __m256i acc = _mm256_setzero_si256();
    const __m256i one = _mm256_set1_epi64x(1);
    for (; i + 4 <= m; i += 4) {
        const __m256i j = _mm256_cvtepi32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i *>(ix + i)));
        acc = _mm256_or_si256(acc, _mm256_sllv_epi64(one, j));
    }
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(lanes), acc);
    bits = (lanes[0] | lanes[1]) | (lanes[2] | lanes[3]);
#endif
    for (; i < m; ++i) bits |= uint64_t(1) << ix[i];
    return bits;
}

// Run (run_end.h) of the values v(i) of the entries i < m where in(i), started at `start`, computed by
// phases that do not carry values through memory: each entry's bin (Run::add's; bin nb for the entries not
// added), the bins' occupancy, the run's last bin (Run::end of the bins that hold their own index), and the
// largest value in bins up to it, lane by lane. The maximum is exact in any order; only its sign where it
// is zero depends on the order, and Run::end's is that of the first zero added (std::max keeps the first of
// equal values), found in entry order.
struct Runs {
    std::vector<int32_t> idx;
    std::vector<double> val;
    std::vector<uint8_t> occ;
    std::vector<double> iota;
    Run run;
    explicit Runs(int64_t M, int64_t nb_max) : idx(M + 16), val(M + 16), occ(nb_max + 1), iota(nb_max) {
        for (int64_t i = 0; i < nb_max; ++i) iota[i] = double(i);
    }
    template <class Val, class In>
    double end(int64_t m, const Val &v, const In &in, double start, int64_t nb, double gap, double b) {
        int32_t *ix = idx.data();
        double *vx = val.data();
        const double top = double(nb - 1);
        for (int64_t i = 0; i < m; ++i) {  // branch-free, so that it vectorises
            const double x = v(i);
            const bool k = in(i);
            const int32_t j = bin_of(((x - start) + gap) / b, top);
            ix[i] = k ? j : int32_t(nb);
            vx[i] = x;
        }
        uint8_t *oc = occ.data();
        if (nb < 64) {  // the bins' occupancy as one word's bits: an OR over the entries, no store per entry
            const uint64_t bits = bin_bits(ix, m);
            for (int64_t j = 0; j <= nb; ++j) oc[j] = uint8_t((bits >> j) & 1u);
        } else {
            std::fill(oc, oc + nb + 1, uint8_t(0));
            for (int64_t i = 0; i < m; ++i) oc[ix[i]] = 1;
        }
        run.occ.assign(occ.begin(), occ.begin() + nb);
        run.mx.assign(iota.begin(), iota.begin() + nb);
        const double last_d = run.end(-1.0);
        if (last_d < 0.0) return start;
        const int32_t last = int32_t(last_d);
        constexpr int W = 8;
        alignas(64) double acc[W];
        int64_t i = 0;
#if P2A_GP_AVX512
        __m512d a = _mm512_set1_pd(-std::numeric_limits<double>::infinity());
        const __m256i vlast = _mm256_set1_epi32(last);
        for (; i < m; i += W) {
            const __mmask8 tail = m - i >= W ? __mmask8(0xFF) : __mmask8((1u << (m - i)) - 1u);
            const __m512d x = _mm512_maskz_loadu_pd(tail, vx + i);
            __mmask8 k = _mm256_mask_cmple_epi32_mask(tail, _mm256_maskz_loadu_epi32(tail, ix + i), vlast);
            k = _mm512_mask_cmp_pd_mask(k, a, x, _CMP_LT_OQ);
            a = _mm512_mask_mov_pd(a, k, x);
        }
        _mm512_store_pd(acc, a);
#else
        for (int l = 0; l < W; ++l) acc[l] = -std::numeric_limits<double>::infinity();
        for (; i + W <= m; i += W)
            for (int l = 0; l < W; ++l) acc[l] = ((ix[i + l] <= last) & (acc[l] < vx[i + l])) ? vx[i + l] : acc[l];
        for (; i < m; ++i) acc[0] = ((ix[i] <= last) & (acc[0] < vx[i])) ? vx[i] : acc[0];
#endif
        double mx = acc[0];
        for (int l = 1; l < W; ++l) mx = mx < acc[l] ? acc[l] : mx;
        if (!(start < mx)) return start;
        if (mx != 0.0) return mx;
        for (i = 0; i < m; ++i)
            if (ix[i] <= last && vx[i] == 0.0) return vx[i];
        return mx;
    }
};

// Per thread: the pair's points, one approach's entries and its runs. Arrays of M + 16: the AVX-512 scan
// stores whole vectors past the entries it keeps.
struct Scratch {
    std::vector<float> sx, su, sv, ez, ex, iz;
    std::vector<int32_t> fl, ef, pj, ej;  // pj, ej: with weights only
    Runs runs;
    Scratch(int64_t M, int64_t nb_max, bool rows) : runs(M, nb_max) {
        for (auto *a : {&sx, &su, &sv, &ez, &ex, &iz}) a->resize(M + 16);
        for (auto *a : {&fl, &ef}) a->resize(M + 16);
        if (rows)
            for (auto *a : {&pj, &ej}) a->resize(M + 16);
    }
};

// The pair's points: per block of the cloud, which lie within radius and reach (elementwise), then those in
// cloud order with su, sv (and with `rows` their rows of the cloud). Returns their count.
__attribute__((optimize("fp-contract=off"))) int64_t pair_points(
    int64_t M, const float *Pc, const uint8_t *flags, const float *c, const float *x, const float *u,
    const float *v, double hk, const Params &p, bool rows, Scratch &s) {
    const float c0 = c[0], c1 = c[1], c2 = c[2], x0 = x[0], x1 = x[1], x2 = x[2];
    const float u0 = u[0], u1 = u[1], u2 = u[2], v0 = v[0], v1 = v[1], v2 = v[2];
    constexpr int64_t B = 512;
    float bx[B];
    uint8_t bk[B];
    int64_t n = 0;
    for (int64_t j0 = 0; j0 < M; j0 += B) {
        const int64_t nj = std::min(B, M - j0);
        const float *P = Pc + 3 * j0;
        for (int64_t i = 0; i < nj; ++i) {
            const float d0 = P[3 * i] - c0, d1 = P[3 * i + 1] - c1, d2 = P[3 * i + 2] - c2;
            const float q0 = d0 * d0, q1 = d1 * d1, q2 = d2 * d2;
            const float dd = (q0 + q1) + q2;
            const float a0 = d0 * x0, a1 = d1 * x1, a2 = d2 * x2;
            const float sx = (a0 + a1) + a2;
            bx[i] = sx;
            bk[i] = (dd <= p.r2) & (std::fabs(sx) <= p.reach_f);
        }
        for (int64_t i = 0; i < nj; ++i) {
            if (!bk[i]) continue;
            const float d0 = P[3 * i] - c0, d1 = P[3 * i + 1] - c1, d2 = P[3 * i + 2] - c2;
            const float b0 = d0 * u0, b1 = d1 * u1, b2 = d2 * u2;
            const float e0 = d0 * v0, e1 = d1 * v1, e2 = d2 * v2;
            const float sx = bx[i];
            const int32_t f = flags[j0 + i];
            s.sx[n] = sx;
            s.su[n] = (b0 + b1) + b2;
            s.sv[n] = (e0 + e1) + e2;
            s.fl[n] = (f & (OCC | REL)) | (((f & OCC) && std::fabs(double(sx)) < hk) ? INNER : 0);
            if (rows) s.pj[n] = int32_t(j0 + i);
            ++n;
        }
    }
    return n;
}

// Approach (ct, st)'s entries of the pair's n points, in cloud order: their count m, and mi of them INNER
// (with `rows`, their rows of the cloud too).
__attribute__((optimize("fp-contract=off"))) void approach_entries(int64_t n, float ct, float st, const Params &p,
                                                                    bool rows, Scratch &s, int64_t &m, int64_t &mi) {
    const float *su = s.su.data(), *sv = s.sv.data(), *sx = s.sx.data();
    const int32_t *fl = s.fl.data(), *pj = s.pj.data();
    float *ez = s.ez.data(), *ex = s.ex.data(), *iz = s.iz.data();
    int32_t *ef = s.ef.data(), *ej = s.ej.data();
    int64_t a = 0, c = 0, i = 0;
#if P2A_GP_AVX512
    const __m512 vct = _mm512_set1_ps(ct), vst = _mm512_set1_ps(st), lim = _mm512_set1_ps(p.lim);
    const __m512 zlo = _mm512_set1_ps(p.z_lo), zhi = _mm512_set1_ps(p.z_hi);
    const __m512i inner = _mm512_set1_epi32(INNER);
    for (; i < n; i += 16) {
        const __mmask16 tail = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1u);
        const __m512 u = _mm512_maskz_loadu_ps(tail, su + i), v = _mm512_maskz_loadu_ps(tail, sv + i);
        const __m512 y = _mm512_sub_ps(_mm512_mul_ps(u, vst), _mm512_mul_ps(v, vct));
        const __m512 z = _mm512_add_ps(_mm512_mul_ps(u, vct), _mm512_mul_ps(v, vst));
        __mmask16 k = _mm512_mask_cmp_ps_mask(tail, _mm512_abs_ps(y), lim, _CMP_LE_OQ);
        k = _mm512_mask_cmp_ps_mask(k, z, zlo, _CMP_GE_OQ);
        k = _mm512_mask_cmp_ps_mask(k, z, zhi, _CMP_LE_OQ);
        const __m512i f = _mm512_maskz_loadu_epi32(tail, fl + i);
        _mm512_storeu_ps(ez + a, _mm512_maskz_compress_ps(k, z));
        _mm512_storeu_ps(ex + a, _mm512_maskz_compress_ps(k, _mm512_maskz_loadu_ps(tail, sx + i)));
        _mm512_storeu_si512(ef + a, _mm512_maskz_compress_epi32(k, f));
        if (rows) _mm512_storeu_si512(ej + a, _mm512_maskz_compress_epi32(k, _mm512_maskz_loadu_epi32(tail, pj + i)));
        a += __builtin_popcount(k);
        const __mmask16 ki = _mm512_mask_test_epi32_mask(k, f, inner);
        _mm512_storeu_ps(iz + c, _mm512_maskz_compress_ps(ki, z));
        c += __builtin_popcount(ki);
    }
#else
#if P2A_GP_AVX2
    // whole vectors of 8: the same IEEE operations per lane as the loop below, kept lanes packed to the front
    const __m256 vct = _mm256_set1_ps(ct), vst = _mm256_set1_ps(st), lim = _mm256_set1_ps(p.lim);
    const __m256 zlo = _mm256_set1_ps(p.z_lo), zhi = _mm256_set1_ps(p.z_hi);
    const __m256 nosign = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i inner = _mm256_set1_epi32(INNER);
    for (; i + 8 <= n; i += 8) {
        const __m256 u = _mm256_loadu_ps(su + i), v = _mm256_loadu_ps(sv + i);
        const __m256 y = _mm256_sub_ps(_mm256_mul_ps(u, vst), _mm256_mul_ps(v, vct));
        const __m256 z = _mm256_add_ps(_mm256_mul_ps(u, vct), _mm256_mul_ps(v, vst));
        const __m256 k = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(y, nosign), lim, _CMP_LE_OQ),
                                                     _mm256_cmp_ps(z, zlo, _CMP_GE_OQ)),
                                       _mm256_cmp_ps(z, zhi, _CMP_LE_OQ));
        const unsigned mk = unsigned(_mm256_movemask_ps(k));
        const __m256i f = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(fl + i));
        const __m256i pk = packed_lanes(mk);
        _mm256_storeu_ps(ez + a, _mm256_permutevar8x32_ps(z, pk));
        _mm256_storeu_ps(ex + a, _mm256_permutevar8x32_ps(_mm256_loadu_ps(sx + i), pk));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(ef + a), _mm256_permutevar8x32_epi32(f, pk));
        if (rows) {
            const __m256i j = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(pj + i));
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(ej + a), _mm256_permutevar8x32_epi32(j, pk));
        }
        a += __builtin_popcount(mk);
        const __m256i fi = _mm256_cmpeq_epi32(_mm256_and_si256(f, inner), inner);
        const unsigned ki = mk & unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(fi)));
        _mm256_storeu_ps(iz + c, _mm256_permutevar8x32_ps(z, packed_lanes(ki)));
        c += __builtin_popcount(ki);
    }
#endif
    for (; i < n; ++i) {
        const float ys = su[i] * st, yc = sv[i] * ct;
        const float y = ys - yc;
        const float zc = su[i] * ct, zs = sv[i] * st;
        const float z = zc + zs;
        const bool k = (std::fabs(y) <= p.lim) & (z >= p.z_lo) & (z <= p.z_hi);
        ez[a] = z;
        ex[a] = sx[i];
        ef[a] = fl[i];
        if (rows) ej[a] = pj[i];
        a += k;
        iz[c] = z;
        c += k & ((fl[i] & INNER) != 0);
    }
#endif
    m = a;
    mi = c;
}

__attribute__((optimize("fp-contract=off"))) void grasp_part_impl(
    int64_t K, int64_t T, int64_t M, const float *C, const float *X, const float *U, const float *V,
    const uint8_t *fit, const float *Pc, const uint8_t *flags, const double *h, const double *sp, const double *sn,
    const double *room, const double *hold, const float *ct, const float *st, const Params &p, const double *w,
    double extra, int nthreads, double *depth, double *off, double *hkt, int64_t *n_close, double *n_rel,
    double *w_max) {
    const double b = 0.5 * p.gap;
    const bool rows = w != nullptr;
#pragma omp parallel num_threads(nthreads)
    {
        Scratch s(M, std::max(p.nb0, std::max(p.nbp, p.nbn)), rows);
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < K; ++k) {
            const int64_t n =
                fit[k] ? pair_points(M, Pc, flags, C + 3 * k, X + 3 * k, U + 3 * k, V + 3 * k, h[k], p, rows, s) : 0;
            const double spk = sp[k], snk = sn[k], spg = spk - p.gap, sng = snk - p.gap;
            for (int64_t t = 0; t < T; ++t) {
                int64_t m = 0, mi = 0;
                if (n) approach_entries(n, ct[t], st[t], p, rows, s, m, mi);
                const float *ez = s.ez.data(), *ex = s.ex.data(), *iz = s.iz.data();
                const int32_t *ef = s.ef.data();
                // 1. the part's far side along the approach -> the depth
                const auto zf = [&](int64_t i) { return double(iz[i]); };
                const auto zb = [&](int64_t i) { return double(-iz[i]); };
                const auto in_f = [&](int64_t i) { return (iz[i] >= p.ngap_f) & (iz[i] <= p.L_f); };
                const auto in_b = [&](int64_t i) { return (iz[i] >= -p.L_f) & (iz[i] <= -p.ngap_f); };
                const double z_far = s.runs.end(mi, zf, in_f, 0.0, p.nb0, p.gap, b);
                const double z_near = -s.runs.end(mi, zb, in_b, 0.0, p.nb0, p.gap, b);
                const int64_t kt = k * T + t;
                const double d = depth_of(z_far, z_near, hold[kt], room[kt], p);
                const double dlo = d - p.L;
                // 2. the part's extent across the closing axis where the pads will be -> the opening
                const auto xp = [&](int64_t i) { return double(ex[i]); };
                const auto xn = [&](int64_t i) { return -double(ex[i]); };
                const auto in_p = [&](int64_t i) {
                    const double z = double(ez[i]);
                    return (z >= dlo) & (z <= d) & (double(ex[i]) >= spg);
                };
                const auto in_n = [&](int64_t i) {
                    const double z = double(ez[i]);
                    return (z >= dlo) & (z <= d) & (-double(ex[i]) >= sng);
                };
                const double ep = s.runs.end(m, xp, in_p, spk, p.nbp, p.gap, b);
                const double en = s.runs.end(m, xn, in_n, snk, p.nbn, p.gap, b);
                const double o = 0.5 * (ep - en);
                const double half = 0.5 * (ep + en);
                const double hh = std::min((half + p.pad_x) + p.clr, p.half_open);
                // 3. what lies between the pads (counts: the same in any order)
                int64_t nc = 0, nr = 0;
#if P2A_GP_AVX512
                const __m512d vdlo = _mm512_set1_pd(dlo), vd = _mm512_set1_pd(d), vo = _mm512_set1_pd(o),
                              vhh = _mm512_set1_pd(hh);
                const __m256i occ = _mm256_set1_epi32(OCC), rel = _mm256_set1_epi32(REL);
                for (int64_t i = 0; i < m; i += 8) {
                    const __mmask8 tail = m - i >= 8 ? __mmask8(0xFF) : __mmask8((1u << (m - i)) - 1u);
                    const __m512d z = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(tail, ez + i));
                    const __m512d xe = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(tail, ex + i));
                    const __m256i f = _mm256_maskz_loadu_epi32(tail, ef + i);
                    __mmask8 in = _mm256_mask_test_epi32_mask(tail, f, occ);
                    in = _mm512_mask_cmp_pd_mask(in, z, vdlo, _CMP_GE_OQ);
                    in = _mm512_mask_cmp_pd_mask(in, z, vd, _CMP_LE_OQ);
                    in = _mm512_mask_cmp_pd_mask(in, _mm512_abs_pd(_mm512_sub_pd(xe, vo)), vhh, _CMP_LT_OQ);
                    nc += __builtin_popcount(in);
                    nr += __builtin_popcount(_mm256_mask_test_epi32_mask(in, f, rel));
                }
#else
                int64_t i = 0;
#if P2A_GP_AVX2
                const __m256d vdlo = _mm256_set1_pd(dlo), vd = _mm256_set1_pd(d), vo = _mm256_set1_pd(o),
                              vhh = _mm256_set1_pd(hh);
                const __m256d nosign = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
                const __m128i occ = _mm_set1_epi32(OCC), rel = _mm_set1_epi32(REL);
                for (; i + 4 <= m; i += 4) {
                    const __m256d z = _mm256_cvtps_pd(_mm_loadu_ps(ez + i));
                    const __m256d xe = _mm256_cvtps_pd(_mm_loadu_ps(ex + i));
                    const __m256d in = _mm256_and_pd(
                        _mm256_and_pd(_mm256_cmp_pd(z, vdlo, _CMP_GE_OQ), _mm256_cmp_pd(z, vd, _CMP_LE_OQ)),
                        _mm256_cmp_pd(_mm256_and_pd(_mm256_sub_pd(xe, vo), nosign), vhh, _CMP_LT_OQ));
                    const __m128i f = _mm_loadu_si128(reinterpret_cast<const __m128i *>(ef + i));
                    const auto has = [&](const __m128i &bit) {
                        const __m128i set = _mm_cmpeq_epi32(_mm_and_si128(f, bit), bit);
                        return unsigned(_mm_movemask_ps(_mm_castsi128_ps(set)));
                    };
                    const unsigned hit = unsigned(_mm256_movemask_pd(in)) & has(occ);
                    nc += __builtin_popcount(hit);
                    nr += __builtin_popcount(hit & has(rel));
                }
#endif
                for (; i < m; ++i) {
                    const double z = double(ez[i]), xe = double(ex[i]);
                    const int in = (ef[i] & OCC) & (z >= dlo) & (z <= d) & (std::fabs(xe - o) < hh);
                    nc += in;
                    nr += in & (ef[i] >> 1);
                }
#endif
                // 4. the largest weight of what lies between the pads widened by extra
                double ws = 0.0;
                if (rows) {
                    const int32_t *ej = s.ej.data();
                    const double hx = hh + extra;
                    for (int64_t i = 0; i < m; ++i) {
                        const double z = double(ez[i]), xe = double(ex[i]);
                        if ((z >= dlo) & (z <= d) & (std::fabs(xe - o) <= hx)) ws = std::max(ws, w[ej[i]]);
                    }
                }
                depth[kt] = d;
                off[kt] = o;
                hkt[kt] = hh;
                n_close[kt] = half + p.mg <= p.half_open ? nc : 0;
                n_rel[kt] = double(nr);
                w_max[kt] = ws;
            }
        }
    }
}

}  // namespace

py::tuple grasp_part(const py::array &C, const py::array &X, const py::array &U, const py::array &V,
                     const py::array &fit, const py::array &Pc, const py::array &flags, const py::array &h,
                     const py::array &sp, const py::array &sn, const py::array &room, const py::array &hold,
                     const py::array &ct, const py::array &st, const py::array &f32, const std::vector<double> &f64,
                     const std::vector<int64_t> &nbs, const py::object &w, double extra, int64_t num_threads) {
    const char *w32 = "grasp_part: C-contiguous float32 frames, cloud, angles and f32 expected";
    const char *w64 = "grasp_part: C-contiguous float64 h, sp, sn, room and hold expected";
    const char *w8 = "grasp_part: fit and flags must be C-contiguous uint8";
    for (const auto *a : {&C, &X, &U, &V, &Pc, &ct, &st, &f32}) check(is<float>(*a), w32);
    for (const auto *a : {&h, &sp, &sn, &room, &hold}) check(is<double>(*a), w64);
    check(is<uint8_t>(fit) && is<uint8_t>(flags), w8);
    check(C.ndim() == 2 && C.shape(1) == 3 && Pc.ndim() == 2 && Pc.shape(1) == 3, "[K, 3] / [M, 3]");
    check(ct.ndim() >= 1, "angles [T]");
    const int64_t K = C.shape(0), T = ct.shape(0), M = Pc.shape(0);
    check(X.size() == 3 * K && U.size() == 3 * K && V.size() == 3 * K, "axes must be [K, 3]");
    check(fit.size() == K && h.size() == K && sp.size() == K && sn.size() == K, "per-pair sizes differ");
    check(flags.size() == M && st.size() == T && room.size() == K * T && hold.size() == K * T,
          "flags [M], angles [T], room and hold [K, T]");
    check(f32.size() == 7 && f64.size() == 11 && nbs.size() == 3, "f32 [7], f64 [11], nbs [3]");
    const double *w_ = nullptr;
    if (!w.is_none()) {
        const char *ww = "grasp_part: w must be C-contiguous float64 [M]";
        check(py::isinstance<py::array>(w), ww);
        const auto wa = py::reinterpret_borrow<py::array>(w);
        check(is<double>(wa) && wa.size() == M, ww);
        check(M <= std::numeric_limits<int32_t>::max(), "grasp_part: with w, M must fit int32");
        w_ = input<double>(wa, ww);
    }
    const float *q = input<float>(f32, w32);
    Params p{q[0], q[1], q[2], q[3], q[4], q[5], q[6],
             f64[0], f64[1], f64[2], f64[3], f64[4], f64[5], f64[6], f64[7], f64[8], f64[9], f64[10],
             nbs[0], nbs[1], nbs[2]};
    check(p.gap > 0 && p.nb0 >= 1 && p.nbp >= 1 && p.nbn >= 1, "gap and bin counts must be positive");
    const float *C_ = input<float>(C, w32), *X_ = input<float>(X, w32), *U_ = input<float>(U, w32);
    const float *V_ = input<float>(V, w32), *P_ = input<float>(Pc, w32), *ct_ = input<float>(ct, w32);
    const float *st_ = input<float>(st, w32);
    const uint8_t *fit_ = input<uint8_t>(fit, w8), *flags_ = input<uint8_t>(flags, w8);
    const double *h_ = input<double>(h, w64), *sp_ = input<double>(sp, w64), *sn_ = input<double>(sn, w64);
    const double *room_ = input<double>(room, w64), *hold_ = input<double>(hold, w64);
    double *d_, *o_, *hk_, *nr_, *wm_;
    int64_t *nc_;
    auto depth = output<double>({K, T}, d_), off = output<double>({K, T}, o_), hkt = output<double>({K, T}, hk_);
    auto n_rel = output<double>({K, T}, nr_), w_max = output<double>({K, T}, wm_);
    auto n_close = output<int64_t>({K, T}, nc_);
    const int nthreads = resolve_threads(num_threads);
    {
        py::gil_scoped_release nogil;
        grasp_part_impl(K, T, M, C_, X_, U_, V_, fit_, P_, flags_, h_, sp_, sn_, room_, hold_, ct_, st_, p, w_, extra,
                        nthreads, d_, o_, hk_, nc_, nr_, wm_);
    }
    return py::make_tuple(depth, off, hkt, n_close, n_rel, w_max);
}

}  // namespace p2a
