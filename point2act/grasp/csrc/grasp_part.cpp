// What each grasp candidate holds: the part between the fingers, per contact pair and approach angle
// (point2act.grasp.planner; reference: point2act.grasp.part.grasp_part_reference, whose float32 and
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
//      not fit), n_rel: those that are the target's.
// A run (run_end in the reference): run_end.h.

#include "cpu.h"
#include "ops.h"
#include "run_end.h"

namespace p2a {
namespace {

struct Entry {
    int32_t t;
    uint8_t flags;  // bit 0: occupied (what the grasp holds), bit 1: the target's
    float z;
    double xe;
};

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

__attribute__((optimize("fp-contract=off"))) void grasp_part_impl(
    int64_t K, int64_t T, int64_t M, const float *C, const float *X, const float *U, const float *V,
    const uint8_t *fit, const float *Pc, const uint8_t *flags, const double *h, const double *sp, const double *sn,
    const double *room, const double *hold, const float *ct, const float *st, const Params &p, int nthreads,
    double *depth, double *off, double *hkt, int64_t *n_close, double *n_rel) {
    const double b = 0.5 * p.gap;
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<Entry> ent;
        std::vector<Run> r0(T), rb(T), rp(T), rn(T);
        std::vector<double> dep(T), o(T), hh(T);
        std::vector<uint8_t> fits(T);
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < K; ++k) {
            ent.clear();
            if (fit[k]) {
                const float c0 = C[3 * k], c1 = C[3 * k + 1], c2 = C[3 * k + 2];
                const float x0 = X[3 * k], x1 = X[3 * k + 1], x2 = X[3 * k + 2];
                const float u0 = U[3 * k], u1 = U[3 * k + 1], u2 = U[3 * k + 2];
                const float v0 = V[3 * k], v1 = V[3 * k + 1], v2 = V[3 * k + 2];
                for (int64_t j = 0; j < M; ++j) {
                    const float d0 = Pc[3 * j] - c0, d1 = Pc[3 * j + 1] - c1, d2 = Pc[3 * j + 2] - c2;
                    const float q0 = d0 * d0, q1 = d1 * d1, q2 = d2 * d2;
                    const float dd = (q0 + q1) + q2;
                    if (!(dd <= p.r2)) continue;
                    const float a0 = d0 * x0, a1 = d1 * x1, a2 = d2 * x2;
                    const float sx = (a0 + a1) + a2;
                    if (!(std::fabs(sx) <= p.reach_f)) continue;
                    const float b0 = d0 * u0, b1 = d1 * u1, b2 = d2 * u2;
                    const float su = (b0 + b1) + b2;
                    const float e0 = d0 * v0, e1 = d1 * v1, e2 = d2 * v2;
                    const float sv = (e0 + e1) + e2;
                    for (int64_t t = 0; t < T; ++t) {
                        const float ys = su * st[t], yc = sv * ct[t];
                        const float y = ys - yc;
                        if (!(std::fabs(y) <= p.lim)) continue;
                        const float zc = su * ct[t], zs = sv * st[t];
                        const float z = zc + zs;
                        if (!(z >= p.z_lo && z <= p.z_hi)) continue;
                        ent.push_back({int32_t(t), flags[j], z, double(sx)});
                    }
                }
            }
            // 1. the part's far side along the approach -> the depth
            for (int64_t t = 0; t < T; ++t) {
                r0[t].reset(p.nb0);
                rb[t].reset(p.nb0);
            }
            for (const Entry &e : ent) {
                if (!(e.flags & 1) || !(std::fabs(e.xe) < h[k])) continue;
                if (e.z >= p.ngap_f && e.z <= p.L_f) r0[e.t].add(double(e.z), 0.0, p.gap, b);
                if (e.z >= -p.L_f && e.z <= -p.ngap_f) rb[e.t].add(double(-e.z), 0.0, p.gap, b);
            }
            for (int64_t t = 0; t < T; ++t)
                dep[t] = depth_of(r0[t].end(0.0), -rb[t].end(0.0), hold[k * T + t], room[k * T + t], p);
            // 2. the part's extent across the closing axis where the pads will be -> the opening
            for (int64_t t = 0; t < T; ++t) {
                rp[t].reset(p.nbp);
                rn[t].reset(p.nbn);
            }
            const double spg = sp[k] - p.gap, sng = sn[k] - p.gap;
            for (const Entry &e : ent) {
                const double z = double(e.z), d = dep[e.t];
                if (!(z >= d - p.L && z <= d)) continue;
                if (e.xe >= spg) rp[e.t].add(e.xe, sp[k], p.gap, b);
                if (-e.xe >= sng) rn[e.t].add(-e.xe, sn[k], p.gap, b);
            }
            for (int64_t t = 0; t < T; ++t) {
                const double ep = rp[t].end(sp[k]), en = rn[t].end(sn[k]);
                o[t] = 0.5 * (ep - en);
                const double half = 0.5 * (ep + en);
                hh[t] = std::min((half + p.pad_x) + p.clr, p.half_open);
                fits[t] = half + p.mg <= p.half_open;
            }
            // 3. what lies between the pads
            std::vector<int64_t> nc(T, 0);
            std::vector<double> nr(T, 0.0);
            for (const Entry &e : ent) {
                const double z = double(e.z), d = dep[e.t];
                if (!(e.flags & 1) || !(z >= d - p.L && z <= d) || !(std::fabs(e.xe - o[e.t]) < hh[e.t])) continue;
                ++nc[e.t];
                nr[e.t] += (e.flags & 2) ? 1.0 : 0.0;
            }
            for (int64_t t = 0; t < T; ++t) {
                const int64_t kt = k * T + t;
                depth[kt] = dep[t];
                off[kt] = o[t];
                hkt[kt] = hh[t];
                n_close[kt] = fits[t] ? nc[t] : 0;
                n_rel[kt] = nr[t];
            }
        }
    }
}

}  // namespace

std::vector<at::Tensor> grasp_part(const at::Tensor &C, const at::Tensor &X, const at::Tensor &U, const at::Tensor &V,
                                   const at::Tensor &fit, const at::Tensor &Pc, const at::Tensor &flags,
                                   const at::Tensor &h, const at::Tensor &sp, const at::Tensor &sn,
                                   const at::Tensor &room, const at::Tensor &hold, const at::Tensor &ct,
                                   const at::Tensor &st, const at::Tensor &f32, const std::vector<double> &f64,
                                   const std::vector<int64_t> &nbs, int64_t num_threads) {
    for (const auto *a : {&C, &X, &U, &V, &fit, &Pc, &flags, &h, &sp, &sn, &room, &hold, &ct, &st, &f32})
        check_cpu_contig(*a, "grasp_part input");
    for (const auto *a : {&C, &X, &U, &V, &Pc, &ct, &st, &f32})
        TORCH_CHECK(a->scalar_type() == at::kFloat, "grasp_part: float32 frames, cloud, angles and f32 expected");
    for (const auto *a : {&h, &sp, &sn, &room, &hold})
        TORCH_CHECK(a->scalar_type() == at::kDouble, "grasp_part: float64 h, sp, sn, room and hold expected");
    TORCH_CHECK(fit.scalar_type() == at::kByte && flags.scalar_type() == at::kByte, "fit and flags must be uint8");
    const int64_t K = C.size(0), T = ct.size(0), M = Pc.size(0);
    TORCH_CHECK(C.dim() == 2 && C.size(1) == 3 && Pc.dim() == 2 && Pc.size(1) == 3, "[K, 3] / [M, 3]");
    TORCH_CHECK(X.numel() == 3 * K && U.numel() == 3 * K && V.numel() == 3 * K, "axes must be [K, 3]");
    TORCH_CHECK(fit.numel() == K && h.numel() == K && sp.numel() == K && sn.numel() == K, "per-pair sizes differ");
    TORCH_CHECK(flags.numel() == M && st.numel() == T && room.numel() == K * T && hold.numel() == K * T,
                "flags [M], angles [T], room and hold [K, T]");
    TORCH_CHECK(f32.numel() == 7 && f64.size() == 11 && nbs.size() == 3, "f32 [7], f64 [11], nbs [3]");
    const float *q = f32.data_ptr<float>();
    Params p{q[0], q[1], q[2], q[3], q[4], q[5], q[6],
             f64[0], f64[1], f64[2], f64[3], f64[4], f64[5], f64[6], f64[7], f64[8], f64[9], f64[10],
             nbs[0], nbs[1], nbs[2]};
    TORCH_CHECK(p.gap > 0 && p.nb0 >= 1 && p.nbp >= 1 && p.nbn >= 1, "gap and bin counts must be positive");
    auto o64 = h.options();
    auto depth = at::empty({K, T}, o64), off = at::empty({K, T}, o64), hkt = at::empty({K, T}, o64);
    auto n_close = at::empty({K, T}, o64.dtype(at::kLong)), n_rel = at::empty({K, T}, o64);
    grasp_part_impl(K, T, M, C.data_ptr<float>(), X.data_ptr<float>(), U.data_ptr<float>(), V.data_ptr<float>(),
                    fit.data_ptr<uint8_t>(), Pc.data_ptr<float>(), flags.data_ptr<uint8_t>(), h.data_ptr<double>(),
                    sp.data_ptr<double>(), sn.data_ptr<double>(), room.data_ptr<double>(), hold.data_ptr<double>(),
                    ct.data_ptr<float>(), st.data_ptr<float>(), p, resolve_threads(num_threads),
                    depth.data_ptr<double>(), off.data_ptr<double>(), hkt.data_ptr<double>(),
                    n_close.data_ptr<int64_t>(), n_rel.data_ptr<double>());
    return {depth, off, hkt, n_close, n_rel};
}

}  // namespace p2a
