// The cloud points in the pads' window of every approach of a set of contact pairs, the scan that
// pads_touch_contacts and pad_quality share (point2act.grasp.part_scans._pads_window; reference:
// point2act.grasp.part_scans._pads_window_reference, whose float32 and float64 expressions this file computes in the
// same order, so that the two agree exactly, entry for entry and in the same order).
//
// Pair k's entries are the cloud points within `radius` of its centre with |sx| <= reach (sx, su, sv: the
// point minus the centre along the pair's axes x, u, v, in float32 about the centres' mean, as numpy's
// entries()). Approach t turns the gripper about x: y = su sin t - sv cos t, z = su cos t + sv sin t; an
// entry lies in t's window when |y| <= half_y and z in [z_lo, z_hi] (float32, as numpy's angles()) and z in
// [depth[k, t] - L, depth[k, t]] (float64), for the approaches asked for (want[k, t]: all, or the candidates'
// own where the caller names them). The output is in numpy's order: by approach t, then pair k, then cloud
// point j (angles() groups its entries by angle; entries() gives them pair by pair, points ascending).
//
// Per pair (one thread each): its entries, points ascending, then per approach the tests over all of them
// (loops without branches that the compiler vectorizes; each float32 operation rounded as numpy's: no
// contraction) and the kept points, ascending, appended to the pair's list. The lists are then copied to
// offsets fixed by the counts, so the output does not depend on the thread count.

#include "ops.h"

#include <cstring>

namespace p2a {
namespace {

struct Params {
    float r2, reach_f, lim, z_lo, z_hi;
    double L;
};

// A pair's points in the windows of its approaches: approach by approach (t ascending), points ascending;
// count[k * T + t] of them for approach t.
struct PairHits {
    std::vector<int32_t> j;  // row of Pc
    std::vector<float> sx;
};

struct Scratch {
    std::vector<float> sx, su, sv;  // [M] a pair's points, or its entries (the first n)
    std::vector<int32_t> idx;       // [M] the entries' rows of Pc (where compacted)
    std::vector<uint8_t> in, ok;    // [M + 8] a point is an entry; it passes an approach's tests (0 / 1)
    explicit Scratch(int64_t M) : sx(M), su(M), sv(M), idx(M), in(M + 8, 0), ok(M + 8, 0) {}
};

// The rows whose byte in ok[0, n) is 1, ascending, handed to f(i): eight bytes at a time, skipping zeros (the
// bytes from n to the next multiple of 8 must be 0).
template <class F>
inline void each_set(const uint8_t *ok, int64_t n, F &&f) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (int64_t i = 0; i < n; ++i)
        if (ok[i]) f(i);
#else
    for (int64_t w = 0; w < n; w += 8) {
        uint64_t word;
        std::memcpy(&word, ok + w, 8);
        while (word) {
            const int b = __builtin_ctzll(word) >> 3;  // little-endian: the lowest byte first
            f(w + b);
            word &= word - 1;
        }
    }
#endif
}

__attribute__((optimize("fp-contract=off"))) void pads_window_scan(
    int64_t K, int64_t T, int64_t M, const float *C, const float *X, const float *U, const float *V,
    const float *px, const float *py, const float *pz, const double *depth, const uint8_t *want, const float *ct,
    const float *st, const Params &p, int nthreads, std::vector<PairHits> &hits, int64_t *count) {
#pragma omp parallel num_threads(nthreads)
    {
        Scratch s(M);
        float *SX = s.sx.data(), *SU = s.su.data(), *SV = s.sv.data();
        int32_t *idx = s.idx.data();
        uint8_t *in = s.in.data(), *ok = s.ok.data();
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < K; ++k) {
            const uint8_t *wk = want + k * T;
            int64_t *cnt = count + k * T;
            bool asked = false;
            for (int64_t t = 0; t < T; ++t) asked |= wk[t] != 0;
            if (!asked) continue;
            const float c0 = C[3 * k], c1 = C[3 * k + 1], c2 = C[3 * k + 2];
            const float x0 = X[3 * k], x1 = X[3 * k + 1], x2 = X[3 * k + 2];
            const float u0 = U[3 * k], u1 = U[3 * k + 1], u2 = U[3 * k + 2];
            const float v0 = V[3 * k], v1 = V[3 * k + 1], v2 = V[3 * k + 2];
            // the pair's entries (numpy's entries(): within radius, |sx| <= reach)
            int64_t n = 0;
            for (int64_t j = 0; j < M; ++j) {
                const float e0 = px[j] - c0, e1 = py[j] - c1, e2 = pz[j] - c2;
                const float q0 = e0 * e0, q1 = e1 * e1, q2 = e2 * e2;
                const float dd = (q0 + q1) + q2;
                const float a0 = e0 * x0, a1 = e1 * x1, a2 = e2 * x2;
                const float sx = (a0 + a1) + a2;
                const float b0 = e0 * u0, b1 = e1 * u1, b2 = e2 * u2;
                const float f0 = e0 * v0, f1 = e1 * v1, f2 = e2 * v2;
                SX[j] = sx;
                SU[j] = (b0 + b1) + b2;
                SV[j] = (f0 + f1) + f2;
                const uint8_t e = uint8_t((dd <= p.r2) & (std::fabs(sx) <= p.reach_f));
                in[j] = e;
                n += e;
            }
            // few entries: keep them only (points ascending); many: test every point, the entries' flag with it
            const bool compact = 2 * n < M;
            if (compact) {
                int64_t m = 0;
                each_set(in, M, [&](int64_t j) {
                    SX[m] = SX[j];
                    SU[m] = SU[j];
                    SV[m] = SV[j];
                    idx[m] = int32_t(j);
                    in[m] = 1;  // m <= j: a byte each_set has read already
                    ++m;
                });
            } else {
                n = M;
            }
            std::memset(ok + n, 0, 8);  // the words past n read as empty
            PairHits &h = hits[k];
            for (int64_t t = 0; t < T; ++t) {
                if (!wk[t]) continue;
                const float st_ = st[t], ct_ = ct[t];
                const double d = depth[k * T + t], lo = d - p.L;  // numpy: d - L, float64
                for (int64_t i = 0; i < n; ++i) {
                    const float ys = SU[i] * st_, yc = SV[i] * ct_;
                    const float y = ys - yc;  // numpy: su * st - sv * ct
                    const float zc = SU[i] * ct_, zs = SV[i] * st_;
                    const float z = zc + zs;  // numpy: su * ct + sv * st
                    const double zd = double(z);
                    ok[i] = uint8_t(in[i] & (std::fabs(y) <= p.lim) & (z >= p.z_lo) & (z <= p.z_hi) & (zd >= lo) &
                                    (zd <= d));
                }
                const size_t before = h.j.size();
                each_set(ok, n, [&](int64_t i) {
                    h.j.push_back(compact ? idx[i] : int32_t(i));
                    h.sx.push_back(SX[i]);
                });
                cnt[t] = int64_t(h.j.size() - before);
            }
        }
    }
}

}  // namespace

py::tuple pads_window(const py::array &C, const py::array &X, const py::array &U, const py::array &V,
                      const py::array &Pc, const py::array &depth, const py::array &ct, const py::array &st,
                      const py::array &f32, const py::array &want, const py::array &pair, const py::array &point,
                      double L, int64_t num_threads) {
    const char *w32 = "pads_window: C-contiguous float32 frames, cloud, angles and f32 expected";
    const char *w64 = "pads_window: C-contiguous float64 depth expected";
    const char *wi = "pads_window: pair and point must be C-contiguous int64";
    const char *w8 = "pads_window: want must be C-contiguous [K, T] uint8";
    for (const auto *a : {&C, &X, &U, &V, &Pc, &ct, &st, &f32}) check(is<float>(*a), w32);
    check(is<double>(depth), w64);
    check(is<int64_t>(pair) && is<int64_t>(point), wi);
    check(C.ndim() == 2 && C.shape(1) == 3 && Pc.ndim() == 2 && Pc.shape(1) == 3, "[K, 3] / [M, 3]");
    check(ct.ndim() >= 1, "angles [T]");
    const int64_t K = C.shape(0), T = ct.shape(0), M = Pc.shape(0);
    check(X.size() == 3 * K && U.size() == 3 * K && V.size() == 3 * K, "axes must be [K, 3]");
    check(st.size() == T && depth.size() == K * T, "angles [T], depth [K, T]");
    check(pair.size() == K && point.size() == M, "pair [K], point [M]");
    check(is<uint8_t>(want) && want.size() == K * T, w8);
    check(f32.size() == 5, "f32 [5]: radius^2, reach, half_y limit, z_lo, z_hi");
    check(M < std::numeric_limits<int32_t>::max(), "pads_window: too many points");
    const float *q = input<float>(f32, w32);
    const Params p{q[0], q[1], q[2], q[3], q[4], L};
    const int nthreads = resolve_threads(num_threads);
    const float *P = input<float>(Pc, w32);
    const float *C_ = input<float>(C, w32), *X_ = input<float>(X, w32), *U_ = input<float>(U, w32);
    const float *V_ = input<float>(V, w32), *ct_ = input<float>(ct, w32), *st_ = input<float>(st, w32);
    const double *depth_ = input<double>(depth, w64);
    const uint8_t *want_ = input<uint8_t>(want, w8);
    const int64_t *pair_ = input<int64_t>(pair, wi), *point_ = input<int64_t>(point, wi);
    std::vector<PairHits> hits(K);
    std::vector<int64_t> count(K * T, 0);
    std::vector<int64_t> pos(K * T);
    int64_t N = 0;
    {
        py::gil_scoped_release nogil;
        std::vector<float> xs(M), ys(M), zs(M);  // the cloud by coordinate: the scan's loops vectorize
        for (int64_t j = 0; j < M; ++j) {
            xs[j] = P[3 * j];
            ys[j] = P[3 * j + 1];
            zs[j] = P[3 * j + 2];
        }
        pads_window_scan(K, T, M, C_, X_, U_, V_, xs.data(), ys.data(), zs.data(), depth_, want_, ct_, st_, p,
                         nthreads, hits, count.data());
        // where pair k's entries of approach t go: numpy's order, by approach, then pair
        for (int64_t t = 0; t < T; ++t)
            for (int64_t k = 0; k < K; ++k) {
                pos[k * T + t] = N;
                N += count[k * T + t];
            }
    }
    int64_t *g_, *k_, *t_, *j_;
    double *x_;
    auto gid = output<int64_t>({N}, g_), k0 = output<int64_t>({N}, k_), tt = output<int64_t>({N}, t_);
    auto xe = output<double>({N}, x_);
    auto jj = output<int64_t>({N}, j_);
    {
        py::gil_scoped_release nogil;
#pragma omp parallel for schedule(dynamic, 16) num_threads(nthreads)
        for (int64_t k = 0; k < K; ++k) {
            const PairHits &h = hits[k];
            const int64_t pk = pair_[k];
            int64_t from = 0;  // pair k's entries of approach t: h[from, from + count)
            for (int64_t t = 0; t < T; ++t) {
                const int64_t n = count[k * T + t], at_ = pos[k * T + t], g = k * T + t;
                for (int64_t i = 0; i < n; ++i) {
                    g_[at_ + i] = g;
                    k_[at_ + i] = pk;
                    t_[at_ + i] = t;
                    x_[at_ + i] = double(h.sx[from + i]);
                    j_[at_ + i] = point_[h.j[from + i]];
                }
                from += n;
            }
            hits[k] = PairHits();
        }
    }
    return py::make_tuple(gid, k0, tt, xe, jj);
}

}  // namespace p2a
