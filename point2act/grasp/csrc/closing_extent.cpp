// The part's extent across each contact pair's closing axis, where the closed fingers would be (the
// planner's first look at a pair; reference: point2act.grasp.part_scans.closing_extent_reference, whose float32
// and float64 expressions this file computes in the same order, so that the two agree exactly).
//
// Pair k's entries are the cloud points within `radius` of its centre (float32 about the centres' mean, as
// numpy) inside the finger's cylinder around the closing axis: su^2 + sv^2 <= half_y^2 and |sx| <= half_open
// (sx, su, sv: the point minus the centre along the pair's axes x, u, v). ext_p is the end of the run
// (run_end.h) of the values sx >= w2[k] - gap from w2[k], the contact on +x; ext_n the same for -sx.

#include "ops.h"
#include "run_end.h"

namespace p2a {
namespace {

__attribute__((optimize("fp-contract=off"))) void closing_extent_impl(
    int64_t K, int64_t M, const float *C, const float *X, const float *U, const float *V, const float *Pc,
    const double *w2, float r2, float yy, float half_open_f, double gap, int64_t nb, int nthreads, double *ext_p,
    double *ext_n) {
    const double b = 0.5 * gap;
#pragma omp parallel num_threads(nthreads)
    {
        Run rp, rn;
#pragma omp for schedule(dynamic, 16)
        for (int64_t k = 0; k < K; ++k) {
            const float c0 = C[3 * k], c1 = C[3 * k + 1], c2 = C[3 * k + 2];
            const float x0 = X[3 * k], x1 = X[3 * k + 1], x2 = X[3 * k + 2];
            const float u0 = U[3 * k], u1 = U[3 * k + 1], u2 = U[3 * k + 2];
            const float v0 = V[3 * k], v1 = V[3 * k + 1], v2 = V[3 * k + 2];
            const double start = w2[k], lo = start - gap;
            rp.reset(nb);
            rn.reset(nb);
            for (int64_t j = 0; j < M; ++j) {
                const float d0 = Pc[3 * j] - c0, d1 = Pc[3 * j + 1] - c1, d2 = Pc[3 * j + 2] - c2;
                const float q0 = d0 * d0, q1 = d1 * d1, q2 = d2 * d2;
                const float dd = (q0 + q1) + q2;
                if (!(dd <= r2)) continue;
                const float a0 = d0 * x0, a1 = d1 * x1, a2 = d2 * x2;
                const float sx = (a0 + a1) + a2;
                if (!(std::fabs(sx) <= half_open_f)) continue;
                const float b0 = d0 * u0, b1 = d1 * u1, b2 = d2 * u2;
                const float su = (b0 + b1) + b2;
                const float e0 = d0 * v0, e1 = d1 * v1, e2 = d2 * v2;
                const float sv = (e0 + e1) + e2;
                const float s2u = su * su, s2v = sv * sv;
                if (!(s2u + s2v <= yy)) continue;
                const double xs = double(sx);
                if (xs >= lo) rp.add(xs, start, gap, b);
                if (-xs >= lo) rn.add(-xs, start, gap, b);
            }
            ext_p[k] = rp.end(start);
            ext_n[k] = rn.end(start);
        }
    }
}

}  // namespace

py::tuple closing_extent(const py::array &C, const py::array &X, const py::array &U, const py::array &V,
                         const py::array &Pc, const py::array &w2, const py::array &f32, double gap, int64_t nb,
                         int64_t num_threads) {
    const char *what = "closing_extent: C-contiguous float32 frames, cloud and f32 expected";
    for (const auto *a : {&C, &X, &U, &V, &Pc, &f32}) check(is<float>(*a), what);
    check(is<double>(w2), "closing_extent: C-contiguous float64 w2 expected");
    check(C.ndim() == 2 && C.shape(1) == 3 && Pc.ndim() == 2 && Pc.shape(1) == 3, "[K, 3] / [M, 3]");
    const int64_t K = C.shape(0), M = Pc.shape(0);
    check(X.size() == 3 * K && U.size() == 3 * K && V.size() == 3 * K, "axes must be [K, 3]");
    check(w2.size() == K && f32.size() == 3, "w2 [K], f32 [3] (radius^2, half_y^2, half_open)");
    check(gap > 0 && nb >= 1, "gap and the bin count must be positive");
    const float *q = input<float>(f32, what);
    const float *C_ = input<float>(C, what), *X_ = input<float>(X, what), *U_ = input<float>(U, what);
    const float *V_ = input<float>(V, what), *P_ = input<float>(Pc, what);
    const double *w2_ = input<double>(w2, "closing_extent: float64 w2 expected");
    double *ep, *en;
    auto ext_p = output<double>({K}, ep), ext_n = output<double>({K}, en);
    const int nthreads = resolve_threads(num_threads);
    {
        py::gil_scoped_release nogil;
        closing_extent_impl(K, M, C_, X_, U_, V_, P_, w2_, q[0], q[1], q[2], gap, nb, nthreads, ep, en);
    }
    return py::make_tuple(ext_p, ext_n);
}

}  // namespace p2a
